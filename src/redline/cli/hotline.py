"""The hotline's commands: thin over :class:`~redline.service.hotline.HotlineService`.

Registered on the ``redline`` app by :func:`register`. Errors print one line,
``error: field: message``, and exit with status 2, as every command does.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from redline.cli.common import guard, open_service
from redline.core.statement import Statement
from redline.node import load_node
from redline.service.hotline import HotlineService, load_history_into, parse_when, parse_window

__all__ = ["register"]

DirArg = Annotated[Path, typer.Argument(help="The node directory.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]

call_app = typer.Typer(
    help="Place, answer, decline and end calls; talk on them.", no_args_is_help=True
)
mechanism_app = typer.Typer(help="Suspend or resume a standing mechanism.", no_args_is_help=True)
readout_app = typer.Typer(help="Readouts and joint summaries.", no_args_is_help=True)
history_app = typer.Typer(help="The public history (public record).", no_args_is_help=True)


@contextmanager
def _hotline(path: Path) -> Iterator[HotlineService]:
    with open_service(path) as (node, service):
        yield HotlineService(service, node_path=node.path)


def _print_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, ensure_ascii=False))


def _duration(seconds: int) -> str:
    """Time left as a watch officer reads it: 47h 59m, 12m 5s."""
    hours, rest = divmod(max(0, int(seconds)), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m {secs:02d}s"


def _act(path: Path, as_json: bool, action: Callable[[HotlineService], Statement]) -> None:
    with _hotline(path) as hotline:
        st = guard(lambda: action(hotline))
    if as_json:
        _print_json({"statement_id": st.id, "kind": st.kind, "seq": st.seq, "body": dict(st.body)})
        return
    ident = st.body.get("id") or st.body.get("request") or st.body.get("call") or ""
    typer.echo(f"{st.kind} {ident} signed and queued: {st.id}".replace("  ", " "))


# -- directory and counterparts ---------------------------------------------------------


def directory(
    path: DirArg,
    publish: Annotated[
        bool, typer.Option("--publish", help="Publish this party's directory to the peer.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Parties, offices and holders; counterpart views, disputes marked."""
    with _hotline(path) as hotline:
        if publish:
            sent = guard(hotline.publish_directory)
            typer.echo(f"published {len(sent)} statement(s)", err=as_json)
        view = guard(hotline.directory)
    if as_json:
        _print_json(view)
        return
    for party in view["parties"]:
        typer.echo(
            f"{party['id']}  {party['name_en']} / {party['name_zh']}  ({party['time_zone']})"
        )
        for o in party["offices"]:
            holders = ", ".join(o["holders_now"]) or "vacant"
            typer.echo(
                f"  {o['id']:22} {o['level']:18} {o['title_en']} / {o['title_zh']}: {holders}"
            )
    typer.echo("counterparts:")
    for line in view["counterparts"]:
        views = "; ".join(f"{v['party']} says {v['counterpart_office']}" for v in line["views"])
        mark = "DISPUTED " if line["disputed"] else ""
        typer.echo(f"  {mark}{line['office']}: {views}")


def counterpart(
    path: DirArg,
    own_office: Annotated[str, typer.Option(help="This party's office.")],
    counterpart_office: Annotated[str, typer.Option(help="The other party's office.")],
    note: Annotated[str, typer.Option(help="Why.")] = "",
    as_json: JsonOpt = False,
) -> None:
    """Declare which office of the other party is the counterpart of one of ours."""
    _act(
        path,
        as_json,
        lambda h: h.declare_counterpart(
            own_office=own_office, counterpart_office=counterpart_office, note=note
        ),
    )


# -- requests -------------------------------------------------------------------------


def request(
    path: DirArg,
    from_office: Annotated[str, typer.Option(help="Our office that asks.")],
    to_office: Annotated[str, typer.Option(help="The other party's office asked.")],
    mechanism: Annotated[str, typer.Option(help="Mechanism id, e.g. dtl, dpct.")],
    window: Annotated[
        list[str], typer.Option(help="Proposed START/END (RFC 3339, with zone); repeatable.")
    ],
    mode: Annotated[str, typer.Option(help="call, video or meeting.")] = "call",
    deadline: Annotated[
        str | None, typer.Option(help="Answer by (default: the mechanism's window).")
    ] = None,
    agenda: Annotated[list[str] | None, typer.Option(help="Agenda item; repeatable.")] = None,
    note: Annotated[
        list[str] | None, typer.Option(help="Precondition or obstacle; repeatable.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Ask an office of the other party for a call, video conference or meeting."""

    def run(h: HotlineService) -> Statement:
        windows = [parse_window(w, f"windows[{i}]") for i, w in enumerate(window)]
        return h.request(
            from_office=from_office,
            to_office=to_office,
            mechanism=mechanism,
            mode=mode,
            windows=windows,
            deadline=parse_when(deadline, "deadline") if deadline else None,
            agenda=agenda or [],
            notes=note or [],
        )

    _act(path, as_json, run)


def respond(
    path: DirArg,
    request_id: Annotated[str, typer.Argument(help="The request to answer.")],
    accept: Annotated[
        str | None, typer.Option(help="Accept, choosing this proposed START/END.")
    ] = None,
    decline: Annotated[str | None, typer.Option(help="Decline, giving this reason.")] = None,
    counter: Annotated[
        str | None, typer.Option(help="Counter: offer this office of ours instead.")
    ] = None,
    counter_window: Annotated[
        list[str] | None, typer.Option(help="Counter-proposed START/END; repeatable.")
    ] = None,
    counter_deadline: Annotated[
        str | None, typer.Option(help="Deadline of the counter-proposal (default 48 h).")
    ] = None,
    note: Annotated[str, typer.Option(help="Note on the counter-proposal.")] = "",
    as_json: JsonOpt = False,
) -> None:
    """Accept, decline or counter a request addressed to this party."""

    def run(h: HotlineService) -> Statement:
        return h.respond(
            request_id,
            accept=parse_window(accept, "window") if accept else None,
            decline=decline,
            counter_office=counter,
            counter_windows=[
                parse_window(w, f"counter_windows[{i}]") for i, w in enumerate(counter_window or [])
            ],
            counter_deadline=parse_when(counter_deadline, "counter_deadline")
            if counter_deadline
            else None,
            note=note,
        )

    _act(path, as_json, run)


def withdraw(
    path: DirArg,
    request_id: Annotated[str, typer.Argument(help="Our open request.")],
    reason: Annotated[str, typer.Option(help="Why.")] = "",
    as_json: JsonOpt = False,
) -> None:
    """Withdraw one of this party's open requests."""
    _act(path, as_json, lambda h: h.withdraw(request_id, reason=reason))


# -- calls ---------------------------------------------------------------------------------


@call_app.command("place")
def call_place(
    path: DirArg,
    from_office: Annotated[str, typer.Option(help="Our office that calls.")],
    to_office: Annotated[str, typer.Option(help="The other party's office called.")],
    mechanism: Annotated[str, typer.Option(help="Mechanism id, e.g. dtl.")] = "dtl",
    mode: Annotated[str, typer.Option(help="call or video.")] = "call",
    purpose: Annotated[str, typer.Option(help="What the call is about.")] = "",
    ring_timeout: Annotated[int, typer.Option(help="Seconds before it counts as missed.")] = 120,
    as_json: JsonOpt = False,
) -> None:
    """Ring an office of the other party."""
    _act(
        path,
        as_json,
        lambda h: h.place_call(
            from_office=from_office,
            to_office=to_office,
            mechanism=mechanism,
            mode=mode,
            purpose=purpose,
            ring_timeout=ring_timeout,
        ),
    )


@call_app.command("answer")
def call_answer(
    path: DirArg, call_id: Annotated[str, typer.Argument()], as_json: JsonOpt = False
) -> None:
    """Answer a ringing call addressed to this party."""
    _act(path, as_json, lambda h: h.call_event(call_id, "answer"))


@call_app.command("decline")
def call_decline(
    path: DirArg,
    call_id: Annotated[str, typer.Argument()],
    reason: Annotated[str, typer.Option(help="Why.")] = "",
    as_json: JsonOpt = False,
) -> None:
    """Decline a ringing call addressed to this party."""
    _act(path, as_json, lambda h: h.call_event(call_id, "decline", reason=reason))


@call_app.command("end")
def call_end(
    path: DirArg, call_id: Annotated[str, typer.Argument()], as_json: JsonOpt = False
) -> None:
    """Hang up an answered call."""
    _act(path, as_json, lambda h: h.call_event(call_id, "end"))


@call_app.command("say")
def call_say(
    path: DirArg,
    call_id: Annotated[str, typer.Argument()],
    text: Annotated[str, typer.Argument(help="What to say.")],
    lang: Annotated[str, typer.Option(help="Language of the text (en, zh).")] = "en",
    as_json: JsonOpt = False,
) -> None:
    """Say something on an answered call."""
    _act(path, as_json, lambda h: h.say(call_id, text, lang=lang))


# -- mechanisms -----------------------------------------------------------------------------


def _mechanism(status: str) -> Callable[..., None]:
    def command(
        path: DirArg,
        mechanism: Annotated[str, typer.Argument(help="Mechanism id, e.g. dpct.")],
        reason: Annotated[str, typer.Option(help="The stated reason.")],
        as_json: JsonOpt = False,
    ) -> None:
        _act(
            path,
            as_json,
            lambda h: h.set_mechanism(mechanism=mechanism, status=status, reason=reason),
        )

    command.__doc__ = f"Record that this party {status.removesuffix('d')}s the mechanism."
    return command


mechanism_app.command("suspend")(_mechanism("suspended"))
mechanism_app.command("resume")(_mechanism("resumed"))
mechanism_app.command("activate")(_mechanism("active"))


# -- readouts -------------------------------------------------------------------------------


@readout_app.command("file")
def readout_file(
    path: DirArg,
    engagement: Annotated[str, typer.Argument(help="Request, call or contact id.")],
    text: Annotated[str, typer.Argument(help="This party's readout.")],
    lang: Annotated[str, typer.Option(help="Language of the text.")] = "en",
    as_json: JsonOpt = False,
) -> None:
    """File this party's own readout of an engagement."""
    _act(path, as_json, lambda h: h.file_readout(engagement, text, lang=lang))


@readout_app.command("joint")
def readout_joint(
    path: DirArg,
    engagement: Annotated[str, typer.Argument(help="Request, call or contact id.")],
    text: Annotated[str, typer.Argument(help="The proposed joint summary.")],
    lang: Annotated[str, typer.Option(help="Language of the text.")] = "en",
    as_json: JsonOpt = False,
) -> None:
    """Propose a joint summary; it counts once the other party signs it."""
    _act(path, as_json, lambda h: h.propose_joint_summary(engagement, text, lang=lang))


@readout_app.command("sign")
def readout_sign(
    path: DirArg,
    summary_id: Annotated[str, typer.Argument(help="The other party's joint summary.")],
    as_json: JsonOpt = False,
) -> None:
    """Co-sign the other party's joint summary."""
    _act(path, as_json, lambda h: h.sign_joint_summary(summary_id))


# -- board, timeline, calendar, history --------------------------------------------------------


def board(path: DirArg, as_json: JsonOpt = False) -> None:
    """Last contact per level, mechanisms, open requests, calls, tallies, disputes."""
    with _hotline(path) as hotline:
        view = guard(hotline.board)
    if as_json:
        _print_json(view)
        return
    typer.echo(f"board of {view['party']} at {view['now']}")
    typer.echo("last contact by level:")
    for line in view["levels"]:
        when = f"{line['last_contact']} ({line['days_since']} days ago, {line['contact_id']})"
        typer.echo(f"  {line['level']:18} {when if line['last_contact'] else 'none'}")
    typer.echo("mechanisms:")
    for m in view["mechanisms"]:
        if m["since"] is None:
            typer.echo(f"  {m['id']:14} no status on record")
            continue
        typer.echo(
            f"  {m['id']:14} {m['status']:10} since {m['since']} by {m['by_party']}: {m['reason']}"
        )
    typer.echo("open requests:")
    for r in view["open_requests"]:
        typer.echo(
            f"  {r['id']} {r['from_office']} -> {r['to_office']}, "
            f"{_duration(r['seconds_left'])} left to answer"
        )
        for window in r["windows"]:
            # Each proposed window in both parties' own time zones.
            local = "  |  ".join(
                f"{party} {times['start']} to {times['end']}"
                for party, times in window["local"].items()
            )
            typer.echo(f"      window: {local}")
    typer.echo("messages not yet acknowledged (<- ours to acknowledge, -> awaiting theirs):")
    for m in view["unacknowledged_messages"]:
        arrow = "<-" if m["direction"] == "in" else "->"
        due = (
            f"{_duration(m['seconds_left'])} left"
            if m["seconds_left"] > 0
            else f"OVERDUE by {_duration(-m['seconds_left'])}"
        )
        typer.echo(
            f"  {m['id'][:16]} {arrow} {m['peer']:6} {m['precedence'].upper():9} {due}: "
            f"{m['subject']}"
        )
    typer.echo("requests:")
    for r in view["requests"]:
        typer.echo(f"  {r['id']:24} {r['state']:10} {r['reason']} [{r['source']}]")
    typer.echo("calls:")
    for c in view["calls"]:
        typer.echo(f"  {c['id']:24} {c['state']:10} {c['reason']} [{c['source']}]")
    typer.echo("tallies (answered / declined / lapsed / countered):")
    for t in view["tallies"]:
        typer.echo(
            f"  {t['party']:6} {t['answered']} / {t['declined']} / {t['lapsed']} / {t['countered']}"
        )
    for line in view["counterparts"]:
        if line["disputed"]:
            views = "; ".join(f"{v['party']} says {v['counterpart_office']}" for v in line["views"])
            typer.echo(f"DISPUTED counterpart of {line['office']}: {views}")


def timeline(path: DirArg, as_json: JsonOpt = False) -> None:
    """Public record and signed statements, oldest first."""
    with _hotline(path) as hotline:
        entries = guard(hotline.timeline)
    if as_json:
        _print_json(entries)
        return
    for e in entries:
        mark = "public record" if e["source"] == "public-record" else "signed"
        refused = f" (REFUSED: {e['refused']})" if e.get("refused") else ""
        typer.echo(f"{e['at']:27} [{mark}] {e['title']}{refused}")


def calendar(
    path: DirArg,
    out: Annotated[Path, typer.Option("--out", help="Where to write the .ics file.")],
) -> None:
    """Export scheduled engagements as iCalendar, with both parties' time zones."""
    with _hotline(path) as hotline:
        data = guard(hotline.calendar)
    out.write_bytes(data)
    typer.echo(f"wrote {out}")


@history_app.command("load")
def history_load(path: DirArg) -> None:
    """Load the packaged public history into the node (shown as public record)."""
    guard(lambda: load_node(path))
    target = guard(lambda: load_history_into(path))
    typer.echo(f"public history loaded into {target}")


def register(app: typer.Typer) -> None:
    """Add the hotline's commands to the ``redline`` app."""
    for command in (directory, counterpart, request, respond, withdraw, board, timeline, calendar):
        app.command()(command)
    app.add_typer(call_app, name="call")
    app.add_typer(mechanism_app, name="mechanism")
    app.add_typer(readout_app, name="readout")
    app.add_typer(history_app, name="history")
