"""``redline demo`` gives each node a console operator whose password it prints."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from redline.demo import DEMO_OPERATOR, demo_password, prepare_demo
from redline.service.node import system_clock
from redline.service.operators import OperatorService
from redline.store.db import open_store
from support.nodes import free_port


def test_each_demo_node_has_an_operator_who_can_sign_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REDLINE_DEMO_PORTS", ",".join(str(free_port()) for _ in range(4)))
    nodes = prepare_demo(tmp_path)
    passwords = [demo_password(n) for n in nodes]
    prepare_demo(tmp_path)  # a second start keeps the operator and the password
    assert [demo_password(n) for n in nodes] == passwords and len(set(passwords)) == 2
    for node in nodes:
        mode = (node.path / "demo-operator.txt").stat().st_mode
        assert stat.S_IMODE(mode) == 0o600
        store = open_store(node.database_url)
        try:
            operators = OperatorService(store, clock=system_clock)
            signed = operators.sign_in(DEMO_OPERATOR, demo_password(node), client="test")
            assert signed.operator.role.value == "admin"
            assert signed.operator.lang == ("zh" if node.config.party == "prc" else "en")
            assert [o.name for o in operators.all()] == [DEMO_OPERATOR]
        finally:
            store.dispose()
