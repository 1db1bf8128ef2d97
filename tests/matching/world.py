"""The small world the matcher's tests share: a Tuesday morning in Paris time, a point of
departure near Bordeaux, two services of the catalogue and the offset helper around it."""

from __future__ import annotations

import datetime as dt
import math
from zoneinfo import ZoneInfo

PARIS = ZoneInfo("Europe/Paris")
NOW = dt.datetime(2026, 12, 1, 10, 0, tzinfo=PARIS)  # a Tuesday morning
LON0, LAT0 = -0.58, 44.84
DEMARCHES = "Aide aux démarches administratives"
LOISIRS = "Loisirs et créations numériques"
MAITRISE = "Maîtrise des outils numériques du quotidien"
# Topics (directory.vocabulary.TOPICS) under those services.
ACCOMPAGNEMENT = "numerique--realiser-des-demarches-administratives-avec-un-accompagnement"
CREER = "numerique--creer-avec-le-numerique"
SMARTPHONE = "numerique--prendre-en-main-un-smartphone-ou-une-tablette"


def at(km_east: float, km_north: float = 0.0) -> tuple[float, float]:
    """The point km_east kilometres east and km_north north of (LON0, LAT0)."""
    return (LON0 + km_east / (111.32 * math.cos(math.radians(LAT0))),
            LAT0 + km_north / 111.2)
