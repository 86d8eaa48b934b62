"""Hotline benchmark: what an act, a received batch and the board cost as history grows.

With 100, 1,000 and 10,000 hotline statements held by the measured node (us,
paired with prc; both nodes in one process, statements carried between them
by direct calls as the link would), on SQLite and on PostgreSQL:

1. creating an engagement request (``HotlineService.request``: the checks
   against the request's thread and the directory, signing, storing, the
   projection update), p50 of --acts; floor: sending a link test (a
   ``heartbeat``) through the same signing and storing path, same count.
2. receiving a batch of 100 hotline statements (prc's answers to 100 of
   us's requests: ``NodeService.receive`` with the hotline's receipt check,
   the projection update and the signed receipt), p50 of --batches; floor:
   receiving a batch of 100 heartbeats the same way.
3. the board (``HotlineService.board``), p50 of --boards; floor: the board of
   a node that holds no hotline statement, measured in the same run.

On PostgreSQL the bench runs ANALYZE after growing the history, as autovacuum
would on a live server, so the planner does not plan for empty tables.

The history is built through the same service calls: per four statements, a
request from us answered by prc (accepted or declined), and a call from prc
declined by us; ten requests stay open. The target (issue: one hotline model,
kept current) is the 10,000 figure within 1.5x of the 100 figure.

Run:  .venv/bin/python bench/hotline.py [--sizes 100,1000,10000]
      [--backends sqlite,postgresql] [--acts 40] [--batches 7] [--boards 30]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from sqlalchemy import func, select  # noqa: E402

from redline.core.hotline import kinds as k  # noqa: E402
from redline.core.hotline.requests import Window  # noqa: E402
from redline.core.statement import Statement  # noqa: E402
from redline.store.schema import statements  # noqa: E402
from support.hotline import Clock, Side, carry, hotline_sides  # noqa: E402
from support.nodes import fresh_postgres_database  # noqa: E402


def p50_ms(samples: list[float]) -> float:
    return round(statistics.median(samples) * 1000, 2)


def timed(action: Callable[[], object], count: int) -> list[float]:
    out = []
    for _ in range(count):
        t0 = time.perf_counter()
        action()
        out.append(time.perf_counter() - t0)
    return out


def windows(clock: Clock) -> list[Window]:
    start = clock.now.replace(microsecond=0) + timedelta(days=1)
    return [Window(start=start, end=start + timedelta(hours=1))]


def ask(side: Side, clock: Clock, to_office: str = "prc-mnd") -> str:
    st = side.hotline.request(
        from_office="us-secdef" if side.party == "us" else "prc-mnd",
        to_office=to_office,
        mechanism="dtl",
        mode="call",
        windows=windows(clock),
    )
    return str(st.body["id"])


def hotline_held(side: Side) -> int:
    with side.store.read() as conn:
        return int(
            conn.execute(
                select(func.count())
                .select_from(statements)
                .where(statements.c.kind.in_(k.HOTLINE_KINDS))
            ).scalar_one()
        )


def grow(us: Side, prc: Side, clock: Clock, target: int) -> None:
    """Add units of four hotline statements until ``us`` holds about ``target``."""
    n = 0
    while hotline_held(us) + 4 <= target:
        rid = ask(us, clock)
        cid = str(
            prc.hotline.place_call(
                from_office="prc-mnd", to_office="us-secdef", mechanism="dtl", ring_timeout=600
            ).body["id"]
        )
        carry(us, prc)
        carry(prc, us)
        if n % 2:
            prc.hotline.respond(rid, decline="Not now")
        else:
            prc.hotline.respond(rid, accept=_first(us, rid))
        us.hotline.call_event(cid, "decline", reason="In a meeting")
        carry(us, prc)
        carry(prc, us)
        n += 1


def _first(us: Side, rid: str) -> Window:
    with us.store.read() as conn:
        return (
            us.hotline.state.fold(conn, us.hotline.now(), names=[f"request:{rid}"])
            .requests[rid]
            .windows[0]
        )


def decline_all(prc: Side, ids: list[str]) -> None:
    for rid in ids:
        prc.hotline.respond(rid, decline="Not now")


def measure(us: Side, prc: Side, clock: Clock, args: argparse.Namespace) -> dict[str, float]:
    """The three figures and their floors; what they create is closed again, so the
    board's open part stays the same between sizes."""
    out: dict[str, float] = {}
    made: list[str] = []
    out["request_ms"] = p50_ms(timed(lambda: made.append(ask(us, clock)), args.acts))
    out["request_floor_ms"] = p50_ms(timed(lambda: us.node.link_test(to="prc"), args.acts))
    carry(us, prc)
    decline_all(prc, made)
    carry(prc, us)

    def receive_batch(make: Callable[[], object]) -> list[float]:
        samples = []
        for _ in range(args.batches):
            make()
            batch = [Statement.from_wire(w) for w in prc.node.due("us", 1000)]
            assert len(batch) == 100, len(batch)
            t0 = time.perf_counter()
            result = us.node.receive("prc", batch)
            samples.append(time.perf_counter() - t0)
            prc.node.take_receipts("us", [Statement.from_wire(w) for w in result.receipts])
        return samples

    def hundred_answers() -> None:
        asked = [ask(us, clock) for _ in range(100)]
        carry(us, prc)
        decline_all(prc, asked)

    def hundred_heartbeats() -> None:
        for _ in range(100):
            prc.node.link_test(to="us")

    out["receive_100_ms"] = p50_ms(receive_batch(hundred_answers))
    out["receive_100_floor_ms"] = p50_ms(receive_batch(hundred_heartbeats))
    carry(us, prc)
    out["board_ms"] = p50_ms(timed(us.hotline.board, args.boards))
    return out


@contextmanager
def databases(backend: str) -> Iterator[dict[str, str] | None]:
    if backend == "sqlite":
        yield None
        return
    with ExitStack() as stack:
        yield {p: stack.enter_context(fresh_postgres_database()) for p in ("us", "prc", "nil")}


def run(backend: str, args: argparse.Namespace) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory() as tmp, databases(backend) as dbs:
        clock = Clock()
        with hotline_sides(Path(tmp), clock, ("us", "prc"), databases=dbs) as sides:
            us, prc = sides["us"], sides["prc"]
            for _ in range(10):  # a few open requests for the board to show
                ask(us, clock)
            carry(us, prc)
            with hotline_sides(
                Path(tmp) / "floor",
                clock,
                ("us", "prc"),
                databases=None if dbs is None else {"us": dbs["nil"]},
            ) as empty:
                board_floor = p50_ms(timed(empty["us"].hotline.board, args.boards))
            for size in args.sizes:
                t0 = time.perf_counter()
                grow(us, prc, clock, size)
                built = time.perf_counter() - t0
                if backend == "postgresql":
                    # What autovacuum does on a live server: fresh statistics after
                    # the bulk growth, so the planner sees the tables as they are.
                    for side in (us, prc):
                        with side.store.write() as conn:
                            conn.exec_driver_sql("ANALYZE")
                held = hotline_held(us)
                row: dict[str, object] = {"backend": backend, "held": held}
                row.update(measure(us, prc, clock, args))
                row["board_floor_ms"] = board_floor
                row["build_s"] = round(built, 1)
                print(json.dumps(row), flush=True)
                rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="100,1000,10000")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--acts", type=int, default=40)
    parser.add_argument("--batches", type=int, default=7)
    parser.add_argument("--boards", type=int, default=30)
    args = parser.parse_args()
    args.sizes = [int(x) for x in args.sizes.split(",")]
    summary = []
    for backend in args.backends.split(","):
        rows = run(backend, args)
        first, last = rows[0], rows[-1]
        for figure in ("request_ms", "receive_100_ms", "board_ms"):
            ratio = float(last[figure]) / float(first[figure])  # type: ignore[arg-type]
            summary.append(
                {
                    "backend": backend,
                    "figure": figure,
                    f"at_{first['held']}": first[figure],
                    f"at_{last['held']}": last[figure],
                    "ratio": round(ratio, 2),
                    "target": "<= 1.5",
                }
            )
    for line in summary:
        print(json.dumps(line))


if __name__ == "__main__":
    main()
