"""The machine the benchmark runs on: its facts, its cores, and the tools the benchmark needs."""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import os
import platform
import resource
import shutil
import sqlite3
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

SERVER_CORE = 0
LOAD_CORE = 1
INSTALL_TIMEOUT_S = 300
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class SetupError(Exception):
    """Something the benchmark needs is missing; the message says how to get it."""


@dataclass(frozen=True)
class MachineFacts:
    """What a reader needs to compare these figures with another run."""

    cpus: int
    cpu_model: str
    kernel: str
    python: str
    sqlite: str
    packages: dict[str, str]
    wrk: str

    def markdown(self) -> str:
        versions = ", ".join(f"{name} {version}" for name, version in self.packages.items())
        return "\n".join(
            [
                f"- CPU: {self.cpu_model}, `nproc` = {self.cpus}",
                f"- Kernel: {self.kernel}; Python {self.python}; SQLite {self.sqlite}",
                f"- Packages: {versions}",
                f"- Load generator: {self.wrk or 'not used'}",
            ]
        )


def machine_facts() -> MachineFacts:
    packages = {}
    for name in (
        "bridgehead",
        "mcp",
        "starlette",
        "uvicorn",
        "uvloop",
        "httptools",
        "SQLAlchemy",
        "aiosqlite",
    ):
        try:
            packages[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            packages[name] = "absent"
    return MachineFacts(
        cpus=len(os.sched_getaffinity(0)),
        cpu_model=_cpu_model(),
        kernel=platform.release(),
        python=platform.python_version(),
        sqlite=sqlite3.sqlite_version,
        packages=packages,
        wrk=wrk_version() if shutil.which("wrk") else "",
    )


def source_revision() -> str:
    """The commit the code under test comes from, and the identity of src/ as it is on disk.

    Returns "commit <short hash>[ plus uncommitted changes ...] | <src fingerprint>": the
    part before " | " is for readers, the fingerprint tells whether src/ changed during a run.
    """
    root = Path(__file__).resolve().parent.parent

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()

    try:
        head = git("rev-parse", "--short", "HEAD")
        tree = git("rev-parse", "HEAD:src")
        changed = git("status", "--porcelain", "--", "src").splitlines()
        diff = git("diff", "HEAD", "--", "src") if changed else ""
    except (OSError, subprocess.SubprocessError):
        return "unknown (not a git checkout) | unknown"
    fingerprint = hashlib.sha256(f"{tree}\n{diff}\n{changed}".encode()).hexdigest()[:12]
    described = f"commit {head}" + (
        f" plus uncommitted changes to {len(changed)} file(s) in src/" if changed else ""
    )
    return f"{described} | {fingerprint}"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def wrk_version() -> str:
    result = subprocess.run(["wrk", "--version"], capture_output=True, text=True, timeout=10, check=False)
    return (result.stdout or result.stderr).splitlines()[0].strip()


def require_cores() -> None:
    """Server and load generator each get a core of their own; fewer than two would measure contention."""
    cores = os.sched_getaffinity(0)
    if not {SERVER_CORE, LOAD_CORE} <= cores:
        raise SetupError(
            f"the HTTP benchmark pins the server to CPU {SERVER_CORE} and the load generator to CPU {LOAD_CORE}, "
            f"but this process may only use CPUs {sorted(cores)}"
        )
    if shutil.which("taskset") is None:
        raise SetupError("`taskset` is missing: install util-linux (Debian: apt-get install util-linux)")


def require_event_loop() -> None:
    """uvicorn must run as deployed: uvloop and httptools, or the figures describe another server."""
    for module in ("uvloop", "httptools"):
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise SetupError(
                f"{module} is not importable; install Bridgehead's dependencies (pip install -e .)"
            ) from exc


def require_wrk() -> None:
    """Make sure `wrk` is on PATH, installing the Debian package when running as root."""
    if shutil.which("wrk"):
        return
    apt = shutil.which("apt-get")
    if apt is None or os.geteuid() != 0:
        raise SetupError(
            "`wrk` (the HTTP load generator) is missing. Install it: `sudo apt-get install wrk` on Debian/Ubuntu, "
            "`brew install wrk` on macOS, or build it from https://github.com/wg/wrk"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = [apt, "install", "-y", "-qq", "wrk"]
    if subprocess.run(
        install, env=env, capture_output=True, timeout=INSTALL_TIMEOUT_S, check=False
    ).returncode:
        subprocess.run(
            [apt, "update", "-qq"], env=env, capture_output=True, timeout=INSTALL_TIMEOUT_S, check=False
        )
        result = subprocess.run(
            install, env=env, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S, check=False
        )
        if result.returncode:
            raise SetupError(f"`apt-get install wrk` failed:\n{result.stderr[-2000:]}")
    if not shutil.which("wrk"):
        raise SetupError("`wrk` is still not on PATH after installing it")


def pin_to(cores: set[int]) -> set[int]:
    """Pin this thread (and threads it starts from now on) to ``cores``; returns the previous set."""
    previous = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cores)
    return previous


def core_busy_seconds() -> dict[int, float]:
    """CPU seconds each core has spent busy since boot (user, nice, system, irq, softirq and steal)."""
    busy: dict[int, float] = {}
    for line in Path("/proc/stat").read_text().splitlines():
        name, *fields = line.split()
        if name.startswith("cpu") and name != "cpu":
            user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[:8])
            busy[int(name[3:])] = (user + nice + system + irq + softirq + steal) / _CLOCK_TICKS
    return busy


@dataclass(frozen=True)
class CpuShares:
    """CPU used during a run, each as a share of one core (1.0 = a core busy the whole time)."""

    target: float
    """The system under test, when it is a running process we can read (it runs on the server core)."""
    children: float
    """Child processes that ran and exited during the run: the load generator, or a direct-call process."""
    other: float
    """Everything else that ran on the server core: other tenants of the machine, the kernel."""


class CpuMeter:
    """Splits the server core's busy time between the target, finished children and everyone else.

    ``cores`` widens what is watched when the target is not pinned to the server core alone
    (several worker processes): "other" is then what others used of all of them.
    """

    def __init__(
        self,
        target_cpu: Callable[[], float] | None = None,
        children_core: int = LOAD_CORE,
        cores: frozenset[int] = frozenset({SERVER_CORE}),
    ) -> None:
        self._target_cpu = target_cpu
        self._children_core = children_core
        self._cores = cores
        self._target = target_cpu() if target_cpu else 0.0
        self._children = _children_cpu()
        self._busy = self._busy_seconds()
        self._started = time.monotonic()

    def _busy_seconds(self) -> float:
        busy = core_busy_seconds()
        return sum(busy.get(core, 0.0) for core in self._cores)

    def read(self) -> CpuShares:
        wall = time.monotonic() - self._started
        target = (self._target_cpu() - self._target) if self._target_cpu else 0.0
        children = _children_cpu() - self._children
        busy = self._busy_seconds() - self._busy
        ours = target + (children if self._children_core in self._cores else 0.0)
        return CpuShares(target / wall, children / wall, max(0.0, busy - ours) / wall)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


QUIET_SHARE = 0.10
"""A run counts as undisturbed when others used less than this share of the server core meanwhile."""
QUIET_WAIT_S = 20.0


def wait_until_quiet(max_wait_s: float = QUIET_WAIT_S, probe_s: float = 1.0) -> float:
    """Wait (at most ``max_wait_s``) for a ``probe_s`` window in which others leave the server core alone.

    Returns the seconds waited. The machine may be shared (other people's test runs), and a
    run that starts in the middle of someone else's burst measures them, not us.
    """
    started = time.monotonic()
    while True:
        meter = CpuMeter()
        time.sleep(probe_s)
        if meter.read().other < QUIET_SHARE or time.monotonic() - started >= max_wait_s:
            return time.monotonic() - started


PRIORITY = -10
"""Benchmark processes run at this nice value (when allowed), so other tenants yield the cores to them."""


def prioritized(command: Sequence[str]) -> list[str]:
    """``command`` under ``nice -n PRIORITY`` when this process may raise priority, else unchanged."""
    return (
        ["nice", "-n", str(PRIORITY), *command]
        if os.geteuid() == 0 and shutil.which("nice")
        else list(command)
    )


def raise_priority() -> int | None:
    """Raise this thread's priority (threads it starts inherit it); returns the previous nice value."""
    previous = os.getpriority(os.PRIO_PROCESS, 0)
    try:
        os.setpriority(os.PRIO_PROCESS, 0, PRIORITY)
    except PermissionError:
        return None
    return previous


def restore_priority(previous: int | None) -> None:
    if previous is not None:
        os.setpriority(os.PRIO_PROCESS, 0, previous)
