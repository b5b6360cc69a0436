"""extract_features: batching, one pass for pool and logits, input checks, progress."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gancli.errors import UserError
from gancli.metrics.features import Features, extract_features
from gancli.metrics.inception import load_inception

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def model(weights_file):
    return load_inception(weights_file)


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    torch.manual_seed(0)
    return torch.randint(0, 256, (5, 3, 24, 24), dtype=torch.uint8)


@pytest.fixture(scope="module")
def reference(model, images) -> Features:
    return extract_features(images, model, "tf", batch_size=5)


def test_shapes_and_dtypes(reference):
    assert reference.pool.shape == (5, 2048) and reference.pool.dtype == np.float64
    assert reference.logits.shape == (5, 1008) and reference.logits.dtype == np.float64
    assert (reference.resize, reference.image_size, reference.channels) == ("tf", (24, 24), 3)
    assert len(reference) == 5


def test_batching_does_not_change_the_result(model, images, reference):
    seen = []
    split = extract_features(
        [images[:2], images[2:3], images[3:]], model, "tf", progress=lambda *a: seen.append(a)
    )
    assert seen == [(2, None), (3, None), (5, None)]  # images done; the total of a list is not known
    # Different batch sizes may pick different convolution kernels: float32 rounding only.
    scale = np.abs(reference.pool).max()
    np.testing.assert_allclose(split.pool, reference.pool, rtol=1e-4, atol=1e-5 * scale)
    scale = np.abs(reference.logits).max()
    np.testing.assert_allclose(split.logits, reference.logits, rtol=1e-4, atol=1e-5 * scale)


def test_logits_come_from_the_same_pass(model, reference):
    weight = model.fc.weight.double().numpy()
    expected = reference.pool @ weight.T  # no fc bias: torch-fidelity's "logits_unbiased"
    np.testing.assert_allclose(reference.logits, expected, rtol=1e-4, atol=1e-5 * np.abs(expected).max())


def test_grayscale_set_equals_its_rgb_copy(model, images):
    gray = images[:2, :1]
    a = extract_features(gray, model, "tf")
    b = extract_features(gray.repeat(1, 3, 1, 1), model, "tf")
    np.testing.assert_array_equal(a.pool, b.pool)
    assert a.channels == 1 and b.channels == 3


def test_progress_is_a_callback_with_the_total_of_a_tensor(model, images):
    seen = []
    extract_features(images, model, "tf", batch_size=3, progress=lambda *a: seen.append(a))
    assert seen == [(3, 5), (5, 5)]


def test_bad_inputs(model, images):
    with pytest.raises(UserError, match="share a size"):
        extract_features([images[:1], torch.zeros(1, 3, 16, 16, dtype=torch.uint8)], model, "tf")
    with pytest.raises(UserError, match="empty"):
        extract_features([], model, "tf")
    with pytest.raises(UserError, match="uint8"):
        extract_features([images.float()], model, "tf")
    with pytest.raises(UserError, match="Unknown resize mode"):
        extract_features([images], model, "bilinear")


def test_features_are_computed_without_tf32(model, images):
    """On Ampere+ GPUs cuDNN defaults to TF32 convolutions; the features must not depend on it."""
    seen = []
    handle = model.register_forward_pre_hook(
        lambda module, args: seen.append(torch.backends.cudnn.allow_tf32)
    )
    try:
        extract_features(images[:2], model, "tf")
    finally:
        handle.remove()
    assert seen == [False] and torch.backends.cudnn.allow_tf32  # off inside, the default restored after
