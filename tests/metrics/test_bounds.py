"""Sizes that come from files given to `gan score` are bounded before anything is allocated:
an image header that claims a huge side, a decompression bomb, a .npz that declares a huge sigma."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
from conftest import run_cli
from faults.faultkit import png_with_header

from gancli.errors import UserError
from gancli.metrics.fid import load_stats_npz, save_stats_npz


@pytest.mark.parametrize(
    ("width", "height", "needles"),
    [
        (5_000, 5_000, ["declares 5000x5000 pixels", "Pass --resolution (at most 4096)"]),
        (12_000, 10_000, ["DecompressionBombWarning", "120000000 pixels", "pass --resolution"]),
        (60_000, 60_000, ["DecompressionBombError", "pass --resolution"]),  # 3.6 gigapixels in 100 bytes
    ],
)
def test_score_folder_does_not_trust_the_first_image_header(width, height, needles, tmp_path, weights_file):
    from faults.faultkit import assert_clean_error

    folder = tmp_path / "fakes"
    folder.mkdir()
    (folder / "a.png").write_bytes(png_with_header(width, height))
    res = run_cli("score", folder, "--ref", "shapes", "--weights", weights_file, "--metrics", "fid")
    assert_clean_error(res, str(folder / "a.png"), *needles, code=2)


def _npz_declaring(path, mu_shape, sigma_shape) -> None:
    """A .npz whose members' headers declare these shapes over a few bytes of (compressed) data."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, shape in (("mu", mu_shape), ("sigma", sigma_shape)):
            header = io.BytesIO()
            np.lib.format.write_array_header_1_0(
                header, {"descr": "<f8", "fortran_order": False, "shape": shape}
            )
            zf.writestr(f"{name}.npy", header.getvalue() + b"\0" * 4096)


def test_stats_npz_declaring_a_huge_sigma_is_refused_before_loading(tmp_path):
    path = tmp_path / "bomb.npz"
    _npz_declaring(path, (100_000,), (100_000, 100_000))  # 74.5 GiB of sigma, claimed
    assert path.stat().st_size < 2_000
    with pytest.raises(
        UserError, match=r"declares mu of shape \(100000,\) and sigma of shape \(100000, 100000\)"
    ):
        load_stats_npz(path)
    mismatched = tmp_path / "mismatched.npz"
    _npz_declaring(mismatched, (4,), (5, 5))
    with pytest.raises(UserError, match="D at most 16384"):
        load_stats_npz(mismatched)
    good = save_stats_npz(tmp_path / "good.npz", np.arange(3.0), np.eye(3))
    mu, sigma = load_stats_npz(good)  # real statistics still load
    assert mu.tolist() == [0.0, 1.0, 2.0] and sigma.shape == (3, 3)
