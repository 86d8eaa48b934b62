"""Voice and video on a call: the WebRTC signalling as signed statements, and the
check that the media's DTLS fingerprint is the one the peer signed.

A browser's media is protected by DTLS-SRTP, and each side names the
certificate it will use by a fingerprint line in its SDP (RFC 8122 §5,
``a=fingerprint:sha-256 AB:CD:...``; RFC 8827 §6.5). Redline carries the
offer and the answer as signed statements (``call-offer``, ``call-answer``)
whose bodies name those fingerprints beside the SDP, so the certificate the
media must present is signed by the calling and the answering organisation.
Before a browser uses the peer's SDP, :func:`check_fingerprints` holds the
fingerprints in that SDP to the ones in the peer's signed statement: a party
in the middle that swaps the SDP (and so the certificate) is refused, and the
browsers' DTLS handshake refuses any other certificate on the media path.

A call may hold more than two browsers (a principal and an interpreter on one
side): each browser is a *participant* of the call, named by an identifier its
page chose and announced by ``call-join``. Every participant on the caller's
side offers to every participant on the called side, so each such pair has its
own peer connection and its own signed offer and answer, naming both
participants. Candidates are gathered before the offer or answer is signed (no
trickle), so the SDP carries them and no candidate kind is needed.
``call-media`` records that a participant's media was established (ICE
connected) (docs/calls.md).

Recording needs both sides: each side signs ``call-recording`` (on or off),
and the media is recorded only while both sides' latest say on
(:func:`recording_consent`). Each side keeps its own file and signs its
SHA-256 in ``call-recording-file``, which a node accepts only for a call both
sides consented to record.

Pure: no I/O, no clock.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Annotated, Final, Self

from pydantic import AfterValidator, Field, model_validator

from redline.core.errors import Conflict
from redline.core.fields import ActedBy, Body, Ident, field_error

__all__ = [
    "CALL_ANSWER",
    "CALL_JOIN",
    "CALL_MEDIA",
    "CALL_OFFER",
    "CALL_RECORDING",
    "CALL_RECORDING_FILE",
    "MAX_RECORDING_BYTES",
    "MAX_FINGERPRINTS",
    "MAX_SDP",
    "MEDIA_BODIES",
    "MEDIA_KINDS",
    "SIGNAL_KINDS",
    "CallMediaBody",
    "JoinBody",
    "FingerprintMismatch",
    "RecordingBody",
    "RecordingFileBody",
    "SdpBody",
    "check_fingerprints",
    "recording_consent",
    "sdp_fingerprints",
]

CALL_JOIN: Final = "call-join"
CALL_OFFER: Final = "call-offer"
CALL_ANSWER: Final = "call-answer"
CALL_MEDIA: Final = "call-media"
CALL_RECORDING: Final = "call-recording"
CALL_RECORDING_FILE: Final = "call-recording-file"
#: The kinds that carry an SDP.
SIGNAL_KINDS: Final = (CALL_OFFER, CALL_ANSWER)
MEDIA_KINDS: Final = (
    CALL_JOIN,
    *SIGNAL_KINDS,
    CALL_MEDIA,
    CALL_RECORDING,
    CALL_RECORDING_FILE,
)
#: The most a node keeps of one participant's recording of one call (200 MB).
MAX_RECORDING_BYTES: Final = 200 * 1024 * 1024

#: An SDP with audio, video and a few gathered candidates is 3-8 KB; this is
#: far above that and far below a statement's size cap.
MAX_SDP: Final = 32_000
#: A browser names one certificate; a few hash functions at most.
MAX_FINGERPRINTS: Final = 4

# RFC 8122 §5: fingerprint-attribute = "fingerprint" ":" hash-func SP fingerprint;
# fingerprint = 2UHEX *(":" 2UHEX). Hash functions are tokens (sha-256, sha-512).
_FINGERPRINT_LINE = re.compile(
    r"^a=fingerprint:([A-Za-z0-9-]{1,16}) ([0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){15,63})$"
)
#: A fingerprint as a body names it: lower-case hash function, upper-case hex.
FINGERPRINT_PATTERN: Final = r"^[a-z0-9-]{1,16} [0-9A-F]{2}(:[0-9A-F]{2}){15,63}$"
Fingerprint = Annotated[str, Field(pattern=FINGERPRINT_PATTERN)]


class FingerprintMismatch(Conflict):
    """The SDP about to be used names a DTLS fingerprint other than the one in
    the peer's signed statement (or none): the media would not be the peer's."""

    code = "fingerprint-mismatch"


def _sdp_text(value: str) -> str:
    # An SDP is US-ASCII lines ended by CRLF (RFC 8866 §5); anything else (a
    # control character, a bidirectional override) has no business in it.
    if not value.startswith("v=0"):
        raise field_error("an SDP starts with v=0")
    for ch in value:
        if not (" " <= ch <= "~" or ch in "\r\n"):
            raise field_error(f"an SDP holds printable ASCII lines only, not {ch!r}")
    return value


Sdp = Annotated[str, Field(min_length=3, max_length=MAX_SDP), AfterValidator(_sdp_text)]


def sdp_fingerprints(sdp: str) -> tuple[str, ...]:
    """Every DTLS fingerprint ``sdp`` names (session or media level), normalised
    (``sha-256 AB:CD:...``), each once, in order. Raises nothing."""
    found: dict[str, None] = {}
    for line in sdp.splitlines():
        match = _FINGERPRINT_LINE.match(line.strip())
        if match:
            found[f"{match.group(1).lower()} {match.group(2).upper()}"] = None
    return tuple(found)


def check_fingerprints(sdp: str, *, signed: SdpBody) -> None:
    """Check that the SDP a browser is about to use names exactly the DTLS
    fingerprints of the peer's signed offer or answer ``signed``.

    Returns nothing; a browser must not use ``sdp`` unless this returned.

    Raises:
        FingerprintMismatch: ``sdp`` names no fingerprint, or another set than
            ``signed`` (field ``sdp``); the message names both.
    """
    used = sdp_fingerprints(sdp)
    if not used:
        raise FingerprintMismatch("the SDP names no DTLS fingerprint", field="sdp")
    if set(used) != set(signed.fingerprints):
        raise FingerprintMismatch(
            f"the SDP names the DTLS fingerprint {', '.join(used)}, but the peer signed "
            f"{', '.join(signed.fingerprints)} for call {signed.call}: refusing the media",
            field="sdp",
        )


class JoinBody(Body):
    """A browser joining the media of a call, as ``participant``."""

    call: Ident
    participant: Ident
    #: The operator (and office) who caused it.
    by: ActedBy | None = None


class SdpBody(Body):
    """An offer or answer from one participant to another: the SDP the browser
    made, with the DTLS fingerprints in it named, so that they are what the
    statement's signature covers by name."""

    call: Ident
    from_participant: Ident
    to_participant: Ident
    sdp: Sdp
    fingerprints: Annotated[list[Fingerprint], Field(min_length=1, max_length=MAX_FINGERPRINTS)]
    #: The operator (and office) who caused it.
    by: ActedBy | None = None

    @model_validator(mode="after")
    def _fingerprints_are_the_sdps(self) -> Self:
        if self.from_participant == self.to_participant:
            raise field_error("a participant does not call itself", "to_participant")
        named = sdp_fingerprints(self.sdp)
        if not named:
            raise field_error("the SDP names no DTLS fingerprint (a=fingerprint)", "sdp")
        if set(named) != set(self.fingerprints):
            raise field_error("are not the fingerprints the SDP names", "fingerprints")
        return self


class CallMediaBody(Body):
    """A participant's record that its media of a call is flowing (ICE connected)."""

    call: Ident
    participant: Ident
    #: The operator (and office) who caused it.
    by: ActedBy | None = None


class RecordingBody(Body):
    """One side's consent to record the media of a call (``on``), or its withdrawal."""

    call: Ident
    on: bool
    #: The operator (and office) who caused it.
    by: ActedBy | None = None


class RecordingFileBody(Body):
    """One side's recording of a call by one of its participants: the file's
    SHA-256 (lower-case hex) and size, so that the record holds the hash."""

    call: Ident
    participant: Ident
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    bytes: Annotated[int, Field(ge=1, le=MAX_RECORDING_BYTES)]
    #: The operator (and office) who caused it.
    by: ActedBy | None = None


def recording_consent(
    consents: Iterable[tuple[str, bool]], parties: Iterable[str]
) -> tuple[bool, bool]:
    """Whether the media of a call may be recorded, from its ``call-recording``
    statements ``consents`` as (sender, on) in the order recorded, for the
    call's two ``parties``: (both sides' latest say on now, both said on at
    once at some point). A party's consent counts only if it is a party of the
    call. Raises nothing."""
    wanted = set(parties)
    latest: dict[str, bool] = {}
    ever = False
    for sender, on in consents:
        if sender not in wanted:
            continue
        latest[sender] = on
        now = bool(wanted) and all(latest.get(p, False) for p in wanted)
        ever = ever or now
    now = bool(wanted) and all(latest.get(p, False) for p in wanted)
    return now, ever


#: Each media kind's body model.
MEDIA_BODIES: Final[dict[str, type[Body]]] = {
    CALL_JOIN: JoinBody,
    CALL_OFFER: SdpBody,
    CALL_ANSWER: SdpBody,
    CALL_MEDIA: CallMediaBody,
    CALL_RECORDING: RecordingBody,
    CALL_RECORDING_FILE: RecordingFileBody,
}
