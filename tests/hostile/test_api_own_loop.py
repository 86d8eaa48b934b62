"""The operator API answers while the link's event loop is held.

The link and the operator API ran on one event loop: whatever held that loop
(a flood of handshakes, an 8 MiB push being parsed, any handler that keeps
the loop busy) kept the operator waiting too. The API now has its own thread
and event loop (runtime.py).

The node here is the real ``serve`` with one route added to its link app, a
handler that holds the link's loop (a blocking wait on it, as CPU-bound work
would) until the test lets it go. While it is held, the operator API must
answer; on the old single loop it could not until the hold ended, so the
test's bounded wait (30 s, with the hold lasting up to 90 s) would fail.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import httpx

from redline.link.transport import client_ssl_context
from support.nodes import NodeProcess, wait_until

# Runs `redline serve` with a link route that holds the link's event loop.
HOLDING_NODE = """
import sys, time
from pathlib import Path

import redline.runtime as runtime
from redline.node import load_node

node_dir, entered, release = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
real_create_link_app = runtime.create_link_app


def create_link_app(*args, **kwargs):
    app = real_create_link_app(*args, **kwargs)

    async def holding(scope, receive, send):
        if scope["type"] == "http" and scope["path"] == "/test/hold-the-loop":
            entered.touch()
            deadline = time.monotonic() + 90
            while not release.exists() and time.monotonic() < deadline:
                time.sleep(0.05)  # blocks the loop: nothing else on it runs
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"released"})
            return
        await app(scope, receive, send)

    return holding


runtime.create_link_app = create_link_app
runtime.serve(load_node(node_dir))
"""


def test_the_operator_api_answers_while_the_link_loop_is_held(
    make_node: Callable[..., NodeProcess], tmp_path: Path
) -> None:
    prc = make_node("prc")
    us = make_node("us")  # only its certificate is used, to reach the link
    prc.pin(us)
    entered = tmp_path / "entered"
    release = tmp_path / "release"
    with prc.log_path.open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-c", HOLDING_NODE, str(prc.dir.path), str(entered), str(release)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    prc.process = process  # stopped at teardown if the test fails
    try:
        wait_until(
            lambda: _answers(f"{prc.api_url}/healthz"),
            timeout=60,
            what=f"the node to start: {prc.log_path}",
        )
        context = client_ssl_context(
            cert_file=us.dir.tls_cert_file,
            key_file=us.dir.tls_key_file,
            peer_cert_pem=prc.dir.identity().tls_cert_pem,
        )
        held: list[httpx.Response] = []

        def hold() -> None:
            with httpx.Client(verify=context, timeout=120, trust_env=False) as link:
                held.append(link.get(f"{prc.link_url}/test/hold-the-loop"))

        holder = threading.Thread(target=hold, daemon=True)
        holder.start()
        wait_until(entered.exists, timeout=60, what="the link's loop to be held")

        # The link's loop is held: the operator API answers all the same.
        with prc.api() as api:
            api.timeout = httpx.Timeout(30)
            assert api.get("/healthz").status_code == 200
            identity = api.get("/api/v1/identity")
            assert identity.status_code == 200 and identity.json()["party"] == "prc"
            status = api.get("/api/v1/status")
            assert status.status_code == 200
        # ...while the link was still held: its answer had not come.
        assert holder.is_alive() and not held

        release.touch()
        holder.join(60)
        assert [r.status_code for r in held] == [200]
        # SIGTERM still stops both servers, and the node exits cleanly.
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0
        assert not _answers(f"{prc.api_url}/healthz")
    finally:
        release.touch()
        if process.poll() is None:
            process.kill()
            process.wait(10)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2, trust_env=False).status_code == 200
    except httpx.TransportError:
        return False
