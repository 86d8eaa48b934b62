"""Console benchmark: live events to 100 open consoles, and the floor.

Measures, in one run on one machine:

1. the real system: one node (``redline serve``, a real process on loopback)
   with an operator signed in; N clients (default 100) hold the console's
   event stream (``GET /console/events``, server-sent events, with the
   session cookie) open; messages are sent through the operator API at a
   steady rate (default 20/s). Each is signed and stored, and once its
   transaction commits the node's ``on_stored`` hook publishes it to the
   broadcaster, which queues it for every stream. Latency is from just
   before the POST that stores the statement to the event naming it arriving
   at a client, per client (so one statement gives N samples); p50, p99 and
   max. Also the node's resident memory (VmRSS from /proc/PID/status) with
   no client and with the N clients connected, after the run.
2. the floor: a bare Starlette app with sse-starlette (uvicorn, a process of
   its own) that broadcasts each POSTed id to every open stream through a
   per-client asyncio queue, and nothing else: no session, no signing, no
   database. Same clients, same rate, measured the same way.

The clients are asynchronous httpx streams in this one process, for both.
Nothing here asserts a time; the figures go into docs/benchmarks.md.

3. with ``--pages``, what a page costs: the clients also keep the Requests
   page open (the nav's unread count and the list of requests) and re-read
   its fragments on each event, as ``static/console.js`` does (only the
   fragments an event concerns, at most once per 500 ms) and, in a second
   run, as the first slice did (every fragment on every event, debounced by
   150 ms). The time until a statement *appears* (a re-read begun after its
   event is answered) and the fragments served, at ``--page-rate``.

Run:  .venv/bin/python bench/console.py [--clients 100] [--rate 20] [--count 300] [--pages]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

PASSWORD = "benchmark password"


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def rss_mib(pid: int) -> float:
    """The resident memory of process ``pid`` in MiB (VmRSS, /proc/PID/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


@dataclass
class Run:
    """What one measurement saw: each client's arrival time per id."""

    sent: dict[str, float] = field(default_factory=dict)
    arrived: list[dict[str, float]] = field(default_factory=list)
    connected: int = 0

    def latencies_ms(self) -> list[float]:
        return [
            (at - self.sent[key]) * 1000
            for client in self.arrived
            for key, at in client.items()
            if key in self.sent
        ]


async def listen(
    http: httpx.AsyncClient,
    url: str,
    headers: dict[str, str],
    seen: dict[str, float],
    ready: asyncio.Event,
    run: Run,
    clients: int,
    key: str,
    on_event: Callable[[dict[str, Any], float], None] | None = None,
) -> None:
    """Hold one event stream open and note when each id arrives."""
    async with http.stream("GET", url, headers=headers) as response:
        response.raise_for_status()
        async for line in response.aiter_lines():
            if not line.startswith("data:"):
                continue
            now = time.perf_counter()
            data = json.loads(line[5:])
            if not data:  # the first event of every stream: "re-read what you show"
                run.connected += 1
                if run.connected == clients:
                    ready.set()
                continue
            ident = data.get(key)
            if isinstance(ident, str):
                seen.setdefault(ident, now)
            if on_event is not None:
                on_event(data, now)


async def measure(
    *,
    events_url: str,
    headers: dict[str, str],
    clients: int,
    rate: float,
    count: int,
    send: Callable[[httpx.AsyncClient, int], Awaitable[str]],
    key: str,
    with_clients: Callable[[], None] = lambda: None,
    page: Callable[[httpx.AsyncClient], Callable[[dict[str, Any], float], None]] | None = None,
    shown: Callable[[set[str]], bool] = lambda _ids: True,
) -> Run:
    """Open ``clients`` streams, send ``count`` items at ``rate`` per second,
    and wait until every client saw every item (or 30 s after the last)."""
    run = Run()
    ready = asyncio.Event()
    limits = httpx.Limits(max_connections=clients + 10, max_keepalive_connections=clients + 10)
    timeout = httpx.Timeout(60, read=None)
    async with httpx.AsyncClient(limits=limits, timeout=timeout, trust_env=False) as http:
        seen: list[dict[str, float]] = [{} for _ in range(clients)]
        run.arrived = seen
        tasks = [
            asyncio.create_task(
                listen(
                    http,
                    events_url,
                    headers,
                    seen[i],
                    ready,
                    run,
                    clients,
                    key,
                    on_event=None if page is None else page(http),
                )
            )
            for i in range(clients)
        ]
        await asyncio.wait_for(ready.wait(), timeout=60)
        with_clients()
        for i in range(10):  # warm-up: not counted
            await send(http, -1 - i)
        await asyncio.sleep(1)
        interval = 1.0 / rate
        start = time.perf_counter()
        for i in range(count):
            delay = start + i * interval - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            before = time.perf_counter()
            ident = await send(http, i)
            run.sent[ident] = before
        deadline = time.perf_counter() + 30
        while time.perf_counter() < deadline and not (
            all(all(k in client for k in run.sent) for client in seen) and shown(set(run.sent))
        ):
            await asyncio.sleep(0.1)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return run


def summary(run: Run, clients: int) -> dict[str, Any]:
    latencies = run.latencies_ms()
    expected = len(run.sent) * clients
    return {
        "events": len(latencies),
        "missing": expected - len(latencies),
        "p50_ms": round(_pct(latencies, 0.50), 1),
        "p99_ms": round(_pct(latencies, 0.99), 1),
        "max_ms": round(max(latencies), 1),
    }


# -- pages re-reading their fragments ------------------------------------------

#: The Requests page, as a console shows it: the nav's unread count and the list
#: of requests (which reads the hotline's board), with the topics each shows.
PAGE_FRAGMENTS = {"nav": ("messages",), "requests": ("hotline",)}


@dataclass
class _Fragment:
    waiting: dict[str, float] = field(default_factory=dict)
    timer: asyncio.Task[None] | None = None
    last: float = 0.0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


@dataclass
class Pages:
    """Consoles with the Requests page open, re-reading their fragments on each
    event as ``static/console.js`` does (``rule="topics"``: only a fragment
    that shows one of the event's topics, at once or at the end of 500 ms
    after its last re-read) or as the first slice did (``rule="each"``: every
    fragment on every event, debounced by 150 ms). A statement *appears* at a
    client when a re-read that began after its event arrived is answered."""

    base: str
    headers: dict[str, str]
    rule: str
    shown: list[dict[str, float]] = field(default_factory=list)
    gets: int = 0

    def client(self, http: httpx.AsyncClient) -> Callable[[dict[str, Any], float], None]:
        shown: dict[str, float] = {}
        self.shown.append(shown)
        fragments = {name: _Fragment() for name in PAGE_FRAGMENTS}

        async def get(name: str) -> None:
            frag = fragments[name]
            async with frag.lock:  # htmx queues a re-read behind the one in flight
                ids = list(frag.waiting)
                frag.waiting.clear()
                answer = await http.get(
                    f"{self.base}/console/fragments/{name}",
                    headers=self.headers | {"hx-request": "true"},
                )
                answer.raise_for_status()
                self.gets += 1
                done = time.perf_counter()
            for ident in ids:
                shown.setdefault(ident, done)

        async def coalesced(name: str) -> None:
            frag = fragments[name]
            await asyncio.sleep(max(0.0, frag.last + 0.5 - time.perf_counter()))
            frag.last = time.perf_counter()
            frag.timer = None
            await get(name)

        async def debounced(name: str) -> None:
            await asyncio.sleep(0.15)
            fragments[name].timer = None
            await get(name)

        def on_event(data: dict[str, Any], now: float) -> None:
            ident, topics = data.get("statement"), data.get("topics") or []
            if not isinstance(ident, str):
                return
            for name, wanted in PAGE_FRAGMENTS.items():
                if self.rule == "topics" and not any(t in wanted for t in topics):
                    continue
                frag = fragments[name]
                frag.waiting[ident] = now
                if self.rule == "each":
                    if frag.timer is not None:
                        frag.timer.cancel()
                    frag.timer = asyncio.create_task(debounced(name))
                elif frag.timer is None:
                    frag.timer = asyncio.create_task(coalesced(name))

        return on_event


# -- the real system ----------------------------------------------------------


def real(
    root: Path, clients: int, rate: float, count: int, rule: str | None = None
) -> dict[str, Any]:
    # Imported here, not at the top: the floor's server process runs this file
    # too, and its memory should be the bare app's, not Redline's.
    from redline.service.node import system_clock
    from redline.service.operators import OperatorService
    from support.nodes import NodeProcess, pair

    us = NodeProcess(root / "us", party="us", name="US")
    prc = NodeProcess(root / "prc", party="prc", name="PRC")  # pinned, never started
    pair(us, prc)
    # The peer stays down: slow retries keep the delivery worker out of the way.
    us.dir.config.retry_base_seconds = 30
    us.dir.config.retry_cap_seconds = 300
    us.dir.save_config()
    OperatorService(us.store, clock=system_clock).add("bench", role="watch", password=PASSWORD)
    try:
        us.start()
        assert us.process is not None
        pid = us.process.pid
        login = httpx.post(
            f"{us.api_url}/console/login",
            data={"name": "bench", "password": PASSWORD},
            headers={"origin": us.api_url},
            follow_redirects=False,
            trust_env=False,
        )
        assert login.status_code == 303, login.text
        cookie = login.cookies["redline_session"]
        time.sleep(1)
        idle_rss = rss_mib(pid)
        loaded: dict[str, float] = {}
        cookie_headers = {"cookie": f"redline_session={cookie}"}
        pages = None if rule is None else Pages(us.api_url, cookie_headers, rule)

        async def send(http: httpx.AsyncClient, i: int) -> str:
            answer = await http.post(
                f"{us.api_url}/api/v1/messages",
                json={"to": "prc", "precedence": "routine", "subject": f"bench {i}"},
                headers={"authorization": f"Bearer {us.token}"},
            )
            answer.raise_for_status()
            return str(answer.json()["id"])

        run = asyncio.run(
            measure(
                events_url=f"{us.api_url}/console/events",
                headers={"cookie": f"redline_session={cookie}", "accept": "text/event-stream"},
                clients=clients,
                rate=rate,
                count=count,
                send=send,
                key="statement",
                with_clients=lambda: loaded.__setitem__("rss", rss_mib(pid)),
                page=None if pages is None else pages.client,
                shown=lambda ids: pages is None or all(ids <= set(c) for c in pages.shown),
            )
        )
        out = summary(run, clients) | {
            "rss_idle_mib": round(idle_rss, 1),
            "rss_clients_mib": round(loaded["rss"], 1),
        }
        if pages is not None:
            shown = Run(sent=run.sent, arrived=pages.shown)
            appeared = summary(shown, clients)
            out["appeared"] = appeared
            out["fragment_gets"] = pages.gets
        return out
    finally:
        us.close()
        prc.close()


# -- the floor ------------------------------------------------------------------


def floor_app() -> Any:
    """A bare broadcast: POST /publish?id=X queues X for every open stream."""
    from sse_starlette import EventSourceResponse, ServerSentEvent
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    queues: set[asyncio.Queue[str]] = set()

    async def events(_request: Request) -> EventSourceResponse:
        queue: asyncio.Queue[str] = asyncio.Queue(maxsize=256)
        queues.add(queue)

        async def stream() -> Any:
            try:
                yield ServerSentEvent(data="{}", event="changed")
                while True:
                    ident = await queue.get()
                    yield ServerSentEvent(data=json.dumps({"id": ident}), event="changed")
            finally:
                queues.discard(queue)

        return EventSourceResponse(stream(), ping=15)

    async def publish(request: Request) -> JSONResponse:
        ident = request.query_params["id"]
        for queue in list(queues):
            queue.put_nowait(ident)
        return JSONResponse({"id": ident}, status_code=201)

    return Starlette(
        routes=[Route("/events", events), Route("/publish", publish, methods=["POST"])]
    )


def floor(clients: int, rate: float, count: int) -> dict[str, Any]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    server = subprocess.Popen(
        [sys.executable, __file__, "--floor-server", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                httpx.post(f"{base}/publish?id=ping", trust_env=False)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        time.sleep(1)
        idle_rss = rss_mib(server.pid)
        loaded: dict[str, float] = {}

        async def send(http: httpx.AsyncClient, i: int) -> str:
            ident = f"floor-{i}"
            (await http.post(f"{base}/publish", params={"id": ident})).raise_for_status()
            return ident

        run = asyncio.run(
            measure(
                events_url=f"{base}/events",
                headers={"accept": "text/event-stream"},
                clients=clients,
                rate=rate,
                count=count,
                send=send,
                key="id",
                with_clients=lambda: loaded.__setitem__("rss", rss_mib(server.pid)),
            )
        )
        return summary(run, clients) | {
            "rss_idle_mib": round(idle_rss, 1),
            "rss_clients_mib": round(loaded["rss"], 1),
        }
    finally:
        server.terminate()
        server.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--rate", type=float, default=20.0, help="statements per second")
    parser.add_argument("--count", type=int, default=300, help="statements measured")
    parser.add_argument(
        "--pages",
        action="store_true",
        help="also: the clients keep the Requests page open and re-read its fragments, "
        "as console.js does and as the first slice did (--page-rate, --page-count)",
    )
    parser.add_argument("--page-rate", type=float, default=5.0)
    parser.add_argument("--page-count", type=int, default=100)
    parser.add_argument("--floor-server", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.floor_server:
        import uvicorn

        uvicorn.run(floor_app(), host="127.0.0.1", port=args.floor_server, log_level="warning")
        return
    results = {"clients": args.clients, "rate_per_s": args.rate, "count": args.count}
    with tempfile.TemporaryDirectory(prefix="redline-bench-console-") as tmp:
        results["real"] = real(Path(tmp), args.clients, args.rate, args.count)
    results["floor"] = floor(args.clients, args.rate, args.count)
    if args.pages:
        for rule in ("topics", "each"):
            with tempfile.TemporaryDirectory(prefix="redline-bench-console-") as tmp:
                results[f"pages_{rule}"] = real(
                    Path(tmp), args.clients, args.page_rate, args.page_count, rule
                )
    results["cpus"] = os.cpu_count()
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
