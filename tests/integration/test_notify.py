"""Notifications received by test servers on loopback, retried while they are down.

The webhook receiver (``http.server``) checks the HMAC-SHA256 signature; the
SMTP server is aiosmtpd. Each server starts only after the notifier has
failed to reach it; the test clock is moved past the backoff between tries.
Bounded: a fixed number of tries, no sleeping, no timing assertions.
"""

from __future__ import annotations

import hashlib
import hmac
import socket
import threading
from collections.abc import Iterator
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiosmtpd.controller import Controller

from redline.core.errors import InvalidInput
from redline.service.handling import HandlingService
from redline.service.notify import (
    SIGNATURE_HEADER,
    EmailChannel,
    Notifier,
    WebhookChannel,
    check_address,
)
from support.pair import MemoryPair

SECRET = "shared-webhook-secret-for-tests"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Receiver(ThreadingHTTPServer):
    """Keeps each POST's body and whether its signature was right."""

    def __init__(self, port: int, secret: str) -> None:
        self.secret = secret
        self.got: list[tuple[bool, dict[str, Any]]] = []
        super().__init__(("127.0.0.1", port), _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers["content-length"]))
        expected = (
            "sha256=" + hmac.new(self.server.secret.encode(), body, hashlib.sha256).hexdigest()
        )
        valid = hmac.compare_digest(expected, self.headers.get(SIGNATURE_HEADER, ""))
        self.server.got.append((valid, orjson.loads(body)))
        self.send_response(204 if valid else 401)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[bytes] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.messages.append(envelope.content)
        return "250 OK"


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[MemoryPair]:
    pair = MemoryPair(tmp_path)
    yield pair
    pair.close()


def _handling(pair: MemoryPair, notifier: Notifier) -> HandlingService:
    return HandlingService(pair.us.service, notifier=notifier)


def _escalate_one(pair: MemoryPair, handling: HandlingService) -> None:
    """A FLASH to prc, unanswered past its deadline: the duty recipients are re-alerted."""
    pair.us.service.send_message(to="prc", precedence="flash", subject="Intercept", text="")
    pair.deliver()
    pair.clock.advance(minutes=10)
    taken = handling.escalate_due()
    assert [s["action"] for s in taken] == ["realert"]


def _outcomes(handling: HandlingService) -> list[str]:
    return [a["outcome"] for a in reversed(handling.notifications()["attempts"])]


def test_a_webhook_is_retried_while_down_then_received_signed(pair: MemoryPair) -> None:
    port = free_port()
    notifier = Notifier(
        pair.us.store,
        clock=pair.clock,
        channels={"webhook": WebhookChannel(secret=SECRET, timeout=5)},
    )
    handling = _handling(pair, notifier)
    handling.add_recipient(
        name="duty-desk", channel="webhook", address=f"http://127.0.0.1:{port}/hook", duty=True
    )
    _escalate_one(pair, handling)
    assert notifier.deliver_due() == 0  # nobody listens yet
    assert notifier.deliver_due() == 0  # not due again before the backoff
    pair.clock.advance(seconds=5)
    assert notifier.deliver_due() == 0
    assert _outcomes(handling) == ["retry", "retry"]
    assert "ConnectError" in handling.notifications()["attempts"][0]["error"]

    receiver = Receiver(port, SECRET)
    thread = threading.Thread(target=receiver.serve_forever, daemon=True)
    thread.start()
    try:
        pair.clock.advance(seconds=10)
        assert notifier.deliver_due() == 1
        pair.clock.advance(hours=1)
        assert notifier.deliver_due() == 0  # sent once, never again
    finally:
        receiver.shutdown()
        receiver.server_close()
        thread.join(5)
    assert _outcomes(handling) == ["retry", "retry", "sent"]
    assert len(receiver.got) == 1
    valid, payload = receiver.got[0]
    assert valid
    assert (payload["event"], payload["action"], payload["recipient"]) == (
        "escalation",
        "realert",
        "duty-desk",
    )
    assert payload["subject"] == "Intercept"
    row = handling.notifications()["notifications"][0]
    assert (row["state"], row["attempts"]) == ("sent", 3)


def test_a_webhook_signed_with_another_secret_is_refused_by_the_receiver(
    pair: MemoryPair,
) -> None:
    port = free_port()
    receiver = Receiver(port, SECRET)
    thread = threading.Thread(target=receiver.serve_forever, daemon=True)
    thread.start()
    try:
        notifier = Notifier(
            pair.us.store,
            clock=pair.clock,
            channels={"webhook": WebhookChannel(secret="not-the-shared-one", timeout=5)},
            max_attempts=2,
        )
        handling = _handling(pair, notifier)
        handling.add_recipient(
            name="duty-desk", channel="webhook", address=f"http://127.0.0.1:{port}/", duty=True
        )
        _escalate_one(pair, handling)
        assert notifier.deliver_due() == 0
        pair.clock.advance(seconds=5)
        assert notifier.deliver_due() == 0
    finally:
        receiver.shutdown()
        receiver.server_close()
        thread.join(5)
    assert [valid for valid, _ in receiver.got] == [False, False]
    assert _outcomes(handling) == ["retry", "failed"]  # given up after max_attempts
    assert handling.notifications()["attempts"][0]["error"] == "HTTP 401 from the webhook"


def test_no_webhook_secret_sends_nothing(pair: MemoryPair) -> None:
    notifier = Notifier(
        pair.us.store, clock=pair.clock, channels={"webhook": WebhookChannel(secret="")}
    )
    handling = _handling(pair, notifier)
    handling.add_recipient(
        name="d", channel="webhook", address=f"http://127.0.0.1:{free_port()}/", duty=True
    )
    _escalate_one(pair, handling)
    assert notifier.deliver_due() == 0
    assert "notify_webhook_secret is not set" in handling.notifications()["attempts"][0]["error"]


def test_an_email_is_retried_while_the_smtp_server_is_down_then_received(
    pair: MemoryPair,
) -> None:
    port = free_port()
    notifier = Notifier(
        pair.us.store,
        clock=pair.clock,
        channels={
            "email": EmailChannel(
                host="127.0.0.1", port=port, sender="redline@us.example", timeout=5
            )
        },
    )
    handling = _handling(pair, notifier)
    handling.add_recipient(name="watch", channel="email", address="watch@us.example", duty=True)
    _escalate_one(pair, handling)
    assert notifier.deliver_due() == 0
    assert _outcomes(handling) == ["retry"]

    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        pair.clock.advance(seconds=5)
        assert notifier.deliver_due() == 1
    finally:
        controller.stop()
    assert _outcomes(handling) == ["retry", "sent"]
    assert len(mailbox.messages) == 1
    mail = message_from_bytes(mailbox.messages[0])
    assert (mail["From"], mail["To"]) == ("redline@us.example", "watch@us.example")
    assert "FLASH message" in mail["Subject"]
    assert "Intercept" in mail.get_payload()


@pytest.mark.parametrize(
    ("channel", "address", "field"),
    [
        ("pager", "x", "channel"),
        ("webhook", "ftp://example.org/", "address"),
        ("webhook", "not a url", "address"),
        ("email", "nobody", "address"),
        ("email", "a@b", "address"),
        ("email", "a@example.org\r\nBcc: x@example.org", "address"),
    ],
)
def test_a_bad_recipient_is_refused_naming_the_field(
    channel: str, address: str, field: str
) -> None:
    with pytest.raises(InvalidInput) as info:
        check_address(channel, address)
    assert info.value.field == field
