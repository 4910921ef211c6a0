"""A virtualenv holding the pinned fastmcp (``bench/fastmcp-requirements.txt``), apart from Bridgehead's.

fastmcp brings its own dependency tree; installing it next to Bridgehead could
change what Bridgehead runs on. So it lives in a virtualenv of its own under
the bench workdir, named after the requirements file's hash: an edit to the
pins builds a new one, and an unchanged one is reused.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

from bench.machine import SetupError

REQUIREMENTS = Path(__file__).resolve().with_name("fastmcp-requirements.txt")
INSTALL_TIMEOUT_S = 900
_STAMP = ".installed"


def fastmcp_python(workdir: Path) -> tuple[Path, str]:
    """The interpreter of the fastmcp virtualenv (built when missing) and the fastmcp version it holds."""
    digest = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()[:12]
    venv = workdir / f"fastmcp-venv-{digest}"
    python = venv / "bin" / "python"
    if not (venv / _STAMP).is_file():
        shutil.rmtree(venv, ignore_errors=True)
        _run([sys.executable, "-m", "venv", str(venv)], "creating the fastmcp virtualenv")
        _run(
            [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
             "-r", str(REQUIREMENTS)],
            f"pip install -r {REQUIREMENTS.name}",
        )  # fmt: skip
        (venv / _STAMP).write_text(digest)
    version = _run(
        [str(python), "-c", "import importlib.metadata as m, uvloop, httptools; print(m.version('fastmcp'))"],
        "checking the fastmcp virtualenv",
    ).strip()
    return python, version


def _run(command: list[str], what: str) -> str:
    try:
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SetupError(f"{what} failed: {exc}") from exc
    if result.returncode:
        raise SetupError(f"{what} failed ({result.returncode}):\n{(result.stderr or result.stdout)[-2000:]}")
    return result.stdout
