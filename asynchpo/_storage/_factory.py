"""``open_storage``: turn what the user passed as ``storage=`` into a :class:`Storage`."""

from __future__ import annotations

import os
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import final

from asynchpo._storage._base import Storage
from asynchpo._storage._memory import MemoryStorage
from asynchpo._storage._postgres import PostgresStorage
from asynchpo._storage._sqlite import SqliteStorage
from asynchpo._storage._urls import is_postgres_url, is_sqlite_url, sqlite_url_path

__all__ = ["StorageSpec", "open_storage"]

#: What :func:`open_storage` accepts.
StorageSpec = Storage | str | os.PathLike[str] | None


def open_storage(
    spec: StorageSpec, *, read_only: bool = False
) -> AbstractAsyncContextManager[Storage]:
    """An async context manager that yields the storage ``spec`` describes.

    - ``None``: a new :class:`MemoryStorage`;
    - ``"postgresql://user:password@host:5432/database"`` (or ``postgres://``): that
      PostgreSQL database (``await PostgresStorage.open(url)``);
    - ``"sqlite:///relative.db"`` or ``"sqlite:////absolute.db"``: that SQLite file;
    - any other ``str`` or :class:`os.PathLike`: the SQLite file at that path
      (``await SqliteStorage.open(path)``);
    - a :class:`Storage`: that storage itself.

    Only a storage the context manager created is closed when the block exits; a storage that
    was passed in belongs to the caller, who closes it. ::

        async with open_storage("runs/study.db") as storage:
            ...

    :param spec: the storage to use, as above.
    :param read_only: open the storage for reading only: a SQLite file must exist, and not a
        byte of it changes; a PostgreSQL session is read-only and creates nothing.
    :raises TypeError: (at the call, not at ``async with``) for any other kind of value.
    """
    if spec is None or isinstance(spec, Storage | str | os.PathLike):
        return _StorageContext(spec, read_only=read_only)
    raise TypeError(
        "storage must be None (keep trials in memory), a path to a SQLite file (str or "
        "os.PathLike), a postgresql:// URL or a Storage instance, not "
        f"{type(spec).__name__}"
    )


@final
class _StorageContext(AbstractAsyncContextManager[Storage]):
    """Opens the storage on entry; closes it on exit only if it opened it."""

    def __init__(self, spec: StorageSpec, *, read_only: bool) -> None:
        self._spec = spec
        self._read_only = read_only
        self._owned: Storage | None = None

    async def __aenter__(self) -> Storage:
        spec = self._spec
        if isinstance(spec, Storage):
            return spec
        self._owned = storage = await _open(spec, read_only=self._read_only)
        return storage

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        owned, self._owned = self._owned, None
        if owned is not None:
            await owned.aclose()


async def _open(spec: str | os.PathLike[str] | None, *, read_only: bool) -> Storage:
    if spec is None:
        return MemoryStorage()
    if isinstance(spec, str):
        if is_postgres_url(spec):
            return await PostgresStorage.open(spec, read_only=read_only)
        if is_sqlite_url(spec):
            spec = sqlite_url_path(spec)
    return await SqliteStorage.open(spec, read_only=read_only)
