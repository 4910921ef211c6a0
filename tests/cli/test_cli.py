"""The command line, run as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest


def bridgehead(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run(
        [sys.executable, "-m", "bridgehead", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
    )


def test_init_then_check_then_tools(tmp_path: Path) -> None:
    config = tmp_path / "bridgehead.toml"
    assert bridgehead("init", str(config)).returncode == 0
    assert "[[connectors]]" in config.read_text()
    assert bridgehead("init", str(config)).returncode == 1  # no silent overwrite
    checked = bridgehead("config", "check", "--config", str(config))
    assert checked.returncode == 0, checked.stderr
    assert "1 connector(s), 2 tool(s)" in checked.stdout
    listed = bridgehead("tools", "--config", str(config), "--json")
    assert listed.returncode == 0, listed.stderr
    tools = json.loads(listed.stdout)["tools"]
    assert [t["name"] for t in tools] == ["search", "fetch"]
    assert tools[0]["annotations"]["readOnlyHint"] is True


def test_config_check_lists_every_problem(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(
        '[server]\nport = -1\n\n[[connectors]]\ntype = "documents"\nname = "Bad Name"\nfolders = []\n'
        '\n[[connectors]]\ntype = "warp-drive"\n'
    )
    result = bridgehead("config", "check", "--config", str(config))
    assert result.returncode == 1
    out = result.stderr
    assert "server.port" in out
    # Connector problems are found once the server section is valid, so fix it and look again.
    config.write_text(config.read_text().replace("port = -1", "port = 8000"))
    out = bridgehead("config", "check", "--config", str(config)).stderr
    assert "connectors[0].name" in out
    assert "connectors[0].folders" in out
    assert "connectors[1].type" in out and "warp-drive" in out


def test_duplicate_tool_names_are_a_config_error(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    config = tmp_path / "dup.toml"
    config.write_text(
        f'[[connectors]]\ntype = "documents"\nname = "a"\n[[connectors.folders]]\npath = "{folder}"\n'
        f'[[connectors]]\ntype = "documents"\nname = "b"\n[[connectors.folders]]\npath = "{folder}"\n'
    )
    result = bridgehead("config", "check", "--config", str(config))
    assert result.returncode == 1
    assert "tool_prefix" in result.stderr
    config.write_text(config.read_text().replace('name = "b"\n', 'name = "b"\ntool_prefix = "b_"\n'))
    assert bridgehead("config", "check", "--config", str(config)).returncode == 0


def test_index_reports_progress_and_counts(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.md").write_text("# Alpha\n\nThe alpha document about onboarding.")
    (folder / "b.txt").write_text("Beta\n\nThe beta document.")
    (folder / "broken.pdf").write_bytes(b"%PDF-1.4 not really")
    config = tmp_path / "c.toml"
    config.write_text(
        f'[server]\ndata_dir = "{tmp_path / "data"}"\n'
        f'[[connectors]]\ntype = "documents"\n[[connectors.folders]]\npath = "{folder}"\n'
    )
    first = bridgehead("index", "--config", str(config))
    assert first.returncode == 1  # one file failed, and the command says so
    assert "2 added" in first.stdout and "1 failed" in first.stdout
    assert "broken.pdf" in first.stderr
    (folder / "broken.pdf").unlink()
    second = bridgehead("index", "--config", str(config), "--connector", "docs")
    assert second.returncode == 0
    assert "0 added" in second.stdout and "2 unchanged" in second.stdout
    found = bridgehead("search", "onboarding", "--config", str(config))
    assert found.returncode == 0 and "Alpha" in found.stdout
    missing = bridgehead("index", "--config", str(config), "--connector", "nope")
    assert missing.returncode == 1


@pytest.mark.parametrize("args", [["--help"], ["serve", "--help"], ["version"]])
def test_help_and_version(args: list[str]) -> None:
    result = bridgehead(*args)
    assert result.returncode == 0, result.stderr
