"""``bridgehead index`` and ``bridgehead search``: maintain and query the documents index."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from bridgehead.cli.common import ConfigOption, console, err_console, load_or_exit, report_config_error, run
from bridgehead.config import ConfigError
from bridgehead.connectors.documents import DocumentsConnector
from bridgehead.connectors.documents.query import QueryError
from bridgehead.runtime import Runtime
from bridgehead.web.documents import snippet_to_html


def _documents_connectors(runtime: Runtime, name: str | None) -> list[DocumentsConnector]:
    found = [
        c
        for c in runtime.connectors
        if isinstance(c, DocumentsConnector) and (name is None or c.name == name)
    ]
    if not found:
        err_console.print(f"[red]No documents connector{f' named {name!r}' if name else ''} is configured[/]")
        raise typer.Exit(1)
    return found


def index(
    config: ConfigOption = None,
    connector: Annotated[
        str | None, typer.Option("--connector", help="Only this documents connector.")
    ] = None,
) -> None:
    """(Re)index documents; only files that changed are read again."""
    settings = load_or_exit(config)
    try:
        runtime = Runtime.create(settings)
    except ConfigError as exc:
        report_config_error(exc)
        raise typer.Exit(2) from exc
    failed = run(_index(runtime, connector))
    if failed:
        raise typer.Exit(1)


async def _index(runtime: Runtime, name: str | None) -> int:
    await runtime.database.migrate()
    failed = 0
    try:
        for connector in _documents_connectors(runtime, name):
            with Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("{task.fields[current]}"),
                console=err_console,
            ) as progress:
                task = progress.add_task(connector.name, total=None, current="")

                def update(done: int, total: int, current: str, task: TaskID = task) -> None:
                    progress.update(task, completed=done, total=total, current=current[-50:])

                report = await connector.reindex(progress=update)
            console.print(
                f"[bold]{connector.name}[/]: {report.added} added, {report.updated} updated, "
                f"{report.removed} removed, {report.unchanged} unchanged, {report.failed} failed "
                f"in {report.seconds:.2f}s ({report.total} documents)"
            )
            for path, error in report.errors:
                err_console.print(f"  [yellow]skipped[/] {path}: {error}", highlight=False)
            failed += report.failed
    finally:
        await runtime.database.close()
    return failed


def search(
    query: Annotated[str, typer.Argument(help='Keywords, "a phrase" or a prefix*.')],
    config: ConfigOption = None,
    connector: Annotated[str | None, typer.Option("--connector")] = None,
    limit: Annotated[int, typer.Option(min=1, max=50)] = 10,
) -> None:
    """Search the index as the `search` tool does, with highlighted snippets."""
    settings = load_or_exit(config)
    runtime = Runtime.create(settings)
    run(_search(runtime, query, connector, limit))


async def _search(runtime: Runtime, query: str, name: str | None, limit: int) -> None:
    await runtime.database.migrate()
    try:
        for connector in _documents_connectors(runtime, name):
            try:
                hits = await connector.search(query, limit=limit, snippets=True)
            except QueryError as exc:
                err_console.print(f"[red]{exc}[/]")
                raise typer.Exit(2) from exc
            table = Table(title=f"{connector.name}: {len(hits)} result(s) for {query!r}")
            table.add_column("#", justify="right")
            table.add_column("id")
            table.add_column("title")
            table.add_column("snippet")
            for rank, hit in enumerate(hits, start=1):
                snippet = (hit.snippet or "").replace("\n", " ")
                snippet = (
                    snippet_to_html(snippet).replace("<mark>", "[bold yellow]").replace("</mark>", "[/]")
                )
                table.add_row(str(rank), hit.id, hit.title, snippet)
            console.print(table)
    finally:
        await runtime.database.close()
