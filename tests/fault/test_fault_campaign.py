"""A seeded fault campaign over two real nodes: a hostile network and kill -9.

Each node reaches the other through a :class:`FaultProxy` (tests/support/proxy.py)
that cuts, delays, reorders and duplicates traffic, while a fault loop also
SIGKILLs either node at random points and restarts it:

- ``request``: the node behind a proxy, just after a request to it passed
  (during a push, a catch-up pull, or a checkpoint sent to it to cosign);
- ``answer``: the node that made a request, just after the answer passed
  towards it (the peer stored the push and signed the receipt, or cosigned
  the checkpoint; this node has not stored either yet);
- ``anytime``: at a random moment, often while checkpoints are signed and
  witnessed (every 0.5 s here).

Meanwhile both nodes send messages to each other through their operator API,
in bursts. Then the faults stop, the nodes drain, and the campaign checks,
each way: every message the sender signed is stored exactly once at the
receiver, at sequence numbers 1..N; each is marked delivered against a stored
receipt that verifies under the receiver's key and that acknowledges it, and
the receiver acknowledged it in exactly one receipt; every statement each node
signed is one leaf of its log; and each log is consistent with every
checkpoint of it the other node cosigned (:func:`check_log_consistency`).

The default size suits CI; ``pytest --long`` runs the campaign whose figures
are in docs/benchmarks.md. The fault schedule is seeded; where each fault lands
also depends on timing.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field

import httpx
import pytest
from sqlalchemy import select

from redline.core.statement import Statement, verify_statement
from redline.store.schema import log_leaves
from support.nodes import NodeProcess, check_log_consistency, wait_until
from support.proxy import Direction, Fault, FaultProxy

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Size:
    statements: int  # messages, both ways together
    faults: int  # at least this many injected: network faults and kills together
    max_burst: int  # messages sent back to back by one node
    max_pause: float  # seconds between bursts
    max_gap: float  # seconds between two faults
    max_down: float  # seconds a killed node stays down
    drain_timeout: float


CI = Size(
    statements=300,
    faults=10,
    max_burst=15,
    max_pause=0.5,
    max_gap=0.6,
    max_down=0.5,
    drain_timeout=120,
)
LONG = Size(
    statements=10_000,
    faults=60,
    max_burst=60,
    max_pause=0.4,
    max_gap=2.5,
    max_down=1.5,
    drain_timeout=600,
)
CI_SEEDS = [1, 2]
LONG_SEEDS = [1001]

# What the fault loop picks, and how often (kills cost a restart, so fewer).
CHOICES: list[Fault | str] = [Fault.CUT, Fault.DELAY, Fault.DUPLICATE, Fault.REORDER, "kill"]
WEIGHTS = [3, 2, 2, 2, 2]
KILL_POINTS = ["request", "answer", "anytime"]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "seed" in metafunc.fixturenames:
        seeds = LONG_SEEDS if metafunc.config.getoption("--long") else CI_SEEDS
        metafunc.parametrize("seed", seeds)


@dataclass
class Campaign:
    """The two nodes, the proxy in front of each, and what happened to them."""

    nodes: tuple[NodeProcess, NodeProcess]
    fronting: dict[str, FaultProxy]  # party -> the proxy in front of its link port
    kills: Counter[str] = field(default_factory=Counter)  # by kill point
    errors: list[str] = field(default_factory=list)
    while_sending = 0  # faults that landed before both senders were done

    def other(self, node: NodeProcess) -> NodeProcess:
        return self.nodes[1] if node is self.nodes[0] else self.nodes[0]

    def network_faults(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for proxy in self.fronting.values():
            total.update({str(k): v for k, v in proxy.injected.items()})
        return total

    def injected(self) -> int:
        return sum(self.network_faults().values()) + sum(self.kills.values())


def _send(
    node: NodeProcess,
    to: str,
    count: int,
    rng: random.Random,
    size: Size,
    sent: list[str],
    campaign: Campaign,
) -> None:
    """Send messages in bursts until ``count`` were answered 201.

    An attempt refused at connect (the node is down) is tried again; one cut
    off after it reached the node (killed mid-request) counts for nothing:
    that message may or may not be signed, and the sender's store says which.
    """
    deadline = time.monotonic() + 900
    attempts = 0
    try:
        with node.api() as api:
            while len(sent) < count:
                burst = rng.randint(1, size.max_burst)
                while burst > 0 and len(sent) < count:
                    body = {
                        "to": to,
                        "precedence": "routine",
                        "subject": f"{node.party} {attempts}",
                        "text": f"#{attempts}",
                    }
                    try:
                        response = api.post("/api/v1/messages", json=body)
                    except httpx.ConnectError:
                        if time.monotonic() > deadline:
                            raise
                        time.sleep(0.1)  # down: wait for the restart
                        continue
                    except httpx.TransportError:
                        attempts += 1  # killed while answering
                        burst -= 1
                        continue
                    attempts += 1
                    burst -= 1
                    if response.status_code != 201:
                        campaign.errors.append(
                            f"{node.party}: {response.status_code}: {response.text}"
                        )
                        return
                    sent.append(response.json()["id"])
                time.sleep(rng.uniform(0, size.max_pause))
    except Exception as exc:  # reported by the test thread
        campaign.errors.append(f"{node.party} sender: {exc!r}")


def _kill_and_restart(campaign: Campaign, rng: random.Random, size: Size) -> None:
    target = rng.choice(campaign.nodes)
    point = rng.choice(KILL_POINTS)
    if point == "request":
        seen = campaign.fronting[target.party].watch(Direction.REQUEST)
    elif point == "answer":
        seen = campaign.fronting[campaign.other(target).party].watch(Direction.ANSWER)
    else:
        seen = None
    if seen is not None and not seen.wait(2):
        point = "anytime"  # no traffic came: kill it anyway
    elif seen is not None:
        time.sleep(rng.uniform(0, 0.02))
    assert target.process is not None
    if target.process.poll() is not None:
        raise AssertionError(f"{target.party} died on its own: {target.log_path.read_text()}")
    target.kill()
    campaign.kills[point] += 1
    time.sleep(rng.uniform(0, size.max_down))
    target.start()


def _run_faults(
    campaign: Campaign, rng: random.Random, size: Size, senders: list[threading.Thread]
) -> None:
    """Inject faults until the senders are done and at least ``size.faults`` landed."""
    deadline = time.monotonic() + size.drain_timeout + 600
    while any(s.is_alive() for s in senders) or campaign.injected() < size.faults:
        if any(s.is_alive() for s in senders):
            campaign.while_sending = campaign.injected()
        if time.monotonic() > deadline:
            raise AssertionError(f"only {campaign.injected()} faults landed before the deadline")
        time.sleep(rng.uniform(0.05, size.max_gap))
        choice = rng.choices(CHOICES, WEIGHTS)[0]
        if choice == "kill":
            _kill_and_restart(campaign, rng, size)
        else:
            assert isinstance(choice, Fault)
            rng.choice(list(campaign.fronting.values())).arm(choice)
    for proxy in campaign.fronting.values():
        proxy.disarm()


@dataclass
class Outcome:
    signed: int
    lost: int
    duplicated: int
    unreceipted: int


def _check_one_way(sender: NodeProcess, receiver: NodeProcess, acknowledged: list[str]) -> Outcome:
    """What happened to the messages ``sender`` signed to ``receiver`` (counted, not asserted)."""
    sender_rows = sender.rows()
    receiver_rows = receiver.rows()
    out = {
        r.id: r
        for r in sender_rows
        if r.direction == "out" and r.kind == "message" and r.peer == receiver.party
    }
    received = [
        r
        for r in receiver_rows
        if r.direction == "in" and r.kind == "message" and r.peer == sender.party
    ]
    counts = Counter(r.id for r in received)
    # Lost: signed (or answered 201 by the API) but not stored at the receiver.
    lost = len((set(out) | set(acknowledged)) - set(counts))
    # Duplicated: stored twice, at a second sequence number, acknowledged twice,
    # or stored without the sender having signed it (as far as its store knows).
    seqs = [r.seq for r in received]
    own_acked: Counter[str] = Counter()
    for row in receiver_rows:
        if row.direction == "out" and row.kind == "receipt" and row.peer == sender.party:
            own_acked.update(a["id"] for a in Statement.from_wire(bytes(row.wire)).body["ack"])
    duplicated = (
        sum(n - 1 for n in counts.values())
        + (len(seqs) - len(set(seqs)))
        + sum(n - 1 for n in own_acked.values() if n > 1)
        + len(set(counts) - set(out))
    )
    assert sorted(r.seq for r in out.values()) == list(range(1, len(out) + 1))
    assert sorted(set(seqs)) == list(range(1, len(set(seqs)) + 1)), "a gap at the receiver"
    # Receipts: stored at the sender, verified under the receiver's key, acking each.
    receiver_key = receiver.dir.identity().public_key()
    receipts: dict[str, Statement] = {}
    for row in sender_rows:
        if row.direction == "in" and row.kind == "receipt" and row.peer == receiver.party:
            receipt = Statement.from_wire(bytes(row.wire))
            verify_statement(receipt, keys={receiver.party: receiver_key})
            receipts[row.id] = receipt
    issued = {
        r.id
        for r in receiver_rows
        if r.direction == "out" and r.kind == "receipt" and r.peer == sender.party
    }
    assert set(receipts) == issued, "a receipt the receiver signed never reached the sender"
    unreceipted = 0
    for statement_id, row in out.items():
        acking = receipts.get(row.receipt_id)
        if (
            row.state != "delivered"
            or acking is None
            or statement_id not in {a["id"] for a in acking.body["ack"]}
            or own_acked[statement_id] != 1
        ):
            unreceipted += 1
    return Outcome(signed=len(out), lost=lost, duplicated=duplicated, unreceipted=unreceipted)


def _every_signed_statement_is_a_leaf(node: NodeProcess) -> None:
    with node.store.read() as conn:
        leaves = Counter(r.statement_id for r in conn.execute(select(log_leaves.c.statement_id)))
    own = {r.id for r in node.rows() if r.direction == "out"}
    assert set(leaves) == own and max(leaves.values()) == 1, f"{node.party}'s log is not its own"


def _settled(log: NodeProcess, witness: NodeProcess) -> bool:
    status = log.status()
    checkpoint = status["record"]["checkpoint"]
    return (
        status["outbox"] == 0
        and checkpoint is not None
        and checkpoint["size"] == status["log_size"]
        and witness.party in checkpoint["cosigned_by"]
    )


@pytest.fixture
def size(request: pytest.FixtureRequest) -> Size:
    return LONG if request.config.getoption("--long") else CI


@pytest.fixture
def proxies() -> Iterator[ExitStack]:
    with ExitStack() as stack:
        yield stack


def test_fault_campaign(
    make_node: Callable[..., NodeProcess],
    backend: str,
    seed: int,
    size: Size,
    proxies: ExitStack,
) -> None:
    started = time.monotonic()
    rng = random.Random(seed)
    us = make_node("us", "US Department of Defense")
    prc = make_node("prc", "PRC Ministry of National Defense")
    fronting = {
        node.party: proxies.enter_context(
            FaultProxy(node.link_port, rng=random.Random(f"{seed}/{node.party}"), name=node.party)
        )
        for node in (us, prc)
    }
    us.pin_via(prc, fronting["prc"].url)
    prc.pin_via(us, fronting["us"].url)
    us.start()
    prc.start()
    campaign = Campaign(nodes=(us, prc), fronting=fronting)

    sent: dict[str, list[str]] = {"us": [], "prc": []}
    senders = [
        threading.Thread(
            target=_send,
            args=(
                node,
                campaign.other(node).party,
                size.statements // 2,
                random.Random(f"{seed}/send/{node.party}"),
                size,
                sent[node.party],
                campaign,
            ),
            daemon=True,
        )
        for node in (us, prc)
    ]
    for sender in senders:
        sender.start()
    _run_faults(campaign, rng, size, senders)
    for sender in senders:
        sender.join(60)
        assert not sender.is_alive()
    assert not campaign.errors, campaign.errors

    wait_until(
        lambda: _settled(us, prc) and _settled(prc, us),
        timeout=size.drain_timeout,
        interval=0.5,
        what="both outboxes drained and both logs cosigned",
    )
    outcomes = {
        "us→prc": _check_one_way(us, prc, sent["us"]),
        "prc→us": _check_one_way(prc, us, sent["prc"]),
    }
    checkpoints = check_log_consistency(us, prc) + check_log_consistency(prc, us)
    alarms = [a["kind"] for node in (us, prc) for a in node.status()["alarms"]]
    network = campaign.network_faults()
    signed = sum(o.signed for o in outcomes.values())
    lost = sum(o.lost for o in outcomes.values())
    duplicated = sum(o.duplicated for o in outcomes.values())
    unreceipted = sum(o.unreceipted for o in outcomes.values())
    print(
        f"\nfault campaign seed={seed} {backend}: {signed} statements "
        f"({', '.join(f'{k} {o.signed}' for k, o in outcomes.items())}; "
        f"{sum(len(s) for s in sent.values())} answered 201), "
        f"{campaign.injected()} faults ({campaign.while_sending} while sending): "
        + ", ".join(f"{f} {network[f]}" for f in Fault)
        + f", kills {sum(campaign.kills.values())} "
        f"({', '.join(f'{p} {campaign.kills[p]}' for p in KILL_POINTS)}); "
        f"lost {lost}, duplicated {duplicated}, unreceipted {unreceipted}; "
        f"{checkpoints} cosigned checkpoints consistent; alarms {alarms or 'none'}; "
        f"{time.monotonic() - started:.0f} s"
    )
    assert signed >= size.statements
    assert campaign.injected() >= size.faults
    assert lost == 0
    assert duplicated == 0
    assert unreceipted == 0
    assert "equivocation" not in alarms
    for node in (us, prc):
        _every_signed_statement_is_a_leaf(node)
