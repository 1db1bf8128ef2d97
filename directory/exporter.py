"""Export of the catalogue: standard v1.0.2 (CSV, JSON), GeoJSON and data·inclusion.

Closed venues are not exported. By default the standard's columns only, so that the file
validates strictly against its Table Schema. With ``extensions=True`` (``--with-extensions``)
our own data that the standard cannot carry follows, in columns prefixed ``x_`` (the
standard's consumers ignore them, our importer reads them back, so that a round trip loses
nothing):

- ``x_pass_programmes``: codes of the voucher programmes the venue accepts today,
  ``|``-separated (see ``flask --app app directory programme list``);
- ``x_location_precision``: how precise the point is (``address``, ``commune``,
  ``postal_code``: a commune centre stays a commune centre);
- ``x_flags``: the import flags of the venue (JSON list of ``{code, message, field}``);
- ``x_services_v0``: the topics the venue declares (``lieu.topics``), as standard v0.1
  `services` labels, ``|``-separated (data·inclusion's thematiques, same topics).

CSV cells that a spreadsheet would run as a formula (starting with ``= + - @``) are
prefixed with ``'``; cells made only of numbers (a longitude, "+33…" phone numbers the
standard requires) are left as they are, since a spreadsheet reads them as numbers.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import Iterator
from typing import Any, TextIO

from sqlalchemy import Connection, Select, func, select

from core.geojson import collection_head, feature, point
from core.spreadsheet import neutralise_cell
from directory import rules
from directory.models import Acceptance, Offer, Programme, Venue
from directory.vocabulary import STANDARD_FIELDS, services_of_topics, v0_labels_of_topics

FORMATS = ("standard-v1-csv", "standard-v1-json", "geojson", "data-inclusion")
EXTENSION_FIELDS = ("x_pass_programmes", "x_location_precision", "x_flags", "x_services_v0")

_SAME_NAME = (
    "pivot", "nom", "commune", "code_postal", "code_insee", "adresse", "complement_adresse")
_SAME_NAME_AFTER = (
    "typologie", "telephone", "courriels", "site_web", "horaires", "presentation_resume",
    "presentation_detail")
_SAME_NAME_LAST = (
    "itinerance", "structure_parente", "date_maj", "services",
    "publics_specifiquement_adresses", "prise_en_charge_specifique", "frais_a_charge",
    "dispositif_programmes_nationaux", "formations_labels", "autres_formations_labels",
    "modalites_acces", "modalites_accompagnement", "fiche_acces_libre", "prise_rdv",
    "updated_at")


def export_query(source: str | None, today: dt.date) -> Select:
    """Venues not closed (of one import source, or all), with the codes of the programmes
    each accepts ``today`` (``directory.rules``), in a stable order."""
    lieu, a, p = Venue.__table__, Acceptance.__table__, Programme.__table__
    programmes = func.array(
        select(p.c.code).select_from(a.join(p, p.c.id == a.c.programme_id))
        .where(a.c.lieu_id == lieu.c.id, rules.acceptance_valid_sql(today, a),
               rules.programme_valid_sql(today, p))
        .order_by(p.c.code).scalar_subquery())
    o = Offer.__table__
    topic = func.unnest(o.c.topics).label("topic")
    topics = func.array(select(topic).where(o.c.lieu_id == lieu.c.id, o.c.active)
                        .distinct().order_by(topic).scalar_subquery())
    query = (
        select(lieu.c.id.label("lieu_id"), lieu.c.source.label("import_source"),
               lieu.c.source_id.label("id"), *(lieu.c[name] for name in _SAME_NAME),
               func.ST_Y(lieu.c.geom).label("latitude"), func.ST_X(lieu.c.geom).label("longitude"),
               *(lieu.c[name] for name in _SAME_NAME_AFTER),
               lieu.c.source_donnees.label("source"),
               *(lieu.c[name] for name in _SAME_NAME_LAST),
               lieu.c.location_precision.label("x_location_precision"),
               lieu.c.flags.label("x_flags"), programmes.label("x_pass_programmes"),
               topics.label("offer_topics"), lieu.c.topics)
        .where(lieu.c.status != "closed")
        .order_by(lieu.c.source, lieu.c.source_id))
    if source is not None:
        query = query.where(lieu.c.source == source)
    return query


def venues(connection: Connection, source: str | None, today: dt.date) -> Iterator[dict[str, Any]]:
    result = connection.execution_options(stream_results=True, yield_per=2000).execute(
        export_query(source, today))
    for row in result.mappings():
        venue = dict(row)
        declared = venue["topics"]
        # What it teaches: the topics it declares and those of its active offers.
        venue["topics"] = [*declared, *(t for t in venue.pop("offer_topics")
                                        if t not in declared)]
        # The standard has no topics: their services are written in `services`.
        # (the venue's own list first, unchanged, so that export then import writes nothing)
        venue["services"] = list(venue["services"]) + [
            s for s in services_of_topics(venue["topics"]) if s not in venue["services"]]
        venue["x_services_v0"] = v0_labels_of_topics(declared)
        yield venue


def _cell(name: str, value: Any) -> str:
    if value is None:
        return ""
    if name == "x_flags":
        return json.dumps(value, ensure_ascii=False) if value else ""
    if isinstance(value, list):
        return "|".join(str(v) for v in value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float):
        return repr(round(value, 7))
    return str(value)


def standard_row(venue: dict[str, Any], extensions: bool = True) -> dict[str, str]:
    names = STANDARD_FIELDS + (EXTENSION_FIELDS if extensions else ())
    return {name: _cell(name, venue.get(name)) for name in names}


def write_csv(rows: Iterator[dict[str, Any]], out: TextIO, extensions: bool = True) -> int:
    names = STANDARD_FIELDS + (EXTENSION_FIELDS if extensions else ())
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(names)
    count = 0
    for venue in rows:
        row = standard_row(venue, extensions)
        writer.writerow([neutralise_cell(row[name]) for name in names])
        count += 1
    return count


def _standard_json(venue: dict[str, Any], extensions: bool) -> dict[str, Any]:
    row: dict[str, Any] = standard_row(venue, extensions)
    for name in ("latitude", "longitude"):
        row[name] = None if venue.get(name) is None else round(venue[name], 7)
    return {k: v for k, v in row.items() if v not in ("", None)}


def write_json(rows: Iterator[dict[str, Any]], out: TextIO, extensions: bool = True) -> int:
    return _write_array(out, (_standard_json(v, extensions) for v in rows))


def _write_array(out: TextIO, items: Iterator[Any], head: str = "[", tail: str = "]") -> int:
    out.write(head + "\n")
    count = 0
    for item in items:
        if count:
            out.write(",\n")
        out.write(json.dumps(item, ensure_ascii=False, default=str))
        count += 1
    out.write("\n" + tail + "\n")
    return count


def _feature(venue: dict[str, Any], extensions: bool) -> dict[str, Any]:
    properties: dict[str, Any] = {"lieu_id": venue["lieu_id"]}
    for name in STANDARD_FIELDS + (EXTENSION_FIELDS if extensions else ()):
        if name in ("latitude", "longitude"):
            continue
        value = venue.get(name)
        properties[name] = value.isoformat() if isinstance(value, dt.date) else value
    return feature(venue["lieu_id"], point(venue.get("longitude"), venue.get("latitude"), 7),
                   properties)


def write_geojson(rows: Iterator[dict[str, Any]], out: TextIO, extensions: bool = True) -> int:
    return _write_array(out, (_feature(v, extensions) for v in rows),
                        head=collection_head(compact=False), tail="]}")


def _data_inclusion(venue: dict[str, Any], extensions: bool) -> dict[str, Any]:
    """A data·inclusion "structure" (schema v0 names)."""
    pivot = venue.get("pivot") or ""
    siret = pivot if pivot.isdigit() and len(pivot) == 14 and set(pivot) != {"0"} else None
    rna = pivot if pivot.upper().startswith("W") and len(pivot) == 10 else None
    item = {
        "id": venue["id"], "siret": siret, "rna": rna, "nom": venue["nom"],
        "commune": venue["commune"], "code_postal": venue["code_postal"],
        "code_insee": venue["code_insee"], "adresse": venue["adresse"],
        "complement_adresse": venue["complement_adresse"],
        "longitude": None if venue["longitude"] is None else round(venue["longitude"], 7),
        "latitude": None if venue["latitude"] is None else round(venue["latitude"], 7),
        "typologie": (venue["typologie"] or [None])[0],
        "telephone": (venue["telephone"] or [None])[0],
        "courriel": (venue["courriels"] or [None])[0],
        "site_web": "|".join(venue["site_web"]) or None,
        "presentation_resume": venue["presentation_resume"],
        "presentation_detail": venue["presentation_detail"],
        "source": venue["import_source"],
        "date_maj": venue["date_maj"].isoformat() if venue["date_maj"] else None,
        "antenne": False,
        "lien_source": None,
        "horaires_ouverture": venue["horaires"],
        "accessibilite": venue["fiche_acces_libre"],
        "labels_nationaux": venue["dispositif_programmes_nationaux"],
        "labels_autres": venue["formations_labels"] + venue["autres_formations_labels"],
        # data·inclusion's digital thematiques are our topics (same codes).
        "thematiques": ["numerique", *venue["topics"]],
    }
    if extensions:
        for name in EXTENSION_FIELDS:
            item[name] = venue[name]
    return item


def write_data_inclusion(rows: Iterator[dict[str, Any]], out: TextIO,
                         extensions: bool = True) -> int:
    return _write_array(out, (_data_inclusion(v, extensions) for v in rows))


WRITERS = {
    "standard-v1-csv": write_csv,
    "standard-v1-json": write_json,
    "geojson": write_geojson,
    "data-inclusion": write_data_inclusion,
}


def export(connection: Connection, fmt: str, out: TextIO, source: str | None = None,
           extensions: bool = False, *, today: dt.date) -> int:
    """Write the venues in ``fmt``; returns how many were written."""
    return WRITERS[fmt](venues(connection, source, today), out, extensions)
