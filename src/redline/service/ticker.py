"""A background thread that does one piece of work every ``interval`` seconds.

The node runs several: the hotline's due lapses and missed calls, the link
tests' schedule, the message-handling escalation and notifications. Each is
a :class:`Ticker` around its own ``work``; a tick that raises is logged and
the next one runs, because a ticker must outlive any one bad tick.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

__all__ = ["Ticker"]

log = logging.getLogger("redline")


class Ticker:
    """Calls ``work()`` every ``interval`` seconds, and at once on :meth:`wake`."""

    def __init__(self, name: str, work: Callable[[], None], *, interval: float = 1.0) -> None:
        self.name = name
        self.work = work
        self.interval = interval
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def wake(self) -> None:
        """Tick now rather than at the next interval. Raises nothing."""
        self._wake.set()

    def start(self) -> None:
        """Start ticking. Raises nothing."""
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop and wait for the thread. Raises nothing."""
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.interval)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self.work()
            except Exception:  # the ticker must outlive any one bad tick
                log.exception("%s ticker failed", self.name)
