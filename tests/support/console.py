"""What the browser tests of the console share: the browser, the operators'
password, and signing in through the sign-in page."""

from __future__ import annotations

import re
from pathlib import Path

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
