"""RFC 8785 (JCS) canonical JSON for statements, with a fast path.

The reference is the ``rfc8785`` package. For the values Redline signs — no
floats (refused), integers within 2^53, and object keys that are all ASCII —
RFC 8785 output is byte for byte what ``orjson`` gives with sorted keys
(orjson writes no whitespace and escapes no non-ASCII text):

- RFC 8785 §3.2.3 sorts keys by UTF-16 code units; for ASCII keys that is
  code-point order, Python's sort;
- §3.2.2.2 serializes strings as ECMAScript's JSON.stringify does: the short
  escapes for \\b \\f \\n \\r \\t \\" \\\\, \\u00xx (lowercase hex) for the other
  controls, everything else literal — as orjson does;
- §3.2.2.3 integers below 2^53 print as Python prints them.

Anything outside that domain (a non-ASCII key, a type other than dict, list,
str, int, bool and None, a lone surrogate) goes to ``rfc8785``. A property
test checks both paths agree.
"""

from __future__ import annotations

from typing import Any

import orjson
import rfc8785

__all__ = ["canonical_json", "plain_json"]

# Without these, orjson would turn a dataclass, datetime or str subclass into
# JSON that the reference refuses; with them it raises and the reference speaks.
_OPTIONS = (
    orjson.OPT_SORT_KEYS
    | orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_SUBCLASS
)
_INT_MAX = 2**53 - 1  # RFC 8785 (I-JSON) integers; the reference refuses the rest
_INT_MIN = -_INT_MAX


def plain_json(value: Any) -> bool:
    """Whether ``value`` is in the fast path's domain: only dict, list, str,
    int within 2^53, bool and None (exact types, no subclasses), ASCII keys.

    Loops rather than ``all()`` over generators: every statement a node
    parses passes here, and this is measured (bench/record.py).
    """
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return True
    if kind is int:
        return bool(_INT_MIN <= value <= _INT_MAX)
    if kind is dict:
        for key, item in value.items():
            if type(key) is not str or not key.isascii() or not plain_json(item):
                return False
        return True
    if kind is list:
        for item in value:
            if not plain_json(item):
                return False
        return True
    return False


def canonical_json(value: Any, *, ascii_keys: bool | None = None) -> bytes:
    """RFC 8785 canonical bytes of ``value`` (which must hold no floats).

    ``ascii_keys=True`` says the caller already checked :func:`plain_json`
    (it saves walking the value again).
    Raises ``rfc8785.CanonicalizationError`` subclasses, as the reference
    does, for values it cannot canonicalize.
    """
    if ascii_keys if ascii_keys is not None else plain_json(value):
        try:
            return orjson.dumps(value, option=_OPTIONS)
        except orjson.JSONEncodeError:
            pass  # e.g. a lone surrogate: let the reference say what is wrong
    return rfc8785.dumps(value)
