"""Fixtures shared by the integration, fault and browser tests."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from hypothesis import settings

from support.nodes import (
    REQUIRE_POSTGRES,
    NodeProcess,
    fresh_postgres_database,
    postgres_available,
)

# CI (.ci/run sets HYPOTHESIS_PROFILE=ci) replays the same examples every run, so
# a red build is a change's fault, not a draw's; a run elsewhere draws new ones,
# which is how the property tests find what CI has not seen.
settings.register_profile("ci", derandomize=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--long",
        action="store_true",
        default=False,
        help="run the fault campaign at full size (tests/fault/test_fault_campaign.py)",
    )


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    """Run a test once on SQLite and once on PostgreSQL."""
    if request.param == "postgresql":
        reason = postgres_available()
        if reason is not None:
            if REQUIRE_POSTGRES:
                pytest.fail(f"REDLINE_REQUIRE_POSTGRES=1 but {reason}")
            pytest.skip(reason)
    return str(request.param)


@pytest.fixture
def make_node(tmp_path: Path, backend: str) -> Iterator[Callable[..., NodeProcess]]:
    """Create nodes (not yet started) on the test's backend; stopped at teardown."""
    nodes: list[NodeProcess] = []
    with ExitStack() as stack:

        def make(party: str, name: str | None = None) -> NodeProcess:
            database = ""
            if backend == "postgresql":
                database = stack.enter_context(fresh_postgres_database())
            node = NodeProcess(
                tmp_path / party, party=party, name=name or f"{party} node", database=database
            )
            nodes.append(node)
            return node

        try:
            yield make
        finally:
            for node in nodes:
                node.close()
