"""Use cases, one transaction each; the edges (web, cli, link) call into these."""
