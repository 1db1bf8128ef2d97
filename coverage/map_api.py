"""The coverage map's own view of the figures: GET /api/v1/coverage/map/{level}.

The coverage API (:mod:`coverage.api`) serves every figure with polygons fit for
any zoom; a map only needs what it draws at the zoom it shows. This endpoint reuses that
API's service (same run lookup, same territory and bbox filters, same figures, same errors)
and differs in three ways, each measured by bench/map_payload.py:

- only the properties the choropleth, its circles and its labels use (``MAP_FIELDS``; the
  side panel fetches the full figures of the one territory clicked from the coverage API);
- polygons simplified to about one screen pixel at ``zoom`` (never finer than the coverage
  API's own shapes) and coordinates rounded to match — Leaflet would drop the finer
  vertices anyway (its ``smoothFactor`` is one pixel);
- gzip when the client accepts it.

Simplified polygons are kept in memory per process, keyed by run, level and tolerance: a
new run (the refresh that follows any change of the reference geography) starts afresh.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import math
import threading
from collections import OrderedDict
from collections.abc import Sequence

from flask import Flask, Response, current_app, request
from flask_smorest import Blueprint
from marshmallow import RAISE, fields, validate
from sqlalchemy import ARRAY, Text, any_, func, literal, select
from sqlalchemy.orm import Session

from core import schemas as fr
from core.geojson import MEDIA_TYPE, FeatureCollectionSchema, collection_text
from core.schemas import BBOX_PATTERN, other_content
from extensions import db
from geodata.models import Commune

from .models import CoverageRun
from .readouts import COORDINATE_DIGITS, SIMPLIFY, coverage_view
from .schemas import TERRITORY_PATTERN, BBox, SelectionArgs
from .selection import LEVEL_MODELS, Selection

# What the map draws: the five measures, the uncovered-people circles, names for labels.
MAP_FIELDS: tuple[str, ...] = (
    "code", "name", "level", "population", "need",
    "share_population_covered_20km", "share_population_covered_30km",
    "share_need_covered_20km", "share_need_covered_30km",
    "uncovered_population_20km", "uncovered_population_30km",
    "mean_nearest_km", "accessibility_index", "capacity_gap",
)
_MODELS = {"commune": Commune, **LEVEL_MODELS}
PIXEL_FRACTION = 1.0          # simplify to one pixel (Leaflet's own smoothing threshold)
GZIP_LEVEL = 1           # 4× faster than 5 on a tile, ≈ 15 % larger: the wire is not the cost
SHAPE_CACHE_MAX_ENTRIES = 150_000   # ≈ 300 B each: ≈ 45 MB per process at most
RESPONSE_CACHE_MAX_BYTES = 32_000_000   # gzipped answers kept per process
CACHE_CONTROL = "public, max-age=300"


def degrees_per_pixel(zoom: int) -> float:
    """Longitude degrees covered by one 256-pixel-tile pixel at ``zoom`` (Web Mercator)."""
    return 360.0 / (256 * 2 ** zoom)


def tolerance_for(level: str, zoom: int) -> float:
    return max(SIMPLIFY[level], PIXEL_FRACTION * degrees_per_pixel(zoom))


def digits_for(tolerance: float) -> int:
    """Decimals such that rounding moves a vertex by at most half the tolerance."""
    return max(2, min(COORDINATE_DIGITS, math.ceil(-math.log10(tolerance / 2))))


class ShapeCache:
    """GeoJSON text of simplified polygons by (run, level, tolerance) then code; the
    least recently used keys go first once ``max_entries`` polygons are held."""

    def __init__(self, max_entries: int = SHAPE_CACHE_MAX_ENTRIES) -> None:
        self.max_entries = max_entries
        self._keys: OrderedDict[tuple, dict[str, str | None]] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, key: tuple, codes: Sequence[str]) -> tuple[dict[str, str | None], list[str]]:
        with self._lock:
            shapes = self._keys.get(key)
            if shapes is None:
                return {}, list(codes)
            self._keys.move_to_end(key)
            found = {c: shapes[c] for c in codes if c in shapes}
        return found, [c for c in codes if c not in found]

    def put(self, key: tuple, shapes: dict[str, str | None]) -> None:
        with self._lock:
            held = self._keys.setdefault(key, {})
            before = len(held)
            held.update(shapes)
            self._size += len(held) - before
            self._keys.move_to_end(key)
            while self._size > self.max_entries and len(self._keys) > 1:
                _key, dropped = self._keys.popitem(last=False)
                self._size -= len(dropped)


class ResponseCache:
    """Gzipped answers by key (the latest run id and the request's arguments), the least
    recently used dropped past ``max_bytes``: a tile asked again — by another user, or after
    a pan back — is served without a query."""

    def __init__(self, max_bytes: int = RESPONSE_CACHE_MAX_BYTES) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[str, bytes] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, key: str) -> bytes | None:
        with self._lock:
            data = self._items.get(key)
            if data is not None:
                self._items.move_to_end(key)
            return data

    def put(self, key: str, data: bytes) -> None:
        with self._lock:
            previous = self._items.pop(key, None)
            self._size -= len(previous) if previous is not None else 0
            self._items[key] = data
            self._size += len(data)
            while self._size > self.max_bytes and len(self._items) > 1:
                _key, dropped = self._items.popitem(last=False)
                self._size -= len(dropped)


def latest_run_id(session: Session) -> int:
    """The newest run's id: any new run (a refresh) changes every key and every ETag."""
    runs = CoverageRun.__table__
    return session.execute(select(func.coalesce(func.max(runs.c.id), 0))).scalar_one()


def simplified_shapes(session: Session, cache: ShapeCache, run_id: int, level: str,
                      codes: Sequence[str], zoom: int) -> dict[str, str | None]:
    tolerance = tolerance_for(level, zoom)
    digits = digits_for(tolerance)
    key = (run_id, level, tolerance, digits)
    found, missing = cache.get(key, codes)
    if missing:
        # preserveCollapsed: a commune smaller than a pixel stays a dot, not a hole.
        shapes = _MODELS[level].__table__
        rows = session.execute(select(
            shapes.c.code,
            func.ST_AsGeoJSON(func.ST_Simplify(shapes.c.geom, tolerance, True), digits))
            .where(shapes.c.code == any_(literal(list(missing), ARRAY(Text))))).all()
        computed: dict[str, str | None] = dict.fromkeys(missing)
        computed.update({code: geometry for code, geometry in rows})
        cache.put(key, computed)
        found.update(computed)
    return found


def map_view(session: Session, cache: ShapeCache, level: str,
             selection: Selection, *, zoom: int,
             bbox: Sequence[float] | None = None, run_id: int | None = None) -> tuple[dict, str]:
    """(run, GeoJSON text) of ``level`` within the selection's territory and ``bbox``."""
    view = coverage_view(session, level, selection, bbox=bbox, run_id=run_id,
                                  fmt="csv")
    rows = view.rows or []
    shapes = simplified_shapes(session, cache, view.run["id"], level,
                               [row["code"] for row in rows], zoom)
    parts = []
    for row in rows:
        properties = json.dumps({name: row.get(name) for name in MAP_FIELDS},
                                ensure_ascii=False, separators=(",", ":"))
        parts.append('{"type":"Feature","id":' + json.dumps(row["code"]) + ',"geometry":'
                     + (shapes.get(row["code"]) or "null") + ',"properties":'
                     + properties + "}")
    run = {**view.run, "created_at": view.run["created_at"].isoformat()}
    return view.run, collection_text(",".join(parts), {
        "level": level, "zoom": zoom, "tolerance": tolerance_for(level, zoom), "run": run})


# --------------------------------------------------------------------------- web

class MapArgs(SelectionArgs):
    within = fr.String(
        load_default="fr",
        validate=validate.Regexp(TERRITORY_PATTERN, error="Territoire attendu : fr, reg:<code>, "
                                 "dep:<code>, epci:<SIREN> ou com:<code INSEE>."),
        metadata={"description": "Territoire montré (au niveau commune : autre que fr, "
                                 "sauf avec bbox)."})
    bbox = BBox(metadata={"description": "Emprise minlon,minlat,maxlon,maxlat de la vue ; "
                                         "vide = sans emprise.", "pattern": BBOX_PATTERN})
    zoom = fr.Integer(
        required=True,
        validate=validate.Range(min=0, max=18, error="zoom : entier de 0 à 18."),
        metadata={"description": "Zoom de la carte : les polygones sont simplifiés à environ "
                                 "un pixel à ce zoom."})
    run = fr.Integer(validate=validate.Range(min=1, error="Entier positif attendu."))


blp = Blueprint(
    "coverage_map", __name__, url_prefix="/api/v1/coverage/map",
    description="Couverture pour la carte : mêmes chiffres que /api/v1/coverage/{niveau}, "
                "réduits à ce que la carte dessine, polygones simplifiés pour le zoom.")


class MapCollectionSchema(FeatureCollectionSchema):
    """What the map draws: the features and, as foreign members, the level, the zoom, the
    simplification tolerance in degrees and the run the figures come from."""

    level = fields.String(metadata={"enum": ["commune", "epci", "departement", "region"]})
    zoom = fields.Integer()
    tolerance = fields.Float(allow_none=True)
    run = fields.Dict()


@blp.route("/<any(commune, epci, departement, region):level>")
@blp.arguments(MapArgs, location="query", unknown=RAISE)
@blp.response(200, description="FeatureCollection : propriétés " + ", ".join(MAP_FIELDS)
              + " ; membres `run`, `level`, `zoom`, `tolerance`. Gzip si accepté.",
              content_type="application/geo+json")
@blp.alt_response(304, description="Inchangé depuis l'ETag envoyé (If-None-Match).")
@blp.alt_response(404, description="Aucun calcul pour cette sélection (le message donne la "
                                   "commande à lancer).")
@blp.alt_response(422, description="Paramètres invalides, ou trop de communes dans la vue.")
@blp.doc(**other_content(200, **{MEDIA_TYPE: {"schema": MapCollectionSchema}}))
def map_level(args, level):
    """Chiffres d'un niveau pour la carte, au zoom de la vue

    Les mêmes territoires et chiffres que `/api/v1/coverage/{niveau}` (dernier calcul de la
    sélection, filtres `within` et `bbox`), limités aux propriétés dessinées ; polygones
    simplifiés à environ un pixel au `zoom` demandé.
    """
    selection = Selection(args.get("programme"), args.get("service"),
                          args.get("within") or "fr", args.get("need") or "population")
    query = json.dumps({k: v for k, v in sorted(args.items())}, sort_keys=True, default=str)
    tag = (f"map-{latest_run_id(db.session)}-"
           f"{hashlib.sha1(f'{level}|{query}'.encode()).hexdigest()[:16]}")
    headers = {"ETag": f'"{tag}"', "Cache-Control": CACHE_CONTROL, "Vary": "Accept-Encoding"}
    if request.if_none_match.contains(tag):
        return Response(status=304, headers=headers)
    answers: ResponseCache = current_app.extensions["coverage_map_answers"]
    data = answers.get(tag)
    if data is None:
        _run, body = map_view(db.session, current_app.extensions["coverage_map_shapes"], level,
                              selection, zoom=args["zoom"], bbox=args.get("bbox"),
                              run_id=args.get("run"))
        data = gzip.compress(body.encode(), compresslevel=GZIP_LEVEL, mtime=0)
        answers.put(tag, data)
    if "gzip" in request.accept_encodings:
        headers["Content-Encoding"] = "gzip"
    else:
        data = gzip.decompress(data)
    return Response(data, mimetype="application/geo+json", headers=headers)


def init_app(app: Flask) -> None:
    from extensions import api

    app.extensions["coverage_map_shapes"] = ShapeCache()
    app.extensions["coverage_map_answers"] = ResponseCache()
    api.register_blueprint(blp)
