"""Fixtures shared by the test modules."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from asynchpo._storage import MemoryStorage, SqliteStorage, Storage


@pytest.fixture(params=["memory", "sqlite"])
async def storage(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Storage]:
    """Each storage implementation in turn, for the seam's conformance tests; the SQLite one
    on a real file."""
    opened: Storage
    if request.param == "memory":
        opened = MemoryStorage()
    else:
        opened = await SqliteStorage.open(tmp_path / "studies.db")
    try:
        yield opened
    finally:
        await opened.aclose()
