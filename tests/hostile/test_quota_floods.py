"""Floods against the per-peer quotas, on real node processes over loopback.

A pinned peer pushed 24 MB/s of valid statements and nothing stopped it. Now
a hostile pinned peer (JP, pinned by the PRC node, never started: the test
speaks for it with JP's certificate and signing key) is refused with 429 and
Retry-After once over its quota, the node stores exactly what it admitted,
and meanwhile an honest peer and the operator are served. An honest node
throttled by a tiny quota loses nothing.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx

from redline.core.statement import Statement
from redline.link.transport import client_ssl_context
from redline.link.wire import NDJSON, encode_batch
from redline.service.node import system_clock
from support.nodes import NodeProcess, wait_until

BURST = 20


@dataclass
class Answers:
    """What the hostile peer's pushes were answered with."""

    admitted: list[int] = field(default_factory=list)
    refused: list[httpx.Response] = field(default_factory=list)


@contextmanager
def hostile_link(attacker: NodeProcess, target: NodeProcess) -> Iterator[httpx.Client]:
    """An HTTPS client to ``target``'s link with ``attacker``'s pinned certificate."""
    context = client_ssl_context(
        cert_file=attacker.dir.tls_cert_file,
        key_file=attacker.dir.tls_key_file,
        peer_cert_pem=target.dir.identity().tls_cert_pem,
    )
    with httpx.Client(base_url=target.link_url, verify=context, timeout=30, trust_env=False) as c:
        yield c


def statements(
    attacker: NodeProcess, to: str, first: int, count: int, *, kind: str = "heartbeat", **body: Any
) -> list[bytes]:
    """``count`` valid statements signed by ``attacker``, sequence numbers from ``first``."""
    key = attacker.dir.signing_key()
    now = system_clock()
    made = []
    for seq in range(first, first + count):
        payload = body or {"nonce": f"{seq:016x}"}
        made.append(
            Statement.create(
                key=key, sender=attacker.party, to=to, kind=kind, seq=seq, time=now, body=payload
            ).canonical
        )
    return made


def push(client: httpx.Client, wires: list[bytes]) -> httpx.Response:
    return client.post(
        "/link/v1/statements", content=encode_batch(wires), headers={"content-type": NDJSON}
    )


def assert_refused_naming(response: httpx.Response, quota: str) -> None:
    assert response.status_code == 429
    assert response.headers["content-type"] == "application/problem+json"
    retry_after = response.headers["retry-after"]
    assert retry_after.isdigit() and int(retry_after) >= 1
    problem = response.json()
    assert problem["code"] == "quota-exceeded"
    assert problem["field"] == problem["quota"] == quota
    assert problem["retry_after"] == int(retry_after)


def held_from(node: NodeProcess, party: str, kind: str) -> list[Any]:
    return [
        row
        for row in node.rows()
        if row.direction == "in" and row.sender == party and row.kind == kind
    ]


def test_a_hostile_peer_flooding_pushes_is_refused_and_an_honest_peer_is_served(
    make_node: Callable[..., NodeProcess],
) -> None:
    us = make_node("us")
    prc = make_node("prc")
    jp = make_node("jp")
    prc.dir.config.peer_statements_per_second = 1.0
    prc.dir.config.peer_burst_statements = BURST
    prc.dir.save_config()
    us.pin(prc)
    prc.pin(us)
    prc.pin(jp)
    prc.start()
    us.start()

    answers = Answers()
    stop = threading.Event()

    def flood() -> None:
        # Batches of a full burst, as fast as the node answers; a refused
        # batch is sent again (a flood does not wait for Retry-After).
        seq = 1
        with hostile_link(jp, prc) as link:
            for _ in range(3000):  # a bound, should the stop never come
                if stop.is_set():
                    return
                answer = push(link, statements(jp, "prc", seq, BURST))
                if answer.status_code == 200:
                    answers.admitted.append(BURST)
                    seq += BURST
                else:
                    answers.refused.append(answer)

    started = time.monotonic()
    flooding = threading.Thread(target=flood, daemon=True)
    flooding.start()
    try:
        wait_until(lambda: len(answers.refused) >= 10, timeout=60, what="the flood to be refused")
        # While the flood goes on: the operator API answers...
        with prc.api() as api:
            assert api.get("/api/v1/identity").status_code == 200
        # ...and the honest peer's message is taken (its own quota is untouched).
        with us.api() as api:
            sent = api.post(
                "/api/v1/messages",
                json={"to": "prc", "precedence": "flash", "subject": "through", "text": "x"},
            )
        assert sent.status_code == 201, sent.text
        wait_until(
            lambda: any(row.id == sent.json()["id"] for row in prc.rows()),
            timeout=60,
            what="the honest peer's message at the PRC node",
        )
        assert flooding.is_alive(), "the flood ended before the honest peer was served"
    finally:
        stop.set()
        flooding.join(60)
    elapsed = time.monotonic() - started
    assert not flooding.is_alive()

    for refused in answers.refused:
        assert_refused_naming(refused, "peer_statements_per_second")
        assert refused.json()["max_statements"] == BURST
    # The node holds exactly what it admitted, and admitted no more than the quota.
    held = held_from(prc, "jp", "heartbeat")
    assert len(held) == sum(answers.admitted)
    assert sorted(row.seq for row in held) == list(range(1, len(held) + 1))
    assert BURST <= len(held) <= BURST + 1.0 * elapsed
    # The node still serves after the flood.
    with prc.api() as api:
        assert api.get("/api/v1/status").status_code == 200


def test_a_peer_over_its_bytes_per_day_is_refused_naming_the_bytes_quota(
    make_node: Callable[..., NodeProcess],
) -> None:
    prc = make_node("prc")
    jp = make_node("jp")
    prc.dir.config.peer_bytes_per_day = 1024 * 1024  # the least allowed: 1 MiB a day
    prc.dir.save_config()
    prc.pin(jp)
    prc.start()
    text = "x" * 30_000  # about 30 KiB a statement, 300 KiB a batch of 10
    body = {"precedence": "routine", "subject": "bulk", "text": text, "lang": "en"}
    admitted = 0
    refused: httpx.Response | None = None
    with hostile_link(jp, prc) as link:
        for _ in range(10):  # 3 MiB offered: three days' budget
            batch = statements(jp, "prc", admitted + 1, 10, kind="message", **body)
            answer = push(link, batch)
            if answer.status_code != 200:
                refused = answer
                break
            admitted += len(batch)
    assert refused is not None, "3 MiB went through a quota of 1 MiB a day"
    assert_refused_naming(refused, "peer_bytes_per_day")
    # A bucket refilled a day's budget a day: the next push fits in hours, not seconds.
    assert int(refused.headers["retry-after"]) > 60
    assert 0 < admitted <= 40
    assert len(held_from(prc, "jp", "message")) == admitted


def test_an_honest_node_throttled_by_a_tiny_quota_delivers_everything_once(
    make_node: Callable[..., NodeProcess],
) -> None:
    us = make_node("us")
    prc = make_node("prc")
    prc.dir.config.peer_statements_per_second = 20.0
    prc.dir.config.peer_burst_statements = 10
    prc.dir.save_config()
    us.pin(prc)
    prc.pin(us)
    # The PRC node is down while 60 messages queue at the US node: once it is
    # up, the backlog (one push of 60) is over its burst of 10.
    us.start()
    count = 60
    with us.api() as api:
        sent = []
        for i in range(count):
            response = api.post(
                "/api/v1/messages",
                json={"to": "prc", "precedence": "routine", "subject": f"m{i}", "text": "x"},
            )
            assert response.status_code == 201, response.text
            sent.append(response.json()["id"])
    prc.start()
    seen = Counter[str]()

    def delivered() -> bool:
        with us.api() as api:
            [link] = [x for x in api.get("/api/v1/status").json()["links"] if x["peer"] == "prc"]
        seen[link["state"]] += 1
        return link["queued"] == 0

    wait_until(delivered, timeout=120, interval=0.1, what="every message delivered")
    held = held_from(prc, "us", "message")
    assert Counter(row.id for row in held) == Counter(sent)  # none lost, none twice
    assert sorted(row.seq for row in held) == list(range(1, count + 1))
    # The US node was throttled, said so, and did not count it as a failure.
    assert seen["throttled"] >= 1, seen
    log = us.log_path.read_text()
    assert "prc throttled delivery" in log
    assert "peer_statements_per_second" in log
    with us.api() as api:
        status = api.get("/api/v1/status").json()
    assert not [a for a in status["alarms"] if a["kind"] == "unreachable"]
