"""The one place node-to-node HTTP happens: HTTPS with mutual TLS, pinned.

The client trusts exactly the peer's pinned self-signed certificate (nothing
from the system store) and presents this node's own certificate. Hostnames are
not checked: the pin is the identity, and a peer may sit behind any address.
Every httpx and ssl exception is mapped here to :class:`LinkUnavailable` or
:class:`PeerRejected`.
"""

from __future__ import annotations

import base64
import ssl
from pathlib import Path

import httpx

from redline.core.errors import InvalidStatement, LinkUnavailable, PeerRejected, RemoteError
from redline.core.statement import Statement
from redline.link.wire import NDJSON, decode_batch, encode_batch
from redline.service.record import WitnessSizeMismatch

__all__ = ["PeerClient", "client_ssl_context", "server_ssl_context"]

PUSH_PATH = "/link/v1/statements"


def client_ssl_context(*, cert_file: Path, key_file: Path, peer_cert_pem: str) -> ssl.SSLContext:
    """A TLS client context that trusts only ``peer_cert_pem`` and presents ours."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.check_hostname = False  # pinned by certificate, not by name
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_verify_locations(cadata=peer_cert_pem)
    context.load_cert_chain(certfile=str(cert_file), keyfile=str(key_file))
    return context


def server_ssl_context(
    *, cert_file: Path, key_file: Path, peer_cert_pems: list[str]
) -> ssl.SSLContext:
    """A TLS server context that requires a client certificate from a pinned peer.

    Fails closed: with no pinned peer, no client certificate can verify.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_cert_chain(certfile=str(cert_file), keyfile=str(key_file))
    for pem in peer_cert_pems:
        context.load_verify_locations(cadata=pem)
    return context


def _rejected(response: httpx.Response) -> PeerRejected:
    try:
        body = response.json()
        code = str(body.get("code", "unknown"))
        detail = str(body.get("detail", response.text[:200]))
    except (ValueError, AttributeError):
        code, detail = "unknown", response.text[:200]
    return PeerRejected(
        f"peer answered {response.status_code} {code}: {detail}",
        peer_code=code,
        peer_status=response.status_code,
    )


class PeerClient:
    """HTTP client for one peer's link endpoint."""

    def __init__(
        self,
        *,
        url: str,
        cert_file: Path,
        key_file: Path,
        peer_cert_pem: str,
        timeout: float = 10.0,
    ) -> None:
        self.url = url.rstrip("/")
        context = client_ssl_context(
            cert_file=cert_file, key_file=key_file, peer_cert_pem=peer_cert_pem
        )
        self._client = httpx.Client(verify=context, timeout=timeout, trust_env=False)

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()

    def _request(self, method: str, path: str, **kwargs: object) -> httpx.Response:
        try:
            response = self._client.request(method, self.url + path, **kwargs)  # type: ignore[arg-type]
        except (httpx.TransportError, ssl.SSLError, OSError) as exc:
            raise LinkUnavailable(f"{self.url} unreachable: {exc!r}") from exc
        if response.status_code != 200:
            raise _rejected(response)
        return response

    def push(self, wires: list[bytes]) -> list[Statement]:
        """Deliver a batch; return the peer's receipts (parsed, not yet verified).

        Raises :class:`LinkUnavailable`, :class:`PeerRejected`, or
        :class:`RemoteError` if the answer is not a batch of statements.
        """
        response = self._request(
            "POST", PUSH_PATH, content=encode_batch(wires), headers={"content-type": NDJSON}
        )
        return self._statements(response)

    def pull(self, after: int, limit: int) -> list[Statement]:
        """Ask for everything the peer sent us after sequence number ``after``.

        Raises :class:`LinkUnavailable`, :class:`PeerRejected` or :class:`RemoteError`.
        """
        response = self._request("GET", PUSH_PATH, params={"after": after, "limit": limit})
        return self._statements(response, allow_empty=True)

    @staticmethod
    def _statements(response: httpx.Response, *, allow_empty: bool = False) -> list[Statement]:
        if allow_empty and not response.content.strip():
            return []
        try:
            return decode_batch(response.content)
        except InvalidStatement as exc:
            raise RemoteError(f"peer answered with a bad statement batch: {exc}") from exc

    def add_checkpoint(self, body: bytes) -> bytes:
        """Ask the peer to witness our checkpoint (C2SP tlog-witness add-checkpoint).

        Returns the cosignature lines. Raises :class:`WitnessSizeMismatch`
        carrying the witness's size on a 409 with ``text/x.tlog.size``,
        :class:`LinkUnavailable` or :class:`PeerRejected` otherwise.
        """
        try:
            response = self._client.post(
                self.url + "/link/v1/add-checkpoint",
                content=body,
                headers={"content-type": "text/plain; charset=utf-8"},
            )
        except (httpx.TransportError, ssl.SSLError, OSError) as exc:
            raise LinkUnavailable(f"{self.url} unreachable: {exc!r}") from exc
        if response.status_code == 409 and response.headers.get("content-type", "").startswith(
            "text/x.tlog.size"
        ):
            text = response.text.strip()
            if not text.isdigit():
                raise RemoteError("witness answered 409 with a malformed size")
            raise WitnessSizeMismatch(f"witness has size {text}", size=int(text))
        if response.status_code != 200:
            raise _rejected(response)
        return response.content

    def leaves(self, start: int, end: int) -> list[bytes]:
        """Fetch the peer log's leaf records [start, end) for our copy of it.

        Raises :class:`LinkUnavailable`, :class:`PeerRejected` or :class:`RemoteError`.
        """
        response = self._request("POST", "/link/v1/log/leaves", json={"start": start, "end": end})
        try:
            records = response.json()["records"]
            return [base64.b64decode(r, validate=True) for r in records]
        except (ValueError, KeyError, TypeError) as exc:
            raise RemoteError("peer answered a leaf query with something malformed") from exc
