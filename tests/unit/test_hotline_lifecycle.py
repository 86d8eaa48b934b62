"""Every lifecycle table: each legal step taken, each illegal one refused with state kept."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from redline.core.errors import Conflict, InvalidInput
from redline.core.hotline.lifecycle import (
    ACK_DEADLINES,
    CALL,
    ENGAGEMENT_REQUEST,
    FLASH_ACK,
    IMMEDIATE_ACK,
    LINK_TEST,
    MECHANISM,
    MESSAGE_ACK,
    PRIORITY_ACK,
    ROUTINE_ACK,
    TABLES,
    AckState,
    Edge,
    Precedence,
    TransitionTable,
    ack_deadline,
    ack_state,
    render_markdown,
    render_mermaid,
    transition,
)

LEGAL = [(t.name, e.source, e.event, e.target) for t in TABLES.values() for e in t.edges]
ILLEGAL = [
    (t.name, s, ev)
    for t in TABLES.values()
    for s in t.states
    for ev in t.events
    if t.target(s, ev) is None
]
T0 = datetime(2024, 1, 8, 14, 0, tzinfo=UTC)


def test_all_five_tables_are_registered() -> None:
    assert set(TABLES) == {"engagement-request", "call", "message-ack", "link-test", "mechanism"}
    assert TABLES["call"] is CALL and TABLES["link-test"] is LINK_TEST


@pytest.mark.parametrize(("table", "state", "event", "target"), LEGAL)
def test_every_legal_transition(table: str, state: str, event: str, target: str) -> None:
    assert transition(TABLES[table], state, event) == target


@pytest.mark.parametrize(("table", "state", "event"), ILLEGAL)
def test_every_illegal_transition_is_refused_and_state_kept(
    table: str, state: str, event: str
) -> None:
    current = state
    with pytest.raises(Conflict) as info:
        current = transition(TABLES[table], current, event)
    assert current == state
    assert repr(state) in info.value.message and repr(event) in info.value.message
    assert info.value.status == 409


@pytest.mark.parametrize("table", list(TABLES.values()), ids=list(TABLES))
def test_unknown_state_and_event_are_refused(table: TransitionTable) -> None:
    with pytest.raises(Conflict, match="not a state"):
        transition(table, "no-such-state", table.events[0])
    with pytest.raises(Conflict, match="no-such-event"):
        transition(table, table.initial, "no-such-event")


@pytest.mark.parametrize("table", list(TABLES.values()), ids=list(TABLES))
def test_terminal_states_have_no_way_out(table: TransitionTable) -> None:
    for state in table.terminal:
        for event in table.events:
            with pytest.raises(Conflict, match="terminal"):
                transition(table, state, event)


def test_request_table_shape() -> None:
    assert ENGAGEMENT_REQUEST.initial == "proposed"
    assert ENGAGEMENT_REQUEST.terminal == {
        "accepted",
        "declined",
        "countered",
        "lapsed",
        "withdrawn",
    }
    assert transition(MECHANISM, "resumed", "suspended") == "suspended"


@st.composite
def walks(draw: st.DrawFn) -> tuple[TransitionTable, list[str]]:
    table = draw(st.sampled_from(list(TABLES.values())))
    events = draw(st.lists(st.sampled_from([*table.events, "bogus"]), max_size=12))
    return table, events


@given(walks())
def test_random_walks_stay_inside_the_table(walk: tuple[TransitionTable, list[str]]) -> None:
    table, events = walk
    state = table.initial
    for event in events:
        before = state
        try:
            state = transition(table, state, event)
        except Conflict:
            assert state == before
            assert table.target(before, event) is None
        else:
            assert (before, event, state) in {(e.source, e.event, e.target) for e in table.edges}
        assert state in table.states


@pytest.mark.parametrize("table", list(TABLES.values()), ids=list(TABLES))
def test_renderings_show_every_edge(table: TransitionTable) -> None:
    md, mermaid = render_markdown(table), render_mermaid(table)
    assert md.startswith(f"### {table.name}")
    assert mermaid.startswith("stateDiagram-v2\n")
    assert f"[*] --> {table.initial}" in mermaid
    for e in table.edges:
        assert f"| `{e.source}` | `{e.event}` | `{e.target}` |" in md
        assert f"{e.source} --> {e.target}: {e.event}" in mermaid


def test_table_construction_refuses_bad_tables() -> None:
    with pytest.raises(InvalidInput, match="terminal state"):
        TransitionTable(
            name="bad",
            states=("a", "b"),
            initial="a",
            terminal=frozenset({"b"}),
            edges=(Edge(source="b", event="x", target="a"),),
        )
    with pytest.raises(InvalidInput, match="two edges"):
        TransitionTable(
            name="bad",
            states=("a", "b"),
            initial="a",
            terminal=frozenset(),
            edges=(
                Edge(source="a", event="x", target="b"),
                Edge(source="a", event="x", target="a"),
            ),
        )
    with pytest.raises(InvalidInput) as info:
        TransitionTable(name="bad", states=("a",), initial="z", terminal=frozenset(), edges=())
    assert info.value.field == "initial"


def test_ack_deadline_constants() -> None:
    assert FLASH_ACK == timedelta(minutes=10)
    assert IMMEDIATE_ACK == timedelta(minutes=30)
    assert PRIORITY_ACK == timedelta(hours=3)
    assert ROUTINE_ACK == timedelta(hours=6)  # ACP 121's ROUTINE handling time
    assert ACK_DEADLINES[Precedence.FLASH] is FLASH_ACK
    assert ack_deadline("routine", T0) == T0 + timedelta(hours=6)
    with pytest.raises(InvalidInput) as info:
        ack_deadline("URGENT", T0)
    assert info.value.field == "precedence"


@pytest.mark.parametrize("precedence", list(Precedence))
def test_ack_becomes_overdue_exactly_at_the_deadline(precedence: Precedence) -> None:
    deadline = T0 + ACK_DEADLINES[precedence]
    just_before = deadline - timedelta(seconds=1)

    def at(now: datetime, **kw: datetime | None) -> AckState:
        args: dict[str, datetime | None] = {"acknowledged_at": None, "escalated_at": None}
        args.update(kw)
        return ack_state(precedence=precedence, sent_at=T0, now=now, **args)

    assert at(just_before) is AckState.SENT
    assert at(deadline) is AckState.OVERDUE
    assert at(deadline, acknowledged_at=deadline) is AckState.ACKNOWLEDGED
    assert at(deadline + timedelta(hours=1), acknowledged_at=just_before) is AckState.ACKNOWLEDGED
    esc = deadline + timedelta(minutes=1)
    assert at(esc, escalated_at=esc) is AckState.ESCALATED
    assert at(
        esc + timedelta(minutes=1), escalated_at=esc, acknowledged_at=esc + timedelta(minutes=1)
    ) is (AckState.ACKNOWLEDGED)


def test_ack_refuses_escalation_before_overdue_and_naive_times() -> None:
    with pytest.raises(Conflict):
        ack_state(
            precedence=Precedence.FLASH,
            sent_at=T0,
            acknowledged_at=None,
            escalated_at=T0 + timedelta(minutes=1),
            now=T0 + timedelta(hours=1),
        )
    with pytest.raises(InvalidInput) as info:
        ack_state(
            precedence=Precedence.FLASH,
            sent_at=T0,
            acknowledged_at=None,
            escalated_at=None,
            now=datetime(2024, 1, 8, 14, 0),
        )
    assert info.value.field == "now"
    assert MESSAGE_ACK.terminal == {"acknowledged"}
