"""Voice and video on a call: the signalling acts, the fingerprint check a browser
asks for before it uses the peer's SDP, and TURN credentials for the operators.

A browser joining the media, each offer and answer and "media established"
are signed statements (:mod:`redline.core.media`), sent over the link like
any act and announced to the consoles by the live channel (their bodies name
the call, so they carry its ``call-ID`` topic). Who may send which is checked
when sending and again on receipt: the caller's side offers and the called
side answers, once per pair of participants that joined on their sides, while
the call is answered; a peer's media statement about a call it is not party
to is refused. docs/calls.md has the whole flow.

Recording: each side signs its consent (``call-recording``); while both
sides' latest say on, a browser uploads what it records in numbered chunks
to its own node, which appends them to ``DIR/recordings/CALL-PARTICIPANT.webm``
(0600, folder 0700) and, at the last chunk, signs the file's SHA-256 and size
(``call-recording-file``). A peer's ``call-recording-file`` for a call both
sides never consented to record is refused on receipt.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import threading
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from redline.core.errors import (
    Conflict,
    InvalidInput,
    InvalidStatement,
    NotFound,
    PayloadTooLarge,
)
from redline.core.fields import ActedBy
from redline.core.hotline.calls import call_view
from redline.core.hotline.lifecycle import CallState
from redline.core.hotline.threads import ItemKind, item_name
from redline.core.media import (
    CALL_ANSWER,
    CALL_JOIN,
    CALL_MEDIA,
    CALL_OFFER,
    CALL_RECORDING,
    CALL_RECORDING_FILE,
    MAX_RECORDING_BYTES,
    MEDIA_KINDS,
    SIGNAL_KINDS,
    CallMediaBody,
    FingerprintMismatch,
    JoinBody,
    RecordingBody,
    RecordingFileBody,
    SdpBody,
    check_fingerprints,
    recording_consent,
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

    def __init__(
        self,
        hotline: HotlineService,
        *,
        turn: TurnSettings | None = None,
        recordings: Path | None = None,
    ) -> None:
        self.hotline = hotline
        self.node = hotline.node
        self.turn = turn
        #: Where this node keeps its recordings: ``DIR/recordings`` of a node directory.
        if recordings is None and hotline.node_path is not None:
            recordings = hotline.node_path / "recordings"
        self.recordings = recordings
        #: (call, participant) -> the next chunk number expected; guarded by _lock.
        self._chunks: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()
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

    def _open(self, conn: Connection, call_id: str, at: datetime) -> list[Statement]:
        """The media statements of ``call_id``, which must be answered now."""
        _call, state = self._call(conn, call_id, at)
        if state is not CallState.ANSWERED:
            raise Conflict(f"call {call_id} is {state.value}, not answered", field="call_id")
        return self._statements(conn, call_id)

    def _peer_of(self, call_id: str) -> tuple[Any, str]:
        with self.node.store.read() as conn:
            call, _ = self._call(conn, call_id, self.node.clock())
        return call, call.to_party if call.from_party == self.party else call.from_party

    def join(self, call_id: str, participant: str, *, by: ActedBy | None = None) -> Statement:
        """Sign that a browser of this side joins the media of an answered call as
        ``participant`` (``call-join``).

        Raises:
            InvalidInput: a bad participant id.
            NotFound: no such call.
            Conflict: the call is not answered, or ``participant`` joined already.
        """
        body = build(JoinBody, call=call_id, participant=participant, by=by)
        _call, peer = self._peer_of(call_id)

        def check(conn: Connection, at: datetime) -> None:
            if participant in _joined(self._open(conn, call_id, at)):
                raise Conflict(f"{participant} already joined {call_id}", field="participant")

        return self.node.send(to=peer, kind=CALL_JOIN, body=body, check=check)

    def signal(
        self,
        call_id: str,
        kind: str,
        sdp: str,
        *,
        from_participant: str,
        to_participant: str,
        by: ActedBy | None = None,
    ) -> Statement:
        """Sign the offer (``call-offer``, a caller-side participant's) or answer
        (``call-answer``, a called-side participant's to an offer it received) of
        one pair of participants of an answered call, naming the DTLS
        fingerprints in ``sdp``.

        Raises:
            InvalidInput: an unknown kind; an SDP that is not one, is too long or
                names no fingerprint (field ``sdp``); bad participant ids.
            NotFound: no such call.
            Conflict: the call is not answered; this side does not make that
                kind; a participant has not joined on its side; no offer to
                answer; that pair's offer or answer was sent already.
        """
        if kind not in (CALL_OFFER, CALL_ANSWER):
            raise InvalidInput("must be call-offer or call-answer", field="kind")
        fingerprints = list(sdp_fingerprints(sdp))
        if not fingerprints:
            raise InvalidInput("the SDP names no DTLS fingerprint (a=fingerprint)", field="sdp")
        body = build(
            SdpBody,
            call=call_id,
            from_participant=from_participant,
            to_participant=to_participant,
            sdp=sdp,
            fingerprints=fingerprints,
            by=by,
        )
        call, peer = self._peer_of(call_id)
        maker = call.from_party if kind == CALL_OFFER else call.to_party

        def check(conn: Connection, at: datetime) -> None:
            held = self._open(conn, call_id, at)
            if maker != self.party:
                raise Conflict(f"only {maker} makes the {kind} of {call_id}", field="kind")
            joined = _joined(held)
            if joined.get(from_participant) != self.party:
                raise Conflict(
                    f"{from_participant} has not joined {call_id} here", field="from_participant"
                )
            if joined.get(to_participant) != peer:
                raise Conflict(
                    f"{to_participant} has not joined {call_id} at {peer}", field="to_participant"
                )
            pairs = _pairs(held)
            if (kind, from_participant, to_participant) in pairs:
                raise Conflict(
                    f"the {kind} from {from_participant} to {to_participant} was sent already",
                    field="kind",
                )
            if kind == CALL_ANSWER and (CALL_OFFER, to_participant, from_participant) not in pairs:
                raise Conflict(
                    f"no offer from {to_participant} to {from_participant} to answer",
                    field="to_participant",
                )

        return self.node.send(to=peer, kind=kind, body=body, check=check)

    def established(
        self, call_id: str, participant: str, *, by: ActedBy | None = None
    ) -> Statement | None:
        """Record (``call-media``) that ``participant``'s media of ``call_id`` is
        flowing; once per participant: a second report returns None.

        Raises:
            NotFound: no such call.
            Conflict: the call is not answered; ``participant`` has not joined here.
        """
        body = build(CallMediaBody, call=call_id, participant=participant, by=by)
        _call, peer = self._peer_of(call_id)
        with self.node.store.read() as conn:
            if any(
                s.kind == CALL_MEDIA and s.body.get("participant") == participant
                for s in self._statements(conn, call_id)
            ):
                return None

        def check(conn: Connection, at: datetime) -> None:
            if _joined(self._open(conn, call_id, at)).get(participant) != self.party:
                raise Conflict(f"{participant} has not joined {call_id} here", field="participant")

        return self.node.send(to=peer, kind=CALL_MEDIA, body=body, check=check)

    # -- recording ----------------------------------------------------------------------------

    def consent(self, call_id: str, on: bool, *, by: ActedBy | None = None) -> Statement:
        """Sign this side's consent to record the media of an answered call, or its
        withdrawal (``call-recording``).

        Raises:
            NotFound: no such call.
            Conflict: the call is not answered.
        """
        body = build(RecordingBody, call=call_id, on=on, by=by)
        _call, peer = self._peer_of(call_id)

        def check(conn: Connection, at: datetime) -> None:
            self._open(conn, call_id, at)

        return self.node.send(to=peer, kind=CALL_RECORDING, body=body, check=check)

    def _consent_of(self, call: Any, held: Sequence[Statement]) -> tuple[bool, bool]:
        return recording_consent(
            ((s.sender, bool(s.body.get("on"))) for s in held if s.kind == CALL_RECORDING),
            (call.from_party, call.to_party),
        )

    def _file(self, call_id: str, participant: str) -> Path:
        if self.recordings is None:
            raise Conflict("this node keeps no recordings (no node directory)", field="call_id")
        return self.recordings / f"{call_id}-{participant}.webm"

    def append_chunk(
        self, call_id: str, participant: str, number: int, data: bytes
    ) -> dict[str, Any]:
        """Append chunk ``number`` (0, 1, 2, ... in order) of ``participant``'s
        recording of ``call_id`` to this node's file of it. The first chunk needs
        both sides' consent now; later ones that both consented at some point.

        Raises:
            NotFound: no such call.
            InvalidInput: an empty chunk (field ``body``).
            Conflict: ``participant`` has not joined here; the sides have not both
                consented; a chunk out of order (field ``chunk``); the file was
                signed already.
            TooLarge: the file would pass its cap (field ``body``).
        """
        if not data:
            raise InvalidInput("a chunk holds at least one byte", field="body")
        path = self._file(call_id, participant)
        with self.node.store.read() as conn:
            call, _ = self._call(conn, call_id, self.node.clock())
            held = self._statements(conn, call_id)
        if _joined(held).get(participant) != self.party:
            raise Conflict(f"{participant} has not joined {call_id} here", field="participant")
        if any(
            s.kind == CALL_RECORDING_FILE and s.body.get("participant") == participant for s in held
        ):
            raise Conflict(f"the recording of {participant} was signed already", field="chunk")
        now, ever = self._consent_of(call, held)
        key = (call_id, participant)
        with self._lock:
            expected = self._chunks.get(key, 0)
            if number != expected:
                raise Conflict(f"chunk {number} out of order: expected {expected}", field="chunk")
            if not (now if number == 0 else ever):
                raise Conflict(
                    f"both sides have not turned recording on for {call_id}", field="call_id"
                )
            size = path.stat().st_size if number > 0 and path.exists() else 0
            if size + len(data) > MAX_RECORDING_BYTES:
                raise PayloadTooLarge(
                    f"a recording is at most {MAX_RECORDING_BYTES} bytes per call and participant",
                    field="body",
                )
            path.parent.mkdir(mode=0o700, exist_ok=True)
            os.chmod(path.parent, 0o700)
            flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if number > 0 else os.O_TRUNC)
            fd = os.open(path, flags, 0o600)
            try:
                os.fchmod(fd, 0o600)
                os.write(fd, data)
            finally:
                os.close(fd)
            self._chunks[key] = number + 1
        return {"chunk": number, "bytes": size + len(data)}

    def finish_recording(
        self, call_id: str, participant: str, *, by: ActedBy | None = None
    ) -> Statement | None:
        """Sign the SHA-256 and size of ``participant``'s recording of ``call_id``
        (``call-recording-file``), once; None if nothing was recorded or it was
        signed already.

        Raises:
            NotFound: no such call.
            Conflict: the sides never both consented to record.
        """
        path = self._file(call_id, participant)
        with self.node.store.read() as conn:
            call, _ = self._call(conn, call_id, self.node.clock())
            held = self._statements(conn, call_id)
        if any(
            s.kind == CALL_RECORDING_FILE and s.body.get("participant") == participant for s in held
        ):
            return None
        if not self._consent_of(call, held)[1]:
            raise Conflict(f"both sides never turned recording on for {call_id}", field="call_id")
        with self._lock:
            if not path.exists() or path.stat().st_size == 0:
                return None
            digest = hashlib.sha256()
            size = 0
            with path.open("rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    digest.update(block)
                    size += len(block)
            self._chunks[(call_id, participant)] = -1  # no more chunks
        body = build(
            RecordingFileBody,
            call=call_id,
            participant=participant,
            sha256=digest.hexdigest(),
            bytes=size,
            by=by,
        )
        _call, peer = self._peer_of(call_id)
        return self.node.send(to=peer, kind=CALL_RECORDING_FILE, body=body)

    # -- reads --------------------------------------------------------------------------------

    def signals(self, call_id: str) -> dict[str, Any]:
        """The signed media statements of ``call_id``: who joined (participant, party,
        operator), every offer and answer (id, sender, participants, time, SDP,
        fingerprints) and every "media established". Raises NotFound for an
        unknown call."""
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
            "joins": [],
            "offers": [],
            "answers": [],
            "media": [],
            "recording": {call.from_party: False, call.to_party: False},
            "recording_now": False,
            "recordings": [],
        }
        out["recording_now"] = self._consent_of(call, held)[0]
        for st in held:
            by = st.body.get("by")
            operator = by.get("operator") if isinstance(by, dict) else None
            if st.kind == CALL_JOIN:
                out["joins"].append(
                    {
                        "id": st.id,
                        "from": st.sender,
                        "at": st.time,
                        "participant": st.body["participant"],
                        "operator": operator,
                    }
                )
            elif st.kind == CALL_RECORDING:
                if st.sender in out["recording"]:
                    out["recording"][st.sender] = bool(st.body.get("on"))
            elif st.kind == CALL_RECORDING_FILE:
                out["recordings"].append(
                    {
                        "id": st.id,
                        "from": st.sender,
                        "at": st.time,
                        "participant": st.body["participant"],
                        "sha256": st.body["sha256"],
                        "bytes": st.body["bytes"],
                    }
                )
            elif st.kind == CALL_MEDIA:
                out["media"].append(
                    {
                        "id": st.id,
                        "from": st.sender,
                        "at": st.time,
                        "participant": st.body["participant"],
                    }
                )
            else:
                body = st.typed(SdpBody)
                out["offers" if st.kind == CALL_OFFER else "answers"].append(
                    {
                        "id": st.id,
                        "from": st.sender,
                        "at": st.time,
                        "from_participant": body.from_participant,
                        "to_participant": body.to_participant,
                        "sdp": body.sdp,
                        "fingerprints": list(body.fingerprints),
                    }
                )
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
        signed = next((s for s in held if s.id == statement_id and s.kind in SIGNAL_KINDS), None)
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
        not from the caller or an answer not from the called party, a participant
        joined twice, and signalling between participants that did not join on
        the sides they claim (a receipt check: nothing of the batch is stored).

        Raises:
            InvalidStatement: naming ``body.call``, ``body.participant``,
                ``body.from_participant`` or ``body.to_participant``.
        """
        at = self.node.clock()
        joined: dict[str, dict[str, str]] = {}
        consents: dict[str, list[tuple[str, bool]]] = {}
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
            if call_id not in joined:
                joined[call_id] = _joined(self._statements(conn, call_id))
            who = joined[call_id]
            if call_id not in consents:
                consents[call_id] = [
                    (s.sender, bool(s.body.get("on")))
                    for s in self._statements(conn, call_id)
                    if s.kind == CALL_RECORDING
                ]
            if st.kind == CALL_RECORDING:
                consents[call_id].append((st.sender, bool(st.body.get("on"))))
                continue
            if st.kind == CALL_RECORDING_FILE:
                if not recording_consent(consents[call_id], parties)[1]:
                    raise InvalidStatement(
                        f"both sides never consented to record call {call_id}",
                        field="body.call",
                    )
                if who.get(str(st.body["participant"])) != st.sender:
                    raise InvalidStatement(
                        f"{st.body['participant']} has not joined call {call_id} at {st.sender}",
                        field="body.participant",
                    )
                continue
            if st.kind == CALL_JOIN:
                participant = str(st.body["participant"])
                if participant in who:
                    raise InvalidStatement(
                        f"{participant} already joined call {call_id}", field="body.participant"
                    )
                who[participant] = st.sender
                continue
            if st.kind == CALL_MEDIA:
                if who.get(str(st.body["participant"])) != st.sender:
                    raise InvalidStatement(
                        f"{st.body['participant']} has not joined call {call_id} at {st.sender}",
                        field="body.participant",
                    )
                continue
            maker = call.from_party if st.kind == CALL_OFFER else call.to_party
            if st.sender != maker:
                raise InvalidStatement(
                    f"only {maker} makes the {st.kind} of call {call_id}", field="body.call"
                )
            if who.get(str(st.body["from_participant"])) != st.sender:
                raise InvalidStatement(
                    f"{st.body['from_participant']} has not joined call {call_id} at {st.sender}",
                    field="body.from_participant",
                )
            if who.get(str(st.body["to_participant"])) != self.party:
                raise InvalidStatement(
                    f"{st.body['to_participant']} has not joined call {call_id} here",
                    field="body.to_participant",
                )


def _joined(held: Sequence[Statement]) -> dict[str, str]:
    """Each participant of a call's media statements ``held``, with its party."""
    return {str(s.body["participant"]): s.sender for s in held if s.kind == CALL_JOIN}


def _pairs(held: Sequence[Statement]) -> set[tuple[str, str, str]]:
    """(kind, from participant, to participant) of each offer and answer ``held``."""
    return {
        (s.kind, str(s.body["from_participant"]), str(s.body["to_participant"]))
        for s in held
        if s.kind in SIGNAL_KINDS
    }
