"""The hotline's views on the command line: the board and the timeline, as
tables whose cells are escaped (peer text is printed safe).

Registered by :func:`redline.cli.hotline.register`.
"""

from __future__ import annotations

from typing import Annotated

import typer

from redline.cli.common import (
    DirArg,
    JsonOpt,
    duration,
    echo_json,
    echo_safe,
    echo_table,
    guard,
    open_hotline,
)

__all__ = ["board", "timeline"]

PeerOpt = Annotated[
    str | None,
    typer.Option("--peer", metavar="PARTY", help="Only what concerns this pinned peer."),
]


def _left(seconds: int | None) -> str:
    return "" if seconds is None else f"{duration(seconds)} left"


def board(path: DirArg, peer: PeerOpt = None, as_json: JsonOpt = False) -> None:
    """Last contact per level, mechanisms, open requests, calls, tallies, disputes."""
    with open_hotline(path) as h:
        view = guard(lambda: h.board(peer))
    if as_json:
        echo_json(view)
        return
    scope = f" with {view['peer']}" if view.get("peer") else ""
    echo_safe(f"board of {view['party']}{scope} at {view['now']}")
    typer.echo("\nlast contact by level:")
    echo_table(
        ["level", "last contact", "days since", "contact"],
        [
            [
                line["level"],
                line["last_contact"] or "none",
                "" if line["days_since"] is None else str(line["days_since"]),
                line["contact_id"] or "",
            ]
            for line in view["levels"]
        ],
        empty="no levels",
    )
    typer.echo("\nmechanisms:")
    echo_table(
        ["mechanism", "status", "since", "by", "reason"],
        [
            [
                m["id"],
                m["status"],
                m["since"] or "",
                m["by_party"] or "",
                (m["reason"] or "")
                + "".join(
                    f" (suspended by {s['party']} until {s['party']} resumes it)"
                    for s in m["suspended_by"]
                ),
            ]
            for m in view["mechanisms"]
        ],
        empty="no mechanisms",
    )
    typer.echo("\nlinks:")
    echo_table(
        ["peer", "state", "last exchange", "queued", "oldest queued", "last error"],
        [
            [
                link["peer"],
                link["state"]
                + (f" since {link['failing_since']}" if link["failing_since"] else ""),
                link["last_exchange_at"] or "never",
                str(link["queued"]),
                link["oldest_queued_at"] or "",
                link["last_error"] or "",
            ]
            for link in view["links"]
        ],
        empty="no peers pinned",
    )
    typer.echo("\nlink tests (docs/link-tests.md):")
    echo_table(
        ["peer", "heartbeats answered", "operator tests answered", "alarms"],
        [
            [
                t["peer"],
                f"{t['heartbeat']['answered']}/{t['heartbeat']['sent']}",
                f"{t['operator-test']['answered']}/{t['operator-test']['sent']}",
                ", ".join(a["kind"] for a in t["alarms"]) or "none",
            ]
            for t in view.get("link_tests", [])
        ],
        empty="no peers pinned",
    )
    typer.echo("\nopen requests, soonest deadline first:")
    echo_table(
        ["request", "from", "to", "mechanism", "mode", "left to answer", "windows", "agenda"],
        [
            [
                r["id"],
                r["from_office"],
                r["to_office"],
                r["mechanism"],
                r["mode"],
                duration(r["seconds_left"]),
                " | ".join(
                    f"{party} {times['start']} to {times['end']}"
                    for w in r["windows"]
                    for party, times in w["local"].items()
                ),
                "; ".join(r["agenda"]),
            ]
            for r in view["open_requests"]
        ],
        empty="no open requests",
    )
    typer.echo("\nmessages not yet acknowledged (<- ours to acknowledge, -> awaiting theirs):")
    echo_table(
        ["message", "way", "peer", "precedence", "due", "subject"],
        [
            [
                m["id"][:16],
                "<-" if m["direction"] == "in" else "->",
                m["peer"],
                m["precedence"].upper(),
                f"{duration(m['seconds_left'])} left"
                if m["seconds_left"] > 0
                else f"OVERDUE by {duration(-m['seconds_left'])}",
                m["subject"],
            ]
            for m in view["unacknowledged_messages"]
        ],
        empty="no messages awaiting acknowledgement",
    )
    typer.echo("\ncalls (ringing, answered, and the latest):")
    echo_table(
        ["call", "caller", "called", "mode", "state", "missed in / duration", "purpose"],
        [
            [
                c["id"],
                c["from_office"],
                c["to_office"],
                c["mode"],
                c["state"],
                _left(c["seconds_left"])
                if c["state"] == "ringing"
                else ("" if c["duration_seconds"] is None else duration(c["duration_seconds"])),
                c["purpose"] or c["reason"],
            ]
            for c in view["calls"]
        ],
        empty="no calls",
    )
    typer.echo("\nrequests (open and the latest):")
    echo_table(
        ["request", "from", "to", "mechanism", "mode", "state", "reason", "source"],
        [
            [
                r["id"],
                r["from_office"],
                r["to_office"],
                r["mechanism"],
                r["mode"],
                r["state"],
                r["reason"],
                r["source"],
            ]
            for r in view["requests"]
        ],
        empty="no requests",
    )
    typer.echo("\ntallies (as addressee):")
    echo_table(
        ["party", "answered", "declined", "lapsed", "countered"],
        [
            [t["party"], *(str(t[k]) for k in ("answered", "declined", "lapsed", "countered"))]
            for t in view["tallies"]
        ],
        empty="no tallies",
        right=(1, 2, 3, 4),
    )
    typer.echo("\nreadouts and joint summaries:")
    echo_table(
        ["engagement", "id", "by", "kind", "text"],
        [
            [e["engagement"], r["id"], r["party"], f"readout ({r['lang']})", r["text"]]
            for e in view["engagements"]
            for r in e["readouts"]
        ]
        + [
            [
                e["engagement"],
                j["id"],
                j["proposer"],
                "joint, counts" if j["counts"] else "joint, awaiting signature",
                j["text"],
            ]
            for e in view["engagements"]
            for j in e["joint"]
        ],
        empty="no readouts",
    )
    disputed = [line for line in view["counterparts"] if line["disputed"]]
    typer.echo("\nDISPUTED counterparts (each party names a different office):")
    echo_table(
        ["office", "views"],
        [
            [
                line["office"],
                "; ".join(f"{v['party']} says {v['counterpart_office']}" for v in line["views"]),
            ]
            for line in disputed
        ],
        empty="no disputes",
    )
    typer.echo("\nstatements that had no effect:")
    echo_table(
        ["statement", "kind", "from", "at", "reason"],
        [
            [r["statement_id"][:16], r["kind"], r["from"], r["at"], r["reason"]]
            for r in view["refused"]
        ],
        empty="none",
    )


def timeline(path: DirArg, peer: PeerOpt = None, as_json: JsonOpt = False) -> None:
    """Public record and signed statements, oldest first."""
    with open_hotline(path) as h:
        entries = guard(lambda: h.timeline(peer))
    if as_json:
        echo_json(entries)
        return
    echo_table(
        ["at", "source", "what"],
        [
            [
                e["at"],
                "public record" if e["source"] == "public-record" else "signed",
                e["title"] + (f" (REFUSED: {e['refused']})" if e.get("refused") else ""),
            ]
            for e in entries
        ],
        empty="nothing on the timeline yet",
    )
