"""The checkpoint worker: sign checkpoints of this node's log and get them witnessed.

Every ``tick`` seconds it signs a checkpoint when one is due (see
:meth:`RecordService.checkpoint_if_due`) and asks every peer that has not yet
cosigned the latest one to witness it. A witness that answers 409 with its
size gets a consistency proof from that size instead (C2SP tlog-witness).
A witness that answers 429 (this node is over its quota there) is not asked
again before its ``Retry-After`` (at most ``MAX_THROTTLE_SECONDS``).
"""

from __future__ import annotations

import logging
import threading
import time

from redline.core.errors import RedlineError
from redline.core.witness_wire import WitnessSizeMismatch
from redline.link.transport import PeerClient, PeerThrottled
from redline.link.worker import MAX_THROTTLE_SECONDS
from redline.service.record import RecordService

__all__ = ["CheckpointWorker"]

log = logging.getLogger("redline.record")


class CheckpointWorker:
    """Signs and distributes checkpoints on a schedule, in its own thread."""

    def __init__(
        self,
        *,
        record: RecordService,
        clients: dict[str, PeerClient],
        every: int,
        interval: float,
        tick: float = 0.5,
    ) -> None:
        self.record = record
        self.clients = clients
        self.every = every
        self.interval = interval
        self.tick = tick
        self.errors: dict[str, str] = {}
        # Monotonic time before which a witness that answered 429 is not asked.
        self._throttled_until: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="checkpoints", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.wait(self.tick):
            self.run_once()

    def run_once(self) -> None:
        """Sign a checkpoint if due, then collect missing cosignatures."""
        try:
            self.record.checkpoint_if_due(every=self.every, interval=self.interval)
        except Exception:  # a database hiccup must not end checkpointing for good
            log.exception("could not sign a checkpoint")
            return
        for peer, client in self.clients.items():
            if time.monotonic() < self._throttled_until.get(peer, 0.0):
                continue
            try:
                self.cosign(peer, client)
                self.errors.pop(peer, None)
            except PeerThrottled as exc:
                wait = min(MAX_THROTTLE_SECONDS, float(exc.retry_after))
                self._throttled_until[peer] = time.monotonic() + wait
                self.errors[peer] = str(exc)
            except Exception as exc:  # reported, retried next tick
                if self.errors.get(peer) != str(exc):
                    if isinstance(exc, RedlineError):
                        log.warning("witnessing by %s failed: %s", peer, exc)
                    else:
                        log.exception("witnessing by %s hit an unexpected error", peer)
                self.errors[peer] = str(exc)

    def cosign(self, peer: str, client: PeerClient) -> bool:
        """Get ``peer``'s cosignature on our latest checkpoint. False if it had it."""
        request = self.record.add_checkpoint_body(peer)
        if request is None:
            return False
        checkpoint_id, body = request
        try:
            lines = client.add_checkpoint(body)
        except WitnessSizeMismatch as mismatch:
            # The witness last cosigned another size: prove consistency from there.
            retry = self.record.add_checkpoint_body(peer, old=mismatch.size)
            if retry is None:
                return False
            checkpoint_id, body = retry
            lines = client.add_checkpoint(body)
        self.record.store_cosignatures(peer, checkpoint_id, lines)
        return True
