"""Upper bounds on sizes that come from configs, flags and file headers, and a memory check
made before allocating anything whose size comes from input."""

from __future__ import annotations

import os

from gancli.errors import UserError

MAX_RESOLUTION = 4096  # image side: 16x faces256's, far below what a header can claim
MAX_SEED = 1 << 32  # the seed is multiplied by primes below 2**24 into torch's 64-bit seeds
MAX_FEATURES = 1 << 14  # feature dimensions in statistics files (Inception's pool: 2048)


def memory_budget() -> int:
    """Bytes one allocation from input may take: half of this machine's physical memory."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 2
    except (ValueError, OSError, AttributeError):  # not a POSIX sysconf: assume a small machine
        return 4 << 30


def gib(nbytes: float) -> str:
    """A byte count as 'N.N GiB'."""
    return f"{nbytes / (1 << 30):,.1f} GiB"


def check_memory(nbytes: float, what: str, advice: str) -> None:
    """Refuse to allocate `nbytes` for `what` when it is more than memory_budget() allows."""
    budget = memory_budget()
    if nbytes > budget:
        raise UserError(
            f"{what} would need about {gib(nbytes)} of memory; at most {gib(budget)} (half of this "
            f"machine's memory) is accepted. {advice}"
        )


def check_seed(seed: int, where: str = "--seed") -> None:
    """Refuse a seed outside [-MAX_SEED, MAX_SEED] (torch's seeds are 64-bit)."""
    if abs(seed) > MAX_SEED:
        raise UserError(f"{where} is {seed}; it must be a whole number between -{MAX_SEED} and {MAX_SEED}.")


# Inception outputs kept per scored image: 2,048 pool features and 1,008 logits, held as float32
# per batch, then joined as float32 and as float64 (features.extract_features): 16 bytes a value
SCORED_IMAGE_BYTES = (2048 + 1008) * 16


def check_scored_images(n: int, where: str) -> None:
    """Refuse a count of images to score whose Inception features would not fit in memory
    (images are generated and scored in batches: only the features grow with n)."""
    check_memory(
        n * SCORED_IMAGE_BYTES,
        f"Scoring {n:,} images ({where})",
        "Use fewer images: 10,000 is the usual count for FID (2,000 during training).",
    )
