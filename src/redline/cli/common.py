"""What every ``redline`` command shares: one-line errors and opening a node."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import typer

from redline.core.errors import RedlineError
from redline.node import NodeDir, load_node
from redline.service.node import NodeService
from redline.store.db import open_store

__all__ = ["fail", "guard", "open_service"]

T = TypeVar("T")


def fail(message: str) -> None:
    """Print ``error: message`` to stderr and exit with status 2."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


def guard(action: Callable[[], T]) -> T:
    """Run ``action``; a :class:`RedlineError` becomes a one-line error and exit 2."""
    try:
        return action()
    except RedlineError as exc:
        fail(str(exc))
        raise  # unreachable: fail exits


@contextmanager
def open_service(path: Path) -> Iterator[tuple[NodeDir, NodeService]]:
    """Open the node directory ``path`` and its database, as a service."""
    node = guard(lambda: load_node(path))
    store = guard(lambda: open_store(node.database_url))
    try:
        yield (
            node,
            NodeService(party=node.config.party, signing_key=node.signing_key(), store=store),
        )
    finally:
        store.dispose()
