"""Validation helpers shared by the hotline domain's constructors.

Every helper raises :class:`~redline.core.errors.InvalidInput` naming the
field, so a constructor that calls them refuses bad input the way h11's
``Request`` refuses a missing Host header: at construction, with the field
named.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import TypeVar

from redline.core import fields
from redline.core.errors import InvalidInput

__all__ = [
    "ID_PATTERN",
    "check_date",
    "check_enum",
    "check_id",
    "check_ids",
    "check_positive",
    "check_text",
    "check_utc",
]

#: Identifiers of parties, offices, mechanisms, requests and calls: short,
#: lower-case, safe in URLs and file names (the body models' ``Ident``).
ID_PATTERN = re.compile(fields.ID_PATTERN)

E = TypeVar("E", bound=StrEnum)


def check_id(value: object, field: str) -> str:
    """Return ``value`` if it is a well-formed identifier.

    Raises:
        InvalidInput: ``value`` is not a string matching :data:`ID_PATTERN`.
    """
    if not isinstance(value, str) or not ID_PATTERN.fullmatch(value):
        raise InvalidInput(
            f"must be a lower-case identifier (a-z, 0-9, '.', '_', '-'), got {value!r}",
            field=field,
        )
    return value


def check_ids(values: object, field: str, *, minimum: int = 0) -> tuple[str, ...]:
    """Return ``values`` as a tuple of distinct identifiers, at least ``minimum`` long.

    Raises:
        InvalidInput: not a tuple/list of identifiers, too short, or repeated ids.
    """
    if not isinstance(values, tuple | list):
        raise InvalidInput("must be a list of identifiers", field=field)
    ids = tuple(check_id(v, f"{field}[{i}]") for i, v in enumerate(values))
    if len(ids) < minimum:
        raise InvalidInput(f"needs at least {minimum} entries, got {len(ids)}", field=field)
    if len(set(ids)) != len(ids):
        raise InvalidInput(f"has repeated entries: {list(ids)}", field=field)
    return ids


def check_text(value: object, field: str, *, empty: bool = False, limit: int = 2000) -> str:
    """Return ``value`` if it is a string of at most ``limit`` characters.

    Leading or trailing white space is refused rather than silently stripped,
    so what is stored is exactly what was given.

    Raises:
        InvalidInput: not a string, blank when ``empty`` is false, padded, or too long.
    """
    if not isinstance(value, str):
        raise InvalidInput(f"must be text, got {type(value).__name__}", field=field)
    if not empty and not value.strip():
        raise InvalidInput("must not be empty", field=field)
    if value != value.strip():
        raise InvalidInput("must not start or end with white space", field=field)
    if len(value) > limit:
        raise InvalidInput(f"is longer than {limit} characters", field=field)
    return value


def check_utc(value: object, field: str) -> datetime:
    """Return ``value`` if it is an aware datetime in UTC.

    Raises:
        InvalidInput: not a datetime, naive, or not at UTC offset zero.
    """
    if not isinstance(value, datetime):
        raise InvalidInput(f"must be a datetime, got {type(value).__name__}", field=field)
    offset = value.utcoffset()
    if offset is None:
        raise InvalidInput("must be an aware datetime (UTC), got a naive one", field=field)
    if offset != timedelta(0):
        raise InvalidInput(f"must be in UTC, got offset {offset}", field=field)
    return value


def check_date(value: object, field: str) -> date:
    """Return ``value`` if it is a calendar date (and not a datetime).

    Raises:
        InvalidInput: not a :class:`datetime.date`, or a datetime.
    """
    if not isinstance(value, date) or isinstance(value, datetime):
        raise InvalidInput(f"must be a date, got {type(value).__name__}", field=field)
    return value


def check_positive(value: object, field: str) -> timedelta:
    """Return ``value`` if it is a timedelta greater than zero.

    Raises:
        InvalidInput: not a timedelta, or zero or negative.
    """
    if not isinstance(value, timedelta):
        raise InvalidInput(f"must be a duration, got {type(value).__name__}", field=field)
    if value <= timedelta(0):
        raise InvalidInput(f"must be positive, got {value}", field=field)
    return value


def check_enum(value: object, kind: type[E], field: str) -> E:
    """Return ``value`` as a member of ``kind``; plain strings are looked up by value.

    Raises:
        InvalidInput: ``value`` is not one of ``kind``'s values.
    """
    if isinstance(value, kind):
        return value
    if isinstance(value, str):
        try:
            return kind(value)
        except ValueError:
            pass
    allowed = ", ".join(m.value for m in kind)
    raise InvalidInput(f"must be one of {allowed}; got {value!r}", field=field)
