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
    assert "DISPUTED counterpart of us-secdef" in text
    out = tmp_path / "cal.ics"
    assert runner.invoke(app, ["calendar", str(path), "--out", str(out)]).exit_code == 0
    ics = out.read_text()
    assert "BEGIN:VCALENDAR" in ics and "dpct-cadence@redline" in ics and "FREQ=YEARLY" in ics
