"""Persistence of studies and trials: the :class:`Storage` seam and its two implementations."""

from __future__ import annotations

from asynchpo._storage._base import Storage, StudyConfig, StudyRecord
from asynchpo._storage._factory import StorageSpec, open_storage
from asynchpo._storage._memory import MemoryStorage
from asynchpo._storage._sqlite import SqliteStorage

__all__ = [
    "MemoryStorage",
    "SqliteStorage",
    "Storage",
    "StorageSpec",
    "StudyConfig",
    "StudyRecord",
    "open_storage",
]
