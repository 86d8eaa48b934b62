"""Two real node processes: each witnesses the other's log; a bundle verifies offline."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from redline.core import merkle
from redline.core.checkpoint import open_checkpoint
from redline.core.note import Verifier
from redline.store.repo import DbHashReader
from support.nodes import NodeProcess, cosigned_checkpoints, pair, wait_until

pytestmark = pytest.mark.slow


def _send_both_ways(us: NodeProcess, prc: NodeProcess, count: int) -> list[str]:
    """Send ``count`` messages each way; return the ids of those from us."""
    sent: list[str] = []
    for node, to in ((us, "prc"), (prc, "us")):
        with node.api() as api:
            for i in range(count):
                response = api.post(
                    "/api/v1/messages",
                    json={"to": to, "precedence": "immediate", "subject": f"{i}", "text": "t"},
                )
                assert response.status_code == 201, response.text
                if node is us:
                    sent.append(response.json()["id"])
    return sent


def _fully_witnessed(log: NodeProcess, witness: NodeProcess) -> bool:
    status = log.status()
    checkpoint = status["record"]["checkpoint"]
    return (
        status["outbox"] == 0
        and checkpoint is not None
        and checkpoint["size"] == status["log_size"]
        and witness.party in checkpoint["cosigned_by"]
    )


def test_each_node_witnesses_the_other(
    make_node: Callable[..., NodeProcess], tmp_path: Path
) -> None:
    us = make_node("us", "US Department of Defense")
    prc = make_node("prc", "PRC Ministry of National Defense")
    pair(us, prc)
    us.start()
    prc.start()
    from_us: list[str] = []
    for round_ in range(3):
        from_us += _send_both_ways(us, prc, 20)
        if round_ == 2:
            # The PRC operator reads one US message: an ack, over the link.
            wait_until(lambda: us.status()["outbox"] == 0, timeout=30, what="delivered to prc")
            with prc.api() as api:
                response = api.post(f"/api/v1/messages/{from_us[0]}/ack")
                assert response.status_code == 201, response.text
        wait_until(
            lambda: _fully_witnessed(us, prc) and _fully_witnessed(prc, us),
            timeout=60,
            interval=0.5,
            what="both logs witnessed",
        )

    for log, witness in ((us, prc), (prc, us)):
        cosigned = cosigned_checkpoints(log, witness)
        assert len(cosigned) >= 3
        log_key = Verifier.parse(log.dir.identity().log_vkey)
        witness_key = Verifier.parse(witness.dir.identity().witness_vkey)
        for _size, _root, note in cosigned:
            signed = open_checkpoint(
                note.encode(), log=log_key, cosigners=[witness_key], min_cosignatures=1
            )
            assert signed.cosigned_by(witness_key) is not None
        # Consistency holds from every earlier cosigned size to every later one.
        with log.store.read() as conn:
            reader = DbHashReader(conn)
            for i, (size1, root1, _) in enumerate(cosigned):
                for size2, root2, _ in cosigned[i + 1 :]:
                    merkle.verify_consistency(
                        size1=size1,
                        size2=size2,
                        proof=merkle.prove_tree(size2, size1, reader),
                        root1=root1,
                        root2=root2,
                    )
        # The witness holds the log's latest checkpoint as cosigned.
        assert witness.status()["record"]["witnessed"][log.party]["size"] == cosigned[-1][0]

    bundle = tmp_path / "bundle"
    trust = []
    for node in (us, prc):
        path = tmp_path / f"{node.party}.json"
        path.write_text(json.dumps(node.dir.identity().to_json()))
        trust += ["--trust", str(path)]
    redline = [sys.executable, "-m", "redline"]
    subprocess.run([*redline, "export", str(us.dir.path), "--out", str(bundle)], check=True)
    result = subprocess.run(
        [*redline, "verify", str(bundle), *trust, "--json"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["statements"] >= 120  # 60 messages each way, plus receipts
    outcomes = {f["statement"]: f["outcome"] for f in report["findings"]}
    assert outcomes[from_us[0]] == "answered"  # the ack, linked on both sides
    assert {outcomes[i] for i in from_us[1:]} == {"open"}  # receipted, unread, in time
    # Tampering with the exported evidence is caught and named.
    leaf = next((bundle / "prc" / "leaves").iterdir())
    tampered = bytearray(leaf.read_bytes())
    tampered[len("redline-statement/v1\nkind ")] ^= 0x01
    leaf.write_bytes(bytes(tampered))
    result = subprocess.run(
        [*redline, "verify", str(bundle), *trust], capture_output=True, text=True
    )
    assert result.returncode == 1
    assert f"prc/leaves/{leaf.name}" in result.stderr
