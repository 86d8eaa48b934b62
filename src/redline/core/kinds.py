"""The kinds of statement Redline knows, and the rules for each kind's body.

A receiver refuses a kind it does not know (fail closed): a statement is only
stored if this node can say what it means.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import Any

from redline.core.errors import InvalidStatement
from redline.core.text import is_blank, unsafe_in_line, unsafe_in_text

__all__ = [
    "RULES",
    "PRECEDENCES",
    "Precedence",
]


class Precedence(StrEnum):
    """Message precedence, highest first (the military precedence ladder); the
    values are the wire values."""

    FLASH = "flash"
    IMMEDIATE = "immediate"
    PRIORITY = "priority"
    ROUTINE = "routine"


#: The wire values of a message's precedence.
PRECEDENCES = tuple(p.value for p in Precedence)
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_LANG = re.compile(r"[a-z]{2,3}(-[A-Za-z0-9]{2,8})*")  # used with fullmatch
MAX_RECEIPT_ACKS = 512  # = link.wire.MAX_BATCH; a receipt must fit in 64 KiB

BodyRule = Callable[[Mapping[str, Any]], None]


def _require(body: Mapping[str, Any], name: str, kind: type, *, max_len: int | None = None) -> Any:
    # Every statement a node receives passes here several times: the common
    # case (exact type, short enough) is kept to a few cheap tests.
    try:
        value = body[name]
    except KeyError:
        raise InvalidStatement("required field is missing", field=f"body.{name}") from None
    if type(value) is not kind and (
        not isinstance(value, kind) or kind is int and isinstance(value, bool)
    ):
        raise InvalidStatement(f"must be of type {kind.__name__}", field=f"body.{name}")
    if max_len is not None and isinstance(value, (str, list)) and len(value) > max_len:
        raise InvalidStatement(f"is longer than {max_len}", field=f"body.{name}")
    return value


def _only(body: Mapping[str, Any], allowed: set[str]) -> None:
    if body.keys() <= allowed:
        return
    extra = sorted(set(body) - allowed)
    raise InvalidStatement("unknown field", field=f"body.{extra[0]}")


def _message(body: Mapping[str, Any]) -> None:
    _only(body, {"precedence", "subject", "text", "lang"})
    precedence = _require(body, "precedence", str)
    if precedence not in PRECEDENCES:
        raise InvalidStatement(f"must be one of {', '.join(PRECEDENCES)}", field="body.precedence")
    # Subjects and texts are printed to the other party's operator: nothing in
    # them may steer a terminal or reorder what is read (core/text.py).
    subject = _require(body, "subject", str, max_len=500)
    if (why := unsafe_in_line(subject)) is not None:
        raise InvalidStatement(why, field="body.subject")
    if is_blank(subject):
        raise InvalidStatement("must not be blank", field="body.subject")
    text = _require(body, "text", str, max_len=32_000)
    if (why := unsafe_in_text(text)) is not None:
        raise InvalidStatement(why, field="body.text")
    lang = _require(body, "lang", str)
    # fullmatch: with match and $, "en\n" would pass.
    if not _LANG.fullmatch(lang):
        raise InvalidStatement("must be a language tag such as en or zh", field="body.lang")


def _receipt(body: Mapping[str, Any]) -> None:
    _only(body, {"ack"})
    acks = _require(body, "ack", list, max_len=MAX_RECEIPT_ACKS)
    if not acks:
        raise InvalidStatement("must acknowledge at least one statement", field="body.ack")
    for i, ack in enumerate(acks):
        where = f"body.ack[{i}]"
        if not isinstance(ack, dict) or set(ack) != {"id", "seq"}:
            raise InvalidStatement("must be an object with id and seq", field=where)
        if not isinstance(ack["id"], str) or not _HEX64.match(ack["id"]):
            raise InvalidStatement("must be a hex SHA-256", field=f"{where}.id")
        if not isinstance(ack["seq"], int) or isinstance(ack["seq"], bool) or ack["seq"] < 1:
            raise InvalidStatement("must be a positive integer", field=f"{where}.seq")


def _ack(body: Mapping[str, Any]) -> None:
    _only(body, {"message"})
    message = _require(body, "message", str)
    if not _HEX64.match(message):
        raise InvalidStatement("must be the hex SHA-256 id of a message", field="body.message")


def _heartbeat(body: Mapping[str, Any]) -> None:
    _only(body, {"nonce"})
    _require(body, "nonce", str, max_len=64)


#: The envelope's own kinds; :mod:`redline.core.registry` adds the hotline's.
RULES: dict[str, BodyRule] = {
    "message": _message,
    "receipt": _receipt,
    "ack": _ack,
    "heartbeat": _heartbeat,
}
