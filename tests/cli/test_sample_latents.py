"""`gan sample --truncation`, `--numbered` and `--arithmetic` on a tiny trained run."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import run_cli, trained_run
from PIL import Image

from gancli.errors import UserError
from gancli.latent_arithmetic import NEIGHBOUR_SCALE, parse_arithmetic
from gancli.sampling import generate_from_latents, latents, load_generator


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """One tiny run trained for a few seconds, shared by the tests of this module."""
    return trained_run(tmp_path_factory, "sample", iters=12)


def test_without_truncation_the_latents_are_todays_bit_for_bit():
    today = torch.randn(36, 64, generator=torch.Generator().manual_seed(7))
    assert torch.equal(latents(36, 64, 7), today)
    assert torch.equal(latents(36, 64, 7, truncation=None), today)


def test_truncation_draws_again_only_the_entries_beyond_psi_and_a_seed_fixes_them():
    plain = latents(200, 64, 3)
    cut = latents(200, 64, 3, truncation=0.7)
    assert cut.abs().max() <= 0.7
    inside = plain.abs() <= 0.7
    assert torch.equal(cut[inside], plain[inside])  # kept as they were: the same images, made typical
    assert torch.equal(cut, latents(200, 64, 3, truncation=0.7))
    assert not torch.equal(cut, latents(200, 64, 4, truncation=0.7))


def _spread(images: torch.Tensor) -> tuple[float, float]:
    """(mean per-pixel variance across the samples, mean distance to the typical image)."""
    x = images.double() / 255
    typical = x.mean(dim=0)
    return float(x.var(dim=0).mean()), float((x - typical).flatten(1).norm(dim=1).mean())


def test_truncation_measurably_narrows_the_pictures(run, tmp_path):
    generator, _ = load_generator(run)
    plain = generate_from_latents(generator, latents(64, 8, 0))
    typical = plain.double().mean(dim=0)
    spreads = {}
    for psi in (None, 1.0, 0.5):
        out = tmp_path / f"{psi}.png"
        args = ["sample", run, "-n", 64, "--out", out, "--out-dir", tmp_path / f"each-{psi}"]
        res = run_cli(*args, *(["--truncation", psi] if psi else []))
        assert res.code == 0, res.text
        images = torch.stack(
            [
                torch.from_numpy(np.array(Image.open(f))).permute(2, 0, 1)
                for f in sorted((tmp_path / f"each-{psi}").iterdir())
            ]
        )
        if psi is None:  # no --truncation: exactly the images of today's latents
            assert torch.equal(images, plain)
        else:
            assert f"truncation {psi:g}" in res.out
        to_typical = float((images.double() - typical).flatten(1).norm(dim=1).mean())
        spreads[psi] = (*_spread(images), to_typical)
    for k in range(3):  # every statistic drops with psi: less variety, closer to the typical image
        assert spreads[None][k] > spreads[1.0][k] > spreads[0.5][k]
    assert spreads[0.5][0] < 0.7 * spreads[None][0]


def test_sample_names_the_run_checkpoint_and_iteration(run, tmp_path, monkeypatch):
    res = run_cli("sample", run, "-n", 4, "--out", tmp_path / "g.png")
    assert res.code == 0, res.text
    assert "last.pt" in res.out and "iteration 12" in res.out and "latest run" not in res.out
    monkeypatch.chdir(run.parent)
    (run.parent / "runs").mkdir()
    (run.parent / "runs" / "r").symlink_to(run)
    res = run_cli("sample", "-n", 4, "--out", tmp_path / "g2.png")
    assert res.code == 0, res.text
    assert "runs/r" in res.out and "iteration 12" in res.out and "the latest run under runs/" in res.out


def test_numbered_grid_draws_each_tiles_number_in_its_corner_only(run, tmp_path):
    assert run_cli("sample", run, "-n", 9, "--out", tmp_path / "plain.png").code == 0
    res = run_cli("sample", run, "-n", 9, "--numbered", "--out", tmp_path / "pick.png")
    assert res.code == 0, res.text
    plain = np.array(Image.open(tmp_path / "plain.png").convert("RGB")).astype(int)
    numbered = np.array(Image.open(tmp_path / "pick.png")).astype(int)
    assert plain.shape == numbered.shape == (3 * 18 + 2, 3 * 18 + 2, 3)
    for r in range(3):
        for c in range(3):
            y, x = 2 + 18 * r, 2 + 18 * c
            assert (numbered[y : y + 6, x : x + 4] != plain[y : y + 6, x : x + 4]).any()  # the label
            assert (
                numbered[y + 14 : y + 16, x + 12 : x + 16] == plain[y + 14 : y + 16, x + 12 : x + 16]
            ).all()


def test_arithmetic_averages_the_numbered_tiles_latents_and_adds_neighbours(run, tmp_path):
    args = [
        "sample",
        run,
        "--seed",
        7,
        "-n",
        12,
        "--arithmetic",
        "3,8 - 5,9,1 + 2",
        "--out",
        tmp_path / "r.png",
    ]
    res = run_cli(*args, "--out-dir", tmp_path / "each")
    assert res.code == 0, res.text
    files = sorted((tmp_path / "each").iterdir())
    assert len(files) == 3 + 1 + 4
    got = torch.stack([torch.from_numpy(np.array(Image.open(f))).permute(2, 0, 1) for f in files])
    z = latents(12, 8, 7)  # the latents of `gan sample --seed 7 -n 12 --numbered`
    a, b, c = z[[3, 8]].mean(0), z[[5, 9, 1]].mean(0), z[2]
    generator, _ = load_generator(run)
    want = generate_from_latents(generator, torch.stack([a, b, c, a - b + c]))
    assert torch.equal(got[:4], want)
    neighbours = got[4:].double()
    assert not torch.equal(got[4], got[5])  # offsets, not copies of the result
    assert (neighbours - want[3].double()).abs().mean() < (got[:3].double() - want[3].double()).abs().mean()
    assert NEIGHBOUR_SCALE < 1
    assert run_cli(*args[:-1], tmp_path / "r2.png").code == 0
    assert (tmp_path / "r.png").read_bytes() == (tmp_path / "r2.png").read_bytes()  # seeded


@pytest.mark.parametrize(
    ("expr", "named"),
    [
        ("3,8,12 -", "it ends where a tile number"),
        ("3,,8 - 1", "',' is there where a tile number"),
        ("3;8 - 1", "';' is there where a comma, + or -"),
        ("3 8 - 1", "'8' is there where a comma"),
        ("3 - x", "'x' is there where a tile number"),
        ("3 - - 4", "'-' is there where a tile number"),
        ("3 - 40", "tile 40 is beyond this grid of -n 36"),
        ("3,8", "has one group"),
        ("", "it ends where a tile number"),
    ],
)
def test_arithmetic_errors_name_the_bad_token_before_any_checkpoint_is_read(tmp_path, expr, named):
    res = run_cli(
        "sample", tmp_path / "no-such-run", "-n", 36, "--arithmetic", expr, "--out", tmp_path / "r.png"
    )
    assert res.code == 2 and named in res.err, res.err
    assert not (tmp_path / "r.png").exists()


def test_parsed_groups_keep_their_signs():
    groups = parse_arithmetic("-3,8 + 5 - 9,21", 36)
    assert [(g.sign, g.tiles) for g in groups] == [(-1, (3, 8)), (1, (5,)), (-1, (9, 21))]
    with pytest.raises(UserError, match="tile 36 is beyond"):
        parse_arithmetic("35 - 36", 36)


@pytest.mark.parametrize("psi", ["0", "-1", "nan", "1000"])
def test_bad_truncation_is_refused(run, tmp_path, psi):
    res = run_cli("sample", run, "--truncation", psi, "--out", tmp_path / "g.png")
    assert res.code == 2 and f"--truncation is {float(psi):g}"[:16] in res.err, res.err
    assert not (tmp_path / "g.png").exists()


def test_arithmetic_with_interpolate_is_refused(run, tmp_path):
    res = run_cli("sample", run, "--interpolate", 4, "--arithmetic", "1 - 2", "--out", tmp_path / "g.png")
    assert res.code == 2 and "--interpolate" in res.err
