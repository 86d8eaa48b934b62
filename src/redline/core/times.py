"""The statement time format: RFC 3339 UTC with microseconds and ``Z``.

Fixed width, so stored times sort and compare as text on SQLite and
PostgreSQL alike. :mod:`redline.core.statement` re-exports both functions.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from redline.core.errors import InvalidStatement

__all__ = ["format_time", "parse_time"]

_TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")


def format_time(moment: datetime) -> str:
    """Format an aware datetime as RFC 3339 UTC with microseconds and ``Z``.

    Raises :class:`InvalidStatement` (field ``time``) for a naive datetime.
    """
    if moment.tzinfo is None:
        raise InvalidStatement("time must be timezone-aware", field="time")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str) -> datetime:
    """Parse the statement time format back to an aware UTC datetime.

    Raises :class:`InvalidStatement` (field ``time``) if it is not in that format.
    """
    if not _TIME_RE.match(text):
        raise InvalidStatement(
            "time must be RFC 3339 UTC as YYYY-MM-DDTHH:MM:SS.ffffffZ", field="time"
        )
    try:
        # The regex fixed the shape; fromisoformat (C, fast) checks the calendar.
        return datetime.fromisoformat(text)
    except ValueError as exc:
        raise InvalidStatement(f"time is not a real date: {text}", field="time") from exc
