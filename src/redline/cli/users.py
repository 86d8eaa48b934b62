"""``redline user ...``: the node's operators (docs/cli.md, docs/console.md).

Passwords are prompted for (twice, not echoed) or read from ``--password-file``
(its first line); they are never taken on the command line, where ``ps`` and
shell history would keep them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from redline.cli.common import (
    DirArg,
    JsonOpt,
    echo_json,
    echo_safe,
    echo_table,
    fail,
    guard,
    open_service,
)
from redline.service.node import system_clock
from redline.service.operators import OperatorService

__all__ = ["register"]

user_app = typer.Typer(
    help="Add and list the node's operators; TOTP and API keys.", no_args_is_help=True
)

NameArg = Annotated[str, typer.Argument(metavar="NAME", help="The operator's name.")]


@contextmanager
def _operators(path: Path) -> Iterator[OperatorService]:
    with open_service(path) as (_node, service):
        yield OperatorService(service.store, clock=system_clock)


def _password(password_file: Path | None) -> str:
    if password_file is None:
        return str(typer.prompt("Password", hide_input=True, confirmation_prompt=True))
    try:
        lines = password_file.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        fail(f"password-file: cannot read {password_file}: {exc.strerror}")
    return lines[0] if lines else ""


@user_app.command("add")
def user_add(
    path: DirArg,
    name: NameArg,
    role: Annotated[str, typer.Option(metavar="ROLE", help="watch, principal or admin.")],
    office: Annotated[
        list[str] | None,
        typer.Option(metavar="OFFICE", help="An office a principal acts for (repeatable)."),
    ] = None,
    lang: Annotated[str, typer.Option(metavar="LANG", help="Console language: en or zh.")] = "en",
    zone: Annotated[
        str,
        typer.Option(
            metavar="ZONE",
            help="IANA time zone the console shows times in (default: the node's).",
        ),
    ] = "",
    password_file: Annotated[
        Path | None,
        typer.Option(
            metavar="FILE", help="Read the password from FILE's first line, not a prompt."
        ),
    ] = None,
) -> None:
    """Add an operator (argon2id password, at least 10 characters)."""
    with _operators(path) as operators:
        password = _password(password_file)
        added = guard(
            lambda: operators.add(
                name, role=role, password=password, offices=office or [], lang=lang, zone=zone
            )
        )
        echo_safe(f"added {added.name} ({added.role.value})")


@user_app.command("list")
def user_list(path: DirArg, as_json: JsonOpt = False) -> None:
    """List operators: name, role, offices, language, time zone, TOTP, API keys."""
    with _operators(path) as operators:
        rows: list[dict[str, Any]] = [
            {
                "name": o.name,
                "role": o.role.value,
                "offices": list(o.offices),
                "lang": o.lang,
                "zone": o.zone or None,
                "totp": "enrolled"
                if o.totp_enrolled
                else ("required" if o.totp_required else "off"),
                "keys": operators.key_labels(o.name),
            }
            for o in operators.all()
        ]
    if as_json:
        echo_json(rows)
        return
    echo_table(
        ["NAME", "ROLE", "OFFICES", "LANG", "ZONE", "TOTP", "KEYS"],
        [
            [
                r["name"],
                r["role"],
                ",".join(r["offices"]) or "-",
                r["lang"],
                r["zone"] or "(node)",
                r["totp"],
                ",".join(r["keys"]) or "-",
            ]
            for r in rows
        ],
        empty="no operators",
    )


@user_app.command("zone")
def user_zone(
    path: DirArg,
    name: NameArg,
    zone: Annotated[
        str, typer.Argument(metavar="ZONE", help='An IANA time zone, or "" for the node\'s.')
    ],
) -> None:
    """Set the time zone NAME's console shows times in (beside the counterpart's)."""
    with _operators(path) as operators:
        changed = guard(lambda: operators.set_zone(name, zone))
        operators.audit(name, "set-zone", zone or "node", client="cli")
    echo_safe(f"{changed.name}: times in {changed.zone or 'the node zone'}")


@user_app.command("totp")
def user_totp(path: DirArg, name: NameArg) -> None:
    """Enrol TOTP for NAME (asked at every sign-in from now on); print the
    otpauth:// URI to load into an authenticator app."""
    with _operators(path) as operators:
        uri = guard(lambda: operators.enrol_totp(name))
        operators.audit(name, "totp-enrolled", name, client="cli")
    typer.echo(uri)


@user_app.command("key")
def user_key(
    path: DirArg,
    name: NameArg,
    label: Annotated[str, typer.Option(metavar="LABEL", help="What the key is for.")],
) -> None:
    """Issue NAME a named API key for scripts (Authorization: Bearer KEY).
    It is printed once and stored hashed."""
    with _operators(path) as operators:
        key = guard(lambda: operators.issue_key(name, label))
    typer.echo(key)


def register(app: typer.Typer) -> None:
    """Add ``redline user`` to ``app``."""
    app.add_typer(user_app, name="user")
