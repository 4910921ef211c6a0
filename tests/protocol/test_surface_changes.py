"""Tool-surface versioning: a config reload (SIGHUP) swaps the tools, records a diff and notifies clients."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import mcp_types as types
from mcp import Client

from bridgehead.protocol.surface_history import diff_surfaces
from tests.test_serve_process import bridgehead_process


def _config(
    path: Path,
    folder: Path,
    data: Path,
    *,
    second: Path | None = None,
    memory_idle_seconds: float | None = None,
) -> None:
    text = f'[server]\ndata_dir = "{data}"\n'
    if memory_idle_seconds is not None:
        text += f"[mcp]\nsession_memory_idle_seconds = {memory_idle_seconds}\n"
    text += f'[[connectors]]\ntype = "documents"\nname = "docs"\n[[connectors.folders]]\npath = "{folder}"\n'
    if second is not None:
        text += (
            f'[[connectors]]\ntype = "documents"\nname = "hr"\ntool_prefix = "hr_"\n'
            f'[[connectors.folders]]\npath = "{second}"\n'
        )
    path.write_text(text)


def test_diff_describes_added_removed_and_changed_tools() -> None:
    old = [
        {"name": "a", "description": "x"},
        {"name": "b", "description": "y", "inputSchema": {"type": "object"}},
    ]
    new = [{"name": "b", "description": "y2", "inputSchema": {"type": "object"}}, {"name": "c", "title": "C"}]
    text = diff_surfaces(old, new)
    assert "+ tool c added: C" in text
    assert "- tool a removed" in text
    assert "~ tool b changed: description" in text
    assert diff_surfaces(new, new) == "no change"


async def test_sighup_reload_records_the_change_and_notifies_sessions(tmp_path: Path) -> None:
    docs, hr = two_folders(tmp_path)
    config = tmp_path / "bridgehead.toml"
    _config(config, docs, tmp_path / "data")
    listener = ListChanged()

    with bridgehead_process(tmp_path, "--config", str(config)) as base:
        pid = int(_pid_of(tmp_path))
        async with Client(base + "/mcp", mode="legacy", message_handler=listener.on_message) as client:
            assert client.server_capabilities.tools and client.server_capabilities.tools.list_changed
            before = await client.list_tools()
            assert {t.name for t in before.tools} == {"search", "fetch"}
            _config(config, docs, tmp_path / "data", second=hr)
            os.kill(pid, signal.SIGHUP)
            await asyncio.wait_for(listener.changed.wait(), timeout=20)
            after = await client.list_tools()
            assert {t.name for t in after.tools} == {"search", "fetch", "hr_search", "hr_fetch"}
            found = await client.call_tool("hr_search", {"query": "payroll"})
            assert found.structured_content and found.structured_content["results"]
        assert listener.notifications == ["notifications/tools/list_changed"]
    shown = await asyncio.to_thread(_cli, "tools", "diff", "--config", str(config))
    assert "+ tool hr_search added" in shown
    assert "+ tool hr_fetch added" in shown
    assert "tool" in await asyncio.to_thread(_cli, "tools", "history", "--config", str(config))
    listed = json.loads(await asyncio.to_thread(_cli, "tools", "--json", "--config", str(config)))
    assert [t["name"] for t in listed["tools"]] == ["search", "fetch", "hr_search", "hr_fetch"]


def _cli(*args: str) -> str:
    env = {**os.environ, "COLUMNS": "200"}
    done = subprocess.run(
        [sys.executable, "-m", "bridgehead", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=True,
    )
    return done.stdout


def two_folders(tmp_path: Path) -> tuple[Path, Path]:
    """Two document folders of one file each: ``docs`` (served from the start) and ``hr`` (added later)."""
    docs, hr = tmp_path / "docs", tmp_path / "hr"
    docs.mkdir()
    hr.mkdir()
    (docs / "a.md").write_text("# Alpha\n\nAbout travel.")
    (hr / "b.md").write_text("# Beta\n\nAbout payroll.")
    return docs, hr


class ListChanged:
    """An SDK client message handler that records tools/list_changed notifications."""

    def __init__(self) -> None:
        self.notifications: list[str] = []
        self.changed = asyncio.Event()

    async def on_message(self, message: Any) -> None:
        root = getattr(message, "root", message)
        if isinstance(root, types.ToolListChangedNotification):
            self.notifications.append(root.method)
            self.changed.set()


def _pid_of(tmp_path: Path) -> str:
    """The serve process's pid, from its log line written by uvicorn."""
    import re

    for log in tmp_path.glob("serve-*.log"):
        match = re.search(r"Started server process \[(\d+)\]", log.read_text())
        if match:
            return match.group(1)
    raise AssertionError("no serve log with a pid")
