"""Our metrics against torch-fidelity 0.4.0 and pytorch-fid 0.3.0 on the same weights file and images.

One deterministic random-weights file in the published layout is loaded by all three networks
(no download). Features are computed once per module; each peer runs its own code path:
torch-fidelity's feature extractor, DataLoader loop and metric functions; pytorch-fid's
InceptionV3 wrapper (whose URL loader is pointed at the local file) and calculate_frechet_distance.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gancli.metrics.api import compute_metrics
from gancli.metrics.features import extract_features
from gancli.metrics.fid import fid_from_features
from gancli.metrics.inception import FIDInceptionV3, load_inception
from gancli.metrics.inception_score import inception_score
from gancli.metrics.kid import kid
from gancli.metrics.prdc import precision_recall

pytestmark = [
    pytest.mark.slow,
    # pytorch-fid 0.3.0 passes scipy's deprecated sqrtm(disp=False); not ours to fix.
    pytest.mark.filterwarnings("ignore:The `disp` argument:DeprecationWarning"),
]

RTOL = 1e-3  # the agreement bound, relative
KID_SUBSET = 12  # the sets have 24 images; torch-fidelity gets the same kid_subset_size
KID_SUBSETS = 100


def rel(a: float, b: float) -> float:
    return abs(a - b) / abs(b)


class _ImageDataset(torch.utils.data.Dataset):
    """torch-fidelity input: a Dataset of uint8 3 x H x W tensors."""

    def __init__(self, images: torch.Tensor) -> None:
        self.images = images

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.images[i]


@pytest.fixture(scope="module")
def ours(weights_file, image_sets):
    torch.manual_seed(0)
    fake, real = image_sets
    model = load_inception(weights_file)
    return {
        mode: (
            extract_features(fake, model, mode, batch_size=12),
            extract_features(real, model, mode, batch_size=12),
        )
        for mode in ("tf", "pytorch-fid")
    }


@pytest.fixture(scope="module")
def our_fid(ours) -> dict[str, float]:
    """Our FID per resize mode, by the exact low-rank route that N (24) < D (2048) allows."""
    return {mode: fid_from_features(*pair) for mode, pair in ours.items()}


TFID_KWARGS = dict(
    verbose=False,
    kid_subset_size=KID_SUBSET,
    kid_subsets=KID_SUBSETS,
    kid_kernel="poly",
    kid_kernel_poly_degree=3,
    kid_kernel_poly_gamma=None,
    kid_kernel_poly_coef0=1,
    rng_seed=2020,
    isc_splits=10,
    samples_shuffle=True,
    prc_neighborhood=3,
    prc_batch_size=10000,
    save_cpu_ram=True,
)


@pytest.fixture(scope="module")
def fidelity(weights_file, image_sets):
    """torch-fidelity: features of (fake, real) and its FID/KID/IS/PR, computed by its own functions."""
    from torch_fidelity.metric_fid import fid_featuresdict_to_statistics, fid_statistics_to_metric
    from torch_fidelity.metric_isc import isc_featuresdict_to_metric
    from torch_fidelity.metric_kid import kid_featuresdict_to_metric
    from torch_fidelity.metric_prc import prc_featuresdict_to_metric
    from torch_fidelity.utils import create_feature_extractor, get_featuresdict_from_dataset

    torch.manual_seed(0)
    fake, real = image_sets
    extractor = create_feature_extractor(
        "inception-v3-compat",
        ["2048", "logits_unbiased"],
        cuda=False,
        feature_extractor_weights_path=weights_file,
        **TFID_KWARGS,
    )
    # input1 = generated, input2 = real: torch-fidelity's convention (IS on input1).
    d1 = get_featuresdict_from_dataset(_ImageDataset(fake), extractor, 16, False, True, False)
    d2 = get_featuresdict_from_dataset(_ImageDataset(real), extractor, 16, False, True, False)
    stats1 = fid_featuresdict_to_statistics(d1, "2048")
    stats2 = fid_featuresdict_to_statistics(d2, "2048")
    metrics = {}
    metrics.update(fid_statistics_to_metric(stats1, stats2, False))
    metrics.update(kid_featuresdict_to_metric(d1, d2, "2048", **TFID_KWARGS))
    metrics.update(isc_featuresdict_to_metric(d1, "logits_unbiased", **TFID_KWARGS))
    metrics.update(prc_featuresdict_to_metric(d1, d2, "2048", **TFID_KWARGS))
    return d1, d2, metrics


@pytest.fixture(scope="module")
def pytorch_fid(weights_file, image_sets):
    """pytorch-fid: pool activations of (fake, real) from InceptionV3([3]) and its FID."""
    import pytorch_fid.inception as pfi
    from pytorch_fid.fid_score import calculate_frechet_distance

    torch.manual_seed(0)
    fake, real = image_sets
    mp = pytest.MonkeyPatch()
    # fid_inception_v3() loads by URL; serve our local file instead (the published one is the same layout).
    mp.setattr(pfi, "load_state_dict_from_url", lambda *a, **k: torch.load(weights_file, weights_only=True))
    try:
        net = pfi.InceptionV3([pfi.InceptionV3.BLOCK_INDEX_BY_DIM[2048]]).eval()
    finally:
        mp.undo()
    acts = []
    with torch.no_grad():
        for images in (fake, real):
            # What pytorch-fid's ToTensor() gives for uint8 images: float in [0, 1].
            batches = [net(b.float() / 255)[0].squeeze(3).squeeze(2) for b in images.split(16)]
            acts.append(torch.cat(batches).double().numpy())
    a1, a2 = acts
    fid = calculate_frechet_distance(
        a1.mean(axis=0), np.cov(a1, rowvar=False), a2.mean(axis=0), np.cov(a2, rowvar=False)
    )
    return a1, a2, float(fid)


def test_our_state_dict_matches_the_peer_file(weights_file):
    state = torch.load(weights_file, weights_only=True)
    ours = FIDInceptionV3().state_dict()
    assert list(ours) == list(state)
    assert all(ours[k].shape == state[k].shape for k in state)
    assert not any(k.endswith("num_batches_tracked") for k in ours)
    assert ours["fc.weight"].shape == (1008, 2048)


def test_pool_features_and_logits_match_torch_fidelity(ours, fidelity):
    d1, d2, _ = fidelity
    for mine, theirs in zip(ours["tf"], (d1, d2)):
        pool = theirs["2048"].double().numpy()
        logits = theirs["logits_unbiased"].double().numpy()
        # Only float32 rounding differs (we fold batch norms and use channels-last).
        assert np.abs(mine.pool - pool).max() <= 1e-4 * np.abs(pool).max()
        assert np.abs(mine.logits - logits).max() <= 1e-4 * np.abs(logits).max()


def test_pool_features_match_pytorch_fid(ours, pytorch_fid):
    a1, a2, _ = pytorch_fid
    for mine, theirs in zip(ours["pytorch-fid"], (a1, a2)):
        assert np.abs(mine.pool - theirs).max() <= 1e-4 * np.abs(theirs).max()


def test_fid_tf_matches_torch_fidelity(our_fid, fidelity):
    theirs = fidelity[2]["frechet_inception_distance"]
    mine = our_fid["tf"]
    print(f"FID tf: ours {mine:.6f} torch-fidelity {theirs:.6f} rel {rel(mine, theirs):.2e}")
    assert rel(mine, theirs) < RTOL


def test_kid_matches_torch_fidelity(ours, fidelity):
    metrics = fidelity[2]
    fake, real = ours["tf"]
    mean, std = kid(fake, real, KID_SUBSET, KID_SUBSETS)
    theirs_mean = metrics["kernel_inception_distance_mean"]
    theirs_std = metrics["kernel_inception_distance_std"]
    print(f"KID: ours {mean:.6g}±{std:.6g} torch-fidelity {theirs_mean:.6g}±{theirs_std:.6g}")
    assert theirs_mean > 0  # the sets differ; a clearly positive KID makes the comparison meaningful
    assert rel(mean, theirs_mean) < RTOL
    assert rel(std, theirs_std) < RTOL


def test_inception_score_matches_torch_fidelity(ours, fidelity):
    metrics = fidelity[2]
    mean, std = inception_score(ours["tf"][0])
    theirs_mean, theirs_std = metrics["inception_score_mean"], metrics["inception_score_std"]
    print(f"IS: ours {mean:.6f}±{std:.6f} torch-fidelity {theirs_mean:.6f}±{theirs_std:.6f}")
    assert theirs_mean > 1.5  # the random weights give logits that vary between images
    assert rel(mean, theirs_mean) < RTOL
    assert rel(std, theirs_std) < RTOL


def test_precision_recall_match_torch_fidelity(ours, fidelity):
    metrics = fidelity[2]
    fake, real = ours["tf"]
    precision, recall = precision_recall(real, fake)
    print(
        f"PR: ours {precision:.6f}/{recall:.6f} torch-fidelity {metrics['precision']:.6f}/{metrics['recall']:.6f}"
    )
    # Same counts; torch-fidelity takes the mean in float32, hence the 1e-6.
    assert precision == pytest.approx(metrics["precision"], abs=1e-6)
    assert recall == pytest.approx(metrics["recall"], abs=1e-6)


def test_fid_pytorch_fid_mode_matches_pytorch_fid(our_fid, pytorch_fid):
    theirs = pytorch_fid[2]
    mine = our_fid["pytorch-fid"]
    print(f"FID pytorch-fid: ours {mine:.6f} pytorch-fid {theirs:.6f} rel {rel(mine, theirs):.2e}")
    assert rel(mine, theirs) < RTOL


def test_the_resize_modes_are_distinguishable(our_fid, fidelity, pytorch_fid):
    # The comparisons above would be vacuous if the two conventions gave the same number.
    tf_fid = fidelity[2]["frechet_inception_distance"]
    pf_fid = pytorch_fid[2]
    print(f"FID torch-fidelity {tf_fid:.4f} vs pytorch-fid {pf_fid:.4f}: rel {rel(tf_fid, pf_fid):.3f}")
    assert rel(tf_fid, pf_fid) > 10 * RTOL
    assert rel(our_fid["tf"], pf_fid) > 10 * RTOL


def test_compute_metrics_facade_reports_the_same_numbers(ours, fidelity):
    # FID through the façade is checked on synthetic features (test_reference_api): each
    # 2048-d Fréchet distance costs seconds on these CPUs.
    fake, real = ours["tf"]
    result = compute_metrics(real, fake, {"kid", "is", "pr"}, KID_SUBSET, KID_SUBSETS)
    m = fidelity[2]
    assert rel(result["kid"]["value"], m["kernel_inception_distance_mean"]) < RTOL
    assert rel(result["kid"]["std"], m["kernel_inception_distance_std"]) < RTOL
    assert rel(result["is"]["value"], m["inception_score_mean"]) < RTOL
    assert rel(result["is"]["std"], m["inception_score_std"]) < RTOL
    assert result["precision"]["value"] == pytest.approx(m["precision"])
    assert result["recall"]["value"] == pytest.approx(m["recall"])
