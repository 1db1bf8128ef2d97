"""Geocoding behind one small interface, chosen at start-up from ``PASSERELLE_GEOCODER``.

- ``offline`` (default, and the tests' one): communes, postal codes and town halls of the
  loaded reference geography. "33000 Bordeaux", "bordeaux", "st etienne", "97400".
- ``ban``: the national address base (BAN) through geopy's ``BANFrance`` on the
  configured domain (IGN Géoplateforme by default), with a timeout; when the service is
  unreachable or fails, the offline answer is given instead, marked as degraded.

Other packages call :func:`get_geocoder` and never build their own.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from flask import Flask, current_app

log = logging.getLogger(__name__)

PRECISIONS = ("address", "commune", "postal_code")
DEFAULT_LIMIT = 5
MAX_LIMIT = 20
# Below this trigram similarity a name is not taken as the commune asked for.
MIN_NAME_SIMILARITY = 0.5
_POSTAL_CODE = re.compile(r"(?<![0-9A-Za-z])(\d{5})(?![0-9A-Za-z])")
_INSEE_CODE = re.compile(r"^(\d[\dAB]\d{3})$", re.IGNORECASE)
# BAN result types: a house number, a street and a lieu-dit are addresses.
_BAN_PRECISIONS = {"housenumber": "address", "street": "address", "locality": "address",
                   "municipality": "commune"}


@dataclass(frozen=True)
class Candidate:
    label: str
    precision: str  # one of PRECISIONS
    lat: float
    lon: float
    commune_code: str | None
    commune_name: str | None
    postal_code: str | None
    source: str  # "offline" | "ban"
    score: float | None = None
    departement_code: str | None = None
    departement_name: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class GeocodeAnswer:
    candidates: list[Candidate] = field(default_factory=list)
    geocoder: str = "offline"
    # True when the configured online geocoder failed and the offline one answered.
    degraded: bool = False

    def choices(self) -> list[Candidate]:
        """The communes to choose from when the query names several (the same name in
        several départements, a postal code shared by several communes); [] when the
        answer is one place. Never resolved silently: the caller asks the person."""
        if not self.candidates or self.candidates[0].precision not in ("commune",
                                                                        "postal_code"):
            return []
        seen: dict[str, Candidate] = {}
        for candidate in self.candidates:
            if candidate.precision in ("commune", "postal_code") and candidate.commune_code:
                seen.setdefault(candidate.commune_code, candidate)
        return list(seen.values()) if len(seen) > 1 else []


class Geocoder(Protocol):
    name: str

    def geocode(self, query: str, limit: int = DEFAULT_LIMIT) -> GeocodeAnswer: ...


def split_query(query: str) -> tuple[str | None, str]:
    """The postal code of a free-text query (if any) and the normalised rest."""
    from .text import normalise_name

    match = _POSTAL_CODE.search(query)
    postal_code = match.group(1) if match else None
    rest = query[:match.start()] + " " + query[match.end():] if match else query
    return postal_code, normalise_name(rest)


def _suffixes(words: list[str]) -> list[str]:
    """"12 rue x bordeaux" -> ["12 rue x bordeaux", "rue x bordeaux", …, "bordeaux"]:
    the commune is usually named last in an address."""
    return [" ".join(words[i:]) for i in range(len(words))]


class OfflineGeocoder:
    """Communes, postal codes and town halls of the loaded geography; no network."""

    name = "offline"

    def geocode(self, query: str, limit: int = DEFAULT_LIMIT) -> GeocodeAnswer:
        from extensions import db

        from . import services

        limit = max(1, min(limit, MAX_LIMIT))
        postal_code, rest = split_query(query)
        words = rest.split()
        if postal_code:
            places = services.places_by_postal_code(db.session, postal_code)
            if places and words:
                named = [p for p in places
                         if f" {p.search_name} " in f" {rest} "]
                if named:
                    return self._answer(named[:limit], "commune", postal_code)
            if places:
                return self._answer(places[:limit], "postal_code", postal_code)
        bare = query.strip().upper()
        if _INSEE_CODE.match(bare):  # a code INSEE, when no postal code has that value
            places = services.places_by_code(db.session, services.parent_commune_code(bare))
            if places:
                return self._answer(places, "commune", None)
        if not words:
            return GeocodeAnswer(geocoder=self.name)
        places = services.places_by_exact_names(db.session, _suffixes(words), limit)
        if not places:
            places = services.places_by_similar_name(db.session, rest, limit, MIN_NAME_SIMILARITY)
        return self._answer(places, "commune", None)

    def _answer(self, places: list, precision: str, postal_code: str | None) -> GeocodeAnswer:
        candidates = []
        for place in places:
            if place.lat is None:  # a commune with neither polygon nor town hall
                continue
            postal = postal_code or (place.postal_codes[0] if place.postal_codes else None)
            candidates.append(Candidate(
                label=f"{place.name} ({postal})" if postal else place.name,
                precision=precision, lat=round(place.lat, 6), lon=round(place.lon, 6),
                commune_code=place.code, commune_name=place.name, postal_code=postal,
                source=self.name, departement_code=place.departement_code,
                departement_name=place.departement_name))
        return GeocodeAnswer(candidates=candidates, geocoder=self.name)


class BanGeocoder:
    """The national address base through geopy; the offline geocoder when it fails."""

    name = "ban"

    def __init__(self, domain: str, timeout_s: float, fallback: Geocoder, *,
                 scheme: str = "https", adapter_factory: Callable | None = None):
        from geopy.adapters import RequestsAdapter
        from geopy.geocoders import BANFrance

        self.fallback = fallback
        if adapter_factory is None:
            # No retries: the offline answer is the fallback, and urllib3 logs each retry
            # with the URL, i.e. with the query, which may be someone's address.
            adapter_factory = functools.partial(RequestsAdapter, max_retries=0)
        self._client = BANFrance(domain=domain, scheme=scheme, timeout=timeout_s,
                                 user_agent="passerelle", adapter_factory=adapter_factory)

    def geocode(self, query: str, limit: int = DEFAULT_LIMIT) -> GeocodeAnswer:
        from geopy.exc import GeopyError

        limit = max(1, min(limit, MAX_LIMIT))
        try:
            locations = self._client.geocode(query, exactly_one=False, limit=limit) or []
        except GeopyError as exc:
            # No query text in the log: it may be someone's address.
            log.warning("géocodeur BAN indisponible (%s) : réponse hors ligne",
                        type(exc).__name__)
            answer = self.fallback.geocode(query, limit)
            answer.degraded = True
            return answer
        return GeocodeAnswer(candidates=[c for c in map(_ban_candidate, locations) if c],
                             geocoder=self.name)


def _ban_candidate(location) -> Candidate | None:
    from .services import parent_commune_code

    properties = (location.raw or {}).get("properties", {})
    precision = _BAN_PRECISIONS.get(properties.get("type"))
    if precision is None:
        return None
    citycode = properties.get("citycode")
    return Candidate(
        label=properties.get("label") or location.address, precision=precision,
        lat=round(location.latitude, 6), lon=round(location.longitude, 6),
        commune_code=parent_commune_code(citycode) if citycode else None,
        commune_name=properties.get("city"), postal_code=properties.get("postcode"),
        source="ban", score=properties.get("score"))


def ask_if_ambiguous(answer: GeocodeAnswer, query: str, field: str = "address") -> None:
    """Raise ``AmbiguousPlace`` (the candidates, and the question to ask in French) when the
    answer names several communes: « Quel Saint-Martin ? », « Quelle commune du 33270 ? »."""
    from core.errors import AmbiguousPlace

    choices = answer.choices()
    if not choices:
        return
    names = {c.commune_name for c in choices}
    postal_code, _ = split_query(query)
    if len(names) == 1:
        name = names.pop() or query
        article = "Quelle commune :" if name.split(" ")[0].lower() in ("la", "les") or \
            name.lower().startswith("l'") else "Quel"
        question = f"{article} {name} ?"
    elif postal_code and all(c.postal_code == postal_code for c in choices):
        question = f"Quelle commune du {postal_code} ?"
    else:
        question = f"Quelle commune pour « {query.strip()} » ?"
    raise AmbiguousPlace(question, query, [c.as_dict() for c in choices], field)


def build_geocoder(config: dict[str, Any]) -> Geocoder:
    offline = OfflineGeocoder()
    if config.get("PASSERELLE_GEOCODER", "offline") == "ban":
        return BanGeocoder(config["PASSERELLE_BAN_DOMAIN"],
                           float(config["PASSERELLE_GEOCODER_TIMEOUT_S"]), offline)
    return offline


def get_geocoder() -> Geocoder:
    """The application's geocoder (set up by ``geodata.init_app``)."""
    return current_app.extensions["geocoder"]


def init_app(app: Flask) -> None:
    app.extensions["geocoder"] = build_geocoder(app.config)
