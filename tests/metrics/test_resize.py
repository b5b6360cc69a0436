"""The three input pipelines against the code they reproduce (no network involved)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from gancli.errors import UserError
from gancli.metrics.resize import pil_bicubic_matrix, prepare, resize_pil_bicubic, resize_tf


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    torch.manual_seed(0)
    return torch.randint(0, 256, (3, 3, 32, 28), dtype=torch.uint8)


def test_tf_mode_is_bit_exact_with_torch_fidelity(images):
    from torch_fidelity.interpolate_compat_tensorflow import interpolate_bilinear_2d_like_tensorflow1x

    x = images.float()
    theirs = interpolate_bilinear_2d_like_tensorflow1x(x, size=(299, 299), align_corners=False)
    assert torch.equal(resize_tf(x), theirs)
    assert torch.equal(prepare(images, "tf"), (theirs - 128) / 128)


@pytest.mark.parametrize("size", [(8, 8), (64, 48), (400, 350)])
def test_tf_resize_up_and_down(size):
    from torch_fidelity.interpolate_compat_tensorflow import interpolate_bilinear_2d_like_tensorflow1x

    torch.manual_seed(1)
    x = torch.rand(1, 3, *size) * 255
    theirs = interpolate_bilinear_2d_like_tensorflow1x(x, size=(299, 299), align_corners=False)
    assert torch.equal(resize_tf(x), theirs)


def test_pytorch_fid_mode(images):
    x = images.float() / 255  # torchvision ToTensor on uint8
    expected = 2 * F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False) - 1
    assert torch.equal(prepare(images, "pytorch-fid"), expected)


def test_clean_mode_matches_pil_bicubic_on_float_channels(images):
    # clean-fid: Image.fromarray(channel.astype(float32), mode='F').resize(BICUBIC), clip 0..255,
    # then (x - 128) / 128 inside its Inception wrapper.
    out = prepare(images, "clean")
    for n in range(images.shape[0]):
        for c in range(3):
            channel = images[n, c].numpy().astype(np.float32)
            ref = np.asarray(Image.fromarray(channel, mode="F").resize((299, 299), Image.BICUBIC))
            ref = (np.clip(ref, 0, 255) - 128) / 128
            np.testing.assert_allclose(out[n, c].numpy(), ref, atol=1e-6, rtol=0)


def test_pil_bicubic_matrix_downsampling_and_identity():
    torch.manual_seed(2)
    x = torch.rand(1, 1, 600, 450) * 255
    ours = resize_pil_bicubic(x)
    ref = np.asarray(Image.fromarray(x[0, 0].numpy(), mode="F").resize((299, 299), Image.BICUBIC))
    np.testing.assert_allclose(ours[0, 0].numpy(), ref, atol=1e-3, rtol=0)
    assert torch.equal(pil_bicubic_matrix(7, 7), torch.eye(7, dtype=torch.float64))


def test_grayscale_is_repeated_to_rgb(images):
    gray = images[:, :1]
    for mode in ("tf", "pytorch-fid", "clean"):
        assert torch.equal(prepare(gray, mode), prepare(gray.repeat(1, 3, 1, 1), mode))


def test_bad_inputs():
    with pytest.raises(UserError, match="uint8"):
        prepare(torch.rand(1, 3, 8, 8))
    with pytest.raises(UserError, match="uint8"):
        prepare(torch.zeros(3, 8, 8, dtype=torch.uint8))
    with pytest.raises(UserError, match="4 channels"):
        prepare(torch.zeros(1, 4, 8, 8, dtype=torch.uint8))
    with pytest.raises(UserError, match="Unknown resize mode 'bicubic'"):
        prepare(torch.zeros(1, 3, 8, 8, dtype=torch.uint8), "bicubic")


def test_clean_resize_runs_on_the_cpu_for_a_device_without_float64(monkeypatch):
    """MPS has no float64: the PIL-exact resize goes to the CPU and comes back."""
    from gancli.metrics import resize as resize_mod

    x = torch.rand(1, 3, 20, 24) * 255
    expected = resize_mod.resize_pil_bicubic(x, 16)
    moves = []

    class FakeMps(torch.Tensor):  # reports an 'mps' device, records where it is sent
        @property
        def device(self):
            return torch.device("mps")

        def cpu(self):
            moves.append("cpu")
            return self.as_subclass(torch.Tensor).clone()

    real_to = torch.Tensor.to

    def to(self, *args, **kwargs):  # the result's way back to the (fake) device
        if args and args[0] == torch.device("mps"):
            moves.append("mps")
            return self
        return real_to(self, *args, **kwargs)

    monkeypatch.setattr(torch.Tensor, "to", to)
    out = resize_mod.resize_pil_bicubic(x.as_subclass(FakeMps), 16)
    assert moves == ["cpu", "mps"] and torch.equal(out, expected)
