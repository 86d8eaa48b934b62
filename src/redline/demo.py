"""``redline demo``: two paired nodes on loopback, the way a newcomer first sees Redline.

DIR/us is the US Department of Defense, DIR/prc the PRC Ministry of National
Defense. They are created and paired on first run and reused after; each is
served by its own ``redline serve`` process, so ``redline send DIR/us ...``,
``redline status DIR/prc`` and the rest work on them while the demo runs.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from redline.core.errors import InvalidInput
from redline.core.statement import format_time
from redline.node import NodeDir, init_node, load_node
from redline.service.hotline import HotlineService, load_history_into
from redline.service.node import NodeService, system_clock
from redline.store import repo
from redline.store.db import open_store

__all__ = ["DEMO_NODES", "prepare_demo", "run_demo"]


@dataclass(frozen=True, slots=True)
class DemoNode:
    party: str
    name: str
    link_port: int
    api_port: int


DEMO_NODES = (
    DemoNode("us", "US Department of Defense", 8443, 8080),
    DemoNode("prc", "PRC Ministry of National Defense", 8444, 8081),
)
#: ``US_LINK,US_API,PRC_LINK,PRC_API``: ports for newly created demo nodes (tests, busy hosts).
PORTS_ENV = "REDLINE_DEMO_PORTS"


def _specs() -> tuple[DemoNode, ...]:
    ports = os.environ.get(PORTS_ENV)
    if not ports:
        return DEMO_NODES
    try:
        us_link, us_api, prc_link, prc_api = (int(p) for p in ports.split(","))
    except ValueError as exc:
        raise InvalidInput(
            "must be four ports: US_LINK,US_API,PRC_LINK,PRC_API", field=PORTS_ENV
        ) from exc
    us, prc = DEMO_NODES
    return (
        DemoNode(us.party, us.name, us_link, us_api),
        DemoNode(prc.party, prc.name, prc_link, prc_api),
    )


def prepare_demo(directory: Path) -> list[NodeDir]:
    """Create and pair the two demo nodes if they do not exist yet."""
    nodes = []
    for spec in _specs():
        path = directory / spec.party
        if (path / "redline.toml").exists():
            nodes.append(load_node(path))
            continue
        node = init_node(
            path,
            party=spec.party,
            name=spec.name,
            now=system_clock(),
            link_port=spec.link_port,
            api_port=spec.api_port,
        )
        nodes.append(node)
    for node in nodes:
        store = open_store(node.database_url)
        try:
            with store.write() as conn:
                pinned = {p.party for p in repo.list_peers(conn)}
                for other in nodes:
                    if other is node or other.config.party in pinned:
                        continue
                    url = f"https://127.0.0.1:{other.config.link_port}"
                    repo.add_peer(conn, other.identity(), url, format_time(system_clock()))
            # The public history, shown as public record, and each party's directory
            # published to the other as signed statements (once).
            load_history_into(node.path)
            service = NodeService(
                party=node.config.party, signing_key=node.signing_key(), store=store
            )
            HotlineService(service, node_path=node.path).publish_directory()
        finally:
            store.dispose()
    return nodes


def run_demo(directory: Path) -> None:
    """Prepare the nodes, serve both, and run until interrupted."""
    nodes = prepare_demo(directory)
    processes = [
        subprocess.Popen([sys.executable, "-m", "redline", "serve", str(node.path)])
        for node in nodes
    ]
    print("Redline demo is running. Two nodes on loopback:")
    for node in nodes:
        c = node.config
        print(f"  {c.party:4} {c.name}")
        print(f"       directory {node.path}")
        print(f"       link https://{c.link_host}:{c.link_port} (mutual TLS)")
        print(
            f"       operator API http://{c.api_host}:{c.api_port} "
            f"(token in {node.path / 'api.token'})"
        )
    us, prc = (node.path for node in nodes)
    print("Try, in another terminal:")
    print(f"  redline send {us} --to prc --precedence flash --subject 'Link test' --body 'Hello'")
    print(f"  redline status {prc}")
    print(f"  redline board {us}")
    print(f"  redline timeline {us}")
    print("Stop with Ctrl-C.")
    stopping = False

    def stop(_sig: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        while not stopping and all(p.poll() is None for p in processes):
            time.sleep(0.2)
    finally:
        for process in processes:
            if process.poll() is None:
                process.terminate()
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
    failed = [p.returncode for p in processes if p.returncode not in (0, -signal.SIGTERM)]
    if failed and not stopping:
        raise SystemExit(f"a demo node exited with status {failed[0]}")
