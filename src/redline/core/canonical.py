"""RFC 8785 (JCS) canonical JSON for statements, with a fast path.

The reference is the ``rfc8785`` package. For the values Redline signs — no
floats (refused), integers within 2^53, and object keys that are all ASCII —
RFC 8785 output is byte for byte what the C-accelerated ``json.dumps`` gives
with sorted keys, no whitespace and no ASCII escaping:

- RFC 8785 §3.2.3 sorts keys by UTF-16 code units; for ASCII keys that is
  code-point order, Python's sort;
- §3.2.2.2 serializes strings as ECMAScript's JSON.stringify does: the short
  escapes for \\b \\f \\n \\r \\t \\" \\\\, \\u00xx (lowercase hex) for the other
  controls, everything else literal — as ``json.dumps(ensure_ascii=False)``;
- §3.2.2.3 integers below 2^53 print as Python prints them.

Anything outside that domain (a non-ASCII key, a lone surrogate) goes to
``rfc8785``. A property test checks both paths agree.
"""

from __future__ import annotations

import json
from typing import Any

import rfc8785

__all__ = ["canonical_json"]

_encode = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), sort_keys=True, allow_nan=False
).encode


def _ascii_keys(value: Any) -> bool:
    if isinstance(value, dict):
        return all(k.isascii() and _ascii_keys(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_ascii_keys(v) for v in value)
    return not isinstance(value, float)


def canonical_json(value: Any, *, ascii_keys: bool | None = None) -> bytes:
    """RFC 8785 canonical bytes of ``value`` (which must hold no floats).

    ``ascii_keys=True`` says the caller already checked that every key is
    ASCII and no float is present (it saves walking the value again).
    Raises ``rfc8785.CanonicalizationError`` subclasses, as the reference
    does, for values it cannot canonicalize.
    """
    if ascii_keys if ascii_keys is not None else _ascii_keys(value):
        try:
            return _encode(value).encode("utf-8")
        except UnicodeEncodeError:
            pass  # a lone surrogate: let the reference say what is wrong
    return rfc8785.dumps(value)
