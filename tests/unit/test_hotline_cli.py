"""The hotline commands through Typer's CliRunner: one-line errors, history, calendar."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from typer.testing import CliRunner

from redline.cli.main import app
from redline.node import init_node
from redline.store.db import open_store

runner = CliRunner()


def _node(tmp_path: Path) -> Path:
    path = tmp_path / "us"
    node = init_node(path, party="us", name="US DoD", now=datetime(2026, 1, 1, tzinfo=UTC))
    open_store(node.database_url).dispose()
    return path


def test_unknown_office_is_one_line_exit_2(tmp_path: Path) -> None:
    path = _node(tmp_path)
    result = runner.invoke(
        app,
        [
            "request",
            str(path),
            "--from-office",
            "us-secdef",
            "--to-office",
            "prc-nobody",
            "--mechanism",
            "dtl",
            "--window",
            "2030-01-01T09:00Z/2030-01-01T10:00Z",
        ],
    )
    assert result.exit_code == 2
    assert result.output.strip() == "error: to_office: unknown office 'prc-nobody'"


def test_a_window_without_a_zone_is_refused(tmp_path: Path) -> None:
    path = _node(tmp_path)
    result = runner.invoke(
        app,
        [
            "request",
            str(path),
            "--from-office",
            "us-secdef",
            "--to-office",
            "prc-mnd",
            "--mechanism",
            "dtl",
            "--window",
            "2030-01-01T09:00/2030-01-01T10:00",
        ],
    )
    assert result.exit_code == 2
    assert result.output.startswith("error: windows[0]: ") and "no time zone" in result.output


def test_history_load_then_board_and_calendar(tmp_path: Path) -> None:
    path = _node(tmp_path)
    before = json.loads(runner.invoke(app, ["board", str(path), "--json"]).output)
    assert before["history_loaded"] is False and before["requests"] == []
    assert runner.invoke(app, ["history", "load", str(path)]).exit_code == 0
    board = json.loads(runner.invoke(app, ["board", str(path), "--json"]).output)
    assert board["history_loaded"] is True
    assert {r["id"] for r in board["requests"] if r["state"] == "lapsed"} == {
        "austin-xu-1",
        "austin-xu-2",
        "austin-xu-3",
    }
    text = runner.invoke(app, ["board", str(path)]).output
    assert "DISPUTED counterparts" in text
    assert "us-secdef us says prc-cmc-vc; prc says prc-mnd" in text
    out = tmp_path / "cal.ics"
    assert runner.invoke(app, ["calendar", str(path), "--out", str(out)]).exit_code == 0
    ics = out.read_text()
    assert "BEGIN:VCALENDAR" in ics and "dpct-cadence@redline" in ics and "FREQ=YEARLY" in ics


def _paired(tmp_path: Path, party: str, name: str, peer: str) -> Path:
    """A node of ``party`` with ``peer`` pinned (the peer's node is only made for its
    identity)."""
    from redline.store import repo

    path = tmp_path / party
    node = init_node(path, party=party, name=name, now=datetime(2026, 1, 1, tzinfo=UTC))
    other = init_node(
        tmp_path / f"{peer}-far", party=peer, name=peer, now=datetime(2026, 1, 1, tzinfo=UTC)
    )
    store = open_store(node.database_url)
    with store.write() as conn:
        repo.add_peer(conn, other.identity(), "https://127.0.0.1:1", "2026-01-01T00:00:00Z")
    store.dispose()
    return path


def test_a_new_party_adds_its_offices_and_holders(tmp_path: Path) -> None:
    path = _paired(tmp_path, "jp", "Japan Ministry of Defense", "us")
    add = [
        "office",
        "add",
        str(path),
        "jp-mod",
        "--level",
        "defence_minister",
        "--title-en",
        "Minister of Defense",
        "--title-zh",
        "防卫大臣",
        "--time-zone",
        "Asia/Tokyo",
    ]
    result = runner.invoke(app, add)
    assert result.exit_code == 0, result.output
    assert result.output.startswith("directory signed and queued for us: ")
    again = runner.invoke(app, add)
    assert again.exit_code == 2
    assert again.output.strip() == "error: id: office 'jp-mod' already exists"
    holder = ["office", "holder", str(path), "jp-mod", "--person-en", "Gen Nakatani"]
    result = runner.invoke(app, [*holder, "--person-zh", "中谷元", "--since", "2024-10-01"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(
        app, [*holder, "--person-en", "Koizumi", "--person-zh", "小泉", "--since", "2024-09-01"]
    )
    assert result.exit_code == 2 and "give a later date" in result.output
    result = runner.invoke(app, ["directory", str(path), "--json"])
    [jp] = [p for p in json.loads(result.output)["parties"] if p["id"] == "jp"]
    assert jp["name_en"] == "Japan Ministry of Defense" and jp["time_zone"] == "Asia/Tokyo"
    [office] = jp["offices"]
    assert (office["id"], office["holders_now"]) == ("jp-mod", ["Gen Nakatani"])
    bad = runner.invoke(app, [*add[:3], "jp-x", "--level", "emperor", *add[6:10]])
    assert bad.exit_code == 2 and bad.output.startswith("error: level: must be one of")


def test_an_office_of_another_party_cannot_be_given_a_holder(tmp_path: Path) -> None:
    path = _paired(tmp_path, "us", "US DoD", "prc")
    result = runner.invoke(
        app,
        ["office", "holder", str(path), "prc-mnd", "--person-en", "X", "--person-zh", "X"]
        + ["--since", "2030-01-01"],
    )
    assert result.exit_code == 2
    assert result.output.strip() == "error: office: prc-mnd is not an office of us"


def test_a_title_that_could_steer_a_terminal_is_refused(tmp_path: Path) -> None:
    path = _paired(tmp_path, "jp", "Japan", "us")
    add = ["office", "add", str(path), "jp-mod", "--level", "defence_minister"]
    for planted in ("Minister\x1b[2J", "Minister\u202eevil", "Minister\nFLASH", "\u200b"):
        result = runner.invoke(app, [*add, "--title-en", planted, "--title-zh", "大臣"])
        assert result.exit_code == 2, (planted, result.output)
        assert result.output.startswith("error: title"), result.output
    shown = runner.invoke(app, ["directory", str(path), "--json"]).output
    assert "jp-mod" not in shown
