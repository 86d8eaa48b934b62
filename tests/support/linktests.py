"""A good body of each link-test kind (core.linktests), for tests that mutate them."""

from __future__ import annotations

from typing import Any

H = "cd" * 32

LINK_TEST_KINDS_GOOD: dict[str, dict[str, Any]] = {
    "heartbeat-reply": {"heartbeat": H, "nonce": "0123456789abcdef"},
    "operator-test": {"nonce": "0123456789abcdef", "answer_by": "2026-11-22T09:10:00.000000Z"},
    "operator-test-answer": {"test": H, "text": "Duty officer here", "by": {"operator": "lin"}},
}
