"""Bad input to the console's link, notice, translation and glossary pages and
forms is a 4xx naming the field (never a 500), and nothing is signed."""

from __future__ import annotations

import re
from typing import Any

import httpx
import orjson
from test_console_handling_pages import BASE, csrf_in, run
from test_console_handling_pages import sides as sides  # noqa: F401 (the fixture)

from support.hotline import Clock, Side

HEX = "ab" * 32
GETS = [
    ("/console/links/nobody", 404, "peer"),
    ("/console/links/nobody/glossary", 404, "peer"),
    ("/console/notices?page=x", 422, "page"),
    ("/console/notices/zz", 422, "id"),
    (f"/console/notices/{HEX}", 404, "id"),
    ("/console/notices/new?type=gossip", 422, "type"),
]
POSTS: list[tuple[str, dict[str, Any], int, str]] = [
    ("/console/links/prc/terms", {"flash": "1", "immediate": "1", "priority": "1"}, 422, "routine"),
    ("/console/links/prc/terms/zz/accept", {}, 422, "id"),
    ("/console/links/prc/escalation/urgent", {"steps": "[]"}, 422, "precedence"),
    ("/console/links/prc/escalation/flash", {"steps": '[{"action": "fly"}]'}, 422, "steps"),
    ("/console/link-tests/zz/answer", {}, 422, "id"),
    (f"/console/translations/{HEX}", {"lang": "zh", "text": "x"}, 404, "id"),
    ("/console/notices", {"to": "prc", "type": "gossip"}, 422, "type"),
    (
        "/console/notices",
        {
            "to": "prc",
            "type": "encounter",
            "requested_action": "other",
            "domain": "sea",
            "time": "noon",
        },
        422,
        "time",
    ),
    (
        "/console/notices",
        {
            "to": "prc",
            "type": "activity",
            "activity": "exercise",
            "start": "2026-12-01",
            "end": "2026-12-02",
            "area": "1 2 3",
        },
        422,
        "area",
    ),
    ("/console/links/prc/glossary", {"category": "place", "en": "x"}, 422, "zh"),
]


def test_bad_input_is_a_4xx_naming_the_field_and_nothing_is_signed(
    sides: tuple[Side, Side, Clock],
) -> None:
    us, _prc, _clock = sides
    before = len(us.node.since("prc", 0, 1000))

    async def probe(client: httpx.AsyncClient) -> list[tuple[str, int, str]]:
        out = []
        csrf = csrf_in((await client.get("/console/now")).text)
        for url, _status, _field in GETS:
            answer = await client.get(url, headers={"hx-request": "true"})
            out.append((url, answer.status_code, orjson.loads(answer.content).get("field")))
        for url, data, _status, _field in POSTS:
            answer = await client.post(
                url,
                data={"csrf": csrf, **data},
                headers={"origin": BASE, "hx-request": "true"},
            )
            out.append((url, answer.status_code, orjson.loads(answer.content).get("field")))
        return out

    got = run(us, probe, "ada")
    wanted = [(u, s, f) for u, s, f in GETS] + [(u, s, f) for u, _d, s, f in POSTS]
    for (url, status, field), (_, want_status, want_field) in zip(got, wanted, strict=True):
        assert status == want_status, (url, status, field)
        assert field is not None and re.search(rf"\b{want_field}\b", field), (url, field)
    assert len(us.node.since("prc", 0, 1000)) == before


def test_bad_recording_input_is_a_4xx_naming_the_field_and_nothing_is_kept(
    sides: tuple[Side, Side, Clock],
) -> None:
    us, _prc, _clock = sides
    before = len(us.node.since("prc", 0, 1000))
    base = "/console/calls/us-call-nope"
    cases: list[tuple[str, dict[str, str] | bytes, int, str | None]] = [
        (f"{base}/recording-consent", {"on": "maybe"}, 422, "on"),
        (f"{base}/recording-consent", {"on": "true"}, 404, "call_id"),
        (f"{base}/recording?chunk=0", b"webm", 422, "participant"),
        (f"{base}/recording?participant=p-a&chunk=x", b"webm", 422, "chunk"),
        # A chunk over the API's body cap is refused before the route reads it
        # (the node's body limit, which names no field).
        (f"{base}/recording?participant=p-a&chunk=0", b"x" * (256 * 1024 + 1), 413, None),
        (f"{base}/recording?participant=p-a&chunk=0", b"webm", 404, "call_id"),
    ]

    async def probe(client: httpx.AsyncClient) -> list[tuple[int, str | None]]:
        out = []
        csrf = csrf_in((await client.get("/console/now")).text)
        for url, data, _status, _field in cases:
            headers = {"origin": BASE, "x-csrf-token": csrf, "accept": "application/json"}
            if isinstance(data, bytes):
                answer = await client.post(url, content=data, headers=headers)
            else:
                answer = await client.post(url, data=data, headers=headers)
            out.append((answer.status_code, orjson.loads(answer.content).get("field")))
        return out

    got = run(us, probe, "ada")
    for (status, field), (url, _d, want_status, want_field) in zip(got, cases, strict=True):
        assert (status, field) == (want_status, want_field), url
    assert len(us.node.since("prc", 0, 1000)) == before
