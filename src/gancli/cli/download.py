"""`gan download`: fetch a known dataset or any archive of images into the data root.

Parsing and rendering only; the work is in gancli.data.download, imported inside the command
(it needs numpy), so that `gan download --help` and `--list` start at once.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from gancli import paths
from gancli.cli.fmt import escape
from gancli.cli.progress import downloading
from gancli.data import registry
from gancli.errors import UserError
from gancli.units import format_size, parse_size

if TYPE_CHECKING:
    from gancli.data.download import InstallResult

DEFAULT_MAX_SIZE = "4G"


def download_command(
    target: Annotated[
        str | None,
        typer.Argument(
            help="A dataset name (see --list) or an http(s) URL of a .tgz/.tar.gz/.tar/.zip of images.",
            show_default=False,
            metavar="NAME|URL",
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
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the list, or what was installed, as JSON on stdout.")
    ] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress bar or progress messages.")
    ] = False,
    timeout: Annotated[float, typer.Option("--timeout", min=0.1, help="Network timeout in seconds.")] = 30.0,
    max_size: Annotated[
        str,
        typer.Option(
            "--max-size",
            help="Largest download accepted when its size is not known in advance (a URL without "
            "Content-Length): bytes, or a number with K, M, G, T, e.g. 500M or 20G. Registry files "
            "are held to their exact size.",
        ),
    ] = DEFAULT_MAX_SIZE,
) -> None:
    """Download a dataset (or the FID Inception weights), verify its checksum and install it.

    Resumes an interrupted download; a second run is a no-op that says where the data is.

    Example: gan download flowers

    Example: gan download lfw          (faces, for --preset faces256)

    Example: gan download https://example.org/faces.tgz --name faces --sha256 HEX

    Example (offline): gan download flowers --from-file ~/Downloads/flower_photos.tgz
    """
    out = Console(highlight=False)
    err = Console(stderr=True, highlight=False)
    if list_:
        _print_list(out, root, as_json)
        return
    max_bytes = parse_size(max_size, option="--max-size")
    _check_target(target, name, sha256, from_file)
    with downloading(err, enabled=not quiet) as progress:
        result = _install(
            target,
            name,
            sha256,
            root,
            force=force,
            from_file=from_file,
            quiet=quiet,
            err=err,
            options={"timeout": timeout, "progress": progress, "max_bytes": max_bytes},
        )
    if as_json:
        print(json.dumps(_result_json(result), indent=2))
    else:
        out.print(_summary(result))


def _check_target(target: str | None, name: str | None, sha256: str | None, from_file: Path | None) -> None:
    """Refuse option combinations that name nothing to install."""
    if target is not None and "://" not in target:
        if name is not None or sha256 is not None:
            raise UserError(
                f"--name and --sha256 are for URL downloads; {target!r} is looked up in the registry "
                f"(`gan download --list`)."
            )
    elif target is None and (name is None or from_file is None):
        raise UserError(
            "Name a dataset (`gan download flowers`), give a URL with --name, or use --list to see the known "
            "datasets."
        )
    elif name is None:
        raise UserError(
            f"A URL download needs --name NAME (the folder it goes to): gan download {target} --name NAME"
        )


def _install(
    target: str | None,
    name: str | None,
    sha256: str | None,
    root: Path | None,
    *,
    force: bool,
    from_file: Path | None,
    quiet: bool,
    err: Console,
    options: dict,
) -> InstallResult:
    from gancli.data.download import DownloadOptions, install_dataset, install_url

    info = (lambda _m: None) if quiet else (lambda m: err.print(escape(m), style="dim"))
    warn = lambda m: err.print(f"[yellow]warning:[/] {escape(m)}")  # noqa: E731
    common = {"force": force, "from_file": from_file, "options": DownloadOptions(**options)}
    if target is not None and "://" not in target:
        return install_dataset(target, root, info=info, warn=warn, **common)
    return install_url(target, name, root, sha256=sha256, info=info, warn=warn, **common)  # type: ignore[arg-type]


def _summary(result: InstallResult) -> str:
    where = escape(str(result.folder))
    count = f"{result.images:,} images" if result.images is not None else "files"
    if result.already_present:
        return f"{result.name} is already downloaded: {count} in {where} (use --force to download it again)"
    return f"{result.name}: {count} ready in {where}"


def _result_json(result: InstallResult) -> dict:
    return {
        "name": result.name,
        "folder": str(result.folder),
        "images": result.images,
        "already_present": result.already_present,
        "unverified": list(result.unverified),
    }


# --------------------------------------------------------------------------------------
# --list
# --------------------------------------------------------------------------------------


def list_entries(root: Path | None) -> list[dict]:
    """One dict per known dataset, then per archive installed from a URL: what `--list` shows."""
    entries = []
    for ds in registry.DATASETS.values():
        folder = registry.find_downloaded(ds.name, root)
        entries.append(
            {
                "name": ds.name,
                "kind": ds.kind,
                "size_bytes": ds.size,
                "images": ds.images,
                "resolution": ds.resolution,
                "channels": ds.channels,
                "licence": ds.licence,
                "description": ds.description,
                "files": [
                    {"filename": f.filename, "urls": list(f.urls), "size_bytes": f.size, "sha256": f.sha256}
                    for f in ds.files
                ],
                "verified": all(f.checksum is not None for f in ds.files),
                "downloaded": folder is not None,
                "folder": str(folder) if folder else None,
            }
        )
    return entries + _url_entries(root)


def _url_entries(root: Path | None) -> list[dict]:
    """Archives fetched by URL: anything else under datasets/ that carries our marker."""
    base = registry.datasets_root(root)
    if not base.is_dir():
        return []
    entries = []
    for folder in sorted(p for p in base.iterdir() if p.is_dir() and p.name not in registry.DATASETS):
        marker = registry.read_marker(folder)
        if marker is None or registry.find_downloaded(folder.name, root) is None:
            continue
        first = (marker.get("files") or [{}])[0]
        images = marker.get("images")
        entries.append(
            {
                "name": folder.name,
                "kind": "archive",
                "size_bytes": first.get("size"),
                "images": images if isinstance(images, int) else None,
                "resolution": "varied",
                "licence": "user archive",
                "source": marker.get("source"),
                "verified": first.get("verified_by") is not None,
                "downloaded": True,
                "folder": str(folder),
            }
        )
    return entries


def _print_list(out: Console, root: Path | None, as_json: bool) -> None:
    entries = list_entries(root)
    if as_json:
        print(json.dumps({"data_root": str(paths.data_root(root)), "datasets": entries}, indent=2))
        return
    out.print(list_table(entries))
    data_root = paths.data_root(root)
    # soft_wrap: a long path is left to the terminal rather than folded inside a table cell
    out.print(
        f"Data root: {escape(str(data_root))} (datasets in {escape(str(data_root / 'datasets'))})",
        soft_wrap=True,
    )
    out.print("Details, addresses and checksums: gan download --list --json", soft_wrap=True)


def list_table(entries: list[dict]) -> Table:
    """The `--list` table: short columns that keep whole words at 80 columns; the licence wraps
    at spaces. Addresses and folders are long single words, so they are only in `--json`."""
    table = Table(title="Known datasets")
    table.add_column("name", no_wrap=True)
    table.add_column("size", justify="right", no_wrap=True)
    table.add_column("images", justify="right", no_wrap=True)
    table.add_column("resolution", no_wrap=True)
    table.add_column("licence", overflow="ellipsis", min_width=12)
    table.add_column("ready", no_wrap=True)
    for entry in entries:
        images = entry.get("images")
        table.add_row(
            entry["name"],
            format_size(entry.get("size_bytes")),
            f"{images:,}" if isinstance(images, int) else "-",
            entry.get("resolution") or "?",
            escape(entry.get("licence") or "?"),
            "yes" if entry.get("downloaded") else "no",
        )
    return table
