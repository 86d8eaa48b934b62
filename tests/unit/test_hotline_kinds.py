"""Each hotline statement kind's body rule: good bodies pass, bad ones are refused by field."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

import redline.core.hotline  # noqa: F401  (imports cleanly; the kinds are in core.registry)
from redline.core.errors import InvalidStatement
from redline.core.hotline import kinds as k
from redline.core.registry import KINDS, validate_body

T1 = "2026-11-23T13:00:00.000000Z"
T2 = "2026-11-23T14:00:00.000000Z"
WINDOW = {"start": T1, "end": T2}

GOOD: dict[str, dict[str, Any]] = {
    k.DIRECTORY: {
        "party": "us",
        "name_en": "United States",
        "name_zh": "美国",
        "time_zone": "America/New_York",
        "offices": [
            {
                "id": "us-secdef",
                "title_en": "SecDef",
                "title_zh": "国防部长",
                "level": "defence_minister",
                "seats": 1,
            }
        ],
        "holdings": [
            {
                "office": "us-secdef",
                "person_en": "Lloyd Austin",
                "person_zh": "奥斯汀",
                "start": "2021-01-22",
                "end": None,
            }
        ],
    },
    k.COUNTERPART: {"own_office": "us-secdef", "counterpart_office": "prc-cmc-vc"},
    k.MECHANISM_STATUS: {"mechanism": "dpct", "status": "suspended", "reason": "Pelosi visit"},
    k.REQUEST: {
        "id": "us-req-1",
        "from_office": "us-secdef",
        "to_office": "prc-mnd",
        "mechanism": "dtl",
        "mode": "call",
        "windows": [WINDOW],
        "deadline": T2,
        "agenda": ["Incident at sea"],
        "notes": [],
    },
    k.RESPONSE: {"request": "us-req-1", "action": "accept", "window": WINDOW},
    k.REQUEST_LAPSED: {"request": "us-req-1", "deadline": T2},
    k.CALL: {
        "id": "us-call-1",
        "from_office": "us-secdef",
        "to_office": "prc-mnd",
        "mechanism": "dtl",
        "mode": "video",
        "ring_timeout": 120,
    },
    k.CALL_EVENT: {"call": "us-call-1", "action": "decline", "reason": "Tense"},
    k.CALL_MISSED: {"call": "us-call-1"},
    k.CALL_MESSAGE: {"call": "us-call-1", "text": "收到", "lang": "zh"},
    k.READOUT: {"id": "r-1", "engagement": "us-call-1", "text": "Frank talks.", "lang": "en"},
    k.JOINT_SUMMARY: {"id": "j-1", "engagement": "us-call-1", "text": "Both spoke.", "lang": "en"},
    k.JOINT_SUMMARY_SIGN: {"summary": "j-1", "sha256": "ab" * 32},
}


def test_every_hotline_kind_is_registered_and_has_a_good_example() -> None:
    assert set(GOOD) == set(k.HOTLINE_KINDS)
    for kind, body in GOOD.items():
        assert kind in KINDS
        validate_body(kind, body)


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(body: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = body
        for p in parents:
            target = target[int(p)] if p.isdigit() else target[p]
        target[int(last) if last.isdigit() else last] = value

    return mutate


def _drop(name: str) -> Callable[[dict[str, Any]], None]:
    return lambda body: body.pop(name)


BAD = [
    (k.DIRECTORY, _set("offices.0.level", "admiral"), "body.offices[0].level"),
    (k.DIRECTORY, _set("offices.0.seats", 1.0), "body.offices[0].seats"),
    (k.DIRECTORY, _set("holdings.0.end", "2020-01-01"), "body.holdings[0].end"),
    (k.DIRECTORY, _set("holdings.0.start", "2021-02-30"), "body.holdings[0].start"),
    (k.DIRECTORY, _set("offices", []), "body.offices"),
    (k.DIRECTORY, _set("party", "US"), "body.party"),
    (k.DIRECTORY, _set("holdings.0.office", "prc-mnd"), "body.holdings[0].office"),
    (k.COUNTERPART, _set("counterpart_office", "us-secdef"), "body.counterpart_office"),
    (k.COUNTERPART, _set("extra", 1), "body.extra"),
    (k.MECHANISM_STATUS, _set("status", "paused"), "body.status"),
    (k.MECHANISM_STATUS, _set("reason", ""), "body.reason"),
    (k.MECHANISM_STATUS, _drop("mechanism"), "body.mechanism"),
    (k.REQUEST, _set("to_office", "us-secdef"), "body.to_office"),
    (k.REQUEST, _set("mode", "letter"), "body.mode"),
    (k.REQUEST, _set("windows", []), "body.windows"),
    (k.REQUEST, _set("windows.0.end", T1), "body.windows[0].end"),
    (k.REQUEST, _set("windows.0.start", "2026-11-23T13:00Z"), "body.windows[0].start"),
    (k.REQUEST, _set("deadline", 1700000000), "body.deadline"),
    (k.REQUEST, _set("agenda", [" padded "]), "body.agenda[0]"),
    (k.REQUEST, _set("id", "Has Spaces"), "body.id"),
    (k.RESPONSE, _set("action", "lapse"), "body.action"),
    (k.RESPONSE, _drop("window"), "body.window"),
    (k.RESPONSE, _set("action", "decline"), "body.reason"),
    (k.RESPONSE, _set("counter", {}), "body.counter"),
    (k.REQUEST_LAPSED, _set("deadline", "tomorrow"), "body.deadline"),
    (k.CALL, _set("ring_timeout", 0), "body.ring_timeout"),
    (k.CALL, _set("ring_timeout", 120.0), "body.ring_timeout"),
    (k.CALL, _set("ring_timeout", True), "body.ring_timeout"),
    (k.CALL, _set("mode", "meeting"), "body.mode"),
    (k.CALL, _set("from_office", "prc-mnd"), "body.to_office"),
    (k.CALL_EVENT, _set("action", "timeout"), "body.action"),
    (k.CALL_MISSED, _set("call", ""), "body.call"),
    (k.CALL_MESSAGE, _set("text", "   "), "body.text"),
    (k.CALL_MESSAGE, _set("lang", "Chinese"), "body.lang"),
    (k.READOUT, _drop("engagement"), "body.engagement"),
    (k.JOINT_SUMMARY, _set("text", "x" * 32_001), "body.text"),
    (k.JOINT_SUMMARY_SIGN, _set("sha256", "AB" * 32), "body.sha256"),
]


@pytest.mark.parametrize(("kind", "mutate", "field"), BAD)
def test_bad_bodies_are_refused_naming_the_field(
    kind: str, mutate: Callable[[dict[str, Any]], None], field: str
) -> None:
    body = copy.deepcopy(GOOD[kind])
    mutate(body)
    with pytest.raises(InvalidStatement) as info:
        validate_body(kind, body)
    assert info.value.field == field, str(info.value)


def test_a_counter_must_carry_its_proposal() -> None:
    body = {
        "request": "us-req-1",
        "action": "counter",
        "counter": {
            "id": "prc-req-1",
            "offered_office": "prc-mnd",
            "windows": [WINDOW],
            "deadline": T2,
        },
    }
    validate_body(k.RESPONSE, body)
    body["counter"]["windows"] = [{"start": T2, "end": T1}]  # type: ignore[index]
    with pytest.raises(InvalidStatement) as info:
        validate_body(k.RESPONSE, body)
    assert info.value.field == "body.counter.windows[0].end"
    with pytest.raises(InvalidStatement) as info:
        validate_body(
            k.RESPONSE, {"request": "r", "action": "decline", "reason": "x", "window": WINDOW}
        )
    assert info.value.field == "body.window"
