"""Live re-reads in a real browser over two real nodes: a stored statement
re-reads only the fragments that show what it concerns. Messages arriving at
B re-read B's unread count but not the requests list B has open; a request
arriving re-reads the list. Every wait is bounded; nothing is timed."""

from __future__ import annotations

from playwright.sync_api import Browser, expect

from support.console import WAIT_MS, ask_for_a_call, sign_in
from support.nodes import NodeProcess


def test_a_message_does_not_re_read_the_requests_list_and_a_request_does(
    nodes: tuple[NodeProcess, NodeProcess], browser: Browser
) -> None:
    a, b = nodes
    page = browser.new_context(base_url=b.api_url).new_page()
    page.set_default_timeout(WAIT_MS)
    fetched: list[str] = []
    page.on("request", lambda r: fetched.append(r.url.split("/console/", 1)[-1]))
    sign_in(page, b, "bo")
    page.goto(f"{b.api_url}/console/requests")
    live = page.locator("#live")
    # The stream's first event re-reads every fragment once.
    expect(live).to_have_attribute("data-rereads", "1")
    expect(page.locator("#unread")).to_have_attribute("data-rereads", "1")

    with a.api() as api:
        for i in range(3):
            sent = api.post(
                "/api/v1/messages",
                json={"to": "prc", "precedence": "routine", "subject": f"m{i}", "text": ""},
            )
            assert sent.status_code == 201, sent.text
    expect(page.locator("#unread .badge")).to_have_text("3")  # the count was re-read
    # Longer than a re-read may be put off (500 ms): one for the messages would have run.
    page.wait_for_timeout(1500)
    expect(live).to_have_attribute("data-rereads", "1")
    assert fetched.count("fragments/requests") == 1, fetched

    asked = ask_for_a_call(a)
    request_id = asked.json()["body"]["id"]
    expect(page.locator(f'[data-request="{request_id}"]').first).to_be_attached()
    expect(live).to_have_attribute("data-rereads", "2")
