"""Accessibility: axe-core (axe-playwright-python, which bundles axe-core and
injects it into the page; nothing is fetched) finds no serious or critical
violation on any console page, in English and in Chinese.

The pages are found as an operator finds them: from the links of the main
navigation (so a page added to the nav later is checked too), plus the page
of a received FLASH message and the sign-in page. Real nodes on loopback, in
Debian's chromium, headless; every wait is bounded, nothing is timed.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, expect

from redline.service.node import system_clock
from redline.service.operators import OperatorService
from support.console import PASSWORD, WAIT_MS, sign_in
from support.nodes import NodeProcess

#: The impacts that fail the test (axe's scale: minor, moderate, serious, critical).
FAILING = frozenset({"serious", "critical"})

# Counts the fragments htmx has swapped in, so axe runs on a settled page
# (each live fragment is re-read once when the event stream opens).
COUNT_SWAPS = """
window.__swaps = 0;
document.addEventListener("htmx:afterSettle", function () { window.__swaps += 1; });
"""


def serious(results: dict[str, Any]) -> list[str]:
    """Each violation of a failing impact, with where it is."""
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at "
        + "; ".join(" ".join(n["target"]) for n in v["nodes"][:5])
        for v in results["violations"]
        if v.get("impact") in FAILING
    ]


def settled(page: Page, url: str) -> None:
    """Load ``url`` and wait until every live fragment was re-read once."""
    page.goto(url)
    live = page.locator("[hx-trigger*='sse:']").count()
    # Polled from here: the page's CSP (no 'unsafe-eval') refuses wait_for_function.
    for _ in range(WAIT_MS // 50):
        if page.evaluate("window.__swaps") >= live:
            return
        page.wait_for_timeout(50)
    raise AssertionError(f"{url}: {live} live fragments were not all re-read")


def nav_links(page: Page) -> list[str]:
    # The main navigation and the second bar (calls and records) under it.
    hrefs = page.locator("header nav a, nav.sub a").evaluate_all(
        "els => els.map(e => e.getAttribute('href'))"
    )
    return [h for h in hrefs if isinstance(h, str) and h.startswith("/console/")]


def main_links(page: Page) -> list[str]:
    """The console pages linked from the page's main part (no downloads)."""
    hrefs = page.locator("main a[href^='/console/']").evaluate_all(
        "els => els.filter(e => !e.hasAttribute('download')).map(e => e.getAttribute('href'))"
    )
    return [
        h
        for h in hrefs
        if isinstance(h, str) and "." not in h and "/export" not in h and "?" not in h
    ]


def pattern(href: str) -> str:
    """``href`` with its ids blanked: one page of each kind is enough."""
    return re.sub(r"/[A-Za-z0-9_-]*[0-9][A-Za-z0-9_-]*(?=/|$)", "/ID", href)


def test_no_page_has_a_serious_or_critical_accessibility_violation(
    nodes: tuple[NodeProcess, NodeProcess], browser: Browser
) -> None:
    a, b = nodes
    OperatorService(b.store, clock=system_clock).add("ada", role="admin", password=PASSWORD)
    with a.api() as api:
        sent = api.post(
            "/api/v1/messages",
            json={"to": "prc", "precedence": "flash", "subject": "Unsafe intercept", "text": "x"},
        )
    assert sent.status_code == 201, sent.text
    message_id = sent.json()["id"]
    # Something to act on: a request awaiting B's answer (its forms), and a call
    # ringing at B (the takeover over every page).
    start = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
    window = {"start": start.isoformat(), "end": (start + timedelta(hours=1)).isoformat()}
    with a.api() as api:
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
        called = api.post(
            "/api/v1/hotline/calls",
            json={
                "from_office": "us-secdef",
                "to_office": "prc-mnd",
                "mechanism": "dtl",
                "purpose": "Unsafe intercept",
                "ring_timeout": 900,
            },
        )
        assert called.status_code == 201, called.text

    axe = Axe()
    context = browser.new_context(base_url=b.api_url)
    context.add_init_script(COUNT_SWAPS)
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)

    found: dict[str, list[str]] = {}
    checked: list[str] = []

    def check(label: str) -> None:
        results = axe.run(page).response
        checked.append(label)
        if bad := serious(results):
            found[label] = bad

    page.goto(f"{b.api_url}/console/login")
    check("en /console/login")
    sign_in(page, b, "ada")
    # The message has reached B (it is on B's inbox) before its page is checked,
    # and so have the request and the call.
    page.goto(f"{b.api_url}/console/inbox")
    expect(page.locator(f'tr[data-message="{message_id}"]')).to_be_visible()
    expect(page.locator(".ringing-takeover")).to_be_visible()
    page.goto(f"{b.api_url}/console/requests")
    expect(page.locator("article.request")).to_have_count(1)

    for lang in ("en", "zh"):
        if lang == "zh":
            # The ringing call covers the language button: chosen as the CLI would.
            OperatorService(b.store, clock=system_clock).set_lang("ada", "zh")
            page.reload()
            expect(page.locator("html")).to_have_attribute("lang", "zh-Hans")
        links = nav_links(page)
        assert "/console/audit" in links and len(links) >= 6, links  # the admin's whole nav
        forms = [f"/console/notices/new?type={t}" for t in ("encounter", "activity")]
        pages = [*links, f"/console/messages/{message_id}", *forms]
        for href in pages:
            settled(page, f"{b.api_url}{href}")
            check(f"{lang} {href}")
            # One level further: the first page of each kind linked from this one
            # (a call's page, a request's), not every message of the inbox.
            for deeper in main_links(page):
                if pattern(deeper) not in {pattern(p) for p in pages}:
                    pages.append(deeper)

    page.context.clear_cookies()
    page.goto(f"{b.api_url}/console/login", wait_until="load")
    page.set_extra_http_headers({"accept-language": "zh-CN"})
    page.goto(f"{b.api_url}/console/login")
    expect(page.locator("html")).to_have_attribute("lang", "zh-Hans")
    check("zh /console/login")

    assert len(checked) >= 2 * 7 + 2, checked
    # Pages reached from the nav and further down: a link's page (from the
    # board), its glossary, the notices and the notice forms.
    for reached in ("/console/links/us", "/console/links/us/glossary", "/console/notices/new"):
        assert any(c.startswith(f"zh {reached}") for c in checked), checked
    # The check can fail: an unlabelled field and grey-on-grey text are found.
    page.evaluate(
        """() => {
            const main = document.querySelector("main");
            main.insertAdjacentHTML("beforeend", '<input id="unlabelled"><p id="faint">faint</p>');
            const faint = document.getElementById("faint");  // CSSOM: the CSP allows it
            faint.style.color = "#bbb";
            faint.style.background = "#ccc";
        }"""
    )
    planted = serious(axe.run(page).response)
    assert any(v.startswith("label ") for v in planted), planted
    assert any(v.startswith("color-contrast ") for v in planted), planted
    assert not found, "\n".join(f"{page}: {v}" for page, vs in found.items() for v in vs)
