"""The fast canonical JSON path agrees with the rfc8785 reference."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from redline.core.canonical import canonical_json

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1)
    | st.integers(min_value=-(2**70), max_value=2**70)  # past the domain: both must refuse
    | st.text(),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5)
    ),
    max_leaves=25,
)


@settings(max_examples=1000)
@given(json_values)
def test_fast_path_equals_rfc8785(value: Any) -> None:
    try:
        expected = rfc8785.dumps(value)
    except rfc8785.CanonicalizationError:
        with pytest.raises(rfc8785.CanonicalizationError):
            canonical_json(value)
        return
    assert canonical_json(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        {"\u20ac": 1, "\U0001f600": 2, "\ufb33": 3},  # UTF-16 order differs from code points
        {"a": '\u2028\u2029\x7f\x00\x1f"\\/'},
        {"b": [True, False, None, 0, -(2**53) + 1]},
        {"c": [2**53 - 1, "\u00e9\u4e2d\U0001f600", "\x08\x0c\n\r\t\x0b"]},
    ],
)
def test_edge_cases_equal_rfc8785(value: Any) -> None:
    assert canonical_json(value) == rfc8785.dumps(value)


def test_lone_surrogate_is_refused_like_the_reference() -> None:
    with pytest.raises(rfc8785.CanonicalizationError):
        canonical_json({"a": "\ud800"})


@pytest.mark.parametrize("value", [2**53, -(2**53), 2**64, {"a": [2**63]}])
def test_values_outside_the_domain_are_refused_like_the_reference(value: Any) -> None:
    with pytest.raises(rfc8785.CanonicalizationError):
        rfc8785.dumps(value)
    with pytest.raises(rfc8785.CanonicalizationError):
        canonical_json(value)


def test_types_orjson_would_write_are_left_to_the_reference() -> None:
    """orjson writes datetimes on its own; RFC 8785 knows no such type."""
    with pytest.raises(rfc8785.CanonicalizationError):
        canonical_json({"at": datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)})

    class Tag(str):
        pass

    assert canonical_json({"c": Tag("x")}) == rfc8785.dumps({"c": Tag("x")}) == b'{"c":"x"}'
