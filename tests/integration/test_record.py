"""The cosigned record, in process: witnessing, equivocation, bundles, tampering."""

from __future__ import annotations

import base64
import json
import shutil
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

import redline.core.hotline.kinds  # noqa: F401  (registers the request kind)
from redline.core import merkle
from redline.core.checkpoint import Checkpoint, open_checkpoint, sign_checkpoint
from redline.core.errors import (
    Equivocation,
    InvalidNote,
    InvalidProof,
    InvalidStatement,
    NotFound,
    VerificationError,
)
from redline.core.leaf import leaf_record
from redline.core.note import Signer, Verifier
from redline.core.statement import Statement, format_time
from redline.core.witness_wire import (
    BadWitnessRequest,
    WitnessSizeMismatch,
    format_add_checkpoint,
)
from redline.service.export import export_bundle
from redline.store.schema import alarms, checkpoints, statements
from redline.verify import verify_bundle
from support.pair import MemoryPair


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[MemoryPair]:
    joined = MemoryPair(tmp_path)
    yield joined
    joined.close()


def _traffic(pair: MemoryPair, count: int = 3) -> None:
    for i in range(count):
        pair.us.service.send_message(to="prc", precedence="flash", subject=f"us {i}", text="x")
        pair.prc.service.send_message(to="us", precedence="routine", subject=f"prc {i}", text="y")
    pair.deliver()


def _identities(pair: MemoryPair) -> list:  # type: ignore[type-arg]
    return [pair.us.dir.identity(), pair.prc.dir.identity()]


def test_each_node_cosigns_the_other_and_consistency_holds(pair: MemoryPair) -> None:
    sizes = []
    for _ in range(3):
        _traffic(pair)
        pair.witness()
        checkpoint = pair.us.record.latest_checkpoint(cosigned_by="prc")
        assert checkpoint is not None
        sizes.append(checkpoint)
    # Every cosigned checkpoint of the US log is consistent with the next one.
    with pair.us.store.read() as conn:
        from redline.store.repo import DbHashReader

        reader = DbHashReader(conn)
        for old, new in zip(sizes, sizes[1:], strict=False):
            proof = merkle.prove_tree(new.size, old.size, reader)
            merkle.verify_consistency(
                size1=old.size,
                size2=new.size,
                proof=proof,
                root1=old.root_hash,
                root2=new.root_hash,
            )
    # The PRC witnessed the US log up to its latest checkpoint, with every
    # statement it received proven included.
    assert pair.prc.record.latest_checkpoint("us", cosigned_by="prc").size == sizes[-1].size
    assert pair.prc.record.unproven_count() == 0
    assert pair.us.record.unproven_count() == 0


def test_a_stale_old_size_gets_409_with_the_witness_size(pair: MemoryPair) -> None:
    _traffic(pair)
    pair.witness()
    _traffic(pair)
    latest = pair.us.record.checkpoint_if_due(every=1, interval=0)
    assert latest is not None
    request = pair.us.record.add_checkpoint_body("prc", old=0)
    assert request is not None
    with pytest.raises(WitnessSizeMismatch) as caught:
        pair.prc.record.add_checkpoint("us", request[1])
    assert caught.value.size == pair.prc.record.latest_checkpoint("us", cosigned_by="prc").size


def test_bad_signature_unknown_origin_and_malformed_body(pair: MemoryPair) -> None:
    _traffic(pair)
    pair.us.record.checkpoint_if_due(every=1, interval=0)
    latest = pair.us.record.latest_checkpoint()
    assert latest is not None
    impostor = Signer("redline.us/log", b"\x07" * 32)  # the US log's name, another key
    forged_by_prc = sign_checkpoint(
        Checkpoint("redline.us/log", latest.size, latest.root_hash), impostor
    )
    with pytest.raises(InvalidNote):  # 403: no valid signature by the US log key
        pair.prc.record.add_checkpoint("us", format_add_checkpoint(0, [], forged_by_prc))
    other_origin = sign_checkpoint(
        Checkpoint("redline.prc/log", latest.size, latest.root_hash), pair.prc.dir.log_signer()
    )
    with pytest.raises(NotFound):  # 404: not the US log's origin
        pair.prc.record.add_checkpoint("us", format_add_checkpoint(0, [], other_origin))
    with pytest.raises(BadWitnessRequest):  # 400
        pair.prc.record.add_checkpoint("us", b"old 01\n\n" + latest.note.encode())


def _forge(pair: MemoryPair, size: int, root: bytes) -> bytes:
    return sign_checkpoint(Checkpoint("redline.us/log", size, root), pair.us.dir.log_signer())


def _count(node, table) -> int:  # type: ignore[no-untyped-def]
    with node.store.read() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def test_two_checkpoints_for_one_size_is_equivocation(pair: MemoryPair) -> None:
    _traffic(pair)
    pair.witness()
    cosigned = pair.prc.record.latest_checkpoint("us", cosigned_by="prc")
    assert cosigned is not None
    other_root = bytes(32)
    forged = _forge(pair, cosigned.size, other_root)
    with pytest.raises(Equivocation):
        pair.prc.record.add_checkpoint("us", format_add_checkpoint(cosigned.size, [], forged))
    with pair.prc.store.read() as conn:
        alarm = conn.execute(select(alarms)).one()
        kept = conn.execute(
            select(checkpoints.c.root_hash).where(
                (checkpoints.c.party == "us") & (checkpoints.c.size == cosigned.size)
            )
        ).all()
    assert alarm.kind == "equivocation" and alarm.peer == "us"
    evidence = json.loads(alarm.evidence)
    assert evidence["cosigned"] == cosigned.note and evidence["shown"] == forged.decode()
    # Both signed checkpoints are kept, and each really carries the US log's signature.
    assert {bytes(r.root_hash) for r in kept} == {cosigned.root_hash, other_root}
    log_key = Verifier.parse(pair.us.dir.identity().log_vkey)
    for note in (cosigned.note.encode(), forged):
        open_checkpoint(note, log=log_key)
    # It shows in the operator's status.
    assert pair.prc.service.status()["alarms"][0]["kind"] == "equivocation"
    # And the witness will not cosign a third view at that size either.
    with pytest.raises(Equivocation):
        pair.prc.record.add_checkpoint(
            "us", format_add_checkpoint(cosigned.size, [], _forge(pair, cosigned.size, b"\1" * 32))
        )


def test_a_proof_that_does_not_connect_is_refused_and_kept(pair: MemoryPair) -> None:
    _traffic(pair)
    pair.witness()
    cosigned = pair.prc.record.latest_checkpoint("us", cosigned_by="prc")
    assert cosigned is not None
    forged = _forge(pair, cosigned.size + 5, bytes(32))
    with pytest.raises(InvalidProof):
        pair.prc.record.add_checkpoint(
            "us", format_add_checkpoint(cosigned.size, [bytes(32)], forged)
        )
    assert _count(pair.prc, alarms) == 1


def test_witness_refuses_a_log_that_left_out_its_statement(pair: MemoryPair) -> None:
    # The US log shows the PRC a tree that lacks a message it sent the PRC,
    # though the tree runs past that message's time: a statement left out.
    _traffic(pair, count=1)
    left_out = pair.us.service.send_message(
        to="prc", precedence="flash", subject="later denied", text="x"
    )
    pair.deliver()
    pair.clock.advance(minutes=5)
    pair.us.service.send_message(to="prc", precedence="routine", subject="after", text="y")
    pair.deliver()
    with pair.us.store.read() as conn:
        from redline.store.repo import leaves_between, log_size

        honest = leaves_between(conn, 0, log_size(conn))
    forged = [r for r in honest if left_out.id.encode() not in r]
    store = merkle.MemoryHashStore()
    for record in forged:
        store.append(record)
    note = _forge(pair, len(forged), store.tree_hash())
    pair.prc.record.fetch_leaves = lambda peer, start, end: forged[start:end]
    with pytest.raises(InvalidProof, match="missing from us's log"):
        pair.prc.record.add_checkpoint("us", format_add_checkpoint(0, [], note))
    assert pair.prc.record.latest_checkpoint("us", cosigned_by="prc") is None
    assert pair.prc.service.status()["alarms"][0]["kind"] == "equivocation"


def test_witness_refuses_leaves_that_do_not_hash_to_the_checkpoint(pair: MemoryPair) -> None:
    _traffic(pair)
    pair.us.record.checkpoint_if_due(every=1, interval=0)
    real = pair.prc.record.fetch_leaves
    assert real is not None
    pair.prc.record.fetch_leaves = lambda peer, start, end: list(reversed(real(peer, start, end)))
    request = pair.us.record.add_checkpoint_body("prc")
    assert request is not None
    with pytest.raises(InvalidProof, match="do not hash"):
        pair.prc.record.add_checkpoint("us", request[1])


def test_cosignature_from_the_wrong_key_is_refused(pair: MemoryPair) -> None:
    _traffic(pair)
    checkpoint = pair.us.record.checkpoint_if_due(every=1, interval=0)
    assert checkpoint is not None
    line = pair.us.dir.witness_signer().cosign(
        Checkpoint.parse(checkpoint.note.split("\n\n")[0] + "\n").format(), timestamp=1
    )
    with pytest.raises(VerificationError):
        pair.us.record.store_cosignatures("prc", checkpoint.id, line)


# -- bundles ------------------------------------------------------------------------


@pytest.fixture
def bundle(pair: MemoryPair, tmp_path: Path) -> Path:
    _traffic(pair, count=2)
    pair.witness()
    out = tmp_path / "bundle"
    export_bundle(pair.us.record, out)
    return out


def test_exported_bundle_verifies(pair: MemoryPair, bundle: Path) -> None:
    report = verify_bundle(bundle, trusted=_identities(pair))
    assert report.statements == 6  # from each side: 2 messages and 1 receipt for both
    # The FLASH messages arrived (the PRC node's receipts) but no operator has
    # acknowledged them, and their 10-minute deadline has not passed: open.
    flash = [f for f in report.findings if f["from"] == "us"]
    assert len(flash) == 2
    assert all(f["outcome"] == "open" for f in flash)
    assert all("received 2026-" in line for line in report.lines if "FLASH" in line.upper())


def test_a_bundle_is_readable_by_its_owner_only(bundle: Path) -> None:
    # It holds every exported statement in full: folders 0700, files 0600.
    for path in [bundle, *bundle.rglob("*")]:
        want = 0o700 if path.is_dir() else 0o600
        assert path.stat().st_mode & 0o777 == want, path


def test_verify_fails_closed_without_trust(pair: MemoryPair, bundle: Path) -> None:
    with pytest.raises(Exception, match="no trusted identities"):
        verify_bundle(bundle, trusted=[])
    with pytest.raises(VerificationError, match="not among the trusted"):
        verify_bundle(bundle, trusted=[pair.us.dir.identity()])


def test_a_subset_still_verifies(pair: MemoryPair, bundle: Path) -> None:
    statements = sorted((bundle / "prc" / "statements").iterdir())
    for dropped in statements[:2]:
        statement_id = dropped.name.removesuffix(".json")
        dropped.unlink()
        (bundle / "prc" / "leaves" / statement_id).unlink()
        (bundle / "prc" / "proofs" / f"{statement_id}.tlog-proof").unlink()
    report = verify_bundle(bundle, trusted=_identities(pair))
    assert report.statements == 4


def _files(bundle: Path) -> list[Path]:
    return [
        next((bundle / "us" / "leaves").iterdir()),
        next((bundle / "prc" / "statements").iterdir()),
        bundle / "us" / "checkpoint",
        next((bundle / "prc" / "proofs").iterdir()),
        bundle / "prc" / "log",
    ]


@pytest.mark.parametrize("which", ["leaf", "statement", "checkpoint", "proof", "log"])
def test_flipping_any_single_byte_fails_verification(
    pair: MemoryPair, bundle: Path, tmp_path: Path, which: str
) -> None:
    names = ["leaf", "statement", "checkpoint", "proof", "log"]
    target = dict(zip(names, _files(bundle), strict=True))[which]
    original = target.read_bytes()
    trusted = _identities(pair)
    relative = target.relative_to(bundle)
    failures = set()
    for position in range(len(original)):
        flipped = bytearray(original)
        flipped[position] ^= 0x01
        target.write_bytes(bytes(flipped))
        with pytest.raises(VerificationError) as caught:
            verify_bundle(bundle, trusted=trusted)
        failures.add(caught.value.field)
    target.write_bytes(original)
    verify_bundle(bundle, trusted=trusted)
    # Each failure names a file of the bundle; a flip in this file names this file
    # or, for a statement, the id it no longer hashes to.
    assert all(f and f.split("/")[0] in ("us", "prc") for f in failures)
    assert str(relative) in failures or which == "statement"


def test_flipping_a_cosignature_byte_names_the_checkpoint(pair: MemoryPair, bundle: Path) -> None:
    target = bundle / "us" / "checkpoint"
    note = target.read_bytes()
    cosig_start = note.rindex("— redline.prc/witness ".encode()) + len("— redline.prc/witness ")
    for position in range(cosig_start, len(note) - 1):
        flipped = bytearray(note)
        flipped[position] ^= 0x01
        target.write_bytes(bytes(flipped))
        with pytest.raises(VerificationError) as caught:
            verify_bundle(bundle, trusted=_identities(pair))
        assert caught.value.field == "us/checkpoint"
    target.write_bytes(note)


def _request(pair: MemoryPair, request_id: str, deadline_hour: int = 10) -> Statement:
    clock = pair.clock
    return pair.us.service.send(
        to="prc",
        kind="request",
        body={
            "id": request_id,
            "from_office": "us-secdef",
            "to_office": "prc-cmc-vice-chairman",
            "mechanism": "dtl",
            "mode": "call",
            "windows": [
                {
                    "start": format_time(clock.now.replace(hour=12)),
                    "end": format_time(clock.now.replace(hour=13)),
                }
            ],
            "deadline": format_time(clock.now.replace(hour=deadline_hour)),
            "agenda": ["Unsafe intercepts"],
            "notes": [],
        },
    )


def _finding(report, statement: Statement) -> dict:  # type: ignore[no-untyped-def, type-arg]
    (finding,) = [f for f in report.findings if f["statement"] == statement.id]
    return finding


def _decline(pair: MemoryPair, request_id: str) -> Statement:
    return pair.prc.service.send(
        to="us",
        kind="response",
        body={"request": request_id, "action": "decline", "reason": "Not now"},
    )


def test_did_not_respond_is_a_verifiable_fact(pair: MemoryPair, tmp_path: Path) -> None:
    request = _request(pair, "req-austin-1")
    pair.deliver()
    pair.witness()
    pair.clock.advance(hours=3)  # past the deadline, with no response
    pair.prc.service.send_message(to="us", precedence="routine", subject="weather", text="")
    pair.deliver()
    pair.witness()
    out = tmp_path / "evidence"
    export_bundle(pair.us.record, out)
    report = verify_bundle(out, trusted=_identities(pair))
    finding = _finding(report, request)
    assert finding["outcome"] == "no-response"
    assert finding["evidence"]["log"] == "prc"
    # The PRC's own leaf times, in its whole log, run past the deadline.
    assert finding["evidence"]["last_leaf_time"] > finding["deadline"]
    assert any("NO RESPONSE" in line for line in report.lines)


def test_a_reply_before_the_deadline_is_answered(pair: MemoryPair, tmp_path: Path) -> None:
    request = _request(pair, "req-2")
    pair.deliver()
    pair.clock.advance(minutes=30)
    _decline(pair, "req-2")
    pair.deliver()
    pair.clock.advance(hours=3)
    pair.prc.service.send_message(to="us", precedence="routine", subject="later", text="")
    pair.deliver()
    pair.witness()
    out = tmp_path / "evidence"
    export_bundle(pair.us.record, out)
    assert _finding(verify_bundle(out, trusted=_identities(pair)), request)["outcome"] == (
        "answered"
    )


def test_a_withheld_reply_makes_no_response_unprovable(pair: MemoryPair, tmp_path: Path) -> None:
    # Deleting the reply's files from the bundle must not turn "answered" into
    # "no response": the whole log shows an undisclosed statement that may be it.
    request = _request(pair, "req-3")
    pair.deliver()
    pair.clock.advance(minutes=30)
    reply = _decline(pair, "req-3")
    pair.deliver()
    pair.clock.advance(hours=3)
    pair.prc.service.send_message(to="us", precedence="routine", subject="later", text="")
    pair.deliver()
    pair.witness()
    out = tmp_path / "evidence"
    export_bundle(pair.us.record, out)
    (out / "prc" / "statements" / f"{reply.id}.json").unlink()
    (out / "prc" / "leaves" / reply.id).unlink()
    (out / "prc" / "proofs" / f"{reply.id}.tlog-proof").unlink()
    finding = _finding(verify_bundle(out, trusted=_identities(pair)), request)
    assert finding["outcome"] == "unknown"
    # An honest export filtered to before the reply says the same.
    filtered = tmp_path / "filtered"
    export_bundle(pair.us.record, filtered, until=pair.clock.now.replace(hour=8, minute=10))
    finding = _finding(verify_bundle(filtered, trusted=_identities(pair)), request)
    assert finding["outcome"] == "unknown"


def test_a_late_reply_is_answered_late_and_says_if_it_arrived(
    pair: MemoryPair, tmp_path: Path
) -> None:
    request = _request(pair, "req-5")
    pair.deliver()
    pair.clock.advance(hours=3)  # the deadline (10:00) passes
    # The PRC signs a decline after the deadline and never delivers it.
    pair.prc.service.send(
        to="us", kind="response", body={"request": "req-5", "action": "decline", "reason": "Late"}
    )
    pair.prc.service.send_message(to="us", precedence="routine", subject="later", text="")
    pair.witness()
    # Exported by the PRC, which holds its own late reply.
    out = tmp_path / "by-prc"
    export_bundle(pair.prc.record, out)
    finding = _finding(verify_bundle(out, trusted=_identities(pair)), request)
    assert finding["outcome"] == "answered-late"


def test_a_flash_message_with_no_receipt_past_its_window(pair: MemoryPair, tmp_path: Path) -> None:
    # The PRC node logs no receipt for a FLASH message, though its log runs on.
    flash = pair.us.service.send_message(to="prc", precedence="flash", subject="f", text="")
    pair.clock.advance(minutes=30)
    pair.prc.service.send_message(to="us", precedence="routine", subject="other", text="")
    wires = pair.prc.service.due("us", 10)
    result = pair.us.service.receive("prc", [Statement.from_wire(w) for w in wires])
    pair.prc.service.take_receipts("us", [Statement.from_wire(w) for w in result.receipts])
    pair.witness()
    out = tmp_path / "evidence"
    export_bundle(pair.us.record, out)
    finding = _finding(verify_bundle(out, trusted=_identities(pair)), flash)
    assert finding["outcome"] == "no-response"


def test_our_late_cosignature_alone_does_not_prove_silence(
    pair: MemoryPair, tmp_path: Path
) -> None:
    # The requester cosigns the peer's log after the deadline, but the peer's
    # own log does not run past it: that is not proof the peer ignored it.
    request = _request(pair, "req-4")
    pair.deliver()
    pair.clock.advance(hours=3)
    pair.witness()
    out = tmp_path / "evidence"
    export_bundle(pair.us.record, out)
    assert _finding(verify_bundle(out, trusted=_identities(pair)), request)["outcome"] == "open"


def test_unknown_party_log_in_bundle_is_refused(pair: MemoryPair, bundle: Path) -> None:
    shutil.copytree(bundle / "prc", bundle / "zz")
    with pytest.raises(VerificationError, match="not among the trusted"):
        verify_bundle(bundle, trusted=_identities(pair))


def test_base64_helper_roundtrip() -> None:
    assert base64.b64decode(base64.b64encode(b"x")) == b"x"


def test_a_line_planted_in_the_peers_note_does_not_spoil_our_evidence(
    pair: MemoryPair, tmp_path: Path
) -> None:
    # The PRC log appends a garbage "signature" in the US witness's name to its
    # checkpoint; the US node must keep only the log's own signature.
    _traffic(pair)
    pair.witness()
    _traffic(pair)
    checkpoint = pair.prc.record.checkpoint_if_due(every=1, interval=0)
    assert checkpoint is not None
    request = pair.prc.record.add_checkpoint_body("us")
    assert request is not None
    us_witness = Verifier.parse(pair.us.dir.identity().witness_vkey)
    garbage = us_witness.key_hash.to_bytes(4, "big") + bytes(72)
    planted = request[1] + f"— {us_witness.name} {base64.b64encode(garbage).decode()}\n".encode()
    lines = pair.us.record.add_checkpoint("prc", planted)
    pair.prc.record.store_cosignatures("us", request[0], lines)
    out = tmp_path / "evidence"
    export_bundle(pair.us.record, out)
    assert verify_bundle(out, trusted=_identities(pair)).statements > 0


def test_asking_again_for_a_cosignature_gets_the_same_one(pair: MemoryPair) -> None:
    _traffic(pair)
    pair.us.record.checkpoint_if_due(every=1, interval=0)
    request = pair.us.record.add_checkpoint_body("prc")
    assert request is not None
    first = pair.prc.record.add_checkpoint("us", request[1])
    size = pair.us.record.latest_checkpoint().size
    # The answer was lost; the log asks again from the size the witness now holds.
    again = pair.us.record.add_checkpoint_body("prc", old=size)
    assert again is not None
    assert pair.prc.record.add_checkpoint("us", again[1]) == first


def test_a_backdated_leaf_is_refused(pair: MemoryPair) -> None:
    # A reply dated before a deadline it missed would sit after later leaves.
    pair.us.service.send_message(to="prc", precedence="routine", subject="first", text="")
    pair.deliver()
    with pair.us.store.read() as conn:
        from redline.store.repo import leaves_between, log_size

        honest = leaves_between(conn, 0, log_size(conn))
    backdated = Statement.create(
        key=pair.us.dir.signing_key(),
        sender="us",
        to="prc",
        kind="message",
        seq=99,
        time=pair.clock.now - timedelta(minutes=10),
        body={"precedence": "flash", "subject": "reply", "text": "", "lang": "en"},
    )
    forged = [*honest, leaf_record(backdated)]
    store = merkle.MemoryHashStore()
    for record in forged:
        store.append(record)
    pair.prc.record.fetch_leaves = lambda peer, start, end: forged[start:end]
    note = _forge(pair, len(forged), store.tree_hash())
    with pytest.raises(InvalidProof, match="before the leaf ahead of it"):
        pair.prc.record.add_checkpoint("us", format_add_checkpoint(0, [], note))
    assert pair.prc.service.status()["alarms"][0]["kind"] == "equivocation"


def test_a_clock_stepped_back_does_not_date_a_leaf_backwards(pair: MemoryPair) -> None:
    pair.us.service.send_message(to="prc", precedence="routine", subject="first", text="")
    first_time = pair.clock.now
    pair.clock.advance(minutes=-10)
    later = pair.us.service.send_message(to="prc", precedence="flash", subject="next", text="")
    assert later.sent_at >= first_time
    pair.clock.advance(minutes=10)
    pair.deliver()
    pair.witness()
    assert pair.prc.record.latest_checkpoint("us", cosigned_by="prc") is not None


def test_a_statement_dated_in_the_future_is_refused(pair: MemoryPair) -> None:
    pair.clock.advance(hours=1)
    pair.us.service.send_message(to="prc", precedence="flash", subject="ahead", text="")
    pair.clock.advance(hours=-1)
    wires = pair.us.service.due("prc", 10)
    with pytest.raises(InvalidStatement) as caught:
        pair.prc.service.receive("us", [Statement.from_wire(w) for w in wires])
    assert caught.value.field == "time"
    assert pair.prc.service.status()["statements"] == []


def test_a_non_empty_proof_from_size_zero_is_a_bad_request(pair: MemoryPair) -> None:
    _traffic(pair)
    checkpoint = pair.us.record.checkpoint_if_due(every=1, interval=0)
    assert checkpoint is not None
    with pytest.raises(BadWitnessRequest):  # tlog-witness: MUST be empty when old is 0
        pair.prc.record.add_checkpoint(
            "us", format_add_checkpoint(0, [bytes(32)], checkpoint.note.encode())
        )


def test_a_withheld_statement_raises_an_alarm(pair: MemoryPair) -> None:
    # The PRC logs a reply but never delivers it; the US witness sees its leaf.
    withheld = pair.prc.service.send(
        to="us", kind="response", body={"request": "r-x", "action": "decline", "reason": "no"}
    )
    pair.clock.advance(minutes=5)
    # The PRC's log runs on: its receipt for a later US message is a later leaf.
    pair.us.service.send_message(to="prc", precedence="routine", subject="later", text="")
    with pair.prc.store.write() as conn:  # drop the reply from the PRC outbox: withheld
        from sqlalchemy import delete

        from redline.store.schema import outbox

        conn.execute(delete(outbox).where(outbox.c.statement_id == withheld.id))
    pair.deliver()
    pair.witness()
    alarms = [a for a in pair.us.service.status()["alarms"] if a["kind"] == "undelivered"]
    assert len(alarms) == 1 and withheld.id in alarms[0]["evidence"]


def test_the_witness_looks_only_at_new_leaves_and_still_catches_a_later_withholding(
    pair: MemoryPair,
) -> None:
    from sqlalchemy import delete

    from redline.store import repo
    from redline.store.schema import outbox

    for _ in range(3):  # delivered traffic, witnessed a few times, minutes apart
        _traffic(pair)
        pair.clock.advance(minutes=2)
        pair.witness()
    with pair.us.store.read() as conn:
        looked_at = repo.undelivered_checked(conn, "prc")
    assert looked_at > 0  # the US witness has moved past the PRC's older leaves
    withheld = pair.prc.service.send_message(
        to="us", precedence="flash", subject="withheld", text="z"
    )
    with pair.prc.store.write() as conn:
        conn.execute(delete(outbox).where(outbox.c.statement_id == withheld.id))
    _us_only(pair)
    pair.witness()  # too recent to call undelivered: it may still be on its way
    assert not [a for a in pair.us.service.status()["alarms"] if a["kind"] == "undelivered"]
    pair.clock.advance(minutes=5)
    _us_only(pair)  # the PRC's log runs on (its receipts) past the withheld statement
    pair.witness()
    alarms_now = [a for a in pair.us.service.status()["alarms"] if a["kind"] == "undelivered"]
    assert len(alarms_now) == 1
    assert json.loads(alarms_now[0]["evidence"]) == [withheld.id]
    with pair.us.store.read() as conn:
        assert repo.undelivered_checked(conn, "prc") > looked_at
    pair.clock.advance(minutes=5)
    _us_only(pair)
    pair.witness()  # looked at once: the next checkpoint raises nothing new
    assert [a for a in pair.us.service.status()["alarms"] if a["kind"] == "undelivered"] == (
        alarms_now
    )
    assert pair.us.record.unproven_count() == 0


def _us_only(pair: MemoryPair) -> None:
    """US messages only: after a withheld PRC message, a later one would be a gap."""
    pair.us.service.send_message(to="prc", precedence="routine", subject="later", text="")
    pair.deliver()


def test_a_flash_message_is_answered_by_its_readers_ack_not_by_the_receipt(
    pair: MemoryPair, tmp_path: Path
) -> None:
    send = pair.us.service.send_message
    read = send(to="prc", precedence="flash", subject="read in time", text="")
    unread = send(to="prc", precedence="flash", subject="never read", text="")
    late = send(to="prc", precedence="immediate", subject="read late", text="")
    pair.deliver()
    pair.clock.advance(minutes=2)
    ack = pair.prc.service.acknowledge(read.id)
    pair.clock.advance(minutes=40)  # past both deadlines (10 and 30 minutes)
    pair.prc.service.acknowledge(late.id)
    pair.prc.service.send_message(to="us", precedence="routine", subject="later", text="")
    pair.deliver()
    pair.witness()
    with pair.us.store.read() as conn:
        linked = conn.execute(
            select(statements.c.ack_id).where(statements.c.id == read.id)
        ).scalar_one()
    assert linked == ack.id  # the US node linked the PRC operator's ack on receipt
    export_bundle(pair.us.record, tmp_path / "b")
    report = verify_bundle(tmp_path / "b", trusted=_identities(pair))
    outcomes = {f["statement"]: f["outcome"] for f in report.findings}
    assert outcomes[read.id] == "answered"
    assert outcomes[late.id] == "answered-late"
    # Delivered and receipted by the PRC node, never acknowledged, and the PRC's
    # whole log runs past the deadline: the verifiable "did not respond".
    assert outcomes[unread.id] == "no-response"
    assert any("acknowledged" in line and read.id[:16] in line for line in report.lines)


def test_a_checkpoint_witnessed_while_another_was_being_checked_is_refused_whole(
    pair: MemoryPair,
) -> None:
    """The witness fetches new leaves outside its write transaction; if another
    add-checkpoint lands meanwhile, the slower one is refused and stores nothing."""
    from redline.store import repo

    _traffic(pair)
    first = pair.prc.record.checkpoint_if_due(every=1, interval=0)
    _traffic(pair)
    pair.clock.advance(seconds=1)
    second = pair.prc.record.checkpoint_if_due(every=1, interval=0)
    assert first is not None and second is not None and first.size < second.size
    body_first = format_add_checkpoint(0, [], first.note.encode())
    body_second = format_add_checkpoint(0, [], second.note.encode())
    fetch = pair.us.record.fetch_leaves
    assert fetch is not None
    raced: list[bytes] = []

    def fetch_while_another_lands(peer: str, start: int, end: int) -> list[bytes]:
        if not raced:  # the slow request, between its checks and its write
            raced.append(b"")
            raced.append(pair.us.record.add_checkpoint("prc", body_first))
        return fetch(peer, start, end)

    pair.us.record.fetch_leaves = fetch_while_another_lands
    with pytest.raises(WitnessSizeMismatch):
        pair.us.record.add_checkpoint("prc", body_second)
    pair.us.record.fetch_leaves = fetch
    with pair.us.store.read() as conn:
        assert repo.peer_log_size(conn, "prc") == first.size  # only the first one's leaves
    # Asked again from the size it did cosign, the witness cosigns the second.
    request = pair.prc.record.add_checkpoint_body("us", old=first.size)
    assert request is not None
    assert pair.us.record.add_checkpoint("prc", request[1]) and raced[1]
    with pair.us.store.read() as conn:
        assert repo.peer_log_size(conn, "prc") == second.size
