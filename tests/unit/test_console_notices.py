"""The console's notices: filed from a form whose coded lists are selects in
the operator's language, refused naming the field with nothing stored, listed
newest first, and shown rendered in the reader's language with the coded body
one click away."""

from __future__ import annotations

import re
from typing import Any

import httpx
from test_console_handling_pages import BASE, csrf_in, run
from test_console_handling_pages import sides as sides  # noqa: F401 (the fixture)

from redline.service.notices import NoticeService
from redline.service.translation import install_hooks
from support.hotline import Clock, Side, sync

ENCOUNTER = {
    "type": "encounter",
    "to": "prc",
    "domain": "sea",
    "time": "2026-11-22T02:30",  # the operator's zone (New York): 07:30 UTC
    "lat": "24.5",
    "lon": "121.75",
    "own_unit_type": "destroyer",
    "own_unit_id": "DDG-89",
    "other_unit_type": "frigate",
    "other_unit_id": "",
    "cpa_value": "150",
    "cpa_unit": "yd",
    "requested_action": "maintain-safe-distance",
    "remarks": "Closed <fast>",
}


def test_an_encounter_filed_from_the_form_is_read_in_each_language(
    sides: tuple[Side, Side, Clock],
) -> None:
    us, prc, _clock = sides
    for side in (us, prc):
        install_hooks(side.node)  # as a running node does at start (runtime.Node)

    async def file(client: httpx.AsyncClient) -> tuple[str, int, int, str, str, str]:
        form = (await client.get("/console/notices/new?type=encounter")).text
        csrf = csrf_in(form)
        fields = {**ENCOUNTER, "csrf": csrf}
        data: dict[str, Any] = {**fields, "behaviours": ["unsafe-proximity", "aerobatics"]}
        no_csrf = await client.post(
            "/console/notices", data=dict(ENCOUNTER), headers={"origin": BASE}
        )
        bad = await client.post(
            "/console/notices",
            data={**data, "lat": "95"},
            headers={"origin": BASE},
        )
        done = await client.post("/console/notices", data=data, headers={"origin": BASE})
        assert done.status_code == 303, done.text
        shown = (await client.get(str(done.headers["location"]))).text
        listing = (await client.get("/console/notices")).text
        return form, no_csrf.status_code, bad.status_code, bad.text, shown, listing

    form, no_csrf, bad, bad_text, shown, listing = run(us, file)
    assert '<option value="unsafe-proximity">' in form and "<select" in form
    assert no_csrf == 403
    assert bad == 422 and "position.lat" in bad_text
    assert len(NoticeService(us.node).notices()) == 1  # the refused one was not stored
    assert "<details" in shown and "unsafe-proximity" in shown
    assert "Closed &lt;fast&gt;" in shown and "<fast>" not in shown
    assert "24.5°N 121.75°E" in shown
    assert listing.count("data-notice=") == 1
    sync(us, prc)

    async def read_in_chinese(client: httpx.AsyncClient) -> tuple[str, str]:
        listing = (await client.get("/console/notices")).text
        found = re.search(r'href="(/console/notices/[0-9a-f]{64})"', listing)
        assert found, listing
        form = (await client.get("/console/notices/new?type=activity")).text
        return (await client.get(found.group(1))).text, form

    shown, form = run(prc, read_in_chinese, "zhou")
    assert "相遇报告" in shown and "北纬24.5°" in shown
    assert "演习" in form or "实弹" in form  # the activity codes, labelled in Chinese


def test_the_notice_list_is_newest_first(sides: tuple[Side, Side, Clock]) -> None:
    us, _prc, clock = sides
    service = NoticeService(us.node)
    first = service.send_notice(
        to="prc",
        notice={
            "type": "mechanism-change",
            "mechanism": "dtl",
            "status": "suspended",
            "effective": "2026-11-22T08:00:00.000000Z",
            "reason": "maintenance",
        },
    )
    clock.advance(minutes=5)
    second = service.send_notice(
        to="prc",
        notice={
            "type": "mechanism-change",
            "mechanism": "dtl",
            "status": "resumed",
            "effective": "2026-11-22T08:05:00.000000Z",
            "reason": "restored",
        },
    )

    async def listing(client: httpx.AsyncClient) -> str:
        return (await client.get("/console/notices")).text

    page = run(us, listing)
    assert page.index(second.id) < page.index(first.id)
