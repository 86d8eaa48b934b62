"""Delivery benchmark: two real node processes on loopback, and the floor.

Measures, in one run on one machine:

1. latency: messages sent through the operator API at a steady rate
   (default 50/s); latency is the time from the send (the statement's own
   time) until the signed receipt is stored (``delivered_at``), both taken by
   the sending node's clock; reports p50 / p99 / max.
2. throughput with a backlog: N statements queued while the receiver is
   down; the receiver starts; delivered statements per second from the first
   receipt stored to the last.
3. the floor for both: the same mutual-TLS HTTP round trips and SQLite
   commits (send row, receive row, delivered update) with no signing,
   canonical JSON or verification, in a bare Starlette app under uvicorn.

Run:  .venv/bin/python bench/delivery.py [--rate 50] [--latency-count 500] [--backlog 5000]
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from redline.link.transport import client_ssl_context  # noqa: E402
from redline.service.node import NodeService  # noqa: E402
from support.nodes import NodeProcess, free_port, pair, wait_until  # noqa: E402


def _parse(ts: str) -> datetime:
    return datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ")


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


# -- the real system ----------------------------------------------------------


def real_latency(root: Path, rate: float, count: int) -> dict[str, float]:
    us = NodeProcess(root / "lat-us", party="us", name="US")
    prc = NodeProcess(root / "lat-prc", party="prc", name="PRC")
    pair(us, prc)
    try:
        us.start()
        prc.start()
        ids = []
        with us.api() as api:
            # Warm up the connection pools and TLS sessions.
            for _ in range(20):
                api.post(
                    "/api/v1/messages",
                    json={"to": "prc", "precedence": "routine", "subject": "warm-up"},
                )
            wait_until(lambda: us.status()["outbox"] == 0, timeout=60, what="warm-up")
            interval = 1.0 / rate
            start = time.perf_counter()
            for i in range(count):
                target = start + i * interval
                delay = target - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                response = api.post(
                    "/api/v1/messages",
                    json={
                        "to": "prc",
                        "precedence": "flash",
                        "subject": f"latency {i}",
                        "text": "x" * 200,
                    },
                )
                ids.append(response.json()["id"])
            achieved = count / (time.perf_counter() - start)
        wait_until(lambda: us.status()["outbox"] == 0, timeout=120, what="latency drain")
        rows = {row.id: row for row in us.rows()}
        latencies = [
            (_parse(rows[i].delivered_at) - _parse(rows[i].time)).total_seconds() * 1000
            for i in ids
        ]
        return {
            "rate_achieved": achieved,
            "p50_ms": _pct(latencies, 0.50),
            "p99_ms": _pct(latencies, 0.99),
            "max_ms": max(latencies),
            "mean_ms": statistics.fmean(latencies),
        }
    finally:
        us.close()
        prc.close()


def real_throughput(root: Path, backlog: int) -> dict[str, float]:
    us = NodeProcess(root / "thr-us", party="us", name="US")
    prc = NodeProcess(root / "thr-prc", party="prc", name="PRC")
    pair(us, prc)
    # The machinery's throughput, not the default quota's: with the default
    # (50 statements/s after a burst of 500) a 5,000 backlog takes about 90 s.
    prc.dir.config.peer_statements_per_second = 1_000_000.0
    prc.dir.config.peer_burst_statements = 512  # the most one push carries
    prc.dir.save_config()
    try:
        service = NodeService(party="us", signing_key=us.dir.signing_key(), store=us.store)
        for i in range(backlog):
            service.send_message(
                to="prc", precedence="routine", subject=f"backlog {i}", text="x" * 200
            )
        prc.start()
        us.start()
        wait_until(
            lambda: us.status()["outbox"] == 0, timeout=600, interval=0.5, what="backlog drain"
        )
        delivered = sorted(
            _parse(r.delivered_at)
            for r in us.rows()
            if r.direction == "out" and r.kind == "message"
        )
        elapsed = (delivered[-1] - delivered[0]).total_seconds()
        return {"statements": backlog, "seconds": elapsed, "per_second": backlog / elapsed}
    finally:
        us.close()
        prc.close()


# -- the floor -----------------------------------------------------------------

FLOOR_SERVER = r"""
import sqlite3, sys, ssl
import uvicorn
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route
from redline.link.transport import server_ssl_context
from pathlib import Path

db_path, port, cert, key, peer_cert = sys.argv[1:6]
db = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
db.execute("PRAGMA journal_mode=WAL"); db.execute("PRAGMA synchronous=FULL")
db.execute("CREATE TABLE IF NOT EXISTS inbox (id INTEGER PRIMARY KEY AUTOINCREMENT, body BLOB)")

async def push(request):
    body = await request.body()
    lines = [l for l in body.split(b"\n") if l]
    db.execute("BEGIN IMMEDIATE")
    db.executemany("INSERT INTO inbox (body) VALUES (?)", [(l,) for l in lines])
    db.execute("COMMIT")
    return Response(b"ok " + str(len(lines)).encode() + b"\n")

app = Starlette(routes=[Route("/push", push, methods=["POST"])])
config = uvicorn.Config(app, host="127.0.0.1", port=int(port), log_level="warning",
                        lifespan="off", access_log=False)
config.load()
config.ssl = server_ssl_context(cert_file=Path(cert), key_file=Path(key),
                                peer_cert_pems=[Path(peer_cert).read_text()])
uvicorn.Server(config).run()
"""


class Floor:
    """A bare client and server doing the same round trips and commits."""

    def __init__(self, root: Path, us: NodeProcess, prc: NodeProcess) -> None:
        self.port = free_port()
        script = root / "floor_server.py"
        script.write_text(FLOOR_SERVER)
        self.server = subprocess.Popen(
            [
                sys.executable,
                str(script),
                str(root / "floor-server.db"),
                str(self.port),
                str(prc.dir.tls_cert_file),
                str(prc.dir.tls_key_file),
                str(us.dir.tls_cert_file),
            ]
        )
        context = client_ssl_context(
            cert_file=us.dir.tls_cert_file,
            key_file=us.dir.tls_key_file,
            peer_cert_pem=prc.dir.tls_cert_file.read_text(),
        )
        self.client = httpx.Client(verify=context, timeout=30, trust_env=False)
        self.db = sqlite3.connect(root / "floor-client.db", isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.execute(
            "CREATE TABLE outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, "
            "body BLOB, delivered INTEGER DEFAULT 0)"
        )
        url = f"https://127.0.0.1:{self.port}/push"
        self.url = url
        wait_until(self._up, timeout=30, what="floor server")

    def _up(self) -> bool:
        try:
            self.client.post(self.url, content=b"warm\n")
            return True
        except httpx.TransportError:
            return False

    def queue(self, body: bytes) -> int:
        self.db.execute("BEGIN IMMEDIATE")
        row_id = self.db.execute("INSERT INTO outbox (body) VALUES (?)", (body,)).lastrowid
        self.db.execute("COMMIT")
        return int(row_id or 0)

    def deliver(self, limit: int) -> int:
        rows = self.db.execute(
            "SELECT id, body FROM outbox WHERE delivered = 0 ORDER BY id LIMIT ?", (limit,)
        ).fetchall()
        if not rows:
            return 0
        self.client.post(self.url, content=b"".join(body + b"\n" for _, body in rows))
        self.db.execute("BEGIN IMMEDIATE")
        self.db.executemany(
            "UPDATE outbox SET delivered = 1 WHERE id = ?", [(row_id,) for row_id, _ in rows]
        )
        self.db.execute("COMMIT")
        return len(rows)

    def close(self) -> None:
        self.client.close()
        self.db.close()
        self.server.terminate()
        self.server.wait(10)


SAMPLE = json.dumps(
    {
        "v": 1,
        "from": "us",
        "to": "prc",
        "kind": "message",
        "seq": 1,
        "time": "2026-11-22T08:40:00.123456Z",
        "body": {"precedence": "flash", "subject": "s", "text": "x" * 200},
        "sig": "A" * 88,
    }
).encode()


def floor(root: Path, rate: float, count: int, backlog: int, batch: int) -> dict[str, float]:
    us = NodeProcess(root / "floor-us", party="us", name="US")
    prc = NodeProcess(root / "floor-prc", party="prc", name="PRC")
    bare = Floor(root, us, prc)
    try:
        latencies = []
        interval = 1.0 / rate
        start = time.perf_counter()
        for i in range(count):
            target = start + i * interval
            delay = target - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            t0 = time.perf_counter()
            bare.queue(SAMPLE)
            bare.deliver(batch)
            latencies.append((time.perf_counter() - t0) * 1000)
        for _ in range(backlog):
            bare.queue(SAMPLE)
        t0 = time.perf_counter()
        moved = 0
        while True:
            n = bare.deliver(batch)
            if not n:
                break
            moved += n
        elapsed = time.perf_counter() - t0
        return {
            "p50_ms": _pct(latencies, 0.50),
            "p99_ms": _pct(latencies, 0.99),
            "per_second": moved / elapsed,
        }
    finally:
        bare.close()
        us.close()
        prc.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--latency-count", type=int, default=500)
    parser.add_argument("--backlog", type=int, default=5000)
    parser.add_argument("--batch", type=int, default=256)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="redline-bench-") as tmp:
        root = Path(tmp)
        latency = real_latency(root, args.rate, args.latency_count)
        throughput = real_throughput(root, args.backlog)
        bare = floor(root, args.rate, args.latency_count, args.backlog, args.batch)
    result = {
        "machine": {"cpus": os.cpu_count()},
        "latency": latency,
        "throughput": throughput,
        "floor": bare,
        "ratios": {
            "p50_over_floor": latency["p50_ms"] / bare["p50_ms"],
            "p99_over_floor": latency["p99_ms"] / bare["p99_ms"],
            "throughput_over_floor": throughput["per_second"] / bare["per_second"],
        },
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
