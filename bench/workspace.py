"""A benchmark workspace: a generated corpus on disk, a Bridgehead config serving it, and its index."""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from bench.corpus import DEFAULT_SEED, GENERATOR_VERSION, write_corpus
from bridgehead.config import Settings, load_settings
from bridgehead.connectors.documents import DocumentsConnector
from bridgehead.runtime import Runtime

CONNECTOR = "docs"
FOLDER = "corpus"
_MARKER = ".generated"  # a dotfile: the indexer never reads it


@dataclass(frozen=True)
class Workspace:
    """Where one corpus size lives: the documents, Bridgehead's data directory and its config file."""

    root: Path
    size: int
    seed: int

    @property
    def corpus(self) -> Path:
        return self.root / "documents"

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def config(self) -> Path:
        return self.root / "bridgehead.toml"

    @property
    def database(self) -> Path:
        return self.data_dir / "bridgehead.db"

    def settings(self) -> Settings:
        """The settings ``bridgehead serve -c config`` would load (the environment is ignored)."""
        return load_settings(self.config, environ={})


@dataclass(frozen=True)
class CorpusFigures:
    """What generating a corpus cost (zero when an identical one was already on disk)."""

    documents: int
    bytes: int
    seconds: float
    reused: bool


@dataclass(frozen=True)
class IndexFigures:
    """One from-scratch indexing pass with the real indexer."""

    documents: int
    seconds: float
    database_bytes: int

    @property
    def documents_per_second(self) -> float:
        return self.documents / self.seconds if self.seconds else 0.0


def open_workspace(workdir: Path, size: int, seed: int = DEFAULT_SEED) -> tuple[Workspace, CorpusFigures]:
    """The workspace for ``size`` documents, generating the corpus unless an identical one exists."""
    workspace = Workspace(workdir / f"corpus-{size}", size, seed)
    marker = workspace.corpus / _MARKER
    stamp = f"generator={GENERATOR_VERSION} seed={seed} size={size}"
    if marker.is_file() and marker.read_text() == stamp:
        total = sum(p.stat().st_size for p in workspace.corpus.rglob("*.md"))
        figures = CorpusFigures(size, total, 0.0, reused=True)
    else:
        shutil.rmtree(workspace.corpus, ignore_errors=True)
        started = time.perf_counter()
        written = write_corpus(workspace.corpus, size, seed)
        figures = CorpusFigures(size, written, time.perf_counter() - started, reused=False)
        marker.write_text(stamp)
    _write_config(workspace)
    return workspace, figures


def _write_config(workspace: Workspace) -> None:
    workspace.config.write_text(
        "# Written by bench/workspace.py: one documents connector over the generated corpus.\n"
        "[server]\n"
        f'data_dir = "{workspace.data_dir}"\n'
        'log_level = "warning"\n'
        "\n"
        "[[connectors]]\n"
        'type = "documents"\n'
        f'name = "{CONNECTOR}"\n'
        f'folders = [{{ path = "{workspace.corpus}", name = "{FOLDER}" }}]\n'
    )


async def index_from_scratch(workspace: Workspace) -> IndexFigures:
    """Delete the store and index the corpus again with DocumentsConnector.reindex."""
    shutil.rmtree(workspace.data_dir, ignore_errors=True)
    runtime = Runtime.create(workspace.settings())
    try:
        await runtime.database.migrate()
        connector = documents_connector(runtime)
        report = await connector.reindex()
    finally:
        await runtime.database.close()
    if report.failed or report.total != workspace.size:
        raise RuntimeError(
            f"indexing {workspace.corpus} failed: {report.total} indexed, errors {report.errors[:3]}"
        )
    size = sum(p.stat().st_size for p in workspace.data_dir.iterdir() if p.is_file())
    return IndexFigures(report.total, report.seconds, size)


def documents_connector(runtime: Runtime) -> DocumentsConnector:
    """The workspace's one documents connector."""
    found = [c for c in runtime.connectors if isinstance(c, DocumentsConnector)]
    if len(found) != 1:
        raise RuntimeError(f"expected one documents connector, found {len(found)}")
    return found[0]


def clean_environment() -> dict[str, str]:
    """This process's environment without BRIDGEHEAD_* variables, for child servers."""
    return {k: v for k, v in os.environ.items() if not k.startswith("BRIDGEHEAD_")}
