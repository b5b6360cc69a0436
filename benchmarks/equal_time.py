"""Architectures at equal time on real pictures (emoji) and on the built-in shapes.

Each arm is a preset plus config overrides, trained with `Trainer` exactly as `gan train`
does, for the same CPU time: one thread per worker process, and every arm's iterations are
its time budget divided by its own step time, measured first for all arms interleaved in one
process (so a busy machine slows every arm alike, and the comparison does not depend on what
else ran during the long runs). Each run also reports the CPU time it actually used.

The judge is a small classifier trained (once, seeded) on each dataset's own labels, never on
ImageNet: emoji's 98 subcategories and 9 categories, shapes' kind, colour, size, position and
background. A discriminator that sees ImageNet features could lower an ImageNet-feature FID
without better pictures (Kynkaanniemi et al. 2023). FID, precision and recall (k = 3) are
computed on its 128-d features between generated images and the training images; before the
judge is trusted it is calibrated: held-out real pictures (the floor), and the same held-out
pictures blurred or with their colours scrambled, must score in that order.

    python benchmarks/equal_time.py                           # both datasets, 3 seeds, 6 CPU minutes
    python benchmarks/equal_time.py --dataset emoji --minutes 20 --evals 8 --out benchmarks/out/equal_time_20
        # the longer budget, read at 5 and 20 CPU minutes
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import statistics
import time
from pathlib import Path

import benchlib as bl
import torch
import torch.nn.functional as F
from emoji import prepare as prepare_emoji
from quality import ShapeClassifier, load_classifier, train_classifier
from torch import nn

from gancli import config
from gancli.data.builtin import shape_parameters, shapes
from gancli.data.labels import shapes_labels
from gancli.metrics.fid import fid_from_features
from gancli.metrics.prdc import precision_recall
from gancli.models.conditional import classes_of
from gancli.reporting.grids import make_grid
from gancli.sampling import generate_from_latents, generate_images
from gancli.training.trainer import Trainer

FAKE_SEED = 4242
HELD_SHAPES_SEED = 4096 + 7
EVALS = 6  # scored at 1/6, 2/6, ... of the budget (--evals)
SHORT = 2  # the short budget is the SHORT-th evaluation point (--short)

UPCONV_GENERATOR = [
    {"op": "convT", "out": 128, "kernel": 4, "stride": 1, "padding": 0, "bias": False},
    {"op": "batchnorm"},
    {"op": "relu"},
    *(
        layer
        for out in (64, 32, 16)
        for layer in (
            {"op": "upsample", "scale": 2},
            {"op": "conv", "out": out, "kernel": 3, "stride": 1, "padding": 1, "bias": False},
            {"op": "batchnorm"},
            {"op": "relu"},
        )
    ),
    {"op": "upsample", "scale": 2},
    {"op": "conv", "out": 3, "kernel": 3, "stride": 1, "padding": 1, "bias": False},
    {"op": "tanh"},
]

ARMS: dict[str, tuple[str, dict]] = {
    "quick-improved": ("quick", {"recipe": "improved"}),
    "fast64": ("fast64", {}),  # the preset: FastGAN-lite, self-supervised D, the recipe with ADA
    "fast64-no-ada": ("fast64", {"train.augment_p": 1.0}),  # DiffAugment always on, as quick's
    "fast64-projected": ("fast64", {"model.arch": "projected", "model.d_width": 16, "train.augment_p": 1.0}),
    # the pilots that chose fast64's width and batch (seed 7, emoji; see benchmarks/README.md)
    "fast64-w4": ("fast64", {"model.width": 4, "train.augment_p": 1.0}),
    "fast64-b16": ("fast64", {"train.batch_size": 16, "train.augment_p": 1.0}),
    "fast64-w4-b16": ("fast64", {"model.width": 4, "train.batch_size": 16, "train.augment_p": 1.0}),
    "fast64-lrg5": ("fast64", {"train.lr_g": 0.0005, "train.augment_p": 1.0}),
    "projected-d64": ("fast64", {"model.arch": "projected", "model.d_width": 64, "train.augment_p": 1.0}),
    "projected-128-d32": (
        "fast64",
        {"model.arch": "projected", "model.d_width": 32, "model.projected_size": 128, "train.augment_p": 1.0},
    ),
    "dcgan64-improved": ("dcgan64", {"recipe": "improved", "train.batch_size": 32}),
    # quick with its strided transposed convolutions replaced by nearest-neighbour upsampling and
    # a 3x3 convolution (Odena et al. 2016): the checkerboard's cure at quick's widths
    "quick-upconv": ("quick", {"recipe": "improved", "model.generator": UPCONV_GENERATOR}),
    # class-conditional (--conditional): shapes' kinds, emoji's 9 categories
    "quick-improved-cond": ("quick", {"recipe": "improved", "model.conditional": True}),
    "fast64-cond": ("fast64", {"model.conditional": True}),
}
# Session 4 ran "fast64-no-ada" as "fast64" and "fast64" as "fast64-ada" (ADA joined the
# preset after that measurement); its saved runs were renamed to these names.
DEFAULT_ARMS = {
    "emoji": "quick-improved,fast64-no-ada,fast64",
    "shapes": "quick-improved,fast64-no-ada",
}


# ---------------------------------------------------------------- data and judges


def dataset(name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(training images, held-out images), uint8 (N, 3, 64, 64)."""
    if name == "emoji":
        data = prepare_emoji()
        return data["images"][~data["held_out"]], data["images"][data["held_out"]]
    return shapes(4096, 64), shapes(1000, 64, seed=HELD_SHAPES_SEED)


def classes(name: str) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """(training labels, held-out labels, class names): emoji's 9 categories, shapes' 3 kinds,
    in the order of dataset(name)'s images."""
    if name == "emoji":
        data = prepare_emoji()
        held = data["held_out"]
        return data["category"][~held], data["category"][held], list(data["categories"])
    train, names = shapes_labels(4096)
    held = shape_parameters(1000, HELD_SHAPES_SEED)["kind"].to(torch.int64)
    return train, held, names


@torch.no_grad()
def judged_classes(name: str, net: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """The judge's class of each image: its category head on emoji, its kind head on shapes."""
    head = 1 if name == "emoji" else 0
    return torch.cat([net(chunk)[head].argmax(1) for chunk in images.split(500)])


class EmojiClassifier(ShapeClassifier):
    """The shapes judge's body (128-d features) with heads for emoji subcategory and category."""

    def __init__(self, subcategories: int, categories: int) -> None:
        super().__init__()
        self.kind = nn.Linear(128, subcategories)
        self.regress = nn.Linear(128, categories)


def _jitter(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Training augmentation of the judge: shifts of up to 4 px and a brightness change."""
    dy, dx = (int(v) for v in torch.randint(-4, 5, (2,), generator=g))
    x = torch.roll(x.float(), (dy, dx), dims=(2, 3))
    return (x * (0.8 + 0.4 * torch.rand(x.shape[0], 1, 1, 1, generator=g))).clamp(0, 255)


def train_emoji_judge(path: Path, epochs: int = 12) -> dict[str, float]:
    """Train the emoji judge on the training split; report its held-out accuracies."""
    data = prepare_emoji()
    train, held = ~data["held_out"], data["held_out"]
    torch.manual_seed(0)
    net = EmojiClassifier(len(data["subcategories"]), len(data["categories"]))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    images, sub, cat = data["images"][train], data["subcategory"][train], data["category"][train]
    g = torch.Generator().manual_seed(1)
    for _ in range(epochs):
        for idx in torch.randperm(len(images), generator=g).split(64):
            sub_logits, cat_logits = net(_jitter(images[idx], g))
            loss = F.cross_entropy(sub_logits, sub[idx]) + F.cross_entropy(cat_logits, cat[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    net.eval()
    with torch.no_grad():
        sub_logits, cat_logits = net(data["images"][held])
    torch.save(net.state_dict(), path)
    return {
        "held_out_subcategory_accuracy": (sub_logits.argmax(1) == data["subcategory"][held])
        .float()
        .mean()
        .item(),
        "held_out_category_accuracy": (cat_logits.argmax(1) == data["category"][held]).float().mean().item(),
    }


def judge(name: str, out: Path) -> nn.Module:
    path = out / f"judge-{name}.pt"
    if not path.is_file():
        report = train_emoji_judge(path) if name == "emoji" else train_classifier(path)
        print(f"judge {name}: {report}", flush=True)
    if name == "shapes":
        return load_classifier(path)
    data = prepare_emoji()
    net = EmojiClassifier(len(data["subcategories"]), len(data["categories"]))
    net.load_state_dict(torch.load(path, weights_only=True))
    return net.eval()


@torch.no_grad()
def features(net: nn.Module, images: torch.Tensor) -> torch.Tensor:
    return torch.cat([net.features(chunk) for chunk in images.split(500)])


def score(net: nn.Module, real: torch.Tensor, images: torch.Tensor) -> dict[str, float]:
    fake = features(net, images)
    precision, recall = precision_recall(real[: len(fake)], fake, k=3)
    return {
        "fid": fid_from_features(real.double().numpy(), fake.double().numpy()),
        "precision": precision,
        "recall": recall,
    }


def calibration(net: nn.Module, real: torch.Tensor, held: torch.Tensor) -> dict[str, dict[str, float]]:
    """The judge on real pictures it must rank: held-out as they are, blurred, colour-scrambled."""
    blurred = F.avg_pool2d(held.float(), 5, 1, 2, count_include_pad=False).round().to(torch.uint8)
    perm = torch.randperm(3, generator=torch.Generator().manual_seed(3))
    scrambled = held[:, perm].flip(2)  # channels swapped, upside down: the right colours, wrong places
    return {
        "held-out real": score(net, real, held),
        "held-out blurred (5x5 box)": score(net, real, blurred),
        "held-out, channels swapped, flipped": score(net, real, scrambled),
    }


# ---------------------------------------------------------------- arms


def arm_config(arm: str, name: str, seed: int, iters: int, score_every: int) -> config.RunConfig:
    """The arm's run config on dataset `name` (its class names when the arm is conditional)."""
    preset, overrides = ARMS[arm]
    if overrides.get("model.conditional"):
        overrides = {**overrides, "model.classes": classes(name)[2]}
    return config.resolve(
        preset,
        None,
        {
            **overrides,
            "train.iters": iters,
            "train.seed": seed,
            "train.device": "cpu",
            "train.score_every": score_every,
            "data.name": "shapes",  # the images are given to Trainer directly
        },
    )


def trainer_for(name: str, cfg: config.RunConfig, images: torch.Tensor, **kwargs) -> Trainer:
    """A Trainer on the dataset's images, given its class labels when the arm is conditional."""
    labels = classes(name)[0] if cfg.model.conditional else None
    return Trainer(cfg, images, torch.device("cpu"), None, labels=labels, **kwargs)


def step_times(
    name: str, arms: list[str], images: torch.Tensor, rounds: int = 3, steps: int = 6
) -> dict[str, float]:
    """CPU seconds per training step of each arm, one thread, interleaved (median of rounds)."""
    torch.set_num_threads(1)
    trainers = {}
    for arm in arms:
        trainers[arm] = trainer_for(name, arm_config(arm, name, 0, 10_000, 0), images)
        trainers[arm].train_steps(3)  # warm-up
    times: dict[str, list[float]] = {arm: [] for arm in arms}
    for _ in range(rounds):
        for arm in arms:
            start = time.thread_time()
            trainers[arm].train_steps(steps)
            times[arm].append((time.thread_time() - start) / steps)
    return {arm: statistics.median(t) for arm, t in times.items()}


def cached_step_times(path: Path, name: str, arms: list[str], images: torch.Tensor) -> dict[str, float]:
    """The arms' step times measured once per output folder: a benchmark restarted (to add
    runs) gives its arms the same iterations as before, so finished runs stay comparable."""
    known = json.loads(path.read_text()) if path.is_file() else {}
    missing = [a for a in arms if a not in known]
    if missing:
        known.update(step_times(name, missing, images))
        path.write_text(json.dumps(known))
    return {a: known[a] for a in arms}


def _new_jobs(jobs: list[dict], out: Path, results: dict) -> list[dict]:
    """The jobs whose run is not saved yet (a saved run of the same iterations is read back),
    ordered seed by seed so that a benchmark cut short has every arm at its first seeds."""
    todo = []
    for job in jobs:
        saved = out / f"run-{job['dataset']}-{job['arm']}-s{job['seed']}.json"
        if saved.is_file() and json.loads(saved.read_text())["iters"] == job["iters"]:
            results[job["dataset"]][job["arm"]].append(json.loads(saved.read_text()))
        else:
            todo.append(job)
    print(f"  {len(todo)} runs to train, {len(jobs) - len(todo)} read back", flush=True)
    return sorted(todo, key=lambda j: j["seed"])


def train_one(job: dict) -> dict:
    """One arm, one seed, in this one-thread process, scored `evals` times along its budget."""
    torch.set_num_threads(1)
    out, name = Path(job["out"]), job["dataset"]
    net = judge(name, out)
    real = torch.load(out / f"real-{name}.pt", weights_only=True)
    images, held = dataset(name)
    cfg = arm_config(job["arm"], name, job["seed"], job["iters"], job["score_every"])
    curve: list[dict] = []
    trainer: Trainer | None = None
    start = time.thread_time()

    def scorer(generator: nn.Module, iteration: int) -> dict:
        generator.eval()
        point = {"iteration": iteration, "cpu_s": time.thread_time() - start}
        if classes_of(generator):
            point.update(conditional_scores(name, net, real, generator, len(held)))
        else:
            point.update(score(net, real, generate_images(generator, len(held), FAKE_SEED, "cpu", 250)))
        curve.append(point)
        if job["seed"] == 0 and len(curve) in (job["short"], job["evals"]):
            grid = f"grid-{name}-{job['arm']}-{'short' if len(curve) == job['short'] else 'long'}.png"
            make_grid(trainer.sample_fixed(), cols=5).save(out / grid)
        return {}

    trainer = trainer_for(name, cfg, images, scorer=scorer)
    outcome = trainer.fit()
    return {**job, "status": outcome.status, "cpu_s": time.thread_time() - start, "curve": curve}


def conditional_scores(name: str, net: nn.Module, real: torch.Tensor, generator: nn.Module, n: int) -> dict:
    """FID, precision and recall of images whose classes follow the training set's class
    frequencies (as the real features do: uniform classes would be a different distribution on
    emoji, whose categories are uneven), and the class accuracy: the share of images, every
    class drawn equally often, that the judge puts in the class they were asked for."""
    train_labels, _held, names = classes(name)
    g = torch.Generator().manual_seed(FAKE_SEED)
    asked = train_labels[torch.randint(len(train_labels), (n,), generator=g)]
    z = torch.randn(n, generator.latent_dim, generator=g)
    scores = score(net, real, generate_from_latents(generator, z, "cpu", 250, asked))
    balanced = torch.arange(n) % len(names)
    drawn = generate_from_latents(
        generator, torch.randn(n, generator.latent_dim, generator=g), "cpu", 250, balanced
    )
    return {**scores, "class_accuracy": (judged_classes(name, net, drawn) == balanced).float().mean().item()}


# ---------------------------------------------------------------- summary


def fid_at(curve: list[dict], cpu_minutes: float) -> float:
    """A run's FID at `cpu_minutes` of its own CPU time, linear between its scored points (a run
    may use a little more or less CPU than its budget: this compares at exactly equal time)."""
    prev_t, prev_f = 0.0, None
    for point in curve:
        t, f = point["cpu_s"] / 60, point["fid"]
        if t >= cpu_minutes:
            return f if prev_f is None else prev_f + (f - prev_f) * (cpu_minutes - prev_t) / (t - prev_t)
        prev_t, prev_f = t, f
    return curve[-1]["fid"]


def _minutes_to(runs: list[dict], target: float, minutes: float) -> str:
    """When the mean FID over seeds (on each run's CPU clock) first reaches `target`."""
    steps = [minutes * k / 60 for k in range(1, 61)]
    for t in steps:
        if statistics.fmean(fid_at(r["curve"], t) for r in runs) <= target:
            return f"{t:.1f}"
    return f"> {minutes:g}"


def _mean_sd(values: list[float]) -> str:
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.fmean(values):.1f} ± {sd:.1f}"


def summarise(name: str, results: dict[str, list[dict]], minutes: float, batch: dict) -> str:
    first = next(iter(results.values()))[0]
    short = minutes * first.get("short", SHORT) / first.get("evals", EVALS)
    base = results.get("quick-improved")
    target = statistics.fmean(fid_at(r["curve"], minutes) for r in base) if base else None
    rows = []
    for arm, runs in results.items():
        long = [r["curve"][-1] for r in runs]
        rows.append(
            [
                arm,
                f"{statistics.fmean(r['iters'] * batch[arm] / r['cpu_s'] for r in runs):.0f}",
                f"{runs[0]['iters'] * batch[arm]:,}",
                _mean_sd([fid_at(r["curve"], short) for r in runs]),
                _mean_sd([fid_at(r["curve"], minutes) for r in runs]),
                f"{statistics.fmean(p['precision'] for p in long):.3f}",
                f"{statistics.fmean(p['recall'] for p in long):.3f}",
                f"{statistics.fmean(p['class_accuracy'] for p in long):.3f}"
                if "class_accuracy" in long[0]
                else "-",
                "-" if target is None else _minutes_to(runs, target, minutes),
                " ".join(f"{fid_at(r['curve'], minutes):.1f}" for r in runs),
                f"{statistics.fmean(r['cpu_s'] for r in runs) / 60:.1f}",
            ]
        )
    header = [
        "arm",
        "img/s (1 thread, CPU time)",
        "images seen",
        f"FID at {short:.1f} CPU min",
        f"FID at {minutes:g} CPU min",
        "precision (end)",
        "recall (end)",
        "class accuracy (end)",
        "CPU min to quick's FID",
        "per seed",
        "CPU min used",
    ]
    return f"### {name} ({len(next(iter(results.values())))} seeds)\n\n" + bl.table(rows, header)


def summarise_saved(out: Path, minutes: float) -> str:
    """The tables of the runs saved in `out` (those that finished, when a run was cut short)."""
    runs: dict[str, dict[str, list[dict]]] = {}
    for path in sorted(out.glob("run-*.json")):
        r = json.loads(path.read_text())
        runs.setdefault(r["dataset"], {}).setdefault(r["arm"], []).append(r)
    text = [bl.machine_line(), ""]
    for name, arms in runs.items():
        batch = {arm: arm_config(arm, name, 0, 1, 0).train.batch_size for arm in arms}
        first = sorted(arms, key=lambda a: a != "quick-improved")
        text += [
            summarise(name, {a: sorted(arms[a], key=lambda r: r["seed"]) for a in first}, minutes, batch),
            "",
        ]
    return "\n".join(text)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dataset", default="emoji,shapes")
    parser.add_argument(
        "--arms", default="", help=f"comma-separated, of: {', '.join(ARMS)} (default per dataset)"
    )
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument(
        "--minutes", type=float, default=6.0, help="the long budget, CPU minutes of one thread"
    )
    parser.add_argument(
        "--evals", type=int, default=EVALS, help="scored this many times along each run, evenly"
    )
    parser.add_argument(
        "--short", type=int, default=SHORT, help="the short budget is this evaluation point (of --evals)"
    )
    parser.add_argument(
        "--iters",
        type=int,
        default=0,
        help="train every arm this many steps instead of --minutes of CPU time (equal images seen)",
    )
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", default="benchmarks/out/equal_time")
    parser.add_argument("--summarise", action="store_true", help="only summarise the runs saved in --out")
    args = parser.parse_args()
    if args.summarise:
        print(summarise_saved(Path(args.out), args.minutes))
        return
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print(bl.machine_line(), flush=True)
    started = time.perf_counter()
    torch.set_num_threads(1)
    jobs, plan = [], {}
    for name in args.dataset.split(","):
        net = judge(name, out)
        images, held = dataset(name)
        real = features(net, images)
        torch.save(real, out / f"real-{name}.pt")
        calib = calibration(net, real, held)
        calib["held-out real"]["class_accuracy"] = (
            (judged_classes(name, net, held) == classes(name)[1]).float().mean().item()
        )
        for what, s in calib.items():
            print(
                f"  {name} judge calibration, {what}: FID {s['fid']:.2f} precision {s['precision']:.3f} recall {s['recall']:.3f}"
                + (f" class accuracy {s['class_accuracy']:.3f}" if "class_accuracy" in s else ""),
                flush=True,
            )
        arms = (args.arms or DEFAULT_ARMS[name]).split(",")
        speeds = cached_step_times(out / f"speeds-{name}.json", name, arms, images)
        batch = {arm: arm_config(arm, name, 0, 1, 0).train.batch_size for arm in arms}
        print(
            f"  {name} step times (CPU s, 1 thread): " + ", ".join(f"{a} {s:.3f}" for a, s in speeds.items()),
            flush=True,
        )
        plan[name] = {"arms": arms, "speeds": speeds, "batch": batch, "calibration": calib}
        for arm in arms:
            iters = max(args.evals, round(args.minutes * 60 / speeds[arm] / args.evals) * args.evals)
            iters = args.iters or iters
            for seed in (int(s) for s in args.seeds.split(",")):
                jobs.append(
                    {
                        "dataset": name,
                        "arm": arm,
                        "seed": seed,
                        "iters": iters,
                        "score_every": iters // args.evals,
                        "evals": args.evals,
                        "short": args.short,
                        "out": str(out),
                    }
                )
    results: dict[str, dict[str, list[dict]]] = {
        name: {arm: [] for arm in p["arms"]} for name, p in plan.items()
    }
    jobs = _new_jobs(jobs, out, results)
    with mp.get_context("spawn").Pool(args.jobs) as pool:
        for r in pool.imap_unordered(train_one, jobs):
            results[r["dataset"]][r["arm"]].append(r)
            (out / f"run-{r['dataset']}-{r['arm']}-s{r['seed']}.json").write_text(json.dumps(r))
            last = r["curve"][-1]
            accuracy = f" class accuracy {last['class_accuracy']:.3f}" if "class_accuracy" in last else ""
            print(
                f"  {r['dataset']} {r['arm']:>18} seed {r['seed']}: FID {last['fid']:.2f} P {last['precision']:.3f} R {last['recall']:.3f}{accuracy} ({r['cpu_s'] / 60:.1f} CPU min)",
                flush=True,
            )
    text = [bl.machine_line(), ""]
    for name, p in plan.items():
        text.append(
            summarise(
                name,
                {a: sorted(results[name][a], key=lambda r: r["seed"]) for a in p["arms"]},
                args.minutes,
                p["batch"],
            )
        )
        text.append(
            "judge calibration (n = held-out size): "
            + "; ".join(
                f"{w} FID {s['fid']:.1f} P {s['precision']:.3f} R {s['recall']:.3f}"
                + (f" class accuracy {s['class_accuracy']:.3f}" if "class_accuracy" in s else "")
                for w, s in p["calibration"].items()
            )
        )
        text.append("")
    (out / "summary.md").write_text("\n".join(text) + "\n")
    print("\n".join(text))
    print(f"wall time {time.perf_counter() - started:.0f} s; grids of seed 0 in {out}/grid-*.png")


if __name__ == "__main__":
    main()
