#!/usr/bin/env bash
# flowers64 at batch 128 on one lent GPU (issue 5, #3): reference images/s (DataLoader JPEG
# decoding, 8 workers), ours fp32, --amp, --amp --compile, and 500 epochs of 3,670 images
# projected. Must finish in under 8 minutes: gpu_bench.py stops starting new measurements
# after 420 s and this script interrupts it at 450 s (figures print as they come).
#
# The GPU machine has torch 2.11, torchvision 0.26, typer, rich, pillow and pyyaml but not
# gancli: it runs from the checkout with src/ on PYTHONPATH and installs nothing.
#
#   bash benchmarks/gpu.sh                                       # on the GPU machine
#   bash benchmarks/gpu.sh --device cpu --steps 2 --warmup 1 --images 256 --batch-size 32 --workers 2 --configs ref,fp32,amp
#                                                                # smoke test of the code path on a CPU
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"

if command -v nvidia-smi >/dev/null; then
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
fi
python -c "import torch, torchvision; print('torch', torch.__version__, '| torchvision', torchvision.__version__, '| CUDA', torch.version.cuda, '| GPU available:', torch.cuda.is_available())"
timeout --signal=INT --kill-after=20 450 python benchmarks/gpu_bench.py "$@"

# The newest preset's step time on the GPU (issue #17): fast256 at its batch 16, fp32 and --amp,
# on random images of its shape (flowers cannot be downloaded there), and how many steps fit
# in its default hour. A dry run writes nothing.
if python -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)"; then
    for amp in --no-amp --amp; do
        timeout 150 python -m gancli train --preset fast256 --device cuda "$amp" --dry-run | tail -n 6 || true
    done
fi
