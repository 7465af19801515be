"""Text cells in the CSV files callportal writes: formulas defused, restorable on import.

Used by every CSV export (calls, the access log) and the call import.
"""

from __future__ import annotations

# A cell starting with one of these is run as a formula by Excel, LibreOffice and Sheets.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def escape_cell(value: str) -> str:
    """Prefix a formula-like text with an apostrophe, so spreadsheets show it as text.

    A plain number with a sign ("+442070000000", "-5") is left alone: spreadsheets read it
    as a number, never a formula, and phone numbers in E.164 start with "+".
    """
    if value.startswith(FORMULA_STARTS) and not _is_signed_number(value):
        return "'" + value
    return value


def unescape_cell(value: str) -> str:
    """Undo `escape_cell`, so that an exported file imports back unchanged."""
    if value.startswith("'") and value[1:].startswith(FORMULA_STARTS):
        return value[1:]
    return value


def _is_signed_number(value: str) -> bool:
    return len(value) > 1 and value[0] in "+-" and value[1:].isdigit() and value[1:].isascii()
