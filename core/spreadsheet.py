"""CSV cells that a spreadsheet could run as formulas (CSV injection), neutralised once
for every export: catalogue, coverage figures, search results, cohort assignments."""

from __future__ import annotations

import re

_DANGEROUS_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
# A cell made only of signed numbers (a longitude, "+33180059880", a `|` list of phone
# numbers) is read as a number by a spreadsheet, never as a formula; the standard requires
# phone numbers to start with "+33", so those stay as they are.
_PLAIN_NUMBERS = re.compile(r"^[+-]?\d+(?:[.,]\d+)?(?:\|[+-]?\d+(?:[.,]\d+)?)*$")


def neutralise_cell(value: str) -> str:
    """Prefix with ' a cell a spreadsheet would run as a formula."""
    if value and value.startswith(_DANGEROUS_PREFIXES) and not _PLAIN_NUMBERS.match(value):
        return "'" + value
    return value


def spreadsheet_number(value: float) -> str:
    """A number as a French spreadsheet reads it: decimal comma, no thousands separator
    (``1234.5`` -> ``1234,5``); ``repr`` keeps every digit the value has."""
    text = repr(float(value))
    if text.endswith(".0"):
        text = text[:-2]
    return text.replace(".", ",")
