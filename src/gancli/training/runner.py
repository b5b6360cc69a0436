"""Planning a run folder for `gan train`: which folder a run writes, with which config, and the
checkpoint it continues from; then, once its lock is held, preparing that folder for the run.

The folder's layout and what makes a folder a run are `gancli.runs`'s; this module decides
which folder a command line means and refuses the ones that must not be written.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from shlex import quote

from gancli.config import Overrides, RunConfig, dump_yaml, load_yaml_file, to_dict, with_overrides
from gancli.errors import UserError
from gancli.fsutil import atomic_write_text, user_path
from gancli.reporting.jsonl import truncate_after
from gancli.runs import RunFolder, default_run_dir, latest_run
from gancli.training.checkpoint import load_checkpoint


@dataclass
class RunPlan:
    """Where a run writes, and the checkpoint it continues from (if any)."""

    run_dir: Path
    cfg: RunConfig
    resume_payload: dict | None = None
    resume_from: Path | None = None
    # the run continues its own folder (False: a new folder, perhaps from a loose checkpoint)
    in_place: bool = False
    # the folder was named here (runs/<preset>-<timestamp>): other ranks adopt rank 0's name
    named_here: bool = False

    @property
    def run(self) -> RunFolder:
        """The run folder's paths."""
        return RunFolder(self.run_dir)


def plan_new_run(cfg: RunConfig, out: str | None) -> RunPlan:
    """A fresh run folder; refuses one that holds a run or anything that is not gan's."""
    run_dir = user_path(out, "--out") if out is not None else default_run_dir(cfg.preset)
    RunFolder(run_dir).check_new()
    return RunPlan(run_dir, cfg, named_here=not out)


def plan_resume(
    target: str | Path, overrides: Overrides, out: str | None = None, *, adopt: bool = False
) -> RunPlan:
    """Continue a run folder (or one of its checkpoints) in place; a loose checkpoint file, one
    that is not inside a gan run, starts a new run folder (--out, or the default) from its
    weights and counters, so no folder gan did not make is ever written."""
    target = latest_run() if str(target) == "latest" else user_path(target, "--resume")
    if not target.exists():
        raise UserError(
            f"--resume {target} does not exist. Give a run folder written by `gan train`, or a checkpoint file."
        )
    run = RunFolder.of_checkpoint(target) if target.is_file() else RunFolder(target)
    if run is not None and not run.is_run():
        raise UserError(
            f"--resume {target} holds no checkpoint and is not a gan run folder (no {run.marker.name} marker). Give a run folder written by `gan train`, or a checkpoint file."
        )
    ckpt = target if target.is_file() else run.find_checkpoint()
    payload = load_checkpoint(ckpt)
    if run is None:  # a loose checkpoint: its own config, in a new folder
        cfg = _resumed_config(_without_root(payload["config"]), payload, overrides, ckpt)
        plan = plan_new_run(cfg, out)
        plan.resume_payload, plan.resume_from = payload, ckpt
        return plan
    if not run.marker.is_file() and not adopt:
        raise _not_ours(run, ckpt)
    if out is not None and user_path(out, "--out").resolve() != run.path.resolve():
        raise UserError(
            f"--resume {target} continues the run folder {run.path} in place; --out {out} cannot move it. Drop --out (or resume from a copy of the run folder)."
        )
    base = read_run_config(run) if run.config.exists() else _without_root(payload["config"])
    cfg = _resumed_config(base, payload, overrides, ckpt, saved=run.config)
    return RunPlan(run.path, cfg, payload, ckpt, in_place=True)


def _not_ours(run: RunFolder, ckpt: Path) -> UserError:
    """A folder with a checkpoint but no marker: an older gancli's run, or files put together by
    hand. Resuming rewrites its pictures and logs, so it is done only when asked (--adopt)."""
    return UserError(
        f"{run.path} holds a checkpoint but not the {run.marker.name} marker that gan writes into the run folders it makes (older gancli versions did not write it, or the folder was put together by hand). Resuming in place rewrites its config.yaml, metrics.jsonl, progress.gif, curves.png and samples/. If it is a run of yours to continue, add --adopt once (gan then marks it as its own); else continue into a new folder: `gan train --resume {quote(str(ckpt))}` after copying that file out of the folder."
    )


def _without_root(saved: dict) -> dict:
    """A checkpoint's config less its data.root: where a resumed run's data (and cache) lives
    comes from the command line or the run's own config.yaml, never from inside a file that may
    have been crafted to name a folder to write into."""
    data = {k: v for k, v in saved.get("data", {}).items() if k != "root"}
    return {**saved, "data": data}


def read_run_config(run: RunFolder) -> dict:
    """A run's saved config mapping; an empty or unreadable one is named in the message."""
    data = load_yaml_file(run.config)
    if not data:
        raise UserError(
            f"The run's config file {run.config} is empty. Restore it, or delete it to continue with the config saved in the checkpoint."
        )
    return data


def _resumed_config(
    base: dict, payload: dict, overrides: Overrides, ckpt: Path, saved: Path | None = None
) -> RunConfig:
    trained = payload["config"]["model"].get("resolution")
    if overrides.resolution is not None and overrides.resolution != trained:
        raise UserError(
            f"--resolution {overrides.resolution}: the run in {saved or ckpt} trains {trained}x{trained} networks, "
            "and a run cannot change its image size when resumed. Start a new run with --resolution instead."
        )
    try:
        cfg = with_overrides(base, overrides)
    except UserError as exc:
        where = saved if saved is not None else f"the config saved in checkpoint {ckpt}"
        raise UserError(f"{exc} (config of the resumed run: {where})") from exc
    if to_dict(cfg.model) != payload["config"]["model"]:
        raise UserError(
            f"The model in {saved or ckpt} differs from the one in checkpoint {ckpt}; a run cannot change its model when resumed. Start a new run instead."
        )
    return cfg


def prepare_run_folder(plan: RunPlan) -> None:
    """Make the folder this run's, under its lock: claimed (marker), no links, no stale temporary
    files, the metrics log cut back to the resumed iteration (emptied for a fresh start, with the
    pictures of an earlier attempt), and config.yaml saying what runs."""
    run = plan.run
    if not plan.in_place:
        run.check_new()  # again, under the lock: nothing else may have started here meanwhile
    run.check_no_links()
    run.claim()
    run.remove_stale_temps()  # half-written files of a run killed mid-write (we hold the lock)
    if plan.in_place and plan.resume_payload is not None:
        truncate_after(run.metrics, int(plan.resume_payload["iteration"]))
    else:
        run.start_over()
    atomic_write_text(run.config, dump_yaml(plan.cfg))
