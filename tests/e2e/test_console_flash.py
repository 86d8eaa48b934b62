"""In a real browser (Debian's chromium, headless), over two real nodes on
loopback: A signs in with password and TOTP and sends a FLASH; B's inbox
shows it without a reload and B's alert fires; B acknowledges; A sees the
acknowledgement without a reload. A request is declined by the principal of
the office asked, and A's board shows it without a reload. In Chinese, the labels of the received
message's page and of the board are Chinese.

Every wait is bounded (Playwright timeouts of a few seconds); nothing is timed.
"""

from __future__ import annotations

import re

from playwright.sync_api import Browser, expect

from redline.service.node import system_clock
from redline.service.operators import OperatorService
from support.console import PASSWORD, WAIT_MS, ask_for_a_call, sign_in
from support.nodes import NodeProcess


def test_a_flash_arrives_alerts_and_its_acknowledgement_returns_without_reload(
    nodes: tuple[NodeProcess, NodeProcess], browser: Browser
) -> None:
    a, b = nodes
    ops_a = OperatorService(a.store, clock=system_clock)
    ops_a.enrol_totp("alice")
    page_a = browser.new_context(base_url=a.api_url).new_page()
    page_b = browser.new_context(base_url=b.api_url).new_page()
    page_a.set_default_timeout(WAIT_MS)
    page_b.set_default_timeout(WAIT_MS)

    # TOTP is asked for: without the code the sign-in is refused.
    page_a.goto(f"{a.api_url}/console/login")
    page_a.get_by_label("Name").fill("alice")
    page_a.get_by_label("Password").fill(PASSWORD)
    page_a.get_by_role("button", name="Sign in").click()
    expect(page_a.locator(".error")).to_have_text("Wrong name, password or code.")
    sign_in(page_a, a, "alice", code=ops_a.totp_now("alice"))
    # The session cookie carries its flags, and Chromium keeps a Secure cookie on 127.0.0.1.
    (cookie,) = [c for c in page_a.context.cookies() if c["name"] == "redline_session"]
    assert (cookie["secure"], cookie["httpOnly"], cookie["sameSite"]) == (True, True, "Strict")

    sign_in(page_b, b, "bo")
    page_b.goto(f"{b.api_url}/console/inbox")
    expect(page_b.locator("html")).not_to_have_attribute("data-alert", "flash")

    page_a.goto(f"{a.api_url}/console/compose")
    page_a.get_by_label("To").select_option("prc")
    page_a.get_by_label("Precedence").select_option("flash")
    page_a.get_by_label("Subject").fill("Unsafe intercept <at> 0900Z")
    page_a.get_by_label("Text").fill("Request a call on the DTL.\nSecond line & more")
    page_a.get_by_role("button", name="Send").click()
    expect(page_a).to_have_url(re.compile(r"/console/messages/[0-9a-f]{64}$"))
    message_id = page_a.url.rsplit("/", 1)[1]
    expect(page_a.locator(".flash-banner")).to_be_visible()
    expect(page_a.locator("dd.ack")).to_have_attribute("data-ack-state", "sent")

    # B's inbox shows it without a reload, and the alert fires.
    row = page_b.locator(f'tr[data-message="{message_id}"]')
    expect(row).to_be_visible()
    expect(row).to_contain_text("Unsafe intercept <at> 0900Z")
    expect(page_b.locator("html")).to_have_attribute("data-alert", "flash")
    expect(page_b.locator("#alert-banner")).to_be_visible()
    expect(page_b.locator("#unread .badge")).to_have_text("1")
    page_b.get_by_role("button", name="Seen").click()
    expect(page_b.locator("html")).not_to_have_attribute("data-alert", "flash")

    expect(page_a.locator("dd.seen")).to_have_attribute("data-seen", "no")
    row.get_by_role("link").click()
    expect(page_b.locator(".flash-banner")).to_be_visible()
    expect(page_b.locator("pre.text")).to_have_text(
        "Request a call on the DTL.\nSecond line & more"
    )
    # Opening it signed "seen": A sees who saw it, without a reload.
    expect(page_a.locator("dd.seen")).to_have_attribute("data-seen", "yes")
    expect(page_a.locator("dd.seen")).to_contain_text("by bo")
    page_b.get_by_label("Reply (optional)").fill("Calling on the DTL <now>")
    page_b.get_by_role("button", name="Acknowledge").click()
    expect(page_b.locator("dd.ack")).to_have_attribute("data-ack-state", "acknowledged")

    # A sees the acknowledgement and its reply on the page it has open, without a reload.
    expect(page_a.locator("dd.ack")).to_have_attribute(
        "data-ack-state", "acknowledged", timeout=WAIT_MS
    )
    expect(page_a.locator("dd.reply")).to_have_text("Calling on the DTL <now>")

    # In Chinese: the received message's page and the board.
    page_b.get_by_role("button", name="中文").click()
    expect(page_b.locator("html")).to_have_attribute("lang", "zh-Hans")
    facts = page_b.locator("dl.facts dt").all_inner_texts()
    assert facts == [
        "方向",
        "对端",
        "签署时间",
        "投递",
        "已看到",
        "确认",
        "回复",
        "现行时限",
        "声明",
    ]
    expect(page_b.locator("h2").first).to_have_text("正文（按签署原文）")
    expect(page_b.locator("main h1 .prec")).to_have_text("特急")
    nav = page_b.locator("header nav a").all_inner_texts()
    assert [re.sub(r"\s*\d+$", "", t).strip() for t in nav] == [
        "当前",
        "收件箱",
        "撰写",
        "态势板",
        "请求",
    ]
    page_b.goto(f"{b.api_url}/console/board")
    headings = page_b.locator("main h1, main h2").all_inner_texts()
    assert headings == ["态势板", "链路状态", "告警", "机制", "各级别最近联络", "近期请求"]
    columns = page_b.locator("main th").all_inner_texts()
    assert columns and all(re.search(r"[\u4e00-\u9fff]", c) for c in columns), columns


def test_a_request_declined_by_the_principal_shows_on_the_askers_board(
    nodes: tuple[NodeProcess, NodeProcess], browser: Browser
) -> None:
    a, b = nodes
    page_a = browser.new_context(base_url=a.api_url).new_page()
    page_b = browser.new_context(base_url=b.api_url).new_page()
    page_a.set_default_timeout(WAIT_MS)
    page_b.set_default_timeout(WAIT_MS)
    OperatorService(a.store, clock=system_clock).add("ann", role="admin", password=PASSWORD)
    sign_in(page_a, a, "ann")
    page_a.goto(f"{a.api_url}/console/board")

    ask_for_a_call(a)

    sign_in(page_b, b, "mia")
    page_b.goto(f"{b.api_url}/console/requests")
    request = page_b.locator("article.request")
    expect(request).to_have_count(1)  # delivered to B, and addressed to mia's office
    request_id = request.get_attribute("data-request")
    request.get_by_label("Reason").fill("Not the appropriate counterpart")
    request.get_by_role("button", name="Decline").click()
    expect(page_b.locator("article.request")).to_have_count(0)

    # A's board, open all along, shows the request declined.
    row = page_a.locator(f'tr[data-request="{request_id}"]')
    expect(row).to_have_attribute("data-state", "declined")
    expect(row).to_contain_text("Not the appropriate counterpart")
