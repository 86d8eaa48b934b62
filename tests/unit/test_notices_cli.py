"""``redline send --notice``, ``notices``, ``translate`` and ``glossary`` through CliRunner."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner, Result

from redline.cli.common import open_service
from redline.cli.main import app
from redline.cli.notices import parse_fields
from redline.core.errors import InvalidInput
from redline.core.statement import Statement
from redline.service.translation import install_hooks
from support.notices import ACTIVITY

runner = CliRunner()


def run(*args: str | Path) -> Result:
    result = runner.invoke(app, [str(a) for a in args])
    assert "Traceback" not in result.output
    if result.exception is not None:
        assert isinstance(result.exception, SystemExit), repr(result.exception)
    return result


def fails(*args: str | Path) -> str:
    result = run(*args)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def _pair(tmp_path: Path) -> tuple[Path, Path]:
    us, prc = tmp_path / "us", tmp_path / "prc"
    for path, party in ((us, "us"), (prc, "prc")):
        assert run("init", path, "--party", party, "--name", party.upper()).exit_code == 0
    for a, b in ((us, prc), (prc, us)):
        file = tmp_path / f"{b.name}.json"
        file.write_text(run("identity", b).stdout)
        assert run("peer", "add", a, file, "--url", "https://127.0.0.1:9443").exit_code == 0
    return us, prc


def _carry(sender: Path, receiver: Path, to: str, frm: str) -> None:
    with open_service(sender) as (_node, service):
        wires = service.due(to, 50)
    with open_service(receiver) as (_node, service):
        install_hooks(service)  # as the serving node has them
        service.receive(frm, [Statement.from_wire(w) for w in wires])


def _count(path: Path) -> int:
    with open_service(path) as (_node, service):
        return len(service.statements_page(limit=1000)["statements"])


ENCOUNTER_FIELDS = [
    "domain=air",
    "time=2026-11-22T07:30:00.000000Z",
    "position.lat=19.9",
    "position.lon=112.1",
    "own_unit.type=maritime-patrol-aircraft",
    "own_unit.id=168761",
    "other_unit.type=fighter",
    "cpa.value=20",
    "cpa.unit=ft",
    "behaviours[]=unsafe-intercept",
    "behaviours[]=aerobatics",
    "requested_action.code=cease-behaviour",
]


def test_fields_build_a_body_with_paths_lists_and_json() -> None:
    body = parse_fields(
        "activity",
        ["area[0].lat=1", "area[0].lon=2", "area[1].lat=3", "forces[0].count:=4", "tags[]=a"],
    )
    assert body == {
        "type": "activity",
        "area": [{"lat": "1", "lon": "2"}, {"lat": "3"}],
        "forces": [{"count": 4}],
        "tags": ["a"],
    }
    for bad in ("nothing", "a..b=1", "a.[0]=1", ".a=1", "x:=not json", "area[3].lat=1"):
        try:
            parse_fields("activity", [bad])
        except InvalidInput as exc:
            assert exc.field == "field"
        else:
            raise AssertionError(f"{bad!r} was taken")


def test_send_a_notice_show_it_in_both_languages_and_translate(tmp_path: Path) -> None:
    us, prc = _pair(tmp_path)
    fields = [a for f in ENCOUNTER_FIELDS for a in ("--field", f)]
    sent = run("send", us, "--to", "prc", "--notice", "encounter", *fields)
    assert sent.exit_code == 0, sent.output
    notice_id = sent.stdout.strip()
    notice_file = tmp_path / "activity.json"
    notice_file.write_text(json.dumps(ACTIVITY))
    assert run("send", us, "--to", "prc", "--notice-file", notice_file).exit_code == 0
    _carry(us, prc, "prc", "us")

    listed = run("notices", prc, "--lang", "zh").stdout
    assert "encounter" in listed and "空中: 战斗机, 不安全拦截 +1" in listed
    assert "演习 2026-12-01..2026-12-03" in listed
    zh = run("notices", "show", prc, notice_id[:12], "--lang", "zh").stdout
    assert "相遇报告（空中）" in zh and "最近会遇距离：20 英尺（约 6 米；7 码；0.00 海里）" in zh
    en = run("notices", "show", prc, notice_id[:12]).stdout
    assert "Closest point of approach: 20 ft (about 6 m; 7 yd; 0.00 NM)" in en
    shown: dict[str, Any] = json.loads(run("notices", "show", us, notice_id, "--json").stdout)
    assert shown["body"]["behaviours"] == ["unsafe-intercept", "aerobatics"]

    # A human translation of the notice, shown advisory beneath it.
    made = run("translate", prc, notice_id[:12], "--lang", "en", "--text", "Unsafe intercept.")
    assert made.exit_code == 0, made.output
    assert "ADVISORY translation (en, human)" in run("notices", "show", prc, notice_id).stdout
    # Machine translation with no model configured: said plainly, nothing signed.
    message = run("send", us, "--to", "prc", "--subject", "s", "--body", "你好", "--lang", "zh")
    _carry(us, prc, "prc", "us")
    before = _count(prc)
    error = fails("translate", prc, message.stdout.strip(), "--lang", "en", "--machine")
    assert "translation_model_dir" in error and "not configured" in error
    assert _count(prc) == before
    view = run("translations", prc, notice_id).stdout
    assert view.startswith("ORIGINAL (authoritative) notice")
    assert "ADVISORY translation (en, human)" in view and "Unsafe intercept." in view


def test_a_bad_notice_is_refused_naming_the_field_and_nothing_is_stored(tmp_path: Path) -> None:
    us, _prc = _pair(tmp_path)
    fields = [a for f in ENCOUNTER_FIELDS for a in ("--field", f)]
    before = _count(us)
    error = fails(
        "send", us, "--to", "prc", "--notice", "encounter", *fields, "--field", "cpa.value=-20"
    )
    assert "body.cpa.value" in error and "negative" in error
    assert "body.position.lat" in fails(
        "send", us, "--to", "prc", "--notice", "encounter", *fields, "--field", "position.lat=99"
    )
    assert "body.type" in fails("send", us, "--to", "prc", "--notice", "gossip")
    assert "--subject" in fails("send", us, "--to", "prc")
    assert _count(us) == before


def test_glossary_propose_accept_list(tmp_path: Path) -> None:
    us, prc = _pair(tmp_path)
    proposed = run(
        "glossary", "propose", us, "--to", "prc", "--term", "place:en=Taiwan Strait:zh=台湾海峡"
    )
    assert proposed.exit_code == 0, proposed.output
    _carry(us, prc, "prc", "us")
    assert "proposed" in run("glossary", "list", prc).stdout
    assert run("glossary", "accept", prc, proposed.stdout.strip()[:12]).exit_code == 0
    _carry(prc, us, "us", "prc")
    for node in (us, prc):
        rows = json.loads(run("glossary", "list", node, "--json").stdout)
        assert [r["agreed"] for r in rows] == [True]
    assert "accepted already" in fails("glossary", "accept", prc, proposed.stdout.strip())
    message = run("send", us, "--to", "prc", "--subject", "s", "--body", "Off the Taiwan Strait")
    suggested = run("translations", us, message.stdout.strip(), "--lang", "zh").stdout
    assert "glossary: Taiwan Strait -> 台湾海峡 (place)" in suggested
