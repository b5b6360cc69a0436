"""Setting up a run folder and running a Trainer in it: shared by `gan train` and torchrun workers."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from gancli.config import RunConfig, dump_yaml, from_dict, load_yaml_file
from gancli.errors import UserError
from gancli.fsutil import atomic_write_text, remove_stale_temps, write_error
from gancli.reporting.jsonl import truncate_after
from gancli.training.checkpoint import find_checkpoint, load_checkpoint


@dataclass
class RunPlan:
    """Where a run writes, and the checkpoint it continues from (if any)."""

    run_dir: Path
    cfg: RunConfig
    resume_payload: dict | None = None
    resume_from: Path | None = None


def default_run_dir(preset: str, runs_dir: Path = Path("runs")) -> Path:
    """runs/<preset>-<timestamp>, made unique."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = runs_dir / f"{preset}-{stamp}"
    n = 1
    while path.exists():
        n += 1
        path = runs_dir / f"{preset}-{stamp}-{n}"
    return path


def plan_new_run(cfg: RunConfig, out: str | None) -> RunPlan:
    """A fresh run folder; refuses one that already holds a run."""
    run_dir = Path(out) if out else default_run_dir(cfg.preset)
    if (run_dir / "checkpoints").is_dir() and any((run_dir / "checkpoints").glob("*.pt")):
        raise UserError(
            f"{run_dir} already holds a training run. Continue it with `gan train --resume {run_dir}`, or choose another folder with --out."
        )
    if run_dir.exists() and not run_dir.is_dir():
        raise UserError(f"--out {run_dir} is a file, not a folder.")
    ancestor = run_dir.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if ancestor.exists() and not ancestor.is_dir():  # checked now, before the data is prepared
        raise UserError(
            f"--out {run_dir} cannot be created: {ancestor} is a file, not a folder. Choose another run folder."
        )
    return RunPlan(run_dir, cfg)


def plan_resume(run_dir: Path, overrides: dict) -> RunPlan:
    """Continue a run: its saved config, the given overrides (totals, logging), its last checkpoint."""
    from gancli.config import deep_merge, set_dotted, to_dict

    ckpt = find_checkpoint(run_dir)
    payload = load_checkpoint(ckpt)
    saved = run_dir / "config.yaml"
    base = load_yaml_file(saved) if saved.is_file() else payload["config"]
    data = deep_merge(base, {})
    for dotted, value in overrides.items():
        if value is not None:
            set_dotted(data, dotted, value)
    cfg = from_dict(data)
    if to_dict(cfg.model) != payload["config"]["model"]:
        raise UserError(
            f"The model in {saved} differs from the one in checkpoint {ckpt}; a run cannot change its model when resumed. Start a new run instead."
        )
    return RunPlan(run_dir if run_dir.is_dir() else ckpt.parent.parent, cfg, payload, ckpt)


def write_run_files(plan: RunPlan) -> None:
    """config.yaml (the effective config), and a metrics log cut back to the resumed iteration."""
    try:
        plan.run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise (write_error(plan.run_dir, exc) or exc) from exc
    for folder in (plan.run_dir, plan.run_dir / "checkpoints", plan.run_dir / "samples"):
        remove_stale_temps(folder)  # half-written files of a run killed mid-write (we hold the lock)
    atomic_write_text(plan.run_dir / "config.yaml", dump_yaml(plan.cfg))
    if plan.resume_payload is not None:
        truncate_after(plan.run_dir / "metrics.jsonl", int(plan.resume_payload["iteration"]))
