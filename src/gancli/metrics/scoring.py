"""`gan score`'s work: the images of a target (a generator's or a folder's), a reference, and
the metrics between them, as a report dict. No user interface: `warn` receives the notes."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from gancli.devices import resolve_device
from gancli.errors import UserError
from gancli.fsutil import check_output_file
from gancli.limits import check_scored_images
from gancli.metrics.api import check_reference, compute_metrics, parse_metrics
from gancli.metrics.features import extract_features
from gancli.metrics.inception import find_weights, load_inception
from gancli.metrics.kid import DEFAULT_SUBSET_SIZE, DEFAULT_SUBSETS
from gancli.metrics.reference import ReferenceStats, dataset_reference, export_npz, load_reference, weights_id
from gancli.metrics.registry import METRICS
from gancli.metrics.resize import RESIZE_MODES
from gancli.runs import RunFolder

DEFAULT_N = 10_000
MAX_BATCH = 1024
MAX_KID_SUBSETS = 100_000  # each a subset_size^2 kernel: 100 is torch-fidelity's default


@dataclass
class ScoreRequest:
    """What to score against what (the options of `gan score`)."""

    target: Path
    ref: str
    metrics: str | None = None  # None: all registered (fid,is for a mu/sigma-only .npz reference)
    n: int | None = None
    ref_n: int = 0
    batch_size: int = 50
    device: str = "auto"
    resize: str = "tf"
    kid_subset_size: int = DEFAULT_SUBSET_SIZE
    kid_subsets: int = DEFAULT_SUBSETS
    weights: Path | None = None
    seed: int = 0
    resolution: int | None = None
    root: Path | None = None
    export_ref: Path | None = None
    best: bool = False  # a run's best.pt instead of its last checkpoint
    force: bool = False  # replace an existing --export-ref file
    truncation: float | None = None  # the generator's latents truncated at this psi (BigGAN)
    class_name: str | None = None  # a conditional run's one class, against the reference's images of it


def _check(request: ScoreRequest) -> set[str]:
    chosen = parse_metrics(request.metrics or ",".join(METRICS))
    if request.resize not in RESIZE_MODES:
        raise UserError(f"--resize {request.resize} is not known; use one of: {', '.join(RESIZE_MODES)}.")
    if request.batch_size <= 0 or (request.n is not None and request.n <= 0) or request.ref_n < 0:
        raise UserError("--batch-size and -n must be positive, and --ref-n zero or positive.")
    if request.batch_size > MAX_BATCH:  # each image is ~1 MB at Inception's 299x299, more inside it
        raise UserError(
            f"--batch-size is {request.batch_size:,}; at most {MAX_BATCH:,} images go through Inception at once (50 is the usual size)."
        )
    if request.n is not None:
        check_scored_images(request.n, f"-n {request.n}")
    if not 1 <= request.kid_subsets <= MAX_KID_SUBSETS or request.kid_subset_size < 2:
        raise UserError(
            f"--kid-subsets is {request.kid_subsets} and --kid-subset-size {request.kid_subset_size}: KID needs 1 to {MAX_KID_SUBSETS:,} subsets (100 is the usual count) of at least 2 images. Checked before any image is scored."
        )
    if request.export_ref is not None:  # before any work: a file of the user's is kept
        request.export_ref = check_output_file(request.export_ref, request.force, "--export-ref")
    from gancli.sampling import check_truncation

    check_truncation(request.truncation)
    if not Path(request.target).exists():
        raise UserError(
            f"{request.target} does not exist. Give a run folder or checkpoint from `gan train`, or a folder of images."
        )
    return chosen


def _no_progress(label: str) -> AbstractContextManager[Any]:
    return nullcontext(None)


def score(
    request: ScoreRequest,
    *,
    warn: Callable[[str], None] = lambda text: None,
    progress: Callable[[str], AbstractContextManager[Any]] = _no_progress,
) -> dict[str, Any]:
    """Score `request.target` against `request.ref`; the report `gan score --json` prints.
    `progress(label)` gives a context yielding a progress(done, total) callback (or None)."""
    r = request
    chosen = _check(r)
    dev = resolve_device(r.device)
    weights_path = find_weights(str(r.weights) if r.weights else None, r.root)
    # A statistics file is read first: if it cannot serve the metrics asked for, stop before any work.
    real = _stats_file(r.ref)
    if real is not None:
        chosen = _servable(real, chosen, r, warn)
    model = load_inception(weights_path).to(dev)
    wid = weights_id(weights_path)
    target = _target(r, dev, warn)
    channels, res = target.channels, target.resolution
    with progress("Inception: reference") as counted:
        if real is None:
            real = dataset_reference(
                r.ref, resolution=res, channels=channels, metric_resize=r.resize, weights=wid,
                model=model, device=dev, batch_size=r.batch_size, root=r.root,
                need_features=bool(_needing_reference_features(chosen)), progress=counted,
                subset=r.ref_n, class_name=r.class_name,
            )  # fmt: skip
    if r.export_ref is not None:
        export_npz(real, r.export_ref)
    fake_images, class_mix = _target_batches(target, r, dev, real.meta.get("class_counts"), warn)
    with progress("Inception: generated") as counted:
        fake = extract_features(
            fake_images, model, r.resize, dev, progress=counted, total=target.n, batch_size=r.batch_size
        )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        results = compute_metrics(real, fake, chosen, r.kid_subset_size, r.kid_subsets)
    for w in caught:
        warn(f"warning: {w.message}")
    report = {
        "target": str(r.target), "target_kind": target.kind, "reference": str(r.ref),
        "n": len(fake), "n_ref": real.n, "resolution": res, "channels": channels, "resize": r.resize,
        "weights": str(weights_path), "weights_sha256_prefix": wid,
        "kid_subset_size": r.kid_subset_size if "kid" in chosen else None,
        "kid_subsets": r.kid_subsets if "kid" in chosen else None,
        "truncation": r.truncation, "class": r.class_name, "class_mix": class_mix,
        "metrics": results,
    }  # fmt: skip
    if r.export_ref is not None:
        report["exported_ref"] = str(r.export_ref)
    return report


def _servable(
    real: ReferenceStats, chosen: set[str], r: ScoreRequest, warn: Callable[[str], None]
) -> set[str]:
    """The metrics a statistics file can serve: only the default set is narrowed to fid,is for
    a mu/sigma-only file; an explicit --metrics kid/pr against one is an error."""
    if r.class_name is not None:
        raise UserError(
            f"--class {r.class_name} scores against the reference's images of that class, and {r.ref} is a statistics file (no classes). Give the dataset or class folder as --ref."
        )
    if r.metrics is None and real.pool is None:
        chosen = chosen - _needing_reference_features(chosen)
        warn(f"note: {r.ref} holds only mu/sigma, so KID and precision/recall are skipped.")
    check_reference(real, chosen)
    return chosen


def _needing_reference_features(chosen: set[str]) -> set[str]:
    return {name for name in chosen if METRICS[name].needs_reference_features}


@dataclass
class _Target:
    """What is scored: a folder's images, or a generator whose images are drawn once the
    reference (and so the class mix they must follow) is known."""

    kind: str  # generator | folder
    n: int
    channels: int
    resolution: int
    images: torch.Tensor | None = None
    generator: torch.nn.Module | None = None
    classes: list[str] = field(default_factory=list)  # a conditional generator's
    class_index: int | None = None


def _target(r: ScoreRequest, dev: torch.device, warn: Callable[[str], None]) -> _Target:
    """The run folder / checkpoint (its generator, loaded) or the image folder to score."""
    target = Path(r.target)
    if target.is_file() or RunFolder(target).is_run() or r.best:
        from gancli.sampling import class_index, load_generator

        generator, cfg = load_generator(target, dev, best=r.best)
        index = class_index(cfg, r.class_name) if r.class_name is not None else None
        if index is not None:  # an index names the class the reference is filtered by
            r.class_name = cfg.model.classes[index]
        n, channels, res = r.n or DEFAULT_N, cfg.model.channels, cfg.model.resolution
        classes = list(cfg.model.classes) if cfg.model.conditional else []
        return _Target("generator", n, channels, res, generator=generator, classes=classes, class_index=index)
    if r.class_name is not None:
        raise UserError(
            f"--class picks a class of a conditional run's generator, and {target} is a folder of images. Give a run folder or checkpoint, or leave out --class."
        )
    if r.truncation is not None:
        raise UserError(
            f"--truncation applies to the latents of a generator, and {target} is a folder of images. "
            "Give a run folder or checkpoint, or leave out --truncation."
        )
    from gancli.data.source import load_images

    res = r.resolution or _first_image_size(target)
    # Channels: 3 (RGB). A grayscale folder decodes to equal R, G and B, which is exactly what
    # the Inception input gets for grayscale images (repeated channels), so nothing is lost.
    prepared = load_images(str(target), res, 3, root=str(r.root) if r.root else None)
    _tell_skipped(prepared, warn)
    images = prepared.images
    if r.n is not None:
        images = images[: r.n]
    return _Target("folder", images.shape[0], 3, res, images=images)


def _target_batches(
    target: _Target,
    r: ScoreRequest,
    dev: torch.device,
    reference_counts: object,
    warn: Callable[[str], None] = lambda text: None,
) -> tuple[Iterable[torch.Tensor], str | None]:
    """(the images to score, how a conditional generator's classes were drawn: "one class",
    "reference" (in `reference_counts`' mix: the reference's images per class) or "equal";
    None for anything else). A generator's images are drawn batch by batch as they are scored."""
    if target.generator is None:
        return target.images, None
    from gancli.sampling import generated_batches

    mix, counts = _class_mix(target, r, reference_counts, warn)
    batches = generated_batches(
        target.generator, target.n, r.seed, dev, r.batch_size, truncation=r.truncation,
        class_index=target.class_index, class_counts=counts,
    )  # fmt: skip
    return batches, mix


def _class_mix(
    target: _Target, r: ScoreRequest, counts: object, warn: Callable[[str], None]
) -> tuple[str | None, list[int] | None]:
    """A conditional generator scored over all its classes draws them as the reference's images
    are mixed, when the reference knows its classes and they are the run's: against real images
    whose classes are uneven, equal classes would be a different distribution, and its FID worse
    for that alone."""
    if not target.classes:
        return None, None
    if target.class_index is not None:
        return "one class", None
    from gancli.sampling import class_shares

    shares = class_shares(target.classes, counts)
    if shares is not None:
        return "reference", shares
    if isinstance(counts, dict) and counts and set(counts) != set(target.classes):
        why = f"its classes ({', '.join(sorted(map(str, counts)))}) are not the run's"
    else:
        why = "it has no class labels"
    warn(
        f"note: every class of the run is drawn equally often, not in the reference's mix: {why}. "
        f"If {r.ref}'s classes are uneven, give the class folder or labelled dataset the run was trained on as --ref."
    )
    return "equal", None


def _tell_skipped(prepared: Any, warn: Callable[[str], None], limit: int = 5) -> None:
    """The folder's notes and the files left out (too large, damaged, not images): a score
    silently computed on fewer images than the folder holds would be misread."""
    for note in prepared.warnings:
        warn(f"warning: {note}")
    skipped = prepared.skipped
    if skipped:
        listed = ", ".join(f"{name} ({why})" for name, why in skipped[:limit])
        more = f" and {len(skipped) - limit} more" if len(skipped) > limit else ""
        warn(f"{len(skipped)} files skipped: {listed}{more}")


def _first_image_size(folder: Path) -> int:
    from gancli.data.folder import image_side, scan_images

    entries = scan_images(folder)
    if not entries:
        raise UserError(
            f"No image files were found under {folder}. Give a folder of images, or a run folder/checkpoint."
        )
    return image_side(folder / entries[0][0])  # bounded: the header is untrusted


def _stats_file(ref: str) -> ReferenceStats | None:
    """The statistics in ``ref`` when it names a .npz file; None for a dataset or folder."""
    if not ref.endswith(".npz"):
        return None
    path = Path(ref).expanduser()
    if not path.is_file():
        raise UserError(f"Reference statistics file {ref} does not exist.")
    return load_reference(path)
