"""What every ``redline`` command shares: one-line errors, safe output, opening a node.

Text a peer wrote (subjects, names, alarm messages, a bundle's report) is
printed through :func:`echo_safe` or :func:`echo_json`, never raw: control
and bidirectional characters are shown escaped (``\x1b``, ``\u202e``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import typer

from redline.core.errors import RedlineError
from redline.core.text import printable, printable_json
from redline.node import NodeDir, load_node
from redline.service.node import NodeService
from redline.store.db import open_store

__all__ = ["echo_json", "echo_safe", "fail", "guard", "open_service"]

T = TypeVar("T")


def echo_safe(line: str, *, err: bool = False) -> None:
    """Print one line, its control and bidirectional characters escaped visibly."""
    typer.echo(printable(line), err=err)


def echo_json(value: Any) -> None:
    """Print ``value`` as indented JSON, safe for a terminal (see ``printable_json``)."""
    typer.echo(printable_json(json.dumps(value, indent=2, ensure_ascii=False, default=str)))


def fail(message: str) -> None:
    """Print ``error: message`` to stderr and exit with status 2."""
    echo_safe(f"error: {message}", err=True)
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
