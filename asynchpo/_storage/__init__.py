"""Persistence of studies and trials: the :class:`Storage` seam and its implementations."""

from __future__ import annotations

from asynchpo._storage._base import Changes, Driver, Storage, StudyConfig, StudyRecord, Written
from asynchpo._storage._factory import StorageSpec, open_storage
from asynchpo._storage._memory import MemoryStorage
from asynchpo._storage._postgres import PostgresStorage
from asynchpo._storage._sqlite import SqliteStorage
from asynchpo._storage._wrapper import StorageWrapper

__all__ = [
    "Changes",
    "Driver",
    "MemoryStorage",
    "PostgresStorage",
    "SqliteStorage",
    "Storage",
    "StorageSpec",
    "StorageWrapper",
    "StudyConfig",
    "StudyRecord",
    "Written",
    "open_storage",
]
