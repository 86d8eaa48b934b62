"""Translations beside a message or a notice in the console: the original
first and authoritative, each translation advisory with its method; a human
translation from the form with the agreed glossary's suggestions; the machine
button saying plainly that no model is configured; and each link's glossary
page, where the peer's proposal is accepted by an admin only."""

from __future__ import annotations

import re

import httpx
from test_console_handling_pages import BASE, csrf_in, run
from test_console_handling_pages import sides as sides  # noqa: F401 (the fixture)

from redline.service.translation import TranslationService, install_hooks
from support.hotline import Clock, Side, sync


def test_glossary_agreed_in_the_console_then_a_message_translated_by_hand_and_not_by_machine(
    sides: tuple[Side, Side, Clock],
) -> None:
    us, prc, _clock = sides
    for side in (us, prc):
        install_hooks(side.node)  # as a running node does at start (runtime.Node)

    async def propose(client: httpx.AsyncClient) -> tuple[int, int]:
        page = (await client.get("/console/links/prc/glossary")).text
        csrf = csrf_in(page)
        no_csrf = await client.post(
            "/console/links/prc/glossary",
            data={"category": "place", "en": "Taiwan Strait", "zh": "台湾海峡"},
            headers={"origin": BASE},
        )
        done = await client.post(
            "/console/links/prc/glossary",
            data={"csrf": csrf, "category": "place", "en": "Taiwan Strait", "zh": "台湾海峡"},
            headers={"origin": BASE},
        )
        return no_csrf.status_code, done.status_code

    assert run(us, propose) == (403, 303)
    sync(us, prc)

    async def accept(client: httpx.AsyncClient, *, expect: int) -> str:
        page = (await client.get("/console/links/us/glossary")).text
        found = re.search(r'data-glossary="([0-9a-f]{64})" data-state="proposed"', page)
        assert found, page
        answer = await client.post(
            f"/console/links/us/glossary/{found.group(1)}/accept",
            data={"csrf": csrf_in((await client.get("/console/now")).text)},
            headers={"origin": BASE},
        )
        assert answer.status_code == expect, answer.text
        return (await client.get("/console/links/us/glossary")).text

    watch_page = run(prc, lambda c: accept(c, expect=403), "wanda")
    assert "/accept" not in watch_page  # no Accept button for a watch officer
    agreed = run(prc, lambda c: accept(c, expect=303), "ada")
    assert 'data-state="agreed"' in agreed and "台湾海峡" in agreed
    sync(us, prc)

    message = us.node.send_message(
        to="prc", precedence="routine", subject="Passage", text="Transit of the Taiwan Strait"
    )
    sync(us, prc)

    async def translate(client: httpx.AsyncClient) -> tuple[str, int, str, int, str]:
        page = (await client.get(f"/console/messages/{message.id}")).text
        csrf = csrf_in(page)
        machine = await client.post(
            f"/console/translations/{message.id}",
            data={"csrf": csrf, "lang": "zh", "method": "machine", "back": "/x"},
            headers={"origin": BASE},
        )
        done = await client.post(
            f"/console/translations/{message.id}",
            data={
                "csrf": csrf,
                "lang": "zh",
                "method": "human",
                "text": "过航台湾海峡 <i>",
                "back": f"/console/messages/{message.id}",
            },
            headers={"origin": BASE},
        )
        assert done.headers["location"] == f"/console/messages/{message.id}"
        after = (await client.get(f"/console/messages/{message.id}")).text
        return page, machine.status_code, machine.text, done.status_code, after

    page, machine, machine_text, done, after = run(prc, translate, "zhou")
    assert "Taiwan Strait → 台湾海峡" in page  # the agreed glossary's suggestion
    assert machine == 409 and "translation_model_dir" in machine_text
    assert "not configured" in machine_text
    assert done == 303
    assert "过航台湾海峡 &lt;i&gt;" in after and "仅供参考" in after  # advisory, in zh
    # The original stays first and as signed.
    assert after.index("Transit of the Taiwan Strait") < after.index("过航台湾海峡")
    [translation] = TranslationService(prc.node).translations_of(message.id)
    assert translation["method"] == "human" and translation["by"]["operator"] == "zhou"
