"""What a planner takes to a meeting: the brief of one territory (its figures, its least
served communes, the suggested sites and the gain they bring, the method in words, a map)
and a standalone HTML map of the territory made with folium, assets inlined so that it
opens offline.

Both read the stored run of the selection (:mod:`coverage.readouts`) and the suggestions
computed on demand (:mod:`coverage.suggestions`); nothing here computes a figure of its own.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import InvalidInput
from directory.models import Programme

from .readouts import LEVEL_WORDS, coverage_view
from .selection import Selection, resolve_territory
from .suggestions import suggest

# Level of the territory itself and of the parts its map is drawn with.
OWN_LEVEL = {"reg": "region", "dep": "departement", "epci": "epci", "com": "commune"}
PARTS_LEVEL = {"reg": "epci", "dep": "commune", "epci": "commune", "com": "commune"}
LEVEL_PLURAL = {"commune": "communes", "epci": "intercommunalités",
                "departement": "départements", "region": "régions"}
WORST_SHOWN = 5
SVG_WIDTH, SVG_HEIGHT = 640.0, 330.0
# ColorBrewer YlOrRd, as on /carte: the last class is the least served.
PALETTE = ("#ffffb2", "#fecc5c", "#fd8d3c", "#f03b20", "#bd0026")
MISSING_COLOUR = "#d9d9d9"

METHOD_SENTENCES = (
    "Distance : à vol d'oiseau sur l'ellipsoïde, multipliée par un facteur de détour pour "
    "approcher la route.",
    "Couverture : une commune est couverte à 20 km si un lieu au moins est à 20 km ou "
    "moins ; les personnes sans lieu à portée sont celles des communes non couvertes.",
    "Indice d'accessibilité (méthode « E2SFCA » par paliers) : chaque lieu partage sa "
    "capacité (accompagnements par semaine) entre toutes les personnes qui peuvent "
    "l'atteindre — pleinement jusqu'à 10 km, à 68 % de 10 à 20 km, à 22 % de 20 à 30 km ; "
    "une commune additionne les parts des lieux qu'elle atteint ; 1 = la moyenne de "
    "référence, 0,5 = deux fois moins de capacité par personne.",
    "Écart de capacité : les accompagnements par semaine qui manquent pour amener chaque "
    "commune sous la moyenne à la moyenne.",
    "Sites suggérés : choisis un à un parmi les mairies, chacun là où il met à portée le "
    "plus de personnes qui n'en avaient pas.",
)


@dataclass
class Brief:
    territory: dict[str, Any]               # code, name, level, and its figures
    run: dict[str, Any]
    parts_level: str
    worst: list[dict[str, Any]]             # the least served parts, worst first
    result: dict[str, Any]                  # suggestions (coverage.suggestions.suggest)
    svg: dict[str, Any] = field(default_factory=dict)
    programme_name: str | None = None
    method: tuple[str, ...] = METHOD_SENTENCES

    @property
    def parts_level_plural(self) -> str:
        return LEVEL_PLURAL[self.parts_level]

    @property
    def parts_level_word(self) -> str:
        return LEVEL_WORDS[self.parts_level]


def check_briefable(session: Session, within: str):
    territory = resolve_territory(session, within)
    if territory.kind == "fr":
        raise InvalidInput("Une fiche porte sur un territoire : choisissez une région, un "
                           "département, une intercommunalité ou une commune.",
                           errors={"within": ["Autre que fr."]})
    return territory


def _features(session: Session, level: str, selection: Selection) -> tuple[dict, list[dict]]:
    view = coverage_view(session, level, selection)
    collection = json.loads("[" + (view.features or "") + "]")
    return view.run, collection


def worst_first(rows: list[dict], radius: int = 20) -> list[dict]:
    """Territories ranked by people without a venue within ``radius`` km, then by the
    accessibility index (lowest first): the order of « les moins bien desservis »."""
    def key(row: dict) -> tuple:
        index = row.get("accessibility_index")
        return (-(row.get(f"uncovered_population_{radius}km") or 0),
                index if index is not None else math.inf, row.get("code") or "")
    return sorted((r for r in rows if (r.get("population") or 0) > 0), key=key)


def make_brief(session: Session, selection: Selection, *, k: int, radius_km: float,
               detour: float, today: dt.date, site_capacity: float | None = None,
               budget: float | None = None, site_cost: float | None = None) -> Brief:
    territory = check_briefable(session, selection.within)
    selection = selection.with_within(territory.code)
    own_level, parts_level = OWN_LEVEL[territory.kind], PARTS_LEVEL[territory.kind]
    run, own = _features(session, own_level, selection)
    figures = next((f["properties"] for f in own if f["properties"]["code"] ==
                    territory.value), None)
    if figures is None:
        raise InvalidInput(f"Le calcul enregistré ne contient pas {territory.name}.")
    _run, parts = _features(session, parts_level, selection)
    result = suggest(session, selection, k=k, radius_km=radius_km, candidates="townhalls",
                     detour=detour, today=today, site_capacity=site_capacity)
    result["scenario"].update(budget=budget, site_cost=site_cost)
    worst = worst_first([f["properties"] for f in parts])[:WORST_SHOWN]
    programme_name = session.execute(select(Programme.name).where(
        Programme.code == selection.programme)).scalar() if selection.programme else None
    return Brief({**figures, "name": territory.name, "level": own_level}, run, parts_level,
                 worst, result, svg_map(parts, result["sites"]), programme_name)


# --------------------------------------------------------------------------- SVG map

def _rings(geometry: dict | None) -> list[list[list[float]]]:
    if not geometry:
        return []
    if geometry["type"] == "Polygon":
        return geometry["coordinates"]
    if geometry["type"] == "MultiPolygon":
        return [ring for polygon in geometry["coordinates"] for ring in polygon]
    return []


def share_class(share: float | None) -> int | None:
    """Class of a share of people within reach (0 best … 4 least served)."""
    if share is None:
        return None
    for n, bound in enumerate((1.0, 0.95, 0.8, 0.5)):
        if share >= bound:
            return n
    return 4


SHARE_LEGEND = ("100 %", "95 à 99,9 %", "80 à 95 %", "50 à 80 %", "moins de 50 %")


def svg_map(parts: list[dict], sites: list[dict]) -> dict[str, Any]:
    """Paths of the parts coloured by their share of people within 20 km, and the sites,
    in an equirectangular projection fitted to the frame (lon scaled by cos(lat))."""
    rings = [(f, ring) for f in parts for ring in _rings(f.get("geometry"))]
    points = [p for _f, ring in rings for p in ring] + [[s["lon"], s["lat"]] for s in sites]
    if not points:
        return {"paths": [], "sites": [], "width": SVG_WIDTH, "height": SVG_HEIGHT}
    lons, lats = [p[0] for p in points], [p[1] for p in points]
    x0, x1, y0, y1 = min(lons), max(lons), min(lats), max(lats)
    kx = math.cos(math.radians((y0 + y1) / 2))
    scale = min((SVG_WIDTH - 20) / max((x1 - x0) * kx, 1e-9),
                (SVG_HEIGHT - 20) / max(y1 - y0, 1e-9))

    # Centred in the frame.
    dx = (SVG_WIDTH - (x1 - x0) * kx * scale) / 2
    dy = (SVG_HEIGHT - (y1 - y0) * scale) / 2

    def xy(lon: float, lat: float) -> str:
        return f"{dx + (lon - x0) * kx * scale:.1f},{dy + (y1 - lat) * scale:.1f}"

    by_code: dict[str, list[str]] = {}
    for f, ring in rings:
        by_code.setdefault(f["properties"]["code"], []).append(
            "M" + "L".join(xy(lon, lat) for lon, lat in ring) + "Z")
    paths = []
    for f in parts:
        code = f["properties"]["code"]
        if code not in by_code:
            continue
        n = share_class(f["properties"].get("share_population_covered_20km"))
        paths.append({"d": "".join(by_code[code]), "name": f["properties"]["name"],
                      "fill": MISSING_COLOUR if n is None else PALETTE[n]})
    placed = []
    for site in sites:
        x, y = xy(site["lon"], site["lat"]).split(",")
        placed.append({"x": x, "y": y, "rank": site["rank"]})
    return {"paths": paths, "sites": placed, "width": SVG_WIDTH, "height": SVG_HEIGHT,
            "legend": list(zip(PALETTE, SHARE_LEGEND, strict=True))}


# --------------------------------------------------------------------------- folium

def folium_map(session: Session, selection: Selection, vendor: Path, *, k: int,
               radius_km: float, detour: float, today: dt.date,
               result: dict[str, Any] | None = None) -> str:
    """A standalone HTML map of the territory: its parts coloured by the share of people
    within 20 km (names and figures on hover) and the suggested sites; Leaflet's script
    and stylesheet read from ``vendor`` and written into the page, no basemap, so the file
    opens offline and requests nothing. ``result``: the suggestions already computed for
    these inputs (the brief's), else computed here."""
    import folium

    from core.text import number_fr

    territory = check_briefable(session, selection.within)
    selection = selection.with_within(territory.code)
    _run, parts = _features(session, PARTS_LEVEL[territory.kind], selection)
    if result is None:
        result = suggest(session, selection, k=k, radius_km=radius_km,
                         candidates="townhalls", detour=detour, today=today)
    for f in parts:
        p = f["properties"]
        share = p.get("share_population_covered_20km")
        p["part_20km"] = "—" if share is None else f"{number_fr(100 * share, 1)} %"
        p["sans_lieu_20km"] = number_fr(p.get("uncovered_population_20km") or 0)
        p["colour"] = (MISSING_COLOUR if share_class(share) is None
                       else PALETTE[share_class(share)])
    fmap = folium.Map(tiles=None, control_scale=True, prefer_canvas=False)
    fmap.default_js, fmap.default_css = [], []   # no CDN: inlined below
    leaflet = vendor / "leaflet"
    fmap.get_root().header.add_child(folium.Element(
        "<style>" + (leaflet / "leaflet.css").read_text(encoding="utf-8") + "</style>"
        "<script>" + (leaflet / "leaflet.js").read_text(encoding="utf-8") + "</script>"
        f"<title>{_escape(territory.name)} : couverture</title>"))
    layer = folium.GeoJson(
        {"type": "FeatureCollection", "features": parts}, name="Territoires",
        style_function=lambda f: {"fillColor": f["properties"]["colour"], "color": "#555555",
                                  "weight": 1, "fillOpacity": 0.75},
        tooltip=folium.GeoJsonTooltip(
            fields=["name", "part_20km", "sans_lieu_20km"],
            aliases=["", "Part de la population à 20 km d'un lieu :",
                     "Personnes sans lieu à 20 km :"]))
    layer.add_to(fmap)
    for site in result["sites"]:
        folium.CircleMarker(
            [site["lat"], site["lon"]], radius=8, color="#ffffff", weight=2,
            fill=True, fill_color="#1f3a93", fill_opacity=1,
            tooltip=f"{site['rank']}. {site['name']} : +"
                    f"{number_fr(site['newly_covered_population'])} personnes à portée",
        ).add_to(fmap)
    bounds = layer.get_bounds()
    if bounds and None not in bounds[0] + bounds[1]:
        fmap.fit_bounds(bounds)
    title = (f"<div style=\"position:absolute;top:8px;left:50px;z-index:1000;background:#fff;"
             f"padding:4px 8px;font:14px sans-serif\"><strong>{_escape(territory.name)}"
             "</strong> — part de la population à 20 km d'un lieu ; points bleus : sites "
             "suggérés</div>")
    fmap.get_root().html.add_child(folium.Element(title))
    return fmap.get_root().render()


def _escape(text: str) -> str:
    from markupsafe import escape

    return str(escape(text))
