"""The console's catalogs and vendored files: every label has its Chinese
translation, pages render in the operator's language, and the vendored
scripts are the ones VENDORED.md pins."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from redline.web.console.i18n import LOCALE_DIR, TEMPLATE_DIR, environment, translations

VENDOR = TEMPLATE_DIR.parent / "static" / "vendor"


def template_msgids(directory: Path = TEMPLATE_DIR) -> set[str]:
    found = extract_from_dir(
        str(directory),
        method_map=[("**.html", "jinja2.ext:babel_extract")],
        options_map={"**.html": {"extensions": "jinja2.ext.i18n"}},
    )
    return {str(message) for _file, _line, message, _comments, _context in found}


def untranslated(msgids: set[str], po_text: bytes) -> list[str]:
    import io

    catalog = read_po(io.BytesIO(po_text), locale="zh")
    done = {str(m.id) for m in catalog if m.id and m.string and not m.fuzzy}
    return sorted(msgids - done)


def test_every_label_has_a_chinese_translation() -> None:
    msgids = template_msgids()
    assert {"Inbox", "Acknowledge", "Link health", "FLASH"} <= msgids
    po = (LOCALE_DIR / "zh" / "LC_MESSAGES" / "console.po").read_bytes()
    assert untranslated(msgids, po) == []


def test_the_translation_check_can_fail(tmp_path: Path) -> None:
    (tmp_path / "page.html").write_text('{{ _("Inbox") }} {{ _("A label nobody translated") }}')
    po = (LOCALE_DIR / "zh" / "LC_MESSAGES" / "console.po").read_bytes()
    assert untranslated(template_msgids(tmp_path), po) == ["A label nobody translated"]
    emptied = po.replace('msgstr "收件箱"'.encode(), b'msgstr ""')
    assert untranslated({"Inbox"}, emptied) == ["Inbox"]


def test_catalogs_compile_from_the_po_at_start() -> None:
    assert translations("zh").gettext("Acknowledge") == "确认收悉"
    assert translations("en").gettext("Acknowledge") == "Acknowledge"


def test_a_fragment_renders_in_the_operators_language() -> None:
    board = {
        "links": [
            {
                "peer": "us",
                "state": "up",
                "last_exchange_at": None,
                "queued": 0,
                "oldest_queued_at": None,
            }
        ],
        "mechanisms": [
            {
                "name_en": "Defense Telephone Link",
                "name_zh": "国防部直通电话",
                "status": "suspended",
                "since": None,
                "suspended_by": [],
            }
        ],
        "levels": [],
        "requests": [],
    }
    zh = environment("zh").get_template("_board.html").render(board=board, alarms=[])
    en = environment("en").get_template("_board.html").render(board=board, alarms=[])
    assert "链路状态" in zh and "国防部直通电话" in zh and "已暂停" in zh
    assert "Link health" not in zh and "Defense Telephone Link" not in zh
    assert "Link health" in en and "suspended" in en


def test_vendored_scripts_match_their_pinned_hashes() -> None:
    pinned = dict(
        re.findall(
            r"^\| `([^`]+)` \|.*\| `([0-9a-f]{64})` \|$", (VENDOR / "VENDORED.md").read_text(), re.M
        )
    )
    assert set(pinned) == {"htmx-2.0.4.min.js", "htmx-ext-sse-2.2.2.js"}
    for name, digest in pinned.items():
        assert hashlib.sha256((VENDOR / name).read_bytes()).hexdigest() == digest, name


def test_every_level_state_and_alarm_has_a_chinese_label() -> None:
    from redline.core.hotline.directory import Level
    from redline.core.hotline.lifecycle import CallState, MechanismState, RequestState

    labels = environment("zh").get_template("_labels.html").module
    values = {
        labels.level: [level.value for level in Level],  # type: ignore[attr-defined]
        labels.state: [  # type: ignore[attr-defined]
            s.value for enum in (CallState, MechanismState, RequestState) for s in enum
        ],
        labels.alarm: ["unreachable", "peer-unreachable", "not-answered", "equivocation"],  # type: ignore[attr-defined]
    }
    for macro, words in values.items():
        for word in words:
            shown = str(macro(word)).strip()
            assert shown != word, f"{word!r} has no label"
            assert re.search(r"[\u4e00-\u9fff]", shown), f"{word!r} shows {shown!r}, not Chinese"
