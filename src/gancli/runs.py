"""The run folder: the one module that knows its layout, what makes a folder a gan run, and
which run is the latest.

A folder is a gan run when it holds the marker file `.gan-run`, written by `gan train` when it
claims a folder (new, or empty), before anything else is written there. Folders from gancli
versions before the marker count as runs when they hold checkpoints/last.pt or previous.pt:
they are read (sample, score, export) and never taken by a new run, but resuming one in place
rewrites its logs and pictures, so that needs `--adopt` once (which writes the marker). A marker
rather than "config.yaml + checkpoints/": other tools use those names too, and a folder that
merely looks like a run must never be written into.

Nothing inside a run folder is written through a symlink: the files gan opens in place (.lock,
metrics.jsonl, the marker) are opened with O_NOFOLLOW, the rest are renamed into place (which
replaces a name, never follows it), and `check_no_links` refuses a run whose entries are links.
No module imports torch here: the CLI uses it before deciding to train.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from shlex import quote

from gancli.errors import UserError
from gancli.fsutil import open_nofollow, remove_stale_temps, write_error

MARKER = ".gan-run"
LOCK = ".lock"
CONFIG = "config.yaml"
METRICS = "metrics.jsonl"
SAMPLES = "samples"
CHECKPOINTS = "checkpoints"
LAST = "last.pt"
PREVIOUS = "previous.pt"
BEST = "best.pt"
PROGRESS_GIF = "progress.gif"
CURVES = "curves.png"
TENSORBOARD = "tensorboard"
STATE = "state.json"  # how the last session ended (`gan runs`)
SAMPLE_PREFIX = "iter_"
DEFAULT_RUNS_DIR = Path("runs")
_SAMPLE_NAME = re.compile(rf"{SAMPLE_PREFIX}\d{{7,}}\.png")


@dataclass(frozen=True)
class RunFolder:
    """Every path of one run folder, and the checks that guard writing into it."""

    path: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))

    # ------------------------------------------------------------ paths

    @property
    def marker(self) -> Path:
        """The file whose presence makes the folder a gan run."""
        return self.path / MARKER

    @property
    def lock(self) -> Path:
        """The advisory lock of the run's one writer."""
        return self.path / LOCK

    @property
    def config(self) -> Path:
        """The effective config of the run."""
        return self.path / CONFIG

    @property
    def metrics(self) -> Path:
        """One JSON object per logged iteration."""
        return self.path / METRICS

    @property
    def samples(self) -> Path:
        """The folder of fixed-latent sample grids."""
        return self.path / SAMPLES

    @property
    def checkpoints(self) -> Path:
        """The folder of checkpoints."""
        return self.path / CHECKPOINTS

    @property
    def last(self) -> Path:
        """The latest checkpoint."""
        return self.checkpoints / LAST

    @property
    def previous(self) -> Path:
        """The checkpoint before the latest one."""
        return self.checkpoints / PREVIOUS

    @property
    def best(self) -> Path:
        """The best-scoring checkpoint (kept with --score-every)."""
        return self.checkpoints / BEST

    @property
    def progress_gif(self) -> Path:
        """The sample grids animated."""
        return self.path / PROGRESS_GIF

    @property
    def curves(self) -> Path:
        """Loss and score curves."""
        return self.path / CURVES

    @property
    def state(self) -> Path:
        """How the last session ended: running, finished, stopped or diverged."""
        return self.path / STATE

    @property
    def tensorboard(self) -> Path:
        """TensorBoard event files."""
        return self.path / TENSORBOARD

    def sample(self, iteration: int) -> Path:
        """The sample grid of one iteration."""
        return self.samples / f"{SAMPLE_PREFIX}{iteration:07d}.png"

    def sample_paths(self) -> list[Path]:
        """The sample grids written so far, in iteration order."""
        if not self.samples.is_dir():
            return []
        return sorted(p for p in self.samples.iterdir() if _SAMPLE_NAME.fullmatch(p.name))

    # ------------------------------------------------------------ what it is

    def is_run(self) -> bool:
        """A gan run: the marker, or (older runs) a checkpoint in checkpoints/."""
        return self.marker.is_file() or self.has_checkpoint()

    def has_checkpoint(self) -> bool:
        """Whether last.pt or previous.pt exists."""
        return self.last.is_file() or self.previous.is_file()

    def find_checkpoint(self) -> Path:
        """last.pt, else previous.pt; a UserError naming both when neither exists."""
        for candidate in (self.last, self.previous):
            if candidate.is_file():
                return candidate
        raise UserError(
            f"{self.path} holds no checkpoint (looked for {CHECKPOINTS}/{LAST} and {CHECKPOINTS}/{PREVIOUS}). Give a run folder written by `gan train`, or a .pt checkpoint file."
        )

    @classmethod
    def of_checkpoint(cls, file: Path) -> RunFolder | None:
        """The run a checkpoint file belongs to (RUN/checkpoints/NAME.pt), or None for a loose file."""
        file = Path(file)
        if file.parent.name != CHECKPOINTS:
            return None
        run = cls(file.parent.parent)
        return run if run.is_run() else None

    # ------------------------------------------------------------ claiming and guarding

    def check_new(self) -> None:
        """Refuse a folder that cannot take a new run: a file, a run with checkpoints, or a
        folder holding anything but gan's own files (named, with a new name to use instead)."""
        if self.path.is_symlink() and not self.path.exists():
            raise UserError(f"--out {self.path} is a symbolic link to nothing. Choose another run folder.")
        if self.path.exists() and not self.path.is_dir():
            raise UserError(f"--out {self.path} is a file, not a folder. Choose another run folder.")
        ancestor = self.path.parent
        while not ancestor.exists() and ancestor != ancestor.parent:
            ancestor = ancestor.parent
        if ancestor.exists() and not ancestor.is_dir():  # checked now, before the data is prepared
            raise UserError(
                f"--out {self.path} cannot be created: {ancestor} is a file, not a folder. Choose another run folder."
            )
        if not self.path.is_dir():
            return
        if self.has_checkpoint():
            raise UserError(
                f"{self.path} already holds a training run. Continue it with `gan train --resume {quote(str(self.path))}`, or choose another folder with --out."
            )
        if self.marker.is_file():
            return  # a run of ours that never reached a checkpoint: it starts over
        foreign = sorted(p.name for p in self.path.iterdir() if p.name != LOCK)
        if foreign:
            shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
            raise UserError(
                f"--out {self.path} is not empty and is not a gan run folder (it holds {shown}); gan writes only into a new or empty folder, so nothing there is overwritten. Choose a new folder, e.g. --out {quote(str(unused_name(self.path)))}."
            )

    def claim(self) -> None:
        """Create the folder (if needed) and its marker. Call while holding the lock."""
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            if not self.marker.is_file():
                with open_nofollow(self.marker, os.O_WRONLY | os.O_CREAT | os.O_EXCL) as handle:
                    handle.write(b"gancli run folder: written by `gan train`\n")
        except FileExistsError as exc:  # a link, or another kind of entry, under the marker's name
            raise UserError(
                f"{self.marker} exists but is not a file gan wrote (a link or a folder). Remove it, or choose another run folder."
            ) from exc
        except OSError as exc:
            raise (write_error(self.marker, exc) or exc) from exc

    def check_no_links(self) -> None:
        """Refuse a run in which an entry gan writes is a symbolic link (a write would land elsewhere)."""
        entries = [self.marker, self.lock, self.config, self.metrics, self.samples, self.checkpoints]
        entries += [self.progress_gif, self.curves, self.tensorboard, self.state]
        entries += [self.last, self.previous, self.best]
        for path in entries:
            if path.is_symlink():
                raise UserError(
                    f"{path} is a symbolic link (to {os.readlink(path)}); gan never writes through links inside a run folder. Remove the link, or choose another run folder."
                )

    def remove_stale_temps(self) -> list[Path]:
        """Half-written files of a run killed mid-write, in a gan run only. Hold the lock."""
        if not self.marker.is_file() and not self.has_checkpoint():
            return []
        removed = []
        for folder in (self.path, self.checkpoints, self.samples):
            if folder.is_dir() and not folder.is_symlink():
                removed += remove_stale_temps(folder)
        return removed

    def start_over(self) -> None:
        """A fresh run in this (claimed) folder: what an earlier attempt logged and drew is gone."""
        for path in [self.metrics, self.progress_gif, self.curves, self.state, *self.sample_paths()]:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()


def unused_name(path: Path) -> Path:
    """`path` with the first free -2, -3, ... suffix (`.`, `./` and `/` have no name to suffix:
    their absolute form is used, and the root folder's suggestion is a folder inside it)."""
    path = Path(path)
    if not path.name:
        path = Path(os.path.abspath(path))
    if not path.name:
        path = path / "run"
    n = 2
    while path.with_name(f"{path.name}-{n}").exists():
        n += 1
    return path.with_name(f"{path.name}-{n}")


def default_run_dir(preset: str, runs_dir: Path = DEFAULT_RUNS_DIR) -> Path:
    """runs/<preset>-<timestamp>, made unique."""
    path = Path(runs_dir) / f"{preset}-{time.strftime('%Y%m%d-%H%M%S')}"
    return unused_name(path) if path.exists() else path


def latest_run(runs_dir: Path = DEFAULT_RUNS_DIR) -> Path:
    """The most recently modified run folder holding a checkpoint."""
    runs_dir = Path(runs_dir)
    found = [RunFolder(p) for p in runs_dir.iterdir()] if runs_dir.is_dir() else []
    found = [r for r in found if r.path.is_dir() and r.checkpoints.is_dir() and r.has_checkpoint()]
    if not found:
        raise UserError(
            f"No trained run found under {runs_dir}/. Train one with `gan train`, or give a run folder or checkpoint path."
        )
    return max(found, key=lambda r: r.checkpoints.stat().st_mtime).path


def find_checkpoint(path: Path) -> Path:
    """A checkpoint file from a run folder or a file path (last.pt, else previous.pt)."""
    path = Path(path)
    if path.is_file():
        return path
    if path.is_dir():
        if not RunFolder(path).has_checkpoint() and (path / LAST).is_file():
            return path / LAST  # the checkpoints folder itself
        return RunFolder(path).find_checkpoint()
    raise UserError(f"{path} does not exist. Give a run folder written by `gan train` or a checkpoint file.")
