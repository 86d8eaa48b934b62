"""Query parameters every paged listing of the operator API shares (docs/api.md, "Paging")."""

from __future__ import annotations

from fastapi import Query

from redline.service.paging import DEFAULT_LIMIT, MAX_CURSOR, MAX_LIMIT

__all__ = ["Cursor", "Limit"]

Limit = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description=f"rows in the page (1..{MAX_LIMIT})")
Cursor = Query(
    None,
    min_length=1,
    max_length=MAX_CURSOR,
    pattern=r"^[A-Za-z0-9_-]+$",
    description="the previous page's `next`; absent for the first page",
)
