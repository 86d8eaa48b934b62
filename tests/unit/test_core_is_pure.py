"""``redline.core`` is sans-IO: it imports no I/O library and never reads the clock
or the random source itself (STYLE.md, "a protocol core that does no I/O").
Above it, only ``redline.store`` speaks SQL, and the link does not import the
web edge (DESIGN.md, "Architecture")."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import redline.core

CORE_DIR = Path(redline.core.__file__).parent
FORBIDDEN = (
    "asyncio",
    "httpx",
    "sqlalchemy",
    "fastapi",
    "starlette",
    "uvicorn",
    "socket",
    "requests",
    "subprocess",
)
# Low-level stdlib modules that a library core is allowed to use (pyca/cryptography's
# x509 parser pulls in email.utils, which imports socket) may be imported by a
# third-party or stdlib module, never by a redline module. The frameworks above
# them must not be loaded at all.
STDLIB_TRANSITIVE_OK = {"socket", "subprocess"}


def core_modules() -> list[str]:
    """Every module under redline.core, including subpackages without __init__."""
    names = []
    for path in sorted(CORE_DIR.rglob("*.py")):
        parts = path.relative_to(CORE_DIR).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names.append(".".join(("redline", "core", *parts)))
    return names


# Run in a fresh interpreter: records, for each forbidden module, the module
# whose code imported it (the first frame outside the import machinery).
PROBE = textwrap.dedent(
    """
    import importlib, json, sys

    FORBIDDEN = set(json.loads(sys.argv[1]))
    MODULES = json.loads(sys.argv[2])
    if sys.argv[3]:
        sys.path.insert(0, sys.argv[3])
    importers = {}

    class Recorder:
        def find_spec(self, name, path=None, target=None):
            top = name.split(".")[0]
            if top in FORBIDDEN and top not in importers:
                frame = sys._getframe(1)
                while frame is not None and (
                    frame.f_globals.get("__name__", "").startswith("importlib")
                    or frame.f_code.co_filename.startswith("<frozen")
                ):
                    frame = frame.f_back
                importers[top] = frame.f_globals.get("__name__") if frame else None
            return None

    sys.meta_path.insert(0, Recorder())
    preloaded = sorted(n for n in FORBIDDEN if n in sys.modules)
    for name in MODULES:
        importlib.import_module(name)
    loaded = sorted(n for n in FORBIDDEN if n in sys.modules)
    print(json.dumps({"preloaded": preloaded, "loaded": loaded, "importers": importers}))
    """
)


def test_every_core_module_is_found() -> None:
    modules = core_modules()
    for expected in ("redline.core.statement", "redline.core.errors", "redline.core.identity"):
        assert expected in modules
    # Subpackages count too.
    nested = [m for m in modules if m.count(".") > 2]
    subdirs = [p for p in CORE_DIR.iterdir() if p.is_dir() and list(p.glob("*.py"))]
    assert len(nested) >= len(subdirs)


def offending_imports(
    modules: list[str], *, ours: str = "redline", extra_path: Path | None = None
) -> list[str]:
    """Forbidden modules loaded by importing ``modules`` in a fresh interpreter."""
    path_arg = str(extra_path) if extra_path is not None else ""
    result = subprocess.run(
        [sys.executable, "-I", "-c", PROBE, json.dumps(FORBIDDEN), json.dumps(modules), path_arg],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["preloaded"] == [], "the probe interpreter started with forbidden modules"
    offenders = []
    for name in report["loaded"]:
        importer = report["importers"].get(name) or "?"
        is_ours = importer == ours or importer.startswith(ours + ".")
        if name in STDLIB_TRANSITIVE_OK and not is_ours:
            continue
        offenders.append(f"{name} (imported by {importer})")
    return offenders


def test_core_imports_no_io_library() -> None:
    offenders = offending_imports(core_modules())
    assert offenders == [], "redline.core pulled in I/O modules: " + ", ".join(offenders)


def test_the_import_check_catches_an_offender(tmp_path: Path) -> None:
    package = tmp_path / "fakecore"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "clean.py").write_text("import json\n")
    (package / "netty.py").write_text("import socket\nimport asyncio\n")
    assert offending_imports(["fakecore.clean"], ours="fakecore", extra_path=tmp_path) == []
    offenders = offending_imports(["fakecore.netty"], ours="fakecore", extra_path=tmp_path)
    assert "socket (imported by fakecore.netty)" in offenders
    assert any(o.startswith("asyncio ") for o in offenders)


# Names a sans-IO core must not call: the clock and the random source.
FORBIDDEN_CALLS = (
    "datetime.now",
    "datetime.utcnow",
    "datetime.today",
    "date.today",
    "time.time",
    "time.time_ns",
    "time.monotonic",
    "os.urandom",
)
FORBIDDEN_PREFIXES = ("random.", "secrets.")
FORBIDDEN_IMPORTS = {"random", "secrets", "uuid"}
FORBIDDEN_FROM = {("os", "urandom"), ("time", "time"), ("time", "time_ns"), ("time", "monotonic")}


def _dotted(node: ast.AST) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


def offences_in(source: str) -> list[tuple[int, str]]:
    """Clock and randomness uses in ``source``, as (line, text)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute):
            dotted = _dotted(node)
            if dotted is None:
                continue
            if any(dotted == c or dotted.endswith("." + c) for c in FORBIDDEN_CALLS):
                found.append((node.lineno, dotted))
            elif dotted.startswith(FORBIDDEN_PREFIXES):
                found.append((node.lineno, dotted))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in FORBIDDEN_IMPORTS:
                    found.append((node.lineno, f"import {alias.name}"))
        elif isinstance(node, ast.ImportFrom) and node.module:
            top = node.module.split(".")[0]
            for alias in node.names:
                if top in FORBIDDEN_IMPORTS or (node.module, alias.name) in FORBIDDEN_FROM:
                    found.append((node.lineno, f"from {node.module} import {alias.name}"))
    return sorted(set(found))


def test_core_never_reads_the_clock_or_the_random_source() -> None:
    offenders = []
    for path in sorted(CORE_DIR.rglob("*.py")):
        for line, text in offences_in(path.read_text()):
            offenders.append(f"{path.relative_to(CORE_DIR.parent)}:{line}: {text}")
    assert offenders == [], "core reads the clock or randomness:\n" + "\n".join(offenders)


def test_the_source_check_catches_each_pattern() -> None:
    # The check above must be able to fail: each pattern is caught, and names
    # inside strings or comments are not.
    bad = {
        "import datetime\nx = datetime.datetime.now()": "datetime.datetime.now",
        "from datetime import datetime\nx = datetime.now(UTC)": "datetime.now",
        "import time\nx = time.time()": "time.time",
        "import os\nx = os.urandom(8)": "os.urandom",
        "x = random.random()": "random.random",
        "x = secrets.token_hex(8)": "secrets.token_hex",
        "import secrets": "import secrets",
        "from os import urandom": "from os import urandom",
    }
    for source, expected in bad.items():
        assert expected in [text for _line, text in offences_in(source)], source
    clean = '"""Never calls datetime.now or random.random."""\n# time.time() is not used\nx = 1\n'
    assert offences_in(clean) == []


# -- the layers above core (DESIGN.md, "Architecture") ---------------------------------

PACKAGE_DIR = CORE_DIR.parent
STORE_DIR = PACKAGE_DIR / "store"
LINK_DIR = PACKAGE_DIR / "link"
# A module outside the store may name SQLAlchemy's Connection as a type (the
# handle store.read() and store.write() give; redline.store.db re-exports it),
# and nothing else from SQLAlchemy.
SQL_TYPE_NAMES = {"Connection"}


def _imports(source: str) -> list[tuple[int, str, tuple[str, ...]]]:
    """Every import in ``source``: (line, module, names imported from it)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name, ()) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module, tuple(a.name for a in node.names)))
    return found


def _is_or_under(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def sql_offences(source: str) -> list[tuple[int, str]]:
    """Imports of SQLAlchemy (beyond the Connection type) or of the store's
    tables, as (line, module)."""
    found = []
    for line, module, names in _imports(source):
        if _is_or_under(module, "sqlalchemy"):
            if module != "sqlalchemy" or not names or not set(names) <= SQL_TYPE_NAMES:
                found.append((line, module))
        elif _is_or_under(module, "redline.store.schema") or (
            module == "redline.store" and "schema" in names
        ):
            found.append((line, module))
    return found


def web_imports(source: str) -> list[tuple[int, str]]:
    """Imports of ``redline.web``, as (line, module)."""
    return [
        (line, module)
        for line, module, names in _imports(source)
        if _is_or_under(module, "redline.web") or (module == "redline" and "web" in names)
    ]


def test_only_the_store_speaks_sql() -> None:
    offenders = []
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        if path.is_relative_to(STORE_DIR):
            continue  # the store, its schema and its migrations
        for line, module in sql_offences(path.read_text()):
            offenders.append(f"{path.relative_to(PACKAGE_DIR.parent)}:{line}: {module}")
    assert offenders == [], "SQL outside redline.store:\n" + "\n".join(offenders)


def test_the_link_does_not_import_the_web() -> None:
    offenders = []
    for path in sorted(LINK_DIR.rglob("*.py")):
        for line, module in web_imports(path.read_text()):
            offenders.append(f"{path.relative_to(PACKAGE_DIR.parent)}:{line}: {module}")
    assert offenders == [], "the link imports the web edge:\n" + "\n".join(offenders)


def test_the_layer_checks_catch_each_pattern() -> None:
    for source in (
        "import sqlalchemy",
        "import sqlalchemy.orm",
        "from sqlalchemy import select",
        "from sqlalchemy import Connection, select",
        "from sqlalchemy.engine import Connection",
        "from redline.store.schema import statements",
        "from redline.store import repo, schema",
    ):
        assert sql_offences(source) != [], source
    for source in (
        "from sqlalchemy import Connection",
        "from redline.store import repo",
        "from redline.store.db import Connection",
        '"""from sqlalchemy import select"""',
    ):
        assert sql_offences(source) == [], source
    for source in (
        "import redline.web.api",
        "from redline.web.problems import problem",
        "from redline.web import api",
        "from redline import web",
    ):
        assert web_imports(source) != [], source
    assert web_imports("from redline.http_problems import problem\nimport redline.webby") == []
