"""``/api/v1/link-tests`` over the operator API in process: figures, the paged
listing, an operator's answer naming the operator, a link's schedule, and
bad input refused as problem+json naming the field with nothing stored."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import httpx
import pytest

from redline.service.linktests import LinkTests
from redline.service.operators import OperatorService
from redline.web.api import create_api_app
from support.pair import MemoryPair

TOKEN = "operator-token-for-tests"


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[MemoryPair]:
    pair = MemoryPair(tmp_path)
    yield pair
    pair.close()


def call(
    tests: LinkTests, method: str, path: str, *, bearer: str = TOKEN, json: Any = None
) -> httpx.Response:
    identity = cast(Any, None)  # the identity route is not called
    app = create_api_app(tests.node, token=TOKEN, identity=identity, link_tests=tests)

    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://node.test") as client:
            return await client.request(
                method, path, json=json, headers={"authorization": f"Bearer {bearer}"}
            )

    return asyncio.run(go())


def assert_problem(response: httpx.Response, status: int, field: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["field"] == field, response.text


def test_figures_listing_and_an_answer_naming_the_operator(pair: MemoryPair) -> None:
    us, prc = LinkTests(pair.us.service), LinkTests(pair.prc.service)
    # The test clock starts at 08:00 UTC; the default operator test is at 09:00 UTC.
    pair.clock.advance(hours=1)
    us.send_due()
    pair.deliver()
    prc.reply_to_heartbeats()
    pair.deliver()

    figures = call(us, "GET", "/api/v1/link-tests?peer=prc")
    assert figures.status_code == 200, figures.text
    [link] = figures.json()["links"]
    assert (link["heartbeat"]["sent"], link["heartbeat"]["answered"]) == (1, 1)
    assert link["operator-test"]["pending"] == 1
    assert link["schedule"]["operator_test_time"] == "09:00"

    [waiting] = call(prc, "GET", "/api/v1/link-tests").json()["links"][0]["awaiting_answer"]
    page = call(prc, "GET", "/api/v1/link-tests/tests?direction=in&limit=1").json()
    assert len(page["tests"]) == 1 and page["next"] is not None
    rest = call(prc, "GET", f"/api/v1/link-tests/tests?direction=in&cursor={page['next']}")
    assert {t["kind"] for t in page["tests"] + rest.json()["tests"]} == {
        "heartbeat",
        "operator-test",
    }

    operators = OperatorService(pair.prc.store, clock=pair.clock)
    operators.add("kim", role="watch", password="a long enough password 1")
    key = operators.issue_key("kim", "scripts")
    operators.add("lee", role="principal", password="a long enough password 2", offices=["mnd-a"])
    refused = call(
        prc,
        "POST",
        f"/api/v1/link-tests/{waiting['id']}/answer",
        bearer=operators.issue_key("lee", "scripts"),
        json={"office": "mnd-b"},
    )
    assert refused.status_code == 403, refused.text
    assert refused.json()["field"] == "office"
    assert prc.links("us")[0]["awaiting_answer"] == [waiting]  # nothing stored
    answered = call(
        prc,
        "POST",
        f"/api/v1/link-tests/{waiting['id'][:12]}/answer",
        bearer=key,
        json={"text": "duty officer present", "office": "mnd-ops"},
    )
    assert answered.status_code == 201, answered.text
    assert answered.json()["body"] == {
        "test": waiting["id"],
        "text": "duty officer present",
        "by": {"operator": "kim", "office": "mnd-ops"},
    }
    again = call(prc, "POST", f"/api/v1/link-tests/{waiting['id']}/answer", json={})
    assert_problem(again, 409, "id")
    pair.deliver()
    link = call(us, "GET", "/api/v1/link-tests").json()["links"][0]
    assert link["operator-test"]["answered"] == 1


def test_bad_input_is_refused_naming_the_field(pair: MemoryPair) -> None:
    prc = LinkTests(pair.prc.service)
    before = prc.tests_page()
    assert_problem(call(prc, "GET", "/api/v1/link-tests?peer=nobody"), 404, "peer")
    assert_problem(call(prc, "GET", "/api/v1/link-tests/tests?kind=ping"), 422, "kind")
    assert_problem(call(prc, "GET", "/api/v1/link-tests/tests?cursor=zzz"), 422, "cursor")
    assert_problem(call(prc, "POST", "/api/v1/link-tests/xyz/answer", json={}), 422, "id")
    assert_problem(call(prc, "POST", f"/api/v1/link-tests/{'0' * 64}/answer", json={}), 404, "id")
    assert_problem(
        call(prc, "POST", f"/api/v1/link-tests/{'0' * 64}/answer", json={"text": "a\nb"}),
        422,
        "text",
    )
    put = "/api/v1/link-tests/schedules/us"
    assert_problem(
        call(prc, "PUT", put, json={"operator_test_time": "25:00"}), 422, "operator_test_time"
    )
    assert_problem(call(prc, "PUT", put, json={"zone": "Nowhere/Land"}), 422, "zone")
    assert_problem(
        call(prc, "PUT", put, json={"heartbeat_interval_seconds": 0}),
        422,
        "heartbeat_interval_seconds",
    )
    assert_problem(call(prc, "PUT", "/api/v1/link-tests/schedules/nobody", json={}), 404, "peer")
    assert prc.tests_page() == before
    assert prc.links("us")[0]["schedule"]["own"] is False
    done = call(prc, "PUT", put, json={"operator_test_time": "", "zone": "Asia/Shanghai"})
    assert done.status_code == 200, done.text
    assert done.json()["schedule"] == {
        "heartbeat_interval_seconds": 3600,
        "heartbeat_timeout_seconds": 300,
        "operator_test_time": "",
        "zone": "Asia/Shanghai",
        "operator_test_timeout_seconds": 600,
        "own": True,
    }
