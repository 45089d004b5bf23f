"""Watch studies in a web browser: ``asynchpo dashboard runs.sqlite`` (or a PostgreSQL URL,
``asynchpo dashboard postgresql://user:password@host/db``), or from Python::

    import asyncio
    from asynchpo.dashboard import serve

    asyncio.run(serve("runs.sqlite", port=8080))

The server needs the ``dashboard`` extra (``pip install 'asynchpo[dashboard]'``: Starlette and
Uvicorn); :func:`report_html` (a study page in one file, as ``asynchpo plot -o report.html``
writes it) needs nothing more than asynchpo. The page reads the storage only: it never changes
a byte of a SQLite file, and a search writing to it never waits for it; a PostgreSQL database
is read in read-only sessions, and named with its password as ``***``.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Final

from asynchpo import ConfigError, Study

if TYPE_CHECKING:
    from starlette.applications import Starlette

__all__ = ["create_app", "is_loopback", "report_html", "serve"]

_EXTRA: Final = "the dashboard needs Starlette and Uvicorn: pip install 'asynchpo[dashboard]'"


def create_app(
    storage: str | os.PathLike[str], *, log_dir: str | os.PathLike[str] | None = None
) -> Starlette:
    """The dashboard of ``storage`` as an ASGI application, to serve with any ASGI server or to
    mount in an application of your own.

    :param storage: an asynchpo SQLite file, or a PostgreSQL database's URL
        (``postgresql://user:password@host:5432/database``), opened for reading only when the
        application starts.
    :param log_dir: where ``Command`` trials' logs are, when a run was given ``log_dir``; by
        default they are looked for where ``fmin`` writes them (beside the SQLite file; for
        PostgreSQL, ``asynchpo-logs/<study>`` in the working folder).
    :raises ImportError: without the ``dashboard`` extra.
    """
    try:
        from asynchpo._dashboard._app import create_app as make
    except ImportError as exc:
        raise ImportError(_EXTRA) from exc
    return make(storage, log_dir=log_dir)


def is_loopback(host: str) -> bool:
    """Whether ``host`` is reachable from this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def serve(
    storage: str | os.PathLike[str],
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    log_dir: str | os.PathLike[str] | None = None,
    ready: Callable[[str], None] | None = None,
) -> None:
    """Serve the dashboard of ``storage`` at ``http://host:port/`` until cancelled.

    ``storage`` is a SQLite file or a PostgreSQL URL (see :func:`create_app`); it is opened
    (and checked) before anything listens. Bound to 127.0.0.1 by default: the page has no
    login, so any other host lets whoever reaches it read every study (a warning says so).

    :param port: ``0`` takes a free port (``ready`` tells which).
    :param ready: called with the page's address once the server listens.
    :raises StorageError: the file does not exist or is not an asynchpo database, or the
        PostgreSQL database cannot be reached or refuses the user (the password masked).
    :raises ConfigError: the address cannot be listened on.
    :raises ImportError: without the ``dashboard`` extra.
    """
    app = create_app(storage, log_dir=log_dir)
    try:
        import uvicorn
    except ImportError as exc:
        raise ImportError(_EXTRA) from exc

    from asynchpo._dashboard._live import open_reading

    store, shown_storage = await open_reading(storage)  # fail early, with one line
    await store.aclose()
    listener = _listen(host, port)
    config = uvicorn.Config(app, log_level="warning", lifespan="on", access_log=False)
    server = uvicorn.Server(config)
    bound_host, bound_port = listener.getsockname()[:2]
    if not is_loopback(host):
        print(
            f"warning: serving on {host}: anyone who can reach this machine on port "
            f"{bound_port} can read every study in {shown_storage} (the dashboard has "
            "no login)",
            file=sys.stderr,
        )
    shown = f"[{bound_host}]" if ":" in bound_host else bound_host
    if ready is not None:
        ready(f"http://{shown}:{bound_port}/")
    try:
        await server.serve(sockets=[listener])
    finally:
        listener.close()


def _listen(host: str, port: int) -> socket.socket:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family, kind, proto, _, address = infos[0]
        listener = socket.socket(family, kind, proto)
    except OSError as exc:
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(address)
        listener.listen(128)
    except OSError as exc:
        listener.close()
        raise ConfigError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}; choose another --port"
        ) from None
    return listener


def report_html(study: Study, *, storage: str = "") -> str:
    """The study page of ``study`` as one self-contained HTML file: every chart and the trial
    table, the data embedded, no server and no network needed (it opens from ``file://``).

    :param storage: what to name as the study's storage on the page.
    """
    from asynchpo._dashboard._model import About, Columns, study_json
    from asynchpo._dashboard._report import render_report

    columns = Columns(study.labels, study.record.created, study.trials)
    return render_report(study_json(About.of(study, storage), columns).decode())
