"""Use cases, one transaction each; the edges (web, cli, link) call into these."""

# A node must know the hotline's statement kinds before it parses or receives
# any: importing the kinds registers them (redline.core.kinds.register_kind).
import redline.core.hotline.kinds as _hotline_kinds  # noqa: F401
