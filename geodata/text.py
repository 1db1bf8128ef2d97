"""Name normalisation for searching French place names; pure, no Flask, no database.

The same function computes ``commune.search_name`` at load time and normalises every
query, so that "St-Étienne", "saint etienne" and "SAINT-ÉTIENNE" compare equal.
"""

from __future__ import annotations

import re

from core.text import strip_accents

# Abbreviations spelled out, as whole words only ("st" but not "sturzelbronn").
_ABBREVIATIONS = {
    "st": "saint",
    "ste": "sainte",
    "sts": "saints",
    "stes": "saintes",
}
_NOT_ALNUM = re.compile(r"[^a-z0-9]+")


def normalise_name(text: str) -> str:
    """Lower-case, unaccented, punctuation (hyphens, apostrophes…) as single spaces,
    "st"/"ste" spelled "saint"/"sainte".

    >>> normalise_name("L'Haÿ-les-Roses")
    'l hay les roses'
    >>> normalise_name("St-Étienne")
    'saint etienne'
    """
    words = _NOT_ALNUM.split(strip_accents(text).lower())
    return " ".join(_ABBREVIATIONS.get(word, word) for word in words if word)
