"""Text people read is safe: refused where it enters, escaped where it is printed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from redline.cli.main import app
from redline.core import registry
from redline.core.errors import InvalidStatement
from redline.core.registry import validate_body
from redline.core.text import is_blank, printable, printable_json

runner = CliRunner()

FAKE_FLASH = "routine\r\n0000000000000000 <- us     FLASH     \x1b[1mLAUNCH DETECTED\x1b[0m"


def message(**fields: Any) -> dict[str, Any]:
    body = {"precedence": "routine", "subject": "Status", "text": "", "lang": "en"}
    body.update(fields)
    return body


def refused(body: dict[str, Any]) -> InvalidStatement:
    with pytest.raises(InvalidStatement) as caught:
        validate_body("message", body)
    return caught.value


CONTROLS = {
    "NUL": "\x00",
    "BEL": "\x07",
    "TAB": "\t",
    "LF": "\n",
    "CR": "\r",
    "ESC": "\x1b",
    "DEL": "\x7f",
    "NEL (C1)": "\x85",
    "CSI (C1)": "\x9b",
}
BIDI = {
    "LRE": "\u202a",
    "RLE": "\u202b",
    "PDF": "\u202c",
    "LRO": "\u202d",
    "RLO": "\u202e",
    "LRI": "\u2066",
    "RLI": "\u2067",
    "FSI": "\u2068",
    "PDI": "\u2069",
}


@pytest.mark.parametrize("char", list(CONTROLS.values()), ids=list(CONTROLS))
def test_a_subject_with_a_control_character_is_refused(char: str) -> None:
    error = refused(message(subject=f"Status{char}report"))
    assert error.field == "body.subject"
    assert "control character" in error.message and f"U+{ord(char):04X}" in error.message


@pytest.mark.parametrize("char", list(BIDI.values()), ids=list(BIDI))
def test_a_subject_with_a_bidi_override_or_isolate_is_refused(char: str) -> None:
    error = refused(message(subject=f"Status {char}tropeR"))
    assert error.field == "body.subject"
    assert "bidirectional" in error.message and "at position 7" in error.message


@pytest.mark.parametrize(
    "subject",
    ["\u200b", "\u200b\u200c\u200d\u2060\ufeff", " \u3000\u00a0\t", "\u200e\u200f"],
    ids=["zwsp", "zero-widths", "unicode-spaces", "marks"],
)
def test_a_subject_that_shows_nothing_is_blank(subject: str) -> None:
    # A tab is a control character and refused as such; the rest is blank.
    error = refused(message(subject=subject))
    assert error.field == "body.subject"
    assert is_blank(subject)


@pytest.mark.parametrize(
    "subject",
    ["Status report", "状态报告", "تقرير الحالة\u200f (2)", "Wait\u200b-list"],
    ids=["latin", "chinese", "arabic-with-mark", "zwsp-inside"],
)
def test_ordinary_subjects_pass(subject: str) -> None:
    validate_body("message", message(subject=subject))


def test_text_may_hold_newlines_and_tabs() -> None:
    validate_body("message", message(text="Line one\n\tLine two\n"))


@pytest.mark.parametrize("char", ["\r", "\x1b", "\x00", "\x85", "\u202e", "\u2066"])
def test_text_refuses_other_controls_and_overrides(char: str) -> None:
    assert refused(message(text=f"Line one\n{char}Line two")).field == "body.text"


@pytest.mark.parametrize("lang", ["en\n", "en ", "EN", "e", "en-", ""])
def test_lang_must_be_a_whole_language_tag(lang: str) -> None:
    assert refused(message(lang=lang)).field == "body.lang"


@pytest.mark.parametrize("lang", ["en", "zh", "zh-Hans", "ar-EG"])
def test_language_tags_pass(lang: str) -> None:
    validate_body("message", message(lang=lang))


# -- printing ----------------------------------------------------------------------


def test_printable_escapes_controls_and_bidi_visibly() -> None:
    assert printable("\x1b[31mFLASH\x1b[0m") == "\\x1b[31mFLASH\\x1b[0m"
    assert printable("a\r\nb\x00\x85") == "a\\x0d\\x0ab\\x00\\x85"
    assert printable("abc\u202edef\u2066") == "abc\\u202edef\\u2066"
    assert printable("x\u2028y") == "x\\u2028y"


def test_printable_keeps_ordinary_text() -> None:
    for text in ("Status report", "状态报告", "تقرير\u200f", "C:\\path"):
        assert printable(text) == text


def test_printable_json_is_the_same_json_without_raw_bidi_or_c1() -> None:
    value = {"subject": "abc\u202edef\x85\x1b", "zh": "状态"}
    document = printable_json(json.dumps(value, ensure_ascii=False))
    assert json.loads(document) == value
    assert not any(c in document for c in "\u202e\x85\x1b")
    assert "状态" in document


# -- the CLI -------------------------------------------------------------------------


def _cli(*args: str | Path) -> Any:
    result = runner.invoke(app, [str(a) for a in args])
    assert "Traceback" not in result.output
    return result


@pytest.fixture
def us(tmp_path: Path) -> Path:
    """A node that has pinned a peer prc."""
    us, prc = tmp_path / "us", tmp_path / "prc"
    for path, party in ((us, "us"), (prc, "prc")):
        assert _cli("init", path, "--party", party, "--name", party).exit_code == 0
    identity = tmp_path / "prc.json"
    identity.write_text(_cli("identity", prc).stdout)
    added = _cli("peer", "add", us, identity, "--url", "https://127.0.0.1:9443")
    assert added.exit_code == 0, added.output
    return us


def test_send_refuses_a_subject_with_an_escape_sequence_naming_the_field(us: Path) -> None:
    result = _cli("send", us, "--to", "prc", "--subject", FAKE_FLASH)
    assert result.exit_code == 2
    assert result.stderr.startswith("error: body.subject: holds a control character")


def test_messages_prints_a_planted_subject_escaped(
    us: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A message stored before these rules (or by a node without them): the
    # output must still not carry its escape sequences or its extra line.
    with monkeypatch.context() as patch:
        patch.setitem(registry.KINDS, "message", lambda body: None)
        sent = _cli("send", us, "--to", "prc", "--subject", FAKE_FLASH + "\u202e")
        assert sent.exit_code == 0, sent.output
    listed = _cli("messages", us)
    assert listed.exit_code == 0, listed.output
    assert "\x1b" not in listed.stdout and "\r" not in listed.stdout
    assert "\u202e" not in listed.stdout
    assert len(listed.stdout.splitlines()) == 1
    assert "\\x1b[1mLAUNCH DETECTED\\x1b[0m\\u202e" in listed.stdout
    as_json = _cli("messages", us, "--json").stdout
    assert "\x1b" not in as_json and "\u202e" not in as_json
    [row] = json.loads(as_json)
    assert row["subject"] == FAKE_FLASH + "\u202e"


# -- the hotline's texts: every one is read by the other party's operators ---------------

_WINDOW = {"start": "2030-01-02T01:00:00.000000Z", "end": "2030-01-02T02:00:00.000000Z"}
_REQUEST = {
    "id": "r-1",
    "from_office": "us-dod",
    "to_office": "prc-mnd",
    "mechanism": "dtl",
    "mode": "call",
    "windows": [_WINDOW],
    "deadline": "2030-01-01T00:00:00.000000Z",
    "agenda": ["Maritime safety"],
    "notes": [],
}
_OFFICE = {"id": "us-dod", "titles": {"en": "Secretary"}, "level": "defence_minister", "seats": 1}
_DIRECTORY = {
    "party": "us",
    "name_en": "United States",
    "name_zh": "美国",
    "time_zone": "America/New_York",
    "offices": [_OFFICE],
    "holdings": [],
}

# (kind, a valid body, a path into it, the field the refusal must name, multi-line allowed)
HOTLINE_TEXTS = [
    ("request", _REQUEST, ("agenda", 0), "body.agenda[0]", True),
    (
        "call",
        {
            "id": "c-1",
            "from_office": "us-dod",
            "to_office": "prc-mnd",
            "mechanism": "dtl",
            "mode": "call",
            "purpose": "Check",
            "ring_timeout": 60,
        },
        ("purpose",),
        "body.purpose",
        True,
    ),
    ("call-message", {"call": "c-1", "text": "Hello", "lang": "en"}, ("text",), "body.text", True),
    (
        "readout",
        {"id": "o-1", "engagement": "r-1", "text": "Met", "lang": "en"},
        ("text",),
        "body.text",
        True,
    ),
    (
        "mechanism-status",
        {"mechanism": "dtl", "status": "suspended", "reason": "Visit"},
        ("reason",),
        "body.reason",
        True,
    ),
    ("directory", _DIRECTORY, ("offices", 0, "titles", "en"), "body.offices[0].titles.en", False),
    ("directory", _DIRECTORY, ("name_en",), "body.name_en", False),
]


def _planted(body: dict[str, Any], path: tuple[Any, ...], value: str) -> dict[str, Any]:
    copy = json.loads(json.dumps(body))
    target = copy
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return copy


@pytest.mark.parametrize(("kind", "body", "path", "field", "multiline"), HOTLINE_TEXTS)
def test_a_hotline_text_refuses_what_could_steer_a_screen(
    kind: str, body: dict[str, Any], path: tuple[Any, ...], field: str, multiline: bool
) -> None:
    validate_body(kind, body)  # the body as given is valid: only the planted text is wrong
    planted = ["Safe \x1b[2J", "Safe \u202eevil", "Safe\r", "\u200b\u200b"]
    planted += [] if multiline else ["Safe\nFLASH"]
    for text in planted:
        with pytest.raises(InvalidStatement) as caught:
            validate_body(kind, _planted(body, path, text))
        assert caught.value.field == field, (text, caught.value)
    if multiline:
        validate_body(kind, _planted(body, path, "Line one\nLine two"))
