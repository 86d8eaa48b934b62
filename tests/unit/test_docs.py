"""A setting, a CLI command or option, or a problem code that is not documented fails here."""

from __future__ import annotations

import re
from dataclasses import MISSING, fields
from pathlib import Path
from typing import Any, cast

import tomli_w
import typer.main

from redline.cli.main import app
from redline.core.errors import RedlineError
from redline.node import NodeConfig

DOCS = Path(__file__).resolve().parents[2] / "docs"
CONFIGURATION = DOCS / "configuration.md"
CLI = DOCS / "cli.md"
API = DOCS / "api.md"


# -- configuration -------------------------------------------------------------


def _table_row(text: str, name: str) -> str | None:
    match = re.search(rf"^\| `{re.escape(name)}` \|.*$", text, re.MULTILINE)
    return match.group(0) if match else None


def _default_text(value: Any) -> str:
    # As it appears in redline.toml: `link_port = 8443` -> 8443, `database = ""` -> "".
    line = tomli_w.dumps({"x": value}).strip()
    text = line.split(" = ", 1)[1]
    return text if text == '""' else text.strip('"')


def missing_settings(text: str) -> list[str]:
    """NodeConfig fields the text does not document, with what is missing."""
    problems = []
    settings = set(NodeConfig(party="p", name="n").to_toml())
    for spec in fields(NodeConfig):
        if spec.name not in settings:
            if f"`{spec.name}`" not in text:
                problems.append(f"{spec.name}: not mentioned")
            continue
        row = _table_row(text, spec.name)
        if row is None:
            problems.append(f"{spec.name}: no table row")
        elif spec.default is not MISSING and f"`{_default_text(spec.default)}`" not in row:
            problems.append(f"{spec.name}: default {_default_text(spec.default)} not in its row")
    return problems


def test_every_setting_is_documented_with_its_default() -> None:
    assert missing_settings(CONFIGURATION.read_text()) == []


def test_the_directory_layout_is_documented() -> None:
    text = CONFIGURATION.read_text()
    for path in (
        "redline.toml",
        "keys/signing.pem",
        "keys/log.pem",
        "keys/witness.pem",
        "tls/key.pem",
        "tls/cert.pem",
        "api.token",
        "redline.db",
    ):
        assert path in text, path


def test_the_settings_check_can_fail() -> None:
    text = CONFIGURATION.read_text()
    without_row = re.sub(r"^\| `retry_cap_seconds` \|.*\n", "", text, flags=re.MULTILINE)
    assert missing_settings(without_row) == ["retry_cap_seconds: no table row"]
    wrong_default = text.replace(
        "| `link_port` | integer | `8443` |", "| `link_port` | integer | `9443` |"
    )
    assert missing_settings(wrong_default) == ["link_port: default 8443 not in its row"]


# -- CLI -------------------------------------------------------------------------


def cli_commands() -> dict[str, list[str]]:
    """Every leaf command's path ('redline peer add') and its option names."""
    found: dict[str, list[str]] = {}

    def walk(command: Any, path: str) -> None:
        subcommands = getattr(command, "commands", None)
        if subcommands:
            for name, sub in subcommands.items():
                walk(sub, f"{path} {name}")
            return
        options = []
        for param in command.params:
            if param.param_type_name == "option":
                options.extend(param.opts + param.secondary_opts)
        found[path] = options

    walk(typer.main.get_command(app), "redline")
    return found


def cli_sections(text: str) -> dict[str, str]:
    """Sections of cli.md headed '## `redline ...`', by command path."""
    parts = re.split(r"^## `(redline[^`]*)`\s*$", text, flags=re.MULTILINE)
    return {parts[i]: parts[i + 1] for i in range(1, len(parts), 2)}


def missing_cli(text: str) -> list[str]:
    problems = []
    sections = cli_sections(text)
    commands = cli_commands()
    for path, options in commands.items():
        section = sections.get(path)
        if section is None:
            problems.append(f"{path}: no section")
            continue
        for option in options:
            if f"`{option}`" not in section:
                problems.append(f"{path} {option}: not documented")
    for path in sections:
        if path not in commands:
            problems.append(f"{path}: documented but there is no such command")
    return problems


def test_the_cli_tree_is_found() -> None:
    commands = cli_commands()
    assert {"redline init", "redline send", "redline peer add", "redline peer list"} <= set(
        commands
    )
    assert "--party" in commands["redline init"]
    assert "--json" in commands["redline status"]


def test_every_cli_command_and_option_is_documented() -> None:
    assert missing_cli(CLI.read_text()) == []


def test_the_cli_check_can_fail() -> None:
    text = CLI.read_text()
    assert missing_cli(text.replace("| `--lang` |", "| lang |")) == [
        "redline send --lang: not documented"
    ]
    assert missing_cli(text.replace("## `redline peer list`", "## peer list")) == [
        "redline peer list: no section"
    ]
    assert missing_cli(text + "\n## `redline frobnicate`\n") == [
        "redline frobnicate: documented but there is no such command"
    ]


# -- problem codes ------------------------------------------------------------------


def test_every_problem_code_is_documented() -> None:
    import redline.web.api  # noqa: F401  (defines the API's own error)

    codes = set()
    pending: list[type[RedlineError]] = [RedlineError]
    while pending:
        cls = pending.pop()
        codes.add(cls.code)
        pending.extend(cls.__subclasses__())
    text = API.read_text()
    missing = sorted(code for code in codes if not re.search(rf"^\| `{code}` \|", text, re.M))
    assert missing == []


# -- HTTP routes -------------------------------------------------------------------


def http_routes() -> list[str]:
    """'METHOD /path' for every route of the operator API and the link."""
    from redline.link.server import create_link_app
    from redline.web.api import create_api_app

    # Building the apps only registers routes; nothing calls the service.
    apps = [
        create_api_app(
            cast(Any, None), token="t", identity=cast(Any, None), hotline=cast(Any, object())
        ),
        create_link_app(cast(Any, None), record=cast(Any, object())),
    ]
    routes = []
    for wrapped in apps:
        for route in wrapped.app.routes:  # inside the BodyLimit middleware
            for method in sorted(getattr(route, "methods", None) or ()):
                if method != "HEAD":
                    routes.append(f"{method} {route.path}")
    return routes


def test_every_http_route_is_documented() -> None:
    routes = http_routes()
    assert "POST /link/v1/statements" in routes and "POST /api/v1/messages" in routes
    text = API.read_text()
    headings = set(re.findall(r"^### `([A-Z]+ [^`?]+)(?:\?[^`]*)?`", text, re.MULTILINE))
    assert sorted(set(routes) - headings) == []
    assert sorted(headings - set(routes)) == []
