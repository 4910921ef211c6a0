"""The audit trail: every call recorded with redacted payloads, exportable, and durable under SIGKILL."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError

from bridgehead.audit.records import REDACTED, Redactor
from bridgehead.store import Database
from tests.conftest import RunningServer, free_port, run_coroutine

ACCEPT = {"accept": "application/json, text/event-stream", "content-type": "application/json"}


def read_events(store_url: str) -> list[dict[str, Any]]:
    from bridgehead.audit.query import events

    async def go() -> list[dict[str, Any]]:
        database = Database(store_url)
        try:
            return [e async for e in events(database)]
        finally:
            await database.close()

    result: list[dict[str, Any]] = run_coroutine(go())
    return result


def test_redactor_removes_secrets_by_key_pattern_and_card_number() -> None:
    redactor = Redactor(["password", "token", "api_key"], [r"ACME-\d{4}"], 10_000)
    payload = {
        "query": "card 4111 1111 1111 1111 and order 1234567890123",
        "nested": {"Password": "hunter2", "list": [{"apiKey": "x", "API_KEY": "k"}]},
        "note": "Authorization: Bearer abc.def-ghi and ACME-1234",
        "jwt": "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiIxMjMifQ.c2lnbmF0dXJl",
    }
    out = redactor.redact(payload)
    assert out["query"] == f"card {REDACTED} and order 1234567890123"  # the second number fails Luhn
    assert out["nested"]["Password"] == REDACTED
    assert out["nested"]["list"][0]["API_KEY"] == REDACTED
    assert "abc.def" not in out["note"] and "ACME-1234" not in out["note"]
    assert out["jwt"] == REDACTED
    big = json.loads(Redactor([], [], 1024).payload({"text": "x" * 5000}))
    assert big["truncated"] is True and big["bytes"] > 5000


async def test_every_call_is_recorded(server_factory: Callable[..., RunningServer], tmp_path: Path) -> None:
    store = f"sqlite+aiosqlite:///{tmp_path / 'audit.db'}"
    server = server_factory(store={"url": store})
    async with Client(server.mcp_url) as client:
        ok = await client.call_tool("search", {"query": "parental leave"})
        missing = await client.call_tool("fetch", {"id": "docs:none"})
        with pytest.raises(MCPError):
            await client.call_tool("search", {"query": 3, "password": "s3cret"})
        with pytest.raises(MCPError):
            await client.call_tool("no_such_tool", {})
    assert not ok.is_error and missing.is_error
    recorded = read_events(store)
    assert [(e["tool"], e["decision"], e["is_error"]) for e in recorded] == [
        ("search", "allowed", False),
        ("fetch", "allowed", True),
        ("search", "invalid", True),
        ("no_such_tool", "invalid", True),
    ]
    first = recorded[0]
    assert first["arguments"] == {"query": "parental leave"}
    assert first["result"]["structuredContent"]["results"]
    assert first["duration_ms"] > 0 and first["transport"] == "streamable-http"
    assert recorded[2]["arguments"]["password"] == REDACTED
    assert "s3cret" not in json.dumps(recorded)


async def test_denied_calls_are_recorded_with_the_reason(
    server_factory: Callable[..., RunningServer], tmp_path: Path
) -> None:
    store = f"sqlite+aiosqlite:///{tmp_path / 'audit.db'}"
    server = server_factory(store={"url": store}, auth={"mode": "mixed", "noauth_tools": ["search"]})
    async with Client(server.mcp_url) as client:
        denied = await client.call_tool("fetch", {"id": "docs:northwind/handbook/travel.md"})
    assert denied.is_error
    (event,) = read_events(store)
    assert event["decision"] == "denied"
    assert "sign" in event["reason"]
    assert event["result"]["_meta"]["mcp/www_authenticate"]


def test_audit_cli_tail_and_export(server_factory: Callable[..., RunningServer], tmp_path: Path) -> None:
    store = f"sqlite+aiosqlite:///{tmp_path / 'audit.db'}"
    server = server_factory(store={"url": store})

    async def calls() -> None:
        async with Client(server.mcp_url) as client:
            for query in ("travel", "expenses", "security"):
                await client.call_tool("search", {"query": query})

    run_coroutine(calls())
    env = {**os.environ, "BRIDGEHEAD_STORE__URL": store, "COLUMNS": "200"}
    exported = subprocess.run(
        [sys.executable, "-m", "bridgehead", "audit", "export", "--since", "1h", "--format", "jsonl"],
        capture_output=True, text=True, env=env, timeout=60, check=True,
    )  # fmt: skip
    lines = [json.loads(line) for line in exported.stdout.splitlines()]
    assert [line["arguments"]["query"] for line in lines] == ["travel", "expenses", "security"]
    assert "exported 3 event(s)" in exported.stderr
    future = subprocess.run(
        [sys.executable, "-m", "bridgehead", "audit", "export", "--since", "2999-01-01"],
        capture_output=True, text=True, env=env, timeout=60, check=True,
    )  # fmt: skip
    assert future.stdout == ""
    tail = subprocess.run(
        [sys.executable, "-m", "bridgehead", "audit", "tail", "-n", "2", "--json"],
        capture_output=True, text=True, env=env, timeout=60, check=True,
    )  # fmt: skip
    assert [json.loads(line)["arguments"]["query"] for line in tail.stdout.splitlines()] == [
        "expenses",
        "security",
    ]
    bad = subprocess.run(
        [sys.executable, "-m", "bridgehead", "audit", "export", "--since", "yesterday-ish"],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert bad.returncode != 0 and "duration" in bad.stderr


def test_acknowledged_calls_survive_sigkill(tmp_path: Path) -> None:
    """Load the real server, SIGKILL it mid-load, and find every acknowledged call in the audit log."""
    port = free_port()
    store = f"sqlite+aiosqlite:///{tmp_path / 'kill.db'}"
    env = {**os.environ, "BRIDGEHEAD_STORE__URL": store, "BRIDGEHEAD_MCP__STATELESS": "true",
           "BRIDGEHEAD_MCP__JSON_RESPONSE": "true"}  # fmt: skip
    log = (tmp_path / "serve.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "bridgehead", "serve", "--port", str(port), "--data-dir", str(tmp_path)],
        stdout=log, stderr=subprocess.STDOUT, env=env,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(base + "/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None and time.monotonic() < deadline, (
                tmp_path / "serve.log"
            ).read_text()
            time.sleep(0.1)
        acknowledged: set[str] = set()
        enough = asyncio.Event()

        async def worker(worker_id: int, http: httpx.AsyncClient, stop_at: float) -> None:
            n = 0
            while time.monotonic() < stop_at:
                n += 1
                marker = f"w{worker_id}-{n}"
                body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                        "params": {"name": "search", "arguments": {"query": f"travel {marker}"}}}  # fmt: skip
                try:
                    response = await http.post(base + "/mcp", json=body, headers=ACCEPT)
                except httpx.TransportError:
                    return
                if response.status_code == 200 and "result" in response.json():
                    acknowledged.add(marker)
                    if len(acknowledged) >= 300:
                        enough.set()

        async def load_then_kill() -> None:
            async with httpx.AsyncClient(timeout=5) as http:
                stop_at = time.monotonic() + 30
                tasks = [asyncio.create_task(worker(i, http, stop_at)) for i in range(16)]
                await asyncio.wait_for(enough.wait(), timeout=30)
                process.send_signal(signal.SIGKILL)
                await asyncio.gather(*tasks)

        run_coroutine(load_then_kill())
        process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
        log.close()
    assert len(acknowledged) >= 300
    recorded = {e["arguments"]["query"].split()[-1] for e in read_events(store)}
    lost = acknowledged - recorded
    assert not lost, f"{len(lost)} acknowledged calls missing from the audit log, e.g. {sorted(lost)[:5]}"


async def test_batch_writers_store_what_the_engine_stores(database: Database) -> None:
    """The dedicated SQLite writer and the engine writer give identical rows when read back."""
    from bridgehead.audit import AuditEvent, AuditLog
    from bridgehead.audit.query import events
    from bridgehead.audit.writer import AuditRow, EngineWriter, SQLiteWriter, audit_row, writer_for
    from bridgehead.config import AuditSettings

    def row(n: int) -> dict[str, Any]:
        return {
            "at": 1_700_000_000.5 + n,
            "tool": "echo",
            "arguments": {"text": "héllo", "nested": [1, 2.5, None, True]} if n else None,
            "result": {"content": [{"type": "text", "text": "ok"}]} if n else None,
            "is_error": bool(n % 2),
            "decision": "allowed",
            "reason": "role staff",
            "duration_ms": 1.25,
            "user_id": "u1" if n else None,
            "username": "ada",
            "client_id": None,
            "transport": "streamable-http",
            "session_id": None,
            "request_id": str(n),
        }

    def logged(n: int) -> AuditRow:
        """The row as AuditLog hands it to a writer (payloads redacted and encoded by the log itself)."""
        return AuditLog(database, AuditSettings()).row(AuditEvent(**row(n)))

    writer = writer_for(database)
    assert isinstance(writer, SQLiteWriter if database.is_sqlite else EngineWriter)
    plain_rows = [audit_row(row(0)), audit_row(row(1))]
    encoded_rows = [logged(0), logged(1)]
    try:
        await writer.write(plain_rows)
        await writer.write(encoded_rows)
    finally:
        writer.close()
    await EngineWriter(database).write(plain_rows)
    await EngineWriter(database).write(encoded_rows)
    stored = [{k: v for k, v in e.items() if k != "id"} async for e in events(database)]
    assert len(stored) == 8
    assert stored[:2] == stored[2:4] == stored[4:6] == stored[6:]
    assert stored[1]["arguments"] == {"text": "héllo", "nested": [1, 2.5, None, True]}
    assert stored[0]["arguments"] is None and stored[1]["is_error"] is True


async def test_a_failed_batch_leaves_nothing_behind(tmp_path: Path) -> None:
    """A batch is one transaction: when a row in it cannot be stored, none of its rows are."""
    from bridgehead.audit.query import events
    from bridgehead.audit.writer import SQLiteWriter, audit_row

    url = f"sqlite+aiosqlite:///{tmp_path / 'store.db'}"
    database = Database(url)
    await database.migrate()
    writer = SQLiteWriter(str(tmp_path / "store.db"))
    good = {
        "at": 1.0,
        "tool": "t",
        "arguments": None,
        "result": None,
        "is_error": False,
        "decision": "allowed",
        "reason": "",
        "duration_ms": 0.0,
    }
    try:
        with pytest.raises(Exception, match="NOT NULL"):
            await writer.write([audit_row(good), audit_row({**good, "tool": None})])
        await writer.write([audit_row(good)])
    finally:
        writer.close()
    try:
        assert [e["tool"] async for e in events(database)] == ["t"]
    finally:
        await database.close()
