"""``redline seen``, ``redline terms``, ``redline escalation`` and ``redline notify``
(docs/messages.md, docs/cli.md).

Thin: each command parses its options and calls
:class:`~redline.service.handling.HandlingService`. ``--operator NAME``
names the operator who acts (signed as ``by``); without it the node acts.
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
    guard,
    open_service,
)
from redline.core.errors import InvalidInput
from redline.core.fields import ActedBy
from redline.service.handling import HandlingService
from redline.service.messages import acted_by
from redline.service.node import NodeService
from redline.service.notify import notifier_from
from redline.service.operators import Operator, OperatorService

__all__ = ["OperatorOpt", "operator_named", "register"]

terms_app = typer.Typer(
    help="Handling times agreed per link: show, propose, accept.", no_args_is_help=True
)
escalation_app = typer.Typer(
    help="Each link's escalation policy per precedence, and the steps taken.",
    no_args_is_help=True,
)
notify_app = typer.Typer(
    help="Who notifications reach off the watch floor (webhook, email); attempts.",
    no_args_is_help=True,
)

#: ``--operator NAME``: the operator who acts, named in what is signed.
OperatorOpt = Annotated[
    str | None,
    typer.Option(
        "--operator", metavar="NAME", help="The operator acting (named in the statement)."
    ),
]
PeerArg = Annotated[str, typer.Argument(metavar="PEER", help="A pinned peer's party id.")]


@contextmanager
def _handling(path: Path) -> Iterator[HandlingService]:
    with open_service(path) as (node, service):
        notifier = notifier_from(node.config, store=service.store, clock=service.clock)
        yield HandlingService(service, notifier=notifier)


def operator_named(node: NodeService, name: str | None) -> Operator | None:
    """The node's operator ``name`` (None for None); fails (exit 2) for an unknown name."""
    if name is None:
        return None
    return guard(lambda: OperatorService(node.store, clock=node.clock).get(name))


def _by(handling: HandlingService, name: str | None) -> ActedBy | None:
    operator = operator_named(handling.node, name)
    return None if operator is None else ActedBy.model_validate(acted_by(operator))


def seen(
    path: DirArg,
    message: Annotated[
        str,
        typer.Argument(
            metavar="ID", help="A received message's id, or its first 8+ hex characters."
        ),
    ],
    operator: OperatorOpt = None,
) -> None:
    """Mark a received message seen (signs `seen` to its sender, once); prints its id.

    A second `seen` of the same message signs nothing and prints the first one's id.
    """
    with _handling(path) as handling:
        done = guard(lambda: handling.seen(message, by=_by(handling, operator)))
    typer.echo(done["seen"] if done["new"] else f"{done['seen']} (seen already)")


@terms_app.command("show")
def terms_show(
    path: DirArg,
    peer: Annotated[
        str | None, typer.Option("--peer", metavar="PEER", help="Only this peer.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Each link's acknowledgement deadlines in force, and every proposal."""
    with _handling(path) as handling:
        terms = guard(lambda: handling.terms(peer))
    if as_json:
        echo_json(terms)
        return
    echo_table(
        ["PEER", "FLASH", "IMMEDIATE", "PRIORITY", "ROUTINE", "AGREED"],
        [
            [
                link["peer"],
                *(
                    f"{link['deadlines'][p]}s"
                    for p in ("flash", "immediate", "priority", "routine")
                ),
                "defaults (ACP 121)"
                if link["agreed"] is None
                else f"{link['agreed']['terms'][:16]} accepted {link['agreed']['accepted_at']}",
            ]
            for link in terms["links"]
        ],
        empty="no pinned peers",
    )
    for row in terms["proposals"]:
        state = f"accepted {row['accepted_at']}" if row["accepted_at"] else "not accepted"
        echo_safe(
            f"proposal {row['id'][:16]} by {row['proposer']} ({row['peer']} link) {row['time']}: "
            f"{row['deadlines']}; {state}"
        )


_SECONDS = {"metavar": "SECONDS"}


@terms_app.command("propose")
def terms_propose(
    path: DirArg,
    to: Annotated[str, typer.Option("--to", metavar="PEER", help="The peer.")],
    flash: Annotated[int, typer.Option(help="FLASH deadline, seconds.", **_SECONDS)] = 600,
    immediate: Annotated[int, typer.Option(help="IMMEDIATE deadline, seconds.", **_SECONDS)] = 1800,
    priority: Annotated[int, typer.Option(help="PRIORITY deadline, seconds.", **_SECONDS)] = 10800,
    routine: Annotated[int, typer.Option(help="ROUTINE deadline, seconds.", **_SECONDS)] = 21600,
    note: Annotated[str, typer.Option(metavar="TEXT", help="A note to the peer.")] = "",
    operator: OperatorOpt = None,
) -> None:
    """Propose acknowledgement deadlines for the link (signs `link-terms`); prints its id."""
    deadlines = {"flash": flash, "immediate": immediate, "priority": priority, "routine": routine}
    with _handling(path) as handling:
        statement = guard(
            lambda: handling.propose_terms(
                to=to, deadlines=deadlines, note=note, by=_by(handling, operator)
            )
        )
    typer.echo(statement.id)


@terms_app.command("accept")
def terms_accept(
    path: DirArg,
    terms: Annotated[str, typer.Argument(metavar="ID", help="The link-terms statement's id.")],
    operator: OperatorOpt = None,
) -> None:
    """Accept the peer's proposed terms (signs `link-terms-accept`); prints its id."""
    with _handling(path) as handling:
        statement = guard(lambda: handling.accept_terms(terms, by=_by(handling, operator)))
    typer.echo(statement.id)


def _parse_step(text: str) -> dict[str, Any]:
    # SECONDS:realert | SECONDS:alert:NAME[,NAME...] | SECONDS:propose-fallback:MECHANISM
    parts = text.split(":")
    if len(parts) not in (2, 3) or not parts[0].isdigit():
        raise InvalidInput(
            "a step is SECONDS:realert, SECONDS:alert:NAME[,NAME] or "
            "SECONDS:propose-fallback:MECHANISM",
            field="step",
        )
    step: dict[str, Any] = {"after_seconds": int(parts[0]), "action": parts[1]}
    if len(parts) == 3:
        if parts[1] == "propose-fallback":
            step["mechanism"] = parts[2]
        else:
            step["recipients"] = [n for n in parts[2].split(",") if n]
    return step


def _print_policy(policy: dict[str, Any]) -> None:
    rows = []
    for precedence, p in policy["policies"].items():
        steps = "; ".join(
            f"+{s['after_seconds']}s {s['action']}"
            + (f" {','.join(s['recipients'])}" if s.get("recipients") else "")
            + (f" {s['mechanism']}" if s.get("mechanism") else "")
            for s in p["steps"]
        )
        rows.append([precedence.upper(), "default" if p["default"] else "set", steps or "(none)"])
    echo_table(["PRECEDENCE", "", "STEPS"], rows, empty="no policy", wrap={2})


@escalation_app.command("show")
def escalation_show(path: DirArg, peer: PeerArg, as_json: JsonOpt = False) -> None:
    """The link's escalation policy per precedence (the default where none is set)."""
    with _handling(path) as handling:
        policy = guard(lambda: handling.policy(peer))
    if as_json:
        echo_json(policy)
    else:
        _print_policy(policy)


@escalation_app.command("set")
def escalation_set(
    path: DirArg,
    peer: PeerArg,
    precedence: Annotated[
        str, typer.Argument(metavar="PRECEDENCE", help="flash, immediate, priority or routine.")
    ],
    step: Annotated[
        list[str],
        typer.Option(
            "--step",
            metavar="STEP",
            help=(
                "SECONDS:realert, SECONDS:alert:NAME[,NAME] or "
                "SECONDS:propose-fallback:MECHANISM; repeat."
            ),
        ),
    ],
    operator: OperatorOpt = None,
) -> None:
    """Set the link's escalation steps for one precedence."""
    with _handling(path) as handling:
        steps = guard(lambda: [_parse_step(s) for s in step])
        policy = guard(
            lambda: handling.set_policy(peer=peer, precedence=precedence, steps=steps, by=operator)
        )
    _print_policy(policy)


@escalation_app.command("reset")
def escalation_reset(
    path: DirArg,
    peer: PeerArg,
    precedence: Annotated[
        str, typer.Argument(metavar="PRECEDENCE", help="flash, immediate, priority or routine.")
    ],
) -> None:
    """Put the link's policy for one precedence back to the default."""
    with _handling(path) as handling:
        policy = guard(lambda: handling.set_policy(peer=peer, precedence=precedence, steps=None))
    _print_policy(policy)


@escalation_app.command("taken")
def escalation_taken(
    path: DirArg,
    message: Annotated[
        str | None, typer.Option("--message", metavar="ID", help="Only this message (its full id).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Every escalation step taken, in order."""
    with _handling(path) as handling:
        steps = guard(lambda: handling.escalations(message))
    if as_json:
        echo_json(steps)
        return
    echo_table(
        ["MESSAGE", "STEP", "ACTION", "AT", "DETAIL"],
        [[s["message_id"][:16], s["step"], s["action"], s["at"], s["detail"]] for s in steps],
        empty="no escalation steps taken",
        wrap={4},
    )


@notify_app.command("add")
def notify_add(
    path: DirArg,
    name: Annotated[
        str, typer.Argument(metavar="NAME", help="The recipient's name (a-z, 0-9, . _ -).")
    ],
    webhook: Annotated[
        str | None, typer.Option("--webhook", metavar="URL", help="POST to this URL.")
    ] = None,
    email: Annotated[
        str | None, typer.Option("--email", metavar="ADDRESS", help="Mail this address.")
    ] = None,
    duty: Annotated[
        bool, typer.Option("--duty", metavar="", help="A duty operator: re-alerted.")
    ] = False,
) -> None:
    """Add (or replace) a recipient: exactly one of --webhook and --email."""
    if (webhook is None) == (email is None):
        guard(
            lambda: _raise(
                InvalidInput("give exactly one of --webhook and --email", field="channel")
            )
        )
    channel, address = ("webhook", webhook) if webhook is not None else ("email", email or "")
    with _handling(path) as handling:
        guard(
            lambda: handling.add_recipient(name=name, channel=channel, address=address, duty=duty)
        )
    typer.echo(f"{name}: {channel} {address}{' (duty)' if duty else ''}")


def _raise(exc: Exception) -> None:
    raise exc


@notify_app.command("remove")
def notify_remove(
    path: DirArg, name: Annotated[str, typer.Argument(metavar="NAME", help="The recipient.")]
) -> None:
    """Remove a recipient."""
    with _handling(path) as handling:
        guard(lambda: handling.remove_recipient(name))


@notify_app.command("list")
def notify_list(path: DirArg, as_json: JsonOpt = False) -> None:
    """Recipients, then the latest notifications and attempts."""
    with _handling(path) as handling:
        recipients = guard(handling.recipients)
        sent = guard(handling.notifications)
    if as_json:
        echo_json({"recipients": recipients, **sent})
        return
    echo_table(
        ["NAME", "CHANNEL", "ADDRESS", "DUTY"],
        [[r["name"], r["channel"], r["address"], "yes" if r["duty"] else ""] for r in recipients],
        empty="no recipients",
    )
    echo_table(
        ["AT", "CHANNEL", "RECIPIENT", "OUTCOME", "ERROR"],
        [
            [a["at"], a["channel"], a["recipient"], a["outcome"], a["error"] or ""]
            for a in sent["attempts"]
        ],
        empty="no attempts",
        wrap={4},
    )


@notify_app.command("send")
def notify_send(path: DirArg) -> None:
    """Send the notifications due now (the running node does this every second)."""
    with _handling(path) as handling:
        assert handling.notifier is not None
        notifier = handling.notifier
        sent = guard(notifier.deliver_due)
    typer.echo(f"{sent} sent")


def register(app: typer.Typer) -> None:
    """Add ``redline seen``, ``terms``, ``escalation`` and ``notify`` to ``app``."""
    app.command("seen")(seen)
    app.add_typer(terms_app, name="terms")
    app.add_typer(escalation_app, name="escalation")
    app.add_typer(notify_app, name="notify")
