"""The writer: validated records → the catalogue, in the caller's single transaction.

Set-based: rows whose content hash is unchanged are dropped in Python (a re-import of an
unchanged file reaches no UPDATE at all); the others are COPied into a temporary table,
checked and completed there in a few SQL statements (commune of the point, postal code,
point outside its declared commune, likely duplicates across sources), then merged with
one ``INSERT … ON CONFLICT (source, source_id) DO UPDATE … WHERE content_hash differs``.

The caller owns the transaction (``with engine.begin()``): on any error — or a dry run —
it is rolled back and nothing at all is written. The connection gets a statement timeout
and an idle-in-transaction timeout, so that the work of a killed importer is rolled back
by the server promptly (docs/RELIABILITY.md).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, text

from directory import hours as hours_module
from directory.edits import keep_edited_fields
from directory.importer.report import CANDIDATE, ERROR, INFO, WARNING, Problem
from directory.importer.validate import (
    FLAG_DUPLICATE,
    FLAG_GEOCODED,
    FLAG_NO_POINT,
    FLAG_OUTSIDE_COMMUNE,
    FLAG_SWAPPED,
    PLACEHOLDER_PIVOT,
    Record,
    content_hash,
)
from directory.vocabulary import keep_known_topics
from geodata.text import normalise_name

log = logging.getLogger(__name__)

STATEMENT_TIMEOUT_MS = 120_000
IDLE_IN_TRANSACTION_TIMEOUT_MS = 30_000
# Likely duplicates across sources: points this close with names this similar.
DUPLICATE_DISTANCE_M = 50
DUPLICATE_NAME_SIMILARITY = 0.4
# A box that holds the 50 m circle up to latitude ±60° (the index prefilter, then metres).
DUPLICATE_BOX_DEG = 0.001
# A SIRET is not unique per venue (a town's libraries share it): list a few, not all.
MAX_DUPLICATES_LISTED = 5
# A point this close to a declared commune counts as inside it (simplified polygons).
COMMUNE_TOLERANCE_M = 500
COMMUNE_BOX_DEG = 0.01  # ≈ 1 km: the index prefilter before metres

# Columns of lieu written by the import (besides source, source_id), in COPY order.
LIST_COLUMNS = (
    "typologie", "telephone", "courriels", "site_web", "itinerance", "services",
    "publics_specifiquement_adresses", "prise_en_charge_specifique", "frais_a_charge",
    "dispositif_programmes_nationaux", "formations_labels", "autres_formations_labels",
    "modalites_acces", "modalites_accompagnement", "topics",
)
TEXT_COLUMNS = (
    "pivot", "nom", "commune", "code_postal", "code_insee", "adresse", "complement_adresse",
    "horaires", "presentation_resume", "presentation_detail", "source_donnees",
    "structure_parente", "fiche_acces_libre", "prise_rdv",
)
WRITTEN_COLUMNS = (TEXT_COLUMNS + ("date_maj",) + LIST_COLUMNS + (
    "geom", "location_precision", "flags", "horaires_osm", "horaires_valides",
    "opening_week", "timezone", "status", "content_hash"))


class ImportRejected(Exception):
    """Problems found while writing (e.g. a postal code that cannot be derived)."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(f"{len(problems)} ligne(s) rejetée(s)")
        self.problems = problems


@dataclass
class WriteResult:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    closed: int = 0
    acceptances: int = 0
    duplicates_flagged: int = 0
    geocoded: int = 0
    insee_filled: int = 0
    outside_commune: int = 0
    geography: bool = False
    acceptance_ids: list[int] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def rows_written(self) -> int:
        return self.inserted + self.updated + self.closed + self.acceptances


Geocode = Callable[[str], Any]  # query → geodata.geocoding.GeocodeAnswer


def configure_connection(connection: Connection, source: str = "") -> None:
    """Timeouts for this transaction only (SET LOCAL), so a dead client is cut off; the
    import shows in pg_stat_activity as ``passerelle-import:<source>``."""
    connection.execute(text("SELECT set_config('application_name', :name, true)"),
                       {"name": f"passerelle-import:{source}"[:63]})
    connection.execute(text(f"SET LOCAL statement_timeout = {STATEMENT_TIMEOUT_MS}"))
    connection.execute(text(
        f"SET LOCAL idle_in_transaction_session_timeout = {IDLE_IN_TRANSACTION_TIMEOUT_MS}"))
    # A killed client is noticed during a long statement too, not only at its end.
    connection.execute(text("SET LOCAL client_connection_check_interval = 1000"))
    # JIT compilation costs ~0.7 s per statement here and saves nothing on these plans.
    connection.execute(text("SET LOCAL jit = off"))


# --complete-snapshot closes at most this share of a source's open venues unless the exact
# number is confirmed (--confirm-closures N): a wrong file must not close a whole source.
DEFAULT_MAX_CLOSURE_SHARE = 0.20


def write(connection: Connection, source: str, records: list[Record], *,
          programme: str | None = None, complete_snapshot: bool = False,
          geocoder: Any | None = None, today: dt.date,
          run_id: int | None = None, present_ids: list[str] | None = None,
          max_closure_share: float = DEFAULT_MAX_CLOSURE_SHARE,
          confirm_closures: int | None = None) -> WriteResult:
    """Merge ``records`` of ``source`` into lieu inside the connection's open transaction.

    ``run_id``: the import run whose before-images are recorded (see runs.py).
    ``present_ids``: every id the file holds, valid or not (a snapshot closes only venues
    absent from the file, never those whose row was rejected)."""
    result = WriteResult()
    configure_connection(connection, source)
    # One import of a given source at a time; others wait for this one to end.
    connection.execute(text("SELECT pg_advisory_xact_lock(hashtext('import:' || :s))"),
                       {"s": source})
    result.geography = bool(connection.execute(text(
        "SELECT EXISTS (SELECT 1 FROM commune WHERE geom IS NOT NULL)")).scalar())

    programme_id = None
    if programme:
        programme_id = connection.execute(text("SELECT id FROM programme WHERE code = :c"),
                                          {"c": programme}).scalar()
        if programme_id is None:
            raise ImportRejected([Problem(None, None, f"programme « {programme} » inconnu "
                                          "(voir « directory programme list »)")])

    existing: dict[str, str | None] = {}
    known_topics: dict[str, list[str]] = {}
    for source_id, digest, topics in connection.execute(
            text("SELECT source_id, content_hash, topics FROM lieu WHERE source = :s"),
            {"s": source}):
        existing[source_id] = digest
        if topics:
            known_topics[source_id] = topics
    # A record whose digest as given equals the stored one is complete and unchanged: it
    # is not even staged (this is what keeps an unchanged re-import fast).
    changed: list[tuple[Record, str]] = []
    for record in records:
        known = known_topics.get(record.source_id)
        if known and not record.topics_declared:
            record.values["topics"] = keep_known_topics(
                record.values.get("topics") or [], known, record.values["services"])
        digest = content_hash(record.values, record.status)
        if existing.get(record.source_id) == digest:
            result.unchanged += 1
        else:
            changed.append((record, digest))
        _acceptance_problems(record, programme, result)

    if changed:
        _stage(connection, changed, result)
        if result.geography:
            _complete_from_geography(connection, [r for r, _ in changed], result)
        _geocode_missing(connection, geocoder, result)
        errors = [p for p in result.problems if p.level == ERROR]
        if errors:
            raise ImportRejected(errors)
        _final_hashes(connection, changed)
        _flag_duplicates(connection, source, result)
        if run_id is not None:
            from directory.importer.runs import capture_staged
            capture_staged(connection, run_id, source)
        # A field the venue's manager edited is kept; the difference is reported.
        result.problems += keep_edited_fields(connection, source)
        _merge(connection, source, result)
    result.acceptances += _accept(connection, source, records, programme_id, today, result)
    if complete_snapshot:
        ids = sorted({r.source_id for r in records} | set(present_ids or ()))
        _check_closures(connection, source, ids, max_closure_share, confirm_closures)
        if run_id is not None:
            from directory.importer.runs import capture_closing
            capture_closing(connection, run_id, source, ids)
        result.closed = connection.execute(text("""
            UPDATE lieu SET status = 'closed', content_hash = NULL, updated_at = now()
            WHERE source = :s AND status <> 'closed' AND NOT (source_id = ANY(:ids))"""),
            {"s": source, "ids": ids}).rowcount
    return result


def _check_closures(connection: Connection, source: str, ids: list[str], share: float,
                    confirmed: int | None) -> None:
    """A snapshot may close a small share of the source; more needs the exact number."""
    if not ids:
        raise ImportRejected([Problem(None, None, "--complete-snapshot refusé : aucune ligne "
                                      "lue, le fichier fermerait toute la source")])
    open_count, to_close = connection.execute(text("""
        SELECT count(*), count(*) FILTER (WHERE NOT (source_id = ANY(:ids)))
        FROM lieu WHERE source = :s AND status <> 'closed'"""),
        {"s": source, "ids": ids}).one()
    if confirmed is not None:
        if confirmed != to_close:
            raise ImportRejected([Problem(None, None, f"--confirm-closures {confirmed} ne "
                                          f"correspond pas : cet import fermerait {to_close} "
                                          f"lieu(x) sur {open_count} ouverts de la source "
                                          f"« {source} » ; rien n'a été écrit")])
        return
    if to_close and to_close > share * open_count:
        raise ImportRejected([Problem(None, None, f"--complete-snapshot fermerait {to_close} "
                                      f"lieu(x) sur {open_count} ouverts de la source "
                                      f"« {source} » (plus de {share:.0%}) : vérifiez le "
                                      f"fichier, puis confirmez avec --confirm-closures "
                                      f"{to_close}")])


def _acceptance_problems(record: Record, programme: str | None, result: WriteResult) -> None:
    if record.accepts_programme and not programme and not record.acceptance_hints:
        result.problems.append(Problem(
            record.line, "conditions_acces",
            "accepte le Pass numérique (ou label APTIC) : candidat à l'acceptation d'un "
            "programme (--programme CODE pour l'enregistrer)", CANDIDATE, record.source_id))
    if record.accepts_programme and programme:
        return  # the mention became an acceptance of the programme
    for hint in record.acceptance_hints:
        result.problems.append(Problem(
            record.line, None, f"mention d'un pass dans le texte, candidat à l'acceptation "
            f"d'un programme — {hint}", CANDIDATE, record.source_id))


def _weekly(hours: hours_module.Hours) -> str | None:
    intervals = _weekly_cached(hours.osm, hours.tz)
    if not intervals:
        return None
    return "{" + ",".join(f"[{a},{b})" for a, b in intervals) + "}"


_WEEKLY: dict[tuple[str, str], list[tuple[int, int]]] = {}


def _weekly_cached(osm: str, tz: str) -> list[tuple[int, int]]:
    key = (osm, tz)
    if key not in _WEEKLY:
        if len(_WEEKLY) > 50_000:
            _WEEKLY.clear()
        _WEEKLY[key] = hours_module.weekly_intervals(hours_module.parse(osm, tz))
    return _WEEKLY[key]


_STAGE_COLUMNS = """
    line int, source_id text, pivot text, nom text, commune text, code_postal text,
    code_insee text, adresse text, complement_adresse text, horaires text,
    presentation_resume text, presentation_detail text, source_donnees text,
    structure_parente text, fiche_acces_libre text, prise_rdv text, date_maj date,
    typologie text[], telephone text[], courriels text[], site_web text[], itinerance text[],
    services text[], publics_specifiquement_adresses text[], prise_en_charge_specifique text[],
    frais_a_charge text[], dispositif_programmes_nationaux text[], formations_labels text[],
    autres_formations_labels text[], modalites_acces text[], modalites_accompagnement text[],
    topics text[], lon float8, lat float8, location_precision text, flags jsonb, horaires_osm text,
    horaires_valides boolean, opening_week text, timezone text, status text,
    content_hash text, derive text[], geom geometry, pip text, declared text[],
    geog geography, commune_key text, name_codes text[], insee_codes text[],
    postal_codes text[], name_ok boolean, insee_ok boolean, postal_ok boolean,
    touched boolean NOT NULL DEFAULT false
"""


def _stage(connection: Connection, changed: list[tuple[Record, str]],
           result: WriteResult) -> None:
    cursor = connection.connection.driver_connection.cursor()
    cursor.execute(f"CREATE TEMP TABLE import_lieu ({_STAGE_COLUMNS}) ON COMMIT DROP")
    names = [c.split()[0] for c in _STAGE_COLUMNS.replace("\n", " ").split(",") if c.strip()]
    names = names[:names.index("pip")]  # pip, declared, touched: filled in SQL
    # Rows are formatted here in COPY's text format: psycopg's generic adaptation of the
    # fifteen text[] columns cost more than the whole COPY.
    with cursor.copy(f"COPY import_lieu ({', '.join(names)}) FROM STDIN") as copy:
        buffer: list[str] = []
        for record, digest in changed:
            v = record.values
            hours = record.hours
            lon = v.get("longitude")
            has_point = lon is not None
            cells = [
                str(record.line), _copy_text(record.source_id), _copy_text(v["pivot"]),
                _copy_text(v["nom"]), _copy_text(v["commune"]), _copy_text(v["code_postal"]),
                _copy_text(v["code_insee"]), _copy_text(v["adresse"]),
                _copy_text(v["complement_adresse"]), _copy_text(v["horaires"]),
                _copy_text(v["presentation_resume"]), _copy_text(v["presentation_detail"]),
                _copy_text(v["source"]), _copy_text(v["structure_parente"]),
                _copy_text(v["fiche_acces_libre"]), _copy_text(v["prise_rdv"]),
                v["date_maj"].isoformat(),
                *[_copy_array(v[name]) for name in LIST_COLUMNS],
                "\\N" if lon is None else repr(float(lon)),
                "\\N" if lon is None else repr(float(v["latitude"])),
(record.location_precision or "address") if has_point else "\\N",
                _copy_text(json.dumps(record.flags, ensure_ascii=False)),
                _copy_text(hours.osm if hours else None), "t" if hours else "f",
                _copy_text(_weekly(hours) if hours else None),
                _copy_text(record.timezone), _copy_text(record.status), digest,
                _copy_array(record.derive),
                "\\N" if lon is None else f"SRID=4326;POINT({lon!r} {v['latitude']!r})",
            ]
            buffer.append("\t".join(cells))
            if len(buffer) >= 1000:
                copy.write("\n".join(buffer) + "\n")
                buffer.clear()
        if buffer:
            copy.write("\n".join(buffer) + "\n")
    cursor.execute("ANALYZE import_lieu")


_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_text(value: str | None) -> str:
    """A value in COPY's text format (\\N for NULL)."""
    if value is None:
        return "\\N"
    return value.translate(_COPY_ESCAPES)


def _copy_array(values: list[str]) -> str:
    """A text[] literal, itself escaped for COPY."""
    if not values:
        return "{}"
    items = ",".join('"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
                     for v in values)
    return ("{" + items + "}").translate(_COPY_ESCAPES)


def _final_hashes(connection: Connection, changed: list[tuple[Record, str]]) -> None:
    """Digest of the staged rows the geography completed, with what it filled in."""
    by_line = {record.line: record for record, _ in changed}
    lines, digests = [], []
    for line, insee, postal, lon, lat, commune in connection.execute(text(
            "SELECT line, code_insee, code_postal, lon, lat, commune FROM import_lieu "
            "WHERE touched")).all():
        record = by_line[line]
        values = dict(record.values, code_insee=insee, code_postal=postal,
                      longitude=lon, latitude=lat, commune=commune)
        lines.append(line)
        digests.append(content_hash(values, record.status))
    connection.execute(text("""
        UPDATE import_lieu t SET content_hash = v.digest
        FROM unnest(CAST(:lines AS int[]), CAST(:digests AS text[])) AS v(line, digest)
        WHERE v.line = t.line"""), {"lines": lines, "digests": digests})


def _add_flag_sql(code: str, message_sql: str, field_name: str) -> str:
    return (f"flags = flags || jsonb_build_array(jsonb_build_object('code', '{code}', "
            f"'message', {message_sql}, 'field', '{field_name}'))")


def commune_key(name: str | None) -> str | None:
    """A declared commune name as ``commune.search_name``: "Paris 15e Arrondissement",
    "BORDEAUX CEDEX 9" and "Marseille 5ème" name their city."""
    if not name:
        return None
    key = normalise_name(name)
    key = re.sub(r"\s+cedex(\s+\d+)?$", "", key)
    key = re.sub(r"\s+\d{1,2}\s*(e|er|eme|ieme)?(\s+arrondissement)?$", "", key)
    return key or None


# The three declarations a point is checked against, in their order of trust.
DECLARATIONS = (("name_codes", "nom de commune"), ("insee_codes", "code INSEE"),
                ("postal_codes", "code postal"))


# The point agrees with at least one declaration (NULL ones, not given, do not count).
_AGREES = ("(COALESCE({t}.name_ok, false) OR COALESCE({t}.insee_ok, false) "
           "OR COALESCE({t}.postal_ok, false))")


def _near_sql(column: str) -> str:
    """The point is in one of the communes of ``column``, or within the tolerance of one
    (simplified polygons cut coasts and borders); NULL when nothing is declared."""
    return f"""CASE WHEN t.{column} IS NULL THEN NULL ELSE COALESCE(t.pip = ANY(t.{column}), false)
        OR EXISTS (SELECT 1 FROM commune d WHERE d.code = ANY(t.{column})
                   AND ST_DWithin(d.geom, t.geom, {COMMUNE_BOX_DEG})
                   AND ST_DWithin(d.geom::geography, t.geog, {COMMUNE_TOLERANCE_M})) END"""


def _complete_from_geography(connection: Connection, records: list[Record],
                             result: WriteResult) -> None:
    """Commune of each point, checked against the commune declared by its name, its INSEE
    code and its postal code (in that order of trust); swapped points; derived codes.

    A point that agrees with none of them keeps the declared commune and is flagged
    "point à vérifier" with its distance; the INSEE code is never taken from such a point.
    """
    run = connection.execute
    lines = [r.line for r in records]
    keys = [commune_key(r.values.get("commune")) for r in records]
    run(text("""
        UPDATE import_lieu t SET commune_key = v.key,
               geog = CASE WHEN t.geom IS NULL THEN NULL ELSE t.geom::geography END
        FROM unnest(CAST(:lines AS int[]), CAST(:keys AS text[])) AS v(line, key)
        WHERE v.line = t.line"""), {"lines": lines, "keys": keys})
    locate = text("""
        UPDATE import_lieu t SET pip = c.code
        FROM commune c WHERE t.geom IS NOT NULL AND ST_Covers(c.geom, t.geom)""")
    run(locate)
    # A commune derived from the point (derive = "point"): its name, and its code.
    derived_communes = run(text("""
        UPDATE import_lieu t SET commune = c.name, commune_key = c.search_name,
               code_insee = COALESCE(t.code_insee, c.code), touched = true
        FROM commune c WHERE c.code = t.pip AND t.commune IS NULL
          AND 'commune' = ANY(t.derive)
        RETURNING t.line, t.source_id, c.name, c.code""")).all()
    for line, source_id, name, code in derived_communes:
        result.problems.append(Problem(line, "commune", f"déduite du point : {name} ({code})",
                                       WARNING, source_id))
    # What each declaration names.
    run(text("""
        UPDATE import_lieu t SET
            insee_codes = CASE WHEN t.code_insee IS NULL THEN NULL ELSE ARRAY[t.code_insee] END,
            postal_codes = (SELECT array_agg(p.commune_code) FROM postal_code p
                            WHERE p.code = t.code_postal),
            name_codes = COALESCE(
                (SELECT array_agg(c.code) FROM commune c JOIN postal_code p
                   ON p.commune_code = c.code AND p.code = t.code_postal
                 WHERE c.search_name = t.commune_key),
                (SELECT array_agg(c.code) FROM commune c
                 WHERE c.search_name = t.commune_key AND (t.code_postal IS NULL
                       OR c.departement_code = CASE
                           WHEN left(t.code_postal, 2) = '97' THEN left(t.code_postal, 3)
                           WHEN left(t.code_postal, 2) = '20' THEN c.departement_code
                           ELSE left(t.code_postal, 2) END)))"""))
    run(text("""
        UPDATE import_lieu t SET declared = ARRAY(
            SELECT DISTINCT unnest(COALESCE(t.name_codes, '{}') || COALESCE(t.insee_codes, '{}')
                                   || COALESCE(t.postal_codes, '{}')))"""))
    run(text("UPDATE import_lieu SET declared = NULL WHERE declared = '{}'"))
    checks = text(f"""
        UPDATE import_lieu t SET name_ok = {_near_sql('name_codes')},
               insee_ok = {_near_sql('insee_codes')}, postal_ok = {_near_sql('postal_codes')}
        WHERE t.geom IS NOT NULL""")
    run(checks)
    # In none of the declared communes, but inside one once swapped: latitude and
    # longitude were exchanged.
    swapped = run(text(f"""
        UPDATE import_lieu t SET geom = ST_FlipCoordinates(t.geom),
               geog = ST_FlipCoordinates(t.geom)::geography,
               lon = t.lat, lat = t.lon, pip = NULL, touched = true,
               {_add_flag_sql(FLAG_SWAPPED, "'latitude et longitude inversées (point hors "
                              "de sa commune, dedans une fois inversé) : corrigées'",
                              "latitude")}
        WHERE t.geom IS NOT NULL AND t.declared IS NOT NULL
          AND NOT {_AGREES.format(t="t")}
          AND EXISTS (SELECT 1 FROM commune d WHERE d.code = ANY(t.declared)
                      AND ST_Covers(d.geom, ST_FlipCoordinates(t.geom)))
        RETURNING line, source_id""")).all()
    for line, source_id in swapped:
        result.problems.append(Problem(line, "latitude", "latitude et longitude inversées "
                                       "(point hors de sa commune) : corrigées", WARNING,
                                       source_id))
    if swapped:
        run(text("""UPDATE import_lieu t SET pip = c.code FROM commune c
                    WHERE t.pip IS NULL AND t.geom IS NOT NULL AND ST_Covers(c.geom, t.geom)"""))
        run(checks)
    # A point that contradicts every declaration: kept, flagged with its distance to the
    # most trusted declared commune.
    outside = run(text(f"""
        UPDATE import_lieu t SET {_add_flag_sql(FLAG_OUTSIDE_COMMUNE,
            "'point à vérifier : à ' || d.metres || ' m de ' || d.label || ' (' "
            "|| d.code || '), déclarée par ' || d.what", "latitude")}
        FROM (SELECT t2.line, c.code, c.name AS label,
                     round(ST_Distance(c.geom::geography, t2.geog))::int AS metres,
                     CASE WHEN t2.name_codes IS NOT NULL THEN 'son nom'
                          WHEN t2.insee_codes IS NOT NULL THEN 'son code INSEE'
                          ELSE 'son code postal' END AS what
              FROM import_lieu t2 JOIN LATERAL (
                  SELECT c.* FROM commune c
                  WHERE c.code = ANY(COALESCE(t2.name_codes, t2.insee_codes, t2.postal_codes))
                  ORDER BY c.geom <-> t2.geom LIMIT 1) c ON true
              WHERE t2.geom IS NOT NULL
                AND t2.declared IS NOT NULL AND NOT {_AGREES.format(t="t2")}) d
        WHERE d.line = t.line
        RETURNING t.line, t.source_id, t.pip, d.label, d.code, d.metres, d.what""")).all()
    result.outside_commune = len(outside)
    for line, source_id, pip, label, code, metres, what in outside:
        where = f"il est dans la commune {pip}" if pip else "il n'est dans aucune commune"
        result.problems.append(Problem(
            line, "latitude", f"point à vérifier : à {metres} m de {label} ({code}), commune "
            f"déclarée par {what} ; {where} ; commune déclarée gardée", WARNING, source_id))
    # Declarations that disagree with the point while another agrees: said, never changed.
    for line, source_id, pip, *oks in run(text("""
            SELECT line, source_id, pip, name_ok, insee_ok, postal_ok FROM import_lieu
            WHERE geom IS NOT NULL AND (name_ok OR insee_ok OR postal_ok)
              AND false IN (name_ok, insee_ok, postal_ok)""")).all():
        agree = [label for (_, label), ok in zip(DECLARATIONS, oks, strict=True) if ok]
        disagree = [label for (_, label), ok in zip(DECLARATIONS, oks, strict=True)
                    if ok is False]
        result.problems.append(Problem(
            line, "commune", f"désaccord : {', '.join(disagree)} contredi"
            f"{'sent' if len(disagree) > 1 else 't'} le point (commune {pip or 'inconnue'}) "
            f"et {', '.join(agree)} ; valeurs déclarées gardées", WARNING, source_id))
    # Missing INSEE code: the commune of the point when it agrees with a declaration (or
    # nothing is declared); else the declared commune when it is one; never a wrong point's.
    filled = run(text("""
        UPDATE import_lieu t SET touched = true, code_insee = CASE
            WHEN t.pip IS NOT NULL AND (t.declared IS NULL OR t.pip = ANY(t.declared))
                THEN t.pip
            WHEN cardinality(t.name_codes) = 1 THEN t.name_codes[1]
            WHEN cardinality(t.postal_codes) = 1 THEN t.postal_codes[1] END
        WHERE t.code_insee IS NULL
          AND (t.pip IS NOT NULL OR cardinality(t.name_codes) = 1
               OR cardinality(t.postal_codes) = 1)
        RETURNING line, source_id, code_insee, code_insee = pip, """ + _AGREES.format(t="t"))
        ).all()
    result.insee_filled = sum(1 for _, _, code, *_ in filled if code)
    for line, source_id, code, from_point, agrees in filled:
        if code:
            how = ("du point" if from_point else
                   f"de la commune déclarée (point à moins de {COMMUNE_TOLERANCE_M} m)"
                   if agrees else "de la commune déclarée (point à vérifier)")
            result.problems.append(Problem(line, "code_insee", f"déduit {how} : {code}", INFO,
                                           source_id))
    derived = run(text("""
        UPDATE import_lieu t SET touched = true, code_postal = (
            SELECT min(p.code) FROM postal_code p WHERE p.commune_code = t.code_insee)
        WHERE 'code_postal' = ANY(t.derive) AND t.code_postal IS NULL
          AND t.code_insee IS NOT NULL
        RETURNING line, source_id, code_postal, code_insee""")).all()
    for line, source_id, postal, insee in derived:
        if postal:
            result.problems.append(Problem(line, "code_postal", f"déduit de la commune "
                                           f"{insee} : {postal}", WARNING, source_id))


def _geocode_missing(connection: Connection, geocoder: Any | None,
                     result: WriteResult) -> None:
    missing = connection.execute(text("""
        SELECT line, source_id, code_postal, commune, code_insee FROM import_lieu
        WHERE geom IS NULL ORDER BY line""")).all()
    for line, source_id, postal, commune, insee in missing:
        answer = None
        if geocoder is not None and result.geography:
            query = " ".join(p for p in (postal, commune) if p) or (insee or "")
            answer = geocoder.geocode(query, limit=1) if query else None
        candidate = answer.candidates[0] if answer and answer.candidates else None
        if candidate is None:
            connection.execute(text(f"""
                UPDATE import_lieu SET {_add_flag_sql(FLAG_NO_POINT,
                    "'aucune position : ni coordonnées, ni commune reconnue'", "latitude")}
                WHERE line = :line"""), {"line": line})
            result.problems.append(Problem(line, "latitude", "sans coordonnées et commune "
                                           "introuvable : lieu écrit sans position",
                                           WARNING, source_id))
            continue
        result.geocoded += 1
        precision = candidate.precision if candidate.precision in (
            "commune", "postal_code") else "commune"
        message = (f"sans coordonnées : placé au centre de {candidate.label} "
                   f"(précision {precision})")
        connection.execute(text(f"""
            UPDATE import_lieu
               SET geom = ST_SetSRID(ST_MakePoint(CAST(:lon AS float8),
                                                  CAST(:lat AS float8)), 4326),
                   lon = CAST(:lon AS float8), lat = CAST(:lat AS float8),
                   location_precision = CAST(:precision AS text), touched = true,
                   code_insee = COALESCE(code_insee, CAST(:insee AS text)),
                   code_postal = COALESCE(code_postal, CAST(:postal AS text)),
                   {_add_flag_sql(FLAG_GEOCODED, "CAST(:message AS text)", "latitude")}
            WHERE line = :line"""),
            {"lon": candidate.lon, "lat": candidate.lat, "precision": precision,
             "insee": candidate.commune_code, "postal": candidate.postal_code,
             "message": message, "line": line})
        result.problems.append(Problem(line, "latitude", message, WARNING, source_id))
    # Values that had to be derived and could not be: those rows are rejected.
    for column, reason in (
            ("commune", "commune absente et impossible à déduire du point (point absent ou "
                        "hors des communes chargées)"),
            ("code_postal", "code postal absent ou invalide et impossible à déduire (point "
                            "hors des communes chargées)")):
        for line, source_id in connection.execute(text(f"""
                SELECT line, source_id FROM import_lieu
                WHERE '{column}' = ANY(derive) AND {column} IS NULL""")).all():
            result.problems.append(Problem(line, column, reason, ERROR, source_id))


def _flag_duplicates(connection: Connection, source: str, result: WriteResult) -> None:
    """Likely duplicates in other sources: same SIRET, or near points with similar names.
    Flagged with the reason, never merged."""
    rows = connection.execute(text(f"""
        WITH found AS (
            SELECT t.line, t.source_id, l.id, l.source, l.source_id AS other,
                   'même SIRET ' || t.pivot AS reason
            FROM import_lieu t JOIN lieu l ON l.pivot = t.pivot
            WHERE t.pivot IS NOT NULL AND t.pivot <> :placeholder AND length(t.pivot) = 14
              AND l.source <> :source
            UNION ALL
            SELECT t.line, t.source_id, l.id, l.source, l.source_id,
                   'à ' || round(ST_Distance(l.geog, t.geom::geography)) || ' m, nom proche'
            FROM import_lieu t JOIN lieu l
              ON l.geom && ST_Expand(t.geom, {DUPLICATE_BOX_DEG})
             AND ST_DWithin(l.geog, t.geom::geography, {DUPLICATE_DISTANCE_M})
            WHERE t.geom IS NOT NULL AND l.source <> :source
              AND similarity(lower(l.nom), lower(t.nom)) >= {DUPLICATE_NAME_SIMILARITY}
        ), ranked AS (
            SELECT *, row_number() OVER (PARTITION BY line ORDER BY id) AS rank FROM found
        ), grouped AS (
            SELECT line, source_id, jsonb_agg(DISTINCT jsonb_build_object(
                'code', '{FLAG_DUPLICATE}',
                'message', 'doublon probable du lieu ' || id || ' (source ' || source
                           || ', id ' || other || ') : ' || reason,
                'field', 'id')) AS new_flags,
                string_agg(DISTINCT 'lieu ' || id || ' (' || source || ') : ' || reason,
                           ' ; ') AS summary
            FROM ranked WHERE rank <= {MAX_DUPLICATES_LISTED} GROUP BY line, source_id
        )
        UPDATE import_lieu t SET flags = t.flags || g.new_flags
        FROM grouped g WHERE g.line = t.line
        RETURNING t.line, t.source_id, g.summary"""),
        {"placeholder": PLACEHOLDER_PIVOT, "source": source}).all()
    result.duplicates_flagged = len(rows)
    for line, source_id, summary in rows:
        result.problems.append(Problem(line, None, f"doublon probable avec une autre source "
                                       f"(non fusionné) — {summary}", WARNING, source_id))


def _merge(connection: Connection, source: str, result: WriteResult) -> None:
    columns = ", ".join(WRITTEN_COLUMNS)
    selected = ", ".join(
        "source_donnees" if c == "source_donnees"
        else "opening_week::int4multirange" if c == "opening_week"
        else c for c in WRITTEN_COLUMNS)
    updates = ", ".join(f"{c} = excluded.{c}" for c in WRITTEN_COLUMNS)
    counts = connection.execute(text(f"""
        WITH merged AS (
            INSERT INTO lieu (source, source_id, {columns})
            SELECT :source, source_id, {selected} FROM import_lieu
            ON CONFLICT ON CONSTRAINT uq_lieu_source_source_id DO UPDATE
            SET {updates}, updated_at = now()
            WHERE lieu.content_hash IS DISTINCT FROM excluded.content_hash
            RETURNING (xmax = 0) AS inserted
        )
        SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted)
        FROM merged"""), {"source": source}).one()
    result.inserted, result.updated = counts
    result.unchanged += connection.execute(
        text("SELECT count(*) FROM import_lieu")).scalar() - result.inserted - result.updated


def _accept(connection: Connection, source: str, records: list[Record],
            programme_id: int | None, today: dt.date, result: WriteResult) -> int:
    """Acceptances: v0 markers with --programme, and our own x_pass_programmes column."""
    pairs: list[tuple[str, str]] = []
    codes: set[str] = set()
    for record in records:
        for code in record.programmes:
            pairs.append((record.source_id, code))
            codes.add(code)
    known = dict(connection.execute(text("SELECT code, id FROM programme WHERE code = ANY(:c)"),
                                    {"c": sorted(codes)}).all()) if codes else {}
    rows = []
    for source_id, code in pairs:
        if code in known:
            rows.append({"s": source_id, "p": known[code]})
        else:
            result.problems.append(Problem(None, "x_pass_programmes",
                                           f"programme « {code} » inconnu : acceptation non "
                                           "enregistrée", WARNING, source_id))
    if programme_id is not None:
        rows += [{"s": r.source_id, "p": programme_id} for r in records if r.accepts_programme]
    if not rows:
        return 0
    written = 0
    statement = text("""
        INSERT INTO acceptation (lieu_id, programme_id, valid_from, source)
        SELECT l.id, p.id, GREATEST(p.valid_from, :today), 'import'
        FROM lieu l, programme p
        WHERE l.source = :source AND l.source_id = :s AND p.id = :p
        ON CONFLICT ON CONSTRAINT uq_acceptation_lieu_id_programme_id DO NOTHING
        RETURNING id""")
    for row in rows:
        created = connection.execute(statement, {**row, "source": source,
                                                 "today": today}).scalars().all()
        result.acceptance_ids += created
        written += len(created)
    return written
