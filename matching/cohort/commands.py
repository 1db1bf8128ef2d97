"""Command line of the cohort assignment: ``flask --app app match cohort PEOPLE --out FILE``.

Input: CSV (UTF-8 with or without BOM, ``,`` or ``;``; one person per line, columns named as
the API fields, lists separated by ``|``) or JSON (a list of people, or an object like the
API's body). Output: CSV (one line per person) or JSON (the API's answer), by ``--format`` or
the extension of ``--out``. Counts printed in French; bad input exits with status 1 and the
line and field of each problem.
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from typing import Any

import click
from flask.cli import AppGroup
from marshmallow import ValidationError

from core import clock
from core.cli import CommandError
from core.errors import InvalidInput, PasserelleError
from core.text import number_fr
from extensions import db

match_cli = AppGroup("match", help="Recherche de lieux : affectation de cohortes.")

MAX_FILE_BYTES = 16 * 1024 * 1024
MAX_ERRORS_SHOWN = 20
LIST_FIELDS = ("topics", "services", "publics", "support", "languages", "formats", "days")
DECIMAL_FIELDS = ("lat", "lon")
CSV_COLUMNS = ("id", "statut", "venue_id", "nom", "adresse", "code_postal", "commune",
               "arret", "seance_id", "seance_debut", "seance_fin", "offre", "distance_m",
               "rang_candidat", "note", "motif_code", "motif")


# --- reading ------------------------------------------------------------------------------

def read_people_csv(data: bytes) -> list[dict[str, Any]]:
    """People from a CSV file; CommandError naming the line on a structural problem."""
    try:
        content = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CommandError("le fichier n'est pas en UTF-8 (octet invalide en position "
                           f"{exc.start}) : enregistrez-le en UTF-8.") from None
    if "\x00" in content:
        raise CommandError("le fichier contient des octets nuls : est-ce bien un CSV ?")
    first = content.split("\n", 1)[0]
    delimiter = ";" if first.count(";") > first.count(",") else ","
    reader = csv.reader(io.StringIO(content, newline=""), delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        raise CommandError("fichier vide.") from None
    header = [h.strip() for h in header]
    if len(set(header)) != len(header):
        raise CommandError("ligne 1 : colonnes en double.")
    people = []
    for number, cells in enumerate(reader, start=2):
        if not any(c.strip() for c in cells):
            continue
        if len(cells) != len(header):
            raise CommandError(f"ligne {number} : {len(cells)} cellules pour {len(header)} "
                               "colonnes.")
        person: dict[str, Any] = {"_line": number}
        for name, cell in zip(header, cells, strict=True):
            value = cell.strip()
            if value == "":
                continue
            if name in LIST_FIELDS:
                person[name] = [v.strip() for v in value.split("|") if v.strip()]
            elif name in DECIMAL_FIELDS and re.fullmatch(r"-?\d+,\d+", value):
                person[name] = value.replace(",", ".")
            else:
                person[name] = value
        people.append(person)
    return people


def read_request(path: Path, fmt: str | None) -> tuple[dict[str, Any], list[str]]:
    """The request body and, per person, where it is in the file ("ligne 3")."""
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise CommandError(f"fichier trop gros ({size // 2 ** 20} Mo ; au plus "
                           f"{MAX_FILE_BYTES // 2 ** 20} Mo).")
    data = path.read_bytes()
    fmt = fmt or ("json" if path.suffix.lower() == ".json" else "csv")
    if fmt == "json":
        try:
            body = json.loads(data.decode("utf-8-sig"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise CommandError(f"JSON illisible : {exc}") from None
        if isinstance(body, list):
            body = {"people": body}
        if not isinstance(body, dict):
            raise CommandError("JSON attendu : une liste de personnes ou un objet "
                               "{\"people\": [...]}.")
        people = body.get("people")
        where = [f"personne n° {i + 1}" for i in range(len(people))] \
            if isinstance(people, list) else []
        return body, where
    people = read_people_csv(data)
    where = [f"ligne {p.pop('_line')}" for p in people]
    return {"people": people}, where


def _flatten(errors: Any, prefix: str = "") -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    if isinstance(errors, dict):
        for key, value in errors.items():
            found += _flatten(value, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(errors, list | tuple):
        for value in errors:
            found += _flatten(value, prefix)
    else:
        found.append((prefix, str(errors)))
    return found


def describe_errors(errors: dict[str, Any], where: list[str]) -> list[str]:
    """'ligne 5, champ postal_code : Code postal à 5 chiffres.'"""
    lines = []
    for path, message in _flatten(errors):
        parts = path.split(".")
        if parts[0] == "people" and len(parts) >= 2 and parts[1].isdigit():
            i = int(parts[1])
            place = where[i] if i < len(where) else f"personne n° {i + 1}"
            field = ".".join(parts[2:]) or "_schema"
            field_text = "" if field == "_schema" else f", champ {field}"
            lines.append(f"{place}{field_text} : {message}")
        else:
            lines.append(f"{path} : {message}")
    return lines


# --- writing ------------------------------------------------------------------------------

def write_csv(payload: dict[str, Any], order: list[str], out: Path) -> None:
    from core.spreadsheet import neutralise_cell

    rows: dict[str, dict[str, Any]] = {}
    for a in payload["assignments"]:
        s = a["session"]
        rows[a["id"]] = {
            "id": a["id"], "statut": "placé", "venue_id": a["venue_id"], "nom": a["nom"],
            "adresse": a["adresse"], "code_postal": a["code_postal"], "commune": a["commune"],
            "arret": a["stop_label"], "seance_id": s["session_id"] if s else None,
            "seance_debut": s["starts_at"].isoformat() if s else None,
            "seance_fin": s["ends_at"].isoformat() if s else None,
            "offre": s["title"] if s else None, "distance_m": a["distance_m"],
            "rang_candidat": a["candidate_rank"], "note": a["note"]}
    for u in payload["unassigned"]:
        rows[u["id"]] = {"id": u["id"], "statut": "sans place", "motif_code": u["code"],
                         "motif": u["reason"]}
    with out.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_COLUMNS)
        for key in order:
            row = rows[key]
            writer.writerow([neutralise_cell("" if row.get(c) is None else str(row[c]))
                             for c in CSV_COLUMNS])


def summary(totals: dict[str, Any]) -> list[str]:
    reasons = {"programme": "pass non valable", "services": "service non couvert",
               "no_venue": "aucun lieu à portée", "availability": "aucun créneau",
               "full": "lieux complets"}
    lines = [f"{number_fr(totals['people'])} personne(s) : {number_fr(totals['assigned'])} "
             f"placée(s) (dont {number_fr(totals['with_session'])} à une séance), "
             f"{number_fr(totals['unassigned'])} sans place."]
    if totals["unassigned_by_reason"]:
        lines.append("Sans place : " + ", ".join(
            f"{reasons.get(k, k)} {number_fr(v)}"
            for k, v in totals["unassigned_by_reason"].items()) + ".")
    if totals["assigned"]:
        lines.append(f"Distance totale {number_fr(totals['total_distance_m'] / 1000, 1)} km, "
                     f"moyenne {number_fr(totals['mean_distance_m'] / 1000, 1)} km, "
                     f"maximum {number_fr(totals['max_distance_m'] / 1000, 1)} km.")
    lines.append(f"{number_fr(totals['venues_used'])} lieu(x) utilisé(s), dont "
                 f"{number_fr(totals['venues_with_assumed_capacity'])} à capacité inconnue "
                 "(capacité supposée).")
    return lines


@match_cli.command("cohort")
@click.argument("people", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Fichier de résultat (.csv ou .json).")
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]),
              help="Format du résultat (défaut : d'après l'extension de --out).")
@click.option("--input-format", type=click.Choice(["csv", "json"]),
              help="Format de PEOPLE (défaut : d'après son extension).")
@click.option("--date", "reference_date", help="Jour de l'affectation (AAAA-MM-JJ).")
@click.option("--programme", help="Programme des personnes qui n'en donnent pas.")
@click.option("--default-capacity", help="Personnes par semaine dans un lieu de capacité "
                                         "inconnue (défaut 10), ou « illimitee ».")
@click.option("--weeks", type=int, help="Semaines couvertes (1 à 4, défaut 1) : capacité × "
              "semaines, ouvertures qui commencent dans ces semaines.")
@click.option("--candidates", type=int, help="Lieux étudiés par personne (défaut 20).")
def cohort_command(people: Path, out: Path, fmt: str | None, input_format: str | None,
                   reference_date: str | None, programme: str | None,
                   default_capacity: str | None, weeks: int | None,
                   candidates: int | None) -> None:
    """Affecter une cohorte (PEOPLE : CSV ou JSON de personnes pseudonymes)."""
    from .assignment import result_payload, run_cohort
    from .schemas import (
        PERSONAL_DATA_MESSAGE,
        CohortRequestSchema,
        personal_fields,
    )

    body, where = read_request(people, input_format)
    if isinstance(body.get("people"), list) and body["people"] \
            and isinstance(body["people"][0], dict):
        found = personal_fields(body["people"][0])
        if found:
            raise CommandError(f"colonne(s) {', '.join(found)} : {PERSONAL_DATA_MESSAGE}")
    options = {"reference_date": reference_date, "programme": programme, "weeks": weeks,
               "candidates": candidates}
    body.update({k: v for k, v in options.items() if v is not None})
    if default_capacity is not None:
        body["default_capacity"] = None if default_capacity.lower() in (
            "illimitee", "illimitée", "none") else default_capacity
    try:
        loaded = CohortRequestSchema().load(body)
        result = run_cohort(loaded, now=clock.now(), session=db.session)
    except ValidationError as exc:
        lines = describe_errors(exc.normalized_messages(), where)
        raise CommandError(_error_text(lines)) from None
    except InvalidInput as exc:
        raise CommandError(_error_text(describe_errors(exc.errors, where))) from None
    except PasserelleError as exc:
        raise CommandError(exc.message) from None
    payload = result_payload(result)
    out_fmt = fmt or ("json" if out.suffix.lower() == ".json" else "csv")
    if out_fmt == "json":
        from .schemas import CohortResponseSchema

        out.write_text(json.dumps(CohortResponseSchema().dump(payload), ensure_ascii=False,
                                  indent=1), encoding="utf-8")
    else:
        write_csv(payload, [p["id"] for p in loaded["people"]], out)
    for line in summary(payload["totals"]):
        click.echo(line)
    click.echo(f"Résultat écrit dans {out} ({out_fmt.upper()}) en "
               f"{number_fr(result.timings['total_s'], 1)} s.")


def _error_text(lines: list[str]) -> str:
    shown = lines[:MAX_ERRORS_SHOWN]
    more = len(lines) - len(shown)
    text = f"{len(lines)} problème(s) dans le fichier :\n  " + "\n  ".join(shown)
    if more:
        text += f"\n  … et {more} autre(s)."
    return text
