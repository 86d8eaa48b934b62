"""Titles and names as language maps: written in the new shape, the old shape still
read, shown in the reader's language; the API takes the map and names bad fields."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from redline.cli.main import app as cli
from redline.core.errors import InvalidInput
from redline.core.hotline.bodies import DirectoryBody
from redline.node import load_node
from redline.web.api import create_api_app
from support.hotline import Clock, Side, hotline_sides, sync

TOKEN = "operator-token-for-tests"
AUTH = {"authorization": f"Bearer {TOKEN}"}
JP_TITLES = {"en": "Minister of Defense", "ja": "防衛大臣", "zh": "防卫大臣"}


@pytest.fixture
def three(tmp_path: Path) -> Iterator[dict[str, Side]]:
    with hotline_sides(tmp_path, Clock(), ("us", "prc", "jp"), [("us", "jp")]) as made:
        yield made


def _office(side: Side, office_id: str) -> dict[str, Any]:
    for party in side.hotline.directory()["parties"]:
        for office in party["offices"]:
            if office["id"] == office_id:
                return dict(office)
    raise AssertionError(f"no office {office_id}")


def test_an_office_is_published_with_its_titles_map(three: dict[str, Side]) -> None:
    jp, us = three["jp"], three["us"]
    (sent,) = jp.hotline.add_office("jp-mod", level="defence_minister", titles=JP_TITLES)
    body = sent.typed(DirectoryBody)
    assert sent.body["offices"][0]["titles"] == JP_TITLES
    assert "title_en" not in sent.body["offices"][0]
    assert body.offices[0].title("ja") == "防衛大臣"
    (held,) = jp.hotline.set_holder(
        "jp-mod", person={"en": "Gen Nakatani", "ja": "中谷元"}, since=date(2024, 10, 1)
    )
    assert held.body["holdings"][0]["person"] == {"en": "Gen Nakatani", "ja": "中谷元"}
    sync(jp, us)
    office = _office(us, "jp-mod")
    assert office["titles"] == JP_TITLES
    assert (office["title_en"], office["title_zh"]) == ("Minister of Defense", "防卫大臣")
    assert office["holders"][-1]["person"] == {"en": "Gen Nakatani", "ja": "中谷元"}
    # No Chinese name was given: the two-language view falls back to English.
    assert office["holders"][-1]["person_zh"] == "Gen Nakatani"


def test_the_two_language_arguments_still_make_the_map(three: dict[str, Side]) -> None:
    jp = three["jp"]
    (sent,) = jp.hotline.add_office("jp-mod", level="policy", title_en="MoD", title_zh="防卫省")
    assert sent.body["offices"][0]["titles"] == {"en": "MoD", "zh": "防卫省"}


def test_a_directory_signed_in_the_old_shape_is_read_as_the_map(three: dict[str, Side]) -> None:
    jp, us = three["jp"], three["us"]
    legacy = {
        "party": "jp",
        "name_en": "Japan",
        "name_zh": "日本",
        "time_zone": "Asia/Tokyo",
        "offices": [
            {"id": "jp-mod", "title_en": "MoD", "title_zh": "防卫省", "level": "policy", "seats": 1}
        ],
        "holdings": [
            {
                "office": "jp-mod",
                "person_en": "Gen Nakatani",
                "person_zh": "中谷元",
                "start": "2024-10-01",
                "end": None,
            }
        ],
    }
    sent = jp.node.send(to="us", kind="directory", body=legacy)
    assert sent.body == legacy  # the signed bytes are what was given
    sync(jp, us)
    office = _office(us, "jp-mod")
    assert office["titles"] == {"en": "MoD", "zh": "防卫省"}
    assert office["holders"][0]["person"] == {"en": "Gen Nakatani", "zh": "中谷元"}


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"titles": {"en": " padded"}}, "titles.en"),
        ({"titles": {"English": "MoD"}}, "titles"),
        ({}, "title_en"),
    ],
)
def test_bad_titles_are_refused_naming_the_field(
    three: dict[str, Side], kwargs: dict[str, Any], field: str
) -> None:
    jp = three["jp"]
    before = jp.count()
    with pytest.raises(InvalidInput) as info:
        jp.hotline.add_office("jp-mod", level="policy", **kwargs)
    assert info.value.field == field
    assert jp.count() == before


def test_the_cli_shows_titles_in_the_readers_language(
    three: dict[str, Side], tmp_path: Path
) -> None:
    jp, us = three["jp"], three["us"]
    jp.hotline.add_office("jp-mod", level="defence_minister", titles=JP_TITLES)
    sync(jp, us)
    us.store.dispose()
    runner = CliRunner()
    shown = {}
    for lang in ("ja", "zh-Hans", "fr"):
        result = runner.invoke(cli, ["directory", str(tmp_path / "us"), "--language", lang])
        assert result.exit_code == 0, result.output
        shown[lang] = next(line for line in result.output.splitlines() if "jp-mod" in line)
    assert "防衛大臣" in shown["ja"]
    assert "防卫大臣" in shown["zh-Hans"]
    assert "Minister of Defense" in shown["fr"]


def _api(side: Side, tmp_path: Path, method: str, path: str, **kw: Any) -> httpx.Response:
    identity = load_node(tmp_path / side.party).identity()
    app = create_api_app(side.node, token=TOKEN, identity=identity, hotline=side.hotline)

    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://node.test") as c:
            return await c.request(method, path, headers=AUTH, **kw)

    return asyncio.run(go())


def test_the_api_takes_the_titles_map_and_names_bad_fields(
    three: dict[str, Side], tmp_path: Path
) -> None:
    jp = three["jp"]
    url = "/api/v1/hotline/offices"
    made = _api(
        jp, tmp_path, "POST", url, json={"id": "jp-mod", "level": "policy", "titles": JP_TITLES}
    )
    assert made.status_code == 201, made.text
    assert made.json()[0]["kind"] == "directory"
    before = jp.count()
    for bad, field in (
        ({"id": "JP MOD", "level": "policy", "titles": JP_TITLES}, "id"),
        ({"id": "jp-x", "level": "policy", "titles": {}}, "titles"),
        ({"id": "jp-x", "level": "admiral", "titles": JP_TITLES}, "level"),
    ):
        answer = _api(jp, tmp_path, "POST", url, json=bad)
        assert answer.status_code == 422, answer.text
        assert answer.json()["field"] == field
    assert jp.count() == before
    holder = _api(
        jp,
        tmp_path,
        "POST",
        f"{url}/jp-mod/holder",
        json={"person": {"en": "Gen Nakatani", "ja": "中谷元"}, "since": "2024-10-01"},
    )
    assert holder.status_code == 201, holder.text
    assert holder.json()[0]["body"]["holdings"][0]["person"]["ja"] == "中谷元"


def test_the_api_schema_carries_the_wire_patterns(three: dict[str, Side], tmp_path: Path) -> None:
    schema = _api(three["jp"], tmp_path, "GET", "/openapi.json").json()
    office = schema["components"]["schemas"]["OfficeIn"]["properties"]
    assert office["id"]["pattern"] == "^[a-z0-9][a-z0-9._-]{0,79}$"
    titles = next(s for s in office["titles"]["anyOf"] if s.get("type") == "object")
    assert titles["additionalProperties"] is False
    assert titles["minProperties"] == 1
    request = schema["components"]["schemas"]["RequestIn"]["properties"]
    assert request["to_office"]["pattern"] == office["id"]["pattern"]
