"""The mapping language checked like code: known sections and keys, types, regexes, date
formats and templates, each error in French with the line of the TOML file.

``check(spec, text, name)`` raises :class:`MappingError` at the first mistake (with a
"vouliez-vous dire … ?" for a misspelt name); ``referenced_columns(spec)`` lists the source
columns a mapping reads, so that a data file lacking one is refused by name.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from typing import Any

from directory import hours as hours_module
from directory.vocabulary import STANDARD_FIELDS


class MappingError(Exception):
    """The mapping file itself is wrong; the message is French."""


SECTIONS: dict[str, set[str]] = {
    "source": {"format", "delimiter", "departement", "skip_rows_without"},
    "coordinates": {"x", "y", "crs", "pair", "order"},
    "fields": set(),   # standard field names, checked apart
    "hours": {"column", "days", "public_holidays", "free_text"},
    "status": {"column", "map"},
    "acceptance": {"columns", "pattern", "programme"},
}
REQUIRED_KEYS = {"coordinates": ("x", "y"), "status": ("column",),
                 "acceptance": ("columns", "pattern")}
FIELD_KEYS = {"column", "value", "slug", "template", "flags", "truthy", "falsy", "regex",
              "fallback_column", "fallback", "format", "split", "map", "unmapped", "derive",
              "contains", "pad"}
SOURCES = ("column", "value", "slug", "template", "flags", "contains")
DERIVABLE = {"code_postal": "commune", "code_insee": "commune", "commune": "point"}
FORMATS = ("json", "csv")
FREE_TEXT = ("keep", "convert")
UNMAPPED = ("error", "ignore", "drop")
_TEMPLATE_FIELD = re.compile(r"\{([^{}]+)\}")
_STRFTIME = re.compile(r"%(.)")
_DATE_DIRECTIVES = set("dmyYBbHMSjpf%")


def _suggest(word: str, choices: list[str] | set[str]) -> str:
    close = difflib.get_close_matches(word, sorted(choices), n=1, cutoff=0.6)
    return f" : vouliez-vous dire `{close[0]}` ?" if close else ""


def locate(text: str, section: str | None, key: str | None = None) -> int | None:
    """Line (1-based) of ``key`` inside ``[section]`` (or of the section header) in the
    TOML text; ``[fields.nom]`` tables count as the key ``nom`` of ``fields``."""
    if not text:
        return None
    current = None
    header = None
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        match = re.match(r"^\[\s*([^\]]+?)\s*\]", stripped)
        if match:
            current = match.group(1).replace('"', "").replace(" ", "")
            if section is not None and current == section and header is None:
                header = number
                if key is None:
                    return number
            if section and key and current == f"{section}.{key}":
                return number
            continue
        if key is None:
            continue
        in_section = section is None or current == section or (current or "").startswith(
            f"{section}.")
        if in_section and (re.match(rf'^"?{re.escape(key)}"?\s*=', stripped) or (
                current == section and re.search(rf'[{{,]\s*"?{re.escape(key)}"?\s*=',
                                                 stripped))):
            return number
    return header


class Checker:
    def __init__(self, text: str, name: str) -> None:
        self.text, self.name = text, name

    def fail(self, message: str, section: str | None = None, key: str | None = None,
             where: str | None = None) -> MappingError:
        line = locate(self.text, section, where or key)
        at = f", ligne {line}" if line else ""
        return MappingError(f"{self.name}{at} : {message}")

    def check(self, spec: dict[str, Any]) -> None:
        for section, value in spec.items():
            if section not in SECTIONS:
                raise self.fail(f"section [{section}] inconnue{_suggest(section, SECTIONS)}",
                                section)
            if not isinstance(value, dict):
                raise self.fail(f"[{section}] doit être une table", None, section)
            if section == "fields":
                continue
            for key in value:
                if key not in SECTIONS[section]:
                    raise self.fail(f"clé « {key} » inconnue dans [{section}]"
                                    f"{_suggest(key, SECTIONS[section])}", section, key)
            for key in REQUIRED_KEYS.get(section, ()):
                if key not in value and not (section == "coordinates" and "pair" in value):
                    raise self.fail(f"[{section}] doit donner « {key} »", section)
        if "fields" not in spec:
            raise self.fail("section [fields] absente (elle dit d'où vient chaque champ)")
        self.source(spec.get("source", {}))
        self.coordinates(spec.get("coordinates"))
        fields = spec["fields"]
        for name, field_spec in fields.items():
            if name not in STANDARD_FIELDS:
                raise self.fail(f"champ « {name} » hors standard dans [fields]"
                                f"{_suggest(name, set(STANDARD_FIELDS))}", "fields", name)
            self.field(name, field_spec)
        for required in ("id", "nom"):
            if required not in fields:
                raise self.fail(f"[fields] doit donner « {required} »", "fields")
        self.hours(spec.get("hours"))
        self.status(spec.get("status"))
        self.acceptance(spec.get("acceptance"))

    def _string(self, value: Any, section: str, key: str) -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.fail(f"« {key} » doit être un texte non vide", section, key)
        return value

    def _columns(self, value: Any, section: str, key: str) -> list[str]:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not value or not all(
                isinstance(v, str) and v for v in value):
            raise self.fail(f"« {key} » doit être une liste de noms de colonnes", section, key)
        return value

    def regex(self, pattern: Any, section: str, key: str, where: str | None = None) -> None:
        if not isinstance(pattern, str):
            raise self.fail(f"« {key} » doit être une expression régulière (texte)", section,
                            key, where)
        try:
            re.compile(pattern)
        except re.error as exc:
            raise self.fail(f"expression régulière « {pattern} » invalide ({key}) : "
                            f"{_regex_reason(exc)}", section, key, where) from None

    def source(self, source: dict[str, Any]) -> None:
        fmt = source.get("format", "json")
        if fmt not in FORMATS:
            raise self.fail(f"format « {fmt} » inconnu (json ou csv)"
                            f"{_suggest(str(fmt), FORMATS)}", "source", "format")
        delimiter = source.get("delimiter")
        if delimiter is not None and (not isinstance(delimiter, str) or len(delimiter) != 1):
            raise self.fail(f"séparateur « {delimiter} » invalide : un seul caractère "
                            "(« ; », « , » ou une tabulation)", "source", "delimiter")
        if "skip_rows_without" in source:
            self._columns(source["skip_rows_without"], "source", "skip_rows_without")

    def coordinates(self, coordinates: dict[str, Any] | None) -> None:
        if not coordinates:
            return
        for key in ("x", "y", "pair", "crs"):
            if key in coordinates:
                self._string(coordinates[key], "coordinates", key)
        order = coordinates.get("order", "lat,lon")
        if order not in ("lat,lon", "lon,lat"):
            raise self.fail(f"ordre « {order} » inconnu (« lat,lon » ou « lon,lat »)",
                            "coordinates", "order")

    def field(self, name: str, spec: Any) -> None:
        if isinstance(spec, str):
            if not spec.strip():
                raise self.fail(f"champ « {name} » : nom de colonne vide", "fields", name)
            return
        if not isinstance(spec, dict):
            raise self.fail(f"champ « {name} » : un nom de colonne ou une table est attendu",
                            "fields", name)
        for key in spec:
            if key not in FIELD_KEYS:
                raise self.fail(f"champ « {name} » : clé « {key} » inconnue"
                                f"{_suggest(key, FIELD_KEYS)}", "fields", name)
        sources = [k for k in SOURCES if k in spec]
        if not sources and "derive" in spec:
            sources = ["derive"]  # no column at all: the value always comes from the point
        if not sources:
            raise self.fail(f"champ « {name} » : column, value, slug, template, flags ou "
                            "contains attendu", "fields", name)
        if len([k for k in sources if k != "contains"]) > 1:
            raise self.fail(f"champ « {name} » : une seule origine parmi "
                            f"{', '.join(sources)}", "fields", name)
        if "contains" in spec and "column" not in spec:
            raise self.fail(f"champ « {name} » : « contains » s'applique à une « column »",
                            "fields", name)
        for key in ("column", "fallback_column"):
            if key in spec and (not isinstance(spec[key], str) or not spec[key].strip()):
                raise self.fail(f"champ « {name} » : « {key} » doit être un nom de colonne",
                                "fields", name)
        truthy = spec.get("truthy", "*")
        if truthy != "*" and not (isinstance(truthy, list) and all(
                isinstance(t, str) for t in truthy)):
            raise self.fail(f"champ « {name} » : « truthy » doit être \"*\" ou une liste de "
                            "textes", "fields", name)
        if not (isinstance(spec.get("falsy", []), list) and all(
                isinstance(t, str) for t in spec.get("falsy", []))):
            raise self.fail(f"champ « {name} » : « falsy » doit être une liste de textes",
                            "fields", name)
        for key in ("regex", "split"):
            if key in spec:
                self.regex(spec[key], "fields", key, name)
        if "template" in spec:
            self.template(name, spec["template"])
        if "slug" in spec:
            self._columns(spec["slug"], "fields", name)
        if "format" in spec:
            formats = spec["format"] if isinstance(spec["format"], list) else [spec["format"]]
            for fmt in formats:
                self.date_format(name, fmt)
        if "fallback" in spec and "format" in spec:
            try:
                dt.date.fromisoformat(str(spec["fallback"]))
            except ValueError:
                raise self.fail(f"champ « {name} » : date de repli « {spec['fallback']} » "
                                "invalide (attendu AAAA-MM-JJ)", "fields", name) from None
        if "map" in spec:
            table = spec["map"]
            if not isinstance(table, dict) or not all(
                    isinstance(v, str) or (isinstance(v, list) and all(
                        isinstance(i, str) for i in v)) for v in table.values()):
                raise self.fail(f"champ « {name} » : « map » doit associer à chaque valeur "
                                "source un texte ou une liste de textes", "fields", name)
        if "contains" in spec:
            rules = spec["contains"]
            if not isinstance(rules, list) or not all(
                    isinstance(r, list) and len(r) == 2 and isinstance(r[0], str) and r[0]
                    and isinstance(r[1], str | list) for r in rules):
                raise self.fail(f"champ « {name} » : « contains » doit être une liste de "
                                "paires [\"texte cherché\", \"valeur\"], dans l'ordre où les "
                                "essayer", "fields", name)
        if spec.get("unmapped", "error") not in UNMAPPED:
            raise self.fail(f"champ « {name} » : unmapped = « {spec['unmapped']} » inconnu "
                            f"({', '.join(UNMAPPED)})", "fields", name)
        if "pad" in spec and (not isinstance(spec["pad"], int) or not 1 <= spec["pad"] <= 20):
            raise self.fail(f"champ « {name} » : « pad » doit être une longueur (nombre "
                            "entier, par exemple 5)", "fields", name)
        if "derive" in spec:
            expected = DERIVABLE.get(name)
            if expected is None or spec["derive"] not in (expected, True):
                allowed = ", ".join(f"{k} (derive = \"{v}\")" for k, v in DERIVABLE.items())
                raise self.fail(f"champ « {name} » : « derive » n'est possible que pour "
                                f"{allowed}", "fields", name)
        if "flags" in spec and not isinstance(spec["flags"], dict):
            raise self.fail(f"champ « {name} » : « flags » doit associer colonnes et valeurs",
                            "fields", name)

    def template(self, name: str, template: Any) -> None:
        if not isinstance(template, str):
            raise self.fail(f"champ « {name} » : « template » doit être un texte", "fields",
                            name)
        depth = 0
        for char in template:
            depth += char == "{"
            depth -= char == "}"
            if depth not in (0, 1):
                break
        if depth != 0 or not _TEMPLATE_FIELD.search(template):
            raise self.fail(f"champ « {name} » : modèle « {template} » invalide (les colonnes "
                            "s'écrivent entre accolades, par exemple « {N°} {ADRESSE} »)",
                            "fields", name)

    def date_format(self, name: str, fmt: Any) -> None:
        if not isinstance(fmt, str) or "%" not in fmt:
            raise self.fail(f"champ « {name} » : format de date « {fmt} » invalide (par "
                            "exemple « %d/%m/%Y », « %B %Y », « %b-%y »)", "fields", name)
        bad = [d for d in _STRFTIME.findall(fmt) if d not in _DATE_DIRECTIVES]
        if bad or fmt.endswith("%") and not fmt.endswith("%%"):
            raise self.fail(f"champ « {name} » : format de date « {fmt} » invalide "
                            f"(directive « %{bad[0] if bad else ''} » inconnue)", "fields",
                            name)

    def hours(self, hours: dict[str, Any] | None) -> None:
        if not hours:
            return
        if "column" in hours and "days" in hours:
            raise self.fail("[hours] : « column » ou « days », pas les deux", "hours")
        if "column" not in hours and "days" not in hours:
            raise self.fail("[hours] doit donner « column » ou « days »", "hours")
        if "column" in hours:
            self._string(hours["column"], "hours", "column")
        if hours.get("free_text", "keep") not in FREE_TEXT:
            raise self.fail(f"free_text = « {hours['free_text']} » inconnu (« keep » ou "
                            "« convert »)", "hours", "free_text")
        if hours.get("public_holidays") not in (None, "off", "open", "closed"):
            raise self.fail("public_holidays : « off » attendu", "hours", "public_holidays")
        days = hours.get("days")
        if days is None:
            return
        if not isinstance(days, dict):
            raise self.fail("[hours] days : une table jour = colonne(s)", "hours", "days")
        for day, columns in days.items():
            if not _is_day(day):
                raise self.fail(f"jour « {day} » inconnu"
                                f"{_suggest(day, hours_module.DAY_NAMES_FR)}", "hours", day)
            if not day_columns(columns):
                raise self.fail(f"jour « {day} » : une colonne, une liste de colonnes "
                                "(matin, après-midi) ou des paires [ouverture, fermeture]",
                                "hours", day)

    def status(self, status: dict[str, Any] | None) -> None:
        if status:
            self._string(status["column"], "status", "column")
            table = status.get("map", {})
            if not isinstance(table, dict) or not all(isinstance(v, str)
                                                      for v in table.values()):
                raise self.fail("[status] map : chaque valeur source donne un statut (open, "
                                "temporarily_closed ou closed)", "status", "map")

    def acceptance(self, acceptance: dict[str, Any] | None) -> None:
        if not acceptance:
            return
        self._columns(acceptance["columns"], "acceptance", "columns")
        self.regex(acceptance["pattern"], "acceptance", "pattern")
        if "programme" in acceptance:
            self._string(acceptance["programme"], "acceptance", "programme")


def _is_day(name: str) -> bool:
    """A day name the hours module understands ("lundi", "lun", "Mo", "monday"…)."""
    try:
        hours_module.days_to_osm({name: "9h-10h"})
    except hours_module.InvalidHours:
        return False
    return True


def day_columns(columns: Any) -> list[str | tuple[str, str]] | None:
    """A day's columns: "LUN", ["LUN_MATIN", "LUN_APM"], [["OUV1", "FERM1"], …]."""
    if isinstance(columns, str) and columns:
        return [columns]
    if not isinstance(columns, list) or not columns:
        return None
    out: list[str | tuple[str, str]] = []
    for item in columns:
        if isinstance(item, str) and item:
            out.append(item)
        elif isinstance(item, list) and len(item) == 2 and all(
                isinstance(i, str) and i for i in item):
            out.append((item[0], item[1]))
        else:
            return None
    return out


def _regex_reason(exc: re.error) -> str:
    reasons = {
        "missing )": "parenthèse fermante manquante",
        "unbalanced parenthesis": "parenthèse fermante en trop",
        "unterminated character set": "crochet « ] » manquant",
        "nothing to repeat": "répétition (*, +, ?) sans rien à répéter",
        "bad escape": "séquence d'échappement inconnue",
        "multiple repeat": "répétition répétée",
    }
    for english, french in reasons.items():
        if exc.msg.startswith(english):
            return f"{french} (position {exc.pos})"
    return f"syntaxe refusée (position {exc.pos})"


def referenced_columns(spec: dict[str, Any]) -> dict[str, str]:
    """Source column → where the mapping reads it (for "absent column" errors)."""
    out: dict[str, str] = {}

    def add(column: str, where: str) -> None:
        out.setdefault(column, where)

    for name, field_spec in spec.get("fields", {}).items():
        where = f"[fields] {name}"
        if isinstance(field_spec, str):
            add(field_spec, where)
            continue
        for key in ("column", "fallback_column"):
            if key in field_spec:
                add(field_spec[key], where)
        for column in field_spec.get("slug", []):
            add(column, where)
        for column in _TEMPLATE_FIELD.findall(field_spec.get("template", "")):
            add(column, where)
        for column in field_spec.get("flags", {}):
            add(column, where)
    coordinates = spec.get("coordinates") or {}
    for key in ("x", "y", "pair"):
        if key in coordinates:
            add(coordinates[key], f"[coordinates] {key}")
    hours = spec.get("hours") or {}
    if "column" in hours:
        add(hours["column"], "[hours] column")
    for day, columns in (hours.get("days") or {}).items():
        for item in day_columns(columns) or []:
            for column in (item if isinstance(item, tuple) else (item,)):
                add(column, f"[hours] {day}")
    if spec.get("status"):
        add(spec["status"]["column"], "[status] column")
    for column in (spec.get("acceptance") or {}).get("columns", []):
        add(column, "[acceptance] columns")
    for column in (spec.get("source") or {}).get("skip_rows_without", []):
        add(column, "[source] skip_rows_without")
    return out
