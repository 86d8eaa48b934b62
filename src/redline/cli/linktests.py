"""``redline tests``: each link's test figures, the tests themselves, an
operator's answer to a peer's operator test, and a link's own schedule.

Thin over :class:`~redline.service.linktests.LinkTests` (docs/link-tests.md).
Registered on the ``redline`` app by :func:`register`.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from redline.cli.common import (
    DirArg,
    JsonOpt,
    echo_json,
    echo_safe,
    echo_table,
    guard,
    open_service,
)
from redline.service.linktests import LinkTests, settings_of
from redline.service.operators import OperatorService
from redline.service.paging import DEFAULT_LIMIT

__all__ = ["register"]


class _ListByDefault(TyperGroup):
    """``redline tests DIR`` means ``redline tests list DIR``."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ctx.help_option_names:
            args = ["list", *args]
        return super().parse_args(ctx, args)


tests_app = typer.Typer(
    cls=_ListByDefault,
    help="Link tests: figures per link (`redline tests DIR`), the tests, answers, schedules.",
    no_args_is_help=True,
)

PeerOpt = Annotated[str | None, typer.Option("--peer", metavar="P", help="Only this link.")]


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _every(seconds: int) -> str:
    return f"heartbeat every {seconds} s" if seconds else "no scheduled heartbeats"


def _ms(value: int | None) -> str:
    return "-" if value is None else f"{value} ms"


@tests_app.command("list")
def list_(path: DirArg, peer: PeerOpt = None, as_json: JsonOpt = False) -> None:
    """Each link's figures for heartbeats and operator tests (sent, answered,
    missed, pending, answer rate, latency p50 and last, last answered), the
    operator tests awaiting an answer here, and open link-test alarms."""
    with open_service(path) as (node, service):
        links = guard(lambda: LinkTests(service, settings_of(node.config)).links(peer))
    if as_json:
        echo_json({"links": links})
        return
    for link in links:
        plan = link["schedule"]
        echo_safe(
            f"link {link['peer']}: {_every(plan['heartbeat_interval_seconds'])}, "
            f"operator test at {plan['operator_test_time'] or 'never'} {plan['zone']}"
        )
        rows = []
        for kind in ("heartbeat", "operator-test"):
            f = link[kind]
            rows.append(
                [
                    kind,
                    str(f["sent"]),
                    str(f["answered"]),
                    str(f["missed"]),
                    str(f["pending"]),
                    _rate(f["answer_rate"]),
                    _ms(f["latency_p50_ms"]),
                    _ms(f["latency_last_ms"]),
                    f["last_answered_at"] or "never",
                ]
            )
        echo_table(
            [
                "KIND",
                "SENT",
                "ANSWERED",
                "MISSED",
                "PENDING",
                "RATE",
                "P50",
                "LAST",
                "LAST ANSWERED",
            ],
            rows,
            empty="no tests",
        )
        for waiting in link["awaiting_answer"]:
            echo_safe(
                f"AWAITING ANSWER operator test {waiting['id'][:16]} from {link['peer']}, "
                f"answer by {waiting['answer_by']}: redline tests answer DIR {waiting['id'][:16]}"
            )
        for alarm in link["alarms"]:
            echo_safe(f"ALARM {alarm['kind']} ({alarm['peer']}): {alarm['message']}")


@tests_app.command("history")
def history(
    path: DirArg,
    peer: PeerOpt = None,
    kind: Annotated[
        str | None, typer.Option("--kind", metavar="KIND", help="heartbeat or operator-test.")
    ] = None,
    direction: Annotated[
        str | None, typer.Option("--direction", metavar="in|out", help="Received or sent.")
    ] = None,
    pending: Annotated[bool, typer.Option("--pending", help="Only tests not settled.")] = False,
    limit: Annotated[int, typer.Option("--limit", metavar="N", help="Rows in the page.")] = (
        DEFAULT_LIMIT
    ),
    cursor: Annotated[
        str | None, typer.Option("--cursor", metavar="C", help="The previous page's next.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """The tests themselves, newest first, one page at a time."""
    with open_service(path) as (node, service):
        found = guard(
            lambda: LinkTests(service, settings_of(node.config)).tests_page(
                peer=peer,
                kind=kind,
                direction=direction,
                pending=pending,
                limit=limit,
                cursor=cursor,
            )
        )
    if as_json:
        echo_json(found)
        return
    echo_table(
        ["ID", "DIR", "PEER", "KIND", "SENT", "DUE", "STATE", "ANSWERED"],
        [
            [
                t["id"][:16],
                t["direction"],
                t["peer"],
                t["kind"],
                t["sent_at"],
                t["due_at"],
                t["state"] + (f" ({t['missed']})" if t["missed"] else ""),
                t["answered_at"] or "",
            ]
            for t in found["tests"]
        ],
        empty="no link tests",
    )
    if found["next"]:
        typer.echo(f"next page: --cursor {found['next']}")


@tests_app.command("answer")
def answer(
    path: DirArg,
    test_id: Annotated[
        str, typer.Argument(metavar="ID", help="The operator test's id, or its first 8+ hex.")
    ],
    text: Annotated[
        str | None, typer.Option("--text", metavar="TEXT", help='One line: "duty officer present".')
    ] = None,
    operator: Annotated[
        str | None,
        typer.Option("--operator", metavar="NAME", help="The operator answering (named in it)."),
    ] = None,
    office: Annotated[
        str | None, typer.Option("--office", metavar="ID", help="The office answered for.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Answer a peer's operator test: a person is at the link."""
    with open_service(path) as (node, service):
        tests = LinkTests(service, settings_of(node.config))
        by: dict[str, Any] | None = None
        if operator is not None:
            known = guard(lambda: OperatorService(service.store, clock=service.clock).get(operator))
            by = {"operator": known.name, **({"office": office} if office else {})}
        st = guard(lambda: tests.answer(test_id, text=text, by=by))
    if as_json:
        echo_json({"statement_id": st.id, "kind": st.kind, "seq": st.seq, "body": dict(st.body)})
        return
    typer.echo(f"answered operator test {st.body['test'][:16]} ({st.id[:16]}, queued to {st.to})")


@tests_app.command("schedule")
def schedule(
    path: DirArg,
    peer: Annotated[str, typer.Option("--peer", metavar="P", help="The link.")],
    at: Annotated[
        str | None,
        typer.Option("--time", metavar="HH:MM", help='The daily operator test; "" for none.'),
    ] = None,
    zone: Annotated[
        str | None, typer.Option("--zone", metavar="ZONE", help="The IANA zone of --time.")
    ] = None,
    interval: Annotated[
        int | None,
        typer.Option("--interval", metavar="SECONDS", help="Seconds between heartbeats."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Set a link's own schedule (an option left out: the node's setting)."""
    with open_service(path) as (node, service):
        tests = LinkTests(service, settings_of(node.config))
        link = guard(
            lambda: tests.set_schedule(
                peer, operator_test_time=at, zone=zone, heartbeat_interval_seconds=interval
            )
        )
    if as_json:
        echo_json(link)
        return
    plan = link["schedule"]
    echo_safe(
        f"link {peer}: {_every(plan['heartbeat_interval_seconds'])}, "
        f"operator test at {plan['operator_test_time'] or 'never'} {plan['zone']}"
    )


def register(app: typer.Typer) -> None:
    """Add ``redline tests`` to the ``redline`` app. Raises nothing."""
    app.add_typer(tests_app, name="tests")
