"""CSV exports that a spreadsheet cannot turn into formulas (CSV injection)."""

from __future__ import annotations

from typing import Any

# A spreadsheet treats a cell starting with one of these as a formula; the
# full-width forms are folded to the plain ones by some spreadsheets.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "\n", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def neutralise_formula(value: Any) -> Any:
    """A text cell that would run as a formula gets a leading quote; numbers stay
    numbers (a negative figure is not a formula)."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value
