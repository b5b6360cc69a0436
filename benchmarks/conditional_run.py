"""Score a `gan train --conditional` run with the equal-time benchmark's judge.

For each checkpoint the run keeps (and `--extra` ones copied aside while it ran), the
generator's EMA weights draw as many images as the held-out set (classes at the training set's
frequencies) for FID, precision and recall against the training images, and as many again with
every class equally often for the class accuracy: the share the judge puts in the class they
were asked for. The judge's own accuracy on held-out real pictures is printed beside it (its
ceiling). The run's classes must be the judge's, in its order: shapes' kinds, or emoji's
categories as `benchmarks/emoji.py --class-folders` writes them (`0-activities`, ...).

    python benchmarks/emoji.py --class-folders /tmp/emoji-classes
    gan train --preset quick --recipe improved --data /tmp/emoji-classes --conditional \\
        --iters 9000 --checkpoint-every 1500 --out runs/cond-emoji
    python benchmarks/conditional_run.py runs/cond-emoji --dataset emoji
"""

from __future__ import annotations

import argparse
from pathlib import Path

import benchlib as bl
import torch
from equal_time import classes, conditional_scores, dataset, features, judge, judged_classes

from gancli.sampling import load_generator

JUDGES = Path(__file__).resolve().parent / "out" / "equal_time"


def judge_class_names(name: str) -> list[str]:
    return classes(name)[2]


def check_classes(run_classes: list[str], name: str) -> None:
    """The run's class i must be the judge's class i (emoji folders carry the index first)."""
    judged = judge_class_names(name)
    same = (
        [int(c.split("-", 1)[0]) for c in run_classes] == list(range(len(judged)))
        if name == "emoji"
        else run_classes == judged
    )
    if not same:
        raise SystemExit(f"the run's classes {run_classes} are not the judge's {judged}, in its order")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("run", type=Path)
    parser.add_argument("--dataset", choices=("emoji", "shapes"), required=True)
    parser.add_argument("--extra", type=Path, nargs="*", default=[], help="more checkpoint files to score")
    parser.add_argument("--judges", type=Path, default=JUDGES, help="where the judges are (trained once)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(bl.machine_line(), flush=True)
    net = judge(args.dataset, args.judges)
    images, held = dataset(args.dataset)
    real = features(net, images)
    ceiling = (judged_classes(args.dataset, net, held) == classes(args.dataset)[1]).float().mean().item()
    print(f"judge's class accuracy on held-out real {args.dataset}: {ceiling:.3f}")
    # one checkpoint per iteration (a copy set aside may also be the run's last.pt)
    points = {
        torch.load(p, weights_only=True, map_location="cpu")["iteration"]: p
        for p in [*args.extra, *(args.run / "checkpoints").glob("*.pt")]
    }
    rows = []
    for iteration, path in sorted(points.items()):
        generator, cfg = load_generator(path)
        check_classes(cfg.model.classes, args.dataset)
        s = conditional_scores(args.dataset, net, real, generator.eval(), len(held))
        rows.append(
            [
                f"{iteration:,}",
                f"{s['fid']:.1f}",
                f"{s['precision']:.3f}",
                f"{s['recall']:.3f}",
                f"{s['class_accuracy']:.3f}",
            ]
        )
        print(" ".join(rows[-1]), flush=True)
    print(bl.table(rows, ["iteration", "FID", "precision", "recall", "class accuracy"]))


if __name__ == "__main__":
    main()
