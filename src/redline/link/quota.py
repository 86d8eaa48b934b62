"""Per-peer quotas on the link: statements per second and bytes per day.

A pinned peer can still be hostile (DESIGN.md, "The least trusted user"): one
pushed 24 MB/s of valid statements, 87 GB an hour, and nothing stopped it.
Each pinned peer now has two token buckets, kept in memory (a restart refills
them; nothing is stored):

- statements: ``peer_statements_per_second`` tokens a second, at most
  ``peer_burst_statements`` held. A push of N statements takes N tokens.
- bytes: ``peer_bytes_per_day / 86400`` tokens a second, at most a whole
  day's budget held, so any 24 hours after a quiet one admit at most two
  days' budget. A request costs its body, its answer and
  :data:`REQUEST_BYTES` for its headers.

A push is admitted whole or refused whole *before* anything of it is checked
or stored, with :class:`QuotaExceeded` (429, ``Retry-After``): the sender
loses nothing by waiting and sending the same batch again. A push over the
burst (or over a day's bytes) could never be admitted; its refusal says the
most the peer takes at once (``max_statements``, ``max_bytes``), and an
honest sender splits its batch to fit. An answer (a pull, leaf records) is
charged once it is built, and may leave the peer in debt; a peer in debt is
refused until the debt is repaid.

Memory is one :class:`_PeerState` per pinned peer (the buckets are keyed by
the party the pinned client certificate belongs to, never by address), and
nothing per request.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.responses import JSONResponse

from redline.core.errors import RemoteError
from redline.http_problems import PROBLEM_TYPE, problem_body

__all__ = [
    "REQUEST_BYTES",
    "SECONDS_PER_DAY",
    "PeerQuotas",
    "QuotaExceeded",
    "QuotaLimits",
    "quota_response",
]

SECONDS_PER_DAY = 86_400
#: What each link request counts against the bytes budget beyond its body and
#: answer: about its headers, so that empty requests are not free.
REQUEST_BYTES = 512

STATEMENTS_QUOTA = "peer_statements_per_second"
BYTES_QUOTA = "peer_bytes_per_day"


class QuotaExceeded(RemoteError):
    """A peer went over one of its quotas; ``field`` names the setting.

    ``retry_after`` is the whole seconds (at least 1) after which the same
    request fits; ``max_statements`` and ``max_bytes`` are the most one push
    can ever carry (:class:`PeerQuotas` always says both).
    """

    code = "quota-exceeded"
    status = 429
    title = "Quota exceeded"

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        retry_after: int = 1,
        max_statements: int | None = None,
        max_bytes: int | None = None,
    ) -> None:
        super().__init__(message, field=field)
        self.retry_after = retry_after
        self.max_statements = max_statements
        self.max_bytes = max_bytes


def quota_response(exc: QuotaExceeded) -> JSONResponse:
    """The 429 problem+json answer for ``exc``, with ``Retry-After`` (RFC 9110
    §10.2.3) and the quota's ``max_statements`` and ``max_bytes``. Raises nothing."""
    body: dict[str, Any] = problem_body(exc)
    extra = {
        "quota": exc.field,
        "retry_after": exc.retry_after,
        "max_statements": exc.max_statements,
        "max_bytes": exc.max_bytes,
    }
    body.update((name, value) for name, value in extra.items() if value is not None)
    return JSONResponse(
        body,
        status_code=exc.status,
        media_type=PROBLEM_TYPE,
        headers={"retry-after": str(exc.retry_after)},
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class QuotaLimits:
    """Each pinned peer's quotas (the ``peer_*`` settings in ``redline.toml``).

    Raises :class:`ValueError` for a limit that is not positive and finite.
    """

    statements_per_second: float
    burst_statements: int
    bytes_per_day: int

    def __post_init__(self) -> None:
        for name in ("statements_per_second", "burst_statements", "bytes_per_day"):
            value = getattr(self, name)
            if not (value > 0 and math.isfinite(value)):
                raise ValueError(f"{name} must be positive and finite, got {value!r}")

    @property
    def bytes_per_second(self) -> float:
        """The bytes budget's refill rate. Raises nothing."""
        return self.bytes_per_day / SECONDS_PER_DAY


class _Bucket:
    """A token bucket: ``rate`` tokens a second up to ``capacity``; may go into debt."""

    __slots__ = ("capacity", "rate", "stamp", "tokens")

    def __init__(self, *, rate: float, capacity: float, now: float) -> None:
        self.rate = rate
        self.capacity = capacity
        self.tokens = capacity
        self.stamp = now

    def refill(self, now: float) -> None:
        if now > self.stamp:
            self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now

    def wait_for(self, amount: float) -> float:
        """Seconds until ``amount`` tokens are held (0: now). ``amount`` is cut
        to the capacity: more than that is never held."""
        missing = min(amount, self.capacity) - self.tokens
        return max(0.0, missing / self.rate)


class _PeerState:
    __slots__ = ("bytes", "statements")

    def __init__(self, limits: QuotaLimits, now: float) -> None:
        self.statements = _Bucket(
            rate=limits.statements_per_second, capacity=limits.burst_statements, now=now
        )
        self.bytes = _Bucket(rate=limits.bytes_per_second, capacity=limits.bytes_per_day, now=now)


class PeerQuotas:
    """The quota state of every pinned peer, by party.

    ``clock`` is a monotonic clock in seconds (the wall clock may step).
    Safe to call from several threads.
    """

    def __init__(self, limits: QuotaLimits, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self._clock = clock
        self._peers: dict[str, _PeerState] = {}
        self._lock = threading.Lock()

    def _state(self, peer: str) -> _PeerState:
        # Called with the lock held, and only for a peer whose pinned
        # certificate was shown: at most one state per pinned peer.
        now = self._clock()
        state = self._peers.get(peer)
        if state is None:
            state = self._peers[peer] = _PeerState(self.limits, now)
        state.statements.refill(now)
        state.bytes.refill(now)
        return state

    def _refusal(self, message: str, *, field: str, wait: float) -> QuotaExceeded:
        return QuotaExceeded(
            message,
            field=field,
            retry_after=max(1, math.ceil(wait)),
            max_statements=self.limits.burst_statements,
            max_bytes=self.limits.bytes_per_day - REQUEST_BYTES,
        )

    def admit_push(self, peer: str, *, statements: int, body_bytes: int) -> None:
        """Take ``statements`` statement tokens and the push's bytes from
        ``peer``'s buckets, or take nothing and raise.

        Raises :class:`QuotaExceeded` naming the quota that binds longest,
        with the seconds after which this very push fits (or, for a push over
        the burst or a day's bytes, after which a push of the most allowed fits).
        """
        cost = body_bytes + REQUEST_BYTES
        limits = self.limits
        with self._lock:
            state = self._state(peer)
            statement_wait = state.statements.wait_for(statements)
            bytes_wait = state.bytes.wait_for(cost)
            over_burst = statements > limits.burst_statements
            over_day = cost > limits.bytes_per_day
            if not (statement_wait or bytes_wait or over_burst or over_day):
                state.statements.tokens -= statements
                state.bytes.tokens -= cost
                return
        if over_burst or (statement_wait >= bytes_wait and not over_day):
            raise self._refusal(
                f"{peer} pushed {statements} statements; its quota is "
                f"{limits.statements_per_second:g} a second, at most "
                f"{limits.burst_statements} at once",
                field=STATEMENTS_QUOTA,
                wait=max(statement_wait, bytes_wait),
            )
        raise self._refusal(
            f"{peer} pushed {body_bytes} bytes; its quota is {limits.bytes_per_day} bytes a day",
            field=BYTES_QUOTA,
            wait=max(statement_wait, bytes_wait),
        )

    def admit_request(self, peer: str, *, body_bytes: int = 0) -> None:
        """Charge a request that is not a push (its body) to ``peer``'s bytes,
        unless the peer is in debt.

        Raises :class:`QuotaExceeded` (the bytes quota) while the budget holds
        less than the request costs; nothing is charged then.
        """
        cost = body_bytes + REQUEST_BYTES
        with self._lock:
            state = self._state(peer)
            wait = state.bytes.wait_for(cost)
            if not wait:
                state.bytes.tokens -= cost
                return
        raise self._refusal(
            f"{peer} has used its quota of {self.limits.bytes_per_day} bytes a day",
            field=BYTES_QUOTA,
            wait=wait,
        )

    def charge_answer(self, peer: str, answer_bytes: int) -> None:
        """Charge an answer already built for ``peer`` (a pull, leaf records).
        It may leave the peer in debt, which :meth:`admit_request` and
        :meth:`admit_push` then refuse until it is repaid. Raises nothing."""
        with self._lock:
            self._state(peer).bytes.tokens -= answer_bytes
