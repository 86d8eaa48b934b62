"""The field types of statement bodies, the base body model, and its one error adapter.

Every statement body is one frozen pydantic model (:mod:`redline.core.bodies`
for the envelope's kinds, :mod:`redline.core.hotline.bodies` for the
hotline's). The types here are the words those models are written in: an
identifier, a time, a language tag, a bounded text. The operator API declares
its inputs with the same types, so its OpenAPI schema carries the same
patterns and limits as the wire.

A body is validated once, when its :class:`~redline.core.statement.Statement`
is built; :meth:`Body.parse` turns pydantic's :class:`~pydantic.ValidationError`
into :class:`~redline.core.errors.InvalidStatement` naming the field the way the
rest of Redline does (``body.windows[0].start``) with a message meant for
people, not pydantic's type names.

Wire bytes do not change: a model keeps each value as it was on the wire
(times and dates stay strings, enumerations are ``StrEnum`` members whose
values are the wire values), and :meth:`Body.wire` gives back exactly the
object that was validated (``exclude_unset``: a field that was absent stays
absent).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Annotated, Any, Final, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
)
from pydantic_core import PydanticCustomError

from redline.core.errors import InvalidStatement
from redline.core.text import is_blank, unsafe_in_line, unsafe_in_text
from redline.core.times import parse_time

__all__ = [
    "DAY_PATTERN",
    "HEX64_PATTERN",
    "ID_PATTERN",
    "LANG_PATTERN",
    "TIME_PATTERN",
    "ActedBy",
    "Body",
    "Day",
    "Hex64",
    "Ident",
    "Lang",
    "Line",
    "Time",
    "SafeText",
    "Trimmed",
    "TrimmedLine",
    "TrimmedOrEmpty",
    "field_error",
    "invalid_statement",
]

#: Identifiers of parties' offices, mechanisms, requests, calls: short,
#: lower-case, safe in URLs and file names.
ID_PATTERN: Final = r"^[a-z0-9][a-z0-9._-]{0,79}$"
#: A language tag such as ``en``, ``zh`` or ``zh-Hans`` (the subset Redline writes).
LANG_PATTERN: Final = r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$"
HEX64_PATTERN: Final = r"^[0-9a-f]{64}$"
#: The statement time format (:mod:`redline.core.times`).
TIME_PATTERN: Final = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$"
DAY_PATTERN: Final = r"^\d{4}-\d{2}-\d{2}$"

#: What a failed pattern means, said for people.
_PATTERN_MESSAGES: Final = {
    ID_PATTERN: "must be a lower-case identifier (a-z, 0-9, '.', '_', '-'; at most 80)",
    LANG_PATTERN: "must be a language tag such as en or zh",
    HEX64_PATTERN: "must be a hex SHA-256 (64 lower-case hex digits)",
    TIME_PATTERN: "time must be RFC 3339 UTC as YYYY-MM-DDTHH:MM:SS.ffffffZ",
    DAY_PATTERN: "must be a date YYYY-MM-DD",
}


def field_error(message: str, field: str | None = None) -> PydanticCustomError:
    """An error for a validator to raise: ``message`` for people, and optionally
    the name of the sub-field it is about (a model validator that refuses
    ``end`` raises ``field_error("end must be after start", "end")``, and the
    error is reported at ``<model>.end``). Raises nothing itself."""
    return PydanticCustomError("redline", message, {"field": field} if field else None)


def _time(value: str) -> str:
    try:
        parse_time(value)
    except InvalidStatement as exc:
        raise field_error(exc.message) from None
    return value


def _day(value: str) -> str:
    try:
        date.fromisoformat(value)
    except ValueError:
        raise field_error(f"no such date {value}") from None
    return value


def _trimmed(value: str) -> str:
    if is_blank(value):  # empty, white space, or only characters that show nothing
        raise field_error("must not be empty")
    if value != value.strip():
        raise field_error("must not start or end with white space")
    return value


def _trimmed_or_empty(value: str) -> str:
    if value and is_blank(value):
        raise field_error("shows nothing (only invisible characters); leave it empty instead")
    if value != value.strip():
        raise field_error("must not start or end with white space")
    return value


def _safe_line(value: str) -> str:
    # Printed to the other party's operator: nothing in it may steer a terminal
    # or reorder what is read (core/text.py).
    if (why := unsafe_in_line(value)) is not None:
        raise field_error(why)
    if is_blank(value):
        raise field_error("must not be blank")
    return value


def _safe_text(value: str) -> str:
    if (why := unsafe_in_text(value)) is not None:
        raise field_error(why)
    return value


Ident = Annotated[str, StringConstraints(pattern=ID_PATTERN)]
Lang = Annotated[str, StringConstraints(pattern=LANG_PATTERN)]
Hex64 = Annotated[str, StringConstraints(pattern=HEX64_PATTERN)]
#: A time in the statement time format, kept as its wire string.
Time = Annotated[str, StringConstraints(pattern=TIME_PATTERN), AfterValidator(_time)]
#: A calendar date ``YYYY-MM-DD``, kept as its wire string.
Day = Annotated[str, StringConstraints(pattern=DAY_PATTERN), AfterValidator(_day)]
#: One line people read (a subject): no control characters, not blank.
Line = Annotated[str, AfterValidator(_safe_line)]


#: A text people read, not padded with white space and not blank: newlines
#: and tabs allowed, other controls and bidirectional overrides not (limits
#: are set where used).
Trimmed = Annotated[str, Field(min_length=1), AfterValidator(_trimmed), AfterValidator(_safe_text)]
#: The same, possibly empty.
TrimmedOrEmpty = Annotated[str, AfterValidator(_trimmed_or_empty), AfterValidator(_safe_text)]
#: One trimmed line people read (a title, a name): no control character at all.
TrimmedLine = Annotated[
    str, Field(min_length=1), AfterValidator(_trimmed), AfterValidator(_safe_line)
]


#: Message text people read: newlines and tabs allowed, other controls not.
SafeText = Annotated[str, AfterValidator(_safe_text)]


class Body(BaseModel):
    """Base of every statement body model: frozen, strict, no unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    @classmethod
    def parse(cls, body: Mapping[str, Any]) -> Self:
        """Validate a wire body and return it as this model.

        Raises:
            InvalidStatement: naming the first bad field (``body.<path>``).
        """
        try:
            return cls.model_validate(body)
        except ValidationError as exc:
            raise invalid_statement(exc) from None

    def wire(self) -> dict[str, Any]:
        """The body as it goes on the wire: exactly the fields that were given."""
        return self.model_dump(mode="json", exclude_unset=True)


class ActedBy(Body):
    """Who caused a statement (issue 10): the operator's name and, when they
    acted for one, the office. Absent from a node's automatic acts."""

    operator: Annotated[TrimmedLine, Field(max_length=64)]
    office: Ident | None = None


def _path(loc: tuple[int | str, ...], prefix: str) -> str:
    path = prefix
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}" if path else part
    return path


def _message(error: Mapping[str, Any]) -> str:
    kind = error["type"]
    ctx = error.get("ctx") or {}
    if kind == "missing":
        return "required field is missing"
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "string_type":
        return "must be a string"
    if kind in ("int_type", "int_parsing"):
        return "must be a whole number"
    if kind in ("list_type", "tuple_type"):
        return "must be a list"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return "must be an object"
    if kind == "string_pattern_mismatch":
        return _PATTERN_MESSAGES.get(str(ctx.get("pattern")), "is not in the expected form")
    if kind == "string_too_long":
        return f"is longer than {ctx['max_length']} characters"
    if kind == "string_too_short":
        return "must not be empty"
    if kind == "too_short":
        return f"needs at least {ctx['min_length']} entries"
    if kind == "too_long":
        return f"has more than {ctx['max_length']} entries"
    if kind == "enum":
        return f"must be one of {str(ctx.get('expected', '')).replace(chr(39), '')}"
    if kind == "greater_than_equal":
        return f"must be at least {ctx['ge']}"
    if kind == "less_than_equal":
        return f"must be at most {ctx['le']}"
    return str(error["msg"])


def invalid_statement(exc: ValidationError, prefix: str = "body") -> InvalidStatement:
    """The :class:`InvalidStatement` for the first error pydantic found: its
    ``field`` is the path (``body.offices[2].id``), its message says what is
    wrong in plain words. Raises nothing."""
    error = exc.errors(include_url=False, include_input=False)[0]
    loc: tuple[int | str, ...] = tuple(error["loc"])
    ctx = error.get("ctx") or {}
    if error["type"] == "redline" and ctx.get("field"):
        loc = (*loc, str(ctx["field"]))
    return InvalidStatement(_message(error), field=_path(loc, prefix))
