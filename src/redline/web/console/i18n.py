"""The console's two languages: Babel catalogs, compiled when the node starts.

The ``.po`` sources under ``locale/`` are the catalogs (``console`` domain);
they are compiled in memory at start-up with Babel (``read_po`` then
``write_mo``), so a fresh clone needs no build step and no ``.mo`` file is
committed. English is the source language: its catalog is the msgids.
"""

from __future__ import annotations

import gettext
import io
from functools import cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations
from jinja2 import Environment, FileSystemLoader, select_autoescape

from redline.service.operators import LANGUAGES

__all__ = ["DOMAIN", "LOCALE_DIR", "TEMPLATE_DIR", "environment", "translations"]

HERE = Path(__file__).parent
LOCALE_DIR = HERE / "locale"
TEMPLATE_DIR = HERE / "templates"
DOMAIN = "console"


@cache
def translations(lang: str) -> gettext.NullTranslations:
    """The compiled catalog of ``lang`` (English: the msgids themselves).

    Raises :class:`KeyError` for a language the console does not have.
    """
    if lang not in LANGUAGES:
        raise KeyError(lang)
    po = LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"
    if not po.exists():
        return gettext.NullTranslations()
    with po.open("rb") as source:
        catalog = read_po(source, locale=lang, domain=DOMAIN)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(fp=compiled, domain=DOMAIN)


@cache
def environment(lang: str) -> Environment:
    """The Jinja2 environment that renders pages in ``lang``: autoescaped (a
    peer's text is shown as sent, escaped), with ``_`` and ``ngettext``.

    Raises :class:`KeyError` for a language the console does not have.
    """
    env = Environment(
        loader=FileSystemLoader(TEMPLATE_DIR),
        autoescape=select_autoescape(["html"]),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_translations(translations(lang), newstyle=True)  # type: ignore[attr-defined]
    env.globals["lang"] = lang
    return env
