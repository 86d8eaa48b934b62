"""Terms, seen, ack with reply, escalation and queued notifications on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from redline.service.handling import HandlingService
from redline.service.notify import Notifier
from support.hotline import Clock, Side, hotline_sides, sync
from support.nodes import fresh_postgres_database


class Recorder:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def send(self, *, address: str, subject: str, payload: Any) -> None:
        self.sent.append(dict(payload))


@pytest.fixture
def sides(tmp_path: Path, backend: str) -> Iterator[tuple[dict[str, Side], Clock]]:
    clock = Clock()
    with ExitStack() as stack:
        databases = {}
        if backend == "postgresql":
            databases = {p: stack.enter_context(fresh_postgres_database()) for p in ("us", "prc")}
        with hotline_sides(tmp_path, clock, databases=databases) as made:
            yield made, clock


def test_the_whole_handling_round_trip(sides: tuple[dict[str, Side], Clock]) -> None:
    made, clock = sides
    us, prc = made["us"], made["prc"]
    channel = Recorder()
    handling = HandlingService(
        us.node, notifier=Notifier(us.store, clock=clock, channels={"webhook": channel})
    )
    handling.add_recipient(name="duty", channel="webhook", address="http://h.test/", duty=True)
    terms = handling.propose_terms(
        to="prc", deadlines={"flash": 120, "immediate": 600, "priority": 3600, "routine": 7200}
    )
    sync(us, prc)
    HandlingService(prc.node).accept_terms(terms.id)
    sync(us, prc)
    clock.advance(seconds=1)
    message = us.node.send_message(to="prc", precedence="flash", subject="x", text="")
    sync(us, prc)
    assert HandlingService(prc.node).seen(message.id)["new"] is True
    sync(us, prc)
    clock.advance(minutes=3)  # past the agreed 2 minutes, inside the default 10
    taken = handling.escalate_due()
    assert [s["action"] for s in taken] == []  # the default policy steps at 10 minutes
    handling.set_policy(
        peer="prc", precedence="flash", steps=[{"after_seconds": 60, "action": "realert"}]
    )
    assert [s["action"] for s in handling.escalate_due()] == ["realert"]
    assert handling.escalate_due() == []
    prc.node.acknowledge(message.id, reply="Late, sorry.")
    sync(us, prc)
    [row] = us.node.messages()
    assert (row["late"], row["reply"], row["ack_state"]) == (True, "Late, sorry.", "acknowledged")
    assert row["seen_at"] is not None
    assert [s["action"] for s in row["escalation"]] == ["realert"]
    assert handling.notifier is not None and handling.notifier.deliver_due() == 1
    assert [p["action"] for p in channel.sent] == ["realert"]
    attempts = handling.notifications()["attempts"]
    assert [(a["recipient"], a["outcome"]) for a in attempts] == [("duty", "sent")]
