"""The operator API's message-handling routes (docs/messages.md).

Acknowledgement (with a reply) and ``seen`` of a message, the link terms,
each link's escalation policy and the steps taken, and the notification
recipients and attempts. Thin over
:class:`~redline.service.handling.HandlingService` and the node's
:class:`~redline.service.messages.MessageActs`. An operator's named API key
is named in what the act signs (``by``); the node's shared token acts as the
node (no ``by``). Changing terms, policies or recipients needs the admin
role (or the shared token); acknowledging needs the watch or admin role.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from fastapi import APIRouter, Depends, Path, Query
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import JSONResponse, Response

from redline.core.kinds import Precedence
from redline.core.messaging import MAX_STEPS
from redline.service.handling import HandlingService
from redline.service.node import NodeService
from redline.service.operators import Forbidden, Operator, OperatorService, Role
from redline.web.acting import acted_by, acting_operator

__all__ = ["create_handling_router"]

#: A message: its id (64 hex) or, for one received, its first 8 or more hex characters.
MESSAGE_REF_PATTERN = r"^[0-9a-fA-F]{8,64}$"
PARTY_PATTERN = r"^[a-z][a-z0-9-]{0,31}$"


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AckIn(_In):
    """An acknowledgement's optional reply."""

    reply: str | None = Field(default=None, min_length=1, max_length=32_000)


class TermsIn(_In):
    """Proposed handling times: seconds per precedence (checked as signed)."""

    to: str = Field(pattern=PARTY_PATTERN, description="the peer the terms are for")
    deadlines: dict[str, Any] = Field(
        description="`flash`, `immediate`, `priority`, `routine`: seconds (1..604800)"
    )
    note: str = Field(default="", max_length=2000)


class PolicyIn(_In):
    """A link's escalation steps for one precedence."""

    steps: list[dict[str, Any]] = Field(
        max_length=MAX_STEPS,
        description="each `{after_seconds, action, recipients?, mechanism?}`",
    )


class RecipientIn(_In):
    """Someone notifications reach: a webhook URL or an email address."""

    name: str = Field(min_length=1, max_length=80)
    channel: str = Field(description="`webhook` or `email`")
    address: str = Field(min_length=1, max_length=500)
    duty: bool = Field(default=False, description="re-alerted as a duty operator")


def create_handling_router(
    service: NodeService,
    get: Callable[[], HandlingService],
    *,
    operators: Callable[[], OperatorService],
    dependencies: Sequence[Any] = (),
) -> APIRouter:
    """The message-handling routes; ``dependencies`` (the token check) apply to each.

    ``operators`` gives the node's operators, to name the one whose API key
    acts. Raises nothing.
    """
    router = APIRouter(dependencies=list(dependencies))

    # Who acts: the operator whose named API key made the request (web/acting.py).
    # A plain default, not an Annotated alias: this module's annotations are
    # strings, and FastAPI resolves them in the module's globals only.
    act = Depends(acting_operator(operators))

    def admin_only(operator: Operator | None) -> None:
        if operator is not None and operator.role is not Role.ADMIN:
            raise Forbidden(
                f"{operator.name} is a {operator.role.value}; only an admin changes this",
                field="role",
            )

    message_ref = Path(
        alias="id", pattern=MESSAGE_REF_PATTERN, description="id, or 8+ hex of one received"
    )

    @router.post("/api/v1/messages/{id}/ack", status_code=201)
    async def post_ack(
        message_id: str = message_ref, ack: AckIn | None = None, operator: Operator | None = act
    ) -> dict[str, Any]:
        statement = await run_in_threadpool(
            service.acknowledge,
            message_id,
            reply=None if ack is None else ack.reply,
            operator=operator,
        )
        out = {
            "id": statement.id,
            "seq": statement.seq,
            "to": statement.to,
            "message": statement.body["message"],
            "state": "queued",
        }
        for key in ("reply", "by"):
            if key in statement.body:
                out[key] = statement.body[key]
        return out

    @router.post(
        "/api/v1/messages/{id}/seen",
        status_code=201,
        responses={200: {"description": "seen already: nothing signed"}},
    )
    async def post_seen(message_id: str = message_ref, operator: Operator | None = act) -> Response:
        done = await run_in_threadpool(lambda: get().seen(message_id, by=acted_by(operator)))
        return JSONResponse(done, status_code=201 if done["new"] else 200)

    @router.get("/api/v1/terms")
    async def get_terms(
        peer: str | None = Query(None, pattern=PARTY_PATTERN),
    ) -> dict[str, Any]:
        return await run_in_threadpool(lambda: get().terms(peer))

    @router.post("/api/v1/terms", status_code=201)
    async def post_terms(terms: TermsIn, operator: Operator | None = act) -> dict[str, Any]:
        admin_only(operator)
        statement = await run_in_threadpool(
            lambda: get().propose_terms(
                to=terms.to, deadlines=terms.deadlines, note=terms.note, by=acted_by(operator)
            )
        )
        return {"id": statement.id, "to": statement.to, "kind": statement.kind, **statement.body}

    @router.post("/api/v1/terms/{id}/accept", status_code=201)
    async def post_accept(
        terms_id: str = Path(alias="id", pattern=r"^[0-9a-f]{64}$"),
        operator: Operator | None = act,
    ) -> dict[str, Any]:
        admin_only(operator)
        statement = await run_in_threadpool(
            lambda: get().accept_terms(terms_id, by=acted_by(operator))
        )
        return {"id": statement.id, "to": statement.to, "kind": statement.kind, **statement.body}

    peer_path = Path(pattern=PARTY_PATTERN)

    @router.get("/api/v1/escalation/{peer}")
    async def get_policy(peer: str = peer_path) -> dict[str, Any]:
        return await run_in_threadpool(lambda: get().policy(peer))

    @router.put("/api/v1/escalation/{peer}/{precedence}")
    async def put_policy(
        policy: PolicyIn,
        precedence: Precedence,
        peer: str = peer_path,
        operator: Operator | None = act,
    ) -> dict[str, Any]:
        admin_only(operator)
        return await run_in_threadpool(
            lambda: get().set_policy(
                peer=peer,
                precedence=precedence,
                steps=policy.steps,
                by=None if operator is None else operator.name,
            )
        )

    @router.delete("/api/v1/escalation/{peer}/{precedence}")
    async def delete_policy(
        precedence: Precedence, peer: str = peer_path, operator: Operator | None = act
    ) -> dict[str, Any]:
        admin_only(operator)
        return await run_in_threadpool(
            lambda: get().set_policy(
                peer=peer,
                precedence=precedence,
                steps=None,
                by=None if operator is None else operator.name,
            )
        )

    @router.get("/api/v1/escalations")
    async def get_escalations(
        message: str | None = Query(None, pattern=r"^[0-9a-f]{64}$"),
    ) -> dict[str, Any]:
        return {"steps": await run_in_threadpool(lambda: get().escalations(message))}

    @router.get("/api/v1/notify/recipients")
    async def get_recipients() -> dict[str, Any]:
        return {"recipients": await run_in_threadpool(lambda: get().recipients())}

    @router.post("/api/v1/notify/recipients", status_code=201)
    async def post_recipient(
        recipient: RecipientIn, operator: Operator | None = act
    ) -> dict[str, Any]:
        admin_only(operator)
        return await run_in_threadpool(
            lambda: get().add_recipient(
                name=recipient.name,
                channel=recipient.channel,
                address=recipient.address,
                duty=recipient.duty,
            )
        )

    @router.delete("/api/v1/notify/recipients/{name}", status_code=204)
    async def delete_recipient(
        name: str = Path(min_length=1, max_length=80), operator: Operator | None = act
    ) -> Response:
        admin_only(operator)
        await run_in_threadpool(lambda: get().remove_recipient(name))
        return Response(status_code=204)

    @router.get("/api/v1/notify")
    async def get_notifications(
        limit: int = Query(100, ge=1, le=1000),
    ) -> dict[str, Any]:
        return await run_in_threadpool(lambda: get().notifications(limit))

    return router
