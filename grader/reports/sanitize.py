"""Text from a submission, made safe for where a TA reads it.

A student controls much of what the grader reports: exception messages, notes on the notebook,
file and submitter names. :func:`line` makes such text one plain line for a terminal (no escape
sequences, no clipboard or title writes, no carriage returns that overwrite a line, no newlines
that forge a ``PASS`` line of their own); :func:`cell` makes a spreadsheet cell that is never a
formula. JSON (results.json) and HTML escape on their own and need neither.
"""

from __future__ import annotations

import re

#: Terminal escape sequences, whole: CSI (``ESC [`` ... final byte), OSC / DCS / APC / PM / SOS strings (up to
#: BEL or ST, or to the end when unterminated), and any other two-byte ESC sequence; also their 8-bit forms.
_ESCAPES = re.compile(
    r"(?:\x1b\[|\x9b)[\x20-\x3f]*[\x40-\x7e]?"
    r"|(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
    r"|\x1b[\x20-\x2f]*[\x30-\x7e]?"
)
#: Characters that move the cursor, end a line or reorder text: C0 and C1 controls, DEL, and the
#: Unicode line separators and bidirectional overrides ("Trojan source").
_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]+")
#: A spreadsheet reads a cell that starts with one of these as a formula (OWASP "CSV injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def line(text, limit: int | None = None) -> str:
    """``text`` as one line a terminal shows as it is: escape sequences removed, every run of other
    control characters (newlines, carriage returns, tabs, ...) one space; at most ``limit`` characters."""
    text = _CONTROLS.sub(" ", _ESCAPES.sub("", str(text)))
    if limit is not None and len(text) > limit:
        text = text[: max(0, limit - 3)] + "..."
    return text


def cell(value):
    """A CSV cell a spreadsheet shows as text: a string that would start a formula gets a leading
    single quote (as spreadsheets themselves mark text); numbers and other strings are unchanged."""
    if isinstance(value, str) and value.lstrip(" ").startswith(FORMULA_STARTS):
        return "'" + value
    return value
