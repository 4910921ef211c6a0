"""Settings: TOML, environment overrides, secret files, and error locations."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridgehead.config import ConfigError, load_settings, sample_corpus_path


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "bridgehead.toml"
    path.write_text(text)
    return path


def test_defaults_serve_the_sample_corpus_on_localhost() -> None:
    settings = load_settings(None, environ={})
    assert (settings.server.host, settings.server.port) == ("127.0.0.1", 8000)
    assert settings.store_url().startswith("sqlite+aiosqlite:///")
    (connector,) = settings.connector_configs()
    assert connector["type"] == "documents"
    assert Path(connector["folders"][0]["path"]) == sample_corpus_path()
    assert len(list(sample_corpus_path().rglob("*.*"))) >= 40


def test_toml_then_environment_then_overrides(tmp_path: Path) -> None:
    path = _write(tmp_path, '[server]\nport = 9000\nhost = "0.0.0.0"\n[mcp]\nstateless = true\n')
    settings = load_settings(path, environ={})
    assert settings.server.port == 9000 and settings.mcp.stateless
    settings = load_settings(
        path, environ={"BRIDGEHEAD_SERVER__PORT": "9100", "BRIDGEHEAD_MCP__STATELESS": "false"}
    )
    assert settings.server.port == 9100 and not settings.mcp.stateless
    settings = load_settings(path, {"server": {"port": 9200}}, environ={"BRIDGEHEAD_SERVER__PORT": "9100"})
    assert settings.server.port == 9200
    assert settings.server.host == "0.0.0.0"  # a partial override keeps the rest of the section


def test_config_file_from_environment(tmp_path: Path) -> None:
    path = _write(tmp_path, "[server]\nport = 9300\n")
    assert load_settings(None, environ={"BRIDGEHEAD_CONFIG": str(path)}).server.port == 9300


def test_secrets_from_files(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "store__url").write_text("postgresql+asyncpg://bridgehead:s3cret@db.internal/bridgehead")
    settings = load_settings(None, environ={"BRIDGEHEAD_SECRETS_DIR": str(secrets)})
    assert settings.store_url().endswith("@db.internal/bridgehead")
    assert "s3cret" not in repr(settings)
    assert "s3cret" not in str(settings.model_dump())


def test_every_problem_is_reported_with_its_location(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        '[server]\nport = "eighty"\npublic_base_url = "ftp://x"\ncolour = "blue"\n\n[mcp]\nsession_idle_timeout = -1\n',
    )
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ={})
    problems = {p.location: p for p in caught.value.problems}
    assert set(problems) == {
        "server.port",
        "server.public_base_url",
        "server.colour",
        "mcp.session_idle_timeout",
    }
    assert problems["server.colour"].message == "unknown setting"
    assert problems["server.port"].file == path
    assert problems["server.port"].line == 2
    assert problems["mcp.session_idle_timeout"].line == 7
    assert f"{path}:2: server.port" in str(caught.value)


def test_environment_problems_have_no_file_location(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(None, environ={"BRIDGEHEAD_SERVER__PORT": "99999"})
    (problem,) = caught.value.problems
    assert problem.location == "server.port" and problem.file is None


def test_invalid_toml_names_the_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "[server]\nport = 80\nhost = \n")
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ={})
    assert caught.value.problems[0].line == 3
    assert "invalid TOML" in caught.value.problems[0].message


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings(tmp_path / "nope.toml", environ={})


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("trusted_proxies", '["not-an-ip"]'),
        ("public_base_url", '"https://x.example/?q=1"'),
        ("log_level", '"loud"'),
    ],
)
def test_server_values_are_validated(tmp_path: Path, key: str, value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(_write(tmp_path, f"[server]\n{key} = {value}\n"), environ={})
    assert caught.value.problems[0].location.startswith(f"server.{key}")


def test_store_url_must_be_an_async_driver(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(None, environ={"BRIDGEHEAD_STORE__URL": "mysql://x"})
    assert caught.value.problems[0].location == "store.url"


def test_the_warm_period_cannot_outlast_the_session() -> None:
    with pytest.raises(ConfigError) as error:
        load_settings(
            None, {"mcp": {"session_idle_timeout": 30, "session_memory_idle_seconds": 60}}, environ={}
        )
    assert "mcp.session_memory_idle_seconds" in str(error.value)
    short = load_settings(None, {"mcp": {"session_idle_timeout": 5}}, environ={})
    assert short.mcp.memory_idle_seconds() == 5
    assert load_settings(None, {}, environ={}).mcp.memory_idle_seconds() == 60
