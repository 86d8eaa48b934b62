"""The record's export (the bundle of ``redline export``, docs/cli.md) as one zip
file, for the console's *Record* page to download."""

from __future__ import annotations

import io
import tempfile
import zipfile
from pathlib import Path
from typing import Any, cast

from redline.service.export import export_bundle
from redline.service.node import NodeService
from redline.service.record import RecordService

__all__ = ["export_archive"]


class _NoSigning:
    """The export only reads the record; nothing here signs or cosigns."""

    name = ""

    def __getattr__(self, attr: str) -> Any:
        raise AttributeError(f"the console's export does not sign ({attr})")


def export_archive(node: NodeService) -> bytes:
    """The export bundle of this node's log and its peers' logs (as witnessed), zipped.

    Raises nothing new (what :func:`export_bundle` raises).
    """
    record = RecordService(
        node=node, log_signer=cast(Any, _NoSigning()), witness_signer=cast(Any, _NoSigning())
    )
    with tempfile.TemporaryDirectory(prefix="redline-export-") as tmp:
        out = Path(tmp) / "export"
        export_bundle(record, out)
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(out.rglob("*")):
                if path.is_file():
                    archive.write(path, f"redline-export/{path.relative_to(out)}")
        return buffer.getvalue()
