"""The delivery worker: one thread per peer, pushing the outbox and catching up.

It delivers the oldest queued statements in batches (one statement when the
queue is short, up to ``batch_size`` when there is a backlog), verifies and
stores the signed receipts, and retries with capped exponential backoff when
the peer is unreachable or refuses. It also asks the peer for everything
since the last statement this node holds: at start, when a push from the peer
skipped ahead (a gap), and every ``pull_interval`` seconds.

Each failure is recorded in the store (:meth:`NodeService.delivery_failed`):
the attempts, error and next attempt time on the queued statements, and on
the peer's link. The worker does not contact the peer before that time, and
a worker that starts (after a restart) resumes the backoff from it, so a node
restarted while its peer is down does not hammer the peer. Statements go in
order, so the head of the queue decides when the peer is tried again.

A peer that answers 429 (this node is over its quota there,
:class:`PeerThrottled`) has not failed: the worker waits the peer's
``Retry-After`` (at least its own backoff, at most
:data:`MAX_THROTTLE_SECONDS`), then sends the same batch again, which the
outbox still holds. Nothing is lost, no attempt is counted and no
``unreachable`` alarm is raised; the link shows ``throttled``
(:meth:`NodeService.throttled`). When the refusal says the most the peer takes
in one push (``max_statements``, ``max_bytes``), later pushes to it are split
to fit: a batch larger than the peer's burst would otherwise never pass.
"""

from __future__ import annotations

import logging
import random
import threading
from datetime import datetime, timedelta

from redline.core.errors import RedlineError, RemoteError
from redline.link.transport import PeerClient, PeerThrottled
from redline.link.wire import MAX_BATCH
from redline.service.node import NodeService

__all__ = ["MAX_THROTTLE_SECONDS", "DeliveryWorker", "backoff_delay"]

log = logging.getLogger("redline.link")

# Under the link's 8 MiB body limit (link.server.MAX_LINK_BODY), with room to spare.
MAX_PUSH_BYTES = 6 * 1024 * 1024
# The longest a peer's Retry-After is honoured: a peer cannot park delivery for
# a day with one answer; past this the worker asks again (and is told again).
MAX_THROTTLE_SECONDS = 300.0


def backoff_delay(attempt: int, *, base: float, cap: float, jitter: float) -> float:
    """Seconds to wait after the ``attempt``-th consecutive failure (1-based).

    Exponential from ``base``, capped at ``cap``; ``jitter`` in [0, 1) spreads
    retries so two nodes coming back do not retry in lockstep.
    """
    return float(min(cap, base * (2 ** max(0, attempt - 1))) * (0.5 + jitter / 2))


class DeliveryWorker:
    """Delivers one peer's outbox and pulls what that peer sent."""

    def __init__(
        self,
        *,
        service: NodeService,
        peer: str,
        client: PeerClient,
        batch_size: int = 256,
        retry_base: float = 0.2,
        retry_cap: float = 5.0,
        pull_interval: float = 30.0,
        idle_poll: float = 0.25,
    ) -> None:
        self.service = service
        self.peer = peer
        self.client = client
        self.batch_size = min(batch_size, MAX_BATCH)
        self.retry_base = retry_base
        self.retry_cap = retry_cap
        self.pull_interval = pull_interval
        self.idle_poll = idle_poll
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._pull_wanted = threading.Event()
        self._pull_wanted.set()  # catch up once at start
        self._thread = threading.Thread(target=self._run, name=f"deliver-{peer}", daemon=True)
        self._failures = 0
        # Consecutive 429s, and not before when the peer that sent them is asked again.
        self._throttles = 0
        self._throttled_until: datetime | None = None
        # The most one push may carry, as the peer last said (it only shrinks).
        self.push_limit = self.batch_size
        self.push_bytes = MAX_PUSH_BYTES
        self._random = random.Random()
        # Not before this time is the peer contacted (None: read it from the store first).
        self._not_before: datetime | None = None
        self._next_pull: datetime | None = None
        self.last_error: str | None = None

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout)
        self.client.close()

    def wake(self) -> None:
        """Something was queued: deliver now."""
        self._wake.set()

    def request_pull(self) -> None:
        """The peer skipped ahead: ask it for what is missing."""
        self._pull_wanted.set()
        self._wake.set()

    # -- the loop ----------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            # Clear before looking at the queue: a wake() from now on is not lost.
            self._wake.clear()
            wait = self.step()
            if wait > 0:
                # A wake() during a backoff only runs step() again, which waits on.
                self._wake.wait(wait)

    def step(self) -> float:
        """Do what is due now: pull if a pull is due, then push one batch, unless
        the peer is not to be contacted yet. Returns the seconds to wait before
        the next step (0: go on at once).

        Raises nothing: a failure is recorded (:meth:`NodeService.delivery_failed`)
        and the peer is tried again after the backoff; a 429 is recorded as
        throttling (:meth:`NodeService.throttled`) and the peer is tried again
        after its ``Retry-After``.
        """
        now = self.service.clock()
        if self._not_before is None:
            # First step: resume the backoff a previous run recorded, if any.
            try:
                self._failures, recorded = self.service.retry_at(self.peer)
            except Exception as exc:
                log.exception("could not read %s's recorded backoff", self.peer)
                return self._failed(exc, now)
            self._not_before = recorded or now
        # Never further off than the cap: a time further off than that was
        # recorded under another clock (it stepped back) or a larger cap.
        latest = now + timedelta(seconds=self.retry_cap)
        self._not_before = min(self._not_before, latest)
        if now < self._not_before:
            return (self._not_before - now).total_seconds()
        if self._throttled_until is not None and now < self._throttled_until:
            return (self._throttled_until - now).total_seconds()
        try:
            if self._pull_wanted.is_set() or self._next_pull is None or now >= self._next_pull:
                self._pull_wanted.clear()
                try:
                    self._catch_up()
                except Exception:
                    self._pull_wanted.set()  # try again after the backoff
                    raise
                self._next_pull = now + timedelta(seconds=self.pull_interval)
                self.service.exchange_succeeded(self.peer)
            delivered = self._deliver_once()
            self._failures = 0
            self._throttles = 0
            self._throttled_until = None
            self.last_error = None
            return 0.0 if delivered else self.idle_poll
        except PeerThrottled as exc:
            return self._throttled(exc, now)
        except RedlineError as exc:
            return self._failed(exc, now)
        except Exception as exc:  # a bug must not kill delivery for good
            log.exception("delivery to %s hit an unexpected error", self.peer)
            return self._failed(exc, now)

    def _failed(self, exc: Exception, now: datetime) -> float:
        self._failures += 1
        self.last_error = str(exc)
        delay = backoff_delay(
            self._failures,
            base=self.retry_base,
            cap=self.retry_cap,
            jitter=self._random.random(),
        )
        self._not_before = now + timedelta(seconds=delay)
        log.info("delivery to %s failed (%s); retrying in %.2fs", self.peer, exc, delay)
        try:
            self.service.delivery_failed(self.peer, str(exc), self._not_before)
        except Exception:
            log.exception("could not record the failed attempt")
        return delay

    def _throttled(self, exc: PeerThrottled, now: datetime) -> float:
        self._throttles += 1
        self.last_error = str(exc)
        backoff = backoff_delay(
            self._throttles,
            base=self.retry_base,
            cap=self.retry_cap,
            jitter=self._random.random(),
        )
        delay = min(MAX_THROTTLE_SECONDS, max(float(exc.retry_after), backoff))
        if exc.max_statements is not None:
            self.push_limit = max(1, min(self.push_limit, exc.max_statements))
        if exc.max_bytes is not None:
            self.push_bytes = max(1, min(self.push_bytes, exc.max_bytes))
        self._throttled_until = now + timedelta(seconds=delay)
        log.info("%s throttled delivery (%s); retrying in %.2fs", self.peer, exc, delay)
        try:
            self.service.throttled(self.peer, self._throttled_until, str(exc))
        except Exception:
            log.exception("could not record the throttling")
        return delay

    @property
    def throttled_until(self) -> datetime | None:
        """Not before when the peer is asked again after a 429 (None: not throttled)."""
        return self._throttled_until

    def _deliver_once(self) -> bool:
        """Push one batch. Returns False when there was nothing to push."""
        wires = self.service.due(self.peer, self.push_limit)
        if not wires:
            return False
        # Keep the request under the peer's body limit (and what its quota
        # takes at once), whatever the statements weigh.
        batch: list[bytes] = []
        total = 0
        for wire in wires:
            total += len(wire) + 1
            if batch and total > self.push_bytes:
                break
            batch.append(wire)
        receipts = self.client.push(batch)
        if self.service.take_receipts(self.peer, receipts) == 0:
            raise RemoteError(f"{self.peer} answered a push with no receipt for it")
        return True

    def _catch_up(self) -> None:
        while not self._stop.is_set():
            after = self.service.received_through(self.peer)
            batch = self.client.pull(after, self.batch_size)
            if not batch:
                return
            self.service.receive(self.peer, batch)
            if len(batch) < self.batch_size:
                return
