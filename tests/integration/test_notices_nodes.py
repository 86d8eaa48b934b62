"""Notices and a translation between two real node processes, over the link,
driven through the operator API, then exported and verified. Runs on SQLite
and PostgreSQL."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from support.nodes import NodeProcess, pair, wait_until
from support.notices import GOOD

pytestmark = pytest.mark.slow


def _notices(node: NodeProcess, lang: str = "en") -> list[dict[str, Any]]:
    with node.api() as api:
        response = api.get(f"/api/v1/notices?lang={lang}")
        assert response.status_code == 200, response.text
        rows: list[dict[str, Any]] = response.json()["notices"]
        return rows


def test_every_notice_type_crosses_the_link_and_reads_in_both_languages(
    make_node: Callable[..., NodeProcess], tmp_path: Path
) -> None:
    us = make_node("us", "US Department of Defense")
    prc = make_node("prc", "PRC Ministry of National Defense")
    pair(us, prc)
    us.start()
    prc.start()
    sent = []
    with us.api() as api:
        for body in GOOD:
            made = api.post("/api/v1/notices", json={"to": "prc", "notice": body})
            assert made.status_code == 201, made.text
            sent.append(made.json()["id"])
        refused = api.post(
            "/api/v1/notices",
            json={"to": "prc", "notice": {**GOOD[0], "cpa": {"value": "-1", "unit": "m"}}},
        )
        assert (refused.status_code, refused.json()["field"]) == (422, "notice.cpa.value")
    wait_until(lambda: len(_notices(prc)) == len(GOOD), timeout=30, what="notices delivered")
    assert sorted(r["id"] for r in _notices(prc)) == sorted(sent)  # the refused one never left
    with prc.api() as api:
        for notice_id, body in zip(sent, GOOD, strict=True):
            zh = api.get(f"/api/v1/notices/{notice_id}?lang=zh").json()
            en = api.get(f"/api/v1/notices/{notice_id[:12]}").json()
            assert zh["body"] == en["body"] == body and zh["direction"] == "in"
            assert zh["text"] != en["text"]
        # The PRC's operator translates the encounter report; the US node holds it.
        translated = api.post(
            "/api/v1/translations",
            json={"original": sent[0], "lang": "zh", "text": "不安全的前方横越。"},
        )
        assert translated.status_code == 201, translated.text

    def us_has_translation() -> bool:
        with us.api() as api:
            view = api.get(f"/api/v1/translations/{sent[0]}").json()
        return bool(view["translations"]) and view["original"]["authoritative"] is True

    wait_until(us_has_translation, timeout=30, what="translation delivered")

    # The notices are in the record: exported and verified like any statement.
    wait_until(
        lambda: _fully_witnessed(us, prc) and _fully_witnessed(prc, us),
        timeout=60,
        interval=0.5,
        what="both logs witnessed",
    )
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
    assert json.loads(result.stdout)["statements"] >= len(GOOD) + 1


def _fully_witnessed(log: NodeProcess, witness: NodeProcess) -> bool:
    status = log.status()
    checkpoint = status["record"]["checkpoint"]
    return (
        status["outbox"] == 0
        and checkpoint is not None
        and checkpoint["size"] == status["log_size"]
        and witness.party in checkpoint["cosigned_by"]
    )
