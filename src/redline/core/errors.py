"""The one exception hierarchy for Redline.

Every error has a stable ``code`` (used as the problem type in RFC 9457
problem+json), the HTTP ``status`` it suggests, and says whose fault it is:
a :class:`LocalError` means the caller misused the API (a bad CLI option, an
operator's bad input); a :class:`RemoteError` means a peer sent something
wrong. ``field`` names the offending input where there is one.
"""

from __future__ import annotations

__all__ = [
    "Unauthorized",
    "AnswerTooLarge",
    "BadSignature",
    "Conflict",
    "ConfigError",
    "Equivocation",
    "InvalidCheckpoint",
    "InvalidInput",
    "InvalidKey",
    "InvalidNote",
    "InvalidProof",
    "InvalidStatement",
    "LinkTimeout",
    "LinkUnavailable",
    "LocalError",
    "NotFound",
    "PayloadTooLarge",
    "PeerRejected",
    "RedlineError",
    "RemoteError",
    "SequenceGap",
    "UnknownSigner",
    "UnpinnedPeer",
    "VerificationError",
]


class RedlineError(Exception):
    """Base of every error Redline raises on purpose."""

    code = "redline-error"
    status = 500
    title = "Redline error"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def __str__(self) -> str:
        if self.field:
            return f"{self.field}: {self.message}"
        return self.message


class LocalError(RedlineError):
    """The caller (operator, CLI, API client) asked for something invalid."""

    code = "bad-request"
    status = 400
    title = "Bad request"


class RemoteError(RedlineError):
    """A peer sent something that is wrong."""

    code = "bad-peer-input"
    status = 400
    title = "Bad input from peer"


class InvalidInput(LocalError):
    """An input value is missing or malformed; ``field`` names it."""

    code = "invalid-input"
    status = 422
    title = "Invalid input"


class ConfigError(LocalError):
    """The node directory or its configuration is missing or wrong."""

    code = "config-error"
    title = "Configuration error"


class NotFound(LocalError):
    """The thing asked for does not exist."""

    code = "not-found"
    status = 404
    title = "Not found"


class Unauthorized(LocalError):
    """No valid credentials: an operator token, API key, session or password."""

    code = "unauthorized"
    status = 401
    title = "Unauthorized"


class Conflict(LocalError):
    """The request conflicts with the current state (an illegal transition)."""

    code = "conflict"
    status = 409
    title = "Conflict"


class PayloadTooLarge(RemoteError):
    """A request body is over the size limit."""

    code = "payload-too-large"
    status = 413
    title = "Payload too large"


class AnswerTooLarge(RemoteError):
    """A peer's answer is over the size limit for its kind; it was not read further."""

    code = "answer-too-large"
    status = 502
    title = "Peer's answer too large"


class InvalidStatement(RemoteError):
    """A statement could not be parsed or does not satisfy the envelope rules."""

    code = "invalid-statement"
    status = 422
    title = "Invalid statement"


class VerificationError(RemoteError):
    """A signature, proof or hash did not verify."""

    code = "verification-failed"
    status = 403
    title = "Verification failed"


class BadSignature(VerificationError):
    """A statement's signature does not match its content and signer."""

    code = "bad-signature"


class UnknownSigner(VerificationError):
    """A statement names a sender whose key is not pinned."""

    code = "unknown-signer"


class UnpinnedPeer(VerificationError):
    """A connection or statement comes from a peer that is not pinned."""

    code = "unpinned-peer"


class SequenceGap(RemoteError):
    """A statement's sequence number skips ahead of the next expected one."""

    code = "sequence-gap"
    status = 409
    title = "Sequence gap"

    def __init__(self, message: str, *, expected: int, got: int) -> None:
        super().__init__(message, field="seq")
        self.expected = expected
        self.got = got


class InvalidKey(LocalError):
    """A key (signed-note verifier or signer key, PEM file) is malformed."""

    code = "invalid-key"
    title = "Invalid key"


class InvalidNote(VerificationError):
    """A signed note is malformed or carries no valid signature from a known key."""

    code = "invalid-note"


class InvalidCheckpoint(RemoteError):
    """A checkpoint body violates C2SP tlog-checkpoint."""

    code = "invalid-checkpoint"
    status = 422
    title = "Invalid checkpoint"


class InvalidProof(VerificationError):
    """An inclusion or consistency proof does not verify."""

    code = "invalid-proof"
    status = 422


class Equivocation(VerificationError):
    """A peer showed two different checkpoints for one tree size."""

    code = "equivocation"
    status = 409


class LinkUnavailable(RedlineError):
    """The peer could not be reached (refused, timed out, TLS failure)."""

    code = "link-unavailable"
    status = 503
    title = "Link unavailable"


class PeerRejected(RemoteError):
    """The peer answered with an error (its problem ``code`` is kept)."""

    code = "peer-rejected"
    status = 502
    title = "Peer rejected the request"

    def __init__(self, message: str, *, peer_code: str, peer_status: int) -> None:
        super().__init__(message)
        self.peer_code = peer_code
        self.peer_status = peer_status


class LinkTimeout(LinkUnavailable):
    """An exchange with the peer did not finish within its deadline."""

    code = "link-timeout"
    status = 504
    title = "Link timed out"
