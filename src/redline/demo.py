"""``redline demo``: paired nodes on loopback, the way a newcomer first sees Redline.

DIR/us is the US Department of Defense, DIR/prc the PRC Ministry of National
Defense, both with the public history of their military channels loaded.
``--parties us,prc,jp`` adds DIR/jp, Japan's Ministry of Defense, with its
own offices and no history. The first party is paired with each of the
others; the others are not paired with each other (each link is its own
pair of nodes). Nodes are created and paired on first run and reused after;
each is served by its own ``redline serve`` process, so ``redline send
DIR/us ...``, ``redline status DIR/prc`` and the rest work on them while the
demo runs.

Each node has a demo operator (``demo``, an admin) for its console, with a
random password kept in DIR/<party>/demo-operator.txt (0600) and printed
at every start, so a newcomer can play both sides in two browser windows.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from redline.core.errors import InvalidInput
from redline.core.statement import format_time
from redline.node import NodeDir, init_node, load_node
from redline.service.hotline import HotlineService
from redline.service.node import NodeService, system_clock
from redline.service.operators import OperatorService
from redline.store import repo
from redline.store.db import open_store

__all__ = [
    "DEMO_NODES",
    "DEMO_OPERATOR",
    "DEFAULT_PARTIES",
    "demo_password",
    "prepare_demo",
    "run_demo",
]

#: The console operator each demo node has (an admin).
DEMO_OPERATOR = "demo"
_PASSWORD_FILE = "demo-operator.txt"


def demo_password(node: NodeDir) -> str:
    """The demo operator's password on ``node`` (made on first use, kept 0600).

    Raises :class:`OSError` if the file cannot be read or written."""
    path = node.path / _PASSWORD_FILE
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(12) + "\n")
    return path.read_text().strip()


@dataclass(frozen=True, slots=True)
class DemoOffice:
    id: str
    level: str
    title_en: str
    title_zh: str


@dataclass(frozen=True, slots=True)
class DemoNode:
    party: str
    name: str
    link_port: int
    api_port: int
    #: Loaded into the node: the public history of the US-PRC channels.
    history: bool = True
    #: Offices the party publishes itself (a party outside the packaged catalogue).
    offices: tuple[DemoOffice, ...] = field(default=())
    time_zone: str | None = None


DEMO_NODES = (
    DemoNode("us", "US Department of Defense", 8443, 8080),
    DemoNode("prc", "PRC Ministry of National Defense", 8444, 8081),
    DemoNode(
        "jp",
        "Japan Ministry of Defense",
        8445,
        8082,
        history=False,
        offices=(
            DemoOffice("jp-mod", "defence_minister", "Minister of Defense", "防卫大臣"),
            DemoOffice("jp-jso", "chief_of_defence", "Chief of Staff, Joint Staff", "统合幕僚长"),
        ),
        time_zone="Asia/Tokyo",
    ),
)
DEFAULT_PARTIES = ("us", "prc")
#: ``LINK,API`` per party, in order (``US_LINK,US_API,PRC_LINK,PRC_API`` for the
#: default two): ports for newly created demo nodes (tests, busy hosts).
PORTS_ENV = "REDLINE_DEMO_PORTS"


def _specs(parties: Sequence[str]) -> tuple[DemoNode, ...]:
    known = {n.party: n for n in DEMO_NODES}
    unknown = [p for p in parties if p not in known]
    if unknown or len(set(parties)) != len(parties) or len(parties) < 2:
        raise InvalidInput(f"must be two or more of {', '.join(known)}, each once", field="parties")
    specs = [known[p] for p in parties]
    ports = os.environ.get(PORTS_ENV)
    if not ports:
        return tuple(specs)
    try:
        numbers = [int(p) for p in ports.split(",")]
    except ValueError as exc:
        raise InvalidInput("must be whole port numbers", field=PORTS_ENV) from exc
    if len(numbers) != 2 * len(specs):
        raise InvalidInput(
            f"must be {2 * len(specs)} ports: LINK,API for each of {', '.join(parties)}",
            field=PORTS_ENV,
        )
    return tuple(
        DemoNode(
            s.party, s.name, numbers[2 * i], numbers[2 * i + 1], s.history, s.offices, s.time_zone
        )
        for i, s in enumerate(specs)
    )


def prepare_demo(directory: Path, parties: Sequence[str] = DEFAULT_PARTIES) -> list[NodeDir]:
    """Create and pair the demo nodes that do not exist yet: the first party with
    each of the others.

    Raises:
        InvalidInput: an unknown party, fewer than two, or bad ports.
    """
    specs = _specs(parties)
    nodes = []
    for spec in specs:
        path = directory / spec.party
        if (path / "redline.toml").exists():
            nodes.append(load_node(path))
            continue
        nodes.append(
            init_node(
                path,
                party=spec.party,
                name=spec.name,
                now=system_clock(),
                link_port=spec.link_port,
                api_port=spec.api_port,
            )
        )
    hub = nodes[0]
    for node, spec in zip(nodes, specs, strict=True):
        store = open_store(node.database_url)
        try:
            with store.write() as conn:
                pinned = {p.party for p in repo.list_peers(conn)}
                for other in nodes:
                    paired = node is hub or other is hub
                    if other is node or not paired or other.config.party in pinned:
                        continue
                    url = f"https://127.0.0.1:{other.config.link_port}"
                    repo.add_peer(conn, other.identity(), url, format_time(system_clock()))
            # The public history, shown as public record, and each party's directory
            # published to its peers as signed statements (once).
            service = NodeService(
                party=node.config.party, signing_key=node.signing_key(), store=store
            )
            hotline = HotlineService(service, node_path=node.path, name=node.config.name)
            if spec.history:
                hotline.load_history()
            held = {o["id"] for p in hotline.directory()["parties"] for o in p["offices"]}
            for office in spec.offices:
                if office.id not in held:
                    hotline.add_office(
                        office.id,
                        level=office.level,
                        title_en=office.title_en,
                        title_zh=office.title_zh,
                        time_zone=spec.time_zone,
                    )
            hotline.publish_directory()
            operators = OperatorService(store, clock=system_clock)
            if DEMO_OPERATOR not in {o.name for o in operators.all()}:
                operators.add(
                    DEMO_OPERATOR,
                    role="admin",
                    password=demo_password(node),
                    lang="zh" if spec.party == "prc" else "en",
                )
        finally:
            store.dispose()
    return nodes


def run_demo(directory: Path, parties: Sequence[str] = DEFAULT_PARTIES) -> None:
    """Prepare the nodes, serve them all, and run until interrupted.

    Raises:
        InvalidInput: an unknown party, fewer than two, or bad ports.
    """
    nodes = prepare_demo(directory, parties)
    processes = [
        subprocess.Popen([sys.executable, "-m", "redline", "serve", str(node.path)])
        for node in nodes
    ]
    print(f"Redline demo is running. {len(nodes)} nodes on loopback:")
    for node in nodes:
        c = node.config
        print(f"  {c.party:4} {c.name}")
        print(f"       directory {node.path}")
        print(f"       link https://{c.link_host}:{c.link_port} (mutual TLS)")
        print(
            f"       operator API http://{c.api_host}:{c.api_port} "
            f"(token in {node.path / 'api.token'})"
        )
        print(
            f"       console http://{c.api_host}:{c.api_port}/console/ "
            f"(sign in as {DEMO_OPERATOR}, password {demo_password(node)})"
        )
    hub, other = nodes[0], nodes[1]
    print("Try, in another terminal:")
    print(
        f"  redline send {hub.path} --to {other.config.party} --precedence flash "
        "--subject 'Link test' --body 'Hello'"
    )
    print(f"  redline status {other.path}")
    print(f"  redline board {hub.path}")
    print(f"  redline timeline {hub.path}")
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
