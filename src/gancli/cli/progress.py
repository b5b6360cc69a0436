"""The progress bar shown while a dataset is prepared (`gan train`, `gan data info`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


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
