"""The hotline domain, sans-IO: directory, mechanisms, lifecycles, requests, calls, board.

Nothing here does I/O or reads the clock: every fold takes ``now`` as an
aware UTC datetime. The public history (:mod:`.history`) is the one reader
of a packaged data file, through :mod:`importlib.resources`.
"""

from __future__ import annotations

from redline.core.hotline import kinds as kinds
from redline.core.hotline.board import Board, Contact, ContactKind, build_board
from redline.core.hotline.calls import Call, CallEvent, CallView, call_state, call_view, place_call
from redline.core.hotline.directory import (
    CounterpartDeclaration,
    CounterpartView,
    Directory,
    Holding,
    Level,
    Office,
    Party,
    counterpart_view,
    holder_on,
)
from redline.core.hotline.history import PublicHistory, load_history
from redline.core.hotline.lifecycle import TABLES, Precedence, TransitionTable, transition
from redline.core.hotline.mechanism import Mechanism, MechanismEvent, mechanism_status
from redline.core.hotline.requests import (
    EngagementRequest,
    Response,
    Window,
    due,
    propose,
    request_outcome,
    request_state,
)

__all__ = [
    "TABLES",
    "Board",
    "Call",
    "CallEvent",
    "CallView",
    "Contact",
    "ContactKind",
    "CounterpartDeclaration",
    "CounterpartView",
    "Directory",
    "EngagementRequest",
    "Holding",
    "Level",
    "Mechanism",
    "MechanismEvent",
    "Office",
    "Party",
    "Precedence",
    "PublicHistory",
    "Response",
    "TransitionTable",
    "Window",
    "build_board",
    "call_state",
    "call_view",
    "counterpart_view",
    "due",
    "holder_on",
    "load_history",
    "mechanism_status",
    "place_call",
    "propose",
    "request_outcome",
    "request_state",
    "transition",
]
