"""schemathesis against the operator API's OpenAPI schema, in process.

The schema is the one the node serves at ``/openapi.json``; every operation in
it is called with generated input, valid and invalid, carrying the operator
token. Whatever is sent: no 5xx, every status and content type the answer has
is one the schema documents, the answer conforms to the schema, and input the
schema says is invalid is refused (so the schema says what the server
accepts). Bounded: a fixed number of examples per operation, replayed from a
fixed seed in CI (tests/conftest.py's ``ci`` profile).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import BaseSchema, Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from redline.web.api import create_api_app
from support.pair import MemoryPair

TOKEN = "operator-token-for-schema-tests"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
# Invalid input is refused with a 4xx; 413 (a body over the node's cap, which
# an over-long field can make) is a refusal too.
REFUSALS = ["400", "401", "404", "409", "413", "422"]
CONFIG = SchemathesisConfig.from_dict(
    {"checks": {"negative_data_rejection": {"expected-statuses": REFUSALS}}}
)
# Per operation and mode: about 40 operations, two modes, well under a minute.
EXAMPLES = 25
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BaseSchema]:
    pair = MemoryPair(Path(tmp_path_factory.mktemp("schema")))
    # Something to list and to name: a message each way, delivered.
    pair.us.service.send_message(to="prc", precedence="flash", subject="Intercept", text="")
    pair.prc.service.send_message(to="us", precedence="routine", subject="Noted", text="")
    pair.deliver()
    app = create_api_app(pair.us.service, token=TOKEN, identity=pair.us.dir.identity())
    yield schemathesis.openapi.from_asgi("/openapi.json", app, config=CONFIG)
    pair.close()


def run_schema(
    schema: BaseSchema, mode: GenerationMode, headers: dict[str, str], examples: int
) -> list[str]:
    """Every operation of ``schema`` called with ``examples`` generated cases of
    ``mode``; what failed, one line per operation."""
    failures = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert operations, "the schema lists no operations"
    for operation in operations:

        @settings(
            max_examples=examples,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(generation_mode=mode))
        def call(case: Case) -> None:
            case.call_and_validate(headers=headers, checks=CHECKS)

        try:
            call()
        except Unsatisfiable:
            # Negative mode: the schema constrains nothing here (no parameters,
            # or free-form ones), so there is no invalid input to send.
            if mode is not GenerationMode.NEGATIVE:
                failures.append(f"{operation.label}: no input could be generated")
        except (Exception, BaseExceptionGroup) as exc:  # each operation's, reported together
            failures.append(f"{operation.label}: {type(exc).__name__}: {exc}"[:2000])
    return failures


# schemathesis's pytest plugin (schema.parametrize) does not run under pytest 9;
# each operation gets its own hypothesis run here instead.
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_the_operator_api_answers_as_its_schema_says(
    api_schema: BaseSchema, mode: GenerationMode
) -> None:
    failures = run_schema(api_schema, mode, AUTH, examples=EXAMPLES)
    assert failures == [], "\n\n".join(failures)
