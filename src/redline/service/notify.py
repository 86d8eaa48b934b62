"""Notifications that reach people off the watch floor: a webhook and email.

A notification is queued in the transaction that decides it (an escalation
step) and sent afterwards by :meth:`Notifier.deliver_due`, outside any
transaction, retried with backoff while the endpoint is down; every attempt
is recorded (time, channel, recipient, outcome, error).

- **webhook**: a JSON POST of the payload. ``X-Redline-Signature:
  sha256=<hex>`` is HMAC-SHA256 over the exact body bytes with the shared
  secret (``notify_webhook_secret``); the receiver recomputes it and compares
  in constant time. No secret configured: nothing is sent (fail closed).
- **email**: a plain-text message through an SMTP server (``smtp_host``,
  ``smtp_port``, ``smtp_security`` ``none`` or ``starttls``, ``smtp_from``).

Each channel's library errors (httpx, smtplib, sockets) are turned into
:class:`ChannelError` here, at the adapter, and nowhere else.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import smtplib
import ssl
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any, Final, Protocol

import httpx
import orjson
from sqlalchemy import Connection

from redline.core.errors import InvalidInput
from redline.core.statement import format_time
from redline.core.text import printable
from redline.store import handling as store
from redline.store.db import Store

__all__ = [
    "CHANNELS",
    "EMAIL",
    "SIGNATURE_HEADER",
    "WEBHOOK",
    "Channel",
    "ChannelError",
    "EmailChannel",
    "Notifier",
    "NotifySettings",
    "WebhookChannel",
    "check_address",
    "notifier_from",
    "webhook_signature",
]

log = logging.getLogger("redline")

WEBHOOK: Final = "webhook"
EMAIL: Final = "email"
CHANNELS: Final = (WEBHOOK, EMAIL)
#: The header carrying the webhook body's HMAC-SHA256.
SIGNATURE_HEADER: Final = "X-Redline-Signature"
#: The longest error text kept per attempt.
MAX_ERROR: Final = 500


class ChannelError(Exception):
    """A channel could not deliver a notification (the text says why)."""


class Channel(Protocol):
    """Sends one notification to one address. Raises :class:`ChannelError`."""

    def send(self, *, address: str, subject: str, payload: Mapping[str, Any]) -> None: ...


def webhook_signature(secret: str, body: bytes) -> str:
    """The ``X-Redline-Signature`` value for ``body``: ``sha256=<hex HMAC>``. Raises nothing."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class WebhookChannel:
    """POSTs the payload as JSON, signed with the shared secret."""

    def __init__(
        self,
        *,
        secret: str,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.secret = secret
        self.timeout = timeout
        self.transport = transport

    def send(self, *, address: str, subject: str, payload: Mapping[str, Any]) -> None:
        """POST ``payload`` to ``address``. Raises :class:`ChannelError`."""
        if not self.secret:
            raise ChannelError("notify_webhook_secret is not set; webhooks are not sent unsigned")
        body = orjson.dumps(payload)
        headers = {
            "content-type": "application/json",
            SIGNATURE_HEADER: webhook_signature(self.secret, body),
        }
        try:
            with httpx.Client(
                timeout=self.timeout, transport=self.transport, follow_redirects=False
            ) as client:
                answer = client.post(address, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise ChannelError(f"{type(exc).__name__}: {exc}") from exc
        if not 200 <= answer.status_code < 300:
            raise ChannelError(f"HTTP {answer.status_code} from the webhook")


class EmailChannel:
    """Sends a plain-text email through an SMTP server."""

    def __init__(
        self, *, host: str, port: int, sender: str, starttls: bool = False, timeout: float = 10.0
    ) -> None:
        self.host = host
        self.port = port
        self.sender = sender
        self.starttls = starttls
        self.timeout = timeout

    def send(self, *, address: str, subject: str, payload: Mapping[str, Any]) -> None:
        """Mail ``payload`` to ``address``. Raises :class:`ChannelError`."""
        if not self.host or not self.sender:
            raise ChannelError("smtp_host and smtp_from are not set; email is off")
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = address
        message["Subject"] = subject
        lines = [
            str(payload.get("text", subject)),
            "",
            orjson.dumps(payload, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode(),
        ]
        message.set_content("\n".join(lines))
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                if self.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                smtp.send_message(message)
        except (smtplib.SMTPException, OSError) as exc:
            raise ChannelError(f"{type(exc).__name__}: {exc}") from exc


def check_address(channel: str, address: str) -> None:
    """Refuse a recipient's address that its channel cannot use.

    Raises:
        InvalidInput: field ``channel`` (not ``webhook`` or ``email``) or
            ``address`` (not an http(s) URL; not an email address).
    """
    if channel not in CHANNELS:
        raise InvalidInput(f"must be one of {', '.join(CHANNELS)}", field="channel")
    if not address or len(address) > 500 or printable(address) != address or " " in address:
        raise InvalidInput("must be 1-500 printable characters, no spaces", field="address")
    if channel == WEBHOOK:
        try:
            url = httpx.URL(address)
        except (httpx.InvalidURL, ValueError):
            raise InvalidInput("is not a URL", field="address") from None
        if url.scheme not in ("http", "https") or not url.host:
            raise InvalidInput("must be an http:// or https:// URL", field="address")
        return
    local, at, domain = address.rpartition("@")
    if not at or not local or "." not in domain.strip(".") or "@" in local:
        raise InvalidInput("must be an email address such as duty@example.org", field="address")


class Notifier:
    """Queues notifications to recipients and sends those due, with retries.

    ``retry_base`` doubles per failed attempt up to ``retry_cap``; after
    ``max_attempts`` a notification is given up (``failed``).
    """

    def __init__(
        self,
        store: Store,
        *,
        clock: Callable[[], datetime],
        channels: Mapping[str, Channel],
        retry_base: timedelta = timedelta(seconds=5),
        retry_cap: timedelta = timedelta(minutes=5),
        max_attempts: int = 20,
    ) -> None:
        self.store = store
        self.clock = clock
        self.channels = dict(channels)
        self.retry_base = retry_base
        self.retry_cap = retry_cap
        self.max_attempts = max_attempts

    @staticmethod
    def queue(
        conn: Connection,
        *,
        names: Sequence[str] | None,
        subject: str,
        payload: Mapping[str, Any],
        now: str,
    ) -> tuple[list[str], list[str]]:
        """Queue one notification per recipient, in the caller's transaction:
        the duty recipients when ``names`` is None, else those named.
        Returns (recipients queued, names not found). Raises nothing of its own."""
        known = {r["name"]: r for r in store.recipients(conn)}
        if names is None:
            chosen = [r for r in known.values() if r["duty"]]
            missing: list[str] = []
        else:
            chosen = [known[n] for n in names if n in known]
            missing = [n for n in names if n not in known]
        for r in chosen:
            store.add_notification(
                conn,
                recipient=r["name"],
                channel=r["channel"],
                address=r["address"],
                subject=subject,
                payload={**payload, "recipient": r["name"]},
                now=now,
            )
        return [r["name"] for r in chosen], missing

    def _backoff(self, attempts: int) -> timedelta:
        delay: timedelta = self.retry_base * (2 ** min(attempts, 30))
        return min(self.retry_cap, delay)

    def deliver_due(self, *, limit: int = 50) -> int:
        """Try every notification that is due once; returns how many were sent.

        Each attempt is recorded; a failure is tried again after the backoff.
        Raises nothing of a channel's: its failure is recorded.
        """
        now = self.clock()
        with self.store.read() as conn:
            due = store.due_notifications(conn, format_time(now), limit)
        sent = 0
        for row in due:
            channel = self.channels.get(str(row.channel))
            error: str | None = None
            try:
                if channel is None:
                    raise ChannelError(f"no {row.channel} channel on this node")
                channel.send(
                    address=str(row.address),
                    subject=str(row.subject),
                    payload=orjson.loads(row.payload),
                )
            except ChannelError as exc:
                error = printable(str(exc))[:MAX_ERROR]
            at = self.clock()
            attempts = int(row.attempts) + 1
            next_at = None
            if error is not None and attempts < self.max_attempts:
                next_at = format_time(at + self._backoff(attempts - 1))
            with self.store.write() as conn:
                store.note_attempt(
                    conn,
                    notification_id=int(row.id),
                    at=format_time(at),
                    channel=str(row.channel),
                    recipient=str(row.recipient),
                    error=error,
                    next_at=next_at,
                )
            if error is None:
                sent += 1
            else:
                log.warning("notification %s to %s failed: %s", row.id, row.recipient, error)
        return sent


class NotifySettings(Protocol):
    """The settings :func:`notifier_from` reads (``redline.node.NodeConfig`` has them)."""

    notify_webhook_secret: str
    smtp_host: str
    smtp_port: int
    smtp_security: str
    smtp_from: str
    notify_retry_base_seconds: float
    notify_retry_cap_seconds: float
    notify_max_attempts: int


def notifier_from(
    config: NotifySettings, *, store: Store, clock: Callable[[], datetime]
) -> Notifier:
    """The node's notifier, its channels and retries set from ``config``
    (docs/configuration.md). Raises nothing."""
    return Notifier(
        store,
        clock=clock,
        channels={
            WEBHOOK: WebhookChannel(secret=config.notify_webhook_secret),
            EMAIL: EmailChannel(
                host=config.smtp_host,
                port=config.smtp_port,
                sender=config.smtp_from,
                starttls=config.smtp_security == "starttls",
            ),
        },
        retry_base=timedelta(seconds=config.notify_retry_base_seconds),
        retry_cap=timedelta(seconds=config.notify_retry_cap_seconds),
        max_attempts=config.notify_max_attempts,
    )
