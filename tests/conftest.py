"""Shared fixtures: real databases (SQLite files, the PostgreSQL server) and real running servers."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from bridgehead.app import create_app
from bridgehead.cli.serve_cmd import uvicorn_config
from bridgehead.config import Settings, load_settings
from bridgehead.store import Database

PG_ADMIN_URL = os.environ.get("BRIDGEHEAD_TEST_PG", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")


def run_coroutine(coro: Any) -> Any:
    """Run a coroutine to completion on a fresh loop in its own thread (safe inside async tests)."""
    result: dict[str, Any] = {}

    def target() -> None:
        try:
            result["value"] = asyncio.run(coro)
        except BaseException as exc:  # re-raised in the caller's thread
            result["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]
    return result.get("value")


def wait_until_started(server: uvicorn.Server, thread: threading.Thread, timeout: float = 30) -> None:
    """Block until a uvicorn server running in ``thread`` accepts connections; fail if it dies first."""
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("test server did not start")
        time.sleep(0.02)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _pg_admin(statement: str) -> None:
    import asyncpg

    url = PG_ADMIN_URL.replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh, empty PostgreSQL database on the local server; dropped afterwards."""
    name = f"bh_test_{uuid.uuid4().hex[:12]}"
    run_coroutine(_pg_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        run_coroutine(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A store URL for each backend: a SQLite file and a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'store.db'}"
    else:
        with postgres_database() as url:
            yield url


@pytest.fixture
async def database(store_url: str) -> AsyncIterator[Database]:
    db = Database(store_url)
    await db.migrate()
    try:
        yield db
    finally:
        await db.close()


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    """Settings for a test: data under tmp_path, any section overridden, environment ignored."""
    server = {"data_dir": str(tmp_path / "data"), **overrides.pop("server", {})}
    return load_settings(None, {"server": server, **overrides}, environ={})


@dataclass
class RunningServer:
    """A Bridgehead app served by a real uvicorn on 127.0.0.1."""

    settings: Settings
    port: int
    app: Any

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def mcp_url(self) -> str:
        return f"{self.base_url}/mcp"

    @property
    def sse_url(self) -> str:
        return f"{self.base_url}/sse"


@contextmanager
def serve_in_thread(settings: Settings) -> Iterator[RunningServer]:
    """Run the app under uvicorn in a background thread until the block ends."""
    port = free_port()
    app = create_app(settings)
    config = uvicorn_config(app, settings, port=port)
    config.log_level = "warning"
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_until_started(server, thread)
    try:
        yield RunningServer(settings, port, app)
    finally:
        server.should_exit = True
        thread.join(timeout=15)


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[Callable[..., RunningServer]]:
    """Start servers with given setting overrides; all are stopped at the end of the test."""
    stack: list[Any] = []

    def start(**overrides: Any) -> RunningServer:
        settings = make_settings(tmp_path / f"s{len(stack)}", **overrides)
        cm = serve_in_thread(settings)
        running = cm.__enter__()
        stack.append(cm)
        return running

    yield start
    for cm in reversed(stack):
        cm.__exit__(None, None, None)


@pytest.fixture(scope="session")
def sample_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """One default server (sample corpus, no auth) shared by read-only tests."""
    settings = make_settings(tmp_path_factory.mktemp("sample"))
    with serve_in_thread(settings) as running:
        yield running
