"""French text, written once: accent folding and slugs, numbers, money, distances, dates and
times, language names. Pure functions (no Flask, no database); ``core.templating`` makes the
ones pages need Jinja filters."""

from __future__ import annotations

import re
import unicodedata
from datetime import date, time

# --------------------------------------------------------------------------- folding

# Ligatures that NFKD does not decompose.
_LIGATURES = str.maketrans({"œ": "oe", "Œ": "oe", "æ": "ae", "Æ": "ae", "ß": "ss"})
_NOT_SLUG = re.compile(r"[^a-z0-9]+")


def strip_accents(text: str, *, ligatures: bool = True) -> str:
    """"Étienne" -> "Etienne", "Vœuil" -> "Voeuil" (case kept).

    With ``ligatures=False``, œ, æ and ß are left as they are: slugs then drop them, as
    they always did (an import key computed from a name must not change between versions).
    """
    if ligatures:
        text = text.translate(_LIGATURES)
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def slug(text: str) -> str:
    """'Aide aux démarches administratives' -> 'aide-aux-demarches-administratives'
    (ASCII letters and digits; anything else, once unaccented, is dropped or a hyphen)."""
    ascii_text = strip_accents(text, ligatures=False).encode("ascii", "ignore").decode()
    return _NOT_SLUG.sub("-", ascii_text.lower()).strip("-")


def capfirst(text: str | None) -> str:
    """Upper-case the first letter only ("ouvert aujourd'hui…" -> "Ouvert aujourd'hui…")."""
    text = text or ""
    return text[:1].upper() + text[1:]


def join_fr(parts: list[str]) -> str:
    """'a', 'a et b', 'a, b et c'."""
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " et " + parts[-1]


# --------------------------------------------------------------------------- numbers

NARROW_NBSP = "\u202f"  # thousands separator


def number_fr(value: float, digits: int = 0) -> str:
    """``12345.6`` -> ``12 345,6`` (narrow no-break space as thousands separator)."""
    return f"{value:,.{digits}f}".replace(",", NARROW_NBSP).replace(".", ",")


def share_fr(part: float, whole: float) -> str:
    """``part`` as a percentage of ``whole``, one decimal ('12,5 %'); '—' without a whole."""
    if not whole:
        return "—"
    return f"{100.0 * part / whole:.1f} %".replace(".", ",")


def euros_fr(cents: int, *, always_cents: bool = False) -> str:
    """1000 -> '10 €', 1250 -> '12,50 €'; with ``always_cents``, 1000 -> '10,00 €'."""
    whole, rest = divmod(int(cents), 100)
    if rest == 0 and not always_cents:
        return f"{whole} €"
    return f"{whole},{rest:02d} €"


# --------------------------------------------------------------------------- distances


def distance_fr(distance_m: float, *, in_commune: bool = False) -> str:
    """'dans la commune', 'à 350 m', 'à 2,3 km', 'à 23 km'."""
    if distance_m <= 0.5 and in_commune:
        return "dans la commune"
    if distance_m < 1000:
        return f"à {max(10, round(distance_m / 10) * 10)} m"
    km = distance_m / 1000
    if km < 10:
        return f"à {km:.1f} km".replace(".", ",")
    return f"à {round(km)} km"


def km_fr(distance_m: float) -> str:
    """'800 m', '20 km', '2,5 km'."""
    if distance_m < 1000:
        return f"{round(distance_m)} m"
    km = distance_m / 1000
    return (f"{km:.0f} km" if km == int(km) else f"{km:.1f} km").replace(".", ",")


# --------------------------------------------------------------------------- dates and times

DAY_NAMES_FR = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")
MONTH_NAMES_FR = (
    "janvier", "février", "mars", "avril", "mai", "juin",
    "juillet", "août", "septembre", "octobre", "novembre", "décembre",
)  # fmt: skip


def format_time_fr(value: time) -> str:
    """'9 h', '18 h 30', '0 h'."""
    return f"{value.hour} h" if value.minute == 0 else f"{value.hour} h {value.minute:02d}"


def format_date_fr(day: date, weekday: bool = True) -> str:
    """'jeudi 28 novembre', '1er mai' (without weekday)."""
    number = "1er" if day.day == 1 else str(day.day)
    text = f"{number} {MONTH_NAMES_FR[day.month - 1]}"
    return f"{DAY_NAMES_FR[day.weekday()]} {text}" if weekday else text


def relative_day_fr(day: date, today: date | None = None) -> str:
    """'aujourd'hui', 'demain', 'mardi' (within the week), else 'le jeudi 3 décembre'."""
    if today is not None:
        delta = (day - today).days
        if delta == 0:
            return "aujourd'hui"
        if delta == 1:
            return "demain"
        if 1 < delta < 7:
            return DAY_NAMES_FR[day.weekday()]
    return "le " + format_date_fr(day)


def date_fr(value: date | None) -> str:
    """'15 janvier 2026'; '' without a date."""
    return f"{format_date_fr(value, weekday=False)} {value.year}" if value else ""


def datetime_fr(value) -> str:
    """'jeudi 28 novembre à 14 h'."""
    return f"{format_date_fr(value.date())} à {format_time_fr(value.time())}"


def weekday_fr(value: date) -> str:
    return DAY_NAMES_FR[value.weekday()]


def duration_fr(minutes: int) -> str:
    """'45 min', '1 h', '1 h 30'."""
    if minutes < 60:
        return f"{minutes} min"
    h, m = divmod(minutes, 60)
    return f"{h} h" if m == 0 else f"{h} h {m:02d}"


# --------------------------------------------------------------------------- languages

LANGUAGE_NAMES_FR = {
    "fr": "français", "en": "anglais", "es": "espagnol", "de": "allemand", "it": "italien",
    "pt": "portugais", "ar": "arabe", "tr": "turc", "ro": "roumain", "ru": "russe",
    "uk": "ukrainien", "zh": "chinois", "vi": "vietnamien", "wo": "wolof", "bm": "bambara",
    "ber": "berbère", "fa": "persan", "ps": "pachto", "ta": "tamoul", "pl": "polonais",
    "nl": "néerlandais", "br": "breton", "oc": "occitan", "eu": "basque", "co": "corse",
    "ht": "créole haïtien", "lsf": "LSF",
}


def language_fr(code: str) -> str:
    """'en' -> 'anglais'; an unknown code as given."""
    return LANGUAGE_NAMES_FR.get(code, code)


_LANGUAGE_BY_NAME = {slug(name): code for code, name in LANGUAGE_NAMES_FR.items()}


def language_code(name: str) -> str | None:
    """'Arabe' -> 'ar', 'créole haïtien' -> 'ht' (a code is accepted as well); None when
    the language is not known."""
    key = slug(name)
    if key in LANGUAGE_NAMES_FR:
        return key
    return _LANGUAGE_BY_NAME.get(key)
