"""Sample quality at equal steps: the faithful quick preset against the improved recipe and
each of its techniques alone, over several seeds, on the built-in shapes.

The standard Inception weights cannot be fetched here, so the score is measured in the
feature space of a small classifier trained (once, seeded) on the shapes' own labels: kind
(disc, square, triangle), colour, size, position and background brightness. FID, precision
and recall (k = 3) are computed on its 128-d penultimate features between `--n-fake` generated
images and the training images; a held-out set of real images gives the floor (what a
perfect generator would score at this sample size).

Each arm is the quick preset plus config overrides, trained with `Trainer` exactly as
`gan train` does (no run folder), scored every `--eval-every` iterations with its sampling
generator (G_ema when the arm keeps one). Runs go to `--jobs` worker processes of one thread
each (OpenMP threads of several processes on two cores stall each other). Results are cached
per (arm settings, seed, schedule) in `--out`, so a rerun with another arm list only trains
what is new.

    python benchmarks/quality.py                      # all arms, 3 seeds, 1,500 iterations
    python benchmarks/quality.py --arms faithful,improved --seeds 0,1,2,3,4
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import multiprocessing as mp
import statistics
import time
from pathlib import Path

import benchlib as bl
import torch
from torch import nn

from gancli import config
from gancli.data.builtin import SHAPES_SEED, shape_parameters, shapes
from gancli.metrics.fid import fid_from_features
from gancli.metrics.prdc import precision_recall
from gancli.reporting.grids import make_grid
from gancli.sampling import generate_images
from gancli.training.trainer import Trainer

RESOLUTION = 64
TRAIN_IMAGES = 4096  # the quick preset's data: shapes' default size
CLASSIFIER_IMAGES = 8192
HELD_OUT_SEED = SHAPES_SEED + 7
CLASSIFIER_SEED = SHAPES_SEED + 11
FAKE_SEED = 4242

# Each arm: config overrides on top of the quick preset (dotted keys; "recipe" is the switch).
ARMS: dict[str, dict] = {
    "faithful": {},
    "improved": {"recipe": "improved"},
    "ema": {"train.ema_half_life": 10_000},
    "ema-recompute": {"train.ema_half_life": 10_000, "train.ema_bn": "recompute"},
    "augment": {"train.augment": "translation,color"},
    "augment-cutout": {"train.augment": "translation,cutout,color"},
    "hinge": {"train.loss": "hinge"},
    "sn": {"model.spectral_norm": True},
    "r1": {"train.r1_gamma": 0.1},
    "no-flip": {"train.label_flip_prob": 0.0},
    # candidate combinations for the recipe
    "aug+ema": {"train.augment": "translation,color", "train.ema_half_life": 10_000},
    "aug+hinge+ema": {
        "train.augment": "translation,color",
        "train.loss": "hinge",
        "train.ema_half_life": 10_000,
    },
    "aug+hinge+ema-noflip": {
        "train.augment": "translation,color",
        "train.loss": "hinge",
        "train.ema_half_life": 10_000,
        "train.label_flip_prob": 0.0,
    },
    "augcut+hinge+ema": {
        "train.augment": "translation,cutout,color",
        "train.loss": "hinge",
        "train.ema_half_life": 10_000,
    },
}
DEFAULT_ARMS = "faithful,improved,augment,ema,hinge,sn,r1"  # 21 runs: ~25 min on 2 quiet cores


# ---------------------------------------------------------------- the judge


class ShapeClassifier(nn.Module):
    """A small CNN whose 128-d penultimate layer serves as the feature space of the scores."""

    def __init__(self) -> None:
        super().__init__()
        chans = [3, 32, 64, 128, 128]
        layers: list[nn.Module] = []
        for cin, cout in zip(chans, chans[1:]):
            layers += [nn.Conv2d(cin, cout, 4, 2, 1), nn.BatchNorm2d(cout), nn.LeakyReLU(0.2)]
        self.body = nn.Sequential(*layers, nn.Flatten(), nn.Linear(128 * 4 * 4, 128), nn.ReLU())
        self.kind = nn.Linear(128, 3)
        self.regress = nn.Linear(128, 7)  # cos/sin hue, radius, cx, cy, bg value, saturation

    def features(self, images_uint8: torch.Tensor) -> torch.Tensor:
        return self.body(images_uint8.float() / 127.5 - 1)

    def forward(self, images_uint8: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = self.features(images_uint8)
        return self.kind(f), self.regress(f)


def _targets(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    p = shape_parameters(n, seed)
    angle = p["hue"] * 2 * math.pi
    reg = torch.stack(
        [
            angle.cos(),
            angle.sin(),
            p["radius"] * 5,
            p["cx"] * 2,
            p["cy"] * 2,
            p["bg_value"] * 4,
            p["saturation"] * 4,
        ],
        dim=1,
    )
    return p["kind"], reg


def train_classifier(path: Path, epochs: int = 4) -> dict[str, float]:
    """Train the judge once (seeded) on images the GANs never see; report held-out accuracy."""
    torch.manual_seed(0)
    net = ShapeClassifier()
    images = shapes(CLASSIFIER_IMAGES, RESOLUTION, seed=CLASSIFIER_SEED)
    kind, reg = _targets(CLASSIFIER_IMAGES, CLASSIFIER_SEED)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    order = torch.Generator().manual_seed(1)
    for _ in range(epochs):
        for idx in torch.randperm(CLASSIFIER_IMAGES, generator=order).split(128):
            logits, out = net(images[idx])
            loss = nn.functional.cross_entropy(logits, kind[idx]) + nn.functional.mse_loss(out, reg[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    net.eval()
    test = shapes(2000, RESOLUTION, seed=HELD_OUT_SEED)
    t_kind, t_reg = _targets(2000, HELD_OUT_SEED)
    with torch.no_grad():
        logits, out = net(test)
    torch.save(net.state_dict(), path)
    return {
        "kind_accuracy": (logits.argmax(1) == t_kind).float().mean().item(),
        "regression_rmse": (out - t_reg).square().mean().sqrt().item(),
    }


def load_classifier(path: Path) -> ShapeClassifier:
    net = ShapeClassifier()
    net.load_state_dict(torch.load(path, weights_only=True))
    return net.eval()


@torch.no_grad()
def features(net: ShapeClassifier, images: torch.Tensor) -> torch.Tensor:
    return torch.cat([net.features(chunk) for chunk in images.split(500)])


def score(net: ShapeClassifier, real_features: torch.Tensor, images: torch.Tensor) -> dict[str, float]:
    fake = features(net, images)
    precision, recall = precision_recall(real_features[: len(fake)], fake, k=3)
    return {
        "fid": fid_from_features(real_features.double().numpy(), fake.double().numpy()),
        "precision": precision,
        "recall": recall,
    }


# ---------------------------------------------------------------- one run


def arm_config(arm: str, seed: int, iters: int, eval_every: int) -> config.RunConfig:
    overrides = {
        "recipe": "faithful",  # the preset as written, whatever recipe it defaults to
        "train.iters": iters,
        "train.seed": seed,
        "train.device": "cpu",
        "train.score_every": eval_every,
    }
    overrides.update(ARMS[arm])
    return config.resolve("quick", None, overrides)


def run_key(arm: str, seed: int, iters: int, eval_every: int, n_fake: int) -> str:
    """The cache name of one run: its training settings, not the arm's name or recipe label, so
    an arm whose settings equal another's (a recipe and the combination it names) reuses it."""
    settings = config.to_dict(arm_config(arm, seed, iters, eval_every))
    settings.pop("recipe")
    text = json.dumps(settings, sort_keys=True) + f"|{n_fake}"
    return f"s{seed}-{hashlib.sha256(text.encode()).hexdigest()[:12]}"


def train_one(job: tuple[str, int, int, int, int, str]) -> dict:
    """Train one arm from one seed in this (one-thread) process; score along the way."""
    arm, seed, iters, eval_every, n_fake, out = job
    torch.set_num_threads(1)
    out_dir = Path(out)
    judge = load_classifier(out_dir / "classifier.pt")
    real = torch.load(out_dir / "real_features.pt", weights_only=True)
    cfg = arm_config(arm, seed, iters, eval_every)
    curve: list[dict] = []

    def scorer(generator: nn.Module, iteration: int) -> dict:
        was = generator.training
        generator.eval()
        images = generate_images(generator, n_fake, FAKE_SEED, "cpu", 250)
        generator.train(was)
        curve.append({"iteration": iteration, **score(judge, real, images)})
        return {}

    start = time.perf_counter()
    trainer = Trainer(cfg, shapes(TRAIN_IMAGES, RESOLUTION), torch.device("cpu"), None, scorer=scorer)
    outcome = trainer.fit()
    seconds = time.perf_counter() - start
    if seed == 0:
        make_grid(trainer.sample_fixed(), cols=5).save(out_dir / f"grid-{arm}.png")
    return {"arm": arm, "seed": seed, "status": outcome.status, "seconds": seconds, "curve": curve}


# ---------------------------------------------------------------- summary


def _mean_curve(runs: list[dict]) -> dict[int, float]:
    by_it: dict[int, list[float]] = {}
    for run in runs:
        for point in run["curve"]:
            by_it.setdefault(point["iteration"], []).append(point["fid"])
    return {it: statistics.fmean(v) for it, v in sorted(by_it.items()) if len(v) == len(runs)}


def summarise(results: dict[str, list[dict]], floor: float) -> str:
    target = _mean_curve(results["faithful"])
    target_fid = target[max(target)] if target else math.nan
    rows = []
    for arm, runs in results.items():
        finals = [run["curve"][-1] for run in runs]
        fids = [f["fid"] for f in finals]
        curve = _mean_curve(runs)
        reach = next((it for it, fid in curve.items() if fid <= target_fid), None)
        spread = statistics.stdev(fids) if len(fids) > 1 else 0.0
        rows.append(
            [
                arm,
                f"{statistics.fmean(fids):.2f} ± {spread:.2f}",
                f"{target_fid / statistics.fmean(fids):.2f}x",
                f"{statistics.fmean(f['precision'] for f in finals):.3f}",
                f"{statistics.fmean(f['recall'] for f in finals):.3f}",
                "-" if reach is None else f"{reach} ({reach / max(target):.2f})",
                f"{statistics.fmean(r['seconds'] for r in runs):.0f}",
                " ".join(f"{f:.1f}" for f in fids),
            ]
        )
    header = [
        "arm",
        "final FID (mean ± sd)",
        "faithful/arm",
        "precision",
        "recall",
        "steps to faithful's final (fraction)",
        "s/run",
        "per seed",
    ]
    return (
        bl.table(rows, header)
        + f"\n\nFloor (held-out real images vs training images, same n): FID {floor:.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--arms", default=DEFAULT_ARMS, help=f"comma-separated, of: {', '.join(ARMS)}")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--iters", type=int, default=1500)
    parser.add_argument("--eval-every", type=int, default=150)
    parser.add_argument("--n-fake", type=int, default=1000)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", default="benchmarks/out/quality")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print(bl.machine_line(), flush=True)
    started = time.perf_counter()
    if not (out / "classifier.pt").is_file():
        print("judge:", train_classifier(out / "classifier.pt"), flush=True)
    judge = load_classifier(out / "classifier.pt")
    real = features(judge, shapes(TRAIN_IMAGES, RESOLUTION))
    torch.save(real, out / "real_features.pt")
    held_out = shapes(args.n_fake, RESOLUTION, seed=HELD_OUT_SEED)
    floor = score(judge, real, held_out)["fid"]

    arms, seeds = args.arms.split(","), [int(s) for s in args.seeds.split(",")]
    cache = out / "runs"
    cache.mkdir(exist_ok=True)
    jobs, keys = [], {}
    for arm in arms:
        for seed in seeds:
            key = run_key(arm, seed, args.iters, args.eval_every, args.n_fake)
            keys[(arm, seed)] = key
            if not (cache / f"{key}.json").is_file() and key not in {keys[j[:2]] for j in jobs}:
                jobs.append((arm, seed, args.iters, args.eval_every, args.n_fake, str(out)))
    print(f"{len(jobs)} runs to train ({len(arms) * len(seeds) - len(jobs)} cached)", flush=True)
    with mp.get_context("spawn").Pool(args.jobs) as pool:
        for result in pool.imap_unordered(train_one, jobs):
            key = keys[(result["arm"], result["seed"])]
            (cache / f"{key}.json").write_text(json.dumps(result))
            last = result["curve"][-1]
            print(
                f"  {result['arm']:>14} seed {result['seed']}: FID {last['fid']:.2f} in {result['seconds']:.0f} s",
                flush=True,
            )
    results = {
        arm: [json.loads((cache / f"{keys[(arm, s)]}.json").read_text()) for s in seeds] for arm in arms
    }
    summary = summarise(results, floor)
    (out / "summary.md").write_text(bl.machine_line() + "\n\n" + summary + "\n")
    print()
    print(summary)
    print(f"\nwall time {time.perf_counter() - started:.0f} s; grids of seed 0 in {out}/grid-ARM.png")


if __name__ == "__main__":
    main()
