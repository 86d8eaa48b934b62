"""Statements: construction, the wire form, every field error, and signatures."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from unittest.mock import patch

import pytest
import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from redline.core.bodies import HeartbeatBody, MessageBody
from redline.core.errors import BadSignature, InvalidStatement, UnknownSigner
from redline.core.kinds import Precedence
from redline.core.registry import KINDS
from redline.core.statement import (
    MAX_STATEMENT_BYTES,
    SIGNING_CONTEXT,
    Statement,
    format_time,
    parse_time,
    verify_statement,
)
from redline.core.text import is_blank

US_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
PRC_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))
KEYS = {"us": US_KEY.public_key()}
NOW = datetime(2026, 11, 22, 8, 40, 0, 123456, tzinfo=UTC)
MESSAGE = {"precedence": "flash", "subject": "Intercept", "text": "Call at 0900Z", "lang": "en"}


def make(**overrides: Any) -> Statement:
    args: dict[str, Any] = {
        "key": US_KEY,
        "sender": "us",
        "to": "prc",
        "kind": "message",
        "seq": 1,
        "time": NOW,
        "body": MESSAGE,
    }
    args.update(overrides)
    return Statement.create(**args)


def wire_obj(**changes: Any) -> dict[str, Any]:
    """A valid statement's JSON object, with fields replaced (or removed with ...)."""
    obj = make().to_json()
    for name, value in changes.items():
        name = {"from_": "from"}.get(name, name)
        if value is ...:
            del obj[name]
        else:
            obj[name] = value
    return obj


def parse(obj: Any) -> Statement:
    # Statements travel in canonical form: sorted keys, no spaces, UTF-8 (RFC 8785
    # for these ASCII keys), while a float stays visible as one ("1.0").
    wire = json.dumps(obj, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    return Statement.from_wire(wire.encode("utf-8", "surrogatepass"))


def field_of(obj: Any) -> str | None:
    with pytest.raises(InvalidStatement) as info:
        parse(obj)
    return info.value.field


# -- round trip and id --------------------------------------------------------


def test_create_sign_from_wire_round_trip() -> None:
    statement = make()
    again = Statement.from_wire(statement.canonical)
    assert again == statement
    assert again.id == statement.id
    assert again.canonical == statement.canonical
    assert again.sender == "us" and again.to == "prc" and again.seq == 1
    assert again.time == "2026-11-22T08:40:00.123456Z"
    assert dict(again.body) == MESSAGE
    verify_statement(again, keys=KEYS)


def test_id_is_sha256_of_the_canonical_bytes() -> None:
    statement = make()
    assert statement.canonical == rfc8785.dumps(statement.to_json())
    assert statement.id == hashlib.sha256(statement.canonical).hexdigest()
    assert statement.digest == hashlib.sha256(statement.canonical).digest()


def test_signature_covers_context_and_unsigned_canonical_bytes() -> None:
    statement = make()
    unsigned = rfc8785.dumps(statement.unsigned_json())
    assert statement.signed_bytes() == SIGNING_CONTEXT + unsigned
    US_KEY.public_key().verify(statement.signature, SIGNING_CONTEXT + unsigned)


def test_a_non_canonical_wire_form_is_refused() -> None:
    # One wire form per statement: the same object spaced or reordered is refused.
    statement = make()
    spaced = json.dumps(statement.to_json(), indent=2, sort_keys=False).encode()
    assert spaced != statement.canonical
    with pytest.raises(InvalidStatement, match="canonical"):
        Statement.from_wire(spaced)


def test_time_is_normalised_to_utc() -> None:
    plus_eight = timezone(timedelta(hours=8))
    statement = make(time=NOW.astimezone(plus_eight))
    assert statement.time == "2026-11-22T08:40:00.123456Z"
    assert parse_time(statement.time) == NOW


def test_naive_time_is_refused() -> None:
    with pytest.raises(InvalidStatement) as info:
        format_time(datetime(2026, 1, 1))
    assert info.value.field == "time"


# -- every field error names the field -------------------------------------


@pytest.mark.parametrize("name", ["v", "from", "to", "kind", "seq", "time", "body", "sig"])
def test_missing_field(name: str) -> None:
    obj = make().to_json()
    del obj[name]
    assert field_of(obj) == name


def test_unknown_field() -> None:
    assert field_of(wire_obj(cc="ru")) == "cc"


def test_duplicate_key_at_top_level() -> None:
    wire = make().canonical.replace(b'"kind":"message"', b'"kind":"message","kind":"heartbeat"')
    with pytest.raises(InvalidStatement) as info:
        Statement.from_wire(wire)
    assert info.value.field == "kind"


def test_duplicate_key_in_body() -> None:
    wire = make().canonical.replace(b'"lang":"en"', b'"lang":"en","lang":"zh"')
    with pytest.raises(InvalidStatement) as info:
        Statement.from_wire(wire)
    assert info.value.field == "lang"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**MESSAGE, "text": 1.5}, "body.text"),
        ({**MESSAGE, "extra": {"depth": [1, {"x": 0.25}]}}, "body.extra.depth[1].x"),
        ({**MESSAGE, "n": 1e3}, "body.n"),
        ({**MESSAGE, "n": 2**53}, "body.n"),
    ],
)
def test_float_or_inexact_number_anywhere_in_body(body: dict[str, Any], field: str) -> None:
    assert field_of(wire_obj(body=body)) == field


def test_float_in_body_refused_at_create() -> None:
    with pytest.raises(InvalidStatement) as info:
        make(kind="heartbeat", body={"nonce": 0.5})
    assert info.value.field == "body.nonce"


@pytest.mark.parametrize("version", [1.0, True, 2, "1", 0])
def test_bad_version(version: Any) -> None:
    assert field_of(wire_obj(v=version)) == "v"


def test_float_version_spelled_as_exponent_is_refused() -> None:
    wire = make().canonical.replace(b'"v":1', b'"v":1e0')
    with pytest.raises(InvalidStatement) as info:
        Statement.from_wire(wire)
    assert info.value.field == "v"


@pytest.mark.parametrize(
    "time",
    [
        "2026-11-22T08:40:00Z",
        "2026-11-22T08:40:00.123456+00:00",
        "2026-11-22 08:40:00.123456Z",
        "2026-02-30T08:40:00.123456Z",
        "2026-11-22T08:40:00.123456z",
        "",
        12345,
        None,
    ],
)
def test_bad_time(time: Any) -> None:
    assert field_of(wire_obj(time=time)) == "time"


@pytest.mark.parametrize("seq", [0, -1, True, False, 2**53, 1.0, "1", None])
def test_bad_seq(seq: Any) -> None:
    assert field_of(wire_obj(seq=seq)) == "seq"


def test_largest_seq_is_accepted() -> None:
    assert make(seq=2**53 - 1).seq == 2**53 - 1


@pytest.mark.parametrize("party", ["US", "1us", "", "a" * 33, "u_s", "us ", 7, None])
@pytest.mark.parametrize("name", ["from", "to"])
def test_bad_party_id(name: str, party: Any) -> None:
    assert field_of(wire_obj(**{name: party})) == name


def test_sender_equal_to_addressee() -> None:
    assert field_of(wire_obj(to="us")) == "to"
    with pytest.raises(InvalidStatement) as info:
        make(to="us")
    assert info.value.field == "to"


@pytest.mark.parametrize("kind", ["telegram", "Message", "message.", "", 3])
def test_unknown_or_malformed_kind(kind: Any) -> None:
    assert field_of(wire_obj(kind=kind)) == "kind"


@pytest.mark.parametrize(
    ("kind", "body", "field"),
    [
        ("message", {k: v for k, v in MESSAGE.items() if k != "precedence"}, "body.precedence"),
        ("message", {**MESSAGE, "precedence": "urgent"}, "body.precedence"),
        ("message", {**MESSAGE, "subject": "   "}, "body.subject"),
        ("message", {**MESSAGE, "subject": "s" * 501}, "body.subject"),
        ("message", {**MESSAGE, "text": 5}, "body.text"),
        ("message", {**MESSAGE, "lang": "English"}, "body.lang"),
        ("message", {**MESSAGE, "cc": "ru"}, "body.cc"),
        ("heartbeat", {}, "body.nonce"),
        ("heartbeat", {"nonce": "n" * 65}, "body.nonce"),
        ("receipt", {"ack": []}, "body.ack"),
        ("receipt", {"ack": [{"id": "00" * 32}]}, "body.ack[0]"),
        ("receipt", {"ack": [{"id": "AB" * 32, "seq": 1}]}, "body.ack[0].id"),
        ("receipt", {"ack": [{"id": "ab" * 32, "seq": 0}]}, "body.ack[0].seq"),
        ("receipt", {"ack": [{"id": "ab" * 32, "seq": True}]}, "body.ack[0].seq"),
    ],
)
def test_bad_body_for_kind(kind: str, body: dict[str, Any], field: str) -> None:
    assert field_of(wire_obj(kind=kind, body=body)) == field
    with pytest.raises(InvalidStatement) as info:
        make(kind=kind, body=body)
    assert info.value.field == field


def test_body_not_an_object() -> None:
    assert field_of(wire_obj(body=["not", "an", "object"])) == "body"


@pytest.mark.parametrize(
    "sig",
    [
        "not base64!",
        "QUJD",  # valid base64, 3 bytes
        base64.b64encode(bytes(63)).decode(),
        base64.b64encode(bytes(65)).decode(),
        base64.b64encode(bytes(64)).decode().rstrip("="),
        42,
        None,
    ],
)
def test_bad_sig(sig: Any) -> None:
    assert field_of(wire_obj(sig=sig)) == "sig"


def test_statement_over_the_size_limit_at_create() -> None:
    # 32,000 three-byte characters: within the text length rule, over 64 KiB canonical.
    with pytest.raises(InvalidStatement) as info:
        make(body={**MESSAGE, "text": "\u4e2d" * 32_000})
    assert info.value.field == "body"
    assert str(MAX_STATEMENT_BYTES) in info.value.message


def test_statement_over_the_size_limit_on_the_wire() -> None:
    obj = wire_obj(body={**MESSAGE, "text": "\u4e2d" * 32_000})
    wire = json.dumps(obj, ensure_ascii=False).encode()
    assert len(wire) > MAX_STATEMENT_BYTES
    with pytest.raises(InvalidStatement) as info:
        Statement.from_wire(wire)
    assert str(MAX_STATEMENT_BYTES) in info.value.message


@pytest.mark.parametrize(
    "wire",
    [b"", b"[]", b"null", b'"statement"', b"{", b"\xff\xfe{}", b"{}" + b" " * 10, b"[" * 60_000],
)
def test_malformed_wire_is_invalid_statement(wire: bytes) -> None:
    with pytest.raises(InvalidStatement):
        Statement.from_wire(wire)


def test_from_wire_refuses_str() -> None:
    with pytest.raises(InvalidStatement):
        Statement.from_wire(make().canonical.decode())  # type: ignore[arg-type]


# -- verification -------------------------------------------------------------


def test_verify_with_empty_keys_is_unknown_signer() -> None:
    with pytest.raises(UnknownSigner) as info:
        verify_statement(make(), keys={})
    assert info.value.field == "from"


def test_verify_unpinned_sender_is_unknown_signer() -> None:
    with pytest.raises(UnknownSigner) as info:
        verify_statement(make(), keys={"prc": PRC_KEY.public_key()})
    assert info.value.field == "from"


def test_verify_with_the_wrong_key_is_bad_signature() -> None:
    with pytest.raises(BadSignature) as info:
        verify_statement(make(), keys={"us": PRC_KEY.public_key()})
    assert info.value.field == "sig"


def test_one_byte_changed_in_the_body_is_bad_signature() -> None:
    wire = make().canonical.replace(b"Call at 0900Z", b"Call at 0901Z")
    tampered = Statement.from_wire(wire)
    with pytest.raises(BadSignature):
        verify_statement(tampered, keys=KEYS)


def test_one_byte_changed_in_the_signature_is_bad_signature() -> None:
    statement = make()
    sig = bytearray(statement.signature)
    sig[10] ^= 0x01
    obj = statement.to_json()
    obj["sig"] = base64.b64encode(bytes(sig)).decode()
    with pytest.raises(BadSignature):
        verify_statement(parse(obj), keys=KEYS)


def test_each_signed_field_is_covered() -> None:
    for change in ({"seq": 2}, {"to": "ru"}, {"time": "2026-11-22T08:40:00.123457Z"}):
        tampered = parse(wire_obj(**change))
        with pytest.raises(BadSignature):
            verify_statement(tampered, keys=KEYS)


# -- properties ---------------------------------------------------------------

VALID = make()


@given(st.binary(max_size=2048))
def test_any_bytes_parse_or_raise_invalid_statement(data: bytes) -> None:
    try:
        statement = Statement.from_wire(data)
    except InvalidStatement:
        return
    assert isinstance(statement, Statement)


@given(st.binary(max_size=512).map(lambda tail: VALID.canonical[:-1] + tail))
def test_valid_prefix_with_any_tail_parses_or_raises_invalid_statement(data: bytes) -> None:
    try:
        Statement.from_wire(data)
    except InvalidStatement:
        pass


SENDER_AT = VALID.canonical.index(b'"from":"us"') + len(b'"from":"')
TEXT_AT = VALID.canonical.index(b"Call at")
# A few bytes of VALID's wire changed: (position, new byte) pairs.
byte_mutations = st.lists(
    st.tuples(st.integers(min_value=0, max_value=len(VALID.canonical) - 1), st.integers(0, 255)),
    min_size=1,
    max_size=4,
)


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(byte_mutations)
@example([(SENDER_AT, ord("x"))])
@example([(TEXT_AT, ord("K"))])
@example([(SENDER_AT - 2, ord("X"))])
def test_mutated_wire_is_invalid_or_fails_verification(
    mutations: list[tuple[int, int]],
) -> None:
    wire = bytearray(VALID.canonical)
    for position, value in mutations:
        wire[position] = value
    try:
        statement = Statement.from_wire(bytes(wire))
    except InvalidStatement:
        return
    if statement == VALID and statement.id == VALID.id:
        return
    # A changed sender names a party with no pinned key; anything else the
    # signature no longer covers.
    expected = UnknownSigner if statement.sender != VALID.sender else BadSignature
    with pytest.raises(expected):
        verify_statement(statement, keys=KEYS)


json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1)
    | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


ANY_BODY_KIND = "test.any-body"


@given(body=st.dictionaries(st.text(max_size=8), json_values, max_size=6))
def test_generated_json_bodies_round_trip_to_the_same_id(body: dict[str, Any]) -> None:
    # A kind that accepts any body, so the envelope and RFC 8785 encoding are what
    # is tested rather than one kind's rules.
    with patch.dict(KINDS, {ANY_BODY_KIND: lambda _body: None}):
        statement = make(kind=ANY_BODY_KIND, body=body)
        canonical = rfc8785.dumps(statement.to_json())
        assert canonical == statement.canonical
        again = Statement.from_wire(canonical)
        assert again.id == statement.id == hashlib.sha256(canonical).hexdigest()
        assert json.loads(json.dumps(again.body)) == body
        verify_statement(again, keys=KEYS)
        # The same object written any other way is refused: one wire form.
        loose = json.dumps(statement.to_json(), indent=1, ensure_ascii=True).encode()
        with pytest.raises(InvalidStatement, match="canonical"):
            Statement.from_wire(loose)


# What a message may carry (core/text.py): no control characters (but \n and
# \t in text), no bidirectional overrides or isolates, no line separators. The
# heartbeat's nonce stays any text, so control characters still cross the wire.
_READABLE = st.characters(
    exclude_categories=("Cc", "Cs"),
    exclude_characters="\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u2028\u2029",
)
SUBJECTS = st.text(_READABLE, min_size=1, max_size=50).filter(lambda s: not is_blank(s))
TEXTS = st.text(st.one_of(_READABLE, st.sampled_from("\n\t")), max_size=200)


@given(subject=SUBJECTS, text=TEXTS, nonce=st.text(max_size=64))
def test_message_and_heartbeat_text_round_trip(subject: str, text: str, nonce: str) -> None:
    message = make(body={**MESSAGE, "subject": subject, "text": text})
    again = Statement.from_wire(rfc8785.dumps(message.to_json()))
    assert again.id == message.id
    assert again.body["subject"] == subject and again.body["text"] == text
    verify_statement(again, keys=KEYS)
    heartbeat = make(kind="heartbeat", body={"nonce": nonce})
    assert Statement.from_wire(heartbeat.canonical).id == heartbeat.id


@settings(max_examples=200)
@given(body_text=TEXTS, subject=SUBJECTS)
def test_spliced_canonical_bytes_equal_rfc8785_of_the_whole(body_text: str, subject: str) -> None:
    # The signed form is spliced from the unsigned canonical bytes; it must be
    # exactly what RFC 8785 gives for the whole object, whatever the body holds
    # (including text that looks like a "time" key).
    key = Ed25519PrivateKey.generate()
    statement = Statement.create(
        key=key,
        sender="us",
        to="prc",
        kind="message",
        seq=1,
        time=datetime(2026, 11, 22, tzinfo=UTC),
        body={
            "precedence": "flash",
            "subject": subject + ',"time":"x',
            "text": body_text,
            "lang": "en",
        },
    )
    assert statement.canonical == rfc8785.dumps(statement.to_json())


def test_a_lone_surrogate_is_an_invalid_statement() -> None:
    with pytest.raises(InvalidStatement) as info:
        make(body={"precedence": "flash", "subject": "s", "text": "\ud800", "lang": "en"})
    assert info.value.field == "body"


def _parse_with_the_standard_library(data: bytes) -> Statement | None:
    """What from_wire decides, taking only its slow (json module) path."""
    try:
        statement = Statement._from_text(data)
    except InvalidStatement:
        return None
    return statement if statement.canonical == data else None


def _parse(data: bytes) -> Statement | None:
    try:
        return Statement.from_wire(data)
    except InvalidStatement:
        return None


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(byte_mutations)
@example([(TEXT_AT, ord("\\"))])
@example([(TEXT_AT, 0xFF)])
@example([(SENDER_AT, ord('"'))])
def test_the_fast_parser_decides_as_the_standard_library(
    mutations: list[tuple[int, int]],
) -> None:
    """from_wire parses with orjson first; it must accept and refuse exactly
    the statements the json module path does, with the same result."""
    wire = bytearray(VALID.canonical)
    for position, value in mutations:
        wire[position] = value
    fast = _parse(bytes(wire))
    slow = _parse_with_the_standard_library(bytes(wire))
    assert (fast is None) == (slow is None)
    if fast is not None and slow is not None:
        assert (fast.id, fast.body) == (slow.id, slow.body)


@pytest.mark.parametrize(
    ("body_json", "message"),
    [
        (b'{"n":123456789012345678901234567890}', "integer out of the exactly representable"),
        (b'{"n":1.5}', "floats are not allowed"),
        (
            b'{"lang":"en","precedence":"flash","subject":"\\ud800","text":"x"}',
            "cannot be canonicalized",
        ),
    ],
)
def test_values_the_fast_parser_reads_differently_are_named_precisely(
    body_json: bytes, message: str
) -> None:
    """orjson reads a huge integer as a float and refuses a lone surrogate; the
    error still names what the standard library finds."""
    wire = VALID.canonical.replace(
        VALID.canonical[VALID.canonical.index(b'"body":') + 7 : VALID.canonical.index(b',"from"')],
        body_json,
    )
    with pytest.raises(InvalidStatement, match=message):
        Statement.from_wire(wire)


@pytest.mark.parametrize("depth", [995, 1020, 5000])
def test_deeply_nested_json_is_an_invalid_statement(depth: int) -> None:
    """orjson reads up to 1,024 levels; the walks after it recurse in Python.
    Whatever the depth, the answer is InvalidStatement, never a RecursionError."""
    nested = b"[" * depth + b"]" * depth
    wire = VALID.canonical.replace(b'"lang":"en"', b'"a":' + nested + b',"lang":"en"')
    with pytest.raises(InvalidStatement):
        Statement.from_wire(wire)


def test_a_deeply_nested_body_is_refused_at_create() -> None:
    body: Any = []
    for _ in range(5000):
        body = [body]
    with pytest.raises(InvalidStatement, match="nested too deeply"):
        make(body={"deep": body})


# -- the typed body -----------------------------------------------------------------


def test_a_statement_keeps_the_typed_body_it_validated() -> None:
    statement = make()
    assert isinstance(statement.model, MessageBody)
    assert statement.typed(MessageBody).precedence is Precedence(statement.body["precedence"])
    assert statement.model.wire() == dict(statement.body)
    again = Statement.from_wire(statement.canonical)
    assert again.model == statement.model
    with pytest.raises(InvalidStatement) as info:
        statement.typed(HeartbeatBody)
    assert info.value.field == "kind"
