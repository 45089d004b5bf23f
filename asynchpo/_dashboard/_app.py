"""The dashboard's web application: three pages (one HTML shell), the static files, and a JSON
API that only reads (see ``docs/dashboard.md``). An ASGI app on Starlette.

Safe by construction: every route is GET (any other method is refused), the pages run only the
package's own scripts (a Content-Security-Policy without inline scripts, sent with every
response), the page writes user strings into the document as text only, static files come from a
fixed list, and a trial's log is read from the study's log folder by trial id, never from a path
a request or a stored result names.
"""

from __future__ import annotations

import contextlib
import importlib.resources
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Final

import anyio
import anyio.to_thread
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from asynchpo import AsynchpoError, ConfigError, StudyNotFound
from asynchpo._dashboard._live import Source
from asynchpo._dashboard._logs import log_tail
from asynchpo._dashboard._model import changes_json, encode, gzip_body, trial_payload

__all__ = ["CSP", "create_app"]

CSP: Final = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
_HEADERS: Final = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
}
_STATIC: Final = {
    "dashboard.js": "text/javascript; charset=utf-8",
    "dashboard.css": "text/css; charset=utf-8",
    "uPlot.iife.min.js": "text/javascript; charset=utf-8",
    "uPlot.min.css": "text/css; charset=utf-8",
}
_JSON: Final = "application/json"
#: Responses smaller than this go uncompressed.
_GZIP_FROM: Final = 1024


def static_file(name: str) -> bytes:
    """A file of the page, from the package."""
    return importlib.resources.files("asynchpo._dashboard").joinpath("static", name).read_bytes()


def create_app(
    storage: str | os.PathLike[str], *, log_dir: str | os.PathLike[str] | None = None
) -> Starlette:
    """The dashboard of ``storage``, as an ASGI application.

    :param storage: an existing asynchpo SQLite file, or a PostgreSQL database's URL; it is
        opened read-only when the application starts (its lifespan), and a missing or foreign
        file, or a database that cannot be reached, fails the start. Every response names a
        URL with its password masked.
    :param log_dir: where ``Command`` trials' logs were written when a run was given
        ``log_dir``; by default they are looked for beside the file (as ``fmin`` writes them).
    """
    source = Source(storage, log_dir)
    page = static_file("page.html")
    files = {name: static_file(name) for name in _STATIC}

    async def html(request: Request) -> Response:
        return Response(page, media_type="text/html; charset=utf-8")

    async def no_icon(request: Request) -> Response:
        return Response(status_code=204)

    async def static(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in files:
            return _error(404, f"no static file {name!r}")
        return _compressed(request, files[name], _STATIC[name], cache=True)

    async def studies(request: Request) -> Response:
        body = {"storage": source.storage, "now": time.time(), "studies": await source.summaries()}
        return _compressed(request, encode(body), _JSON)

    async def study(request: Request) -> Response:
        watched = await source.study(_text(request, "name"))
        if _accepts_gzip(request):
            return _gzipped(await watched.payload(gzipped=True), _JSON)
        return Response(await watched.payload(), media_type=_JSON, headers=_NO_STORE)

    async def changes(request: Request) -> Response:
        watched = await source.study(_text(request, "name"))
        since = _whole(request, "since")
        records = watched.columns.changed_since(since)
        if records is None:
            return _compressed(request, encode({"reset": True}), _JSON)
        body = changes_json(watched.about(), watched.columns, records)
        return _compressed(request, body, _JSON)

    async def trial(request: Request) -> Response:
        watched = await source.study(_text(request, "study"))
        trial_id = _whole(request, "id")
        record = watched.columns.get(trial_id)
        if record is None:
            raise _NotFound(f"study {watched.study.name!r} has no trial {trial_id}")
        folders = source.log_folders(watched)
        log = await anyio.to_thread.run_sync(log_tail, folders, trial_id)
        return _compressed(request, encode(trial_payload(watched.study, record, log)), _JSON)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with source, anyio.create_task_group() as tasks:
            # Read every study and build its page's data before anyone asks: the first visit
            # then costs what any other does (a request meanwhile waits for its study).
            tasks.start_soon(source.warm)
            yield
            tasks.cancel_scope.cancel()

    def api(
        endpoint: Callable[[Request], Awaitable[Response]],
    ) -> Callable[[Request], Awaitable[Response]]:
        async def answer(request: Request) -> Response:
            try:
                return await endpoint(request)
            except (_BadRequest, ConfigError) as exc:  # ConfigError: e.g. an empty name
                return _error(400, str(exc))
            except (_NotFound, StudyNotFound) as exc:
                return _error(404, str(exc))
            except AsynchpoError as exc:
                return _error(500, str(exc))

        return answer

    routes = [
        Route("/", html),
        Route("/study", html),
        Route("/trial", html),
        Route("/static/{name}", static),
        Route("/favicon.ico", no_icon),
        Route("/api/studies", api(studies)),
        Route("/api/study", api(study)),
        Route("/api/changes", api(changes)),
        Route("/api/trial", api(trial)),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.add_middleware(_SecurityHeaders)
    return app


class _SecurityHeaders:
    """Adds the security headers to every response, errors and refusals included."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["method"] not in ("GET", "HEAD"):
            response = _error(405, "the dashboard only reads: use GET")
            response.headers["allow"] = "GET, HEAD"
            await response(scope, receive, self._with_headers(send))
            return
        await self.app(scope, receive, self._with_headers(send))

    @staticmethod
    def _with_headers(send: Send) -> Send:
        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (key, value)
                    for key, value in message.get("headers", [])
                    if key.decode("latin-1").lower() not in _HEADERS
                ]
                headers += [(key.encode(), value.encode()) for key, value in _HEADERS.items()]
                message = {**message, "headers": headers}
            await send(message)

        return sending


class _BadRequest(Exception):
    pass


class _NotFound(Exception):
    pass


def _text(request: Request, name: str) -> str:
    value = request.query_params.get(name)
    if value is None:
        raise _BadRequest(f"the request has no {name!r}: add ?{name}=...")
    return value


def _whole(request: Request, name: str) -> int:
    text = _text(request, name)
    try:
        value = int(text)
    except ValueError:
        raise _BadRequest(f"{name} must be a whole number, got {text[:40]!r}") from None
    if not -(2**62) <= value < 2**62:
        raise _BadRequest(f"{name} is out of range: {text[:40]}")
    return value


def _error(status: int, message: str) -> Response:
    return Response(encode({"error": message}), status_code=status, media_type=_JSON)


_NO_STORE: Final = {"cache-control": "no-store"}


def _accepts_gzip(request: Request) -> bool:
    return "gzip" in request.headers.get("accept-encoding", "")


def _compressed(request: Request, body: bytes, media_type: str, *, cache: bool = False) -> Response:
    if len(body) >= _GZIP_FROM and _accepts_gzip(request):
        return _gzipped(gzip_body(body), media_type, cache=cache)
    headers = {"cache-control": "max-age=3600"} if cache else _NO_STORE
    return Response(body, media_type=media_type, headers=headers)


def _gzipped(body: bytes, media_type: str, *, cache: bool = False) -> Response:
    headers = {
        "cache-control": "max-age=3600" if cache else "no-store",
        "content-encoding": "gzip",
        "vary": "accept-encoding",
    }
    return Response(body, media_type=media_type, headers=headers)
