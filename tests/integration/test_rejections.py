"""What a node refuses, over its real HTTP apps, in process (no sockets).

Two node directories on SQLite pin each other; the link app is called through
``httpx.ASGITransport`` behind a wrapper that puts the client certificate's
fingerprint into the ASGI scope, as :class:`PeerCertProtocol` does under TLS.
Each test checks the exact problem+json code (and field) and that the
receiver stored nothing it should not have.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from redline.core.identity import Identity
from redline.core.statement import Statement
from redline.link.server import MAX_LINK_BODY, create_link_app
from redline.link.wire import NDJSON, decode_batch, encode_batch
from redline.node import NodeDir, init_node
from redline.service.node import NodeService
from redline.store import repo
from redline.store.db import Store, open_store
from redline.store.schema import statements
from redline.web.api import MAX_API_BODY, create_api_app

START = datetime(2026, 11, 22, 8, 40, tzinfo=UTC)
PATH = "/link/v1/statements"
TOKEN = "operator-token-for-tests"


class SteppingClock:
    """A clock that moves one millisecond each time it is read."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        self.now += timedelta(milliseconds=1)
        return self.now


@dataclass
class Node:
    dir: NodeDir
    store: Store
    service: NodeService
    identity: Identity

    @property
    def party(self) -> str:
        return self.identity.party

    @property
    def fingerprint(self) -> str:
        return self.identity.tls_cert_sha256

    def pin(self, other: Node) -> None:
        with self.store.write() as conn:
            repo.add_peer(conn, other.identity, f"https://{other.party}.test:8443", "t")

    def rows(self, direction: str | None = None) -> int:
        query = select(func.count()).select_from(statements)
        if direction is not None:
            query = query.where(statements.c.direction == direction)
        with self.store.read() as conn:
            return int(conn.execute(query).scalar_one())

    def inbound_seqs(self) -> list[int]:
        query = (
            select(statements.c.seq)
            .where(statements.c.direction == "in")
            .order_by(statements.c.seq)
        )
        with self.store.read() as conn:
            return [int(seq) for seq in conn.execute(query).scalars()]


def make_node(base: Path, party: str, name: str) -> Node:
    node_dir = init_node(base / party, party=party, name=name, now=START)
    store = open_store(node_dir.database_url)
    service = NodeService(
        party=party, signing_key=node_dir.signing_key(), store=store, clock=SteppingClock()
    )
    return Node(dir=node_dir, store=store, service=service, identity=node_dir.identity())


@pytest.fixture
def trio(tmp_path: Path) -> Iterator[tuple[Node, Node, Node]]:
    """us and prc pin each other; ru exists but nobody pins it."""
    us = make_node(tmp_path, "us", "US Department of Defense")
    prc = make_node(tmp_path, "prc", "PRC Ministry of National Defense")
    ru = make_node(tmp_path, "ru", "RF Ministry of Defence")
    us.pin(prc)
    prc.pin(us)
    ru.pin(prc)
    yield us, prc, ru
    for node in (us, prc, ru):
        node.store.dispose()


def with_client_cert(app: Any, fingerprint: str | None) -> Any:
    """Present ``fingerprint`` as the client certificate, as PeerCertProtocol does."""

    async def wrapped(scope: dict[str, Any], receive: Any, send: Any) -> None:
        scope.setdefault("extensions", {})["tls"] = {"client_cert_sha256": fingerprint}
        await app(scope, receive, send)

    return wrapped


def call(app: Any, method: str, path: str, **kwargs: Any) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="https://node.test") as client:
            return await client.request(method, path, **kwargs)

    return asyncio.run(go())


def link_of(receiver: Node, gaps: list[str] | None = None) -> Any:
    on_gap = gaps.append if gaps is not None else None
    return create_link_app(receiver.service, on_gap=on_gap)


def push(receiver: Node, sender_fingerprint: str | None, wires: list[bytes]) -> httpx.Response:
    app = with_client_cert(link_of(receiver), sender_fingerprint)
    return call(app, "POST", PATH, content=encode_batch(wires), headers={"content-type": NDJSON})


def assert_problem(
    response: httpx.Response, status: int, code: str, field: str | None = None
) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["code"] == code
    assert body["status"] == status
    assert body.get("field") == field
    assert "Traceback" not in response.text
    return body


def message(node: Node, to: str = "prc", text: str = "Request a call at 0900Z") -> Statement:
    return node.service.send_message(to=to, precedence="flash", subject="Intercept", text=text)


# -- the link: tampering ----------------------------------------------------


def test_good_push_is_stored_and_receipted(trio: tuple[Node, Node, Node]) -> None:
    us, prc, _ru = trio
    sent = message(us)
    response = push(prc, us.fingerprint, [sent.canonical])
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(NDJSON)
    [receipt] = decode_batch(response.content)
    assert (receipt.kind, receipt.sender, receipt.to) == ("receipt", "prc", "us")
    assert receipt.body["ack"] == [{"id": sent.id, "seq": 1}]
    assert prc.inbound_seqs() == [1]
    assert us.service.take_receipts("prc", [receipt]) == 1
    assert us.service.statement_state(sent.id)["state"] == "delivered"


def test_one_byte_changed_in_the_body_text_is_bad_signature(
    trio: tuple[Node, Node, Node],
) -> None:
    us, prc, _ru = trio
    wire = message(us, text="Request a call at 0900Z").canonical
    tampered = wire.replace(b"0900Z", b"0901Z")
    assert sum(a != b for a, b in zip(wire, tampered, strict=True)) == 1
    assert_problem(push(prc, us.fingerprint, [tampered]), 403, "bad-signature", "sig")
    assert prc.rows() == 0


@pytest.mark.parametrize(
    ("old", "new", "status", "code", "field"),
    [
        (b'"seq":1', b'"seq":2', 403, "bad-signature", "sig"),
        (b'"seq":1', b'"seq":0', 422, "invalid-statement", "line 1: seq"),
        (b'"kind":"message"', b'"kind":"messagf"', 422, "invalid-statement", "line 1: kind"),
        (
            b'"precedence":"flash"',
            b'"precedence":"flasH"',
            422,
            "invalid-statement",
            "line 1: body.precedence",
        ),
        (b'"from":"us"', b'"from":"uz"', 403, "unpinned-peer", "from"),
        (b'{"body"', b'["body"', 422, "invalid-statement", "line 1"),
    ],
)
def test_one_byte_changed_elsewhere(
    trio: tuple[Node, Node, Node], old: bytes, new: bytes, status: int, code: str, field: str
) -> None:
    us, prc, _ru = trio
    wire = message(us).canonical
    assert wire.count(old) == 1
    tampered = wire.replace(old, new)
    assert_problem(push(prc, us.fingerprint, [tampered]), status, code, field)
    assert prc.rows() == 0


def test_one_byte_changed_in_the_signature_is_bad_signature(
    trio: tuple[Node, Node, Node],
) -> None:
    us, prc, _ru = trio
    sent = message(us)
    sig = bytearray(sent.signature)
    sig[0] ^= 0x80
    obj = sent.to_json()
    obj["sig"] = base64.b64encode(bytes(sig)).decode()
    tampered = Statement.from_json(obj).canonical
    assert_problem(push(prc, us.fingerprint, [tampered]), 403, "bad-signature", "sig")
    assert prc.rows() == 0


def test_one_bad_statement_refuses_the_whole_batch(trio: tuple[Node, Node, Node]) -> None:
    us, prc, _ru = trio
    good = message(us).canonical
    bad = message(us, text="second 0900Z").canonical.replace(b"0900Z", b"0901Z")
    assert_problem(push(prc, us.fingerprint, [good, bad]), 403, "bad-signature", "sig")
    assert prc.rows() == 0


# -- the link: who signed, who connected --------------------------------------


def test_statement_signed_by_an_unpinned_party_is_refused(
    trio: tuple[Node, Node, Node],
) -> None:
    us, prc, ru = trio
    from_ru = message(ru)  # ru's own key, addressed to prc, which has not pinned ru
    assert_problem(push(prc, us.fingerprint, [from_ru.canonical]), 403, "unpinned-peer", "from")
    assert_problem(push(prc, ru.fingerprint, [from_ru.canonical]), 403, "unpinned-peer")
    assert prc.rows() == 0


def test_statement_in_a_pinned_name_signed_with_another_key_is_bad_signature(
    trio: tuple[Node, Node, Node],
) -> None:
    us, prc, ru = trio
    forged = Statement.create(
        key=ru.dir.signing_key(),
        sender="us",
        to="prc",
        kind="message",
        seq=1,
        time=START,
        body={"precedence": "flash", "subject": "Stand down", "text": "", "lang": "en"},
    )
    assert_problem(push(prc, us.fingerprint, [forged.canonical]), 403, "bad-signature", "sig")
    assert prc.rows() == 0


def test_unpinned_client_certificate_is_refused(trio: tuple[Node, Node, Node]) -> None:
    us, prc, _ru = trio
    wire = message(us).canonical
    body = assert_problem(push(prc, "ab" * 32, [wire]), 403, "unpinned-peer")
    assert "abababababababab" in body["detail"]
    assert prc.rows() == 0


def test_no_client_certificate_is_refused(trio: tuple[Node, Node, Node]) -> None:
    us, prc, _ru = trio
    wire = message(us).canonical
    assert_problem(push(prc, None, [wire]), 403, "unpinned-peer")
    bare = call(link_of(prc), "POST", PATH, content=encode_batch([wire]))
    assert_problem(bare, 403, "unpinned-peer")
    assert prc.rows() == 0


def test_statement_from_another_pinned_peer_than_the_connection_is_refused(
    trio: tuple[Node, Node, Node],
) -> None:
    us, prc, ru = trio
    prc.pin(ru)  # both pinned: ru may connect, but not relay us's words as its own push
    relayed = message(us).canonical
    body = assert_problem(push(prc, ru.fingerprint, [relayed]), 403, "unpinned-peer", "from")
    assert "'us'" in body["detail"] and "'ru'" in body["detail"]
    assert prc.rows() == 0


def test_statement_addressed_to_another_node_is_refused(trio: tuple[Node, Node, Node]) -> None:
    us, prc, ru = trio
    us.pin(ru)
    to_ru = message(us, to="ru").canonical
    assert_problem(push(prc, us.fingerprint, [to_ru]), 422, "invalid-statement", "to")
    assert prc.rows() == 0


def test_pushed_receipt_is_refused(trio: tuple[Node, Node, Node]) -> None:
    us, prc, _ru = trio
    receipt = Statement.create(
        key=us.dir.signing_key(),
        sender="us",
        to="prc",
        kind="receipt",
        seq=1,
        time=START,
        body={"ack": [{"id": "ab" * 32, "seq": 1}]},
    )
    assert_problem(push(prc, us.fingerprint, [receipt.canonical]), 422, "invalid-statement", "kind")
    assert prc.rows() == 0


# -- the link: replay, reuse, gaps ---------------------------------------------


def test_replayed_statement_gets_the_same_receipt_and_one_row(
    trio: tuple[Node, Node, Node],
) -> None:
    us, prc, _ru = trio
    wire = message(us).canonical
    first = push(prc, us.fingerprint, [wire])
    assert first.status_code == 200, first.text
    assert (prc.rows("in"), prc.rows("out")) == (1, 1)  # the statement and prc's receipt
    second = push(prc, us.fingerprint, [wire])
    assert second.status_code == 200, second.text
    assert second.content == first.content
    assert (prc.rows("in"), prc.rows("out")) == (1, 1)


def test_replay_alongside_a_new_statement_stores_only_the_new_one(
    trio: tuple[Node, Node, Node],
) -> None:
    us, prc, _ru = trio
    one, two = message(us), message(us, text="second")
    first = push(prc, us.fingerprint, [one.canonical])
    second = push(prc, us.fingerprint, [one.canonical, two.canonical])
    assert second.status_code == 200, second.text
    acked = {ack["id"] for r in decode_batch(second.content) for ack in r.body["ack"]}
    assert acked == {one.id, two.id}
    assert first.content.strip() in second.content.split(b"\n")
    assert prc.inbound_seqs() == [1, 2]


def test_sequence_number_reused_with_other_content_is_refused(
    trio: tuple[Node, Node, Node],
) -> None:
    us, prc, _ru = trio
    original = message(us)
    assert push(prc, us.fingerprint, [original.canonical]).status_code == 200
    rewrite = Statement.create(
        key=us.dir.signing_key(),
        sender="us",
        to="prc",
        kind="message",
        seq=1,
        time=START,
        body={"precedence": "flash", "subject": "Rewritten", "text": "", "lang": "en"},
    )
    assert_problem(push(prc, us.fingerprint, [rewrite.canonical]), 422, "invalid-statement", "seq")
    assert prc.rows("in") == 1


def test_gap_is_refused_then_filled_by_a_pull(trio: tuple[Node, Node, Node]) -> None:
    us, prc, _ru = trio
    s1, s2, s3 = (message(us, text=f"#{n}") for n in (1, 2, 3))
    assert [s1.seq, s2.seq, s3.seq] == [1, 2, 3]
    gaps: list[str] = []
    prc_link = with_client_cert(link_of(prc, gaps), us.fingerprint)

    def push_one(wire: bytes) -> httpx.Response:
        return call(prc_link, "POST", PATH, content=encode_batch([wire]))

    assert push_one(s1.canonical).status_code == 200
    body = assert_problem(push_one(s3.canonical), 409, "sequence-gap", "seq")
    assert (body["expected"], body["got"]) == (2, 3)
    assert gaps == ["us"]
    assert prc.inbound_seqs() == [1]

    # prc asks us for everything since the last statement it holds.
    after = prc.service.received_through("us")
    assert after == 1
    wires = us.service.since("prc", after, 256)
    assert wires == [s2.canonical, s3.canonical]
    us_link = with_client_cert(link_of(us), prc.fingerprint)
    pulled = call(us_link, "GET", PATH, params={"after": after, "limit": 256})
    assert pulled.status_code == 200, pulled.text
    assert pulled.content == encode_batch(wires)

    result = prc.service.receive("us", decode_batch(pulled.content))
    assert (result.accepted, result.duplicates) == (2, 0)
    assert prc.inbound_seqs() == [1, 2, 3]
    # The push that failed now succeeds as a duplicate with the receipt already given.
    again = push_one(s3.canonical)
    assert again.status_code == 200
    assert again.content == encode_batch(result.receipts)


def test_pull_by_an_unpinned_certificate_is_refused(trio: tuple[Node, Node, Node]) -> None:
    us, _prc, ru = trio
    message(us)
    app = with_client_cert(link_of(us), ru.fingerprint)
    assert_problem(call(app, "GET", PATH, params={"after": 0}), 403, "unpinned-peer")


def test_pull_with_a_bad_after_is_refused(trio: tuple[Node, Node, Node]) -> None:
    us, prc, _ru = trio
    app = with_client_cert(link_of(us), prc.fingerprint)
    assert_problem(call(app, "GET", PATH, params={"after": -1}), 422, "invalid-input", "after")
    assert_problem(call(app, "GET", PATH), 422, "invalid-input", "after")


# -- the link: malformed and oversized bodies -------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"{not json\n", "line 1"),
        (b"", "body"),
        (b"\n\n", "body"),
        (b'{"v":1}\n', "line 1: body"),
    ],
)
def test_malformed_body_is_invalid_statement(
    trio: tuple[Node, Node, Node], body: bytes, field: str
) -> None:
    us, prc, _ru = trio
    app = with_client_cert(link_of(prc), us.fingerprint)
    response = call(app, "POST", PATH, content=body)
    assert_problem(response, 422, "invalid-statement", field)
    assert prc.rows() == 0


def test_malformed_second_line_names_it(trio: tuple[Node, Node, Node]) -> None:
    us, prc, _ru = trio
    app = with_client_cert(link_of(prc), us.fingerprint)
    body = encode_batch([message(us).canonical, b"[1, 2"])
    assert_problem(call(app, "POST", PATH, content=body), 422, "invalid-statement", "line 2")
    assert prc.rows() == 0


def test_body_over_the_limit_is_refused(trio: tuple[Node, Node, Node]) -> None:
    us, prc, _ru = trio
    app = with_client_cert(link_of(prc), us.fingerprint)
    oversized = b"x" * (MAX_LINK_BODY + 1)
    assert_problem(call(app, "POST", PATH, content=oversized), 413, "payload-too-large")
    assert prc.rows() == 0


def test_streamed_body_over_the_limit_is_refused(trio: tuple[Node, Node, Node]) -> None:
    us, prc, _ru = trio
    app = with_client_cert(link_of(prc), us.fingerprint)
    chunk = b"x" * (1024 * 1024)

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(MAX_LINK_BODY // len(chunk) + 1):
            yield chunk

    response = call(app, "POST", PATH, content=chunks())
    assert "content-length" not in response.request.headers
    assert_problem(response, 413, "payload-too-large")
    assert prc.rows() == 0


# -- the operator API --------------------------------------------------------------


def api_of(node: Node) -> Any:
    return create_api_app(node.service, token=TOKEN, identity=node.identity)


def post_message(node: Node, json: Any, token: str | None = TOKEN) -> httpx.Response:
    headers = {"authorization": f"Bearer {token}"} if token is not None else {}
    return call(api_of(node), "POST", "/api/v1/messages", json=json, headers=headers)


GOOD_MESSAGE = {"to": "prc", "precedence": "flash", "subject": "Intercept", "text": "Call me"}


@pytest.mark.parametrize("token", [None, "", "wrong-token", TOKEN + "x"])
def test_api_without_a_valid_token_is_401(trio: tuple[Node, Node, Node], token: str | None) -> None:
    us, _prc, _ru = trio
    response = post_message(us, GOOD_MESSAGE, token=token)
    assert_problem(response, 401, "unauthorized", "authorization")
    assert us.rows() == 0


def test_api_other_scheme_is_401(trio: tuple[Node, Node, Node]) -> None:
    us, _prc, _ru = trio
    headers = {"authorization": f"Basic {TOKEN}"}
    response = call(api_of(us), "GET", "/api/v1/status", headers=headers)
    assert_problem(response, 401, "unauthorized", "authorization")


def test_api_bad_precedence_is_422_naming_it(trio: tuple[Node, Node, Node]) -> None:
    us, _prc, _ru = trio
    response = post_message(us, {**GOOD_MESSAGE, "precedence": "urgent"})
    assert_problem(response, 422, "invalid-input", "precedence")
    assert us.rows() == 0


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"subject": ""}, "subject"),
        ({"to": ""}, "to"),
        ({"cc": "ru"}, "cc"),
        ({"text": "t" * 32_001}, "text"),
    ],
)
def test_api_bad_field_is_422_naming_it(
    trio: tuple[Node, Node, Node], change: dict[str, Any], field: str
) -> None:
    us, _prc, _ru = trio
    assert_problem(post_message(us, {**GOOD_MESSAGE, **change}), 422, "invalid-input", field)
    assert us.rows() == 0


def test_api_missing_field_is_422_naming_it(trio: tuple[Node, Node, Node]) -> None:
    us, _prc, _ru = trio
    partial = {k: v for k, v in GOOD_MESSAGE.items() if k != "subject"}
    assert_problem(post_message(us, partial), 422, "invalid-input", "subject")
    assert us.rows() == 0


def test_api_unknown_peer_is_404_naming_to(trio: tuple[Node, Node, Node]) -> None:
    us, _prc, _ru = trio
    response = post_message(us, {**GOOD_MESSAGE, "to": "ru"})
    assert_problem(response, 404, "not-found", "to")
    assert us.rows() == 0
    with us.store.read() as conn:
        assert repo.outbox_count(conn) == 0
        assert repo.log_size(conn) == 0


def test_api_body_over_the_limit_is_413(trio: tuple[Node, Node, Node]) -> None:
    us, _prc, _ru = trio
    response = post_message(us, {**GOOD_MESSAGE, "text": "t" * (MAX_API_BODY + 1)})
    assert_problem(response, 413, "payload-too-large")
    assert us.rows() == 0


def test_api_good_message_is_201_with_its_id(trio: tuple[Node, Node, Node]) -> None:
    us, _prc, _ru = trio
    response = post_message(us, GOOD_MESSAGE)
    assert response.status_code == 201, response.text
    created = response.json()
    assert len(created["id"]) == 64 and int(created["id"], 16) >= 0
    assert (created["seq"], created["to"], created["state"]) == (1, "prc", "queued")
    assert us.rows("out") == 1
    headers = {"authorization": f"Bearer {TOKEN}"}
    state = call(api_of(us), "GET", f"/api/v1/statements/{created['id']}", headers=headers)
    assert state.status_code == 200, state.text
    assert (state.json()["state"], state.json()["direction"]) == ("queued", "out")
    [wire] = us.service.due("prc", 10)
    assert Statement.from_wire(wire).id == created["id"]


def test_api_unknown_statement_is_404(trio: tuple[Node, Node, Node]) -> None:
    us, _prc, _ru = trio
    headers = {"authorization": f"Bearer {TOKEN}"}
    response = call(api_of(us), "GET", "/api/v1/statements/" + "0" * 64, headers=headers)
    assert_problem(response, 404, "not-found", "id")


def test_api_health_needs_no_token(trio: tuple[Node, Node, Node]) -> None:
    us, _prc, _ru = trio
    response = call(api_of(us), "GET", "/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "party": "us"}


# -- acknowledgements: the operator's answer to a message -----------------------


def post_ack(node: Node, message_id: str) -> httpx.Response:
    headers = {"authorization": f"Bearer {TOKEN}"}
    return call(api_of(node), "POST", f"/api/v1/messages/{message_id}/ack", headers=headers)


def delivered(us: Node, prc: Node) -> Statement:
    """A FLASH message from us, pushed to and stored by prc."""
    sent = message(us)
    assert push(prc, us.fingerprint, [sent.canonical]).status_code == 200
    return sent


def test_api_ack_of_a_received_message_is_201_and_reaches_the_sender(
    trio: tuple[Node, Node, Node],
) -> None:
    us, prc, _ru = trio
    sent = delivered(us, prc)
    response = post_ack(prc, sent.id[:10])  # shortened, as redline messages prints it
    assert response.status_code == 201, response.text
    created = response.json()
    assert (created["to"], created["message"], created["state"]) == ("us", sent.id, "queued")
    assert prc.service.statement_state(sent.id)["ack_id"] == created["id"]
    [wire] = prc.service.due("us", 10)
    ack = Statement.from_wire(wire)
    assert (ack.kind, ack.body, ack.id) == ("ack", {"message": sent.id}, created["id"])
    # The sender's node stores it and links it to its message.
    assert push(us, prc.fingerprint, [wire]).status_code == 200
    assert us.service.statement_state(sent.id)["ack_id"] == ack.id


def test_api_ack_of_an_unknown_statement_is_404(trio: tuple[Node, Node, Node]) -> None:
    _us, prc, _ru = trio
    before = prc.rows()
    assert_problem(post_ack(prc, "0" * 64), 404, "not-found", "id")
    assert prc.rows() == before


def test_api_ack_of_a_message_this_node_sent_is_422(trio: tuple[Node, Node, Node]) -> None:
    us, prc, _ru = trio
    sent = delivered(us, prc)
    before = us.rows()
    assert_problem(post_ack(us, sent.id), 422, "invalid-input", "id")
    assert us.rows() == before


def test_api_ack_of_a_receipt_is_422(trio: tuple[Node, Node, Node]) -> None:
    us, prc, _ru = trio
    sent = message(us)
    [receipt] = decode_batch(push(prc, us.fingerprint, [sent.canonical]).content)
    us.service.take_receipts("prc", [receipt])
    before = us.rows()
    assert_problem(post_ack(us, receipt.id), 422, "invalid-input", "id")
    assert us.rows() == before


def test_api_second_ack_of_a_message_is_409(trio: tuple[Node, Node, Node]) -> None:
    us, prc, _ru = trio
    sent = delivered(us, prc)
    assert post_ack(prc, sent.id).status_code == 201
    before = prc.rows()
    assert_problem(post_ack(prc, sent.id), 409, "conflict", "id")
    assert prc.rows() == before
    with prc.store.read() as conn:
        assert repo.outbox_count(conn) == 1  # the first ack only


def _forged_ack(prc: Node, message_id: str, seq: int = 1) -> Statement:
    """An ack signed by prc's real key, for a message of the test's choosing."""
    return Statement.create(
        key=prc.dir.signing_key(),
        sender="prc",
        to="us",
        kind="ack",
        seq=seq,
        time=prc.service.clock(),
        body={"message": message_id},
    )


def test_pushed_ack_of_no_message_of_ours_is_refused(trio: tuple[Node, Node, Node]) -> None:
    us, prc, _ru = trio
    before = us.rows()
    response = push(us, prc.fingerprint, [_forged_ack(prc, "ab" * 32).canonical])
    assert_problem(response, 422, "invalid-statement", "body.message")
    assert us.rows() == before


def test_pushed_second_ack_of_one_message_is_refused(trio: tuple[Node, Node, Node]) -> None:
    us, prc, _ru = trio
    sent = delivered(us, prc)
    first, second = _forged_ack(prc, sent.id, 1), _forged_ack(prc, sent.id, 2)
    assert push(us, prc.fingerprint, [first.canonical]).status_code == 200
    before = us.rows()
    response = push(us, prc.fingerprint, [second.canonical])
    assert_problem(response, 422, "invalid-statement", "body.message")
    assert us.rows() == before
    assert us.service.statement_state(sent.id)["ack_id"] == first.id


def test_api_messages_lists_them_with_their_ack_state(trio: tuple[Node, Node, Node]) -> None:
    us, prc, _ru = trio
    sent = delivered(us, prc)
    headers = {"authorization": f"Bearer {TOKEN}"}
    response = call(api_of(prc), "GET", "/api/v1/messages?pending=true", headers=headers)
    assert response.status_code == 200, response.text
    [row] = response.json()["messages"]
    assert (row["id"], row["direction"], row["ack_state"]) == (sent.id, "in", "sent")
    assert post_ack(prc, sent.id).status_code == 201
    response = call(api_of(prc), "GET", "/api/v1/messages?pending=true", headers=headers)
    assert response.json()["messages"] == []


def test_api_messages_bad_pending_is_422_naming_it(trio: tuple[Node, Node, Node]) -> None:
    us, _prc, _ru = trio
    headers = {"authorization": f"Bearer {TOKEN}"}
    response = call(api_of(us), "GET", "/api/v1/messages?pending=maybe", headers=headers)
    assert_problem(response, 422, "invalid-input", "pending")
