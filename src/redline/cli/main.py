"""The ``redline`` command: thin over the same service functions the web uses.

Every command takes the node directory first. Errors print one line naming
what is wrong (``error: field: message``) and exit with status 2.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

import redline
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
from redline.cli.handling import OperatorOpt, operator_named
from redline.cli.handling import register as register_handling
from redline.cli.hotline import register as register_hotline
from redline.cli.linktests import register as register_link_tests
from redline.cli.notices import register as register_notices
from redline.cli.notices import send_notice
from redline.cli.users import register as register_users
from redline.core.errors import InvalidInput, RedlineError, VerificationError
from redline.core.identity import Identity
from redline.core.statement import format_time
from redline.node import init_node, load_node
from redline.service.node import system_clock
from redline.service.record import RecordService
from redline.store import repo
from redline.store.db import open_store

__all__ = ["app", "main"]

app = typer.Typer(
    name="redline",
    help="Redline: a crisis-communication link between parties that do not trust each other.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
peer_app = typer.Typer(help="Pin and list peers.", no_args_is_help=True)
app.add_typer(peer_app, name="peer")


class _ListByDefault(TyperGroup):
    """A group that runs its ``list`` command when the first argument names none of
    its commands, so ``redline messages DIR`` means ``redline messages list DIR``."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ctx.help_option_names:
            args = ["list", *args]
        return super().parse_args(ctx, args)


messages_app = typer.Typer(
    cls=_ListByDefault,
    help="List messages (`redline messages DIR` is `redline messages list DIR`) or show one.",
    no_args_is_help=True,
)
app.add_typer(messages_app, name="messages")
register_hotline(app)
register_handling(app)
register_link_tests(app)
register_notices(app)
register_users(app)

MessageArg = Annotated[
    str,
    typer.Argument(
        metavar="ID",
        help="A message's id, or (for a received one) its first 8+ hex characters.",
    ),
]


def _version() -> str:
    try:
        return metadata.version("redline")
    except metadata.PackageNotFoundError:  # run from a source tree that is not installed
        return redline.__version__


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"redline {_version()}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            metavar="",
            callback=_print_version,
            is_eager=True,
            help="Print `redline VERSION` and exit.",
        ),
    ] = False,
) -> None:
    """Redline: a crisis-communication link between parties that do not trust each other."""


def _print_json(value: Any) -> None:
    echo_json(value)


@app.command()
def init(
    path: DirArg,
    party: Annotated[str, typer.Option(metavar="PARTY", help="Party id, e.g. us or prc.")],
    name: Annotated[
        str, typer.Option(metavar="NAME", help="Display name, e.g. 'US Department of Defense'.")
    ],
    database: Annotated[
        str,
        typer.Option(metavar="URL", help="Database URL; default: SQLite file DIR/redline.db."),
    ] = "",
    link_port: Annotated[
        int, typer.Option(metavar="PORT", help="Port of the mutual-TLS link.")
    ] = 8443,
    api_port: Annotated[int, typer.Option(metavar="PORT", help="Port of the operator API.")] = 8080,
) -> None:
    """Create a node directory: config, keys (0600), TLS certificate, database."""

    def run() -> None:
        node = init_node(
            path,
            party=party,
            name=name,
            now=system_clock(),
            database=database,
            link_port=link_port,
            api_port=api_port,
        )
        open_store(node.database_url).dispose()
        typer.echo(f"created node {party!r} in {path}")
        typer.echo(f"hand this to your peer out of band: redline identity {path} > {party}.json")

    guard(run)


@app.command()
def identity(path: DirArg) -> None:
    """Print this node's public identity as JSON, to hand to the peer out of band."""
    node = guard(lambda: load_node(path))
    _print_json(guard(node.identity).to_json())


@peer_app.command("add")
def peer_add(
    path: DirArg,
    identity_file: Annotated[
        Path, typer.Argument(metavar="IDENTITY_FILE", help="The peer's identity JSON.")
    ],
    url: Annotated[
        str, typer.Option(metavar="URL", help="The peer's link URL, https://HOST:PORT.")
    ],
) -> None:
    """Pin a peer's keys and TLS certificate. Restart `serve` to use a new pin."""

    def run() -> None:
        try:
            data = json.loads(identity_file.read_text())
        except FileNotFoundError as exc:
            raise InvalidInput(f"{identity_file} does not exist", field="identity") from exc
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"{identity_file} is not JSON: {exc}", field="identity") from exc
        peer = Identity.from_json(data)
        if not url.startswith("https://"):
            raise InvalidInput("must be an https:// URL", field="url")
        with open_service(path) as (node, service):
            if peer.party == node.config.party:
                raise InvalidInput("a node cannot pin its own party as a peer", field="party")
            with service.store.write() as conn:
                repo.add_peer(conn, peer, url, format_time(system_clock()))
        echo_safe(f"pinned {peer.party!r} ({peer.name}) at {url}, cert {peer.tls_cert_sha256[:16]}")

    guard(run)


@peer_app.command("list")
def peer_list(path: DirArg, as_json: JsonOpt = False) -> None:
    """List pinned peers."""
    with open_service(path) as (_node, service):
        peers = guard(service.peers)
    rows = [
        {
            "party": p.party,
            "name": p.identity.name,
            "url": p.url,
            "cert_sha256": p.identity.tls_cert_sha256,
        }
        for p in peers
    ]
    if as_json:
        _print_json(rows)
        return
    echo_table(
        ["PARTY", "URL", "NAME"],
        [[row["party"], row["url"], row["name"]] for row in rows],
        empty="no peers pinned",
        wrap={1, 2},
    )


@app.command()
def send(
    path: DirArg,
    to: Annotated[str, typer.Option(metavar="PARTY", help="The peer's party id.")],
    subject: Annotated[
        str | None, typer.Option(metavar="TEXT", help="Subject line (a message).")
    ] = None,
    body: Annotated[str, typer.Option(metavar="TEXT", help="Message text.")] = "",
    precedence: Annotated[
        str, typer.Option(metavar="PRECEDENCE", help="flash, immediate, priority or routine.")
    ] = "routine",
    lang: Annotated[
        str, typer.Option(metavar="LANG", help="Language of the original text (en, zh).")
    ] = "en",
    notice: Annotated[
        str | None,
        typer.Option(
            metavar="TYPE", help="Send a notice instead: encounter, activity, mechanism-change."
        ),
    ] = None,
    field: Annotated[
        list[str] | None,
        typer.Option(
            "--field", metavar="KEY=VALUE", help="A notice field (KEY:=JSON for a number)."
        ),
    ] = None,
    notice_file: Annotated[
        Path | None, typer.Option(metavar="FILE", help="Send the notice in this JSON file.")
    ] = None,
    operator: Annotated[
        str | None,
        typer.Option("--operator", metavar="NAME", help="The operator filing a notice."),
    ] = None,
    office: Annotated[
        str | None, typer.Option("--office", metavar="OFFICE", help="The office acted for.")
    ] = None,
) -> None:
    """Sign and queue a message, or a notice (docs/notices.md); prints the statement id.

    Works while `serve` runs.
    """
    if notice is not None or notice_file is not None:
        with open_service(path) as (_node, service):
            statement = send_notice(
                service=service,
                to=to,
                notice=notice,
                fields=field or [],
                notice_file=notice_file,
                operator=operator,
                office=office,
            )
        typer.echo(statement.id)
        return
    if subject is None:
        fail("give --subject for a message, or --notice TYPE for a notice")
        return
    with open_service(path) as (_node, service):
        statement = guard(
            lambda: service.send_message(
                to=to, precedence=precedence, subject=subject, text=body, lang=lang
            )
        )
    typer.echo(statement.id)


@app.command()
def ack(
    path: DirArg,
    message: Annotated[
        str,
        typer.Argument(
            metavar="MESSAGE", help="A received message's id, or its first 8+ hex characters."
        ),
    ],
    reply: Annotated[
        str | None, typer.Option("--reply", metavar="TEXT", help="A reply, signed with the ack.")
    ] = None,
    operator: OperatorOpt = None,
) -> None:
    """Acknowledge a received message as its reader; prints the ack's id.

    The receipt a node returns says a message arrived; an ack says the
    operator read it, and is what `verify` counts as the answer to a FLASH or
    IMMEDIATE message. `--operator` names who acknowledges (the watch or an
    admin). Works while `serve` runs.
    """
    with open_service(path) as (_node, service):
        statement = guard(
            lambda: service.acknowledge(
                message, reply=reply, operator=operator_named(service, operator)
            )
        )
    typer.echo(statement.id)


def _ack_summary(row: dict[str, Any]) -> str:
    if row["ack_id"]:
        late = " LATE" if row.get("late") else ""
        return f"acknowledged{late} {row['acknowledged_at']}"
    return f"{row['ack_state'].upper()}, ack due {row['ack_deadline']}"


@messages_app.command("list")
def messages_list(
    path: DirArg,
    pending: Annotated[
        bool, typer.Option("--pending", metavar="", help="Only messages not yet acknowledged.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Messages either way, with each one's acknowledgement deadline and state."""
    with open_service(path) as (_node, service):
        rows = guard(lambda: service.messages(pending=pending))
    if as_json:
        _print_json(rows)
        return
    # The subject is the peer's text: echo_table prints it escaped, never raw.
    echo_table(
        ["ID", "", "PEER", "PRECEDENCE", "TIME", "ACK", "SUBJECT"],
        [
            [
                row["id"][:16],
                "->" if row["direction"] == "out" else "<-",
                row["peer"],
                row["precedence"].upper(),
                row["time"],
                _ack_summary(row),
                row["subject"],
            ]
            for row in rows
        ],
        empty="no messages awaiting an ack" if pending else "no messages",
        wrap={5, 6},
    )


_DELIVERY = {
    "queued": "queued (no receipt from the peer yet)",
    "delivered": "delivered",
    "received": "received",
}


@messages_app.command("show")
def messages_show(path: DirArg, message: MessageArg, as_json: JsonOpt = False) -> None:
    """One message whole: its text, delivery and acknowledgement."""
    with open_service(path) as (_node, service):
        row = guard(lambda: service.message(message))
    if as_json:
        _print_json(row)
        return
    outward = row["direction"] == "out"
    delivery = _DELIVERY.get(row["state"], row["state"])
    if row["delivered_at"]:
        delivery += f" {row['delivered_at']}"
    ack = _ack_summary(row)
    if row["ack_id"]:
        ack += f" by {row['ack_id']}"
    fields = [
        ("id", row["id"]),
        ("direction", f"-> sent to {row['peer']}" if outward else f"<- from {row['peer']}"),
        ("peer", row["peer"]),
        ("precedence", row["precedence"].upper()),
        ("subject", row["subject"]),
        ("language", row["lang"]),
        ("time", row["time"]),
        ("delivery", delivery),
        ("seen", row["seen_at"] or "not yet"),
        ("ack due", row["ack_deadline"]),
        ("ack", ack),
    ]
    if row.get("reply") is not None:
        fields.append(("reply", row["reply"].replace("\n", " ")))
    for step in row.get("escalation", []):
        fields.append(("escalated", f"{step['at']} {step['action']}: {step['detail']}"))
    # Subject, text and language are the sender's: each line is printed escaped.
    for label, value in fields:
        echo_safe(f"{label + ':':12}{value}")
    if not row["text"]:
        typer.echo(f"{'text:':12}(empty)")
        return
    typer.echo("text:")
    for line in row["text"].split("\n"):
        echo_safe(f"  {line.expandtabs(4)}")


def _link_line(link: dict[str, Any]) -> str:
    """One peer's link as ``redline status`` prints it (the error is the peer's words too)."""
    state = link["state"]
    if link["failing_since"] is not None:
        state += f" since {link['failing_since']}"
    parts = [f"link {link['peer']}: {state}, last exchange {link['last_exchange_at'] or 'never'}"]
    if link["queued"]:
        parts.append(
            f"{link['queued']} queued since {link['oldest_queued_at']}, "
            f"{link['attempts']} failed attempts"
        )
    else:
        parts.append("nothing queued")
    if link["next_attempt_at"] is not None:
        parts.append(f"next attempt {link['next_attempt_at']}")
    if link["last_error"] is not None:
        parts.append(f"last error: {link['last_error']}")
    return "; ".join(parts)


@app.command()
def status(
    path: DirArg,
    latest: Annotated[
        int,
        typer.Option(
            "--latest",
            metavar="N",
            min=1,
            max=1000,
            help="How many of the latest statements and alarms to show.",
        ),
    ] = 20,
    as_json: JsonOpt = False,
) -> None:
    """Counts, each peer's link and open alarms, and the latest statements (newest
    first) with their direction, peer, kind, seq and delivery state."""
    with open_service(path) as (node, service):
        report = guard(lambda: service.status(latest=latest))
        record = RecordService(
            node=service, log_signer=node.log_signer(), witness_signer=node.witness_signer()
        )
        report["record"] = guard(record.status)
    if as_json:
        _print_json(report)
        return
    typer.echo(
        f"node {report['party']}: {report['counts']['statements']} statements, "
        f"{report['outbox']} queued, log size {report['log_size']}, "
        f"{report['counts']['alarms']} open alarms"
    )
    checkpoint = report["record"]["checkpoint"]
    if checkpoint is not None:
        witnesses = ", ".join(sorted(checkpoint["cosigned_by"])) or "nobody yet"
        typer.echo(f"checkpoint at size {checkpoint['size']}, cosigned by {witnesses}")
    for peer, seen in report["record"]["witnessed"].items():
        typer.echo(f"witnessed {peer}'s log up to size {seen['size'] if seen else 0}")
    for link in report["links"]:
        echo_safe(_link_line(link))
    for alarm in report["alarms"]:
        echo_safe(
            f"ALARM {alarm['kind']} ({alarm['peer']}): {alarm['message']} "
            f"[seen {alarm['count']}x, first {alarm['raised_at']}, last {alarm['last_seen']}]"
        )
    echo_table(
        ["ID", "DIR", "PEER", "KIND", "SEQ", "STATE"],
        [
            [
                row["id"][:16],
                row["direction"],
                row["peer"],
                row["kind"] + (" (LATE)" if row.get("late") else ""),
                str(row["seq"]),
                row["state"]
                + (f", acknowledged by {row['ack_id'][:16]}" if row.get("ack_id") else ""),
            ]
            for row in report["statements"]
        ],
        empty="no statements",
        right={4},
    )


def _parse_when(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise InvalidInput(
            "must be an ISO 8601 time such as 2024-01-08T00:00Z", field=name
        ) from exc
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


@app.command()
def export(
    path: DirArg,
    out: Annotated[
        Path,
        typer.Option(metavar="BUNDLE", help="Directory to write the bundle to (new or empty)."),
    ],
    peer: Annotated[
        str | None,
        typer.Option(metavar="PARTY", help="Only this peer's exchanges (default: all peers)."),
    ] = None,
    since: Annotated[
        str | None, typer.Option(metavar="TIME", help="Only statements at or after this time.")
    ] = None,
    until: Annotated[
        str | None, typer.Option(metavar="TIME", help="Only statements at or before this time.")
    ] = None,
) -> None:
    """Write an evidence bundle that `redline verify` checks offline."""
    from redline.service.export import export_bundle

    with open_service(path) as (node, service):
        record = RecordService(
            node=service, log_signer=node.log_signer(), witness_signer=node.witness_signer()
        )
        manifest = guard(
            lambda: export_bundle(
                record,
                out,
                peer=peer,
                since=_parse_when(since, "since"),
                until=_parse_when(until, "until"),
            )
        )
    for party, log in manifest["logs"].items():
        typer.echo(
            f"{party}: checkpoint {log['checkpoint']}, {log['statements']} statements, "
            f"{log['pending']} pending (not yet under a cosigned checkpoint)"
        )
    typer.echo(f"bundle written to {out}")


@app.command()
def verify(
    bundle: Annotated[Path, typer.Argument(metavar="BUNDLE", help="The bundle directory.")],
    trust: Annotated[
        list[Path],
        typer.Option(
            metavar="FILE", help="A trusted identity JSON file; give one per party (repeat)."
        ),
    ],
    as_json: JsonOpt = False,
) -> None:
    """Verify a bundle offline against trusted identities; exit 1 naming the first failure."""
    from redline.verify import verify_bundle

    def load(file: Path) -> Identity:
        try:
            return Identity.from_json(json.loads(file.read_text()))
        except (OSError, json.JSONDecodeError) as exc:
            raise InvalidInput(f"cannot read {file}: {exc}", field="trust") from exc

    try:
        report = verify_bundle(bundle, trusted=[load(file) for file in trust])
    except VerificationError as exc:
        echo_safe(f"FAILED: {exc.message}", err=True)
        raise typer.Exit(1) from None
    except RedlineError as exc:
        fail(str(exc))
        return
    if as_json:
        _print_json(
            {
                "ok": True,
                "statements": report.statements,
                "findings": report.findings,
                "report": report.lines,
            }
        )
        return
    for line in report.lines:
        echo_safe(line)
    typer.echo(f"OK: {report.statements} statements verified")


@app.command()
def serve(
    path: DirArg,
    host: Annotated[
        str | None, typer.Option(metavar="ADDRESS", help="Link listen address.")
    ] = None,
    port: Annotated[
        int | None, typer.Option(metavar="PORT", help="Link port (mutual TLS).")
    ] = None,
    api_port: Annotated[int | None, typer.Option(metavar="PORT", help="Operator API port.")] = None,
) -> None:
    """Run the node: link endpoint, operator API and delivery workers."""
    from redline.runtime import serve as run_serve

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    for noisy in ("httpx", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    node = guard(lambda: load_node(path))
    guard(lambda: run_serve(node, host=host, port=port, api_port=api_port))


@app.command()
def demo(
    directory: Annotated[
        Path, typer.Option("--dir", metavar="DIR", help="Where the demo nodes live.")
    ] = Path("demo-nodes"),
    parties: Annotated[
        str,
        typer.Option(
            metavar="LIST",
            help="Comma-separated parties: us, prc and jp (the first is paired with each other).",
        ),
    ] = "us,prc",
) -> None:
    """Start paired nodes on loopback: US DoD in DIR/us, PRC MND in DIR/prc (and Japan's
    MOD in DIR/jp with --parties us,prc,jp)."""
    from redline.demo import run_demo

    guard(lambda: run_demo(directory, [p.strip() for p in parties.split(",") if p.strip()]))


def main() -> None:
    """Entry point of the ``redline`` script."""
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
