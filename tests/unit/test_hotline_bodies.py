"""Each body model: a good body round-trips to the same canonical bytes, a bad
field is named, and the directory's two shapes of titles read the same."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from test_hotline_kinds import GOOD, T1, T2, WINDOW

from redline.core.bodies import MessageBody, ReceiptBody
from redline.core.canonical import canonical_json
from redline.core.errors import InvalidStatement
from redline.core.hotline import kinds as k
from redline.core.hotline.bodies import (
    HOTLINE_BODIES,
    DirectoryBody,
    Holding,
    Office,
    RequestBody,
    ResponseBody,
)
from redline.core.hotline.directory import Level
from redline.core.hotline.lifecycle import RequestAction
from redline.core.hotline.requests import Mode
from redline.core.registry import BODIES, validate_body
from support.linktests import LINK_TEST_KINDS_GOOD
from support.media import MEDIA_KINDS_GOOD
from support.messaging import MESSAGING_KINDS_GOOD
from support.notices import NOTICE_KINDS_GOOD

NEW_DIRECTORY: dict[str, Any] = {
    "party": "us",
    "name_en": "United States",
    "name_zh": "美国",
    "time_zone": "America/New_York",
    "offices": [
        {
            "id": "us-secdef",
            "titles": {"en": "SecDef", "zh": "国防部长", "fr": "Secrétaire à la Défense"},
            "level": "defence_minister",
            "seats": 1,
        }
    ],
    "holdings": [
        {
            "office": "us-secdef",
            "person": {"en": "Lloyd Austin", "zh": "奥斯汀"},
            "start": "2021-01-22",
            "end": None,
            "note": "",
        }
    ],
}

ENVELOPE_GOOD: dict[str, dict[str, Any]] = {
    "message": {"precedence": "flash", "subject": "Status", "text": "Line\n", "lang": "en"},
    "receipt": {"ack": [{"id": "ab" * 32, "seq": 1}, {"id": "cd" * 32, "seq": 2}]},
    "ack": {"message": "ef" * 32},
    "heartbeat": {"nonce": "n-1"},
}


def _every_good_body() -> list[tuple[str, dict[str, Any]]]:
    bodies = [*GOOD.items(), *ENVELOPE_GOOD.items(), (k.DIRECTORY, NEW_DIRECTORY)]
    bodies += NOTICE_KINDS_GOOD.items()
    bodies += MESSAGING_KINDS_GOOD.items()
    bodies += LINK_TEST_KINDS_GOOD.items()
    bodies += MEDIA_KINDS_GOOD.items()
    counter = {
        "request": "us-req-1",
        "action": "counter",
        "counter": {
            "id": "prc-req-1",
            "offered_office": "prc-mnd",
            "to_office": "us-secdef",
            "windows": [WINDOW],
            "deadline": T2,
            "note": "Later",
        },
    }
    bodies.append((k.RESPONSE, counter))
    bodies.append((k.RESPONSE, {"request": "us-req-1", "action": "decline", "reason": "No"}))
    return bodies


def test_every_kind_has_a_model() -> None:
    assert set(HOTLINE_BODIES) == set(k.HOTLINE_KINDS)
    assert set(BODIES) == (
        set(k.HOTLINE_KINDS)
        | set(ENVELOPE_GOOD)
        | set(NOTICE_KINDS_GOOD)
        | set(MESSAGING_KINDS_GOOD)
        | set(LINK_TEST_KINDS_GOOD)
        | set(MEDIA_KINDS_GOOD)
    )


@pytest.mark.parametrize(("kind", "body"), _every_good_body())
def test_a_good_body_round_trips_to_the_same_canonical_bytes(
    kind: str, body: dict[str, Any]
) -> None:
    model = validate_body(kind, copy.deepcopy(body))
    assert isinstance(model, BODIES[kind])
    assert model.wire() == body
    assert canonical_json(model.wire()) == canonical_json(body)


def test_the_model_is_typed() -> None:
    request = validate_body(k.REQUEST, GOOD[k.REQUEST])
    assert isinstance(request, RequestBody)
    assert request.mode is Mode.CALL
    assert request.windows[0].start == T1
    response = validate_body(k.RESPONSE, GOOD[k.RESPONSE])
    assert isinstance(response, ResponseBody)
    assert response.action is RequestAction.ACCEPT


def test_a_model_is_frozen() -> None:
    model = validate_body(k.CALL_MISSED, {"call": "us-call-1"})
    with pytest.raises(ValueError, match="frozen"):
        model.call = "other"  # type: ignore[attr-defined]


def test_the_legacy_directory_shape_yields_the_same_maps() -> None:
    legacy = validate_body(k.DIRECTORY, GOOD[k.DIRECTORY])
    assert isinstance(legacy, DirectoryBody)
    office, holding = legacy.offices[0], legacy.holdings[0]
    assert office.titles == {"en": "SecDef", "zh": "国防部长"}
    assert holding.person == {"en": "Lloyd Austin", "zh": "奥斯汀"}
    assert office.level is Level.DEFENCE_MINISTER
    # The signed fields stay the only ones written back.
    assert legacy.wire() == GOOD[k.DIRECTORY]
    assert "titles" not in legacy.wire()["offices"][0]


def test_a_title_in_the_viewers_language_with_fallback() -> None:
    office = Office.model_validate(NEW_DIRECTORY["offices"][0])
    assert office.title("zh") == "国防部长"
    assert office.title("zh-Hans") == "国防部长"
    assert office.title("fr") == "Secrétaire à la Défense"
    assert office.title("ru") == "SecDef"
    holding = Holding.model_validate({**NEW_DIRECTORY["holdings"][0], "person": {"zh": "奥斯汀"}})
    assert holding.name("en") == "奥斯汀"


def _office(**fields: Any) -> dict[str, Any]:
    office = {"id": "us-secdef", "level": "policy", "seats": 1}
    office.update(fields)
    return {**NEW_DIRECTORY, "offices": [office], "holdings": []}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (_office(), "body.offices[0].titles"),
        (_office(titles={}), "body.offices[0].titles"),
        (_office(titles={"en": " padded"}), "body.offices[0].titles.en"),
        (_office(titles={"en": "x" * 301}), "body.offices[0].titles.en"),
        (_office(titles={"en": "A", "zh": 3}), "body.offices[0].titles.zh"),
        (_office(titles={"en": "A"}, title_en="A", title_zh="B"), "body.offices[0].titles"),
        (_office(title_en="A"), "body.offices[0].title_zh"),
        (_office(title_zh="B"), "body.offices[0].title_en"),
        (_office(titles={"en": "A"}, extra=1), "body.offices[0].extra"),
    ],
)
def test_bad_titles_are_named(body: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidStatement) as info:
        validate_body(k.DIRECTORY, body)
    assert info.value.field == field, str(info.value)


def test_a_bad_language_tag_in_a_map_is_refused() -> None:
    with pytest.raises(InvalidStatement) as info:
        validate_body(k.DIRECTORY, _office(titles={"English": "A"}))
    assert (info.value.field or "").startswith("body.offices[0].titles")
    assert "language tag" in info.value.message


def test_a_holder_names_in_one_shape_or_the_other() -> None:
    holding = {"office": "us-secdef", "start": "2021-01-22", "end": None}
    body = copy.deepcopy(NEW_DIRECTORY)
    body["holdings"] = [{**holding, "person": {"en": "A"}, "person_en": "A", "person_zh": "B"}]
    with pytest.raises(InvalidStatement) as info:
        validate_body(k.DIRECTORY, body)
    assert info.value.field == "body.holdings[0].person"
    body["holdings"] = [holding]
    with pytest.raises(InvalidStatement) as info:
        validate_body(k.DIRECTORY, body)
    assert info.value.field == "body.holdings[0].person"


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({**NEW_DIRECTORY, "party": "prc"}, "body.offices[0].id", "must start with prc-"),
        ({**GOOD[k.CALL], "ring_timeout": 86_401}, "body.ring_timeout", "at most 86400"),
        ({**GOOD[k.CALL], "mode": "fax"}, "body.mode", "must be one of"),
        ({**GOOD[k.CALL], "id": 7}, "body.id", "must be a string"),
        ({**GOOD[k.CALL], "id": "A"}, "body.id", "lower-case identifier"),
        ({**GOOD[k.REQUEST], "windows": [WINDOW] * 21}, "body.windows", "more than 20"),
        ({**GOOD[k.REQUEST], "deadline": "2026-02-30T00:00:00.000000Z"}, "body.deadline", "date"),
    ],
)
def test_errors_speak_plainly(body: dict[str, Any], field: str, words: str) -> None:
    kind = k.DIRECTORY if "party" in body else k.CALL if "ring_timeout" in body else k.REQUEST
    with pytest.raises(InvalidStatement) as info:
        validate_body(kind, body)
    assert info.value.field == field
    assert words in info.value.message
    assert "Input should" not in info.value.message


def test_a_receipt_entry_is_named_whole_when_it_is_not_id_and_seq() -> None:
    for entry in ({"id": "ab" * 32}, {"id": "ab" * 32, "seq": 1, "x": 2}, "ab"):
        with pytest.raises(InvalidStatement) as info:
            ReceiptBody.parse({"ack": [{"id": "cd" * 32, "seq": 1}, entry]})
        assert info.value.field == "body.ack[1]"


def test_a_message_subject_refuses_controls() -> None:
    with pytest.raises(InvalidStatement) as info:
        MessageBody.parse({**ENVELOPE_GOOD["message"], "subject": "a\x1bb"})
    assert info.value.field == "body.subject"
    assert "control character" in info.value.message


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"request": "r-1", "action": "decline", "reason": "No", "counter": {}}, "body.counter"),
        ({"request": "r-1", "action": "counter"}, "body.counter"),
        ({"request": "r-1", "action": "decline", "reason": ""}, "body.reason"),
        ({"request": "r-1", "action": "withdraw", "window": WINDOW}, "body.window"),
        (
            {
                "request": "r-1",
                "action": "counter",
                "counter": {"id": "c-1", "offered_office": "o", "windows": [], "deadline": T2},
            },
            "body.counter.windows",
        ),
    ],
)
def test_what_a_response_carries_depends_on_its_action(body: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidStatement) as info:
        validate_body(k.RESPONSE, body)
    assert info.value.field == field, str(info.value)
