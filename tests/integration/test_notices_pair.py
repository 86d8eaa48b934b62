"""Notices, translations and glossaries between two nodes (in process), and over
the operator API: built, signed, delivered, rendered in both languages; bad
ones refused with the field named and nothing stored or sent."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from redline.core.errors import Conflict, InvalidInput, InvalidStatement
from redline.core.fields import ActedBy
from redline.core.statement import Statement, format_time
from redline.node import init_node
from redline.service.notices import NoticeService
from redline.service.operators import OperatorService
from redline.service.translation import TranslationService, install_hooks
from redline.store import repo
from redline.store.schema import notices, outbox, statements
from redline.web.api import create_api_app
from support.notices import ACTIVITY, ENCOUNTER, GOOD, MECHANISM
from support.pair import MemoryNode, MemoryPair

TOKEN = "operator-token-for-tests"


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[MemoryPair]:
    made = MemoryPair(tmp_path)
    for node in (made.us, made.prc):
        install_hooks(node.service)  # as the running node does at start (runtime.Node)
    yield made
    made.close()


def _counts(node: MemoryNode) -> tuple[int, int, int]:
    with node.store.read() as conn:
        return (
            conn.execute(select(func.count()).select_from(statements)).scalar_one(),
            conn.execute(select(func.count()).select_from(outbox)).scalar_one(),
            conn.execute(select(func.count()).select_from(notices)).scalar_one(),
        )


def test_every_notice_type_is_signed_delivered_and_rendered_in_both_languages(
    pair: MemoryPair,
) -> None:
    us, prc = NoticeService(pair.us.service), NoticeService(pair.prc.service)
    by = ActedBy(operator="ann", office="us-indopacom")
    sent = []
    for body in GOOD:
        sent.append(us.send_notice(to="prc", notice=body, by=by))
        pair.clock.advance(seconds=1)
    pair.deliver()
    for st, body in zip(sent, GOOD, strict=True):
        assert st.kind == "notice" and st.body == {**body, "by": by.wire()}
        for service, direction in ((us, "out"), (prc, "in")):
            en = service.notice(st.id, lang="en")
            zh = service.notice(st.id[:12], lang="zh")
            assert en["direction"] == zh["direction"] == direction
            assert en["body"] == zh["body"] == st.body  # the coded record, whatever the language
            assert en["text"] != zh["text"]
            assert en["text"].endswith("Filed by: ann (us-indopacom)\n")
            assert zh["text"].endswith("签发：ann (us-indopacom)\n")
    received = prc.notices(lang="zh")
    assert [r["id"] for r in received] == [st.id for st in sent]
    assert [r["title"] for r in received] == ["相遇报告", "重大军事行动通报", "机制状态变更通知"]
    assert "活动" not in received[1]["summary"] and "演习" in received[1]["summary"]
    # Statements signed by the US node and checked on receipt by the PRC node.
    with pair.prc.store.read() as conn:
        states = conn.execute(select(statements.c.state).where(statements.c.kind == "notice"))
        assert {row[0] for row in states} == {"received"}


def test_notices_page_by_signed_time(pair: MemoryPair) -> None:
    us = NoticeService(pair.us.service)
    for body in GOOD:
        us.send_notice(to="prc", notice=body)
        pair.clock.advance(seconds=1)
    first = us.notices_page(limit=2)
    assert [r["type"] for r in first["notices"]] == ["encounter", "activity"]
    rest = us.notices_page(limit=2, cursor=first["next"])
    assert [r["type"] for r in rest["notices"]] == ["mechanism-change"] and rest["next"] is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({k: v for k, v in ENCOUNTER.items() if k != "cpa"}, "body.cpa"),
        ({**ENCOUNTER, "behaviours": ["buzzing"]}, "body.behaviours[0]"),
        ({**ENCOUNTER, "position": {"lat": "95", "lon": "0"}}, "body.position.lat"),
        ({**ENCOUNTER, "cpa": {"value": "-1", "unit": "m"}}, "body.cpa.value"),
        ({**ACTIVITY, "area": ACTIVITY["area"][:2]}, "body.area"),
        ({**MECHANISM, "reason": "whim"}, "body.reason"),
    ],
)
def test_a_bad_notice_is_refused_naming_the_field_and_nothing_is_stored_or_sent(
    pair: MemoryPair, body: dict[str, Any], field: str
) -> None:
    before = _counts(pair.us)
    with pytest.raises(InvalidInput) as exc:
        NoticeService(pair.us.service).send_notice(to="prc", notice=copy.deepcopy(body))
    assert exc.value.field == field
    assert _counts(pair.us) == before


def test_a_peer_s_bad_notice_is_refused_on_receipt(pair: MemoryPair) -> None:
    bad = {**ENCOUNTER, "cpa": {"value": "-5", "unit": "ft"}}
    with pytest.raises(InvalidStatement) as exc:
        Statement.create(
            key=pair.us.dir.signing_key(),
            sender="us",
            to="prc",
            kind="notice",
            seq=1,
            time=pair.clock(),
            body=bad,
        )
    assert exc.value.field == "body.cpa.value"


class FakeTranslator:
    """An in-process translator: upper-cases, and records what it was given."""

    name = "fake:upper"

    def __init__(self) -> None:
        self.given: list[str] = []

    def translate(self, texts: Sequence[str]) -> list[str]:
        self.given.extend(texts)
        return [t.upper() for t in texts]


def _agree(pair: MemoryPair, entries: list[dict[str, Any]]) -> None:
    proposer = TranslationService(pair.us.service)
    glossary = proposer.propose_glossary(to="prc", entries=entries)
    pair.deliver()
    assert proposer.glossary("prc")[0]["agreed"] is False
    assert proposer.agreed_entries("prc") == []  # only agreed entries apply
    TranslationService(pair.prc.service).accept_glossary(glossary.id[:12])
    pair.deliver()
    for node in (pair.us, pair.prc):
        (row,) = TranslationService(node.service).glossary()
        assert row["agreed"] is True and row["entries"] == entries


STRAIT = [{"category": "place", "terms": {"en": "Taiwan Strait", "zh": "台湾海峡"}}]


def test_human_translation_is_advisory_and_never_replaces_the_original(pair: MemoryPair) -> None:
    _agree(pair, STRAIT)
    message = pair.us.service.send_message(
        to="prc", precedence="flash", subject="Transit", text="A transit of the Taiwan Strait."
    )
    pair.deliver()
    prc = TranslationService(pair.prc.service)
    # The agreed glossary is offered to the translator.
    suggested = prc.translations(message.id, lang="zh")["suggestions"]
    assert suggested == [
        {"source": "Taiwan Strait", "target": "台湾海峡", "category": "place", "at": 17}
    ]
    by = ActedBy(operator="li")
    st = prc.translate(message.id[:10], lang="zh", text="过航台湾海峡。", by=by)
    assert st.to == "us" and st.body["method"] == "human" and st.body["by"] == {"operator": "li"}
    pair.deliver()
    for node in (pair.us, pair.prc):
        view = TranslationService(node.service).translations(message.id)
        assert view["original"]["authoritative"] is True
        assert view["original"]["body"]["text"] == "A transit of the Taiwan Strait."
        (t,) = view["translations"]
        assert (t["text"], t["advisory"], t["method"]) == ("过航台湾海峡。", True, "human")
        assert node.service.message(message.id)["text"] == "A transit of the Taiwan Strait."


def test_machine_translation_applies_the_agreed_glossary_before_and_after(
    pair: MemoryPair,
) -> None:
    _agree(pair, STRAIT)
    fake = FakeTranslator()
    prc = TranslationService(pair.prc.service, translators=lambda source, target: fake)
    message = pair.us.service.send_message(
        to="prc",
        precedence="routine",
        subject="Transit",
        text="Transit of the Taiwan Strait.",
        lang="en",
    )
    pair.deliver()
    st = prc.translate(message.id, lang="zh", machine=True)
    assert fake.given == ["Transit of the 台湾海峡."]  # the agreed term went in as agreed
    assert st.body["text"] == "TRANSIT OF THE 台湾海峡."
    assert (st.body["method"], st.body["engine"]) == ("machine", "fake:upper")
    # And back: a Chinese original, translated into English.
    reply = pair.prc.service.send_message(
        to="us", precedence="routine", subject="Re", text="台湾海峡", lang="zh"
    )
    back = prc.translate(reply.id, lang="en", machine=True)
    assert fake.given[-1] == "Taiwan Strait" and back.body["text"] == "TAIWAN STRAIT"


def test_machine_translation_not_configured_says_so_and_signs_nothing(pair: MemoryPair) -> None:
    message = pair.us.service.send_message(
        to="prc", precedence="routine", subject="s", text="hello", lang="en"
    )
    pair.deliver()
    before = _counts(pair.prc)
    for service in (
        TranslationService(pair.prc.service),
        TranslationService(pair.prc.service, model_dir=str(pair.prc.dir.path / "no-models")),
    ):
        with pytest.raises(Conflict) as exc:
            service.translate(message.id, lang="zh", machine=True)
        assert exc.value.field == "translation_model_dir"
    assert _counts(pair.prc) == before


def test_a_glossary_accept_of_no_glossary_of_ours_is_refused_on_receipt(pair: MemoryPair) -> None:
    # The PRC proposes; the US accepts it, which the PRC stores. Then a forged
    # acceptance naming the US's own statement is refused by the US.
    proposal = TranslationService(pair.prc.service).propose_glossary(to="us", entries=STRAIT)
    pair.deliver()
    with pytest.raises(InvalidInput):
        TranslationService(pair.prc.service).accept_glossary(proposal.id)  # its own
    forged = Statement.create(
        key=pair.prc.dir.signing_key(),
        sender="prc",
        to="us",
        kind="glossary-accept",
        seq=2,
        time=pair.clock(),
        body={"glossary": proposal.id},
    )
    with pytest.raises(InvalidStatement) as exc:
        pair.us.service.receive("prc", [forged])
    assert exc.value.field == "body.glossary"


# -- the operator API ------------------------------------------------------------


def _call(
    pair: MemoryPair, method: str, path: str, json: Any = None, token: str = TOKEN
) -> httpx.Response:
    app = create_api_app(pair.us.service, token=TOKEN, identity=pair.us.dir.identity())

    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://node.test") as client:
            headers = {"authorization": f"Bearer {token}"}
            return await client.request(method, path, headers=headers, json=json)

    return asyncio.run(go())


def test_the_api_files_lists_and_renders_notices(pair: MemoryPair) -> None:
    made = _call(pair, "POST", "/api/v1/notices", {"to": "prc", "notice": ENCOUNTER})
    assert made.status_code == 201, made.text
    notice_id = made.json()["id"]
    page = _call(pair, "GET", "/api/v1/notices?lang=zh").json()
    assert [r["id"] for r in page["notices"]] == [notice_id] and page["next"] is None
    shown = _call(pair, "GET", f"/api/v1/notices/{notice_id[:10]}?lang=zh").json()
    assert shown["body"] == ENCOUNTER and shown["text"].startswith("相遇报告（海上）")


@pytest.mark.parametrize(
    ("notice", "field"),
    [
        ({**ENCOUNTER, "position": {"lat": "24.5", "lon": "181"}}, "notice.position.lon"),
        ({**ENCOUNTER, "cpa": {"value": "-300", "unit": "ft"}}, "notice.cpa.value"),
        ({"type": "rumour"}, "notice.type"),
    ],
)
def test_the_api_refuses_a_bad_notice_naming_the_field(
    pair: MemoryPair, notice: dict[str, Any], field: str
) -> None:
    before = _counts(pair.us)
    answer = _call(pair, "POST", "/api/v1/notices", {"to": "prc", "notice": notice})
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert (answer.json()["code"], answer.json()["field"]) == ("invalid-input", field)
    assert _counts(pair.us) == before


def test_the_api_says_plainly_that_machine_translation_is_not_configured(
    pair: MemoryPair,
) -> None:
    message = pair.us.service.send_message(to="prc", precedence="routine", subject="s", text="hi")
    answer = _call(
        pair,
        "POST",
        "/api/v1/translations",
        {"original": message.id, "lang": "zh", "machine": True},
    )
    assert answer.status_code == 409, answer.text
    assert (answer.json()["code"], answer.json()["field"]) == ("conflict", "translation_model_dir")
    human = _call(
        pair, "POST", "/api/v1/translations", {"original": message.id, "lang": "zh", "text": "嗨"}
    )
    assert human.status_code == 201 and human.json()["advisory"] is True
    view = _call(pair, "GET", f"/api/v1/translations/{message.id}").json()
    assert view["original"]["authoritative"] is True and view["translations"][0]["text"] == "嗨"


def test_an_operator_s_api_key_names_the_operator_and_office_in_the_signed_body(
    pair: MemoryPair,
) -> None:
    operators = OperatorService(pair.us.store, clock=pair.clock)
    operators.add("ann", role="watch", password="a long enough password 1")
    key = operators.issue_key("ann", "scripts")
    made = _call(
        pair,
        "POST",
        "/api/v1/notices",
        {"to": "prc", "notice": MECHANISM, "office": "us-indopacom"},
        token=key,
    )
    assert made.status_code == 201, made.text
    shown = _call(pair, "GET", f"/api/v1/notices/{made.json()['id']}").json()
    assert shown["body"]["by"] == {"operator": "ann", "office": "us-indopacom"}
    # The node's shared token acts for no one, and so for no office.
    anonymous = _call(pair, "POST", "/api/v1/notices", {"to": "prc", "notice": MECHANISM})
    assert (
        "by" not in _call(pair, "GET", f"/api/v1/notices/{anonymous.json()['id']}").json()["body"]
    )
    refused = _call(
        pair, "POST", "/api/v1/notices", {"to": "prc", "notice": MECHANISM, "office": "x"}
    )
    assert (refused.status_code, refused.json()["field"]) == (422, "office")


def test_a_translation_of_what_is_not_on_the_link_is_refused_on_receipt(
    pair: MemoryPair, tmp_path: Path
) -> None:
    uk = init_node(tmp_path / "uk", party="uk", name="UK Ministry of Defence", now=pair.clock())
    with pair.us.store.write() as conn:
        repo.add_peer(conn, uk.identity(), "https://127.0.0.1:2", format_time(pair.clock()))
    third = pair.us.service.send_message(to="uk", precedence="routine", subject="s", text="t")
    for original in (third.id, "ef" * 32):  # another link's statement; none at all
        forged = Statement.create(
            key=pair.prc.dir.signing_key(),
            sender="prc",
            to="us",
            kind="translation",
            seq=1,  # the first refused, nothing was stored: the next is 1 again
            time=pair.clock(),
            body={"original": original, "lang": "zh", "text": "译文", "method": "human"},
        )
        with pytest.raises(InvalidStatement) as exc:
            pair.us.service.receive("prc", [forged])
        assert exc.value.field == "body.original"


def test_an_encounter_reported_before_it_happened_is_refused_both_ways(pair: MemoryPair) -> None:
    later = {**ENCOUNTER, "time": "2026-11-22T08:06:00.000000Z"}  # the clock reads 08:00
    before = _counts(pair.us)
    with pytest.raises(InvalidInput) as exc:
        NoticeService(pair.us.service).send_notice(to="prc", notice=later)
    assert exc.value.field == "body.time" and _counts(pair.us) == before
    within_skew = {**ENCOUNTER, "time": "2026-11-22T08:04:00.000000Z"}
    NoticeService(pair.us.service).send_notice(to="prc", notice=within_skew)
    forged = Statement.create(
        key=pair.us.dir.signing_key(),
        sender="us",
        to="prc",
        kind="notice",
        seq=2,
        time=pair.clock(),
        body=later,
    )
    pair.deliver()
    with pytest.raises(InvalidStatement) as refused:
        pair.prc.service.receive("us", [forged])
    assert refused.value.field == "body.time"
