"""NDJSON batches on the link: encode, decode, and errors that name the line."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from redline.core.errors import InvalidStatement
from redline.core.statement import Statement
from redline.link.wire import MAX_BATCH, decode_batch, encode_batch

KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
NOW = datetime(2026, 11, 22, 8, 40, tzinfo=UTC)


def statement(seq: int) -> Statement:
    return Statement.create(
        key=KEY,
        sender="us",
        to="prc",
        kind="heartbeat",
        seq=seq,
        time=NOW,
        body={"nonce": f"n{seq}"},
    )


GOOD = [statement(seq).canonical for seq in (1, 2, 3)]


def error_of(data: bytes, **kwargs: int) -> InvalidStatement:
    with pytest.raises(InvalidStatement) as info:
        decode_batch(data, **kwargs)
    return info.value


def test_round_trip_keeps_order_and_bytes() -> None:
    body = encode_batch(GOOD)
    assert body == GOOD[0] + b"\n" + GOOD[1] + b"\n" + GOOD[2] + b"\n"
    decoded = decode_batch(body)
    assert [s.seq for s in decoded] == [1, 2, 3]
    assert [s.canonical for s in decoded] == GOOD


def test_blank_lines_and_a_missing_final_newline_are_accepted() -> None:
    body = b"\n" + GOOD[0] + b"\n\n" + GOOD[1] + b"\r\n" + GOOD[2]
    assert [s.seq for s in decode_batch(body)] == [1, 2, 3]


@pytest.mark.parametrize("body", [b"", b"\n", b"  \n\t\n"])
def test_empty_batch_is_refused(body: bytes) -> None:
    assert error_of(body).field == "body"


def test_batch_over_the_count_limit_is_refused() -> None:
    exc = error_of(encode_batch(GOOD), max_count=2)
    assert exc.field == "body"
    assert "limit is 2" in exc.message
    assert len(decode_batch(encode_batch(GOOD), max_count=3)) == 3


def test_default_count_limit() -> None:
    exc = error_of(encode_batch([GOOD[0]] * (MAX_BATCH + 1)))
    assert exc.field == "body"


def test_a_receipt_for_a_full_batch_fits_in_one_statement() -> None:
    # The receiver acknowledges a whole batch in one receipt; it must not
    # outgrow MAX_STATEMENT_BYTES, or the link would wedge on that batch.
    from datetime import UTC, datetime

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from redline.core.statement import MAX_STATEMENT_BYTES, Statement

    receipt = Statement.create(
        key=Ed25519PrivateKey.generate(),
        sender="prc",
        to="us",
        kind="receipt",
        seq=2**53 - 1,
        time=datetime(2026, 11, 22, tzinfo=UTC),
        body={"ack": [{"id": "f" * 64, "seq": 2**53 - 1 - i} for i in range(MAX_BATCH)]},
    )
    assert len(receipt.canonical) <= MAX_STATEMENT_BYTES


def test_malformed_json_names_the_line() -> None:
    exc = error_of(encode_batch([GOOD[0], b"{not json", GOOD[2]]))
    assert exc.field == "line 2"
    assert "malformed JSON" in exc.message


def test_field_error_names_the_line_and_the_field() -> None:
    bad = GOOD[2].replace(b'"seq":3', b'"seq":0')
    exc = error_of(encode_batch([GOOD[0], GOOD[1], bad]))
    assert exc.field == "line 3: seq"


def test_first_bad_line_is_named() -> None:
    bad_sig = GOOD[0].replace(b'"sig":"', b'"sig":"!')
    exc = error_of(encode_batch([bad_sig, b"[]"]))
    assert exc.field == "line 1: sig"


def test_line_number_counts_blank_lines() -> None:
    # A reader looks for the line in the body as sent, blank lines included.
    exc = error_of(GOOD[0] + b"\n\n\n" + b"{oops}\n")
    assert exc.field == "line 4"


def test_error_chains_the_original() -> None:
    exc = error_of(b"\xff\n")
    assert isinstance(exc.__cause__, InvalidStatement)
    assert exc.field == "line 1"
