"""The error hierarchy: stable, unique codes; statuses; problem+json bodies."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import redline
import redline.core.errors as errors
from redline.core.errors import (
    InvalidInput,
    LocalError,
    PeerRejected,
    RedlineError,
    RemoteError,
    SequenceGap,
)
from redline.http_problems import problem, problem_body


def _import_everything() -> None:
    # Error classes defined outside core (the API's Unauthorized) count too.
    for module in pkgutil.walk_packages(redline.__path__, "redline."):
        if module.name.endswith("__main__") or ".migrations" in module.name:
            continue
        importlib.import_module(module.name)


def all_error_classes() -> list[type[RedlineError]]:
    _import_everything()
    found: list[type[RedlineError]] = []
    pending = [RedlineError]
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return sorted(set(found), key=lambda c: f"{c.__module__}.{c.__qualname__}")


def instance_of(cls: type[RedlineError]) -> RedlineError:
    if issubclass(cls, SequenceGap):
        return cls("gap", expected=2, got=3)
    if issubclass(cls, PeerRejected):
        return cls("refused", peer_code="bad-signature", peer_status=403)
    return cls("something is wrong", field="thing")


CLASSES = all_error_classes()


def test_the_hierarchy_is_found() -> None:
    names = {cls.__name__ for cls in CLASSES}
    assert {"BadSignature", "SequenceGap", "UnpinnedPeer", "Unauthorized"} <= names
    assert len(CLASSES) >= 20


def test_every_code_is_unique() -> None:
    by_code: dict[str, list[str]] = {}
    for cls in CLASSES:
        by_code.setdefault(cls.code, []).append(cls.__name__)
    duplicates = {code: names for code, names in by_code.items() if len(names) > 1}
    assert duplicates == {}


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_each_class_has_its_own_code_title_and_an_http_status(cls: type[RedlineError]) -> None:
    assert "code" in vars(cls), f"{cls.__name__} inherits its code"
    assert cls.code and cls.code == cls.code.lower() and " " not in cls.code
    assert isinstance(cls.status, int) and 400 <= cls.status <= 599
    assert cls.title
    if issubclass(cls, LocalError | RemoteError):
        assert cls.status != 500, "a caller's or a peer's fault is not an internal error"


def test_core_all_lists_every_core_error() -> None:
    core = {cls.__name__ for cls in CLASSES if cls.__module__ == errors.__name__}
    assert core == set(errors.__all__)


def test_local_and_remote_say_whose_fault() -> None:
    assert issubclass(errors.InvalidInput, LocalError)
    assert issubclass(errors.NotFound, LocalError)
    for name in ("InvalidStatement", "BadSignature", "UnpinnedPeer", "SequenceGap"):
        assert issubclass(getattr(errors, name), RemoteError)


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_problem_body_has_code_status_and_field(cls: type[RedlineError]) -> None:
    exc = instance_of(cls)
    body = problem_body(exc)
    assert body["code"] == cls.code
    assert body["status"] == cls.status
    assert body["type"] == f"urn:redline:problem:{cls.code}"
    assert body["title"] == cls.title
    assert body["detail"] == str(exc)
    assert body.get("field") == exc.field


def test_problem_body_without_field_leaves_it_out() -> None:
    body = problem_body(RemoteError("no field here"))
    assert "field" not in body
    assert body["detail"] == "no field here"


def test_field_is_named_in_the_message() -> None:
    exc = InvalidInput("must be one of flash, routine", field="precedence")
    assert str(exc) == "precedence: must be one of flash, routine"
    assert exc.message == "must be one of flash, routine"


def test_sequence_gap_body_carries_expected_and_got() -> None:
    body = problem_body(SequenceGap("skipped", expected=2, got=5))
    assert (body["field"], body["expected"], body["got"]) == ("seq", 2, 5)
    assert body["status"] == 409


def test_problem_response_is_problem_json() -> None:
    response = problem(InvalidInput("bad", field="to"))
    assert response.status_code == 422
    assert response.media_type == "application/problem+json"
    assert b'"code":"invalid-input"' in response.body
    assert b'"field":"to"' in response.body
