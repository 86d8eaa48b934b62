"""The body of each hotline statement kind: one frozen, strict pydantic model each.

A body is validated once, when its statement is built
(:class:`~redline.core.statement.Statement`), and the model is what the
service, the folds and the views read. These models check a body's *shape*:
types, identifiers, times, enumerations, and the rules that tie one field to
another (an office cannot ask itself; only an acceptance names a window).
Whether the act is legal now (a response before the deadline, an answer while
ringing) is the folds' business (:mod:`redline.core.hotline.record`).

Bodies carry no floats: times are RFC 3339 UTC strings in the statement time
format (``YYYY-MM-DDTHH:MM:SS.ffffffZ``), dates ``YYYY-MM-DD``, durations
whole seconds; each stays the string it was on the wire, so a model gives
back exactly the body that was signed (:meth:`~redline.core.fields.Body.wire`).

Titles and names of people are maps of language tag to text (``{"en": ...,
"zh": ...}``). Directories signed before that (``title_en``/``title_zh``,
``person_en``/``person_zh``) are still read: their bytes are signed and stay
as they are, and the model exposes the same map for them.
"""

from __future__ import annotations

from typing import Annotated, Any, Final, Self

from pydantic import AfterValidator, Field, model_validator

from redline.core.fields import (
    ActedBy,
    Body,
    Day,
    Hex64,
    Ident,
    Lang,
    Time,
    Trimmed,
    TrimmedLine,
    TrimmedOrEmpty,
    field_error,
)
from redline.core.hotline import kinds as k
from redline.core.hotline.calls import CallMode
from redline.core.hotline.directory import Level, in_language
from redline.core.hotline.lifecycle import CallAction, RequestAction
from redline.core.hotline.mechanism import MechanismStatus
from redline.core.hotline.requests import Mode
from redline.core.times import parse_time

__all__ = [
    "HOTLINE_BODIES",
    "CallBody",
    "CallEventBody",
    "CallMessageBody",
    "CallMissedBody",
    "CounterProposal",
    "CounterpartBody",
    "DirectoryBody",
    "Holding",
    "JointSummarySignBody",
    "MechanismStatusBody",
    "Name",
    "Names",
    "Office",
    "ReadoutBody",
    "RequestBody",
    "RequestLapsedBody",
    "ResponseBody",
    "LongText",
    "OptionalText",
    "Text",
    "Title",
    "Titles",
    "WindowBody",
]

# Every text here is read by the other party's operators: names, titles and
# zones are single lines; reasons, agendas, notes and conversation may hold
# newlines and tabs; none may hold another control character or a
# bidirectional override, or be made of invisible characters (core/text.py).
Text = Annotated[Trimmed, Field(max_length=2000)]
OptionalText = Annotated[TrimmedOrEmpty, Field(max_length=2000)]
LongText = Annotated[Trimmed, Field(max_length=32_000)]
Title = Annotated[TrimmedLine, Field(max_length=300)]
Name = Annotated[TrimmedLine, Field(max_length=200)]
Zone = Annotated[TrimmedLine, Field(max_length=100)]


def _not_lapse(action: RequestAction) -> RequestAction:
    # A lapse is the requester's own statement (request-lapsed), never a response.
    if action is RequestAction.LAPSE:
        raise field_error(f"must be one of {', '.join(k.RESPONSE_ACTIONS)}")
    return action


def _not_timeout(action: CallAction) -> CallAction:
    # A timeout is recorded as call-missed, never as a call event.
    if action is CallAction.TIMEOUT:
        raise field_error(f"must be one of {', '.join(k.CALL_EVENT_ACTIONS)}")
    return action


# Enumerations are read from their wire values (lax); everything else strictly.
ResponseAction = Annotated[RequestAction, Field(strict=False), AfterValidator(_not_lapse)]
CallEventAction = Annotated[CallAction, Field(strict=False), AfterValidator(_not_timeout)]
#: Text in several languages: language tag → text, at least one entry.
#: (In JSON Schema, keys that are not language tags are refused outright.)
_ONLY_TAGS: Final[dict[str, Any]] = {"additionalProperties": False}
Titles = Annotated[
    dict[Lang, Title], Field(min_length=1, max_length=20, json_schema_extra=_ONLY_TAGS)
]
Names = Annotated[
    dict[Lang, Name], Field(min_length=1, max_length=20, json_schema_extra=_ONLY_TAGS)
]


def _legacy_map(model: Body, name: str, data: dict[str, Any]) -> None:
    """Give a model signed in the two-language shape (``<name>_en``/``<name>_zh``)
    the map it would carry today. The signed fields stay as they were (and stay
    the only ones :meth:`~redline.core.fields.Body.wire` writes)."""
    plural = "titles" if name == "title" else name
    en, zh = data.get(f"{name}_en"), data.get(f"{name}_zh")
    if data.get(plural) is not None:
        if en is not None or zh is not None:
            raise field_error(f"give {plural} or {name}_en and {name}_zh, not both", plural)
        return
    if en is None and zh is None:
        raise field_error("required field is missing", plural)
    if en is None or zh is None:
        raise field_error("required field is missing", f"{name}_{'en' if en is None else 'zh'}")
    object.__setattr__(model, plural, {"en": en, "zh": zh})


class Office(Body):
    """An office a party lists: its titles by language, its level, its seats."""

    id: Ident
    titles: Titles | None = None
    title_en: Title | None = None  # the shape signed before titles were a map
    title_zh: Title | None = None
    level: Annotated[Level, Field(strict=False)]
    seats: Annotated[int, Field(ge=1, le=100)]

    @model_validator(mode="after")
    def _one_shape_of_titles(self) -> Self:
        _legacy_map(self, "title", self.__dict__)
        return self

    def title(self, lang: str) -> str:
        """The title in ``lang``, else in English, else the first given. Raises nothing."""
        return in_language(self.titles or {}, lang)


class Holding(Body):
    """Who held one of the party's offices, from ``start`` to ``end`` (open if None)."""

    office: Ident
    person: Names | None = None
    person_en: Name | None = None  # the shape signed before names were a map
    person_zh: Name | None = None
    start: Day
    end: Day | None
    note: OptionalText = ""

    @model_validator(mode="after")
    def _check(self) -> Self:
        _legacy_map(self, "person", self.__dict__)
        if self.end is not None and self.end <= self.start:  # ISO dates sort as text
            raise field_error("must be after start", "end")
        return self

    def name(self, lang: str) -> str:
        """The holder's name in ``lang``, else in English, else the first given."""
        return in_language(self.person or {}, lang)


class DirectoryBody(Body):
    """A party's directory: its names, time zone, offices and who holds them."""

    party: Ident
    name_en: Name
    name_zh: Name
    time_zone: Zone
    offices: Annotated[list[Office], Field(min_length=1, max_length=200)]
    holdings: Annotated[list[Holding], Field(max_length=1000)]
    #: The operator (and office) who caused it; absent from automatic acts.
    by: ActedBy | None = None

    @model_validator(mode="after")
    def _own_offices(self) -> Self:
        ids: set[str] = set()
        for i, office in enumerate(self.offices):
            if not office.id.startswith(f"{self.party}-"):
                # Office ids are the party's own namespace: no party can take another's.
                raise field_error(f"must start with {self.party}-", f"offices[{i}].id")
            ids.add(office.id)
        for i, holding in enumerate(self.holdings):
            if holding.office not in ids:
                raise field_error(
                    "a directory lists holders of its own offices only; not in body.offices",
                    f"holdings[{i}].office",
                )
        return self


class CounterpartBody(Body):
    """A party's declaration of which office it deals with for one of its own."""

    own_office: Ident
    counterpart_office: Ident
    note: OptionalText = ""
    #: The operator (and office) who caused it; absent from automatic acts.
    by: ActedBy | None = None

    @model_validator(mode="after")
    def _not_itself(self) -> Self:
        if self.counterpart_office == self.own_office:
            raise field_error("an office is not its own counterpart", "counterpart_office")
        return self


class MechanismStatusBody(Body):
    """One participant's status in a mechanism, and why."""

    mechanism: Ident
    status: Annotated[MechanismStatus, Field(strict=False)]
    reason: Text
    #: The operator (and office) who caused it; absent from automatic acts.
    by: ActedBy | None = None


class WindowBody(Body):
    """A time window: ``end`` after ``start``."""

    start: Time
    end: Time

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if parse_time(self.end) <= parse_time(self.start):
            raise field_error("end must be after start", "end")
        return self


Windows = Annotated[list[WindowBody], Field(min_length=1, max_length=k.MAX_WINDOWS)]
Items = Annotated[list[Text], Field(max_length=k.MAX_ITEMS)]


class RequestBody(Body):
    """A request for an engagement between two offices, answered by ``deadline``."""

    id: Ident
    from_office: Ident
    to_office: Ident
    mechanism: Ident
    mode: Annotated[Mode, Field(strict=False)]
    windows: Windows
    deadline: Time
    agenda: Items
    notes: Items
    in_reply_to: Ident | None = None
    #: The operator (and office) who caused it; absent from automatic acts.
    by: ActedBy | None = None

    @model_validator(mode="after")
    def _two_offices(self) -> Self:
        if self.to_office == self.from_office:
            raise field_error("an office cannot ask itself", "to_office")
        return self


class CounterProposal(Body):
    """What a counter offers instead: another office, windows, a deadline."""

    id: Ident
    offered_office: Ident
    to_office: Ident | None = None
    windows: Windows
    deadline: Time
    note: OptionalText = ""


class ResponseBody(Body):
    """The answer to a request: accept (a window), decline (a reason) or counter."""

    request: Ident
    action: ResponseAction
    window: WindowBody | None = None
    reason: OptionalText | None = None
    counter: CounterProposal | None = None
    #: The operator (and office) who caused it; absent from automatic acts.
    by: ActedBy | None = None

    @model_validator(mode="before")
    @classmethod
    def _only_what_the_action_carries(cls, data: Any) -> Any:
        # Named before the parts are checked: a window on a decline is wrong
        # whatever the window says.
        if isinstance(data, dict):
            action = data.get("action")
            if action not in k.RESPONSE_ACTIONS:
                return data  # the action's own check names it
            if action == RequestAction.DECLINE and data.get("reason") in (None, ""):
                raise field_error("a decline gives its reason", "reason")
            if "window" in data and action != RequestAction.ACCEPT:
                raise field_error("only an acceptance names a window", "window")
            if "counter" in data and action != RequestAction.COUNTER:
                raise field_error("only a counter carries a counter-proposal", "counter")
        return data

    @model_validator(mode="after")
    def _what_the_action_needs(self) -> Self:
        if self.action is RequestAction.ACCEPT and self.window is None:
            raise field_error("required field is missing", "window")
        if self.action is RequestAction.COUNTER and self.counter is None:
            raise field_error("required field is missing", "counter")
        if self.action is RequestAction.DECLINE and not self.reason:
            raise field_error("a decline gives its reason", "reason")
        return self


class RequestLapsedBody(Body):
    """The requester's record that a request's deadline passed unanswered."""

    request: Ident
    deadline: Time


class CallBody(Body):
    """A call placed from one office to another, ringing at most ``ring_timeout`` seconds."""

    id: Ident
    from_office: Ident
    to_office: Ident
    mechanism: Ident
    mode: Annotated[CallMode, Field(strict=False)]
    purpose: OptionalText = ""
    ring_timeout: Annotated[int, Field(ge=1, le=k.MAX_RING_TIMEOUT)]
    #: The operator (and office) who caused it; absent from automatic acts.
    by: ActedBy | None = None

    @model_validator(mode="after")
    def _two_offices(self) -> Self:
        if self.to_office == self.from_office:
            raise field_error("an office cannot call itself", "to_office")
        return self


class CallEventBody(Body):
    """An answer, decline or end of a call."""

    call: Ident
    action: CallEventAction
    reason: OptionalText = ""
    #: The operator (and office) who caused it; absent from automatic acts.
    by: ActedBy | None = None


class CallMissedBody(Body):
    """The caller's record that a call rang out."""

    call: Ident


class CallMessageBody(Body):
    """A line of text in a call."""

    call: Ident
    text: LongText
    lang: Lang
    #: The operator (and office) who caused it; absent from automatic acts.
    by: ActedBy | None = None


class ReadoutBody(Body):
    """A party's readout of an engagement (also the text of a joint summary)."""

    id: Ident
    engagement: Ident
    text: LongText
    lang: Lang
    #: The operator (and office) who caused it; absent from automatic acts.
    by: ActedBy | None = None


class JointSummarySignBody(Body):
    """A co-signature of a joint summary: the SHA-256 of its text."""

    summary: Ident
    #: The operator (and office) who caused it; absent from automatic acts.
    by: ActedBy | None = None
    sha256: Hex64


#: Every hotline kind's body model, in the order the record folds them
#: (:data:`~redline.core.hotline.kinds.HOTLINE_KINDS`).
HOTLINE_BODIES: Final[dict[str, type[Body]]] = {
    k.DIRECTORY: DirectoryBody,
    k.COUNTERPART: CounterpartBody,
    k.MECHANISM_STATUS: MechanismStatusBody,
    k.REQUEST: RequestBody,
    k.RESPONSE: ResponseBody,
    k.REQUEST_LAPSED: RequestLapsedBody,
    k.CALL: CallBody,
    k.CALL_EVENT: CallEventBody,
    k.CALL_MISSED: CallMissedBody,
    k.CALL_MESSAGE: CallMessageBody,
    k.READOUT: ReadoutBody,
    k.JOINT_SUMMARY: ReadoutBody,
    k.JOINT_SUMMARY_SIGN: JointSummarySignBody,
}
