"""Live updates: an in-process broadcaster of what the node just stored.

The console's server-sent events (``web/console``) subscribe here. The node's
``on_stored`` hook (the one the hotline projection uses) queues an event for
each statement stored on the main stream, and the event is published only
once that transaction has committed, so a page that re-reads on the event
sees what it announces. Each subscriber has a bounded queue: a client too
slow to drain it is dropped (its stream ends; the browser reconnects and
re-reads everything, which is how any reconnecting console catches up).

Each event names the *topics* it concerns, so a page re-reads only the
fragments that show them (``static/console.js`` maps fragments to topics):

- ``messages``: a message sent or received, an acknowledgement, a seen
  receipt, a delivery receipt (the inbox, *Now*, the unread count);
- ``message-ID``: that message, its acknowledgement, seen and delivery
  receipts, its translations (its page);
- ``notices``, ``notice-ID``: a notice (the list; its page), and the
  translations of a notice (``translations``);
- ``hotline``: any hotline statement (requests, calls, directory,
  mechanisms, readouts, summaries);
- ``request-ID``, ``call-ID``: the request or call a hotline statement
  belongs to.

A heartbeat concerns no page: it has no topic.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection

from redline.core.kinds import ACK, HEARTBEAT, MESSAGE, RECEIPT
from redline.core.messaging import SEEN
from redline.core.notices import NOTICE
from redline.core.statement import Statement
from redline.core.translation import TRANSLATION
from redline.service.node import NodeService
from redline.store.operators import after_commit

__all__ = ["Broadcaster", "LiveEvent", "Subscription", "topics_of"]

#: Events a subscriber may have waiting before it is dropped as too slow.
QUEUE_SIZE = 256


#: Body fields of hotline statements that name the request or call they belong to.
_THREAD_FIELDS = (("request", "request"), ("call", "call"))
_OPENING_KINDS = {"request": "request", "call": "call"}


def topics_of(statement: Statement) -> tuple[str, ...]:
    """What ``statement`` concerns, as the console's fragments name it (see the
    module docstring). Raises nothing."""
    body = statement.body
    if statement.kind == HEARTBEAT:
        return ()
    if statement.kind == MESSAGE:
        return ("messages", f"message-{statement.id}")
    if statement.kind in (ACK, SEEN):
        return ("messages", f"message-{body.get('message')}")
    if statement.kind == NOTICE:
        return ("notices", f"notice-{statement.id}")
    if statement.kind == TRANSLATION:
        # Shown beside its original: a message's page, or a notice's.
        original = body.get("original")
        return ("translations", f"message-{original}", f"notice-{original}")
    if statement.kind == RECEIPT:
        acked = body.get("ack")
        ids = [a.get("id") for a in acked if isinstance(a, dict)] if isinstance(acked, list) else []
        return ("messages", *(f"message-{i}" for i in ids if isinstance(i, str)))
    topics = ["hotline"]
    opening = _OPENING_KINDS.get(statement.kind)
    if opening is not None and isinstance(body.get("id"), str):
        topics.append(f"{opening}-{body.get('id')}")
    for name, topic in _THREAD_FIELDS:
        if isinstance(body.get(name), str):
            topics.append(f"{topic}-{body.get(name)}")
    return tuple(topics)


@dataclass(frozen=True, slots=True)
class LiveEvent:
    """One stored statement, as the console needs to hear of it."""

    id: int
    kind: str
    statement: str
    sender: str
    to: str
    precedence: str | None = None
    #: The other party: the sender of what was received, the addressee of what was sent.
    peer: str = ""
    topics: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The event's data. Raises nothing."""
        return {
            "kind": self.kind,
            "statement": self.statement,
            "from": self.sender,
            "to": self.to,
            "peer": self.peer,
            "precedence": self.precedence,
            "topics": list(self.topics),
        }


@dataclass(eq=False, slots=True)
class Subscription:
    """One client's queue, drained on its event loop."""

    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue[LiveEvent] = field(
        default_factory=lambda: asyncio.Queue(maxsize=QUEUE_SIZE)
    )
    dropped: bool = False

    def _offer(self, event: LiveEvent) -> None:
        if self.dropped:
            return
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.dropped = True

    async def next(self) -> LiveEvent | None:
        """The next event, or None once this subscription was dropped. Raises nothing."""
        if self.dropped:
            return None
        return await self.queue.get()


class Broadcaster:
    """Fans stored statements out to every subscribed client."""

    def __init__(self) -> None:
        self._subscriptions: set[Subscription] = set()
        self._lock = threading.Lock()
        self._ids = itertools.count(1)

    def attach(self, node: NodeService) -> None:
        """Hear of every statement ``node`` stores from now on, and of the
        delivery receipts it takes. Raises nothing."""
        party = node.party
        node.on_stored.append(lambda conn, statements: self._stored(conn, statements, party))
        # A delivery receipt is stored beside the main stream, not on it: its
        # own hook, so that a sent message's page shows "delivered" at once.
        node.on_receipts.append(lambda conn, receipts: self._stored(conn, receipts, party))

    def _stored(self, conn: Connection, statements: Sequence[Statement], party: str) -> None:
        events = [
            LiveEvent(
                id=next(self._ids),
                kind=s.kind,
                statement=s.id,
                sender=s.sender,
                to=s.to,
                precedence=str(s.body.get("precedence")) if s.kind == MESSAGE else None,
                peer=s.to if s.sender == party else s.sender,
                topics=topics_of(s),
            )
            for s in statements
        ]
        after_commit(conn, lambda: self.publish(events))

    def publish(self, events: Sequence[LiveEvent]) -> None:
        """Queue ``events`` for every subscriber, from any thread. Raises nothing."""
        with self._lock:
            subscriptions = list(self._subscriptions)
        for sub in subscriptions:
            for event in events:
                try:
                    sub.loop.call_soon_threadsafe(sub._offer, event)
                except RuntimeError:  # its loop is closed
                    sub.dropped = True

    def subscribe(self) -> Subscription:
        """A new subscription on the running event loop. Raises RuntimeError outside one."""
        sub = Subscription(loop=asyncio.get_running_loop())
        with self._lock:
            self._subscriptions.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        """Stop delivering to ``sub``. Raises nothing."""
        with self._lock:
            self._subscriptions.discard(sub)

    @property
    def subscribers(self) -> int:
        """How many clients are subscribed. Raises nothing."""
        with self._lock:
            return len(self._subscriptions)
