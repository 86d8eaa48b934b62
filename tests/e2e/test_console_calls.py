"""In a real browser (Debian's chromium, headless), over two real nodes on
loopback: A calls B from the *Calls* page; B's screen rings (the takeover is
visible on the page B has open and the alert fires); B answers; they exchange
text lines, each appearing at the other side without a reload; A ends; both
show the call ended with a duration.

Every wait is bounded (Playwright timeouts of a few seconds); nothing is timed.
"""

from __future__ import annotations

import re

from playwright.sync_api import Browser, expect

from support.console import WAIT_MS, sign_in
from support.nodes import NodeProcess


def test_a_call_rings_is_answered_talked_on_and_ended_without_reload(
    nodes: tuple[NodeProcess, NodeProcess], browser: Browser
) -> None:
    a, b = nodes
    page_a = browser.new_context(base_url=a.api_url).new_page()
    page_b = browser.new_context(base_url=b.api_url).new_page()
    page_a.set_default_timeout(WAIT_MS)
    page_b.set_default_timeout(WAIT_MS)
    sign_in(page_a, a, "alice")
    sign_in(page_b, b, "bo")
    page_b.goto(f"{b.api_url}/console/inbox")  # any page: the call takes it over
    expect(page_b.locator(".ringing-takeover")).to_have_count(0)

    page_a.goto(f"{a.api_url}/console/calls")
    page_a.get_by_label("From office").select_option("us-secdef")
    page_a.get_by_label("To office").select_option("prc-mnd")
    page_a.get_by_label("Mechanism").select_option("dtl")
    page_a.get_by_label("Purpose").fill("Vessels <closing> at 0900Z")
    page_a.get_by_role("button", name="Call", exact=True).click()
    expect(page_a).to_have_url(re.compile(r"/console/calls/[A-Za-z0-9-]+$"))
    call_id = page_a.url.rsplit("/", 1)[1]
    call_a = page_a.locator(f'article.call[data-call="{call_id}"]')
    expect(call_a).to_have_attribute("data-state", "ringing")

    # B's screen rings without a reload: the takeover, the caller, the purpose, the alert.
    takeover = page_b.locator(f'.ringing-takeover[data-call="{call_id}"]')
    expect(takeover).to_be_visible()
    expect(takeover.locator(".purpose")).to_have_text("Vessels <closing> at 0900Z")
    expect(takeover.locator(".countdown")).to_contain_text("left")
    expect(page_b.locator("html")).to_have_attribute("data-alert", "flash")
    expect(page_b.locator("#alert-heading")).to_have_text("Incoming call")
    expect(takeover.get_by_role("button", name="Answer")).to_be_focused()
    takeover.get_by_role("button", name="Answer").click()
    call_b = page_b.locator(f'article.call[data-call="{call_id}"]')
    expect(call_b).to_have_attribute("data-state", "answered")
    expect(page_b.locator(".ringing-takeover")).to_have_count(0)

    # A sees the answer on the page it has open; then they talk, live both ways.
    expect(call_a).to_have_attribute("data-state", "answered")
    page_a.get_by_label("Say").fill("This is A: do you read?")
    page_a.get_by_role("button", name="Send line").click()
    expect(call_b.locator("li.theirs .said")).to_have_text(["This is A: do you read?"])
    page_b.get_by_label("Say").fill("B reads you <loud> & clear")
    page_b.get_by_role("button", name="Send line").click()
    expect(call_a.locator("li.theirs .said")).to_have_text(["B reads you <loud> & clear"])
    expect(call_a.locator("li.mine .said")).to_have_text(["This is A: do you read?"])

    # A ends; both show the call ended, with its duration.
    page_a.get_by_role("button", name="End call").click()
    for call in (call_a, call_b):
        expect(call).to_have_attribute("data-state", "ended")
        expect(call.locator(".call-state .duration")).to_have_text(re.compile(r"^\d+:\d\d:\d\d$"))
