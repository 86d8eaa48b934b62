"""The ``redline`` command through Click's CliRunner: thin, one-line errors, exit 2."""

from __future__ import annotations

import json
import re
import stat
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
import typer.main
from typer.testing import CliRunner, Result

from redline.cli.main import app
from redline.core import registry
from redline.core.identity import Identity
from redline.node import load_node

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
    assert result.stdout == ""
    return lines[0]


def init(path: Path, party: str, name: str = "A node") -> None:
    result = run("init", path, "--party", party, "--name", name)
    assert result.exit_code == 0, result.output


def identity_of(path: Path) -> dict[str, Any]:
    result = run("identity", path)
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.stdout)
    return data


@pytest.fixture
def paired(tmp_path: Path) -> tuple[Path, Path]:
    """Two initialised node directories; us has pinned prc."""
    us, prc = tmp_path / "us", tmp_path / "prc"
    init(us, "us", "US Department of Defense")
    init(prc, "prc", "PRC Ministry of National Defense")
    prc_file = tmp_path / "prc.json"
    prc_file.write_text(json.dumps(identity_of(prc)))
    result = run("peer", "add", us, prc_file, "--url", "https://127.0.0.1:9443")
    assert result.exit_code == 0, result.output
    return us, prc


# -- init ------------------------------------------------------------------------


def test_init_creates_the_node_with_private_files_0600(tmp_path: Path) -> None:
    path = tmp_path / "us"
    result = run("init", path, "--party", "us", "--name", "US DoD")
    assert result.exit_code == 0, result.output
    assert "created node 'us'" in result.stdout
    for private in (
        "keys/signing.pem",
        "keys/log.pem",
        "keys/witness.pem",
        "tls/key.pem",
        "api.token",
    ):
        mode = stat.S_IMODE((path / private).stat().st_mode)
        assert mode == 0o600, f"{private} is {oct(mode)}"
    assert (path / "tls" / "cert.pem").exists()
    assert (path / "redline.db").exists()
    node = load_node(path)
    assert (node.config.party, node.config.name) == ("us", "US DoD")


def test_init_options_reach_the_config(tmp_path: Path) -> None:
    path = tmp_path / "us"
    result = run(
        "init", path, "--party", "us", "--name", "US", "--link-port", "9443", "--api-port", "9080"
    )
    assert result.exit_code == 0, result.output
    config = load_node(path).config
    assert (config.link_port, config.api_port) == (9443, 9080)


def test_reinit_of_the_same_directory_fails(tmp_path: Path) -> None:
    path = tmp_path / "us"
    init(path, "us")
    before = (path / "keys" / "signing.pem").read_bytes()
    line = fails("init", path, "--party", "us", "--name", "Again")
    assert "dir:" in line and "already holds a Redline node" in line
    assert (path / "keys" / "signing.pem").read_bytes() == before


@pytest.mark.parametrize(("party", "name", "field"), [("US", "x", "party"), ("us", " ", "name")])
def test_init_bad_party_or_name(tmp_path: Path, party: str, name: str, field: str) -> None:
    line = fails("init", tmp_path / "n", "--party", party, "--name", name)
    assert line.startswith(f"error: {field}: ")
    assert not (tmp_path / "n" / "redline.toml").exists()


def test_init_bad_database_url(tmp_path: Path) -> None:
    line = fails("init", tmp_path / "n", "--party", "us", "--name", "x", "--database", "mysql://")
    assert "database" in line


# -- identity ----------------------------------------------------------------------


def test_identity_prints_json_that_parses_as_an_identity(tmp_path: Path) -> None:
    init(tmp_path / "us", "us", "US Department of Defense")
    data = identity_of(tmp_path / "us")
    identity = Identity.from_json(data)
    assert identity == load_node(tmp_path / "us").identity()
    assert identity.name == "US Department of Defense"


def test_commands_on_a_directory_that_is_not_a_node(tmp_path: Path) -> None:
    for args in (
        ["identity", tmp_path],
        ["status", tmp_path],
        ["peer", "list", tmp_path],
        ["send", tmp_path, "--to", "prc", "--subject", "s"],
    ):
        line = fails(*args)
        assert "not a Redline node directory" in line, args


# -- peer add ----------------------------------------------------------------------


def test_peer_add_and_list(paired: tuple[Path, Path]) -> None:
    us, prc = paired
    result = run("peer", "list", us, "--json")
    assert result.exit_code == 0, result.output
    [row] = json.loads(result.stdout)
    assert row["party"] == "prc"
    assert row["url"] == "https://127.0.0.1:9443"
    assert row["cert_sha256"] == identity_of(prc)["tls_cert_sha256"]
    text = run("peer", "list", us)
    assert "prc" in text.stdout and "https://127.0.0.1:9443" in text.stdout


def test_peer_add_missing_file(tmp_path: Path) -> None:
    init(tmp_path / "us", "us")
    line = fails("peer", "add", tmp_path / "us", tmp_path / "nope.json", "--url", "https://x:1")
    assert line.startswith("error: identity: ")


def test_peer_add_not_json(tmp_path: Path) -> None:
    init(tmp_path / "us", "us")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    line = fails("peer", "add", tmp_path / "us", bad, "--url", "https://x:1")
    assert line.startswith("error: identity: ")


def test_peer_add_hand_edited_identity_names_the_field(paired: tuple[Path, Path]) -> None:
    us, prc = paired
    data = identity_of(prc)
    data["tls_cert_sha256"] = "0" * 64
    edited = us.parent / "edited.json"
    edited.write_text(json.dumps(data))
    line = fails("peer", "add", us, edited, "--url", "https://x:1")
    assert line.startswith("error: tls_cert_sha256: ")


def test_peer_add_needs_https(tmp_path: Path) -> None:
    init(tmp_path / "us", "us")
    init(tmp_path / "prc", "prc")
    peer_file = tmp_path / "prc.json"
    peer_file.write_text(json.dumps(identity_of(tmp_path / "prc")))
    line = fails("peer", "add", tmp_path / "us", peer_file, "--url", "http://127.0.0.1:9443")
    assert line.startswith("error: url: ")
    listed = run("peer", "list", tmp_path / "us", "--json")
    assert json.loads(listed.stdout) == []


def test_peer_add_own_party(tmp_path: Path) -> None:
    init(tmp_path / "us", "us")
    init(tmp_path / "us2", "us")
    own = tmp_path / "own.json"
    own.write_text(json.dumps(identity_of(tmp_path / "us2")))
    line = fails("peer", "add", tmp_path / "us", own, "--url", "https://127.0.0.1:9443")
    assert line.startswith("error: party: ")


# -- send and status ----------------------------------------------------------------


def test_send_to_an_unpinned_peer_names_to(tmp_path: Path) -> None:
    init(tmp_path / "us", "us")
    line = fails("send", tmp_path / "us", "--to", "prc", "--subject", "Hello")
    assert line.startswith("error: to: ")
    status = run("status", tmp_path / "us", "--json")
    assert json.loads(status.stdout)["statements"] == []


def test_send_bad_precedence_names_it(paired: tuple[Path, Path]) -> None:
    us, _prc = paired
    line = fails("send", us, "--to", "prc", "--subject", "S", "--precedence", "urgent")
    assert line.startswith("error: precedence: ")


def test_send_then_status_shows_the_statement_queued(paired: tuple[Path, Path]) -> None:
    us, _prc = paired
    sent = run(
        "send",
        us,
        "--to",
        "prc",
        "--precedence",
        "flash",
        "--subject",
        "Intercept",
        "--body",
        "Request a call at 0900Z",
    )
    assert sent.exit_code == 0, sent.output
    statement_id = sent.stdout.strip()
    assert len(statement_id) == 64
    result = run("status", us, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["party"] == "us"
    assert report["outbox"] == 1
    assert report["log_size"] == 1
    [row] = report["statements"]
    assert row["id"] == statement_id
    assert (row["direction"], row["state"], row["seq"]) == ("out", "queued", 1)
    assert (row["peer"], row["kind"]) == ("prc", "message")
    text = run("status", us)
    assert text.exit_code == 0
    assert statement_id[:16] in text.stdout and "queued" in text.stdout


def test_second_send_takes_the_next_sequence_number(paired: tuple[Path, Path]) -> None:
    us, _prc = paired
    for _ in range(2):
        assert run("send", us, "--to", "prc", "--subject", "S").exit_code == 0
    rows = json.loads(run("status", us, "--json").stdout)["statements"]
    assert sorted(row["seq"] for row in rows) == [1, 2]


def test_no_arguments_prints_help_without_a_traceback() -> None:
    result = run()
    assert "Usage" in result.output
    assert "init" in result.output and "send" in result.output


# -- ack ---------------------------------------------------------------------------


def test_ack_of_a_received_message_prints_its_id_and_status_shows_it(
    paired: tuple[Path, Path], tmp_path: Path
) -> None:
    from redline.cli.common import open_service
    from redline.core.statement import Statement

    us, prc = paired
    us_file = tmp_path / "us.json"
    us_file.write_text(json.dumps(identity_of(us)))
    assert run("peer", "add", prc, us_file, "--url", "https://127.0.0.1:9444").exit_code == 0
    sent = run("send", us, "--to", "prc", "--precedence", "flash", "--subject", "Intercept")
    message_id = sent.stdout.strip()
    with open_service(us) as (_node, us_service):
        wires = us_service.due("prc", 10)
    with open_service(prc) as (_node, prc_service):
        prc_service.receive("us", [Statement.from_wire(w) for w in wires])
    assert "at least its first 8 hex characters" in fails("ack", prc, message_id[:7])
    acked = run("ack", prc, message_id[:16])  # as `redline messages` prints it
    assert acked.exit_code == 0, acked.output
    ack_id = acked.stdout.strip()
    assert len(ack_id) == 64 and ack_id != message_id
    rows = {r["id"]: r for r in json.loads(run("status", prc, "--json").stdout)["statements"]}
    assert rows[message_id]["ack_id"] == ack_id
    assert (rows[ack_id]["kind"], rows[ack_id]["state"]) == ("ack", "queued")
    assert f"acknowledged by {ack_id[:16]}" in run("status", prc).stdout
    assert "acknowledged already" in fails("ack", prc, message_id)
    listed = run("messages", prc).stdout
    assert f"{message_id[:16]} <- us" in listed and "FLASH" in listed and "acknowledged" in listed
    assert run("messages", prc, "--pending").stdout == "no messages awaiting an ack\n"
    [row] = json.loads(run("messages", us, "--json").stdout)
    assert (row["id"], row["direction"], row["ack_state"]) == (message_id, "out", "sent")


def test_ack_of_an_unknown_or_own_statement_names_the_id(paired: tuple[Path, Path]) -> None:
    us, _prc = paired
    assert fails("ack", us, "0" * 64).startswith("error: id: ")
    assert fails("ack", us, "0" * 12).startswith("error: id: no message received")
    sent = run("send", us, "--to", "prc", "--subject", "Hello").stdout.strip()
    assert "only a message received from a peer" in fails("ack", us, sent)


# -- messages show -------------------------------------------------------------------


@pytest.fixture
def linked(paired: tuple[Path, Path]) -> tuple[Path, Path]:
    """us and prc, each having pinned the other."""
    us, prc = paired
    us_file = us.parent / "us.json"
    us_file.write_text(json.dumps(identity_of(us)))
    assert run("peer", "add", prc, us_file, "--url", "https://127.0.0.1:9444").exit_code == 0
    return us, prc


def received(us: Path, prc: Path, *, subject: str = "Intercept", body: str = "") -> str:
    """Send a FLASH message from us to prc and carry it over; return its id."""
    from redline.cli.common import open_service
    from redline.core.statement import Statement

    sent = run(
        "send", us, "--to", "prc", "--precedence", "flash", "--subject", subject, "--body", body
    )
    assert sent.exit_code == 0, sent.output
    with open_service(us) as (_node, us_service):
        wires = us_service.due("prc", 10)
    with open_service(prc) as (_node, prc_service):
        prc_service.receive("us", [Statement.from_wire(w) for w in wires])
    return sent.stdout.strip()


def test_messages_show_prints_a_received_message_whole_by_id_or_prefix(
    linked: tuple[Path, Path],
) -> None:
    us, prc = linked
    message_id = received(us, prc, body="Request a call at 0900Z.\n\tSecond line")
    by_id = run("messages", "show", prc, message_id)
    assert by_id.exit_code == 0, by_id.output
    by_prefix = run("messages", "show", prc, message_id[:16])  # as `redline messages` prints it
    assert by_prefix.exit_code == 0, by_prefix.output
    assert by_prefix.stdout == by_id.stdout
    lines = by_id.stdout.splitlines()
    assert lines[0] == f"id:         {message_id}"
    for expected in (
        "direction:  <- from us",
        "peer:       us",
        "precedence: FLASH",
        "subject:    Intercept",
        "language:   en",
        "delivery:   received",
        "text:",
        "  Request a call at 0900Z.",
        "      Second line",
    ):
        assert expected in lines, expected
    assert any(re.fullmatch(r"ack:        SENT, ack due \S+Z", line) for line in lines)
    shown = json.loads(run("messages", "show", prc, message_id[:8], "--json").stdout)
    [listed] = json.loads(run("messages", prc, "--json").stdout)
    assert shown == {**listed, "text": "Request a call at 0900Z.\n\tSecond line"}


def test_messages_show_of_an_acknowledged_message_names_the_ack(
    linked: tuple[Path, Path],
) -> None:
    us, prc = linked
    message_id = received(us, prc)
    ack_id = run("ack", prc, message_id).stdout.strip()
    shown = run("messages", "show", prc, message_id).stdout
    assert f" by {ack_id}" in shown
    assert "text:       (empty)" in shown


def test_messages_show_of_a_sent_message_by_its_full_id(linked: tuple[Path, Path]) -> None:
    us, _prc = linked
    sent = run("send", us, "--to", "prc", "--subject", "Hello", "--body", "Hi").stdout.strip()
    shown = run("messages", "show", us, sent)
    assert shown.exit_code == 0, shown.output
    assert "direction:  -> sent to prc" in shown.stdout
    assert "delivery:   queued (no receipt from the peer yet)" in shown.stdout
    assert shown.stdout.endswith("text:\n  Hi\n")


@pytest.mark.parametrize(
    ("ref", "why"),
    [
        ("0" * 64, "error: id: "),
        ("0" * 12, "error: id: no message received from a peer starts with '000000000000'"),
        ("0123456", "error: id: give the message's id, or at least its first 8 hex characters"),
        ("not-hex-at-all", "error: id: give the message's id"),
    ],
)
def test_messages_show_of_an_unknown_or_malformed_id_names_the_field(
    linked: tuple[Path, Path], ref: str, why: str
) -> None:
    us, _prc = linked
    assert fails("messages", "show", us, ref).startswith(why)


def test_messages_show_of_a_statement_that_is_no_message_is_refused(
    linked: tuple[Path, Path],
) -> None:
    from redline.cli.common import open_service

    us, _prc = linked
    with open_service(us) as (_node, service):
        heartbeat = service.link_test(to="prc")
    assert fails("messages", "show", us, heartbeat.id).startswith("error: id: no message ")


def test_messages_show_prints_a_planted_escape_in_the_text_escaped(
    linked: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A text stored before control characters were refused (or by a node
    # without the rule): printed, it must not reach the terminal raw.
    us, prc = linked
    planted = "Stand by\x1b[2J\x1b[1mALL CLEAR\x1b[0m\r\u202eevil"
    with monkeypatch.context() as patch:
        patch.setitem(registry.KINDS, "message", lambda body: None)
        message_id = received(us, prc, subject="Sub\x1bject", body=planted)
    shown = run("messages", "show", prc, message_id[:12])
    assert shown.exit_code == 0, shown.output
    assert not any(c in shown.stdout for c in "\x1b\r\u202e")
    assert "  Stand by\\x1b[2J\\x1b[1mALL CLEAR\\x1b[0m\\x0d\\u202eevil\n" in shown.stdout
    assert "subject:    Sub\\x1bject\n" in shown.stdout
    as_json = run("messages", "show", prc, message_id, "--json").stdout
    assert "\x1b" not in as_json and "\u202e" not in as_json
    assert json.loads(as_json)["text"] == planted


# -- empty lists, --version, --help ---------------------------------------------------


def test_empty_lists_say_so(tmp_path: Path) -> None:
    init(tmp_path / "us", "us")
    assert run("messages", tmp_path / "us").stdout == "no messages\n"
    assert run("messages", "list", tmp_path / "us", "--pending").stdout == (
        "no messages awaiting an ack\n"
    )
    assert run("peer", "list", tmp_path / "us").stdout == "no peers pinned\n"
    assert run("status", tmp_path / "us").stdout.splitlines()[-1] == "no statements"
    # --json stays what it was: an empty array.
    assert run("messages", tmp_path / "us", "--json").stdout == "[]\n"
    assert run("peer", "list", tmp_path / "us", "--json").stdout == "[]\n"


def test_lists_print_one_row_a_line_without_a_header_when_piped(
    linked: tuple[Path, Path],
) -> None:
    us, _prc = linked
    sent = run("send", us, "--to", "prc", "--subject", "A subject " * 20).stdout.strip()
    [row] = run("messages", us).stdout.splitlines()  # never cut or wrapped to a width
    assert row.startswith(f"{sent[:16]} -> prc ROUTINE ")
    assert row.endswith(("A subject " * 20).rstrip())
    [peer] = run("peer", "list", us).stdout.splitlines()
    assert peer == "prc https://127.0.0.1:9443 PRC Ministry of National Defense"


def test_version_prints_the_installed_version() -> None:
    result = run("--version")
    assert result.exit_code == 0
    assert result.stdout == f"redline {metadata.version('redline')}\n"


def test_help_of_every_command_here_shows_metavars_not_type_placeholders() -> None:
    def leaves(command: Any, path: str) -> list[tuple[str, Any]]:
        subcommands = getattr(command, "commands", None)
        if not subcommands:
            return [(path, command)]
        return [pair for name, sub in subcommands.items() for pair in leaves(sub, f"{path} {name}")]

    checked = 0
    for path, command in leaves(typer.main.get_command(app), ""):
        if command.callback.__module__ != "redline.cli.main":
            continue  # the hotline's commands live in cli/hotline.py
        checked += 1
        shown = run(*path.split(), "--help").stdout
        usage = next(line for line in shown.splitlines() if "Usage:" in line)
        assert not re.search(r"\{[a-z_]+\}", usage), (path, usage)
        for param in command.params:
            if param.param_type_name == "argument" or not param.is_flag:
                assert param.metavar, (path, param.name)
        assert "<list[" not in shown, path
    assert checked >= 13
