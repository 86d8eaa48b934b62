"""A good body of each message-handling kind (core.messaging), for tests that mutate them."""

from __future__ import annotations

from typing import Any

H = "ab" * 32

MESSAGING_KINDS_GOOD: dict[str, dict[str, Any]] = {
    "link-terms": {
        "deadlines": {"flash": 300, "immediate": 900, "priority": 3600, "routine": 21600},
        "note": "ACP 121, halved for FLASH",
        "by": {"operator": "lin", "office": "mnd-fao"},
    },
    "link-terms-accept": {"terms": H, "by": {"operator": "amy"}},
    "seen": {"message": H, "by": {"operator": "lin"}},
    "fallback-proposal": {"message": H, "mechanism": "attache-channel", "note": "No ack."},
}
