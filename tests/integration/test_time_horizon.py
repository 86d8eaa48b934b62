"""Times bounded where they enter (docs/security.md, "Times far in the future").

A window or deadline in year 9999 made the receiver's board answer 500 and
``redline board`` crash with OverflowError: reading the time in a party's zone
passed the last date Python has. Body times now lie at most a horizon (ten
years by default) after the statement's own signed time, on input and on
receipt; and the views show what a peer stored before that without failing.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from redline.cli.main import app as cli
from redline.core.errors import ConfigError, InvalidInput, InvalidStatement
from redline.core.hotline import kinds as k
from redline.core.statement import format_time
from redline.link.server import create_link_app
from redline.link.wire import NDJSON, encode_batch
from redline.node import NodeConfig, load_node
from redline.service.hotline import HotlineService, parse_when, parse_window
from redline.web.api import create_api_app
from support.hotline import Clock, Side, hotline_sides, sync

TOKEN = "operator-token-for-tests"
AUTH = {"authorization": f"Bearer {TOKEN}"}
FAR = "9999-12-31T20:00:00.000000Z"  # 04:00 on 1 January 10000 in Shanghai


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sides(tmp_path: Path, clock: Clock) -> Iterator[tuple[Side, Side]]:
    with hotline_sides(tmp_path, clock) as made:
        yield made["us"], made["prc"]


def _window(start: datetime, hours: int = 1) -> dict[str, str]:
    return {"start": format_time(start), "end": format_time(start + timedelta(hours=hours))}


def _request_body(clock: Clock, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "us-req-far",
        "from_office": "us-secdef",
        "to_office": "prc-mnd",
        "mechanism": "dtl",
        "mode": "call",
        "windows": [_window(clock.now + timedelta(days=1))],
        "deadline": format_time(clock.now + timedelta(hours=12)),
        "agenda": [],
        "notes": [],
    }
    body.update(changes)
    return body


# -- the rule, in core -----------------------------------------------------------------


SIGNED = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("kind", "body", "field"),
    [
        (
            k.REQUEST,
            {"windows": [{"start": FAR, "end": FAR}], "deadline": ""},
            "body.windows[0].start",
        ),
        (
            k.REQUEST,
            {"windows": [_window(SIGNED), _window(SIGNED, hours=24 * 3700)]},
            "body.windows[1].end",
        ),
        (k.REQUEST, {"windows": [_window(SIGNED)], "deadline": FAR}, "body.deadline"),
        (k.RESPONSE, {"window": {"start": FAR, "end": FAR}}, "body.window.start"),
        (
            k.RESPONSE,
            {"counter": {"windows": [{"start": FAR, "end": FAR}]}},
            "body.counter.windows[0].start",
        ),
        (
            k.RESPONSE,
            {"counter": {"windows": [_window(SIGNED)], "deadline": FAR}},
            "body.counter.deadline",
        ),
        (k.REQUEST_LAPSED, {"deadline": FAR}, "body.deadline"),
    ],
)
def test_a_time_past_the_horizon_is_refused_naming_its_field(
    kind: str, body: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidStatement) as info:
        k.check_horizon(kind, body, signed_at=SIGNED)
    assert info.value.field == field, info.value


def test_the_horizon_is_measured_from_the_signed_time() -> None:
    ten_years = SIGNED + k.DEFAULT_HORIZON
    body = {"windows": [_window(SIGNED)], "deadline": format_time(ten_years)}
    k.check_horizon(k.REQUEST, body, signed_at=SIGNED)  # exactly at the horizon: taken
    body["deadline"] = format_time(ten_years + timedelta(microseconds=1))
    with pytest.raises(InvalidStatement):
        k.check_horizon(k.REQUEST, body, signed_at=SIGNED)
    k.check_horizon(k.REQUEST, body, signed_at=SIGNED + timedelta(seconds=1))
    with pytest.raises(InvalidStatement):
        k.check_horizon(k.REQUEST, body, signed_at=SIGNED, horizon=timedelta(days=30))


def test_no_horizon_reaches_past_the_latest_time() -> None:
    late = {"windows": [{"start": FAR, "end": FAR}]}
    for horizon in (timedelta(days=3_000_000), timedelta.max):
        with pytest.raises(InvalidStatement) as info:
            k.check_horizon(k.REQUEST, late, signed_at=SIGNED, horizon=horizon)
        assert info.value.field == "body.windows[0].start"


def test_the_horizon_setting_must_be_positive() -> None:
    assert NodeConfig.from_toml({"party": "us", "name": "US"}).time_horizon_days == 3653
    with pytest.raises(ConfigError) as info:
        NodeConfig.from_toml({"party": "us", "name": "US", "time_horizon_days": 0})
    assert info.value.field == "time_horizon_days"


# -- on input: the operator's field named -------------------------------------------------


def test_parse_when_refuses_a_time_past_9999_in_utc() -> None:
    with pytest.raises(InvalidInput) as info:
        parse_when("9999-12-31T23:59:59-10:00", "deadline")
    assert info.value.field == "deadline"
    with pytest.raises(InvalidInput) as info:
        parse_window("2030-01-01T00:00Z/9999-12-31T23:59:59-10:00", "windows[0]")
    assert info.value.field == "windows[0]"


def _refused(side: Side, field: str, act: Any) -> None:
    before = side.count()
    with pytest.raises(InvalidInput) as info:
        act()
    assert info.value.field == field, info.value
    assert side.count() == before, "something was signed"


def test_a_request_past_the_horizon_is_refused_on_input(
    sides: tuple[Side, Side], clock: Clock
) -> None:
    us, prc = sides
    soon = parse_window(f"{clock.now + timedelta(days=1)}/{clock.now + timedelta(days=2)}", "w")
    far_start = clock.now + timedelta(days=3660)
    far = parse_window(f"{far_start}/{far_start + timedelta(hours=1)}", "w")
    ask: dict[str, Any] = {
        "from_office": "us-secdef",
        "to_office": "prc-mnd",
        "mechanism": "dtl",
        "mode": "call",
    }
    _refused(us, "windows[1].start", lambda: us.hotline.request(**ask, windows=[soon, far]))
    _refused(
        us,
        "deadline",
        lambda: us.hotline.request(
            **ask, windows=[soon], deadline=datetime(9999, 1, 1, tzinfo=UTC)
        ),
    )
    # The counter of a request: named as the operator gave it.
    rid = us.hotline.request(**ask, windows=[soon]).body["id"]
    sync(us, prc)
    counter: dict[str, Any] = {"counter_office": "prc-mnd", "counter_windows": [soon]}
    _refused(
        prc,
        "counter_windows[0].start",
        lambda: prc.hotline.respond(rid, **{**counter, "counter_windows": [far]}),
    )
    _refused(
        prc,
        "counter_deadline",
        lambda: prc.hotline.respond(rid, **counter, counter_deadline=far_start),
    )


def test_the_configured_horizon_is_the_one_applied(tmp_path: Path, clock: Clock) -> None:
    with hotline_sides(tmp_path, clock, parties=("us", "prc")) as made:
        us = made["us"]
        # Replace the side's service by one configured with a 30-day horizon.
        us.node.receive_checks.remove(us.hotline.state.check_incoming)
        us.node.on_stored.remove(us.hotline.state.apply)
        short = HotlineService(us.node, name="US DoD", horizon=timedelta(days=30))
        ask: dict[str, Any] = {
            "from_office": "us-secdef",
            "to_office": "prc-mnd",
            "mechanism": "dtl",
            "mode": "call",
        }
        for days, taken in ((31, False), (29, True)):
            start = clock.now + timedelta(days=days)
            window = parse_window(f"{start}/{start + timedelta(hours=1)}", "w")
            if taken:
                short.request(**ask, windows=[window])
            else:
                _refused(us, "windows[0].start", lambda w=window: short.request(**ask, windows=[w]))


# -- on receipt: invalid-statement, nothing stored -------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        (
            {"windows": [{"start": FAR, "end": "9999-12-31T21:00:00.000000Z"}]},
            "body.windows[0].start",
        ),
        ({"deadline": FAR}, "body.deadline"),
    ],
)
def test_a_peers_request_past_the_horizon_is_refused_on_receipt(
    sides: tuple[Side, Side], clock: Clock, changes: dict[str, Any], field: str
) -> None:
    us, prc = sides
    st = us.node.send(to="prc", kind="request", body=_request_body(clock, **changes))
    before = prc.count()
    with pytest.raises(InvalidStatement) as info:
        prc.node.receive("us", [st])
    assert info.value.field == field, info.value
    assert prc.count() == before, "something was stored"


def test_the_link_answers_422_naming_the_field(
    sides: tuple[Side, Side], clock: Clock, tmp_path: Path
) -> None:
    us, prc = sides
    st = us.node.send(to="prc", kind="request", body=_request_body(clock, deadline=FAR))
    link = create_link_app(prc.node)
    fingerprint = load_node(tmp_path / "us").identity().tls_cert_sha256

    async def pinned_us(scope: dict[str, Any], receive: Any, send: Any) -> None:
        scope.setdefault("extensions", {})["tls"] = {"client_cert_sha256": fingerprint}
        await link(scope, receive, send)

    async def push() -> httpx.Response:
        transport = httpx.ASGITransport(app=pinned_us)
        async with httpx.AsyncClient(transport=transport, base_url="https://link.test") as c:
            return await c.post(
                "/link/v1/statements",
                content=encode_batch([st.canonical]),
                headers={"content-type": NDJSON},
            )

    before = prc.count()
    answer = asyncio.run(push())
    assert answer.status_code == 422, answer.text
    assert (answer.json()["code"], answer.json()["field"]) == ("invalid-statement", "body.deadline")
    assert prc.count() == before


# -- rendering what was stored before the check: no overflow -----------------------------------


def _api(side: Side, tmp_path: Path, method: str, path: str, **kw: Any) -> httpx.Response:
    identity = load_node(tmp_path / side.party).identity()
    app = create_api_app(side.node, token=TOKEN, identity=identity, hotline=side.hotline)

    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://node.test") as c:
            return await c.request(method, path, headers=AUTH, **kw)

    return asyncio.run(go())


def test_a_request_in_9999_stored_before_the_check_renders_everywhere(
    sides: tuple[Side, Side], clock: Clock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    us, prc = sides
    far = {"start": FAR, "end": "9999-12-31T21:00:00.000000Z"}
    body = _request_body(clock, windows=[far], deadline="9999-12-31T22:00:00.000000Z")
    with monkeypatch.context() as before_the_check:
        # As a node did before times were bounded: the peer's request is stored,
        # and accepted, at the far window.
        before_the_check.setattr(k, "check_horizon", lambda *a, **kw: None)
        prc.node.send(
            to="us",
            kind="request",
            body={**body, "id": "prc-req-far", "from_office": "prc-mnd", "to_office": "us-secdef"},
        )
        sync(us, prc)
        us.hotline.respond("prc-req-far", accept=parse_window(f"{FAR}/{far['end']}", "w"))
        prc.node.send(
            to="us",
            kind="request",
            body={**body, "id": "prc-req-open", "from_office": "prc-mnd", "to_office": "us-secdef"},
        )
        sync(us, prc)

    board = us.hotline.board()
    (line,) = [r for r in board["open_requests"] if r["id"] == "prc-req-open"]
    (window,) = line["windows"]
    assert window["local"]["prc"]["start"] == f"{FAR} (beyond 9999 in Asia/Shanghai)"
    assert window["local"]["us"]["start"] == "9999-12-31T15:00-05:00"
    assert b"beyond 9999 in Asia/Shanghai" in us.hotline.calendar()
    answer = _api(us, tmp_path, "GET", "/api/v1/hotline/board")
    assert answer.status_code == 200, answer.text
    assert answer.json()["open_requests"] == json.loads(json.dumps(board["open_requests"]))
    assert _api(us, tmp_path, "GET", "/api/v1/hotline/calendar.ics").status_code == 200
    runner = CliRunner()
    text = runner.invoke(cli, ["board", str(tmp_path / "us")])
    assert text.exit_code == 0, text.output
    assert "beyond 9999 in Asia/Shanghai" in text.output
    as_json = runner.invoke(cli, ["board", str(tmp_path / "us"), "--json"])
    assert as_json.exit_code == 0, as_json.output


def test_the_api_and_the_cli_answer_422_and_exit_2_naming_the_field(
    sides: tuple[Side, Side], clock: Clock, tmp_path: Path
) -> None:
    us, _prc = sides
    soon = datetime.now(UTC) + timedelta(days=1)
    window = {"start": soon.isoformat(), "end": (soon + timedelta(hours=1)).isoformat()}
    ask = {"from_office": "us-secdef", "to_office": "prc-mnd", "mechanism": "dtl", "mode": "call"}
    for changes, field in (
        ({"windows": [{**window, "end": "9999-12-31T23:59:59-10:00"}]}, "windows[0].end"),
        ({"windows": [window], "deadline": "9999-12-31T23:59:59-10:00"}, "deadline"),
        ({"windows": [window], "deadline": "9999-01-01T00:00Z"}, "deadline"),
    ):
        answer = _api(us, tmp_path, "POST", "/api/v1/hotline/requests", json={**ask, **changes})
        assert answer.status_code == 422, answer.text
        assert (answer.json()["code"], answer.json()["field"]) == ("invalid-input", field)
    command = ["request", str(tmp_path / "us"), "--from-office", "us-secdef"]
    command += ["--to-office", "prc-mnd", "--mechanism", "dtl"]
    command += ["--window", f"{window['start']}/{window['end']}"]
    for deadline in ("9999-01-01T00:00Z", "9999-12-31T23:59:59-10:00"):
        result = CliRunner().invoke(cli, [*command, "--deadline", deadline])
        assert result.exit_code == 2, result.output
        assert result.output.startswith("error: deadline: "), result.output
    assert us.count() == 0
