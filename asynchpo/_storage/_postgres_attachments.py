"""Reading a PostgreSQL study's attachments without awaiting, for the hyperopt ``Trials`` view
(see :meth:`asynchpo.Storage.attachment_reader`)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import urllib.parse
from typing import Any, Final, final

from asynchpo._exceptions import StorageError
from asynchpo._storage._schema import decode_attachment
from asynchpo._storage._urls import PostgresUrl

__all__ = ["AttachmentReader"]

_UNDEFINED_TABLE: Final = "42P01"


@final
class AttachmentReader:
    """Reads one study's attachments, a trial at a time, through a connection of its own
    (opened for the call, read-only), on an event loop of its own in a worker thread: it works
    from code that cannot await, inside a running event loop, and after the storage is closed.

    A ``Trials`` holding it may be pickled (hyperopt scripts do): the URL is pickled without its
    password, so an unpickled reader connects with ``PGPASSWORD`` or ``~/.pgpass``.
    """

    def __init__(self, url: PostgresUrl, study_id: int, *, connect_timeout: float) -> None:
        self._url = url
        self._study_id = study_id
        self._connect_timeout = connect_timeout

    def __repr__(self) -> str:
        return f"<AttachmentReader of study {self._study_id} in {self._url.shown!r}>"

    def __call__(self, trial_id: int) -> dict[str, Any]:
        """Trial ``trial_id``'s attachments, as :meth:`Storage.attachments` returns them.

        :raises StorageError: in one line if the server cannot be read.
        """
        with concurrent.futures.ThreadPoolExecutor(1, "asynchpo-attachments") as pool:
            return pool.submit(asyncio.run, self._read(trial_id)).result()

    async def _read(self, trial_id: int) -> dict[str, Any]:
        import asyncpg

        from asynchpo._storage._postgres import connect_error

        try:
            conn = await asyncpg.connect(
                self._url.dsn,
                timeout=self._connect_timeout,
                server_settings={"default_transaction_read_only": "on"},
            )
        except Exception as exc:
            raise connect_error(asyncpg, self._url, exc, self._connect_timeout) from None
        try:
            rows = await conn.fetch(
                f'SELECT name, kind, value FROM "{self._url.schema}".attachments'
                " WHERE study_id = $1 AND tid = $2 ORDER BY position",
                self._study_id,
                trial_id,
            )
        except asyncpg.PostgresError as exc:
            if getattr(exc, "sqlstate", None) == _UNDEFINED_TABLE:
                return {}
            raise StorageError(
                f"could not read the attachments of trial {trial_id} of study {self._study_id} "
                f"in {self._url}: PostgreSQL said {self._url.scrub(str(exc))!r}"
            ) from None
        finally:
            await conn.close()
        return {row[0]: decode_attachment(trial_id, *row) for row in rows}

    def __getstate__(self) -> dict[str, Any]:
        url = self._url
        return {
            "url": PostgresUrl(
                dsn=_without_password(url.dsn),
                schema=url.schema,
                shown=url.shown,
                user=url.user,
                database=url.database,
            ),
            "study_id": self._study_id,
            "connect_timeout": self._connect_timeout,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._url = state["url"]
        self._study_id = state["study_id"]
        self._connect_timeout = state["connect_timeout"]


def _without_password(dsn: str) -> str:
    """``dsn`` with no password in it, neither ``user:password@`` nor ``?password=``."""
    parts = urllib.parse.urlsplit(dsn)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, host = netloc.rpartition("@")
        netloc = f"{userinfo.split(':', 1)[0]}@{host}"
    query = urllib.parse.urlencode(
        [
            (key, value)
            for key, value in urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
            if key != "password"
        ]
    )
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
