"""Images/s of gancli's Inception feature extractor against torch-fidelity's, same images, same device.

    python benchmarks/metrics_speed.py -n 64 --batch-size 32 --device cpu [--weights PATH]

Both extract the 2048-d pool features and the 1008 unbiased logits from uint8 images (resize
to 299 the TensorFlow way inside each). Without --weights, a random state dict in the standard
layout is written to a temporary file: speed does not depend on the weight values. Each
extractor gets one warm-up batch, then the runs alternate (ours, theirs, ours, ...) so that load
from other processes hits both alike; the best run of each is reported.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from gancli.metrics.features import extract_features
from gancli.metrics.inception import FIDInceptionV3, load_inception


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _random_weights(folder: Path) -> Path:
    torch.manual_seed(0)
    state = {k: torch.randn_like(v) * 0.05 for k, v in FIDInceptionV3().state_dict().items()}
    for k in state:
        if k.endswith("running_var"):
            state[k] = state[k].abs() + 1.0
    path = folder / "random-inception.pth"
    torch.save(state, path)
    return path


def _time_ours(images: torch.Tensor, model, device, batch_size: int) -> float:
    _sync(device)
    start = time.perf_counter()
    extract_features(images, model, "tf", device=device, batch_size=batch_size)
    _sync(device)
    return time.perf_counter() - start


def _time_fidelity(images: torch.Tensor, extractor, device, batch_size: int) -> float:
    _sync(device)
    start = time.perf_counter()
    with torch.no_grad():  # what torch-fidelity's own extraction loop uses
        for batch in images.split(batch_size):
            pool, logits = extractor(batch.to(device))
            pool.cpu(), logits.cpu()
    _sync(device)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=64, help="number of images (default 64)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--size", type=int, default=32, help="source image size (default 32)")
    parser.add_argument("--repeats", type=int, default=2, help="timed runs per extractor (best is kept)")
    parser.add_argument("--weights", type=Path, default=None, help="a weights file in the standard layout")
    args = parser.parse_args()

    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    device = torch.device(args.device)
    torch.manual_seed(0)
    images = torch.randint(0, 256, (args.n, 3, args.size, args.size), dtype=torch.uint8)
    with tempfile.TemporaryDirectory() as tmp:
        weights = args.weights or _random_weights(Path(tmp))
        ours = load_inception(weights).to(device)
        theirs = FeatureExtractorInceptionV3(
            "inception-v3-compat", ["2048", "logits_unbiased"], feature_extractor_weights_path=str(weights)
        ).to(device)
    warm = images[: min(args.batch_size, args.n)]
    _time_ours(warm, ours, device, args.batch_size)
    _time_fidelity(warm, theirs, device, args.batch_size)
    ours_times, theirs_times = [], []
    for _ in range(args.repeats):
        ours_times.append(_time_ours(images, ours, device, args.batch_size))
        theirs_times.append(_time_fidelity(images, theirs, device, args.batch_size))
    ours_ips = args.n / min(ours_times)
    theirs_ips = args.n / min(theirs_times)
    print(
        f"device {device}, torch {torch.__version__}, threads {torch.get_num_threads()}, "
        f"n={args.n}, batch {args.batch_size}, {args.size}x{args.size} -> 299x299"
    )
    print(f"gancli         {ours_ips:8.2f} images/s  (runs: {', '.join(f'{t:.2f}s' for t in ours_times)})")
    print(
        f"torch-fidelity {theirs_ips:8.2f} images/s  (runs: {', '.join(f'{t:.2f}s' for t in theirs_times)})"
    )
    print(f"speed-up       {ours_ips / theirs_ips:8.2f}x")


if __name__ == "__main__":
    main()
