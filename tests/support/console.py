"""What the browser tests of the console share: the browser, the operators'
password, and signing in through the sign-in page."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from playwright.sync_api import Page, expect

from support.nodes import NodeProcess

CHROMIUM = Path("/usr/bin/chromium")
PASSWORD = "watch floor password"
WAIT_MS = 10_000  # delivery between the nodes plus a page fragment: well under this


def sign_in(page: Page, node: NodeProcess, name: str, code: str = "") -> None:
    """Sign ``name`` in through the sign-in page and land on *Now*."""
    page.goto(f"{node.api_url}/console/login")
    page.get_by_label("Name").fill(name)
    page.get_by_label("Password").fill(PASSWORD)
    if code:
        page.get_by_label("TOTP code (if enrolled)").fill(code)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/console/now$"), timeout=WAIT_MS)


def ask_for_a_call(node: NodeProcess) -> httpx.Response:
    """``node`` (us) asks prc-mnd for a call two days ahead, through its operator API."""
    start = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
    window = {"start": start.isoformat(), "end": (start + timedelta(hours=1)).isoformat()}
    with node.api() as api:
        asked = api.post(
            "/api/v1/hotline/requests",
            json={
                "from_office": "us-secdef",
                "to_office": "prc-mnd",
                "mechanism": "dtl",
                "mode": "call",
                "windows": [window],
            },
        )
    assert asked.status_code == 201, asked.text
    return asked
