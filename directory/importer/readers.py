"""Readers: bytes of a file → candidate rows keyed by the standard v1.0.2 field names.

A reader does no validation beyond what it must to produce a row; every value is kept as
given (strings, numbers, lists) for ``validate`` to check. Each row carries the line of the
file where it starts, so that every problem names it.

Formats:
- ``standard-v1-csv`` / ``standard-v1-json``: "Lieux de médiation numérique" v1.0.2, lists
  separated by ``|`` (JSON lists accepted too);
- ``standard-v0-csv`` / ``standard-v0-json``: v0.1.1, lists separated by ``;``, translated
  to v1.0.2 by the tables below (``V0_*``), which follow the standard's change log
  (descriptif-des-evolutions: 15 services condensed into 9, "publics accueillis" split into
  two fields, "labels nationaux" split into programmes and labels, "conditions d'accès"
  renamed "frais à charge");
- ``mapping:FILE``: a producer's own format through a declarative mapping (``mapping.py``).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from directory.importer.report import INFO, WARNING, Problem
from directory.vocabulary import STANDARD_FIELDS, map_v0_services

FORMATS = ("standard-v1-csv", "standard-v1-json", "standard-v0-json", "standard-v0-csv")



class ReadError(Exception):
    """The file cannot be read at all (encoding, syntax); the message is French."""


@dataclass
class Candidate:
    """One row of the file, translated to standard field names but not yet validated."""

    line: int
    values: dict[str, Any]
    # What the standard cannot carry: programme acceptances, free-text hours, status…
    accepts_programme: bool = False          # explicit marker (v0 "Accepte le Pass"/APTIC)
    acceptance_hints: list[str] = field(default_factory=list)  # free-text mentions
    status: str | None = None
    problems: list[Problem] = field(default_factory=list)
    crs: str | None = None                   # coordinates CRS when not EPSG:4326
    # Topics (directory.vocabulary.TOPICS) the row declares: a v0.1 row's fine-grained
    # `services`, our export's `x_services_v0`; None: not declared (read from the text).
    topics: list[str] | None = None


@dataclass
class RawRow:
    line: int
    data: dict[str, Any]


# --- Decoding and low-level parsing ---------------------------------------------------------

def decode(data: bytes) -> tuple[str, list[Problem]]:
    """UTF-8 (with or without BOM), else Windows-1252/Latin-1, reported."""
    try:
        return data.decode("utf-8-sig"), []
    except UnicodeDecodeError:
        pass
    for encoding, label in (("cp1252", "Windows-1252"), ("latin-1", "Latin-1")):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        return text, [Problem(None, None, f"fichier lu en {label} (pas en UTF-8)", INFO)]
    raise ReadError("encodage du fichier non reconnu (ni UTF-8 ni Latin-1)")


def _detect_delimiter(header: str) -> str:
    counts = {}
    for delimiter in (",", ";", "\t"):
        counts[delimiter] = len(next(csv.reader([header], delimiter=delimiter)))
    best = max(counts, key=lambda d: counts[d])
    if counts[best] < 2:
        raise ReadError("séparateur de colonnes non reconnu (attendu « , » ou « ; »)")
    return best


def read_csv(text: str, delimiter: str | None = None) -> Iterator[RawRow]:
    """Rows of a CSV with a header line; ``line`` is where the record starts in the file."""
    first_line = text.split("\n", 1)[0]
    if not first_line.strip():
        raise ReadError("fichier CSV vide ou sans ligne d'en-tête")
    delimiter = delimiter or _detect_delimiter(first_line)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = [h.strip() for h in next(reader)]
    except csv.Error as exc:
        raise ReadError(f"en-tête CSV illisible : {exc}") from exc
    duplicates = sorted({h for h in header if header.count(h) > 1})
    if duplicates:
        raise ReadError(f"colonnes en double dans l'en-tête : {', '.join(duplicates)}")
    start = reader.line_num + 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise ReadError(f"ligne {start} : CSV mal formé ({exc})") from exc
        if cells and any(c.strip() for c in cells):
            data = dict(zip(header, [c[1:] if c.startswith(_NEUTRALISED) else c
                                     for c in cells], strict=False))
            if len(cells) > len(header):
                data["__extra_cells__"] = len(cells) - len(header)
            yield RawRow(start, data)
        start = reader.line_num + 1


# The exporter's protection against CSV injection ('=… for =…) is undone on reading, so
# that an export imported again is read as it was written.
_NEUTRALISED = ("'=", "'+", "'-", "'@")


def read_json(text: str) -> list[RawRow]:
    """Objects of a JSON array (or of the one array inside a top-level object), each with
    the line where it starts."""
    decoder = json.JSONDecoder()
    position = _skip_ws(text, 0)
    if position < len(text) and text[position] == "{":
        # {"lieux": [...]} and similar: find the array and read it in place.
        try:
            whole = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ReadError(f"JSON illisible ligne {exc.lineno} : {exc.msg}") from exc
        arrays = [k for k, v in whole.items() if isinstance(v, list)]
        if len(arrays) != 1:
            raise ReadError("JSON : un tableau d'objets est attendu")
        # No line numbers without a streaming parser here: the element's rank stands for it.
        return [RawRow(rank, row) for rank, row in enumerate(whole[arrays[0]], start=1)
                if isinstance(row, dict)]
    if position >= len(text) or text[position] != "[":
        raise ReadError("JSON : un tableau d'objets est attendu")
    rows: list[RawRow] = []
    position += 1
    line, counted_to = 1, 0
    while True:
        position = _skip_ws(text, position)
        if position >= len(text):
            raise ReadError("JSON tronqué : « ] » final manquant")
        if text[position] == "]":
            break
        line += text.count("\n", counted_to, position)
        counted_to = position
        try:
            obj, end = decoder.raw_decode(text, position)
        except json.JSONDecodeError as exc:
            raise ReadError(f"JSON illisible ligne {exc.lineno} : {exc.msg}") from exc
        if not isinstance(obj, dict):
            raise ReadError(f"ligne {line} : un objet JSON est attendu")
        rows.append(RawRow(line, obj))
        position = _skip_ws(text, end)
        if position < len(text) and text[position] == ",":
            position += 1
    if len({row.line for row in rows}) < len(rows):
        # Several objects on one line (minified JSON): each row needs its own number, so
        # the element's rank stands for the line, as for {"lieux": [...]}.
        rows = [RawRow(rank, row.data) for rank, row in enumerate(rows, start=1)]
    return rows


def _skip_ws(text: str, position: int) -> int:
    while position < len(text) and text[position] in " \t\r\n":
        position += 1
    return position


# --- Standard v1.0.2 --------------------------------------------------------------------------

def standard_v1(rows: list[RawRow] | Iterator[RawRow]) -> Iterator[Candidate]:
    known = set(STANDARD_FIELDS)
    reported: set[str] = set()
    for row in rows:
        values = {k: v for k, v in row.data.items() if k in known}
        candidate = Candidate(row.line, values)
        unknown = sorted(k for k in row.data if k not in known and not k.startswith("x_")
                         and k != "__extra_cells__" and k not in reported)
        if unknown:  # once per column, where it first appears
            reported.update(unknown)
            candidate.problems.append(Problem(
                row.line, None, f"colonnes hors standard ignorées : {', '.join(unknown)}",
                INFO, _str(values.get("id"))))
        if row.data.get("__extra_cells__"):
            candidate.problems.append(Problem(row.line, None,
                                              "plus de cellules que de colonnes d'en-tête"))
        # Our own extension column (see exporter): programmes accepted, kept on re-import.
        for name in ("x_pass_programmes", "x_location_precision", "x_flags"):
            if row.data.get(name):
                candidate.values[name] = row.data[name]
        if "x_services_v0" in row.data:  # its topics as v0.1 services, even none (exporter)
            candidate.values["x_services_v0"] = row.data["x_services_v0"] or ""
        yield candidate


# --- Standard v0.1.1 → v1.0.2 -----------------------------------------------------------------

# v0.1 `services` are the labels of our topics (data·inclusion's thematiques): the mapping
# to topics and to v1.0.2 services is directory.vocabulary.map_v0_services.


# publics_accueillis → (v1 field, v1 value); "Adultes" is not a specific public: dropped.
V0_PUBLICS: dict[str, tuple[str, str] | None] = {
    "Seniors (+ 65 ans)": ("publics_specifiquement_adresses", "Seniors"),
    "Familles/enfants": ("publics_specifiquement_adresses", "Familles et/ou enfants"),
    "Adultes": None,
    "Jeunes (16-26 ans)": ("publics_specifiquement_adresses", "Jeunes"),
    "Uniquement femmes": ("publics_specifiquement_adresses", "Femmes"),
    "Public langues étrangères": ("prise_en_charge_specifique", "Langues étrangères (autres)"),
    "Déficience visuelle": ("prise_en_charge_specifique", "Déficience visuelle"),
    "Surdité": ("prise_en_charge_specifique", "Surdité"),
    "Handicaps psychiques": ("prise_en_charge_specifique", "Handicaps mentaux"),
    "Handicaps mentaux": ("prise_en_charge_specifique", "Handicaps mentaux"),
    "Personnes en situation d'illettrisme": ("prise_en_charge_specifique", "Illettrisme"),
}

# conditions_acces (text before " : ") → frais_a_charge; the pass becomes an acceptance.
V0_CONDITIONS: dict[str, str | None] = {
    "Gratuit": "Gratuit",
    "Gratuit sous condition": "Gratuit sous condition",
    "Payant": "Payant",
    "Adhésion": "Payant",  # a membership fee is a charge
    "Accepte le Pass numérique": None,
}
PASS_CONDITION = "Accepte le Pass numérique"

# labels_nationaux → (v1 field, v1 value); APTIC becomes an acceptance.
V0_LABELS: dict[str, tuple[str, str] | None] = {
    "France Services": ("dispositif_programmes_nationaux", "France Services"),
    "CNFS": ("dispositif_programmes_nationaux", "Conseillers numériques"),
    "Aidants Connect": ("dispositif_programmes_nationaux", "Aidants Connect"),
    "Grandes écoles du numérique": ("dispositif_programmes_nationaux",
                                    "Grande école du numérique"),
    "Point relais CAF": ("dispositif_programmes_nationaux", "Point d'accès numérique CAF"),
    "Point numérique CAF": ("dispositif_programmes_nationaux", "Point d'accès numérique CAF"),
    "Fabriques de Territoire": ("formations_labels", "Fabriques de Territoire"),
    "Relais pôle emploi": ("autres_formations_labels", "Relais pôle emploi"),
    "French Tech": ("autres_formations_labels", "French Tech"),
    "Campus connecté": ("autres_formations_labels", "Campus connecté"),
    "APTIC": None,
}
APTIC_LABEL = "APTIC"

# modalites_accompagnement (text before " : ") → v1 value.
V0_MODALITES: dict[str, str] = {
    "Seul": "En autonomie",
    "Avec de l'aide": "Accompagnement individuel",
    "Dans un atelier": "Dans un atelier collectif",
    "A ma place": "Accompagnement individuel",
    "À ma place": "Accompagnement individuel",
}

# Fields renamed or copied as they are.
RESUME_MAX_V1 = 280
V0_SAME = ("id", "pivot", "nom", "commune", "code_postal", "code_insee", "adresse",
           "complement_adresse", "latitude", "longitude", "typologie", "telephone",
           "site_web", "horaires", "presentation_resume", "presentation_detail", "source",
           "structure_parente", "date_maj", "prise_rdv")
V0_RENAMED = {"courriel": "courriels", "accessibilite": "fiche_acces_libre"}
V0_LIST_FIELDS = ("typologie", "telephone", "courriels", "site_web")
V0_DROPPED = ("cle_ban",)


def _split_v0(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return [str(v).strip() for v in value if str(v).strip()]
    return [part.strip() for part in str(value).split(";") if part.strip()]


def _head(value: str) -> str:
    """'Gratuit : Je peux accéder…' → 'Gratuit' (v0 values carry an explanation)."""
    return value.split(" : ", 1)[0].split(" :", 1)[0].strip()


def standard_v0(rows: list[RawRow] | Iterator[RawRow]) -> Iterator[Candidate]:
    known = set(V0_SAME) | set(V0_RENAMED) | set(V0_DROPPED) | {
        "services", "publics_accueillis", "conditions_acces", "labels_nationaux",
        "labels_autres", "modalites_accompagnement"}
    for row in rows:
        data = row.data
        source_id = _str(data.get("id"))
        values: dict[str, Any] = {}
        candidate = Candidate(row.line, values)
        note = candidate.problems.append

        for name in V0_SAME:
            if name in data:
                values[name] = data[name]
        for old, new in V0_RENAMED.items():
            if old in data:
                values[new] = data[old]
        for name in V0_LIST_FIELDS:
            if name in values:
                values[name] = _split_v0(values[name])

        lists: dict[str, list[str]] = {}

        def put(field_name: str, value: str, lists: dict[str, list[str]] = lists) -> None:
            bucket = lists.setdefault(field_name, [])
            if value not in bucket:
                bucket.append(value)

        for value in _v0_topics(candidate, _split_v0(data.get("services")), source_id):
            put("services", value)
        for value in _split_v0(data.get("publics_accueillis")):
            key = value.split(" : ", 1)[0].strip()
            if key not in V0_PUBLICS:
                note(Problem(row.line, "publics_accueillis",
                             f"public v0.1 inconnu « {value} »", source_id=source_id))
            elif V0_PUBLICS[key] is None:
                note(Problem(row.line, "publics_accueillis",
                             f"« {value} » n'a pas d'équivalent en v1.0.2 : non repris",
                             INFO, source_id))
            else:
                put(*V0_PUBLICS[key])  # type: ignore[misc]
        for value in _split_v0(data.get("conditions_acces")):
            key = _head(value)
            if key not in V0_CONDITIONS:
                note(Problem(row.line, "conditions_acces",
                             f"condition d'accès v0.1 inconnue « {value} »",
                             source_id=source_id))
            elif key == PASS_CONDITION:
                candidate.accepts_programme = True
            else:
                put("frais_a_charge", V0_CONDITIONS[key])  # type: ignore[arg-type]
        for value in _split_v0(data.get("labels_nationaux")):
            if value not in V0_LABELS:
                note(Problem(row.line, "labels_nationaux",
                             f"label v0.1 inconnu « {value} » : repris dans "
                             "autres_formations_labels", WARNING, source_id))
                put("autres_formations_labels", value)
            elif value == APTIC_LABEL:
                candidate.accepts_programme = True
            else:
                put(*V0_LABELS[value])  # type: ignore[misc]
        for value in _split_v0(data.get("labels_autres")):
            put("autres_formations_labels", value)
        for value in _split_v0(data.get("modalites_accompagnement")):
            key = _head(value)
            if key in V0_MODALITES:
                put("modalites_accompagnement", V0_MODALITES[key])
            else:
                note(Problem(row.line, "modalites_accompagnement",
                             f"modalité v0.1 inconnue « {value} »", source_id=source_id))
        values.update(lists)
        resume = _str(values.get("presentation_resume"))
        if resume and len(resume) > RESUME_MAX_V1 and not _str(values.get("presentation_detail")):
            # v0.1 allowed longer summaries; nothing is cut: the text moves to the detail.
            values["presentation_detail"], values["presentation_resume"] = resume, None
            note(Problem(row.line, "presentation_resume",
                         f"résumé de {len(resume)} caractères (plus de {RESUME_MAX_V1}) : "
                         "repris en presentation_detail", WARNING, source_id))
        if "autres_formations_labels" in values:
            values["autres_formations_labels"] = "|".join(values["autres_formations_labels"])

        unknown = sorted(k for k in data if k not in known)
        if unknown:
            note(Problem(row.line, None, f"colonnes hors standard v0.1 ignorées : "
                         f"{', '.join(unknown)}", INFO, source_id))
        yield candidate


def unknown_v0_service_fr(value: str) -> str:
    return f"service v0.1 inconnu « {value} » : ni thématique ni service du standard"


def _v0_topics(candidate: Candidate, values: list[str], source_id: str | None) -> list[str]:
    """v0.1 services → the candidate's declared topics (when there are any); returns their
    v1.0.2 services; values neither topic nor service are reported."""
    topics, services, unknown = map_v0_services(values)
    if values:
        candidate.topics = topics
    for value in unknown:
        candidate.problems.append(Problem(candidate.line, "services",
                                          unknown_v0_service_fr(value), source_id=source_id))
    return services


def _str(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def read(data: bytes, fmt: str) -> tuple[list[Candidate], list[Problem]]:
    """Candidates of a file in one of FORMATS (mappings are read by ``mapping.read``)."""
    text, problems = decode(data)
    if fmt.endswith("-csv"):
        # The v0.1 and v1.0.2 standards are comma-separated; ";" is detected if used.
        rows: Any = read_csv(text)
    elif fmt.endswith("-json"):
        rows = read_json(text)
    else:
        raise ReadError(f"format inconnu « {fmt} »")
    if fmt.startswith("standard-v1"):
        return list(standard_v1(rows)), problems
    return list(standard_v0(rows)), problems
