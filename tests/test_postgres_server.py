"""The PostgreSQL fixtures themselves (tests/conftest.py): fresh databases, stop/start,
terminate_backends and password auth over TCP."""

from __future__ import annotations

from typing import TYPE_CHECKING

import asyncpg
import pytest

if TYPE_CHECKING:
    from conftest import PgServer


async def _tables(url: str) -> list[str]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
        )
    finally:
        await conn.close()
    return [row["tablename"] for row in rows]


async def test_fresh_database_is_empty_and_separate(postgres_server: PgServer) -> None:
    first = postgres_server.create_database()
    second = postgres_server.create_database()
    assert first != second
    assert await _tables(first) == []
    conn = await asyncpg.connect(first)
    try:
        await conn.execute("CREATE TABLE only_here (x int)")
        assert await conn.fetchval("SELECT current_database()") == postgres_server.dbname_of(first)
    finally:
        await conn.close()
    assert await _tables(first) == ["only_here"]
    assert await _tables(second) == []


async def test_pg_url_is_a_fresh_database(pg_url: str, postgres_server: PgServer) -> None:
    assert await _tables(pg_url) == []
    assert postgres_server.dbname_of(pg_url) not in ("postgres", "template1")


async def test_stop_start_keeps_data_and_urls(pg_url: str, postgres_server: PgServer) -> None:
    conn = await asyncpg.connect(pg_url)
    await conn.execute("CREATE TABLE kept (x int); INSERT INTO kept VALUES (1), (2)")
    postgres_server.stop()
    assert not postgres_server.is_running()
    with pytest.raises((OSError, asyncpg.PostgresError)):
        await asyncpg.connect(pg_url)
    # The old connection was ended by the fast shutdown.
    with pytest.raises((asyncpg.PostgresError, asyncpg.InterfaceError, OSError)):
        await conn.fetchval("SELECT 1")
    conn.terminate()
    postgres_server.start()
    assert postgres_server.is_running()
    conn = await asyncpg.connect(pg_url)
    try:
        assert await conn.fetchval("SELECT sum(x) FROM kept") == 3
    finally:
        await conn.close()


def test_create_database_restarts_a_stopped_server(postgres_server: PgServer) -> None:
    postgres_server.stop()
    url = postgres_server.create_database()
    assert postgres_server.is_running()
    assert url.startswith("postgresql://postgres@/")


async def test_terminate_backends_ends_other_connections(
    pg_url: str, postgres_server: PgServer
) -> None:
    victim = await asyncpg.connect(pg_url)
    bystander = await asyncpg.connect(postgres_server.url)
    try:
        assert await victim.fetchval("SELECT 1") == 1
        assert postgres_server.terminate_backends(postgres_server.dbname_of(pg_url)) == 1
        with pytest.raises((asyncpg.PostgresError, asyncpg.InterfaceError, OSError)):
            await victim.fetchval("SELECT 1")
        assert await bystander.fetchval("SELECT 1") == 1  # other databases are untouched
    finally:
        victim.terminate()
        await bystander.close()
    # and the database takes new connections again
    assert await _tables(pg_url) == []


async def test_password_url_right_password(pg_url: str, postgres_server: PgServer) -> None:
    dbname = postgres_server.dbname_of(pg_url)
    url = postgres_server.password_url("asynchpo_pw", "right-secret", dbname)
    assert "127.0.0.1" in url
    conn = await asyncpg.connect(url)
    try:
        assert await conn.fetchval("SELECT current_user") == "asynchpo_pw"
        assert await conn.fetchval("SELECT current_database()") == dbname
        await conn.execute("CREATE TABLE made_over_tcp (x int)")
    finally:
        await conn.close()
    assert await _tables(pg_url) == ["made_over_tcp"]


async def test_password_url_wrong_password(postgres_server: PgServer) -> None:
    with pytest.raises(asyncpg.InvalidPasswordError):
        await asyncpg.connect(postgres_server.with_password("wrong-secret"))
    with pytest.raises(asyncpg.InvalidPasswordError):
        await asyncpg.connect(postgres_server.password_url("postgres", "anything"))
