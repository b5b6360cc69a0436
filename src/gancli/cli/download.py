"""`gan download`: fetch a known dataset or any archive of images into the data root."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from gancli import paths
from gancli.data import registry
from gancli.data.download import DownloadOptions, InstallResult, install_dataset, install_url
from gancli.errors import UserError


def download_command(
    target: Annotated[
        str | None,
        typer.Argument(
            help="A dataset name (see --list) or an http(s) URL of a .tgz/.tar.gz/.tar/.zip of images.",
            show_default=False,
        ),
    ] = None,
    name: Annotated[
        str | None,
        typer.Option("--name", help="Name for a URL or --from-file archive (its folder, and --data NAME)."),
    ] = None,
    sha256: Annotated[
        str | None,
        typer.Option("--sha256", help="Expected sha256 of the archive at URL; checked before extraction."),
    ] = None,
    root: Annotated[
        Path | None, typer.Option("--root", help="Data root. Default: $GAN_HOME, else ~/.cache/gancli.")
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Download and install again even if already present.")
    ] = False,
    from_file: Annotated[
        Path | None,
        typer.Option(
            "--from-file",
            help="Use a file fetched elsewhere (or a folder holding the files) instead of "
            "downloading; verified the same way.",
        ),
    ] = None,
    list_: Annotated[
        bool, typer.Option("--list", help="Show the known datasets and whether they are downloaded.")
    ] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress bar or progress messages.")
    ] = False,
    timeout: Annotated[float, typer.Option("--timeout", min=0.1, help="Network timeout in seconds.")] = 30.0,
) -> None:
    """Download a dataset (or the FID Inception weights), verify its checksum and install it.

    Resumes an interrupted download; a second run is a no-op that says where the data is.

    Example: gan download flowers

    Example: gan download https://example.org/faces.tgz --name faces --sha256 HEX

    Example (offline): gan download flowers --from-file ~/Downloads/flower_photos.tgz
    """
    out = Console(highlight=False)
    err = Console(stderr=True, highlight=False)
    if list_:
        out.print(_table(root))
        return
    info = (lambda _m: None) if quiet else (lambda m: err.print(escape(m), style="dim"))
    warn = lambda m: err.print(f"[yellow]warning:[/] {escape(m)}")  # noqa: E731
    options = DownloadOptions(timeout=timeout, progress=not quiet)
    if target is not None and "://" not in target:
        if name is not None or sha256 is not None:
            raise UserError(
                f"--name and --sha256 are for URL downloads; {target!r} is looked up in the registry "
                f"(`gan download --list`)."
            )
        result = install_dataset(
            target, root, force=force, from_file=from_file, options=options, info=info, warn=warn
        )
    elif target is None and (name is None or from_file is None):
        raise UserError(
            "Name a dataset (`gan download flowers`), give a URL with --name, or use --list to see the known "
            "datasets."
        )
    else:
        if name is None:
            raise UserError(
                f"A URL download needs --name NAME (the folder it goes to): gan download {target} --name NAME"
            )
        result = install_url(
            target,
            name,
            root,
            sha256=sha256,
            force=force,
            from_file=from_file,
            options=options,
            info=info,
            warn=warn,
        )
    out.print(_summary(result))


def _summary(result: InstallResult) -> str:
    where = escape(str(result.folder))
    count = f"{result.images:,} images" if result.images is not None else "files"
    if result.already_present:
        return f"{result.name} is already downloaded: {count} in {where} (use --force to download it again)"
    return f"{result.name}: {count} ready in {where}"


def _human(size: int | None) -> str:
    if size is None:
        return "?"
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:,.0f} {unit}" if unit == "B" else f"{value:,.1f} {unit}"
        value /= 1000
    return f"{size} B"  # pragma: no cover


def _table(root: Path | None) -> Table:
    table = Table(title=f"Datasets (data root: {escape(str(paths.data_root(root)))})")
    for column in ("name", "size", "images", "resolution", "licence / source", "downloaded", "where"):
        table.add_column(column, overflow="fold", no_wrap=column in ("name", "size", "images", "downloaded"))
    for ds in registry.DATASETS.values():
        folder = registry.find_downloaded(ds.name, root)
        table.add_row(
            ds.name,
            _human(ds.size),
            f"{ds.images:,}" if ds.images is not None else "-",
            ds.resolution,
            escape(ds.licence),
            "yes" if folder else "no",
            escape(str(folder)) if folder else "-",
        )
    # Archives fetched by URL: anything else under datasets/ that carries our marker.
    base = registry.datasets_root(root)
    extra = (
        sorted(p for p in base.iterdir() if p.is_dir() and p.name not in registry.DATASETS)
        if base.is_dir()
        else []
    )
    for folder in extra:
        marker = registry.read_marker(folder)
        if marker is None or registry.find_downloaded(folder.name, root) is None:
            continue
        files = marker.get("files") or [{}]
        images = marker.get("images")
        table.add_row(
            folder.name,
            _human(files[0].get("size")),
            f"{images:,}" if isinstance(images, int) else "?",
            "varied",
            escape(str(marker.get("source", "?"))),
            "yes",
            escape(str(folder)),
        )
    return table
