"""Text that people read: which characters a statement may carry, and how to print it.

A peer writes the subjects and texts an operator reads. Control characters
(C0 and C1: ESC sequences, ``\\r``, a newline, NUL) can rewrite an operator's
terminal or plant a line that looks like the node's own, and bidirectional
overrides and isolates (Unicode UAX #9, U+202A–U+202E, U+2066–U+2069) can make
text read in another order than it is stored (CVE-2021-42574, "Trojan
Source"). Statements refuse them where they enter (:mod:`redline.core.kinds`);
everything printed for people goes through :func:`printable` as well, because
stored text may predate these rules and not every string is a statement's.

The bidirectional *marks* (U+200E, U+200F, U+061C) stay allowed: they only
nudge neutral characters and are needed to write mixed Arabic or Hebrew text.
"""

from __future__ import annotations

import re

__all__ = [
    "INVISIBLE",
    "is_blank",
    "printable",
    "printable_json",
    "unsafe_in_line",
    "unsafe_in_text",
]

# C0 controls, DEL and C1 controls.
_CONTROLS = "\x00-\x1f\x7f-\x9f"
# UAX #9 explicit embeddings, overrides (LRE RLE PDF LRO RLO) and isolates (LRI RLI FSI PDI).
_BIDI = "\u202a-\u202e\u2066-\u2069"
# LINE SEPARATOR and PARAGRAPH SEPARATOR: some terminals start a new line at them.
_SEPARATORS = "\u2028\u2029"

_UNSAFE_LINE = re.compile(f"[{_CONTROLS}{_BIDI}{_SEPARATORS}]")
_UNSAFE_TEXT = re.compile(f"[\x00-\x08\x0b-\x1f\x7f-\x9f{_BIDI}]")  # \t and \n allowed
_UNSAFE_OUTPUT = _UNSAFE_LINE
# In JSON, json.dumps escapes C0 itself; DEL, C1 and the rest it leaves raw.
_UNSAFE_JSON = re.compile(f"[\x7f-\x9f{_BIDI}{_SEPARATORS}]")

# Characters that show nothing: zero-width space, non-joiner and joiner, word
# joiner, BOM (zero-width no-break space), the bidirectional marks, soft
# hyphen, combining grapheme joiner, Mongolian vowel separator, invisible
# operators, and the Hangul fillers.
INVISIBLE = frozenset(
    "\u200b\u200c\u200d\u2060\ufeff\u200e\u200f\u061c\u00ad\u034f\u180e"
    "\u2061\u2062\u2063\u2064\u115f\u1160\u3164\uffa0"
)
_DROP_INVISIBLE = dict.fromkeys(map(ord, INVISIBLE))


def _describe(match: re.Match[str]) -> str:
    char = match.group()
    if "\u202a" <= char <= "\u202e" or "\u2066" <= char <= "\u2069":
        what = "a bidirectional override or isolate"
    elif char in _SEPARATORS:
        what = "a line separator"
    else:
        what = "a control character"
    return f"holds {what} (U+{ord(char):04X}) at position {match.start()}"


def unsafe_in_line(value: str) -> str | None:
    """Why ``value`` is unsafe as one line people read (a subject), or None if it is safe.

    Refused: every C0 and C1 control character (``\\n`` and ``\\t`` too), DEL,
    the bidirectional overrides and isolates, and U+2028/U+2029. Raises nothing.
    """
    match = _UNSAFE_LINE.search(value)
    return None if match is None else _describe(match)


def unsafe_in_text(value: str) -> str | None:
    """Why ``value`` is unsafe as text people read (a message body), or None.

    As :func:`unsafe_in_line`, except that ``\\n``, ``\\t`` and the Unicode
    line and paragraph separators are allowed. Raises nothing.
    """
    match = _UNSAFE_TEXT.search(value)
    return None if match is None else _describe(match)


def is_blank(value: str) -> bool:
    """True if ``value`` shows nothing: only whitespace and :data:`INVISIBLE` characters."""
    return not value.translate(_DROP_INVISIBLE).strip()


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(value: str) -> str:
    """``value`` made safe to print as (part of) one terminal line.

    Control characters, bidirectional overrides and isolates and the line
    separators are shown escaped, visibly: ESC as ``\\x1b``, a newline as
    ``\\x0a``, U+202E as ``\\u202e``. Everything else is kept. Raises nothing.
    """
    if _UNSAFE_OUTPUT.search(value) is None:
        return value
    return _UNSAFE_OUTPUT.sub(_escape, value)


def printable_json(document: str) -> str:
    """A JSON document (from ``json.dumps(..., ensure_ascii=False)``) safe to print.

    Replaces DEL, C1 controls, bidirectional overrides and isolates and the
    line separators by their ``\\uXXXX`` escapes, which leaves the JSON
    meaning unchanged (they can only occur inside strings). Raises nothing.
    """
    return _UNSAFE_JSON.sub(lambda m: f"\\u{ord(m.group()):04x}", document)
