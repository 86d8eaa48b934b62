"""``redline seen``, ``ack --reply``, ``terms``, ``escalation`` and ``notify`` through CliRunner."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner, Result

from redline.cli.common import open_service
from redline.cli.main import app
from redline.core.statement import Statement

runner = CliRunner()


def run(*args: str | Path) -> Result:
    result = runner.invoke(app, [str(a) for a in args])
    assert "Traceback" not in result.output
    if result.exception is not None:
        assert isinstance(result.exception, SystemExit), repr(result.exception)
    return result


def fails(*args: str | Path) -> str:
    """Run a command that must fail; return its one error line."""
    result = run(*args)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def init(path: Path, party: str, name: str) -> None:
    result = run("init", path, "--party", party, "--name", name)
    assert result.exit_code == 0, result.output


def identity_of(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(run("identity", path).stdout)
    return data


def _pair(tmp_path: Path) -> tuple[Path, Path]:
    us, prc = tmp_path / "us", tmp_path / "prc"
    init(us, "us", "US Department of Defense")
    init(prc, "prc", "PRC Ministry of National Defense")
    for a, b in ((us, prc), (prc, us)):
        file = tmp_path / f"{b.name}.json"
        file.write_text(json.dumps(identity_of(b)))
        assert run("peer", "add", a, file, "--url", "https://127.0.0.1:9443").exit_code == 0
    return us, prc


def _carry(sender: Path, receiver: Path, to: str, frm: str) -> None:
    with open_service(sender) as (_node, service):
        wires = service.due(to, 50)
    with open_service(receiver) as (_node, service):
        service.receive(frm, [Statement.from_wire(w) for w in wires])


def test_seen_then_ack_with_a_reply_and_late_shown(tmp_path: Path) -> None:
    us, prc = _pair(tmp_path)
    sent = run("send", us, "--to", "prc", "--precedence", "flash", "--subject", "Intercept")
    assert sent.exit_code == 0, sent.output
    message_id = sent.stdout.strip()
    _carry(us, prc, "prc", "us")
    first = run("seen", prc, message_id[:16])
    assert first.exit_code == 0, first.output
    seen_id = first.stdout.strip()
    assert len(seen_id) == 64
    assert run("seen", prc, message_id).stdout.strip() == f"{seen_id} (seen already)"
    assert "only its addressee marks it seen" in fails("seen", us, message_id)
    assert "ghost" in fails("ack", prc, message_id, "--operator", "ghost")
    assert "reply" in fails("ack", prc, message_id, "--reply", " padded ")
    acked = run("ack", prc, message_id, "--reply", "Agreed, 0900Z.")
    assert acked.exit_code == 0, acked.output
    shown = run("messages", "show", prc, message_id).stdout
    assert "reply:" in shown and "Agreed, 0900Z." in shown
    assert "seen:" in shown and "not yet" not in shown
    [row] = json.loads(run("messages", prc, "--json").stdout)
    assert (row["reply"], row["late"], row["seen_id"]) == ("Agreed, 0900Z.", False, seen_id)


def test_terms_escalation_and_notify_commands(tmp_path: Path) -> None:
    us, prc = _pair(tmp_path)
    bad = fails("terms", "propose", us, "--to", "prc", "--flash", "900", "--immediate", "600")
    assert "deadlines.immediate" in bad
    proposed = run("terms", "propose", us, "--to", "prc", "--flash", "300")
    assert proposed.exit_code == 0, proposed.output
    terms_id = proposed.stdout.strip()
    _carry(us, prc, "prc", "us")
    assert "own terms" in fails("terms", "accept", us, terms_id)
    accepted = run("terms", "accept", prc, terms_id)
    assert accepted.exit_code == 0, accepted.output
    shown = json.loads(run("terms", "show", prc, "--json").stdout)
    assert shown["links"][0]["agreed"]["terms"] == terms_id
    assert shown["links"][0]["deadlines"]["flash"] == 300

    assert "steps[0].recipients" in fails(
        "escalation", "set", us, "prc", "flash", "--step", "60:alert"
    )
    assert "step" in fails("escalation", "set", us, "prc", "flash", "--step", "soon")
    done = run(
        "escalation", "set", us, "prc", "flash", "--step", "60:realert",
        "--step", "120:propose-fallback:attache-channel",
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    policy = json.loads(run("escalation", "show", us, "prc", "--json").stdout)["policies"]
    assert policy["flash"]["default"] is False
    assert [s["action"] for s in policy["flash"]["steps"]] == ["realert", "propose-fallback"]
    assert run("escalation", "reset", us, "prc", "flash").exit_code == 0
    policy = json.loads(run("escalation", "show", us, "prc", "--json").stdout)["policies"]
    assert policy["flash"]["default"] is True
    assert run("escalation", "taken", us).stdout.strip() == "no escalation steps taken"

    assert "channel" in fails("notify", "add", us, "desk")
    assert "address" in fails("notify", "add", us, "desk", "--email", "nobody")
    added = run("notify", "add", us, "desk", "--webhook", "https://hooks.example/x", "--duty")
    assert added.exit_code == 0, added.output
    listed = json.loads(run("notify", "list", us, "--json").stdout)
    assert [(r["name"], r["duty"]) for r in listed["recipients"]] == [("desk", True)]
    assert run("notify", "remove", us, "desk").exit_code == 0
    assert "no recipient" in fails("notify", "remove", us, "desk")
