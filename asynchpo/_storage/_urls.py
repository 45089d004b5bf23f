"""Storage URLs: which storage a ``storage=`` string names, and how to show it without secrets.

- ``postgresql://user:password@host:5432/database`` (or ``postgres://``): a PostgreSQL database;
  every parameter ``asyncpg`` knows may follow (``?sslmode=require``, ``?host=/run/postgresql``
  for a Unix socket), and ``?schema=NAME`` puts asynchpo's tables in a PostgreSQL schema other
  than ``asynchpo``.
- ``sqlite:///relative.db`` or ``sqlite:////absolute.db`` (Optuna's form): a SQLite file.
- anything else: the path of a SQLite file.

A password is never shown: :func:`mask_url` replaces it with ``***`` wherever a URL is named
(messages, logs, ``studies``, the dashboard).
"""

from __future__ import annotations

import dataclasses
import re
import urllib.parse
from typing import Final

from asynchpo._exceptions import StorageError

__all__ = [
    "PostgresUrl",
    "is_postgres_url",
    "is_sqlite_url",
    "mask_url",
    "parse_postgres_url",
    "scrub",
    "sqlite_url_path",
]

_POSTGRES_SCHEMES: Final = ("postgresql", "postgres")
_SQLITE_PREFIX: Final = "sqlite:///"
_MASK: Final = "***"
# A PostgreSQL schema name asynchpo accepts: a plain lower-case identifier, no quoting needed.
_SCHEMA_NAME: Final = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_FORM: Final = "postgresql://user:password@host:5432/database"


def is_postgres_url(spec: object) -> bool:
    """Whether ``spec`` (anything given as ``storage=``) is a PostgreSQL URL (a ``str``
    starting ``postgresql://`` or ``postgres://``)."""
    if not isinstance(spec, str):
        return False
    scheme, sep, _ = spec.partition("://")
    return bool(sep) and scheme.lower() in _POSTGRES_SCHEMES


def is_sqlite_url(text: str) -> bool:
    """Whether ``text`` is Optuna's URL form of a SQLite file (``sqlite:///...``)."""
    return text.lower().startswith("sqlite:")


def sqlite_url_path(text: str) -> str:
    """The file a ``sqlite:///relative.db`` or ``sqlite:////absolute.db`` URL names.

    :raises StorageError: for any other ``sqlite:`` form (``sqlite://host/...``,
        ``sqlite:///:memory:`` is allowed and names an in-memory database).
    """
    if not text.lower().startswith(_SQLITE_PREFIX) or len(text) == len(_SQLITE_PREFIX):
        raise StorageError(
            f"{text!r}: give a SQLite file as a path, or as sqlite:///relative.db or "
            "sqlite:////absolute.db"
        )
    return urllib.parse.unquote(text[len(_SQLITE_PREFIX) :])


@dataclasses.dataclass(frozen=True, slots=True)
class PostgresUrl:
    """A parsed PostgreSQL storage URL.

    :param dsn: what asyncpg connects with (the URL without asynchpo's own parameters).
    :param schema: the PostgreSQL schema of asynchpo's tables.
    :param shown: the URL with its password masked, for messages.
    :param secrets: the password(s) in the URL, scrubbed from any text shown.
    """

    dsn: str = dataclasses.field(repr=False)
    schema: str
    shown: str
    secrets: tuple[str, ...] = dataclasses.field(default=(), repr=False)
    user: str | None = None
    database: str | None = None

    def __str__(self) -> str:
        return self.shown

    def scrub(self, text: str) -> str:
        """``text`` with every password of this URL replaced by ``***``."""
        return scrub(text, self.secrets)


def parse_postgres_url(text: str) -> PostgresUrl:
    """Split a ``postgresql://`` URL into what asyncpg needs and asynchpo's ``schema``.

    :raises StorageError: (one line, the password masked) if it is not a URL of that form or
        names a schema that is not a plain lower-case identifier.
    """
    shown = mask_url(text)
    try:
        parts = urllib.parse.urlsplit(text)
        query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True, strict_parsing=False)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError as exc:
        raise StorageError(
            f"{shown} is not a valid PostgreSQL URL ({exc}); write it as {_FORM}"
        ) from None
    if parts.scheme.lower() not in _POSTGRES_SCHEMES:
        raise StorageError(f"{shown} is not a PostgreSQL URL; write it as {_FORM}")
    if parts.fragment:
        raise StorageError(f"{shown} has a '#' part; write the URL as {_FORM}")
    schema = DEFAULT_SCHEMA_NAME
    kept: list[tuple[str, str]] = []
    secrets = [parts.password] if parts.password else []
    for key, value in query:
        if key == "schema":
            schema = value
        else:
            if key == "password" and value:
                secrets.append(value)
            kept.append((key, value))
    if not _SCHEMA_NAME.fullmatch(schema):
        raise StorageError(
            f"{shown}: schema={schema!r} is not a plain PostgreSQL name; use lower-case "
            "letters, digits and underscores (e.g. ?schema=asynchpo_team), starting with a letter"
        )
    dsn = urllib.parse.urlunsplit(
        (parts.scheme, parts.netloc, parts.path, urllib.parse.urlencode(kept), "")
    )
    database = urllib.parse.unquote(parts.path.lstrip("/")) or None
    user = urllib.parse.unquote(parts.username) if parts.username else None
    return PostgresUrl(
        dsn=dsn,
        schema=schema,
        shown=shown,
        secrets=tuple(urllib.parse.unquote(secret) for secret in secrets) + tuple(secrets),
        user=user,
        database=database,
    )


#: The PostgreSQL schema asynchpo uses when the URL does not name one.
DEFAULT_SCHEMA_NAME: Final = "asynchpo"


def mask_url(text: str) -> str:
    """``text`` with the password of a URL (``user:password@`` or ``?password=``) shown as
    ``***``; any other text unchanged."""
    if "://" not in text:
        return text
    scheme, _, rest = text.partition("://")
    authority, slash, tail = _split_authority(rest)
    if "@" in authority:
        userinfo, _, host = authority.rpartition("@")
        if ":" in userinfo:
            user = userinfo.split(":", 1)[0]
            authority = f"{user}:{_MASK}@{host}"
    tail = re.sub(r"((?:^|[?&])password=)[^&#]*", rf"\g<1>{_MASK}", tail, flags=re.IGNORECASE)
    return f"{scheme}://{authority}{slash}{tail}"


def _split_authority(rest: str) -> tuple[str, str, str]:
    """``user:pass@host:port`` and what follows it (``/db?...``), for :func:`mask_url`: the
    authority ends at the first ``/`` or ``?`` after the last ``@`` (a password may hold
    either)."""
    at = rest.rfind("@")
    start = at + 1 if at >= 0 else 0
    ends = [i for i in (rest.find("/", start), rest.find("?", start)) if i >= 0]
    end = min(ends) if ends else len(rest)
    return rest[:end], "", rest[end:]


def scrub(text: str, secrets: tuple[str, ...]) -> str:
    """``text`` with each of ``secrets`` replaced by ``***`` (an error of a driver may quote
    the URL it was given)."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, _MASK)
    return text
