"""Real third-party peers against a real ``bridgehead serve`` process.

The Node peers (MCP Inspector, the MCP conformance suite, and the Node 22 they
run on) are pinned in ``tests/interop/node/package-lock.json`` and installed by
``scripts/setup-node.sh``, which the ``node_peers`` fixture runs first (a no-op
when node_modules already matches the lock file). All traffic stays on 127.0.0.1.

The ``bridgehead`` fixture is parametrized over the configurations of /mcp in
``tests/interop/paths.py`` (the defaults, the SDK path, the fast path), so every test
that uses it runs against each, and every server records which path answered each
request (``ServedBridgehead.handled``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port
from tests.interop.paths import DEFAULT, PATH_IDS, PATHS, Handled, MCPPath

REPO = Path(__file__).resolve().parents[2]
SETUP_SCRIPT = REPO / "scripts" / "setup-node.sh"
NODE_DIR = Path(__file__).resolve().parent / "node"
MODULES = NODE_DIR / "node_modules"
PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy")


@dataclass(frozen=True)
class NodePeers:
    """The installed Node tools: commands to run them and the environment to run them in."""

    node: Path
    home: Path

    def command(self, package: str, bin_name: str, *args: str) -> list[str]:
        """Run a package's bin script with the pinned Node 22 (not whatever ``node`` is on PATH)."""
        package_dir = MODULES / package
        bins = json.loads((package_dir / "package.json").read_text())["bin"]
        script = bins if isinstance(bins, str) else bins[bin_name]
        return [str(self.node), str(package_dir / script), *args]

    def env(self) -> dict[str, str]:
        """A clean environment: a throwaway HOME, no proxies, Node 22 first on PATH."""
        env = {
            key: value
            for key, value in os.environ.items()
            if key.lower() not in PROXY_VARIABLES and not key.startswith(("NODE_OPTIONS", "MCP_", "npm_"))
        }
        env.update(
            HOME=str(self.home),
            NO_PROXY="127.0.0.1,localhost",
            no_proxy="127.0.0.1,localhost",
            NO_COLOR="1",
            PATH=f"{self.node.parent}{os.pathsep}{env.get('PATH', '')}",
        )
        return env

    def run(self, command: list[str], *, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            command,
            env=self.env(),
            cwd=self.home,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


@pytest.fixture(scope="session")
def node_peers(tmp_path_factory: pytest.TempPathFactory) -> NodePeers:
    """The pinned Node peers, installed by scripts/setup-node.sh on first use."""
    setup = subprocess.run(
        ["bash", str(SETUP_SCRIPT)], cwd=REPO, capture_output=True, text=True, timeout=600, check=False
    )
    if setup.returncode != 0:
        pytest.fail(
            f"scripts/setup-node.sh failed (exit {setup.returncode}); the node-marked tests need it "
            f"(or deselect them with -m 'not node'):\n{setup.stdout}\n{setup.stderr}",
            pytrace=False,
        )
    return NodePeers(node=MODULES / "node" / "bin" / "node", home=tmp_path_factory.mktemp("node-home"))


@dataclass(frozen=True)
class ServedBridgehead:
    """A ``bridgehead serve`` process listening on 127.0.0.1."""

    port: int
    process: subprocess.Popen[bytes]
    log: Path
    mcp_path: MCPPath
    trace: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def mcp_url(self) -> str:
        return f"{self.base_url}/mcp"

    @property
    def sse_url(self) -> str:
        return f"{self.base_url}/sse"

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def handled(self) -> list[Handled]:
        """Every request a handler has answered so far, in order (written before the response is sent)."""
        if not self.trace.exists():
            return []
        return [Handled.from_json(line) for line in self.trace.read_text().splitlines()]


def _wait_until_ready(served: ServedBridgehead, deadline: float) -> None:
    with httpx.Client(timeout=2) as http:
        while time.monotonic() < deadline:
            if served.process.poll() is not None:
                raise RuntimeError(
                    f"bridgehead serve exited with {served.process.returncode}:\n{served.log_tail()}"
                )
            try:
                if http.get(f"{served.base_url}/readyz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
    raise RuntimeError(f"bridgehead serve was not ready within the deadline:\n{served.log_tail()}")


@contextmanager
def serve_process(
    workdir: Path,
    extra_args: Mapping[str, str] | None = None,
    *,
    config: str = "",
    path: MCPPath = DEFAULT,
) -> Iterator[ServedBridgehead]:
    """Run ``bridgehead serve`` until the block ends.

    Default config (sample corpus, no auth, SQLite in ``workdir``) plus ``config`` (TOML) and
    the ``[mcp]`` settings of ``path``. The command runs through ``tests.interop.traced_serve``,
    which records the path that answered each request in ``workdir/handled.jsonl``.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / "server.log"
    trace = workdir / "handled.jsonl"
    # The environment must not reconfigure the server under test.
    env = {key: value for key, value in os.environ.items() if not key.startswith("BRIDGEHEAD_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    options = dict(extra_args or {})
    if config or path.toml():
        config_file = workdir / "bridgehead.toml"
        config_file.write_text("\n".join(filter(None, [config, path.toml()])))
        options["--config"] = str(config_file)
    for _attempt in range(3):
        port = free_port()
        args = ["--host", "127.0.0.1", "--port", str(port), "--data-dir", str(workdir / "data")]
        for option, value in options.items():
            args += [option, value]
        with log.open("wb") as output:
            process = subprocess.Popen(
                [sys.executable, "-m", "tests.interop.traced_serve", str(trace), "serve", *args],
                cwd=workdir,
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        served = ServedBridgehead(port, process, log, path, trace)
        try:
            _wait_until_ready(served, time.monotonic() + 60)
            break
        except RuntimeError:
            _stop(process)
            if "address already in use" not in log.read_text(errors="replace").lower():
                raise
    else:
        raise RuntimeError(f"no free port for bridgehead serve:\n{served.log_tail()}")
    try:
        yield served
    finally:
        _stop(process)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


class BridgeheadPool:
    """One ``bridgehead serve`` per configuration of /mcp, each started on first use and kept until ``stack`` closes.

    ``prepare`` readies a server's fresh working directory and returns the TOML configuration
    to add to the defaults (none: the default configuration, sample corpus and no auth).
    """

    def __init__(
        self,
        stack: ExitStack,
        tmp_path_factory: pytest.TempPathFactory,
        name: str = "bridgehead",
        prepare: Callable[[Path], str] | None = None,
    ) -> None:
        self._stack = stack
        self._tmp_path_factory = tmp_path_factory
        self._name = name
        self._prepare = prepare
        self._served: dict[str, ServedBridgehead] = {}

    def __getitem__(self, path: MCPPath) -> ServedBridgehead:
        if path.id not in self._served:
            workdir = self._tmp_path_factory.mktemp(f"{self._name}-{path.id}")
            config = self._prepare(workdir) if self._prepare else ""
            self._served[path.id] = self._stack.enter_context(
                serve_process(workdir, config=config, path=path)
            )
        return self._served[path.id]


@pytest.fixture(scope="session")
def bridgeheads(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BridgeheadPool]:
    """The shared servers of the interop tests (they only read), one per configuration of /mcp."""
    with ExitStack() as stack:
        yield BridgeheadPool(stack, tmp_path_factory)


@pytest.fixture(scope="session", params=PATHS, ids=PATH_IDS)
def bridgehead(request: pytest.FixtureRequest, bridgeheads: BridgeheadPool) -> ServedBridgehead:
    """A default ``bridgehead serve`` process; tests using it run once per configuration of /mcp."""
    path: MCPPath = request.param
    return bridgeheads[path]
