"""The hotline's commands: thin over :class:`~redline.service.hotline.HotlineService`.

Registered on the ``redline`` app by :func:`register`. Errors print one line,
``error: field: message``, and exit with status 2, as every command does.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from redline.cli.common import (
    DirArg,
    JsonOpt,
    echo_json,
    echo_safe,
    guard,
    open_hotline,
)
from redline.cli.hotline_views import board, timeline
from redline.core.hotline.calls import CallMode
from redline.core.hotline.directory import in_language
from redline.core.hotline.requests import Mode
from redline.core.statement import Statement
from redline.node import load_node
from redline.service.hotline import (
    HotlineService,
    parse_day,
    parse_when,
    parse_window,
)

__all__ = ["register"]


call_app = typer.Typer(
    help="Place, answer, decline and end calls; talk on them.", no_args_is_help=True
)
mechanism_app = typer.Typer(help="Suspend or resume a standing mechanism.", no_args_is_help=True)
readout_app = typer.Typer(help="Readouts and joint summaries.", no_args_is_help=True)
history_app = typer.Typer(help="The public history (public record).", no_args_is_help=True)
office_app = typer.Typer(
    help="This party's offices and their holders, published to every peer.", no_args_is_help=True
)


def _print_json(value: Any) -> None:
    echo_json(value)


def _act(path: Path, as_json: bool, action: Callable[[HotlineService], Statement]) -> None:
    with open_hotline(path) as hotline:
        st = guard(lambda: action(hotline))
    if as_json:
        _print_json({"statement_id": st.id, "kind": st.kind, "seq": st.seq, "body": dict(st.body)})
        return
    names = ("id", "request", "call")
    ident = next((getattr(st.model, n) for n in names if hasattr(st.model, n)), "")
    typer.echo(f"{st.kind} {ident} signed and queued: {st.id}".replace("  ", " "))


# -- directory and counterparts ---------------------------------------------------------


def directory(
    path: DirArg,
    publish: Annotated[
        bool, typer.Option("--publish", help="Publish this party's directory to the peer.")
    ] = False,
    lang: Annotated[
        str,
        typer.Option(
            "--language",
            metavar="LANG",
            help="Show titles and names in this language (en, zh, ...), else in English.",
        ),
    ] = "en",
    as_json: JsonOpt = False,
) -> None:
    """Parties, offices and holders; counterpart views, disputes marked."""
    with open_hotline(path) as hotline:
        if publish:
            sent = guard(hotline.publish_directory)
            typer.echo(f"published {len(sent)} statement(s)", err=as_json)
        view = guard(hotline.directory)
    if as_json:
        _print_json(view)
        return
    for party in view["parties"]:
        echo_safe(f"{party['id']}  {party['name_en']} / {party['name_zh']}  ({party['time_zone']})")
        for o in party["offices"]:
            names = [in_language(p, lang) for p in o["holders_now_person"]]
            holders = ", ".join(names) or "vacant"
            title = in_language(o["titles"], lang)
            echo_safe(f"  {o['id']:22} {o['level']:18} {title}: {holders}")
    typer.echo("counterparts:")
    for line in view["counterparts"]:
        views = "; ".join(f"{v['party']} says {v['counterpart_office']}" for v in line["views"])
        mark = "DISPUTED " if line["disputed"] else ""
        echo_safe(f"  {mark}{line['office']}: {views}")


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


def _acts(path: Path, as_json: bool, action: Callable[[HotlineService], list[Statement]]) -> None:
    with open_hotline(path) as hotline:
        sent = guard(lambda: action(hotline))
    if as_json:
        _print_json([{"statement_id": st.id, "kind": st.kind, "to": st.to} for st in sent])
        return
    for st in sent:
        typer.echo(f"{st.kind} signed and queued for {st.to}: {st.id}")


@office_app.command("add")
def office_add(
    path: DirArg,
    office_id: Annotated[str, typer.Argument(metavar="ID", help="The new office's id.")],
    level: Annotated[
        str,
        typer.Option(
            metavar="LEVEL",
            help="head_of_state, foreign_minister, defence_minister, cmc_vice_chairman, "
            "chief_of_defence, theatre_commander, policy, defence_attache or working_level.",
        ),
    ],
    title_en: Annotated[str, typer.Option(metavar="TEXT", help="The title in English.")],
    title_zh: Annotated[str, typer.Option(metavar="TEXT", help="The title in Chinese.")],
    seats: Annotated[int, typer.Option(help="How many hold it at once.")] = 1,
    time_zone: Annotated[
        str | None,
        typer.Option(
            metavar="ZONE",
            help="This party's IANA time zone, the first time it publishes (default UTC).",
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Add an office to this party's directory and publish the directory to every peer."""
    _acts(
        path,
        as_json,
        lambda h: h.add_office(
            office_id,
            level=level,
            title_en=title_en,
            title_zh=title_zh,
            seats=seats,
            time_zone=time_zone,
        ),
    )


@office_app.command("holder")
def office_holder(
    path: DirArg,
    office_id: Annotated[str, typer.Argument(metavar="ID", help="One of this party's offices.")],
    person_en: Annotated[str, typer.Option(metavar="NAME", help="The holder's name in English.")],
    person_zh: Annotated[str, typer.Option(metavar="NAME", help="The holder's name in Chinese.")],
    since: Annotated[str, typer.Option(metavar="DATE", help="From this day, YYYY-MM-DD.")],
    note: Annotated[str, typer.Option(metavar="TEXT", help="Where this is known from.")] = "",
    as_json: JsonOpt = False,
) -> None:
    """Record a new holder of one of this party's offices (the previous one's term ends that
    day) and publish the directory to every peer."""
    day = guard(lambda: parse_day(since, "since"))
    _acts(
        path,
        as_json,
        lambda h: h.set_holder(
            office_id, person_en=person_en, person_zh=person_zh, since=day, note=note
        ),
    )


# -- requests -------------------------------------------------------------------------


def request(
    path: DirArg,
    from_office: Annotated[str, typer.Option(help="Our office that asks.")],
    to_office: Annotated[str, typer.Option(help="The other party's office asked.")],
    mechanism: Annotated[str, typer.Option(help="Mechanism id, e.g. dtl, dpct.")],
    window: Annotated[
        list[str],
        typer.Option(
            metavar="START/END", help="Proposed START/END (RFC 3339, with zone); repeatable."
        ),
    ],
    mode: Annotated[Mode, typer.Option(help="How the engagement would happen.")] = Mode.CALL,
    deadline: Annotated[
        str | None, typer.Option(help="Answer by (default: the mechanism's window).")
    ] = None,
    agenda: Annotated[
        list[str] | None, typer.Option(metavar="TEXT", help="Agenda item; repeatable.")
    ] = None,
    note: Annotated[
        list[str] | None, typer.Option(metavar="TEXT", help="Precondition or obstacle; repeatable.")
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
    request_id: Annotated[str, typer.Argument(metavar="REQUEST", help="The request to answer.")],
    accept: Annotated[
        str | None, typer.Option(help="Accept, choosing this proposed START/END.")
    ] = None,
    decline: Annotated[str | None, typer.Option(help="Decline, giving this reason.")] = None,
    counter: Annotated[
        str | None, typer.Option(help="Counter: offer this office of ours instead.")
    ] = None,
    counter_window: Annotated[
        list[str] | None,
        typer.Option(metavar="START/END", help="Counter-proposed START/END; repeatable."),
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
    request_id: Annotated[str, typer.Argument(metavar="REQUEST", help="Our open request.")],
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
    mode: Annotated[CallMode, typer.Option(help="Voice or video.")] = CallMode.CALL,
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
    path: DirArg,
    call_id: Annotated[str, typer.Argument(metavar="CALL", help="The call's id.")],
    as_json: JsonOpt = False,
) -> None:
    """Answer a ringing call addressed to this party."""
    _act(path, as_json, lambda h: h.call_event(call_id, "answer"))


@call_app.command("decline")
def call_decline(
    path: DirArg,
    call_id: Annotated[str, typer.Argument(metavar="CALL", help="The call's id.")],
    reason: Annotated[str, typer.Option(help="Why.")] = "",
    as_json: JsonOpt = False,
) -> None:
    """Decline a ringing call addressed to this party."""
    _act(path, as_json, lambda h: h.call_event(call_id, "decline", reason=reason))


@call_app.command("end")
def call_end(
    path: DirArg,
    call_id: Annotated[str, typer.Argument(metavar="CALL", help="The call's id.")],
    as_json: JsonOpt = False,
) -> None:
    """Hang up an answered call."""
    _act(path, as_json, lambda h: h.call_event(call_id, "end"))


@call_app.command("say")
def call_say(
    path: DirArg,
    call_id: Annotated[str, typer.Argument(metavar="CALL", help="The call's id.")],
    text: Annotated[str, typer.Argument(metavar="TEXT", help="What to say.")],
    lang: Annotated[str, typer.Option(help="Language of the text (en, zh).")] = "en",
    as_json: JsonOpt = False,
) -> None:
    """Say something on an answered call."""
    _act(path, as_json, lambda h: h.say(call_id, text, lang=lang))


# -- mechanisms -----------------------------------------------------------------------------


def _mechanism(status: str) -> Callable[..., None]:
    def command(
        path: DirArg,
        mechanism: Annotated[
            str, typer.Argument(metavar="MECHANISM", help="Mechanism id, e.g. dpct.")
        ],
        reason: Annotated[str, typer.Option(help="The stated reason.")],
        to: Annotated[
            str | None,
            typer.Option(
                metavar="PARTY",
                help="The party to tell; by default the one other party the mechanism joins.",
            ),
        ] = None,
        as_json: JsonOpt = False,
    ) -> None:
        _act(
            path,
            as_json,
            lambda h: h.set_mechanism(mechanism=mechanism, status=status, reason=reason, to=to),
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
    engagement: Annotated[
        str, typer.Argument(metavar="ENGAGEMENT", help="Request, call or contact id.")
    ],
    text: Annotated[str, typer.Argument(metavar="TEXT", help="This party's readout.")],
    lang: Annotated[str, typer.Option(help="Language of the text.")] = "en",
    as_json: JsonOpt = False,
) -> None:
    """File this party's own readout of an engagement."""
    _act(path, as_json, lambda h: h.file_readout(engagement, text, lang=lang))


@readout_app.command("joint")
def readout_joint(
    path: DirArg,
    engagement: Annotated[
        str, typer.Argument(metavar="ENGAGEMENT", help="Request, call or contact id.")
    ],
    text: Annotated[str, typer.Argument(metavar="TEXT", help="The proposed joint summary.")],
    lang: Annotated[str, typer.Option(help="Language of the text.")] = "en",
    as_json: JsonOpt = False,
) -> None:
    """Propose a joint summary; it counts once the other party signs it."""
    _act(path, as_json, lambda h: h.propose_joint_summary(engagement, text, lang=lang))


@readout_app.command("sign")
def readout_sign(
    path: DirArg,
    summary_id: Annotated[
        str, typer.Argument(metavar="SUMMARY", help="The other party's joint summary.")
    ],
    as_json: JsonOpt = False,
) -> None:
    """Co-sign the other party's joint summary."""
    _act(path, as_json, lambda h: h.sign_joint_summary(summary_id))


# -- board, timeline, calendar, history --------------------------------------------------------


def calendar(
    path: DirArg,
    out: Annotated[Path, typer.Option("--out", help="Where to write the .ics file.")],
) -> None:
    """Export scheduled engagements as iCalendar, with both parties' time zones."""
    with open_hotline(path) as hotline:
        data = guard(hotline.calendar)
    out.write_bytes(data)
    typer.echo(f"wrote {out}")


@history_app.command("load")
def history_load(path: DirArg) -> None:
    """Load the packaged public history into the node (shown as public record)."""
    guard(lambda: load_node(path))
    with open_hotline(path) as hotline:
        target = guard(hotline.load_history)
    typer.echo(f"public history loaded into {target}")


def register(app: typer.Typer) -> None:
    """Add the hotline's commands to the ``redline`` app."""
    for command in (directory, counterpart, request, respond, withdraw, board, timeline, calendar):
        app.command()(command)
    app.add_typer(call_app, name="call")
    app.add_typer(mechanism_app, name="mechanism")
    app.add_typer(readout_app, name="readout")
    app.add_typer(history_app, name="history")
    app.add_typer(office_app, name="office")
