"""A good body of each media kind of a call (core.media), for tests that mutate them."""

from __future__ import annotations

from typing import Any

FINGERPRINT = "sha-256 " + ":".join(f"{i:02X}" for i in range(32))
SDP = (
    "v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
    "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\n"
    f"a=fingerprint:{FINGERPRINT}\r\na=setup:actpass\r\n"
)
_SIGNAL = {
    "call": "us-call-1",
    "from_participant": "p-0011223344556677",
    "to_participant": "p-8899aabbccddeeff",
    "sdp": SDP,
    "fingerprints": [FINGERPRINT],
    "by": {"operator": "alice", "office": "us-secdef"},
}

MEDIA_KINDS_GOOD: dict[str, dict[str, Any]] = {
    "call-join": {"call": "us-call-1", "participant": "p-0011223344556677"},
    "call-offer": _SIGNAL,
    "call-answer": {
        **_SIGNAL,
        "from_participant": "p-8899aabbccddeeff",
        "to_participant": "p-0011223344556677",
    },
    "call-media": {"call": "us-call-1", "participant": "p-0011223344556677"},
    "call-recording": {"call": "us-call-1", "on": True},
    "call-recording-file": {
        "call": "us-call-1",
        "participant": "p-0011223344556677",
        "sha256": "ab" * 32,
        "bytes": 1024,
    },
}
