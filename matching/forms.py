"""The search forms of the pages: from a GET query string to the matcher's question.

Two forms share the same machinery:
- the beneficiary's form (``/recherche``): plain choices (a place, a pass, big tiles for
  what to learn, days and moments of the day, a distance or a travel time);
- the prescriber's form (``/orienter``): every filter of the API.

Each form is read into ``SearchForm``: the values to show again, the fields of the match API
(``matching.schemas.parse_question`` validates them), and French error messages keyed by
the form's own field names, so that a page can show each error next to its field and in a
summary. No SQL here: the matcher does the search.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from core.text import LANGUAGE_NAMES_FR, language_code
from directory.vocabulary import (
    LEVELS,
    OFFER_FORMAT_LABELS,
    OFFER_FORMATS,
    PRISE_EN_CHARGE_SPECIFIQUE,
    PUBLICS_SPECIFIQUEMENT_ADRESSES,
    SERVICES,
    TOPICS,
    topic_of,
)

from .question import TRAVEL_MODE_LABELS, slug

# The nine services of the standard v1.0.2 in plain words, with the icon drawn for each
# (static/img/services/<icon>.svg), which the tiles of its topics show. Keys are the
# standard's values.
SERVICE_CHOICES: dict[str, tuple[str, str]] = {
    "Aide aux démarches administratives": ("Faire mes démarches en ligne", "demarches"),
    "Maîtrise des outils numériques du quotidien":
        ("Me servir d'un téléphone ou d'un ordinateur", "outils"),
    "Insertion professionnelle via le numérique": ("Chercher un emploi", "emploi"),
    "Utilisation sécurisée du numérique": ("Me protéger des arnaques", "securite"),
    "Parentalité et éducation avec le numérique":
        ("Suivre la scolarité de mes enfants", "parents"),
    "Loisirs et créations numériques": ("Photos, loisirs et créations", "loisirs"),
    "Compréhension du monde numérique": ("Comprendre le numérique", "comprendre"),
    "Accès internet et matériel informatique":
        ("Utiliser un ordinateur et internet sur place", "acces"),
    "Acquisition de matériel informatique à prix solidaire":
        ("Acheter un ordinateur à petit prix", "materiel"),
}

DAYS: tuple[tuple[str, str], ...] = (
    ("lundi", "Lundi"), ("mardi", "Mardi"), ("mercredi", "Mercredi"), ("jeudi", "Jeudi"),
    ("vendredi", "Vendredi"), ("samedi", "Samedi"), ("dimanche", "Dimanche"),
)

# Moments of the day -> (label, from, to). Several moments become one window from the
# earliest start to the latest end: the matcher takes a single time window.
MOMENTS: dict[str, tuple[str, str, str]] = {
    "matin": ("Le matin (8 h – 12 h)", "08:00", "12:00"),
    "apres-midi": ("L'après-midi (14 h – 18 h)", "14:00", "18:00"),
    "soir": ("Le soir (18 h – 21 h)", "18:00", "21:00"),
}

# The beneficiary's "how far" choices -> API fields.
REACH_CHOICES: dict[str, tuple[str, dict[str, Any]]] = {
    "": ("Au plus près, peu importe la distance", {}),
    "5km": ("À moins de 5 km", {"max_distance_m": 5000}),
    "10km": ("À moins de 10 km", {"max_distance_m": 10000}),
    "20km": ("À moins de 20 km", {"max_distance_m": 20000}),
    "50km": ("À moins de 50 km", {"max_distance_m": 50000}),
    "walk30": ("30 minutes à pied au plus", {"travel_mode": "walk", "max_minutes": 30}),
    "bike30": ("30 minutes à vélo au plus", {"travel_mode": "bike", "max_minutes": 30}),
    "transit30": ("30 minutes en bus, tram ou train au plus",
                  {"travel_mode": "transit", "max_minutes": 30}),
    "car30": ("30 minutes en voiture au plus", {"travel_mode": "car", "max_minutes": 30}),
}

LIMIT_CHOICES = (10, 20, 50)
MAX_LIMIT = 50  # the match API's own cap
TRAVEL_CHOICES: dict[str, str] = {"": "Distance en kilomètres", **TRAVEL_MODE_LABELS}
FORMAT_CHOICES: dict[str, str] = {f: OFFER_FORMAT_LABELS[f] for f in OFFER_FORMATS}
LEVEL_CHOICES: dict[str, str] = {"": "Tous niveaux",
                                 **{str(k): f"{k} – {v}" for k, v in LEVELS.items()}}
PUBLIC_CHOICES = PUBLICS_SPECIFIQUEMENT_ADRESSES
SUPPORT_CHOICES = PRISE_EN_CHARGE_SPECIFIQUE
LANGUAGE_CHOICES = sorted(LANGUAGE_NAMES_FR.values(), key=str.lower)  # the field's suggestions

WHERE_MISSING = "Indiquez votre code postal ou le nom de votre commune."

# Which form field shows an error of each API field. Unknown API fields go to the summary.
BENEFICIARY_FIELD_OF = {
    "lat": "where", "lon": "where", "address": "where", "postal_code": "where",
    "commune": "where", "_schema": "where", "programme": "programme", "topics": "topics",
    "days": "days", "time_from": "moments", "time_to": "moments", "now": "now",
    "date": "days", "max_distance_m": "reach", "travel_mode": "reach", "max_minutes": "reach",
}
PRESCRIBER_FIELD_OF = {
    "lat": "where", "lon": "where", "address": "where", "postal_code": "where",
    "commune": "where", "_schema": "where", "max_distance_m": "max_km",
}


@dataclass
class SearchForm:
    """A form as read from the query string."""

    kind: str  # "beneficiary" | "prescriber"
    values: dict[str, Any]  # what to show again in the fields (str or list of str)
    api: dict[str, Any] = field(default_factory=dict)  # fields for parse_question
    errors: dict[str, str] = field(default_factory=dict)  # form field -> French message
    submitted: bool = False
    limit: int = 10
    notes: list[str] = field(default_factory=list)  # how the form was understood
    # When the place names several communes: the question and the communes to choose from.
    place_question: str = ""
    place_choices: list[dict[str, Any]] = field(default_factory=list)
    # The "remember my place and pass for this visit" checkbox: was it on the form sent
    # (``remember_asked``), was it ticked. Never part of ``values``: links do not carry it.
    remember_asked: bool = False
    remember: bool = False
    recalled: bool = False  # the place and pass shown come from the memory
    # The pass: was the question on the form sent (``pass_asked``; « Je ne sais pas » is an
    # answer, kept in links as an empty value). Not asked — the home page's short form —
    # the page takes the only pass valid at the place (``pass_guess``); ``passes_here``:
    # the passes valid there, offered in one tap when none is chosen.
    pass_asked: bool = False
    pass_guess: Any = None
    passes_here: Any = None

    @property
    def valid(self) -> bool:
        return self.submitted and not self.errors

    def add_error(self, name: str, message: str) -> None:
        self.errors.setdefault(name, message)

    def add_api_errors(self, errors: Mapping[str, Any], message: str | None = None) -> None:
        """Attach the matcher's errors (keyed by API field) to the form's fields."""
        field_of = BENEFICIARY_FIELD_OF if self.kind == "beneficiary" else PRESCRIBER_FIELD_OF
        for key, value in (errors or {}).items():
            self.add_error(field_of.get(key, key if key in self.values else "where"),
                           _first_message(value))
        if not errors and message:
            self.add_error("where", message)

    def checked(self, name: str, value: str) -> bool:
        current = self.values.get(name)
        if isinstance(current, list):
            return value in current
        return current == value

    def query_items(self) -> list[tuple[str, str]]:
        """The form's values as query-string pairs (to build links to the sheet, the CSV)."""
        items: list[tuple[str, str]] = []
        for name, value in self.values.items():
            for item in value if isinstance(value, list) else [value]:
                if item not in (None, "") or (name == "programme" and self.pass_asked
                                              and self.kind == "beneficiary"):
                    items.append((name, item or ""))
        return items


def _first_message(value: Any) -> str:
    """The first French message of a marshmallow error value (list, dict or text)."""
    if isinstance(value, dict):
        for item in value.values():
            return _first_message(item)
        return "Valeur invalide."
    if isinstance(value, list | tuple):
        return _first_message(value[0]) if value else "Valeur invalide."
    return str(value)


def _text(args: Mapping[str, Any], name: str, max_length: int = 200) -> str:
    value = args.get(name) or ""
    return " ".join(str(value).split())[:max_length]


def _list(args: Any, name: str) -> list[str]:
    values = args.getlist(name) if hasattr(args, "getlist") else args.get(name) or []
    if isinstance(values, str):
        values = [values]
    return [" ".join(str(v).split()) for v in values if str(v).strip()]


def _finite(raw: str) -> float | None:
    """A decimal number typed in a form (comma or point, spaces ignored); None when it is
    not a finite number (« nan », « inf » and « 1e999 » included)."""
    try:
        value = float(raw.replace(",", ".").replace(" ", ""))
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _where(form: SearchForm, args: Any) -> None:
    """The place: a point from the device, a commune picked in the suggestions, a postal
    code, or a free text (a commune's name, an address) left to the geocoder."""
    where = _text(args, "where")
    commune = _text(args, "commune", 5).upper()
    lat, lon = _text(args, "lat", 20), _text(args, "lon", 20)
    form.values.update(where=where, commune=commune, lat=lat, lon=lon)
    if lat and lon:
        point = _finite(lat), _finite(lon)
        if None not in point:
            form.api.update(lat=point[0], lon=point[1])
        else:
            form.add_error("where", "La position de l'appareil est illisible ; indiquez "
                                    "votre code postal ou votre commune.")
        return
    if commune and where:
        form.api["commune"] = commune
        return
    if not where:
        form.add_error("where", WHERE_MISSING)
        return
    postal = re.fullmatch(r"(\d{2}) ?(\d{3})", where)
    if postal:
        # Through the geocoder, so that a postal code shared by several communes is asked.
        form.api["address"] = postal.group(1) + postal.group(2)
    elif re.fullmatch(r"[\d ]+", where):
        form.add_error("where", "Un code postal a 5 chiffres, par exemple 33000.")
    elif len(where) < 2:
        form.add_error("where", "Écrivez au moins 2 lettres du nom de votre commune.")
    else:
        form.api["address"] = where


def _submitted(args: Mapping[str, Any]) -> bool:
    return any(name in args for name in ("where", "lat", "commune"))


def recall(form: SearchForm, memory: Mapping[str, str] | None) -> None:
    """A form not sent yet shows the place and the pass remembered for the visit."""
    if form.submitted or not memory:
        return
    for name in ("where", "commune", "lat", "lon", "programme"):
        form.values[name] = str(memory.get(name) or "")
    form.recalled = True
    form.remember = True


def read_beneficiary(args: Any) -> SearchForm:
    """The beneficiary's form (``/recherche``)."""
    form = SearchForm(kind="beneficiary", values={}, submitted=_submitted(args))
    form.remember_asked = bool(_text(args, "remember_asked", 5))
    form.remember = bool(_text(args, "remember", 5))
    _where(form, args)

    programme = _text(args, "programme", 64)
    form.values["programme"] = programme
    form.pass_asked = "programme" in args
    if programme:
        form.api["programme"] = programme

    _topics(form, args)

    days = _list(args, "days")
    moments = _list(args, "moments")
    now = _text(args, "now", 5)
    form.values.update(days=days, moments=moments, now=now)
    if any(day not in dict(DAYS) for day in days):
        form.add_error("days", "Choisissez parmi les jours proposés.")
        days = []
    if now:
        form.api["now"] = True
        if days or moments:
            form.notes.append("Vous avez coché « maintenant » : les jours et moments "
                              "cochés ne sont pas utilisés.")
    else:
        if days:
            form.api["days"] = days
        unknown = [m for m in moments if m not in MOMENTS]
        if unknown:
            form.add_error("moments", "Moment de la journée inconnu : choisissez le matin, "
                                      "l'après-midi ou le soir.")
        elif moments:
            starts = [MOMENTS[m][1] for m in moments]
            ends = [MOMENTS[m][2] for m in moments]
            form.api.update(time_from=min(starts), time_to=max(ends))
            if set(moments) == {"matin", "soir"}:
                form.notes.append("Matin et soir : nous cherchons de 8 h à 21 h.")

    reach = _text(args, "reach", 20)
    form.values["reach"] = reach
    if reach not in REACH_CHOICES:
        form.add_error("reach", "Choisissez une distance dans la liste.")
    else:
        form.api.update(REACH_CHOICES[reach][1])
    return _only_if_submitted(form)


def _topics(form: SearchForm, args: Any) -> None:
    """What the person wants to learn: topic codes (the tiles' and boxes' values)."""
    topics = _list(args, "topics")
    form.values["topics"] = topics
    if any(topic_of(value) is None for value in topics):
        form.add_error("topics", "Choisissez parmi les cases proposées.")
    elif topics:
        form.api["topics"] = topics


def _only_if_submitted(form: SearchForm) -> SearchForm:
    """A first visit (nothing sent yet) shows the empty form, not errors."""
    if not form.submitted:
        form.errors.clear()
        form.notes.clear()
    return form


def _number(form: SearchForm, args: Any, name: str, message: str, *, low: float, high: float,
            integer: bool = False) -> float | None:
    raw = _text(args, name, 20)
    form.values[name] = raw
    if not raw:
        return None
    value = _finite(raw)
    if value is None or not low <= value <= high or integer and value != int(value):
        form.add_error(name, message)
        return None
    return value


def read_prescriber(args: Any) -> SearchForm:
    """The prescriber's form (``/orienter``): every filter of the match API."""
    form = SearchForm(kind="prescriber", values={}, submitted=_submitted(args))
    _where(form, args)
    for name in ("programme", "level", "time_from", "time_to", "date", "travel_mode"):
        form.values[name] = _text(args, name, 64)
        if form.values[name]:
            form.api[name] = form.values[name]
    _topics(form, args)
    for name in ("publics", "support", "formats", "days"):
        form.values[name] = _list(args, name)
        if form.values[name]:
            form.api[name] = form.values[name]
    # Languages by their French names ("arabe, anglais"); codes are understood too.
    form.values["languages"] = _text(args, "languages", 120)
    names = [p.strip() for p in re.split(r"[,;/]+| et ", form.values["languages"]) if p.strip()]
    codes = [language_code(name) for name in names]
    unknown = [name for name, code in zip(names, codes, strict=True) if code is None]
    if unknown:
        form.add_error("languages", f"Langue inconnue : « {unknown[0]} ». Écrivez son nom en "
                                    "français, par exemple : arabe, anglais, turc.")
    elif codes:
        form.api["languages"] = list(dict.fromkeys(codes))
    form.values["now"] = _text(args, "now", 5)
    if form.values["now"]:
        form.api["now"] = True

    if form.values["level"] and form.values["level"] not in LEVEL_CHOICES:
        form.add_error("level", "Niveau 1, 2 ou 3.")
    if form.values["travel_mode"] and form.values["travel_mode"] not in TRAVEL_MODE_LABELS:
        form.add_error("travel_mode", "Choisissez un mode de déplacement dans la liste.")

    km = _number(form, args, "max_km", "Distance en kilomètres, entre 0,1 et 300.",
                 low=0.1, high=300)
    minutes = _number(form, args, "max_minutes", "Durée en minutes, de 1 à 240.",
                      low=1, high=240, integer=True)
    if form.values["travel_mode"]:
        if minutes is None and "max_minutes" not in form.errors:
            form.add_error("max_minutes", "Indiquez la durée de trajet maximale en minutes.")
        elif minutes is not None:
            form.api["max_minutes"] = int(minutes)
        if km is not None:
            form.add_error("max_km", "Donnez une distance ou une durée de trajet, pas les deux.")
    else:
        form.api.pop("travel_mode", None)
        if km is not None:
            form.api["max_distance_m"] = int(round(km * 1000))
        if minutes is not None:
            form.add_error("travel_mode", "Choisissez le mode de déplacement de la durée.")

    limit = _number(form, args, "limit", "Nombre de résultats : de 1 à 50.", low=1,
                    high=MAX_LIMIT, integer=True)
    form.limit = int(limit) if limit is not None else LIMIT_CHOICES[0]
    form.values["limit"] = str(form.limit) if limit is not None else form.values["limit"]
    return _only_if_submitted(form)


def service_slug(value: str) -> str:
    return slug(value)


def topics_for_display() -> list[dict[str, str]]:
    """The tiles of "what I want to learn": value (topic code), plain label, the icon of
    its service, the data·inclusion label, the service."""
    return [{"value": t.code, "label": t.plain, "icon": SERVICE_CHOICES[t.service][1],
             "standard": t.label, "service": t.service} for t in TOPICS]


def topic_groups() -> list[tuple[str, list[dict[str, str]]]]:
    """The prescriber's boxes: the topics under each service of the standard."""
    tiles = topics_for_display()
    return [(service, [t for t in tiles if t["service"] == service]) for service in SERVICES]


# --------------------------------------------------------------------------- ways out

# Distances a "widen" link of the prescriber's page offers, kilometres (up to the hints'
# own horizon, 300 km).
PRESCRIBER_WIDEN_KM = (5, 10, 20, 40, 80, 150, 300)
# The beneficiary's distance choices, in metres, for the "widen" link; "" is the search's
# default reach (matching.services.DEFAULT_REACH_M).
BENEFICIARY_REACH_M = (("5km", 5_000), ("10km", 10_000), ("20km", 20_000), ("50km", 50_000),
                       ("", 80_000))
# The fields that say when the person is free, per form.
WHEN_FIELDS = {"beneficiary": ("days", "moments", "now"),
               "prescriber": ("days", "time_from", "time_to", "date", "now")}
REACH_FIELDS = {"beneficiary": ("reach",),
                "prescriber": ("max_km", "travel_mode", "max_minutes")}


@dataclass(frozen=True)
class WayOut:
    """One click out of an empty answer: a link (a query string of the same page, or an
    address) and what it does, in the page's words."""

    # widen | when | topics | services | support | programme | other_programme | remote | venue
    kind: str
    label: str
    href: str


def _same_page(form: SearchForm, drop: tuple[str, ...] = (), **changes: str) -> str:
    """The form's query string without the fields ``drop``, with ``changes``."""
    from urllib.parse import urlencode

    items = [(k, v) for k, v in form.query_items()
             if k not in drop and k not in changes]
    items += [(k, v) for k, v in changes.items() if v != ""]
    return "?" + urlencode(items) + "#resultats"


def _places(count: int, at_least: bool) -> str:
    text = f"{count} lieu" if count == 1 else f"{count} lieux"
    return ("au moins " if at_least else "") + text


def ways_out(form: SearchForm, result, venue_url=None) -> list[WayOut]:
    """The one-click ways out of an answer without any venue, built from the matcher's
    structured hints (``result.relaxations``), the perimeter check and the remote offers:
    widen to the distance of the nearest venue that fits, drop the day and time, drop what
    to learn, search with a pass valid here, see the remote help. Only ways that lead
    somewhere (a count above zero) are offered."""
    if result is None or result.results:
        return []
    pro = form.kind == "prescriber"
    out: list[WayOut] = []
    by_kind = {r.constraint: r for r in result.relaxations}
    perimeter = result.perimeter
    if perimeter is not None and not perimeter.valid_here:
        for p in perimeter.valid_programmes[:3]:
            out.append(WayOut("other_programme", f"Chercher avec le {p.name}",
                              _same_page(form, programme=p.code)))
    far = by_kind.get("distance")
    if far is not None and far.nearest_m is not None:
        if pro:
            km = next((k for k in PRESCRIBER_WIDEN_KM if k * 1000 >= far.nearest_m), None)
            if km is not None:
                out.append(WayOut("widen", f"Élargir à {km} km",
                                  _same_page(form, REACH_FIELDS["prescriber"],
                                             max_km=str(km))))
        else:
            reach = next((value for value, metres in BENEFICIARY_REACH_M
                          if metres >= far.nearest_m), None)
            if reach is not None and reach != form.values.get("reach"):
                label = (f"Chercher jusqu'à {reach.removesuffix('km')} km" if reach
                         else "Chercher au plus près, peu importe la distance")
                out.append(WayOut("widen", label, _same_page(form, ("reach",), reach=reach)))
        if not any(w.kind == "widen" for w in out) and far.nearest_venue_id is not None \
                and venue_url is not None and venue_url(far.nearest_venue_id):
            out.append(WayOut("venue", f"Voir le lieu le plus proche : {far.nearest_name}",
                              venue_url(far.nearest_venue_id)))
    when = by_kind.get("availability")
    if when is not None and when.count:
        out.append(WayOut("when", f"Voir {_places(when.count, when.at_least)}, "
                                  "quels que soient le jour et l'heure",
                          _same_page(form, WHEN_FIELDS[form.kind])))
    for field_ in ("topics", "services"):
        what_to_learn = by_kind.get(field_)
        if what_to_learn is not None and what_to_learn.count:
            what = "pour tout accompagnement" if pro else "pour tout apprentissage"
            count = _places(what_to_learn.count, what_to_learn.at_least)
            out.append(WayOut(field_, f"Voir {count} {what}", _same_page(form, (field_,))))
    support = by_kind.get("support")
    if pro and support is not None and support.count:
        out.append(WayOut("support", f"Voir {_places(support.count, support.at_least)} "
                                     "sans cette prise en charge",
                          _same_page(form, ("support",))))
    programme = by_kind.get("programme")
    if pro and programme is not None and programme.count:
        out.append(WayOut("programme", f"Voir {_places(programme.count, programme.at_least)}, "
                                       "quel que soit le pass",
                          _same_page(form, ("programme",))))
    if result.remote:
        n = len(result.remote)
        out.append(WayOut("remote", "Voir l'aide à distance, sans se déplacer "
                                    f"({n} offre{'s' if n > 1 else ''})", "#a-distance"))
    return out


def pass_choices(form: SearchForm, result) -> list[WayOut]:
    """The pass in one tap, on the beneficiary's results: without a pass, each pass valid
    at the place (the search again with it); with the pass taken for the person (the only
    one valid there), the way back to every venue, with or without that pass."""
    from urllib.parse import urlencode

    if result is None or form.kind != "beneficiary":
        return []
    if form.pass_guess is not None:
        items = [(k, v) for k, v in form.query_items() if k != "programme"]
        return [WayOut("any_pass", "Ce n'est pas mon pass : voir tous les lieux",
                       "?" + urlencode(items + [("programme", "")]) + "#resultats")]
    if result.programme is not None or form.passes_here is None:
        return []
    return [WayOut("pass", p.name, _same_page(form, programme=p.code))
            for p in form.passes_here.programmes]
