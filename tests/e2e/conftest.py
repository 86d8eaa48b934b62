"""Fixtures of the browser tests: two real nodes on loopback, paired, with
operators (A: alice, watch; B: bo, watch, and mia, principal of prc-mnd),
and Debian's chromium, headless."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect, sync_playwright

from redline.service.node import system_clock
from redline.service.operators import OperatorService
from support.console import CHROMIUM, PASSWORD, WAIT_MS
from support.nodes import NodeProcess, pair

# Every expectation waits as long as delivery between two nodes and a page
# fragment may take on a loaded machine (Playwright's own default is 5 s).
expect.set_options(timeout=WAIT_MS)


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[tuple[NodeProcess, NodeProcess]]:
    a = NodeProcess(tmp_path / "us", party="us", name="US Department of Defense")
    b = NodeProcess(tmp_path / "prc", party="prc", name="PRC Ministry of National Defense")
    try:
        pair(a, b)
        OperatorService(a.store, clock=system_clock).add("alice", role="watch", password=PASSWORD)
        ops_b = OperatorService(b.store, clock=system_clock)
        ops_b.add("bo", role="watch", password=PASSWORD)
        ops_b.add("mia", role="principal", password=PASSWORD, offices=["prc-mnd"])
        a.start()
        b.start()
        yield a, b
    finally:
        a.close()
        b.close()


@pytest.fixture
def browser() -> Iterator[Browser]:
    assert CHROMIUM.exists(), "the browser tests need Debian's chromium (scripts/test installs it)"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield launched
        launched.close()
