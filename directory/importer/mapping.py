"""Declarative mapping files: a producer's own format → standard v1.0.2 candidates.

No code per source: a TOML file (read with tomllib) says where each standard field comes
from. See directory/mappings/*.toml for real examples and the README for the reference.

```toml
[source]
format = "json"                  # json (array of objects) | csv
delimiter = ";"                  # csv only; detected when absent
departement = "33"               # optional: the département the file is about
skip_rows_without = ["NOM"]      # rows where all these columns are empty are skipped

[coordinates]                    # optional
x = "X"                          # easting / longitude column
y = "Y"                          # northing / latitude column
crs = "EPSG:2154"                # default EPSG:4326 (then x = longitude, y = latitude)

[fields]                         # standard field = spec
nom = "Nom"                      # a column, stripped
adresse = { template = "{N°} {ADRESSE}" }   # columns in braces, spaces collapsed
id = { slug = ["Commune", "Lieu"] }         # a stable identifier built from columns
pivot = { value = "00000000000000" }        # a constant
code_postal = { column = "Adresse", regex = "\\b(\\d{5})\\b", derive = "commune" }
adresse = { column = "Adresse", regex = "^(.*?)\\s*\\d{5}", fallback_column = "Adresse" }
telephone = { column = "Tél", split = "\\s*/\\s*" }           # split is a regex
services = { column = "services", split = " / ", map = { "Accès à Internet" = "…" } }
publics_specifiquement_adresses = { flags = { PBC_Jeunes = "Jeunes" }, truthy = "*" }
date_maj = { column = "MAJ", format = "%d/%m/%Y", fallback = "2023-01-09" }

[hours]                          # optional: one column (OSM or free text) or per-day columns
column = "horaires"
# days = { lundi = "LUN", mardi = "MAR", … }  → hours.days_to_osm
# public_holidays = "off"

[status]                         # optional
column = "ETAT"
map = { INACTIF = "closed" }

[acceptance]                     # optional: free-text mentions → acceptance *candidates*
columns = ["Description"]
pattern = "(?i)\\bAPTIC\\b"
```

``map`` values: a standard value, or "" to drop the source value on purpose; a source value
absent from ``map`` is an error unless ``unmapped = "ignore"`` (reported as info) or
``unmapped = "drop"`` (silently: for a column read for a few of its values only).
``derive = "commune"``: when empty or invalid, the value is taken from the commune found by
point-in-polygon at write time (reported). ``fallback``: used when the cell is empty or
unreadable, every use reported as a warning.
"""

from __future__ import annotations

import datetime as dt
import re
import tomllib
from pathlib import Path
from typing import Any

from core.text import slug
from directory import hours as hours_module
from directory.importer.readers import (
    Candidate,
    RawRow,
    ReadError,
    decode,
    read_csv,
    read_json,
)
from directory.importer.report import INFO, WARNING, Problem
from directory.vocabulary import STANDARD_FIELDS

_TEMPLATE_FIELD = re.compile(r"\{([^{}]+)\}")
DERIVABLE = {"code_postal", "code_insee"}


class MappingError(Exception):
    """The mapping file itself is wrong; the message is French."""


class Mapping:
    def __init__(self, spec: dict[str, Any], name: str = "mapping") -> None:
        self.name = name
        self.spec = spec
        source = spec.get("source", {})
        self.format = source.get("format", "json")
        if self.format not in ("json", "csv"):
            raise MappingError(f"{name} : format « {self.format} » inconnu (json ou csv)")
        self.delimiter = source.get("delimiter")
        self.departement = source.get("departement")
        self.skip_without = list(source.get("skip_rows_without", []))
        self.fields: dict[str, Any] = spec.get("fields", {})
        unknown = sorted(set(self.fields) - set(STANDARD_FIELDS))
        if unknown:
            raise MappingError(f"{name} : champs hors standard dans [fields] : "
                               f"{', '.join(unknown)}")
        for required in ("id", "nom"):
            if required not in self.fields:
                raise MappingError(f"{name} : [fields] doit donner « {required} »")
        self.coordinates = spec.get("coordinates")
        self.transformer = None
        if self.coordinates:
            crs = self.coordinates.get("crs", "EPSG:4326")
            if crs.upper() not in ("EPSG:4326", "WGS84"):
                from pyproj import Transformer
                try:
                    self.transformer = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
                except Exception as exc:  # pyproj raises CRSError
                    raise MappingError(f"{name} : système de coordonnées « {crs} » "
                                       "inconnu") from exc
        self.hours = spec.get("hours")
        self.status = spec.get("status")
        acceptance = spec.get("acceptance")
        self.acceptance_columns: list[str] = []
        self.acceptance_pattern = None
        if acceptance:
            self.acceptance_columns = list(acceptance.get("columns", []))
            try:
                self.acceptance_pattern = re.compile(acceptance["pattern"])
            except (KeyError, re.error) as exc:
                raise MappingError(f"{name} : [acceptance] pattern invalide") from exc

    # --- reading ----------------------------------------------------------------------

    def read(self, data: bytes) -> tuple[list[Candidate], list[Problem]]:
        text, problems = decode(data)
        rows = read_json(text) if self.format == "json" else list(read_csv(text,
                                                                           self.delimiter))
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
            try:
                values[name] = self._value(name, spec, row, candidate)
            except MappingError:
                raise
            except (KeyError, TypeError) as exc:
                raise MappingError(f"{self.name} : champ « {name} » mal décrit ({exc})") \
                    from exc
        for name, spec in self.fields.items():
            if isinstance(spec, dict) and spec.get("derive"):
                if name not in DERIVABLE:
                    raise MappingError(f"{self.name} : « derive » n'est possible que pour "
                                       f"{', '.join(sorted(DERIVABLE))}")
                values.setdefault("__derivable__", []).append(name)
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
        if not isinstance(spec, dict):
            raise MappingError(f"{self.name} : champ « {name} » : texte ou table attendu")
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
                if on and value not in out:
                    out.append(value)
            return out
        if "column" not in spec:
            raise MappingError(f"{self.name} : champ « {name} » : column, value, slug, "
                               "template ou flags attendu")
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
        if "split" in spec or "map" in spec:
            items = re.split(spec["split"], raw) if "split" in spec else [raw]
            items = [i.strip() for i in items if i.strip()]
            if "map" in spec:
                mapped = []
                table = spec["map"]
                for item in items:
                    if item in table:
                        if table[item] and table[item] not in mapped:
                            mapped.append(table[item])
                    elif spec.get("unmapped") == "drop":
                        continue
                    elif spec.get("unmapped") == "ignore":
                        self._problem(candidate, name, f"« {item} » sans équivalent dans "
                                      "le standard : non repris", INFO)
                    else:
                        mapped.append(item)  # validation reports it as outside the standard
                items = mapped
            return items
        return raw

    def _date(self, name: str, spec: dict, raw: str | None, candidate: Candidate) -> Any:
        if raw is not None:
            try:
                return dt.datetime.strptime(raw, spec["format"]).date()
            except ValueError:
                reason = f"date illisible « {raw} »"
        else:
            reason = "vide"
        if "fallback" in spec:
            self._problem(candidate, name, f"{reason} : date de repli {spec['fallback']}")
            return spec["fallback"]
        return raw

    def _coordinates(self, row: RawRow, values: dict[str, Any], candidate: Candidate) -> None:
        if not self.coordinates:
            return
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
                          "erreur")
            return
        longitude, latitude = self.transformer.transform(easting, northing)
        if longitude != longitude or abs(longitude) == float("inf"):  # NaN / inf: outside
            self._problem(candidate, "latitude", f"coordonnées hors du domaine de "
                          f"{self.coordinates['crs']} : « {x} », « {y} »", "erreur")
            return
        values["longitude"], values["latitude"] = round(longitude, 7), round(latitude, 7)

    def _hours(self, row: RawRow, values: dict[str, Any], candidate: Candidate) -> None:
        if not self.hours:
            return
        if "column" in self.hours:
            values["horaires"] = _cell(row.data.get(self.hours["column"]))
            return
        days = self.hours.get("days", {})
        cells = {day: _cell(row.data.get(column)) for day, column in days.items()}
        if not any(cells.values()):
            return
        try:
            values["horaires"] = hours_module.days_to_osm(
                cells, public_holidays=self.hours.get("public_holidays"))
        except hours_module.InvalidHours as exc:
            # Kept as text (day: cell) so nothing is lost; validation flags it.
            values["horaires"] = "; ".join(f"{d} : {c}" for d, c in cells.items() if c)
            self._problem(candidate, "horaires", f"colonnes par jour : {exc.message_fr}")

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
        spec = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise MappingError(f"fichier de correspondance introuvable : {path}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise MappingError(f"fichier de correspondance {path.name} illisible : {exc}") from exc
    return Mapping(spec, path.name)


def read(data: bytes, mapping: Mapping) -> tuple[list[Candidate], list[Problem]]:
    try:
        return mapping.read(data)
    except ReadError:
        raise
