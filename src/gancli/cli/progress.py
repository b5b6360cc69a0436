"""Progress bars, drawn here for the core's callbacks: preparing a dataset (`gan train`, `gan data
info`), downloading (`gan download`) and counting images through a network (`gan score`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from gancli.cli.fmt import escape


def dataset_label(spec: str, resolution: int) -> str:
    """'Preparing flowers at 64px'; a folder by its own name, so the bar keeps its room."""
    name = Path(spec).name if "/" in spec else spec
    return f"Preparing {name or spec or 'data'} at {resolution}px"


@contextmanager
def preparing(console: Console, label: str) -> Iterator[Callable[[int, int], None]]:
    """A spinner while the dataset is looked up or read from its cache, turning into a bar
    with counts and ETA once images are being decoded; yields the `progress(done, total)`
    callback that the data loaders take. Transient: nothing stays on screen after it."""
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total, description=f"{label}: decoding images")

        yield update


@contextmanager
def counting(
    console: Console, label: str, enabled: bool = True
) -> Iterator[Callable[[int, int | None], None] | None]:
    """A transient bar of items done (e.g. images through Inception), shown from the first
    `progress(done, total)` call: work that turns out to be cached shows nothing. Yields None
    when not ``enabled``, which the core takes as "report nothing"."""
    if not enabled:
        yield None
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    bar = Progress(*columns, console=console, transient=True)
    task: list = []

    def update(done: int, total: int | None) -> None:
        if not task:
            bar.start()
            task.append(bar.add_task(label, total=total))
        bar.update(task[0], completed=done, total=total)

    try:
        yield update
    finally:
        if task:
            bar.stop()


@contextmanager
def downloading(
    console: Console, enabled: bool = True
) -> Iterator[Callable[[str, int, int | None], None] | None]:
    """Byte bars, one per file, for the download callback `progress(file name, done, total)`;
    None when not ``enabled``."""
    if not enabled:
        yield None
        return
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(binary_units=True),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console) as bar:
        tasks: dict[str, TaskID] = {}

        def update(name: str, done: int, total: int | None) -> None:
            if name not in tasks:
                tasks[name] = bar.add_task(name, total=total)
            bar.update(tasks[name], completed=done, total=total)

        yield update


def show_data_notes(
    console: Console, warnings: list[str], skipped: list[tuple[str, str]], limit: int = 5
) -> None:
    """Warnings about a dataset, and the files skipped while reading it (the first `limit` named)."""
    for note in warnings:
        console.print(f"[yellow]warning:[/] {escape(note)}", highlight=False)
    if skipped:
        listed = ", ".join(f"{f} ({why})" for f, why in skipped[:limit])
        more = f" and {len(skipped) - limit} more" if len(skipped) > limit else ""
        console.print(f"[yellow]{len(skipped)} files skipped:[/] {escape(listed)}{more}", highlight=False)
