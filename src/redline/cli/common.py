"""What every ``redline`` command shares: one-line errors, safe output, opening a node.

Text a peer wrote (subjects, names, alarm messages, a bundle's report) is
printed through :func:`echo_safe`, :func:`echo_table` or :func:`echo_json`,
never raw: control and bidirectional characters are shown escaped (``\x1b``,
``\u202e``).
"""

from __future__ import annotations

import io
import json
import shutil
import sys
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich import box
from rich.cells import cell_len
from rich.console import Console
from rich.table import Table
from rich.text import Text

from redline.core.errors import RedlineError
from redline.core.text import printable, printable_json
from redline.node import NodeDir, load_node
from redline.service.hotline import HotlineService
from redline.service.node import NodeService
from redline.store.db import open_store

__all__ = [
    "DirArg",
    "JsonOpt",
    "duration",
    "echo_json",
    "echo_safe",
    "echo_table",
    "fail",
    "guard",
    "open_hotline",
    "open_service",
]

T = TypeVar("T")

#: The node directory, the first argument of nearly every command.
DirArg = Annotated[Path, typer.Argument(metavar="DIR", help="The node directory.")]
#: ``--json``: a flag, so its help shows no value placeholder.
JsonOpt = Annotated[bool, typer.Option("--json", metavar="", help="Print JSON.")]

# Piped output is never cut to a window's width: wide enough for any row.
_UNLIMITED_WIDTH = 100_000
# In a terminal, the least width a wrapping column (a subject) is given.
_MIN_WRAP_WIDTH = 20


def echo_safe(line: str, *, err: bool = False) -> None:
    """Print one line, its control and bidirectional characters escaped visibly."""
    typer.echo(printable(line), err=err)


def echo_table(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    empty: str,
    wrap: Collection[int] | None = None,
    right: Collection[int] = (),
) -> None:
    """Print ``rows`` as a table, each cell escaped as :func:`echo_safe` escapes a line.

    In a terminal the table has a header row and fits the window: the columns
    whose index is in ``wrap`` (by default the last) wrap, the others keep
    their width. Piped, it prints the same columns without the header, one
    row a line and never cut, so ``grep`` and ``awk`` see whole rows. With no
    rows it prints ``empty`` instead (``no messages``). Columns whose index
    is in ``right`` are right-aligned. Cells are plain text, never rich
    markup. Raises nothing.
    """
    if not rows:
        typer.echo(empty)
        return
    terminal = sys.stdout.isatty()
    cells = [[printable(cell) for cell in row] for row in rows]
    table = Table(
        box=box.SIMPLE_HEAD if terminal else None,
        show_header=terminal,
        show_edge=False,
        pad_edge=False,
        padding=(0, 1, 0, 0),
        header_style="bold",
    )
    wrapping = {len(headers) - 1} if wrap is None else wrap
    for index, header in enumerate(headers):
        table.add_column(
            header,
            justify="right" if index in right else "left",
            no_wrap=not terminal or index not in wrapping,
            overflow="fold",
        )
    for row in cells:
        table.add_row(*(Text(cell) for cell in row))
    width = _UNLIMITED_WIDTH
    if terminal:
        # A window too narrow for the fixed columns and a few words of the
        # wrapping ones gets a wider table (the terminal folds its lines)
        # rather than columns one character wide.
        fixed = sum(
            max(cell_len(text) for text in [header, *(row[index] for row in cells)]) + 2
            for index, header in enumerate(headers)
            if index not in wrapping
        )
        width = max(shutil.get_terminal_size().columns, fixed + _MIN_WRAP_WIDTH * len(wrapping))
    buffer = io.StringIO()
    console = Console(
        file=buffer,
        width=width,
        force_terminal=terminal,
        color_system="standard" if terminal else None,
        highlight=False,
        emoji=False,
    )
    console.print(table)
    # Rich pads each cell to its column's width; a row's trailing blanks carry nothing.
    typer.echo("\n".join(line.rstrip() for line in buffer.getvalue().splitlines()))


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


@contextmanager
def open_hotline(path: Path) -> Iterator[HotlineService]:
    """The hotline service of the node at ``path``, with its configured name and
    time horizon; the store is closed on exit. Fails (exit 2) as
    :func:`open_service` does."""
    with open_service(path) as (node, service):
        yield HotlineService(
            service,
            node_path=node.path,
            name=node.config.name,
            horizon=timedelta(days=node.config.time_horizon_days),
        )


def duration(seconds: int) -> str:
    """Time left as a watch officer reads it: 47h 59m, 12m 5s. Raises nothing."""
    hours, rest = divmod(max(0, int(seconds)), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m {secs:02d}s"
