"""The console's later pages over two in-memory nodes: a ringing call takes over
every page and is answered, talked on and ended from the console; the timeline
is marked as the public record, filtered and searched; the directory flags a
counterpart mismatch and a new request shows it before it is sent; the
calendar lists an accepted engagement in two zones and serves its iCalendar
file; the record page shows checkpoints and serves an export; times are in
the operator's zone and the counterpart's; each page in English and Chinese.
"""

from __future__ import annotations

import asyncio
import io
import json
import re
import zipfile
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, cast
from zoneinfo import ZoneInfo

import httpx
import pytest
from typer.testing import CliRunner

from redline.cli.main import app as cli
from redline.core.hotline.requests import Window
from redline.service.operators import OperatorService
from redline.web.api import create_api_app
from redline.web.console.views import Zones, calendar_days
from support.console_app import BASE, TOKEN, console_sides, run
from support.hotline import Clock, Side, sync


@pytest.fixture
def sides(tmp_path: Path) -> Iterator[tuple[Side, Side, Clock]]:
    with console_sides(tmp_path) as made:
        yield made


async def csrf_of(client: httpx.AsyncClient) -> str:
    page = await client.get("/console/calls")
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found, page.text[:500]
    return found.group(1)


def post(client: httpx.AsyncClient, path: str, csrf: str, **data: str) -> Any:
    return client.post(path, data={"csrf": csrf, **data}, headers={"origin": BASE})


def test_a_ringing_call_takes_over_answer_talk_end_with_duration(
    sides: tuple[Side, Side, Clock],
) -> None:
    us, prc, clock = sides

    async def place(client: httpx.AsyncClient) -> str:
        csrf = await csrf_of(client)
        placed = await post(
            client,
            "/console/calls",
            csrf,
            from_office="us-secdef",
            to_office="prc-mnd",
            mechanism="dtl",
            mode="call",
            purpose="Incident <at> sea",
        )
        assert placed.status_code == 303, placed.text
        return str(placed.headers["location"]).rsplit("/", 1)[1]

    call_id = run(us, place)
    sync(us, prc)

    async def ring(client: httpx.AsyncClient) -> tuple[str, str, str]:
        takeover = await client.get("/console/fragments/ringing", headers={"hx-request": "true"})
        page = await client.get(f"/console/calls/{call_id}")
        csrf = await csrf_of(client)
        answered = await post(client, f"/console/calls/{call_id}/event", csrf, action="answer")
        assert answered.status_code == 303, answered.text
        said = await post(client, f"/console/calls/{call_id}/say", csrf, text="Received <b>&</b>")
        assert said.status_code == 303, said.text
        after = await client.get("/console/fragments/ringing", headers={"hx-request": "true"})
        return takeover.text, page.text, after.text

    takeover, page, after = run(prc, ring)
    assert 'role="alertdialog"' in takeover and f'data-alert-id="{call_id}"' in takeover
    assert 'data-alert-level="call"' in takeover
    assert "Incident &lt;at&gt; sea" in takeover and "<at>" not in takeover
    assert 'data-state="ringing"' in page and "Answer" in page
    assert "alertdialog" not in after  # answered: the takeover is gone

    sync(us, prc)
    clock.advance(seconds=95)

    async def end(client: httpx.AsyncClient) -> str:
        csrf = await csrf_of(client)
        ended = await post(client, f"/console/calls/{call_id}/event", csrf, action="end")
        assert ended.status_code == 303, ended.text
        return (await client.get(f"/console/calls/{call_id}")).text

    ended_page = run(us, end)
    assert 'data-state="ended"' in ended_page
    assert "Received &lt;b&gt;&amp;&lt;/b&gt;" in ended_page
    found = re.search(r'data-seconds="(\d+)"', ended_page)
    assert found and int(found.group(1)) >= 95
    sync(us, prc)
    states = {c["id"]: c["state"] for c in prc.hotline.board()["calls"]}
    assert states[call_id] == "ended"


def test_only_the_called_side_answers_and_a_principal_only_for_their_office(
    sides: tuple[Side, Side, Clock],
) -> None:
    us, prc, _clock = sides
    call = us.hotline.place_call(from_office="us-secdef", to_office="prc-mnd", mechanism="dtl")
    call_id = call.model.id
    sync(us, prc)
    before = prc.count()

    async def script(client: httpx.AsyncClient) -> list[int]:
        csrf = await csrf_of(client)
        takeover = await client.get("/console/fragments/ringing", headers={"hx-request": "true"})
        assert "alertdialog" not in takeover.text  # not pat's office: no takeover
        answer = await post(client, f"/console/calls/{call_id}/event", csrf, action="answer")
        bad = await post(client, f"/console/calls/{call_id}/event", csrf, action="hang")
        missing = await post(client, "/console/calls/nope/event", csrf, action="answer")
        return [answer.status_code, bad.status_code, missing.status_code]

    assert run(prc, script, name="pat") == [403, 422, 404]
    assert prc.count() == before


def test_timeline_is_the_public_record_filtered_searched_and_paged(
    sides: tuple[Side, Side, Clock],
) -> None:
    us, prc, _clock = sides
    us.node.send_message(to="prc", precedence="routine", subject="Weather", text="Fog banks")
    us.node.send_message(to="prc", precedence="flash", subject="Intercept", text="Unsafe pass")
    call = us.hotline.place_call(
        from_office="us-secdef", to_office="prc-mnd", mechanism="dtl", purpose="ops"
    )
    sync(us, prc)
    prc.hotline.call_event(call.model.id, "answer")
    prc.hotline.say(call.model.id, "Zebra crossing ahead")
    start = (us.node.clock() + timedelta(days=2)).replace(microsecond=0)
    us.hotline.request(
        from_office="us-secdef",
        to_office="prc-mnd",
        mechanism="dtl",
        mode="video",
        windows=[Window(start=start, end=start + timedelta(hours=1))],
        agenda=["Quokka sightings"],
    )
    sync(us, prc)
    levels = {o["id"]: o["level"] for p in us.hotline.directory()["parties"] for o in p["offices"]}

    async def script(client: httpx.AsyncClient) -> list[str]:
        return [
            (await client.get("/console/timeline")).text,
            (await client.get("/console/timeline?q=fog")).text,
            (await client.get("/console/timeline?q=zebra")).text,
            (await client.get("/console/fragments/timeline?q=unsafe&peer=prc")).text,
            (await client.get("/console/timeline?mechanism=dtl&q=ops")).text,
            (await client.get("/console/timeline?until=2000-01-01")).text,
            (await client.get("/console/timeline?q=QUOKKA")).text,
            (await client.get(f"/console/timeline?level={levels['us-secdef']}")).text,
        ]

    whole, fog, zebra, unsafe, by_mech, none_, quokka, by_level = run(us, script)
    assert "This is the public record" in whole
    assert "Weather" in whole and "Intercept" in whole
    assert "Weather" in fog and "Intercept" not in fog  # message text searched
    assert "Zebra crossing ahead" in zebra and "Weather" not in zebra  # call message
    assert "Intercept" in unsafe and "Weather" not in unsafe
    assert "calls prc-mnd over dtl" in by_mech and "Weather" not in by_mech
    assert "Nothing matches." in none_
    assert "asks prc-mnd for a video" in quokka and "Weather" not in quokka  # an agenda
    assert "calls prc-mnd over dtl" in by_level and "Weather" not in by_level

    async def bad(client: httpx.AsyncClient) -> list[httpx.Response]:
        return [
            await client.get("/console/timeline?since=yesterday", headers={"hx-request": "true"}),
            await client.get("/console/timeline?page=0", headers={"hx-request": "true"}),
        ]

    since, page = run(us, bad)
    assert (since.status_code, page.status_code) == (422, 422)
    assert since.json()["field"] == "since" and page.json()["field"] == "page"


def test_directory_and_a_new_request_show_the_counterpart_mismatch_before_sending(
    sides: tuple[Side, Side, Clock],
) -> None:
    us, prc, _clock = sides
    us.hotline.publish_directory()
    prc.hotline.publish_directory()
    sync(us, prc)
    start = (us.node.clock() + timedelta(days=2)).replace(second=0, microsecond=0)
    form = {
        "from_office": "us-secdef",
        "to_office": "prc-cmc-vc",
        "mechanism": "dtl",
        "mode": "call",
        "start_1": start.strftime("%Y-%m-%dT%H:%M"),
        "end_1": (start + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
        "agenda": "Incidents at sea\nHotline test",
    }
    before = us.count()

    async def script(client: httpx.AsyncClient) -> tuple[str, str, str, httpx.Response, int]:
        directory = (await client.get("/console/directory")).text
        hint = (await client.get("/console/fragments/requests/new", params=form)).text
        csrf = await csrf_of(client)
        held = await post(client, "/console/requests/new", csrf, **form)
        counted = us.count()
        sent = await post(client, "/console/requests/new", csrf, confirm="yes", **form)
        return directory, hint, held.text, sent, counted

    directory, hint, held, sent, counted = run(us, script)
    assert 'data-office="us-secdef" class="mismatch" data-disputed="true"' in directory
    assert 'data-mismatch="prc-cmc-vc"' in hint and "prc-mnd" in hint
    assert "Send to this office anyway" in held and counted == before  # nothing sent
    assert sent.status_code == 303, sent.text
    (line,) = [r for r in us.hotline.board()["open_requests"] if r["to_office"] == "prc-cmc-vc"]
    assert line["agenda"] == ["Incidents at sea", "Hotline test"]

    async def agreed(client: httpx.AsyncClient) -> str:
        to_mnd = {**form, "to_office": "prc-mnd"}
        return (await client.get("/console/fragments/requests/new", params=to_mnd)).text

    assert "data-mismatch" not in run(us, agreed)


def test_calendar_in_two_zones_with_its_ics_and_the_record_with_its_export(
    sides: tuple[Side, Side, Clock],
) -> None:
    us, prc, clock = sides
    start = clock.now + timedelta(days=3)
    window = Window(
        start=start.replace(hour=13, minute=0, second=0, microsecond=0),
        end=start.replace(hour=14, minute=0, second=0, microsecond=0),
    )
    asked = us.hotline.request(
        from_office="us-secdef",
        to_office="prc-mnd",
        mechanism="dtl",
        mode="call",
        windows=[window],
        agenda=["Annual talks"],
    )
    sync(us, prc)
    prc.hotline.respond(asked.model.id, accept=window)
    sync(us, prc)

    async def script(client: httpx.AsyncClient) -> tuple[str, httpx.Response, str, httpx.Response]:
        return (
            (await client.get("/console/calendar")).text,
            await client.get("/console/calendar.ics"),
            (await client.get("/console/record")).text,
            await client.get("/console/record/export.zip"),
        )

    calendar, ics, record, export = run(us, script)
    zones = {p["id"]: p["time_zone"] for p in us.hotline.directory()["parties"]}
    assert zones["us"] != zones["prc"]
    assert "call: us-secdef / prc-mnd (dtl)" in calendar
    assert 'class="tz-peer">(prc:' in calendar  # the counterpart's zone beside ours
    assert ics.headers["content-type"].startswith("text/calendar")
    assert f"UID:{asked.model.id}@redline" in ics.text
    assert 'data-log="us"' in record and 'data-log="prc"' in record
    assert export.status_code == 200 and export.headers["content-type"] == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(export.content)).namelist()
    assert "redline-export/manifest.json" in names


@pytest.mark.parametrize(
    "path",
    [
        "/console/calls",
        "/console/timeline",
        "/console/directory",
        "/console/calendar",
        "/console/record",
        "/console/requests/new",
    ],
)
def test_each_page_in_chinese(sides: tuple[Side, Side, Clock], path: str) -> None:
    us, _prc, _clock = sides

    async def script(client: httpx.AsyncClient) -> str:
        return (await client.get(path)).text

    page = run(us, script, name="zhou")
    heading = re.search(r"<h1>([^<]+)", page)
    assert heading and re.search(r"[\u4e00-\u9fff]", heading.group(1)), page[:300]
    columns = re.findall(r'<th scope="col">([^<]*)</th>', page)
    assert all(re.search(r"[\u4e00-\u9fff]", c) for c in columns), columns
    labels = re.findall(r"<label[^>]*>\s*([^<]+?)\s*<", page)
    assert all(re.search(r"[\u4e00-\u9fff]", t) for t in labels), labels


def test_times_in_the_operators_zone_set_by_redline_user_zone(
    sides: tuple[Side, Side, Clock], tmp_path: Path
) -> None:
    us, prc, _clock = sides
    call = us.hotline.place_call(from_office="us-secdef", to_office="prc-mnd", mechanism="dtl")
    placed = us.hotline.board()["calls"][0]["placed_at"]
    runner = CliRunner()
    bad = runner.invoke(cli, ["user", "zone", str(tmp_path / "us"), "wanda", "Mars/Olympus"])
    assert bad.exit_code == 2 and "zone" in bad.output
    done = runner.invoke(cli, ["user", "zone", str(tmp_path / "us"), "wanda", "Asia/Tokyo"])
    assert done.exit_code == 0, done.output
    listed = runner.invoke(cli, ["user", "list", str(tmp_path / "us"), "--json"])
    assert {r["name"]: r["zone"] for r in json.loads(listed.output)}["wanda"] == "Asia/Tokyo"

    sent = us.node.send_message(to="prc", precedence="routine", subject="Zones", text="x")

    async def script(client: httpx.AsyncClient) -> str:
        return (await client.get(f"/console/calls/{call.model.id}")).text

    async def inbox(client: httpx.AsyncClient) -> list[str]:
        return [
            (await client.get("/console/inbox")).text,
            (await client.get(f"/console/messages/{sent.id}")).text,
        ]

    for shown in run(us, inbox):  # the pages of the first slice too
        signed = datetime.fromisoformat(sent.time).astimezone(ZoneInfo("Asia/Tokyo"))
        assert signed.strftime("%Y-%m-%d %H:%M JST") in shown
        assert '<span class="tz-peer">(prc: ' in shown
    page = run(us, script)
    tokyo = datetime.fromisoformat(placed).astimezone(ZoneInfo("Asia/Tokyo"))
    zones = {p["id"]: p["time_zone"] for p in prc.hotline.directory()["parties"]}
    beijing = datetime.fromisoformat(placed).astimezone(ZoneInfo(zones["prc"]))
    assert tokyo.strftime("%Y-%m-%d %H:%M JST") in page  # the operator's zone
    assert f"(prc: {beijing.strftime('%Y-%m-%d %H:%M')}" in page  # and the counterpart's
    OperatorService(us.store, clock=us.node.clock).set_zone("wanda", "")
    assert "JST" not in run(us, script)  # back to the node's zone


def test_a_counter_offer_from_the_requests_page(sides: tuple[Side, Side, Clock]) -> None:
    us, prc, clock = sides
    start = (clock.now + timedelta(days=2)).replace(second=0, microsecond=0)
    asked = us.hotline.request(
        from_office="us-secdef",
        to_office="prc-mnd",
        mechanism="dtl",
        mode="call",
        windows=[Window(start=start, end=start + timedelta(hours=1))],
    )
    sync(us, prc)
    request_id = asked.model.id
    later = start + timedelta(days=1)
    zone = ZoneInfo({p["id"]: p["time_zone"] for p in prc.hotline.directory()["parties"]}["prc"])
    local = later.astimezone(zone)
    before = prc.count()

    async def script(client: httpx.AsyncClient) -> tuple[str, list[int]]:
        page = (await client.get("/console/requests")).text
        csrf = await csrf_of(client)
        path = f"/console/requests/{request_id}/respond"
        fields = {"action": "counter", "offered_office": "prc-mnd", "note": "A day later"}
        reversed_window = await post(
            client,
            path,
            csrf,
            **fields,
            start_1=local.strftime("%Y-%m-%dT%H:%M"),
            end_1=(local - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
        )
        no_start = await post(client, path, csrf, **fields, end_1="2030-01-01T10:00")
        sent = await post(
            client,
            path,
            csrf,
            **fields,
            start_1=local.strftime("%Y-%m-%dT%H:%M"),
            end_1=(local + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
        )
        return page, [reversed_window.status_code, no_start.status_code, sent.status_code]

    page, codes = run(prc, script, name="ada")
    assert "Counter-offer" in page
    assert codes == [422, 422, 303]
    assert prc.count() == before + 1  # the refused ones stored nothing
    line = next(r for r in prc.hotline.board()["requests"] if r["id"] == request_id)
    assert line["state"] == "countered" and line["counter_request"]
    (counter,) = [
        r for r in prc.hotline.board()["open_requests"] if r["id"] == line["counter_request"]
    ]
    assert counter["windows"][0]["start"] == later.strftime("%Y-%m-%dT%H:%M:%S.000000Z")


def test_the_later_pages_refuse_the_anonymous(sides: tuple[Side, Side, Clock]) -> None:
    us, _prc, _clock = sides
    pages = ["/console/calls", "/console/calls/x", "/console/timeline", "/console/directory"]
    pages += ["/console/calendar", "/console/calendar.ics", "/console/record"]
    pages += ["/console/record/export.zip", "/console/requests/new", "/console/fragments/ringing"]
    acts = ["/console/calls", "/console/calls/x/event", "/console/calls/x/say"]
    acts += ["/console/requests/new"]
    before = us.count()

    async def script() -> list[tuple[str, int, str]]:
        app = create_api_app(us.node, token=TOKEN, identity=cast(Any, None), hotline=us.hotline)
        transport = httpx.ASGITransport(app=app, client=("10.0.0.7", 4000))
        async with httpx.AsyncClient(
            transport=transport, base_url=BASE, headers={"accept": "text/html"}
        ) as client:
            out = []
            for path in pages:
                r = await client.get(path)
                out.append((path, r.status_code, r.headers.get("location", "")))
            for path in acts:
                r = await client.post(path, data={"action": "answer"}, headers={"origin": BASE})
                out.append((path, r.status_code, ""))
            return out

    answers = asyncio.run(script())
    for path, status, location in answers[: len(pages)]:
        assert status == 303 and location.startswith("/console/login?next="), (path, status)
    assert [status for _p, status, _l in answers[len(pages) :]] == [401] * len(acts)
    assert us.count() == before


def test_a_calendar_day_stays_that_day_in_any_zone_and_a_moment_moves() -> None:
    ics = (
        b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\n"
        b"BEGIN:VEVENT\r\nUID:talks@redline\r\nDTSTAMP:20260101T000000Z\r\n"
        b"DTSTART;VALUE=DATE:20240101\r\nRRULE:FREQ=YEARLY\r\nSUMMARY:Talks\r\nEND:VEVENT\r\n"
        b"BEGIN:VEVENT\r\nUID:call@redline\r\nDTSTAMP:20260101T000000Z\r\n"
        b"DTSTART:20240101T030000Z\r\nDTEND:20240101T040000Z\r\nSUMMARY:Call\r\nEND:VEVENT\r\n"
        b"END:VCALENDAR\r\n"
    )
    zones = Zones(
        mine="America/New_York", parties={"us": "America/New_York", "prc": "Asia/Shanghai"}
    )
    days = calendar_days(ics, zones, "us")
    assert [d["day"] for d in days] == ["2023-12-31", "2024-01-01"]
    (call,) = days[0]["engagements"]
    assert (call["summary"], call["when"], call["until"]) == (
        "Call",
        "2023-12-31 22:00 EST",
        "2023-12-31 23:00 EST",
    )
    assert call["others"] == [
        {"mine": "2023-12-31 22:00 EST", "peer": "2024-01-01 11:00 CST", "peer_party": "prc"}
    ]
    (talks,) = days[1]["engagements"]
    assert (talks["summary"], talks["when"], talks["recurs"]) == ("Talks", "", True)
