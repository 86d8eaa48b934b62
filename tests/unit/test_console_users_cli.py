"""``redline user``: add, list, TOTP enrolment and named API keys, from the CLI."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from redline.cli.main import app
from redline.node import init_node
from redline.service.node import system_clock
from redline.service.operators import OperatorService
from redline.store.db import open_store

runner = CliRunner()


def test_user_add_list_totp_and_key(tmp_path: Path) -> None:
    node = init_node(tmp_path / "n", party="us", name="US", now=system_clock())
    secret = tmp_path / "pw"
    secret.write_text("a long enough password\n")
    path = str(node.path)

    added = runner.invoke(
        app,
        [
            "user",
            "add",
            path,
            "pat",
            "--role",
            "principal",
            "--office",
            "us-secdef",
            "--password-file",
            str(secret),
            "--lang",
            "zh",
        ],
    )
    assert added.exit_code == 0, added.output
    bad = runner.invoke(
        app, ["user", "add", path, "w", "--role", "boss", "--password-file", str(secret)]
    )
    assert bad.exit_code == 2 and "role" in bad.output
    short = tmp_path / "short"
    short.write_text("short\n")
    weak = runner.invoke(
        app, ["user", "add", path, "w", "--role", "watch", "--password-file", str(short)]
    )
    assert weak.exit_code == 2 and "password" in weak.output
    # Prompted twice, not echoed.
    prompted = runner.invoke(
        app,
        ["user", "add", path, "wanda", "--role", "watch"],
        input="another long password\nanother long password\n",
    )
    assert prompted.exit_code == 0, prompted.output
    assert "another long password" not in prompted.output

    uri = runner.invoke(app, ["user", "totp", path, "pat"])
    assert uri.exit_code == 0 and uri.output.startswith("otpauth://totp/Redline:pat?secret=")
    key = runner.invoke(app, ["user", "key", path, "wanda", "--label", "scripts"])
    assert key.exit_code == 0 and key.output.startswith("rlk_")
    again = runner.invoke(app, ["user", "key", path, "wanda", "--label", "scripts"])
    assert again.exit_code == 2 and "label" in again.output

    listed = runner.invoke(app, ["user", "list", path, "--json"])
    rows = {r["name"]: r for r in json.loads(listed.output)}
    assert rows["pat"] == {
        "name": "pat",
        "role": "principal",
        "offices": ["us-secdef"],
        "lang": "zh",
        "zone": None,
        "totp": "enrolled",
        "keys": [],
    }
    assert rows["wanda"]["keys"] == ["scripts"] and rows["wanda"]["totp"] == "off"

    # The key is stored hashed: the database holds no copy of it.
    store = open_store(node.database_url)
    try:
        ops = OperatorService(store, clock=system_clock)
        assert ops.key_operator(key.output.strip(), client="test") is not None
        assert ops.key_operator(key.output.strip() + "x", client="test") is None
    finally:
        store.dispose()
    assert key.output.strip().encode() not in (node.path / "redline.db").read_bytes()
