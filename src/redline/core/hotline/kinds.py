"""The statement kinds of the hotline, and the rule for each kind's body.

Every hotline act travels as a signed statement (DESIGN.md, "Statements and
the record"). These rules check a body's *shape* only: types, identifiers,
times, enumerations. Whether the act is legal now (a response before the
deadline, an answer while ringing) is the folds' business
(:mod:`redline.core.hotline.record`).

Bodies carry no floats: times are RFC 3339 UTC strings in the statement time
format (``YYYY-MM-DDTHH:MM:SS.ffffffZ``), dates ``YYYY-MM-DD``, durations
whole seconds. The acting party is never in the body: it is the statement's
signed ``from``.

:mod:`redline.core.registry` lists these rules beside the envelope's.
Every rule raises :class:`~redline.core.errors.InvalidStatement` naming
``body.<field>``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final

from redline.core.errors import InvalidStatement
from redline.core.hotline._checks import ID_PATTERN
from redline.core.hotline.calls import CallMode
from redline.core.hotline.directory import Level
from redline.core.hotline.lifecycle import CallAction, RequestAction
from redline.core.hotline.mechanism import MechanismStatus
from redline.core.hotline.requests import Mode
from redline.core.kinds import BodyRule
from redline.core.times import format_time, parse_time

__all__ = [
    "CALL",
    "CALL_EVENT",
    "CALL_EVENT_ACTIONS",
    "CALL_MESSAGE",
    "CALL_MISSED",
    "COUNTERPART",
    "DEFAULT_HORIZON",
    "DIRECTORY",
    "HOTLINE_KINDS",
    "JOINT_SUMMARY",
    "JOINT_SUMMARY_SIGN",
    "LATEST_TIME",
    "MAX_RING_TIMEOUT",
    "MECHANISM_STATUS",
    "READOUT",
    "REQUEST",
    "REQUEST_LAPSED",
    "RESPONSE",
    "RESPONSE_ACTIONS",
    "check_horizon",
]

DIRECTORY: Final = "directory"
COUNTERPART: Final = "counterpart"
MECHANISM_STATUS: Final = "mechanism-status"
REQUEST: Final = "request"
RESPONSE: Final = "response"
REQUEST_LAPSED: Final = "request-lapsed"
CALL: Final = "call"
CALL_EVENT: Final = "call-event"
CALL_MISSED: Final = "call-missed"
CALL_MESSAGE: Final = "call-message"
READOUT: Final = "readout"
JOINT_SUMMARY: Final = "joint-summary"
JOINT_SUMMARY_SIGN: Final = "joint-summary-sign"

#: What a response may do: every request action but a lapse (the requester's
#: ``request-lapsed`` records that).
RESPONSE_ACTIONS: Final = tuple(a.value for a in RequestAction if a is not RequestAction.LAPSE)
#: What a call event may do: every call action but a timeout (``call-missed``).
CALL_EVENT_ACTIONS: Final = tuple(a.value for a in CallAction if a is not CallAction.TIMEOUT)
MECHANISM_STATUSES: Final = tuple(s.value for s in MechanismStatus)
REQUEST_MODES: Final = tuple(m.value for m in Mode)
CALL_MODES: Final = tuple(m.value for m in CallMode)
#: A call rings at most a day; longer is a request, not a call.
MAX_RING_TIMEOUT: Final = 86_400
MAX_WINDOWS: Final = 20
#: How far past a statement's own signed time its body may name a time (a
#: window, a deadline) unless the node is configured otherwise: ten years.
DEFAULT_HORIZON: Final = timedelta(days=3653)
#: No body time may be later, whatever the horizon: two days before the end of
#: year 9999, so that the time read in any zone is still a date Python has.
LATEST_TIME: Final = datetime(9999, 12, 30, tzinfo=UTC)
MAX_ITEMS: Final = 50

_LANG = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


# -- field helpers -------------------------------------------------------------


def _only(body: Mapping[str, Any], allowed: set[str], where: str = "body") -> None:
    extra = sorted(set(body) - allowed)
    if extra:
        raise InvalidStatement("unknown field", field=f"{where}.{extra[0]}")


def _get(body: Mapping[str, Any], name: str, where: str) -> Any:
    if name not in body:
        raise InvalidStatement("required field is missing", field=f"{where}.{name}")
    return body[name]


def _ident(body: Mapping[str, Any], name: str, where: str = "body") -> str:
    value = _get(body, name, where)
    if not isinstance(value, str) or not ID_PATTERN.fullmatch(value):
        raise InvalidStatement(
            "must be a lower-case identifier (a-z, 0-9, '.', '_', '-'; at most 80)",
            field=f"{where}.{name}",
        )
    return value


def _text(
    body: Mapping[str, Any],
    name: str,
    where: str = "body",
    *,
    empty: bool = False,
    limit: int = 2000,
    required: bool = True,
) -> str:
    if not required and name not in body:
        return ""
    value = _get(body, name, where)
    field = f"{where}.{name}"
    if not isinstance(value, str):
        raise InvalidStatement("must be a string", field=field)
    if not empty and not value.strip():
        raise InvalidStatement("must not be empty", field=field)
    if value != value.strip():
        raise InvalidStatement("must not start or end with white space", field=field)
    if len(value) > limit:
        raise InvalidStatement(f"is longer than {limit} characters", field=field)
    return value


def _choice(
    body: Mapping[str, Any], name: str, allowed: tuple[str, ...], where: str = "body"
) -> str:
    value = _get(body, name, where)
    if value not in allowed:
        raise InvalidStatement(f"must be one of {', '.join(allowed)}", field=f"{where}.{name}")
    return str(value)


def _time(body: Mapping[str, Any], name: str, where: str = "body") -> str:
    value = _get(body, name, where)
    if not isinstance(value, str):
        raise InvalidStatement("must be an RFC 3339 UTC time string", field=f"{where}.{name}")
    try:
        parse_time(value)
    except InvalidStatement as exc:
        raise InvalidStatement(exc.message, field=f"{where}.{name}") from exc
    return value


def _day(value: Any, field: str) -> date:
    if not isinstance(value, str) or not _DAY.fullmatch(value):
        raise InvalidStatement("must be a date YYYY-MM-DD", field=field)
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise InvalidStatement(f"no such date {value!r}", field=field) from exc


def _list(
    body: Mapping[str, Any], name: str, where: str = "body", *, minimum: int = 0, limit: int
) -> list[Any]:
    value = _get(body, name, where)
    field = f"{where}.{name}"
    if not isinstance(value, list):
        raise InvalidStatement("must be a list", field=field)
    if len(value) < minimum:
        raise InvalidStatement(f"needs at least {minimum} entries", field=field)
    if len(value) > limit:
        raise InvalidStatement(f"has more than {limit} entries", field=field)
    return value


def _object(value: Any, field: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise InvalidStatement("must be an object", field=field)
    return value


def _texts(body: Mapping[str, Any], name: str) -> None:
    for i, item in enumerate(_list(body, name, limit=MAX_ITEMS)):
        # Checked as a one-field object so the error names body.<name>[i].
        _text({f"{name}[{i}]": item}, f"{name}[{i}]", limit=2000)


def _window(value: Any, field: str) -> None:
    window = _object(value, field)
    _only(window, {"start", "end"}, field)
    start = _time(window, "start", field)
    end = _time(window, "end", field)
    if parse_time(end) <= parse_time(start):
        raise InvalidStatement("end must be after start", field=f"{field}.end")


def _windows(body: Mapping[str, Any], name: str, where: str = "body") -> None:
    for i, w in enumerate(_list(body, name, where, minimum=1, limit=MAX_WINDOWS)):
        _window(w, f"{where}.{name}[{i}]")


def _lang(body: Mapping[str, Any]) -> None:
    lang = _get(body, "lang", "body")
    if not isinstance(lang, str) or not _LANG.match(lang):
        raise InvalidStatement("must be a language tag such as en or zh", field="body.lang")


def _positive_int(body: Mapping[str, Any], name: str, maximum: int) -> None:
    value = _get(body, name, "body")
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= maximum:
        raise InvalidStatement(
            f"must be a whole number of seconds from 1 to {maximum}", field=f"body.{name}"
        )


# -- the rules -----------------------------------------------------------------


def _directory(body: Mapping[str, Any]) -> None:
    _only(body, {"party", "name_en", "name_zh", "time_zone", "offices", "holdings"})
    party = _ident(body, "party")
    for name in ("name_en", "name_zh"):
        _text(body, name, limit=200)
    _text(body, "time_zone", limit=100)
    levels = tuple(level.value for level in Level)
    office_ids: set[str] = set()
    for i, raw in enumerate(_list(body, "offices", minimum=1, limit=200)):
        where = f"body.offices[{i}]"
        office = _object(raw, where)
        _only(office, {"id", "title_en", "title_zh", "level", "seats"}, where)
        office_id = _ident(office, "id", where)
        if not office_id.startswith(f"{party}-"):
            # Office ids are the party's own namespace: no party can take another's.
            raise InvalidStatement(f"must start with {party}-", field=f"{where}.id")
        office_ids.add(office_id)
        _text(office, "title_en", where, limit=300)
        _text(office, "title_zh", where, limit=300)
        _choice(office, "level", levels, where)
        seats = _get(office, "seats", where)
        if not isinstance(seats, int) or isinstance(seats, bool) or not 1 <= seats <= 100:
            raise InvalidStatement("must be a whole number from 1 to 100", field=f"{where}.seats")
    for i, raw in enumerate(_list(body, "holdings", limit=1000)):
        where = f"body.holdings[{i}]"
        holding = _object(raw, where)
        _only(holding, {"office", "person_en", "person_zh", "start", "end", "note"}, where)
        if _ident(holding, "office", where) not in office_ids:
            raise InvalidStatement(
                "a directory lists holders of its own offices only; not in body.offices",
                field=f"{where}.office",
            )
        _text(holding, "person_en", where, limit=200)
        _text(holding, "person_zh", where, limit=200)
        start = _day(_get(holding, "start", where), f"{where}.start")
        end = _get(holding, "end", where)
        if end is not None and _day(end, f"{where}.end") <= start:
            raise InvalidStatement("must be after start", field=f"{where}.end")
        _text(holding, "note", where, empty=True, required=False)


def _counterpart(body: Mapping[str, Any]) -> None:
    _only(body, {"own_office", "counterpart_office", "note"})
    own = _ident(body, "own_office")
    if _ident(body, "counterpart_office") == own:
        raise InvalidStatement(
            "an office is not its own counterpart", field="body.counterpart_office"
        )
    _text(body, "note", empty=True, required=False)


def _mechanism_status(body: Mapping[str, Any]) -> None:
    _only(body, {"mechanism", "status", "reason"})
    _ident(body, "mechanism")
    _choice(body, "status", MECHANISM_STATUSES)
    _text(body, "reason", limit=2000)


def _request(body: Mapping[str, Any]) -> None:
    _only(
        body,
        {
            "id",
            "from_office",
            "to_office",
            "mechanism",
            "mode",
            "windows",
            "deadline",
            "agenda",
            "notes",
            "in_reply_to",
        },
    )
    _ident(body, "id")
    if _ident(body, "from_office") == _ident(body, "to_office"):
        raise InvalidStatement("an office cannot ask itself", field="body.to_office")
    _ident(body, "mechanism")
    _choice(body, "mode", REQUEST_MODES)
    _windows(body, "windows")
    _time(body, "deadline")
    _texts(body, "agenda")
    _texts(body, "notes")
    if "in_reply_to" in body:
        _ident(body, "in_reply_to")


def _response(body: Mapping[str, Any]) -> None:
    _only(body, {"request", "action", "window", "reason", "counter"})
    _ident(body, "request")
    action = _choice(body, "action", RESPONSE_ACTIONS)
    _text(body, "reason", empty=action != "decline", required=action == "decline")
    if action == "accept":
        _window(_get(body, "window", "body"), "body.window")
    elif "window" in body:
        raise InvalidStatement("only an acceptance names a window", field="body.window")
    if action == "counter":
        where = "body.counter"
        counter = _object(_get(body, "counter", "body"), where)
        _only(counter, {"id", "offered_office", "to_office", "windows", "deadline", "note"}, where)
        _ident(counter, "id", where)
        _ident(counter, "offered_office", where)
        if "to_office" in counter:
            _ident(counter, "to_office", where)
        _windows(counter, "windows", where)
        _time(counter, "deadline", where)
        _text(counter, "note", where, empty=True, required=False)
    elif "counter" in body:
        raise InvalidStatement("only a counter carries a counter-proposal", field="body.counter")


def _request_lapsed(body: Mapping[str, Any]) -> None:
    _only(body, {"request", "deadline"})
    _ident(body, "request")
    _time(body, "deadline")


def _call(body: Mapping[str, Any]) -> None:
    _only(body, {"id", "from_office", "to_office", "mechanism", "mode", "purpose", "ring_timeout"})
    _ident(body, "id")
    if _ident(body, "from_office") == _ident(body, "to_office"):
        raise InvalidStatement("an office cannot call itself", field="body.to_office")
    _ident(body, "mechanism")
    _choice(body, "mode", CALL_MODES)
    _text(body, "purpose", empty=True, required=False)
    _positive_int(body, "ring_timeout", MAX_RING_TIMEOUT)


def _call_event(body: Mapping[str, Any]) -> None:
    _only(body, {"call", "action", "reason"})
    _ident(body, "call")
    _choice(body, "action", CALL_EVENT_ACTIONS)
    _text(body, "reason", empty=True, required=False)


def _call_missed(body: Mapping[str, Any]) -> None:
    _only(body, {"call"})
    _ident(body, "call")


def _call_message(body: Mapping[str, Any]) -> None:
    _only(body, {"call", "text", "lang"})
    _ident(body, "call")
    _text(body, "text", limit=32_000)
    _lang(body)


def _readout(body: Mapping[str, Any]) -> None:
    _only(body, {"id", "engagement", "text", "lang"})
    _ident(body, "id")
    _ident(body, "engagement")
    _text(body, "text", limit=32_000)
    _lang(body)


def _joint_summary_sign(body: Mapping[str, Any]) -> None:
    _only(body, {"summary", "sha256"})
    _ident(body, "summary")
    digest = _get(body, "sha256", "body")
    if not isinstance(digest, str) or not _HEX64.fullmatch(digest):
        raise InvalidStatement("must be the hex SHA-256 of the summary text", field="body.sha256")


# -- times bounded: how far ahead a body may look ---------------------------------------


def _window_times(value: Any, where: str) -> Iterator[tuple[str, Any]]:
    if isinstance(value, Mapping):
        for end in ("start", "end"):
            yield f"{where}.{end}", value.get(end)


def _body_times(kind: str, body: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
    """Each time a body of ``kind`` names, with its field. Tolerates a body the
    shape rules have not seen yet (what is malformed is theirs to name)."""
    proposals: list[tuple[str, Any]] = []
    if kind == REQUEST:
        proposals.append(("body", body))
    elif kind == RESPONSE:
        yield from _window_times(body.get("window"), "body.window")
        if isinstance(counter := body.get("counter"), Mapping):
            proposals.append(("body.counter", counter))
    elif kind == REQUEST_LAPSED:
        yield "body.deadline", body.get("deadline")
    for where, proposal in proposals:
        windows = proposal.get("windows")
        for i, window in enumerate(windows if isinstance(windows, list) else ()):
            yield from _window_times(window, f"{where}.windows[{i}]")
        yield f"{where}.deadline", proposal.get("deadline")


def check_horizon(
    kind: str,
    body: Mapping[str, Any],
    *,
    signed_at: datetime,
    horizon: timedelta = DEFAULT_HORIZON,
) -> None:
    """Refuse a body that names a time more than ``horizon`` after ``signed_at``
    (the statement's own signed time), or at or after :data:`LATEST_TIME`.

    The shape rules cannot check this: they see the body only, not the
    envelope's time. A window or deadline in year 9999 made every view of
    the board overflow when it read the time in a party's zone.

    Raises:
        InvalidStatement: naming the field (``body.windows[0].start``,
            ``body.deadline``, ``body.counter.deadline``, ...).
    """
    try:
        limit = min(signed_at + horizon, LATEST_TIME)
    except OverflowError:  # a horizon of millennia: the fixed ceiling holds
        limit = LATEST_TIME
    for field, value in _body_times(kind, body):
        if not isinstance(value, str):
            continue
        try:
            moment = parse_time(value)
        except InvalidStatement:
            continue  # malformed: the shape rule names it
        if moment > limit:
            raise InvalidStatement(
                f"{value} is too far ahead: a statement signed at {format_time(signed_at)} "
                f"may name times up to {format_time(limit)}",
                field=field,
            )


RULES: Final[dict[str, BodyRule]] = {
    DIRECTORY: _directory,
    COUNTERPART: _counterpart,
    MECHANISM_STATUS: _mechanism_status,
    REQUEST: _request,
    RESPONSE: _response,
    REQUEST_LAPSED: _request_lapsed,
    CALL: _call,
    CALL_EVENT: _call_event,
    CALL_MISSED: _call_missed,
    CALL_MESSAGE: _call_message,
    READOUT: _readout,
    JOINT_SUMMARY: _readout,
    JOINT_SUMMARY_SIGN: _joint_summary_sign,
}

#: Every hotline statement kind, in the order the record folds them.
HOTLINE_KINDS: Final = tuple(RULES)
