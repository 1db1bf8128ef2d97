"""Coverage from the catalogue: demand, supply and costs read from the database, the FCA
library (:mod:`coverage.accessibility`) run on them, results stored per selection and
aggregated to EPCI, département, région and France; new sites and capacity gaps.

Conventions (see ``docs/COVERAGE.md`` and ``/work/notes/coverage-api.md``):

- **Demand** ``P_i``: one point per commune (``commune.point``, a point on the surface, else
  a point on the polygon), weighted by the *need*: ``population`` (default);
  ``fragility`` = population × IFN / 100 (imported index, 100 where a commune has none);
  ``illectronisme`` = population × 15.4 % (INSEE 2021, people aged 15+) × IFN / 100 where
  the index is imported. We have no age pyramid per commune, so the national rate applies
  uniformly (children included: an upper bound), and only the fragility index makes the
  need differ between communes; without the index, shares and accessibility are those of
  the population weight (the rate is a constant factor).
- **Supply** ``S_j``: venues open today (not ``closed``, not in a closure period, not
  ``temporarily_closed`` without dates), accepting the programme today (acceptance and
  programme valid, the service covered by both) and offering the service (in ``services``
  or an active offer). Capacity = ``weekly_capacity``, 1 where unknown (counted). An
  itinerant venue with stops is supplied at each stop, its capacity shared equally.
- **Costs**: ellipsoidal (WGS 84) geodesic distance × detour factor, for the pairs within
  the largest catchment (30 km of cost, i.e. 30 / detour km in straight line). Two engines
  give the same figures: ``python`` (a k-d tree on the sphere to find the candidate pairs
  with a safety margin, then pyproj's ``Geod.inv`` on arrays) and ``sql`` (``ST_DWithin``
  on geography with a GiST index, then ``ST_Distance(…, true)``).
- **Border effect**: venues up to the catchment beyond the studied territory are included,
  and so are the communes up to twice the catchment (the demand of those venues), so that
  a venue's ratio ``S_j / D_j`` is the same as in a national run. Results are stored for the
  territory's communes only.
- **Capacity gap** ``Σ P_i · max(0, Ā − A_i)`` with ``A`` of the run's method (E2SFCA with
  steps by default) and ``Ā`` the demand-weighted mean over the territory studied: the
  nation for a national run (``reference = "nation"``), the territory otherwise
  (``"territoire"``). Stored with the run.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import logging
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse
from scipy.spatial import cKDTree
from sqlalchemy import text
from sqlalchemy.orm import Session

from core.errors import InvalidInput, NotFound
from core.geojson import collection_text
from core.spreadsheet import neutralise_cell

from . import accessibility

log = logging.getLogger(__name__)

NEEDS = ("population", "illectronisme", "fragility")
# INSEE 2021: 15.4 % of people aged 15+ in illectronisme (62 % of the 75+, 24 % of 60–74).
ILLECTRONISME_RATE = 0.154
DEFAULT_METHOD = "e2sfca_step"
RADII_KM = (10.0, 20.0, 30.0)
KEEP_RUNS_PER_SELECTION = 3
_REFRESH_LOCK = 2_026_005  # pg_advisory_xact_lock key of coverage refresh
COST_ENGINES = ("python", "sql")
EARTH_MEAN_RADIUS_KM = 6371.0088
# Sphere versus WGS 84 geodesic: at most ≈ 0.56 % apart; the k-d tree looks 1 % farther.
_SPHERE_MARGIN = 1.01
LEVEL_COLUMNS = {"epci": "epci_code", "departement": "departement_code",
                 "region": "region_code"}
TERRITORY_TABLES = {"epci": "epci", "departement": "departement", "region": "region"}
# kind of a territory code -> the commune column that designates membership.
_MEMBERSHIP = {"reg": "region_code", "dep": "departement_code", "epci": "epci_code",
               "com": "code"}
_KIND_TABLE = {"reg": "region", "dep": "departement", "epci": "epci", "com": "commune"}
_KIND_LABEL = {"reg": "région", "dep": "département", "epci": "EPCI", "com": "commune"}


# --------------------------------------------------------------------------- selection

@dataclass(frozen=True)
class Selection:
    """What a run answers: venues of ``programme`` (None: every open venue) offering
    ``service`` (None: any), for the communes of ``within``, demand weighted by ``need``."""

    programme: str | None = None
    service: str | None = None
    within: str = "fr"
    need: str = "population"

    @property
    def key(self) -> str:
        return f"{self.programme or '*'}|{self.service or '*'}|{self.within}|{self.need}"

    def with_within(self, within: str) -> Selection:
        return Selection(self.programme, self.service, within, self.need)

    def command(self) -> str:
        """The refresh command that computes this selection (for messages)."""
        parts = ["flask --app app coverage refresh", f"--within {self.within}"]
        if self.programme:
            parts.append(f"--programme {self.programme}")
        if self.service:
            parts.append(f'--service "{self.service}"')
        if self.need != "population":
            parts.append(f"--need {self.need}")
        return " ".join(parts)


@dataclass(frozen=True)
class Territory:
    code: str          # fr | reg:75 | dep:33 | epci:… | com:…
    kind: str          # fr | reg | dep | epci | com
    value: str
    name: str

    def condition(self, alias: str = "c") -> str:
        """SQL condition on the commune table (bind ``:territory``); identifiers are ours."""
        if self.kind == "fr":
            return "TRUE"
        return f"{alias}.{_MEMBERSHIP[self.kind]} = :territory"

    @property
    def params(self) -> dict[str, str]:
        return {} if self.kind == "fr" else {"territory": self.value}


def parse_territory(code: str | None) -> tuple[str, str]:
    from directory.programmes import parse_perimeter_code

    return parse_perimeter_code(code or "fr")


def resolve_territory(session: Session, code: str | None) -> Territory:
    kind, value = parse_territory(code)
    if kind == "fr":
        return Territory("fr", "fr", "", "France entière")
    name = session.execute(text(f"SELECT name FROM {_KIND_TABLE[kind]} WHERE code = :code"),
                           {"code": value}).scalar()
    if name is None:
        raise InvalidInput(
            f"Territoire inconnu : {_KIND_LABEL[kind]} « {value} » ({kind}:{value}). "
            "La géographie est-elle chargée (flask --app app geodata load) ?")
    return Territory(f"{kind}:{value}", kind, value, name)


def check_selection(session: Session, selection: Selection) -> None:
    """InvalidInput (French) for an unknown programme, service or need."""
    from directory.vocabulary import SERVICES

    if selection.need not in NEEDS:
        raise InvalidInput(f"Besoin « {selection.need} » inconnu : population, "
                           "illectronisme ou fragility.")
    if selection.service is not None and selection.service not in SERVICES:
        raise InvalidInput(f"Service « {selection.service} » inconnu. Valeurs admises : "
                           + " ; ".join(SERVICES) + ".")
    if selection.programme is not None:
        found = session.execute(text("SELECT 1 FROM programme WHERE code = :code"),
                                {"code": selection.programme}).scalar()
        if found is None:
            raise InvalidInput(f"Programme « {selection.programme} » inconnu "
                               "(flask --app app directory programme list).")


# --------------------------------------------------------------------------- inputs

@dataclass
class Demand:
    codes: list[str]
    population: np.ndarray
    need: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    inside: np.ndarray           # in the studied territory (else: border ring)
    names: list[str]
    parents: dict[str, list[str | None]]  # level -> code of each point's territory
    without_point: int = 0       # communes of the territory with neither point nor polygon
    without_fragility: int = 0   # communes of the territory without an imported index

    def __len__(self) -> int:
        return len(self.codes)


@dataclass
class Supply:
    lieu_ids: np.ndarray         # venue id of each supply point
    capacity: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    venues: int = 0              # distinct venues
    unknown_capacity: int = 0    # venues whose capacity is unknown (counted as 1)
    stops: int = 0               # supply points that are stops of itinerant venues

    def __len__(self) -> int:
        return int(self.lieu_ids.size)


def straight_radius_km(cost_km: float, detour: float) -> float:
    return cost_km / detour


def _expanded_box(session: Session, territory: Territory,
                  margin_km: float) -> tuple[float, float, float, float] | None:
    """The territory's bounding box grown by ``margin_km`` on every side (None: France)."""
    if territory.kind == "fr":
        return None
    row = session.execute(text(
        "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM ("
        " SELECT ST_Extent(COALESCE(c.geom, c.point))::geometry AS e FROM commune c"
        f" WHERE {territory.condition()}) AS t"), territory.params).one()
    if row[0] is None:
        raise InvalidInput(f"Aucune commune localisée dans {territory.name} "
                           f"({territory.code}).")
    xmin, ymin, xmax, ymax = (float(v) for v in row)
    dlat = margin_km / 110.5 * 1.01
    top = min(89.0, max(abs(ymin - dlat), abs(ymax + dlat)))
    dlon = min(180.0, margin_km / (111.32 * math.cos(math.radians(top))) * 1.01)
    return xmin - dlon, max(-90.0, ymin - dlat), xmax + dlon, min(90.0, ymax + dlat)


def _box_params(box: tuple[float, float, float, float] | None) -> dict[str, Any]:
    if box is None:
        return {"all": True, "x0": 0.0, "y0": 0.0, "x1": 0.0, "y1": 0.0}
    return {"all": False, "x0": box[0], "y0": box[1], "x1": box[2], "y1": box[3]}


def load_demand(session: Session, territory: Territory, need: str,
                ring_km: float) -> Demand:
    """Communes of the territory, and those within ``ring_km`` beyond its border."""
    if need in ("fragility",):
        imported = session.execute(text("SELECT count(*) FROM fragility_index")).scalar()
        if not imported:
            raise InvalidInput("Aucun indice de fragilité importé : lancez d'abord "
                               "flask --app app coverage fragility import FICHIER.")
    box = _expanded_box(session, territory, ring_km)
    params = {**territory.params, **_box_params(box)}
    rows = session.execute(text(
        "SELECT c.code, c.name, COALESCE(c.population, 0), ST_X(q.p), ST_Y(q.p), "
        f" ({territory.condition()}) AS inside, f.score, c.epci_code, c.departement_code, "
        " c.region_code "
        "FROM commune c "
        "LEFT JOIN fragility_index f ON f.commune_code = c.code "
        "CROSS JOIN LATERAL (SELECT COALESCE(c.point, ST_PointOnSurface(c.geom)) AS p) q "
        "WHERE q.p IS NOT NULL AND "
        f" (({territory.condition()}) OR :all "
        "  OR q.p && ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4326)) "
        "ORDER BY c.code"), params).all()
    without_point = session.execute(text(
        f"SELECT count(*) FROM commune c WHERE ({territory.condition()}) "
        "AND c.point IS NULL AND c.geom IS NULL"), territory.params).scalar() or 0
    n = len(rows)
    population = np.fromiter((r[2] for r in rows), dtype=np.float64, count=n)
    scores = np.array([np.nan if r[6] is None else r[6] for r in rows], dtype=np.float64)
    inside = np.fromiter((bool(r[5]) for r in rows), dtype=bool, count=n)
    missing = np.isnan(scores)
    factor = np.where(missing, 1.0, scores / 100.0)
    if need == "population":
        weight = population.copy()
    elif need == "fragility":
        weight = population * factor
    else:
        weight = population * ILLECTRONISME_RATE * factor
    return Demand(
        codes=[r[0] for r in rows], population=population, need=weight,
        lon=np.fromiter((r[3] for r in rows), dtype=np.float64, count=n),
        lat=np.fromiter((r[4] for r in rows), dtype=np.float64, count=n),
        inside=inside, names=[r[1] for r in rows],
        parents={"epci": [r[7] for r in rows], "departement": [r[8] for r in rows],
                 "region": [r[9] for r in rows]},
        without_point=int(without_point),
        without_fragility=int(np.count_nonzero(missing & inside)) if need != "population"
        else 0)


_OPEN_TODAY = (
    "l.status <> 'closed' "
    "AND NOT (l.status = 'temporarily_closed' AND l.closed_from IS NULL "
    "         AND l.closed_until IS NULL) "
    "AND NOT ((l.closed_from IS NOT NULL OR l.closed_until IS NOT NULL) "
    "         AND COALESCE(l.closed_from, '-infinity'::date) <= :today "
    "         AND :today <= COALESCE(l.closed_until, 'infinity'::date))")
_OFFERS_SERVICE = (
    "(CAST(:service AS text) IS NULL OR :service = ANY(l.services) OR EXISTS ("
    " SELECT 1 FROM offre o WHERE o.lieu_id = l.id AND o.active AND o.service = :service))")
_ACCEPTS_PROGRAMME = (
    "EXISTS (SELECT 1 FROM acceptation a JOIN programme p ON p.id = a.programme_id "
    " WHERE a.lieu_id = l.id AND p.code = :programme "
    " AND a.valid_from <= :today AND (a.valid_to IS NULL OR :today <= a.valid_to) "
    " AND p.valid_from <= :today AND (p.valid_to IS NULL OR :today <= p.valid_to) "
    " AND (CAST(:service AS text) IS NULL OR ("
    "   (cardinality(a.services) = 0 OR :service = ANY(a.services)) AND "
    "   (cardinality(p.allowed_services) = 0 OR :service = ANY(p.allowed_services)))))")


def venue_filter(programme: str | None, accepting: bool = True) -> str:
    """SQL condition on ``lieu l``: open today, offering ``:service``, and accepting
    ``:programme`` (or, with ``accepting=False``, not accepting it)."""
    parts = [_OPEN_TODAY, _OFFERS_SERVICE]
    if programme is not None:
        parts.append(_ACCEPTS_PROGRAMME if accepting else f"NOT {_ACCEPTS_PROGRAMME}")
    return " AND ".join(f"({p})" for p in parts)


def load_supply(session: Session, selection: Selection, territory: Territory,
                margin_km: float, today: dt.date) -> Supply:
    box = _expanded_box(session, territory, margin_km)
    params: dict[str, Any] = {"today": today, "service": selection.service,
                              "programme": selection.programme, **_box_params(box)}
    rows = session.execute(text(
        "WITH v AS (SELECT l.id, l.weekly_capacity, l.geom FROM lieu l "
        f"  WHERE {venue_filter(selection.programme)}) "
        "SELECT v.id, v.weekly_capacity, ST_X(p.pt), ST_Y(p.pt), p.n, p.stop "
        "FROM v JOIN LATERAL ("
        "  SELECT s.geom AS pt, count(*) OVER () AS n, true AS stop "
        "  FROM lieu_stop s WHERE s.lieu_id = v.id "
        "  UNION ALL "
        "  SELECT v.geom, 1, false WHERE v.geom IS NOT NULL "
        "  AND NOT EXISTS (SELECT 1 FROM lieu_stop s2 WHERE s2.lieu_id = v.id)"
        ") p ON true "
        "WHERE :all OR p.pt && ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4326) "
        "ORDER BY v.id, p.pt"), params).all()
    n = len(rows)
    ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=n)
    capacity = np.fromiter(((1.0 if r[1] is None else float(r[1])) / r[4] for r in rows),
                           dtype=np.float64, count=n)
    unknown = len({r[0] for r in rows if r[1] is None})
    return Supply(
        lieu_ids=ids, capacity=capacity,
        lon=np.fromiter((r[2] for r in rows), dtype=np.float64, count=n),
        lat=np.fromiter((r[3] for r in rows), dtype=np.float64, count=n),
        venues=int(np.unique(ids).size), unknown_capacity=unknown,
        stops=sum(1 for r in rows if r[5]))


# --------------------------------------------------------------------------- costs

def _unit_xyz(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    lam, phi = np.radians(lon), np.radians(lat)
    cos_phi = np.cos(phi)
    return np.column_stack((cos_phi * np.cos(lam), cos_phi * np.sin(lam), np.sin(phi)))


def geodesic_km(lon1: np.ndarray, lat1: np.ndarray, lon2: np.ndarray,
                lat2: np.ndarray) -> np.ndarray:
    """WGS 84 geodesic distance in km (pyproj, Karney's algorithm), element-wise."""
    from pyproj import Geod

    if lon1.size == 0:
        return np.zeros(0)
    _, _, metres = Geod(ellps="WGS84").inv(lon1, lat1, lon2, lat2)
    return np.asarray(metres, dtype=np.float64) / 1000.0


def pairs_within_python(d_lon: np.ndarray, d_lat: np.ndarray, s_lon: np.ndarray,
                        s_lat: np.ndarray,
                        radius_km: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(demand index, supply index, geodesic km) of the pairs at most ``radius_km`` apart."""
    empty = (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0))
    if d_lon.size == 0 or s_lon.size == 0:
        return empty
    arc = radius_km * _SPHERE_MARGIN / EARTH_MEAN_RADIUS_KM
    chord = 2.0 * math.sin(min(arc, math.pi) / 2.0)
    d_tree = cKDTree(_unit_xyz(d_lon, d_lat))
    s_tree = cKDTree(_unit_xyz(s_lon, s_lat))
    found = d_tree.sparse_distance_matrix(s_tree, chord, output_type="ndarray")
    di = found["i"].astype(np.int64)
    sj = found["j"].astype(np.int64)
    km = geodesic_km(d_lon[di], d_lat[di], s_lon[sj], s_lat[sj])
    keep = km <= radius_km
    di, sj, km = di[keep], sj[keep], km[keep]
    order = np.lexsort((sj, di))
    return di[order], sj[order], km[order]


def pairs_within_sql(session: Session, d_lon: np.ndarray, d_lat: np.ndarray,
                     s_lon: np.ndarray, s_lat: np.ndarray,
                     radius_km: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Same as :func:`pairs_within_python`, in PostGIS: ``ST_DWithin`` on geography with a
    GiST index on temporary tables, then ``ST_Distance(…, true)`` (spheroid)."""
    connection = session.connection().connection.driver_connection
    with connection.cursor() as cursor:
        for table, lon, lat in (("cov_demand", d_lon, d_lat), ("cov_supply", s_lon, s_lat)):
            cursor.execute(f"DROP TABLE IF EXISTS {table}")
            cursor.execute(f"CREATE TEMP TABLE {table} (k integer, x float8, y float8) "
                           "ON COMMIT DROP")
            with cursor.copy(f"COPY {table} (k, x, y) FROM STDIN") as copy:
                for k in range(lon.size):
                    copy.write_row((k, float(lon[k]), float(lat[k])))
            cursor.execute(f"ALTER TABLE {table} ADD COLUMN g geography(Point, 4326) "
                           "GENERATED ALWAYS AS "
                           "(ST_SetSRID(ST_MakePoint(x, y), 4326)::geography) STORED")
            cursor.execute(f"CREATE INDEX ON {table} USING gist (g)")
            cursor.execute(f"ANALYZE {table}")
        buffer = io.BytesIO()
        with cursor.copy(
                "COPY (SELECT d.k, s.k, ST_Distance(d.g, s.g, true) / 1000.0 "
                "FROM cov_demand d JOIN cov_supply s ON ST_DWithin(d.g, s.g, "
                f"{float(radius_km) * 1000.0!r}, true) ORDER BY d.k, s.k) TO STDOUT") as copy:
            for chunk in copy:
                buffer.write(chunk)
        cursor.execute("DROP TABLE cov_demand")
        cursor.execute("DROP TABLE cov_supply")
    buffer.seek(0)
    if not buffer.getbuffer().nbytes:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
    table = np.loadtxt(buffer, dtype=np.float64, ndmin=2)
    return table[:, 0].astype(np.int64), table[:, 1].astype(np.int64), table[:, 2]


def cost_pairs(session: Session, demand: Demand, supply: Supply, max_cost_km: float,
               detour: float, engine: str = "python") -> accessibility.Pairs:
    """Pairs with ``cost = geodesic × detour <= max_cost_km``."""
    radius = straight_radius_km(max_cost_km, detour)
    if engine == "sql":
        di, sj, km = pairs_within_sql(session, demand.lon, demand.lat, supply.lon,
                                      supply.lat, radius)
    elif engine == "python":
        di, sj, km = pairs_within_python(demand.lon, demand.lat, supply.lon, supply.lat,
                                         radius)
    else:
        raise InvalidInput(f"Moteur de calcul des distances « {engine} » inconnu : "
                           "python ou sql.")
    cost = km * detour
    keep = cost <= max_cost_km
    return accessibility.make_pairs(di[keep], sj[keep], cost[keep], len(demand),
                                    len(supply), check_duplicates=False)


# --------------------------------------------------------------------------- refresh

@dataclass
class RefreshReport:
    run_id: int
    selection: Selection
    territory: Territory
    communes: int
    ring_communes: int
    population: float
    need: float
    venues: int
    supply_points: int
    stops: int
    unknown_capacity: int
    pairs: int
    covered_population: dict[float, float]
    covered_need: dict[float, float]
    reference_mean: float
    reference: str
    method: str
    detour: float
    without_point: int
    without_fragility: int
    timings: dict[str, float] = field(default_factory=dict)


def refresh(session: Session, selection: Selection, *, detour: float,
            method: str = DEFAULT_METHOD, engine: str = "python",
            today: dt.date, parameters: accessibility.FcaParameters | None = None,
            progress: Callable[[str], None] | None = None) -> RefreshReport:
    """Compute, store and aggregate one run; the caller commits. ``progress`` is told the
    name of each step as it starts (in French)."""
    step = progress or (lambda _name: None)
    if not detour >= 1.0 or not math.isfinite(detour):
        raise InvalidInput("Le facteur de détour doit être un nombre ≥ 1 (par exemple 1.3).")
    if method not in accessibility.METHODS:
        raise InvalidInput(f"Méthode « {method} » inconnue : "
                           + ", ".join(accessibility.METHODS) + ".")
    params = parameters or accessibility.FcaParameters()
    check_selection(session, selection)
    territory = resolve_territory(session, selection.within)
    selection = selection.with_within(territory.code)
    # One refresh at a time (they share the simplified shapes); a batch job, not a web
    # request: the web statement timeout does not apply.
    session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _REFRESH_LOCK})
    session.execute(text("SET LOCAL statement_timeout = '15min'"))
    max_cost = max(params.two_sfca_radius_km, params.steps[-1][0], params.gaussian_d0_km,
                   *params.coverage_radii_km)
    radius = straight_radius_km(max_cost, detour)
    timings: dict[str, float] = {}

    step("lecture des communes et des lieux")
    start = time.perf_counter()
    demand = load_demand(session, territory, selection.need, 2.0 * radius)
    if not demand.inside.any():
        raise InvalidInput(f"Aucune commune localisée dans {territory.name} "
                           f"({territory.code}) : la géographie est-elle chargée ?")
    supply = load_supply(session, selection, territory, radius, today)
    timings["lecture"] = time.perf_counter() - start

    step("distances")
    start = time.perf_counter()
    pairs = cost_pairs(session, demand, supply, max_cost, detour, engine)
    timings["distances"] = time.perf_counter() - start

    step("calcul")
    start = time.perf_counter()
    result = accessibility.compute_all(demand.need, supply.capacity, pairs, params)
    inside = demand.inside
    a_method = result.accessibility[method]
    reference_mean = accessibility.mean_accessibility(demand.need[inside], a_method[inside])
    gap = demand.need * np.maximum(0.0, reference_mean - a_method)
    timings["calcul"] = time.perf_counter() - start

    step("enregistrement")
    start = time.perf_counter()
    reference = "nation" if territory.kind == "fr" else "territoire"
    stats = {
        "communes": int(inside.sum()), "ring_communes": int((~inside).sum()),
        "venues": supply.venues, "supply_points": len(supply), "stops": supply.stops,
        "venues_unknown_capacity": supply.unknown_capacity, "pairs": len(pairs),
        "communes_without_point": demand.without_point,
        "communes_without_fragility": demand.without_fragility,
        "population": float(demand.population[inside].sum()),
        "need": float(demand.need[inside].sum()),
        "reference_means": {name: accessibility.mean_accessibility(
            demand.need[inside], values[inside])
            for name, values in result.accessibility.items()},
        "date": today.isoformat(),
    }
    run_parameters = {
        "detour_factor": detour, "max_cost_km": max_cost, "straight_radius_km": radius,
        "two_sfca_radius_km": params.two_sfca_radius_km,
        "steps": [list(step) for step in params.steps],
        "gaussian_d0_km": params.gaussian_d0_km,
        "coverage_radii_km": list(params.coverage_radii_km), "engine": engine,
        "illectronisme_rate": ILLECTRONISME_RATE if selection.need == "illectronisme"
        else None,
    }
    run_id = session.execute(text(
        "INSERT INTO coverage_run (selection_key, programme_code, service, within, need_kind,"
        " method, parameters, stats, reference_mean, reference) VALUES (:key, :programme,"
        " :service, :within, :need, :method, CAST(:parameters AS jsonb),"
        " CAST(:stats AS jsonb), :mean, :reference) RETURNING id"),
        {"key": selection.key, "programme": selection.programme,
         "service": selection.service, "within": selection.within, "need": selection.need,
         "method": method, "parameters": json.dumps(run_parameters),
         "stats": json.dumps(stats), "mean": reference_mean,
         "reference": reference}).scalar_one()
    _store_results(session, run_id, demand, supply, result, gap, method, reference_mean)
    timings["enregistrement"] = time.perf_counter() - start

    step("agrégats")
    start = time.perf_counter()
    aggregate(session, run_id, method)
    store_properties(session, run_id, method, reference_mean)
    _prune(session, selection.key, run_id)
    timings["agrégats"] = time.perf_counter() - start

    step("formes simplifiées")
    start = time.perf_counter()
    stats["shapes_simplified"] = refresh_shapes(session, territory)
    # Fresh statistics, so that the views' plans start from the few rows they show; the
    # big tables only when they changed much (ANALYZE of coverage_result takes ≈ 1 s).
    tables = ["coverage_aggregate"]
    if stats["shapes_simplified"] > 1000:
        tables.append("coverage_shape")
    if stats["communes"] >= 10_000 or not session.execute(text(
            "SELECT EXISTS (SELECT 1 FROM pg_stats WHERE tablename = 'coverage_result')"
    )).scalar():
        tables.append("coverage_result")
    for table in tables:
        session.execute(text(f"ANALYZE {table}"))
    timings["formes"] = time.perf_counter() - start
    stats["seconds"] = {k: round(v, 3) for k, v in timings.items()}
    session.execute(text("UPDATE coverage_run SET stats = CAST(:stats AS jsonb) "
                         "WHERE id = :id"), {"stats": json.dumps(stats), "id": run_id})

    population_in = demand.population[inside]
    need_in = demand.need[inside]
    return RefreshReport(
        run_id=run_id, selection=selection, territory=territory,
        communes=int(inside.sum()), ring_communes=int((~inside).sum()),
        population=float(population_in.sum()), need=float(need_in.sum()),
        venues=supply.venues, supply_points=len(supply), stops=supply.stops,
        unknown_capacity=supply.unknown_capacity, pairs=len(pairs),
        covered_population={t: float(population_in[result.covered[t][inside]].sum())
                            for t in params.coverage_radii_km},
        covered_need={t: float(need_in[result.covered[t][inside]].sum())
                      for t in params.coverage_radii_km},
        reference_mean=reference_mean, reference=reference, method=method, detour=detour,
        without_point=demand.without_point, without_fragility=demand.without_fragility,
        timings=timings)


_RESULT_COLUMNS = ("run_id", "commune_code", "population", "need", "a_2sfca",
                   "a_e2sfca_step", "a_e2sfca_gauss", "a_3sfca", "capacity_gap",
                   "nearest_lieu_id", "nearest_cost_km", "venues_10km", "venues_20km",
                   "venues_30km", "capacity_10km", "capacity_20km", "capacity_30km",
                   "covered_10km", "covered_20km", "covered_30km")


def _store_results(session: Session, run_id: int, demand: Demand, supply: Supply,
                   result: accessibility.FcaResult, gap: np.ndarray, method: str,
                   reference_mean: float) -> None:
    inside = np.flatnonzero(demand.inside)
    nearest = result.nearest_supply
    lieu = np.where(nearest >= 0, supply.lieu_ids[np.maximum(nearest, 0)]
                    if len(supply) else -1, -1)

    def radius(values: dict[float, np.ndarray], t: float) -> np.ndarray:
        return values.get(t, np.zeros(len(demand)))

    columns = [
        demand.population, demand.need,
        *(result.accessibility[name] for name in accessibility.METHODS), gap,
    ]
    counts = [radius(result.supply_count, t) for t in RADII_KM]
    capacities = [radius(result.capacity_within, t) for t in RADII_KM]
    covered = [radius(result.covered, t).astype(bool) for t in RADII_KM]
    cost = result.nearest_cost_km
    connection = session.connection().connection.driver_connection
    with connection.cursor() as cursor:
        # Staged, then inserted with the map's properties: one write per row.
        cursor.execute("DROP TABLE IF EXISTS cov_result_stage")
        cursor.execute("CREATE TEMP TABLE cov_result_stage (LIKE coverage_result) "
                       "ON COMMIT DROP")
        _copy_results(cursor, run_id, demand, inside, columns, counts, capacities, covered,
                      lieu, cost)
    columns_sql = ", ".join(_RESULT_COLUMNS)
    staged = ", ".join(f"r.{c}" for c in _RESULT_COLUMNS)
    session.execute(text(
        f"INSERT INTO coverage_result ({columns_sql}, properties) "
        f"SELECT {staged}, {properties_sql('commune', method)} "
        "FROM cov_result_stage r JOIN commune g ON g.code = r.commune_code"),
        {"level": "commune", "reference": reference_mean})
    session.execute(text("DROP TABLE cov_result_stage"))


def _copy_results(cursor, run_id, demand, inside, columns, counts, capacities, covered,
                  lieu, cost) -> None:
    with cursor.copy(f"COPY cov_result_stage ({', '.join(_RESULT_COLUMNS)}) "
                     "FROM STDIN") as copy:
        floats = [c.tolist() for c in columns]
        counts_l = [c.tolist() for c in counts]
        caps_l = [c.tolist() for c in capacities]
        cov_l = [c.tolist() for c in covered]
        lieu_l = lieu.tolist()
        cost_l = cost.tolist()
        for i in inside.tolist():
            has = lieu_l[i] >= 0
            copy.write_row((
                run_id, demand.codes[i], *(f[i] for f in floats),
                lieu_l[i] if has else None, cost_l[i] if has else None,
                *(int(c[i]) for c in counts_l), *(c[i] for c in caps_l),
                *(c[i] for c in cov_l)))


def aggregate(session: Session, run_id: int, method: str) -> None:
    """Sum the run's communes into EPCI, département, région and France rows."""
    if method not in accessibility.METHODS:
        raise InvalidInput(f"Méthode « {method} » inconnue.")
    a = f"a_{method}"  # from the fixed list above
    figures = (
        "count(*), sum(r.population), sum(r.need), "
        + ", ".join(f"COALESCE(sum(r.population) FILTER (WHERE r.covered_{t}km), 0)"
                    for t in (10, 20, 30)) + ", "
        + ", ".join(f"COALESCE(sum(r.need) FILTER (WHERE r.covered_{t}km), 0)"
                    for t in (10, 20, 30)) + ", "
        "count(*) FILTER (WHERE NOT r.covered_30km), "
        f"CASE WHEN sum(r.need) > 0 THEN sum(r.need * r.{a}) / sum(r.need) ELSE 0 END, "
        "sum(r.capacity_gap), "
        "sum(r.population * r.nearest_cost_km) FILTER (WHERE r.nearest_cost_km IS NOT NULL)"
        " / NULLIF(sum(r.population) FILTER (WHERE r.nearest_cost_km IS NOT NULL), 0)")
    columns = ("run_id, level, code, communes, population, need, population_covered_10km, "
               "population_covered_20km, population_covered_30km, need_covered_10km, "
               "need_covered_20km, need_covered_30km, communes_uncovered_30km, "
               "mean_accessibility, capacity_gap, mean_nearest_km")
    for level, column in LEVEL_COLUMNS.items():
        session.execute(text(
            f"INSERT INTO coverage_aggregate ({columns}) "
            f"SELECT :run, '{level}', c.{column}, {figures} "
            "FROM coverage_result r JOIN commune c ON c.code = r.commune_code "
            f"WHERE r.run_id = :run AND c.{column} IS NOT NULL GROUP BY c.{column}"),
            {"run": run_id})
    session.execute(text(
        f"INSERT INTO coverage_aggregate ({columns}) "
        f"SELECT :run, 'france', 'FR', {figures} "
        "FROM coverage_result r WHERE r.run_id = :run HAVING count(*) > 0"), {"run": run_id})


def _prune(session: Session, key: str, keep_id: int) -> None:
    """Keep the newest runs of a selection; older ones go (with their rows)."""
    session.execute(text(
        "DELETE FROM coverage_run WHERE selection_key = :key AND id <> :keep AND id NOT IN ("
        " SELECT id FROM coverage_run WHERE selection_key = :key "
        " ORDER BY created_at DESC, id DESC LIMIT :n)"),
        {"key": key, "keep": keep_id, "n": KEEP_RUNS_PER_SELECTION})


def refresh_shapes(session: Session, territory: Territory) -> int:
    """Simplify for the map, once, the polygons of the territory's communes and of the
    EPCI, départements and régions they belong to (again when a polygon changed)."""
    done = 0
    for level, tolerance in SIMPLIFY.items():
        if level == "commune":
            scope = territory.condition("g")
        elif territory.kind == "fr":
            scope = "TRUE"
        else:
            column = LEVEL_COLUMNS[level]
            scope = (f"g.code IN (SELECT DISTINCT c.{column} FROM commune c "
                     f"WHERE {territory.condition()} AND c.{column} IS NOT NULL)")
        done += session.execute(text(
            "INSERT INTO coverage_shape (level, code, tolerance, digits, source_md5, geojson) "
            "SELECT :level, g.code, :tolerance, :digits, q.md5, "
            " ST_AsGeoJSON(ST_SimplifyPreserveTopology(g.geom, :tolerance), :digits) "
            f"FROM {level} g "
            "CROSS JOIN LATERAL (SELECT md5(ST_AsEWKB(g.geom)) AS md5) q "
            "LEFT JOIN coverage_shape s ON s.level = :level AND s.code = g.code "
            f"WHERE g.geom IS NOT NULL AND ({scope}) AND (s.code IS NULL "
            " OR s.source_md5 <> q.md5 OR s.tolerance <> :tolerance OR s.digits <> :digits) "
            "ON CONFLICT (level, code) DO UPDATE SET tolerance = EXCLUDED.tolerance, "
            " digits = EXCLUDED.digits, source_md5 = EXCLUDED.source_md5, "
            " geojson = EXCLUDED.geojson"),
            {**territory.params, "level": level, "tolerance": tolerance,
             "digits": COORDINATE_DIGITS}).rowcount
    return done


# --------------------------------------------------------------------------- reading runs

RUN_COLUMNS = ("id, created_at, programme_code, service, within, need_kind, method, "
               "parameters, stats, reference_mean, reference")


def _parent_withins(session: Session, territory: Territory) -> list[str]:
    """The territory, then the territories that contain it, then France."""
    found = [territory.code]
    if territory.kind == "com":
        row = session.execute(text("SELECT epci_code, departement_code, region_code "
                                   "FROM commune WHERE code = :c"),
                              {"c": territory.value}).one_or_none()
        if row is not None:
            found += [f"epci:{row[0]}"] if row[0] else []
            found += [f"dep:{row[1]}", f"reg:{row[2]}"]
    elif territory.kind == "dep":
        region = session.execute(text("SELECT region_code FROM departement WHERE code = :c"),
                                 {"c": territory.value}).scalar()
        if region:
            found.append(f"reg:{region}")
    elif territory.kind == "epci":
        # An EPCI lies in one département (a few straddle two: then only France serves).
        rows = session.execute(text(
            "SELECT DISTINCT departement_code, region_code FROM commune "
            "WHERE epci_code = :c"), {"c": territory.value}).all()
        if len(rows) == 1:
            found += [f"dep:{rows[0][0]}", f"reg:{rows[0][1]}"]
        elif len({r[1] for r in rows}) == 1 and rows:
            found.append(f"reg:{rows[0][1]}")
    if "fr" not in found:
        found.append("fr")
    return found


def find_run(session: Session, selection: Selection, run_id: int | None = None) -> dict:
    """The latest run serving ``selection`` (its territory or one containing it)."""
    if run_id is not None:
        row = session.execute(text(f"SELECT {RUN_COLUMNS} FROM coverage_run WHERE id = :id"),
                              {"id": run_id}).mappings().one_or_none()
        if row is None:
            raise NotFound(f"Aucun calcul de couverture n° {run_id}.")
        return _run_info(session, dict(row))
    territory = resolve_territory(session, selection.within)
    withins = _parent_withins(session, territory)
    keys = [selection.with_within(w).key for w in withins]
    row = session.execute(text(
        f"SELECT {RUN_COLUMNS} FROM coverage_run WHERE selection_key = ANY(:keys) "
        "ORDER BY array_position(CAST(:keys AS text[]), selection_key), created_at DESC, "
        "id DESC LIMIT 1"), {"keys": keys}).mappings().one_or_none()
    if row is None:
        raise NotFound(
            "Aucun calcul de couverture pour cette sélection "
            f"(programme : {selection.programme or 'tous les lieux'}, service : "
            f"{selection.service or 'tous'}, territoire : {territory.name}, besoin : "
            f"{selection.need}). Lancez : {selection.with_within(territory.code).command()}")
    return _run_info(session, dict(row))


def list_runs(session: Session, selection: Selection | None = None,
              limit: int = 50) -> list[dict]:
    conditions, params = [], {"limit": limit}
    if selection is not None:
        for column, value in (("programme_code", selection.programme),
                              ("service", selection.service), ("need_kind", selection.need)):
            if value is not None:
                conditions.append(f"{column} = :{column}")
                params[column] = value
    where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
    rows = session.execute(text(
        f"SELECT {RUN_COLUMNS} FROM coverage_run {where} "
        "ORDER BY created_at DESC, id DESC LIMIT :limit"), params).mappings().all()
    return [_run_info(session, dict(r)) for r in rows]


def _run_info(session: Session, row: dict) -> dict:
    stats = row["stats"] or {}
    kind, value = parse_territory(row["within"])
    within_name = "France entière" if kind == "fr" else session.execute(
        text(f"SELECT name FROM {_KIND_TABLE[kind]} WHERE code = :c"), {"c": value}).scalar()
    return {
        "id": row["id"], "created_at": row["created_at"],
        "programme": row["programme_code"], "service": row["service"],
        "within": row["within"], "within_name": within_name, "need": row["need_kind"],
        "method": row["method"],
        "detour_factor": (row["parameters"] or {}).get("detour_factor"),
        "reference_mean": row["reference_mean"], "reference": row["reference"],
        "venues": stats.get("venues", 0),
        "venues_unknown_capacity": stats.get("venues_unknown_capacity", 0),
        "communes": stats.get("communes", 0),
        "seconds": round(sum((stats.get("seconds") or {}).values()), 3),
    }


# --------------------------------------------------------------------------- views

VIEW_LEVELS = ("commune", "epci", "departement", "region")
# Simplification tolerance in degrees per level (≈ 2 km, 1.5 km, 500 m, 100 m): the national
# département view stays under 300 KB.
SIMPLIFY = {"region": 0.02, "departement": 0.015, "epci": 0.005, "commune": 0.001}
COORDINATE_DIGITS = 5
MAX_COMMUNES_PER_VIEW = 5000
_SHARE_RADII = (10, 20, 30)

PROPERTY_COLUMNS: tuple[str, ...] = (
    "code", "name", "level", "population", "need", "communes",
    *(f"population_covered_{t}km" for t in _SHARE_RADII),
    *(f"share_population_covered_{t}km" for t in _SHARE_RADII),
    *(f"need_covered_{t}km" for t in _SHARE_RADII),
    *(f"share_need_covered_{t}km" for t in _SHARE_RADII),
    *(f"uncovered_population_{t}km" for t in _SHARE_RADII),
    "communes_uncovered_30km", "mean_accessibility", "accessibility_index", "capacity_gap",
    "mean_nearest_km", "region_code", "departement_code", "epci_code",
)
COMMUNE_COLUMNS: tuple[str, ...] = (
    "a_2sfca", "a_e2sfca_step", "a_e2sfca_gauss", "a_3sfca", "nearest_lieu_id",
    "nearest_cost_km", *(f"venues_{t}km" for t in _SHARE_RADII),
    *(f"capacity_{t}km" for t in _SHARE_RADII), *(f"covered_{t}km" for t in _SHARE_RADII),
)


def columns_for(level: str) -> tuple[str, ...]:
    return PROPERTY_COLUMNS + (COMMUNE_COLUMNS if level == "commune" else ())


@dataclass
class View:
    run: dict
    level: str
    count: int
    features: str | None = None      # GeoJSON Features joined by commas (format geojson)
    rows: list[dict] | None = None   # properties of each territory (format csv)


def _ratio(part: float | None, whole: float | None) -> float | None:
    if part is None or not whole:
        return None
    return part / whole


# Figures are rounded in SQL, for reading and for the payload's size: shares to 0.01 %,
# indices to 6 significant digits, people, need, capacities and km to 2 decimals.
def _r2(expression: str) -> str:
    # float8 arithmetic (numeric rounding costs 10 × more); PostgreSQL prints the shortest
    # text that reads back exactly, so 1234.57 stays 1234.57.
    return f"(round(({expression})::float8 * 100) / 100)"


def _sig(expression: str) -> str:
    x = f"({expression})::float8"
    scale = f"power(10::float8, 5 - floor(log(abs({x}))))"
    return (f"(CASE WHEN ({expression}) IS NULL OR ({expression}) = 0 THEN {x} "
            f"ELSE round({x} * {scale}) / {scale} END)")


def _share(part: str, whole: str) -> str:
    return f"(CASE WHEN {whole} > 0 THEN round(({part}) / ({whole}) * 10000) / 10000 END)"


_REFERENCE = "CAST(:reference AS float8)"


def _properties_sql(f: dict[str, str]) -> str:
    """``jsonb_build_object`` of the common properties from SQL expressions ``f``."""
    pairs: list[tuple[str, str]] = [
        ("code", f["code"]), ("name", f["name"]), ("level", "CAST(:level AS text)"),
        ("population", _r2(f["population"])), ("need", _r2(f["need"])),
        ("communes", f["communes"]),
    ]
    pairs += [(f"population_covered_{t}km", _r2(f[f"population_covered_{t}km"]))
              for t in _SHARE_RADII]
    pairs += [(f"share_population_covered_{t}km",
               _share(f[f"population_covered_{t}km"], f["population"])) for t in _SHARE_RADII]
    pairs += [(f"need_covered_{t}km", _r2(f[f"need_covered_{t}km"])) for t in _SHARE_RADII]
    pairs += [(f"share_need_covered_{t}km", _share(f[f"need_covered_{t}km"], f["need"]))
              for t in _SHARE_RADII]
    pairs += [(f"uncovered_population_{t}km",
               _r2(f"{f['population']} - {f[f'population_covered_{t}km']}"))
              for t in _SHARE_RADII]
    pairs += [
        ("communes_uncovered_30km", f["communes_uncovered_30km"]),
        ("mean_accessibility", _sig(f["mean_accessibility"])),
        ("accessibility_index",
         f"(CASE WHEN {_REFERENCE} > 0 THEN "
         f"{_sig(f['mean_accessibility'] + ' / ' + _REFERENCE)} "
         "END)"),
        ("capacity_gap", _r2(f["capacity_gap"])), ("mean_nearest_km", _r2(f["mean_nearest_km"])),
        ("region_code", f["region_code"]), ("departement_code", f["departement_code"]),
        ("epci_code", f["epci_code"]),
    ]
    return "jsonb_build_object(" + ", ".join(f"'{k}', {v}" for k, v in pairs) + ")"


_AGGREGATE_FIELDS = {
    "code": "a.code", "name": "g.name", "population": "a.population", "need": "a.need",
    "communes": "a.communes",
    **{f"population_covered_{t}km": f"a.population_covered_{t}km" for t in _SHARE_RADII},
    **{f"need_covered_{t}km": f"a.need_covered_{t}km" for t in _SHARE_RADII},
    "communes_uncovered_30km": "a.communes_uncovered_30km",
    "mean_accessibility": "a.mean_accessibility", "capacity_gap": "a.capacity_gap",
    "mean_nearest_km": "a.mean_nearest_km", "region_code": "CAST(NULL AS text)",
    "departement_code": "CAST(NULL AS text)", "epci_code": "CAST(NULL AS text)",
}


def _commune_fields(method: str) -> dict[str, str]:
    return {
        "code": "r.commune_code", "name": "g.name", "population": "r.population",
        "need": "r.need", "communes": "1",
        **{f"population_covered_{t}km": f"(CASE WHEN r.covered_{t}km THEN r.population "
                                        "ELSE 0 END)" for t in _SHARE_RADII},
        **{f"need_covered_{t}km": f"(CASE WHEN r.covered_{t}km THEN r.need ELSE 0 END)"
           for t in _SHARE_RADII},
        "communes_uncovered_30km": "(CASE WHEN r.covered_30km THEN 0 ELSE 1 END)",
        "mean_accessibility": f"r.a_{method}", "capacity_gap": "r.capacity_gap",
        "mean_nearest_km": "r.nearest_cost_km", "region_code": "g.region_code",
        "departement_code": "g.departement_code", "epci_code": "g.epci_code",
    }


def _commune_extra_sql() -> str:
    pairs = [(f"a_{m}", _sig(f"r.a_{m}")) for m in accessibility.METHODS]
    pairs += [("nearest_lieu_id", "r.nearest_lieu_id"),
              ("nearest_cost_km", _r2("r.nearest_cost_km"))]
    pairs += [(f"venues_{t}km", f"r.venues_{t}km") for t in _SHARE_RADII]
    pairs += [(f"capacity_{t}km", _r2(f"r.capacity_{t}km")) for t in _SHARE_RADII]
    pairs += [(f"covered_{t}km", f"r.covered_{t}km") for t in _SHARE_RADII]
    return "jsonb_build_object(" + ", ".join(f"'{k}', {v}" for k, v in pairs) + ")"


def properties_sql(level: str, method: str) -> str:
    """SQL of a territory's map properties (aliases: ``r`` coverage_result and ``g``
    commune at the commune level; ``a`` coverage_aggregate and ``g`` the level's table
    otherwise; binds ``:level`` and ``:reference``)."""
    if method not in accessibility.METHODS:
        raise InvalidInput("Méthode du calcul inconnue.")
    if level == "commune":
        return _properties_sql(_commune_fields(method)) + " || " + _commune_extra_sql()
    fields = dict(_AGGREGATE_FIELDS)
    if level == "departement":
        fields["region_code"] = "g.region_code"
    return _properties_sql(fields)


def store_properties(session: Session, run_id: int, method: str,
                     reference_mean: float) -> None:
    """Build once, at refresh, the properties every view of the run shows (the
    communes' are built as they are stored)."""
    params = {"run": run_id, "reference": reference_mean}
    for level, table in TERRITORY_TABLES.items():
        session.execute(text(
            f"UPDATE coverage_aggregate a SET properties = {properties_sql(level, method)} "
            f"FROM {table} g WHERE g.code = a.code AND a.run_id = :run AND a.level = :level"),
            {**params, "level": level})


def coverage_view(session: Session, level: str, selection: Selection, *,
                  bbox: Sequence[float] | None = None, run_id: int | None = None,
                  fmt: str = "geojson") -> View:
    """Figures per territory of ``level`` within ``selection.within`` (and ``bbox``).

    Properties are built and rounded in SQL, and with ``fmt="geojson"`` the Features are
    assembled there too, with the polygons simplified at refresh (``coverage_shape``): a
    view is one query and no per-row Python.
    """
    if level not in VIEW_LEVELS:
        raise NotFound(f"Niveau « {level} » inconnu : commune, epci, departement ou region.")
    check_selection(session, selection)
    territory = resolve_territory(session, selection.within)
    if level == "commune" and territory.kind == "fr" and bbox is None:
        raise InvalidInput(
            "Au niveau commune, précisez un territoire (within=dep:33, reg:75, epci:… ; "
            "pas fr) ou une emprise (bbox=minlon,minlat,maxlon,maxlat) : la France entière "
            "compte près de 35 000 communes.",
            errors={"within": ["Obligatoire au niveau commune (sauf avec bbox)."]})
    run = find_run(session, selection.with_within(territory.code), run_id)
    if run["method"] not in accessibility.METHODS:
        raise InvalidInput("Méthode du calcul inconnue.")
    params: dict[str, Any] = {"run": run["id"], **territory.params, "level": level,
                              "tolerance": SIMPLIFY[level], "digits": COORDINATE_DIGITS,
                              "reference": run["reference_mean"]}
    bbox_sql = "TRUE"
    if bbox is not None:
        params.update(x0=bbox[0], y0=bbox[1], x1=bbox[2], y1=bbox[3])
        bbox_sql = "g.geom && ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4326)"
    geometry = ("COALESCE(s.geojson, ST_AsGeoJSON(ST_SimplifyPreserveTopology(g.geom, "
                ":tolerance), :digits))" if fmt == "geojson" else "NULL")
    shapes = ("LEFT JOIN coverage_shape s ON s.level = :level AND s.code = g.code "
              "AND s.tolerance = :tolerance AND s.digits = :digits" if fmt == "geojson"
              else "")
    properties = f"COALESCE({'r' if level == 'commune' else 'a'}.properties, " \
                 f"{properties_sql(level, run['method'])})"
    if level == "commune":
        inner = (
            f"SELECT r.commune_code AS code, {properties} AS props, {geometry} AS geometry "
            f"FROM coverage_result r JOIN commune g ON g.code = r.commune_code {shapes} "
            f"WHERE r.run_id = :run AND ({territory.condition('g')}) AND ({bbox_sql}) "
            f"ORDER BY r.commune_code LIMIT {MAX_COMMUNES_PER_VIEW + 1}")
    else:
        column = LEVEL_COLUMNS[level]
        table = TERRITORY_TABLES[level]
        in_within = ("TRUE" if territory.kind == "fr" else
                     f"a.code IN (SELECT DISTINCT c.{column} FROM commune c "
                     f"WHERE {territory.condition()} AND c.{column} IS NOT NULL)")
        inner = (
            f"SELECT a.code, {properties} AS props, {geometry} AS geometry "
            f"FROM coverage_aggregate a JOIN {table} g ON g.code = a.code {shapes} "
            f"WHERE a.run_id = :run AND a.level = '{level}' AND ({in_within}) "
            f"AND ({bbox_sql}) ORDER BY a.code")
    if fmt == "geojson":
        count, features = session.execute(text(
            "SELECT count(*), string_agg('{\"type\":\"Feature\",\"id\":' || "
            "to_json(v.code)::text || ',\"geometry\":' || COALESCE(v.geometry, 'null') || "
            "',\"properties\":' || v.props::text || '}', ',' ORDER BY v.code) "
            f"FROM ({inner}) AS v"), params).one()
        view = View(run, level, int(count), features=features or "")
    else:
        rows = session.execute(text(f"SELECT v.props FROM ({inner}) AS v"), params).scalars()
        found = list(rows)
        view = View(run, level, len(found), rows=found)
    if level == "commune" and view.count > MAX_COMMUNES_PER_VIEW:
        raise InvalidInput(f"Plus de {MAX_COMMUNES_PER_VIEW} communes dans cette vue : "
                           "réduisez le territoire ou l'emprise.")
    return view


def view_geojson(view: View) -> str:
    """The FeatureCollection as text (Features assembled by PostgreSQL)."""
    run = {**view.run, "created_at": view.run["created_at"].isoformat()}
    return collection_text(view.features or "", {"level": view.level, "run": run})


def csv_cell(value: Any) -> str:
    """Text of one CSV cell; a cell that a spreadsheet would read as a formula is prefixed
    with an apostrophe (CSV injection)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "" if not math.isfinite(value) else repr(value)
    return neutralise_cell(str(value))


def view_csv(view: View) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    columns = columns_for(view.level)
    writer.writerow(columns)
    for props in view.rows or ():
        writer.writerow([csv_cell(props.get(c)) for c in columns])
    return out.getvalue()


# --------------------------------------------------------------------------- suggestions

CANDIDATE_KINDS = ("townhalls", "venues")


@dataclass
class Candidates:
    kind: str
    lon: np.ndarray
    lat: np.ndarray
    commune_codes: list[str]
    commune_names: list[str]
    lieu_ids: list[int | None]
    names: list[str]

    def __len__(self) -> int:
        return int(self.lon.size)


def town_hall_name(commune: str) -> str:
    """« Mairie de Balizac », « Mairie d'Aureilhan », « Mairie du Havre », « Mairie des
    Lilas »."""
    if commune.startswith("Le "):
        return f"Mairie du {commune[3:]}"
    if commune.startswith("Les "):
        return f"Mairie des {commune[4:]}"
    if commune[:1].upper() in "AEIOUYÂÊÎÔÛÉÈËÏÜŸ":
        return f"Mairie d'{commune}"
    return f"Mairie de {commune}"


def load_candidates(session: Session, selection: Selection, territory: Territory, kind: str,
                    today: dt.date) -> Candidates:
    if kind == "townhalls":
        rows = session.execute(text(
            "SELECT c.code, c.name, ST_X(q.p), ST_Y(q.p) FROM commune c "
            "CROSS JOIN LATERAL (SELECT COALESCE(c.town_hall_point, c.point, "
            " ST_PointOnSurface(c.geom)) AS p) q "
            f"WHERE ({territory.condition()}) AND q.p IS NOT NULL ORDER BY c.code"),
            territory.params).all()
        return Candidates(kind, np.array([r[2] for r in rows], dtype=np.float64),
                          np.array([r[3] for r in rows], dtype=np.float64),
                          [r[0] for r in rows], [r[1] for r in rows], [None] * len(rows),
                          [town_hall_name(r[1]) for r in rows])
    if selection.programme is None:
        raise InvalidInput("Les candidats « venues » sont les lieux qui n'acceptent pas "
                           "encore le programme : précisez programme.",
                           errors={"programme": ["Obligatoire avec candidates=venues."]})
    # The venue's commune: its code_insee, else the polygon that covers its point (two
    # branches, each with its index, rather than one OR that no index serves).
    rows = session.execute(text(
        "SELECT l.id, l.nom, ST_X(l.geom), ST_Y(l.geom), c.code, c.name FROM lieu l "
        "JOIN LATERAL (SELECT c1.code, c1.name, c1.region_code, c1.departement_code, "
        "  c1.epci_code FROM commune c1 WHERE c1.code = l.code_insee "
        " UNION ALL SELECT c2.code, c2.name, c2.region_code, c2.departement_code, "
        "  c2.epci_code FROM commune c2 WHERE l.code_insee IS NULL "
        "  AND ST_Covers(c2.geom, l.geom) LIMIT 1) c ON true "
        f"WHERE l.geom IS NOT NULL AND ({territory.condition()}) "
        f"AND {venue_filter(selection.programme, accepting=False)} ORDER BY l.id"),
        {**territory.params, "today": today, "service": selection.service,
         "programme": selection.programme}).all()
    return Candidates(kind, np.array([r[2] for r in rows], dtype=np.float64),
                      np.array([r[3] for r in rows], dtype=np.float64),
                      [r[4] for r in rows], [r[5] for r in rows], [r[0] for r in rows],
                      [r[1] for r in rows])


def suggest(session: Session, selection: Selection, *, k: int, radius_km: float,
            candidates: str, detour: float, gap_limit: int = 10,
            method: str = DEFAULT_METHOD, today: dt.date) -> dict:
    """k new sites chosen greedily to cover the most need within ``radius_km`` of cost,
    and the territories whose capacity gap is largest."""
    if candidates not in CANDIDATE_KINDS:
        raise InvalidInput("candidates : townhalls ou venues.")
    if not detour >= 1.0:
        raise InvalidInput("Le facteur de détour doit être ≥ 1.")
    check_selection(session, selection)
    territory = resolve_territory(session, selection.within)
    selection = selection.with_within(territory.code)
    params = accessibility.FcaParameters()
    max_cost = max(30.0, radius_km)
    radius = straight_radius_km(max_cost, detour)
    demand = load_demand(session, territory, selection.need, 2.0 * radius)
    supply = load_supply(session, selection, territory, radius, today)
    pairs = cost_pairs(session, demand, supply, max_cost, detour)
    inside = demand.inside
    if not inside.any():
        raise InvalidInput(f"Aucune commune localisée dans {territory.name}.")

    # Coverage today within radius_km.
    near = pairs.cost_km <= radius_km
    covered_now = np.zeros(len(demand), dtype=bool)
    covered_now[pairs.demand[near]] = True
    index_in = np.flatnonzero(inside)
    need_in, population_in = demand.need[index_in], demand.population[index_in]
    covered_in = covered_now[index_in]

    found = load_candidates(session, selection, territory, candidates, today)
    ci, di, km = pairs_within_python(found.lon, found.lat, demand.lon[index_in],
                                     demand.lat[index_in], radius_km / detour)
    keep = km * detour <= radius_km
    incidence = sparse.csr_array((np.ones(int(keep.sum())), (ci[keep], di[keep])),
                                 shape=(len(found), index_in.size))
    chosen = accessibility.greedy_new_sites(need_in, incidence, covered_in, k)

    total_population, total_need = float(population_in.sum()), float(need_in.sum())
    population_covered = float(population_in[covered_in].sum())
    need_covered = float(need_in[covered_in].sum())
    sites = []
    for rank, (site, fresh) in enumerate(zip(chosen.sites.tolist(), chosen.newly_covered,
                                             strict=True), start=1):
        new_population = float(population_in[fresh].sum())
        new_need = float(need_in[fresh].sum())
        population_covered += new_population
        need_covered += new_need
        sites.append({
            "rank": rank, "kind": "townhall" if candidates == "townhalls" else "venue",
            "commune_code": found.commune_codes[site],
            "commune_name": found.commune_names[site], "lieu_id": found.lieu_ids[site],
            "name": found.names[site], "lon": float(found.lon[site]),
            "lat": float(found.lat[site]),
            "newly_covered_population": new_population, "newly_covered_need": new_need,
            "newly_covered_communes": int(fresh.size),
            "share_population_covered_after": _ratio(population_covered, total_population),
            "share_need_covered_after": _ratio(need_covered, total_need),
        })

    # Capacity gaps, with the FCA on the pairs of the usual catchments.
    fca_keep = pairs.cost_km <= 30.0
    fca_pairs = accessibility.make_pairs(pairs.demand[fca_keep], pairs.supply[fca_keep],
                                         pairs.cost_km[fca_keep], len(demand), len(supply),
                                         check_duplicates=False)
    a = accessibility.compute_all(demand.need, supply.capacity, fca_pairs,
                                  params).accessibility[method]
    reference_mean = accessibility.mean_accessibility(need_in, a[index_in])
    gap_level = {"fr": "departement", "reg": "departement", "dep": "epci",
                 "epci": "commune", "com": "commune"}[territory.kind]
    gaps = _rank_gaps(session, demand, index_in, a, reference_mean, gap_level, gap_limit)
    return {
        "within": territory.code, "within_name": territory.name, "radius_km": radius_km,
        "k": k, "candidates": candidates, "programme": selection.programme,
        "service": selection.service, "need": selection.need, "detour_factor": detour,
        "baseline": {
            "population": total_population, "need": total_need,
            "population_covered": float(population_in[covered_in].sum()),
            "need_covered": float(need_in[covered_in].sum()),
            "share_population_covered": _ratio(float(population_in[covered_in].sum()),
                                               total_population),
            "share_need_covered": _ratio(float(need_in[covered_in].sum()), total_need),
        },
        "sites": sites,
        "capacity_gaps": {
            "level": gap_level, "reference_mean": reference_mean,
            "reference": "nation" if territory.kind == "fr" else "territoire",
            "method": method, "territories": gaps},
    }


def _rank_gaps(session: Session, demand: Demand, index_in: np.ndarray, a: np.ndarray,
               reference_mean: float, level: str, limit: int) -> list[dict]:
    need = demand.need[index_in]
    population = demand.population[index_in]
    values = a[index_in]
    gap = need * np.maximum(0.0, reference_mean - values)
    if level == "commune":
        keys = [demand.codes[i] for i in index_in.tolist()]
        names = {demand.codes[i]: demand.names[i] for i in index_in.tolist()}
    else:
        keys = [demand.parents[level][i] for i in index_in.tolist()]
        codes = sorted({k for k in keys if k})
        names = dict(session.execute(text(
            f"SELECT code, name FROM {TERRITORY_TABLES[level]} WHERE code = ANY(:codes)"),
            {"codes": codes}).all()) if codes else {}
    groups: dict[str, list[int]] = {}
    for position, key in enumerate(keys):
        if key:
            groups.setdefault(key, []).append(position)
    ranked = []
    for key, members in groups.items():
        m = np.array(members)
        weight = float(need[m].sum())
        ranked.append({
            "code": key, "name": names.get(key, key),
            "population": float(population[m].sum()), "need": weight,
            "mean_accessibility": float(need[m] @ values[m] / weight) if weight > 0 else 0.0,
            "capacity_gap": float(gap[m].sum()),
        })
    ranked.sort(key=lambda item: (-item["capacity_gap"], item["code"]))
    ranked = [item for item in ranked if item["capacity_gap"] > 0][:limit]
    for rank, item in enumerate(ranked, start=1):
        item["rank"] = rank
    return ranked


# --------------------------------------------------------------------------- fragility

FRAGILITY_DEFAULT_COLUMN = "SCORE GLOBAL region 1"
DECOUPAGE_COMMUNES = Path("node_modules/@etalab/decoupage-administratif/data/communes.json")


@dataclass
class FragilityImport:
    scores: dict[str, tuple[float, list[str], int]]  # 2026 code -> (score, old codes, IRIS)
    rows: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)
    absent: list[str] = field(default_factory=list)
    unmapped: list[str] = field(default_factory=list)
    without_score: list[str] = field(default_factory=list)


class FragilityFileError(ValueError):
    """A French message about the file (line, column)."""


def current_codes(communes_json: Path) -> tuple[set[str], dict[str, str]]:
    """2026 commune codes, and old code -> 2026 code (delegated, associated communes and
    municipal arrondissements) from @etalab/decoupage-administratif's communes.json."""
    try:
        entries = json.loads(communes_json.read_text(encoding="utf-8"))
    except OSError as exc:
        raise FragilityFileError(f"{communes_json} : lecture impossible ({exc.strerror}) ; "
                                 "installez les paquets npm (npm ci) ou indiquez "
                                 "--decoupage-dir.") from exc
    current = {e["code"] for e in entries if e.get("type") == "commune-actuelle"}
    parent: dict[str, str] = {}
    for e in entries:
        kind = e.get("type")
        if kind in ("commune-deleguee", "commune-associee") and e.get("chefLieu"):
            parent.setdefault(e["code"], e["chefLieu"])
        elif kind == "arrondissement-municipal" and e.get("commune"):
            parent.setdefault(e["code"], e["commune"])
    return current, parent


def read_fragility(path: Path, column: str, current: set[str],
                   parent: dict[str, str]) -> FragilityImport:
    """Scores per 2026 commune: the IRIS-weighted mean of the old codes merged into it."""
    try:
        stream = path.open(encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise FragilityFileError(f"{path} : lecture impossible ({exc.strerror}).") from exc
    report = FragilityImport(scores={})
    sums: dict[str, list] = {}
    with stream:
        sample = stream.readline()
        delimiter = ";" if sample.count(";") > sample.count(",") else ","
        header = next(csv.reader([sample], delimiter=delimiter), [])
        header = [h.strip() for h in header]
        for required in ("code_insee", column):
            if required not in header:
                raise FragilityFileError(
                    f"{path}, ligne 1 : colonne « {required} » absente (colonnes lues : "
                    f"{', '.join(header[:8])}…).")
        at = {name: header.index(name) for name in header}
        reader = csv.reader(stream, delimiter=delimiter)
        try:
            for line, row in enumerate(reader, start=2):
                if not row or not any(cell.strip() for cell in row):
                    continue
                report.rows += 1
                code = row[at["code_insee"]].strip().upper().zfill(5)
                kind = (row[at["in_cog2026_as"]].strip() if "in_cog2026_as" in at
                        and at["in_cog2026_as"] < len(row) else "")
                raw = row[at[column]].strip() if at[column] < len(row) else ""
                if not raw:
                    report.without_score.append(code)
                    continue
                try:
                    score = float(raw.replace(",", ".") if delimiter == ";" else raw)
                except ValueError as exc:
                    raise FragilityFileError(
                        f"{path}, ligne {line}, colonne « {column} » : « {raw} » n'est "
                        "pas un nombre.") from exc
                if not math.isfinite(score) or score < 0:
                    raise FragilityFileError(f"{path}, ligne {line}, colonne « {column} » : "
                                             f"« {raw} » est hors limites.")
                if kind == "absent":
                    report.absent.append(code)
                    continue
                target = parent.get(code, code) if code not in current else code
                if target not in current:
                    report.unmapped.append(code)
                    continue
                iris_raw = row[at["nb_iris"]].strip() if "nb_iris" in at else ""
                iris = int(iris_raw) if iris_raw.isdigit() and int(iris_raw) > 0 else 1
                label = kind or ("commune-actuelle" if target == code else "rattachée")
                report.by_kind[label] = report.by_kind.get(label, 0) + 1
                entry = sums.setdefault(target, [0.0, 0, []])
                entry[0] += score * iris
                entry[1] += iris
                entry[2].append(code)
        except csv.Error as exc:
            raise FragilityFileError(f"{path} : CSV illisible ({exc}).") from exc
    report.scores = {code: (total / iris, codes, iris)
                     for code, (total, iris, codes) in sums.items()}
    return report


def store_fragility(session: Session, report: FragilityImport, column: str) -> int:
    """Replace the whole index (one transaction, the caller commits)."""
    session.execute(text("DELETE FROM fragility_index"))
    connection = session.connection().connection.driver_connection
    with connection.cursor() as cursor, cursor.copy(
            "COPY fragility_index (commune_code, score, source_codes, iris, column_name) "
            "FROM STDIN") as copy:
        for code in sorted(report.scores):
            score, codes, iris = report.scores[code]
            copy.write_row((code, score, json.dumps(codes), iris, column))
    return len(report.scores)


def summarise(values: Iterable[str], limit: int = 8) -> str:
    items = list(values)
    shown = ", ".join(items[:limit])
    return shown + (f"… (+{len(items) - limit})" if len(items) > limit else "")
