"""Declarative mapping files: a producer's own format → standard v1.0.2 candidates.

No code per source: a TOML file (read with tomllib) says where each standard field comes
from. The language is documented for data stewards in the README (« Écrire une
correspondance »); its schema is checked by ``mapping_schema`` (sections, keys, regexes,
date formats, templates: French errors with the TOML line). Real examples:
directory/mappings/*.toml.
"""

from __future__ import annotations

import datetime as dt
import re
import tomllib
from pathlib import Path
from typing import Any

from core.text import slug, strip_accents
from directory import hours as hours_module
from directory.importer.mapping_schema import (
    Checker,
    MappingError,
    day_columns,
    referenced_columns,
)
from directory.importer.readers import (
    Candidate,
    RawRow,
    ReadError,
    decode,
    read_csv,
    read_json,
)
from directory.importer.report import ERROR, INFO, WARNING, Problem

__all__ = ["Mapping", "MappingError", "load", "read"]

_TEMPLATE_FIELD = re.compile(r"\{([^{}]+)\}")
DERIVABLE = {"code_postal", "code_insee", "commune"}
# French month names and their usual abbreviations (accents folded), for dates.
_MONTHS = {name: i for i, name in enumerate(
    ("janvier", "fevrier", "mars", "avril", "mai", "juin", "juillet", "aout", "septembre",
     "octobre", "novembre", "decembre"), start=1)}
_MONTH_ABBREVIATIONS = {"janv": 1, "jan": 1, "fevr": 2, "fev": 2, "fevrie": 2, "avr": 4,
                        "juil": 7, "jui": 7, "sept": 9, "sep": 9, "oct": 10, "nov": 11,
                        "dec": 12, "decem": 12}
_WORD = re.compile(r"[a-z]+\.?")


def parse_date_fr(raw: str, fmt: str) -> tuple[dt.date, bool]:
    """A date in ``fmt`` (strptime), French month names allowed for %B / %b ("Decembre
    2019", "juil-22"); returns (date, partial) where partial means the day was absent (the
    first of the month is taken). Raises ValueError."""
    text, pattern = raw.strip(), fmt
    if "%B" in fmt or "%b" in fmt:
        folded = _fold(text)

        def month(match: re.Match) -> str:
            word = match.group(0).rstrip(".")
            number = _MONTHS.get(word) or _MONTH_ABBREVIATIONS.get(word)
            if number is None:
                raise ValueError(word)
            return f"{number:02d}"

        text = _WORD.sub(month, folded)
        pattern = fmt.replace("%B", "%m").replace("%b", "%m")
    parsed = dt.datetime.strptime(text, pattern).date()
    return parsed, "%d" not in fmt and "%j" not in fmt


class Mapping:
    def __init__(self, spec: dict[str, Any], name: str = "mapping", text: str = "") -> None:
        self.name = name
        self.spec = spec
        Checker(text, name).check(spec)
        source = spec.get("source", {})
        self.format = source.get("format", "json")
        self.delimiter = source.get("delimiter")
        self.departement = source.get("departement")
        self.skip_without = list(source.get("skip_rows_without", []))
        self.fields: dict[str, Any] = spec["fields"]
        self.columns = referenced_columns(spec)
        # A column whose field has a fallback may be absent altogether (said once).
        self.optional = {s["column"] for s in self.fields.values()
                         if isinstance(s, dict) and "column" in s and "fallback" in s}
        self.coordinates = spec.get("coordinates")
        self.transformer = None
        if self.coordinates:
            crs = self.coordinates.get("crs", "EPSG:4326")
            if crs.upper() not in ("EPSG:4326", "WGS84"):
                from pyproj import Transformer
                try:
                    self.transformer = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
                except Exception as exc:  # pyproj raises CRSError
                    raise Checker(text, name).fail(f"système de coordonnées « {crs} » "
                                                   "inconnu", "coordinates", "crs") from exc
        self.hours = spec.get("hours")
        self.status = spec.get("status")
        acceptance = spec.get("acceptance")
        self.acceptance_columns: list[str] = []
        self.acceptance_pattern = None
        self.acceptance_programme: str | None = None
        if acceptance:
            self.acceptance_columns = list(acceptance["columns"])
            self.acceptance_pattern = re.compile(acceptance["pattern"])
            self.acceptance_programme = acceptance.get("programme")
        self.derive = [n for n, s in self.fields.items() if isinstance(s, dict)
                       and s.get("derive")]

    # --- reading ----------------------------------------------------------------------

    def raw_rows(self, data: bytes) -> tuple[list[RawRow], list[str], list[Problem]]:
        """The file's rows, the columns present, and decoding notes."""
        text, problems = decode(data)
        rows = read_json(text) if self.format == "json" else list(read_csv(text,
                                                                           self.delimiter))
        present: dict[str, None] = {}
        for row in rows:
            for key in row.data:
                if key != "__extra_cells__":
                    present.setdefault(key, None)
        return rows, list(present), problems

    def check_columns(self, present: list[str]) -> list[Problem]:
        """Every column the mapping reads must exist in the file (named, with those
        present); a misspelt column would otherwise empty a field on every row."""
        missing = [(c, where) for c, where in self.columns.items()
                   if c not in present and c not in self.optional]
        notes = [Problem(None, where.split()[-1], f"colonne « {c} » absente du fichier : "
                         "valeur de repli sur toutes les lignes", WARNING)
                 for c, where in self.columns.items() if c not in present and c in self.optional]
        if missing:
            shown = ", ".join(f"« {c} » ({where})" for c, where in missing)
            listing = ", ".join(f"« {c} »" for c in present) or "aucune"
            raise MappingError(f"{self.name} : colonne(s) absente(s) du fichier : {shown} ; "
                               f"colonnes présentes : {listing}")
        return notes

    def read(self, data: bytes) -> tuple[list[Candidate], list[Problem]]:
        rows, present, problems = self.raw_rows(data)
        if rows:
            problems += self.check_columns(present)
        candidates = []
        for row in rows:
            if self.skip_without and all(_cell(row.data.get(c)) is None
                                         for c in self.skip_without):
                problems.append(Problem(row.line, None, "ligne sans "
                                        + ", ".join(self.skip_without) + " : ignorée", INFO))
                continue
            candidates.append(self.candidate(row))
        return candidates, problems

    def candidate(self, row: RawRow) -> Candidate:
        values: dict[str, Any] = {}
        candidate = Candidate(row.line, values)
        for name, spec in self.fields.items():
            values[name] = self._value(name, spec, row, candidate)
        if self.derive:
            values["__derivable__"] = list(self.derive)
        self._coordinates(row, values, candidate)
        self._hours(row, values, candidate)
        self._status(row, candidate)
        self._acceptance(row, candidate)
        return candidate

    def _problem(self, candidate: Candidate, field_name: str | None, reason: str,
                 level: str = WARNING) -> None:
        source_id = candidate.values.get("id")
        candidate.problems.append(Problem(candidate.line, field_name, reason, level,
                                          str(source_id) if source_id else None))

    def _value(self, name: str, spec: Any, row: RawRow, candidate: Candidate) -> Any:
        data = row.data
        if isinstance(spec, str):
            return _cell(data.get(spec))
        if "value" in spec:
            return spec["value"]
        if "slug" in spec:
            parts = [_cell(data.get(c)) or "" for c in spec["slug"]]
            return slug(" ".join(parts)) or None
        if "template" in spec:
            def replace(match: re.Match) -> str:
                return _cell(data.get(match.group(1))) or ""
            text = re.sub(r"\s+", " ", _TEMPLATE_FIELD.sub(replace, spec["template"])).strip()
            return text.strip(" ,-") or None
        if "flags" in spec:
            truthy = spec.get("truthy", "*")
            out: list[str] = []
            for column, value in spec["flags"].items():
                cell = _cell(data.get(column))
                on = cell is not None and (
                    (truthy == "*" and cell.lower() not in
                     {v.lower() for v in spec.get("falsy", ["-", "non", "?"])})
                    or (truthy != "*" and cell.lower() in {t.lower() for t in truthy}))
                for item in ([value] if isinstance(value, str) else value):
                    if on and item not in out:
                        out.append(item)
            return out
        if "column" not in spec:  # derive only: filled from the geography at write time
            return None
        raw = _cell(data.get(spec["column"]))
        if raw is not None and "regex" in spec:
            match = re.search(spec["regex"], raw)
            raw = (match.group(1) if match.groups() else match.group(0)) if match else None
            if raw is not None:
                raw = raw.strip(" ,-–") or None
            if raw is None and "fallback_column" in spec:
                raw = _cell(data.get(spec["fallback_column"]))
        elif raw is None and "fallback_column" in spec:
            raw = _cell(data.get(spec["fallback_column"]))
            if raw is not None:
                self._problem(candidate, name, f"vide : remplacé par « {raw} » (colonne "
                              f"{spec['fallback_column']})")
        if "format" in spec:
            return self._date(name, spec, raw, candidate)
        if raw is None:
            if "fallback" in spec:
                self._problem(candidate, name, f"vide : valeur de repli « {spec['fallback']} »")
                return spec["fallback"]
            return None
        if "pad" in spec and raw.isdigit() and len(raw) < spec["pad"]:
            padded = raw.zfill(spec["pad"])
            self._problem(candidate, name, f"« {raw} » complété par des zéros : « {padded} »",
                          INFO)
            raw = padded
        if "split" in spec or "map" in spec or "contains" in spec:
            items = re.split(spec["split"], raw) if "split" in spec else [raw]
            items = [i.strip() for i in items if i.strip()]
            return self._translate(name, spec, items, candidate)
        return raw

    def _translate(self, name: str, spec: dict, items: list[str],
                   candidate: Candidate) -> list[str]:
        """``map`` (exact value → one or several values), then ``contains`` rules in their
        order (the first whose text is found in the value wins; accents and case ignored)."""
        table = spec.get("map", {})
        rules = [(_fold(needle), value)
                 for needle, value in spec.get("contains", [])]
        mapped: list[str] = []

        def put(value: str | list[str]) -> None:
            for item in [value] if isinstance(value, str) else value:
                if item and item not in mapped:
                    mapped.append(item)

        for item in items:
            if item in table:
                put(table[item])
                continue
            folded = _fold(item)
            rule = next((value for needle, value in rules if needle in folded), None)
            if rule is not None:
                put(rule)
            elif not table and not rules:
                put(item)
            elif spec.get("unmapped") == "drop":
                continue
            elif spec.get("unmapped") == "ignore":
                self._problem(candidate, name, f"« {item} » sans équivalent dans "
                              "le standard : non repris", INFO)
            else:
                mapped.append(item)  # validation reports it as outside the standard
        return mapped

    def _date(self, name: str, spec: dict, raw: str | None, candidate: Candidate) -> Any:
        if raw is not None:
            formats = spec["format"] if isinstance(spec["format"], list) else [spec["format"]]
            for fmt in formats:
                try:
                    parsed, partial = parse_date_fr(raw, fmt)
                except ValueError:
                    continue
                if partial:
                    self._problem(candidate, name, f"date partielle « {raw} » : premier jour "
                                  f"du mois retenu ({parsed.isoformat()})", INFO)
                return parsed
            reason = f"date illisible « {raw} » (format {' ou '.join(formats)})"
        else:
            reason = "vide"
        if "fallback" in spec:
            self._problem(candidate, name, f"{reason} : date de repli {spec['fallback']}")
            return spec["fallback"]
        if raw is not None:
            self._problem(candidate, name, reason, ERROR)
            return None
        return raw

    def _coordinates(self, row: RawRow, values: dict[str, Any], candidate: Candidate) -> None:
        if not self.coordinates:
            return
        if "pair" in self.coordinates:
            cell = _cell(row.data.get(self.coordinates["pair"]))
            if cell is None:
                return
            parts = re.split(r"\s*[;,/]\s*|\s+", cell.strip("()[] "))
            if len(parts) != 2 and cell.count(",") == 3:  # "44,83 , -0,57": decimal commas
                parts = [p.replace(",", ".") for p in re.split(r"\s*[;/]\s*|\s+,\s+", cell)]
            if len(parts) != 2:
                self._problem(candidate, "latitude", f"couple de coordonnées illisible "
                              f"« {cell} » (attendu « latitude, longitude »)", ERROR)
                return
            first, second = parts
            if self.coordinates.get("order", "lat,lon") == "lat,lon":
                y, x = first, second
            else:
                x, y = first, second
        else:
            x = row.data.get(self.coordinates["x"])
            y = row.data.get(self.coordinates["y"])
        if _cell(x) is None and _cell(y) is None:
            return
        if self.transformer is None:
            values["longitude"], values["latitude"] = x, y
            return
        try:
            easting, northing = _number(x), _number(y)
        except ValueError:
            self._problem(candidate, "latitude", f"coordonnées illisibles « {x} », « {y} »",
                          ERROR)
            return
        longitude, latitude = self.transformer.transform(easting, northing)
        if longitude != longitude or abs(longitude) == float("inf"):  # NaN / inf: outside
            self._problem(candidate, "latitude", f"coordonnées hors du domaine de "
                          f"{self.coordinates['crs']} : « {x} », « {y} »", ERROR)
            return
        values["longitude"], values["latitude"] = round(longitude, 7), round(latitude, 7)

    def _hours(self, row: RawRow, values: dict[str, Any], candidate: Candidate) -> None:
        if not self.hours:
            return
        if "column" in self.hours:
            text = _cell(row.data.get(self.hours["column"]))
            values["horaires"] = text
            if text and self.hours.get("free_text") == "convert":
                values["horaires"] = self._convert(text, candidate)
            return
        cells: dict[str, str | None] = {}
        for day, columns in self.hours.get("days", {}).items():
            parts = []
            for item in day_columns(columns) or []:
                if isinstance(item, tuple):
                    opening, closing = (_cell(row.data.get(c)) for c in item)
                    if opening and closing:
                        parts.append(f"{opening}-{closing}")
                    elif opening or closing:
                        parts.append(f"{opening or '?'}-{closing or '?'}")  # refused below
                else:
                    cell = _cell(row.data.get(item))
                    if cell and not _closed(cell):
                        parts.append(cell)
            cells[day] = " / ".join(parts) or None
        if not any(cells.values()):
            return
        try:
            values["horaires"] = hours_module.days_to_osm(
                cells, public_holidays=self.hours.get("public_holidays"))
        except hours_module.InvalidHours as exc:
            # Kept as text (day: cell) so nothing is lost; validation flags it.
            values["horaires"] = "; ".join(f"{d} : {c}" for d, c in cells.items() if c)
            self._problem(candidate, "horaires", f"colonnes par jour : {exc.message_fr}")

    def _convert(self, text: str, candidate: Candidate) -> str:
        """Free French text → OSM when the reading is unambiguous (then re-checked by the
        OSM parser), reported; otherwise the text is kept (and flagged by validation)."""
        try:
            hours_module.parse(text)
            return text  # already OSM
        except hours_module.InvalidHours:
            pass
        try:
            osm = hours_module.text_to_osm(text, self.hours.get("public_holidays"))
            hours_module.parse(osm)
        except (hours_module.InvalidHours, ValueError):
            return text
        self._problem(candidate, "horaires", f"horaires en texte convertis : « {text} » → "
                      f"« {osm} »", INFO)
        return osm

    def _status(self, row: RawRow, candidate: Candidate) -> None:
        if not self.status:
            return
        cell = _cell(row.data.get(self.status["column"]))
        if cell is not None and cell in self.status.get("map", {}):
            candidate.status = self.status["map"][cell]

    def _acceptance(self, row: RawRow, candidate: Candidate) -> None:
        if not self.acceptance_pattern:
            return
        for column in self.acceptance_columns:
            cell = _cell(row.data.get(column))
            if not cell:
                continue
            match = self.acceptance_pattern.search(cell)
            if match:
                start, end = max(0, match.start() - 60), min(len(cell), match.end() + 60)
                excerpt = re.sub(r"\s+", " ", cell[start:end]).strip()
                candidate.acceptance_hints.append(f"{column} : « …{excerpt}… »")
                # An acceptance of the programme named here or by --programme.
                candidate.accepts_programme = True


def _fold(text: str) -> str:
    """Lower case, without accents, spaces collapsed (to compare source values)."""
    return " ".join(strip_accents(text).lower().split())


def _closed(cell: str) -> bool:
    """A half-day cell saying "fermé" (or "-"): no range for that part of the day."""
    try:
        return hours_module.cell_to_ranges(cell) == []
    except ValueError:
        return False


def _cell(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).replace("\u00a0", " ").strip()
    return text or None


def _number(value: Any) -> float:
    if isinstance(value, int | float):
        return float(value)
    return float(str(value).strip().replace(" ", "").replace(",", "."))


def load(path: str | Path) -> Mapping:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise MappingError(f"fichier de correspondance introuvable : {path}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise MappingError(f"fichier de correspondance {path.name} illisible (UTF-8 "
                           "attendu)") from exc
    try:
        spec = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise MappingError(f"fichier de correspondance {path.name} : syntaxe TOML invalide "
                           f"({_toml_reason(exc)})") from exc
    return Mapping(spec, path.name, text)


def _toml_reason(exc: tomllib.TOMLDecodeError) -> str:
    """tomllib's English message → French, with the line it gives."""
    message = str(exc)
    match = re.search(r"\(at line (\d+), column (\d+)\)", message)
    where = f"ligne {match.group(1)}, colonne {match.group(2)}" if match else "fin du fichier"
    words = {"Invalid value": "valeur invalide", "Expected '=' after a key":
             "« = » attendu après une clé", "Cannot declare": "table ou clé déclarée deux fois",
             "Unclosed array": "liste non fermée", "Unterminated string": "texte non fermé",
             "Invalid statement": "instruction invalide",
             "Cannot overwrite a value": "clé donnée deux fois"}
    reason = next((fr for en, fr in words.items() if message.startswith(en)),
                  "syntaxe refusée")
    return f"{reason}, {where}"


def read(data: bytes, mapping: Mapping) -> tuple[list[Candidate], list[Problem]]:
    try:
        return mapping.read(data)
    except ReadError:
        raise
