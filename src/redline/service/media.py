"""Voice and video on a call: the signalling acts, the fingerprint check a browser
asks for before it uses the peer's SDP, and TURN credentials for the operators.

The offer, the answer and "media established" are signed statements
(:mod:`redline.core.media`), sent over the link like any act and announced to
the consoles by the live channel (their bodies name the call, so they carry
its ``call-ID`` topic). Who may send which is checked when sending and again
on receipt: only the caller offers, only the called party answers, each once,
while the call is answered; a peer's media statement about a call it is not
party to is refused. docs/calls.md has the whole flow.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from redline.core.errors import Conflict, InvalidInput, InvalidStatement, NotFound
from redline.core.fields import ActedBy
from redline.core.hotline.calls import call_view
from redline.core.hotline.lifecycle import CallState
from redline.core.hotline.threads import ItemKind, item_name
from redline.core.media import (
    CALL_ANSWER,
    CALL_MEDIA,
    CALL_OFFER,
    MEDIA_KINDS,
    CallMediaBody,
    FingerprintMismatch,
    SdpBody,
    check_fingerprints,
    sdp_fingerprints,
)
from redline.core.statement import Statement
from redline.service.hotline import HotlineService
from redline.service.hotline_base import build
from redline.service.node import NodeService
from redline.store import hotline as store
from redline.store.db import Connection

__all__ = ["MediaService", "TurnSettings", "media_of", "turn_rest_credentials"]


@dataclass(frozen=True, slots=True, kw_only=True)
class TurnSettings:
    """The node's TURN relay as its operators' browsers reach it (docs/calls.md)."""

    host: str
    port: int
    realm: str
    secret: str
    relay_only: bool = False
    #: How long issued credentials last.
    ttl: timedelta = timedelta(hours=1)


def turn_rest_credentials(secret: str, user: str, expires: datetime) -> tuple[str, str]:
    """The username and password of the TURN REST API (draft-uberti-behave-turn-rest-00
    §2.2, coturn's ``--use-auth-secret``): ``expiry:user`` and the base64 of its
    HMAC-SHA1 under the shared secret. Raises nothing."""
    username = f"{int(expires.timestamp())}:{user}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode("ascii")


_INSTALLED: weakref.WeakKeyDictionary[NodeService, MediaService] = weakref.WeakKeyDictionary()


def media_of(hotline: HotlineService) -> MediaService:
    """The media service installed on ``hotline``'s node (by ``redline serve``, with
    its TURN settings), or a new one without TURN. Raises nothing."""
    found = _INSTALLED.get(hotline.node)
    return found if found is not None else MediaService(hotline)


class MediaService:
    """The media acts of one node's calls. Building it registers its receipt check
    on the node (in place of an earlier media service's)."""

    def __init__(self, hotline: HotlineService, *, turn: TurnSettings | None = None) -> None:
        self.hotline = hotline
        self.node = hotline.node
        self.turn = turn
        checks = self.node.receive_checks
        checks[:] = [
            c for c in checks if not isinstance(getattr(c, "__self__", None), MediaService)
        ]
        checks.append(self._check_incoming)
        _INSTALLED[self.node] = self

    @property
    def party(self) -> str:
        return self.node.party

    # -- the call, as the hotline's projection has it ----------------------------------------

    def _call(self, conn: Connection, call_id: str, at: datetime) -> tuple[Any, CallState]:
        rec = self.hotline._fold(conn, at, [item_name(ItemKind.CALL, call_id)])
        call = rec.calls.get(call_id)
        if call is None:
            raise NotFound(f"no call {call_id!r}", field="call_id")
        view = call_view(
            call,
            rec.call_events_of(call_id),
            max(at, call.placed_at),
            ring_timeout=rec.ring_timeouts[call_id],
        )
        return call, view.state

    @staticmethod
    def _statements(conn: Connection, call_id: str) -> list[Statement]:
        return [
            st
            for st in map(Statement.from_wire, store.statement_wires(conn, MEDIA_KINDS))
            if st.body.get("call") == call_id
        ]

    # -- acts ---------------------------------------------------------------------------------

    def signal(self, call_id: str, kind: str, sdp: str, *, by: ActedBy | None = None) -> Statement:
        """Sign this side's offer (``call-offer``, the caller's) or answer
        (``call-answer``, the called party's) of an answered call, naming the DTLS
        fingerprints in ``sdp``.

        Raises:
            InvalidInput: an unknown kind; an SDP that is not one, is too long or
                names no fingerprint (field ``sdp``).
            NotFound: no such call.
            Conflict: the call is not answered; this side does not make that
                kind; it already did.
        """
        if kind not in (CALL_OFFER, CALL_ANSWER):
            raise InvalidInput("must be call-offer or call-answer", field="kind")
        fingerprints = list(sdp_fingerprints(sdp))
        if not fingerprints:
            raise InvalidInput("the SDP names no DTLS fingerprint (a=fingerprint)", field="sdp")
        body = build(SdpBody, call=call_id, sdp=sdp, fingerprints=fingerprints, by=by)
        with self.node.store.read() as conn:
            call, _ = self._call(conn, call_id, self.node.clock())
        maker = call.from_party if kind == CALL_OFFER else call.to_party
        peer = call.to_party if call.from_party == self.party else call.from_party

        def check(conn: Connection, at: datetime) -> None:
            _call, state = self._call(conn, call_id, at)
            if state is not CallState.ANSWERED:
                raise Conflict(f"call {call_id} is {state.value}, not answered", field="call_id")
            if maker != self.party:
                raise Conflict(f"only {maker} makes the {kind} of {call_id}", field="kind")
            if any(
                s.kind == kind and s.sender == self.party for s in self._statements(conn, call_id)
            ):
                raise Conflict(f"{self.party} already sent the {kind} of {call_id}", field="kind")

        return self.node.send(to=peer, kind=kind, body=body, check=check)

    def established(self, call_id: str, *, by: ActedBy | None = None) -> Statement | None:
        """Record (``call-media``) that this side's media of ``call_id`` is flowing;
        once per side: a second report returns None.

        Raises:
            NotFound: no such call.
            Conflict: the call is not answered.
        """
        body = build(CallMediaBody, call=call_id, by=by)
        with self.node.store.read() as conn:
            call, _ = self._call(conn, call_id, self.node.clock())
            if any(
                s.kind == CALL_MEDIA and s.sender == self.party
                for s in self._statements(conn, call_id)
            ):
                return None
        peer = call.to_party if call.from_party == self.party else call.from_party

        def check(conn: Connection, at: datetime) -> None:
            _call, state = self._call(conn, call_id, at)
            if state is not CallState.ANSWERED:
                raise Conflict(f"call {call_id} is {state.value}, not answered", field="call_id")

        return self.node.send(to=peer, kind=CALL_MEDIA, body=body, check=check)

    # -- reads --------------------------------------------------------------------------------

    def signals(self, call_id: str) -> dict[str, Any]:
        """The signed media statements of ``call_id``: this side's and the peer's
        offer and answer (id, sender, time, SDP, fingerprints) and who reported
        the media established when. Raises NotFound for an unknown call."""
        with self.node.store.read() as conn:
            call, state = self._call(conn, call_id, self.node.clock())
            held = self._statements(conn, call_id)
        out: dict[str, Any] = {
            "call": call_id,
            "state": state.value,
            "mode": str(call.mode),
            "caller": call.from_party,
            "callee": call.to_party,
            "role": "caller" if call.from_party == self.party else "callee",
            "offer": None,
            "answer": None,
            "media": [],
        }
        for st in held:
            if st.kind == CALL_MEDIA:
                out["media"].append({"from": st.sender, "at": st.time, "id": st.id})
                continue
            body = st.typed(SdpBody)
            out["offer" if st.kind == CALL_OFFER else "answer"] = {
                "id": st.id,
                "from": st.sender,
                "at": st.time,
                "sdp": body.sdp,
                "fingerprints": list(body.fingerprints),
            }
        return out

    def check_sdp(self, call_id: str, statement_id: str, sdp: str) -> list[str]:
        """Check the SDP a browser is about to use against the peer's signed offer or
        answer ``statement_id`` of ``call_id``; return the fingerprints checked.

        Raises:
            NotFound: no such call.
            FingerprintMismatch: ``statement_id`` is not the peer's signed offer or
                answer of this call (field ``statement``), or ``sdp`` names other
                fingerprints (field ``sdp``).
        """
        with self.node.store.read() as conn:
            self._call(conn, call_id, self.node.clock())
            held = self._statements(conn, call_id)
        signed = next(
            (s for s in held if s.id == statement_id and s.kind in (CALL_OFFER, CALL_ANSWER)),
            None,
        )
        if signed is None or signed.sender == self.party:
            raise FingerprintMismatch(
                f"{statement_id[:16]} is not an offer or answer the peer signed for {call_id}: "
                "refusing the media",
                field="statement",
            )
        body = signed.typed(SdpBody)
        check_fingerprints(sdp, signed=body)
        return list(body.fingerprints)

    def ice_servers(self, operator: str) -> dict[str, Any]:
        """What an operator's browser passes to RTCPeerConnection: the node's TURN
        relay with short-lived credentials (none without TURN), and whether only
        relayed candidates may be used. Raises nothing."""
        turn = self.turn
        if turn is None:
            return {"iceServers": [], "iceTransportPolicy": "all"}
        expires = self.node.clock() + turn.ttl
        username, credential = turn_rest_credentials(turn.secret, operator, expires)
        urls = [
            f"turn:{turn.host}:{turn.port}?transport=udp",
            f"turn:{turn.host}:{turn.port}?transport=tcp",
        ]
        return {
            "iceServers": [{"urls": urls, "username": username, "credential": credential}],
            "iceTransportPolicy": "relay" if turn.relay_only else "all",
            "expires": int(expires.timestamp()),
        }

    # -- receipt ------------------------------------------------------------------------------

    def _check_incoming(self, conn: Connection, statements: Sequence[Statement]) -> None:
        """Refuse a peer's media statement about a call it is not party to, an offer
        not from the caller or an answer not from the called party (a receipt
        check: nothing of the batch is stored).

        Raises:
            InvalidStatement: naming ``body.call``.
        """
        at = self.node.clock()
        for st in statements:
            if st.kind not in MEDIA_KINDS:
                continue
            call_id = str(st.body.get("call"))
            try:
                call, _ = self._call(conn, call_id, at)
            except NotFound:
                raise InvalidStatement(
                    f"{st.kind} about an unknown call {call_id!r}", field="body.call"
                ) from None
            parties = {call.from_party, call.to_party}
            if st.sender not in parties or self.party not in parties:
                raise InvalidStatement(
                    f"{st.sender} is not a party to call {call_id}", field="body.call"
                )
            maker = {CALL_OFFER: call.from_party, CALL_ANSWER: call.to_party}.get(st.kind)
            if maker is not None and st.sender != maker:
                raise InvalidStatement(
                    f"only {maker} makes the {st.kind} of call {call_id}", field="body.call"
                )
