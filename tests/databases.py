"""Databases for the store's tests: a SQLite file in a temp dir, or a fresh PostgreSQL database.

PostgreSQL tests run against ``TEST_DATABASE_URL`` (``scripts/test`` starts a throwaway cluster
and sets it). Each test gets a database of its own, dropped afterwards, so no test sees another's
rows. Without a server the PostgreSQL tests are skipped, except when ``CI=true``: then they fail.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import pytest

ENGINES = ("sqlite", "postgresql")


def postgres_server() -> str:
    server = os.environ.get("TEST_DATABASE_URL", "")
    if not server:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true and no PostgreSQL server: set TEST_DATABASE_URL or run scripts/test")
        pytest.skip("no PostgreSQL server: set TEST_DATABASE_URL or run scripts/test")
    return server


@asynccontextmanager
async def fresh_postgres_database() -> AsyncIterator[str]:
    """The URL of a new, empty database on the test server; dropped on the way out."""
    server = postgres_server()
    name = f"test_{uuid.uuid4().hex[:20]}"
    admin = await asyncpg.connect(server)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield urlsplit(server)._replace(path=f"/{name}").geturl()
    finally:
        admin = await asyncpg.connect(server)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


@asynccontextmanager
async def database_for(engine: str, directory: Path) -> AsyncIterator[str]:
    if engine == "sqlite":
        yield f"sqlite:///{directory / 'bot.db'}"
    else:
        async with fresh_postgres_database() as url:
            yield url


def pg_ctl(*args: str) -> None:
    """Run pg_ctl on the throwaway cluster scripts/test started (the restart test); skip when there is none."""
    bin_dir, data = os.environ.get("TEST_POSTGRES_BIN"), os.environ.get("TEST_POSTGRES_DATA")
    if not bin_dir or not data:
        pytest.skip("the PostgreSQL server is not ours to restart (TEST_POSTGRES_BIN/TEST_POSTGRES_DATA unset)")
    owner = os.environ.get("TEST_POSTGRES_AS_OWNER", "").split()
    # Not captured: the server pg_ctl starts would hold the pipes open.
    quiet = subprocess.DEVNULL
    subprocess.run([*owner, f"{bin_dir}/pg_ctl", "-D", data, "-w", *args], check=True, stdout=quiet, stderr=quiet)  # noqa: S603
