"""Every command on a FastGAN-class run, as a user runs them: train (with --time), resume,
sample, export (ONNX, TorchScript), presets and the dry run."""

import json

import pytest
import torch
import yaml
from conftest import run_cli, tiny_fast_config_dict
from PIL import Image

from gancli.sampling import latents, load_generator


@pytest.fixture(scope="module", params=["fastgan", "projected"])
def run(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp(request.param)
    config = folder / "tiny.yaml"
    config.write_text(
        yaml.safe_dump(tiny_fast_config_dict(request.param, iters=3, augment="translation", ema_half_life=32))
    )
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GAN_HOME", str(folder / "home"))
        res = run_cli("train", "--config", config, "--out", folder / "run")
        assert res.code == 0, res.text
        res = run_cli("train", "--resume", folder / "run", "--iters", "4")
        assert res.code == 0, res.text
    return folder / "run"


def test_sample_draws_the_arch_images(run, tmp_path):
    out = tmp_path / "grid.png"
    res = run_cli("sample", run, "-n", "4", "--out", out)
    assert res.code == 0, res.text
    with Image.open(out) as grid:
        assert grid.size == (2 * 34 + 2, 2 * 34 + 2)  # 2x2 tiles of 32 px
    generator, cfg = load_generator(run)
    assert cfg.model.arch in ("fastgan", "projected") and type(generator).__name__ == "FastGenerator"


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_export_matches_pytorch(run, tmp_path, fmt):
    if fmt == "onnx":
        pytest.importorskip("onnxruntime")
    out = tmp_path / ("g.onnx" if fmt == "onnx" else "g.pt")
    res = run_cli("export", run, "--format", fmt, "--out", out)
    assert res.code == 0, res.text
    generator, _ = load_generator(run)
    z = latents(3, 8, seed=1)
    with torch.no_grad():
        want = generator(z)
    if fmt == "onnx":
        import onnxruntime as ort

        got = torch.from_numpy(ort.InferenceSession(str(out)).run(None, {"latent": z.numpy()})[0])
    else:
        got = torch.jit.load(str(out))(z)
    assert (got - want).abs().max() < 1e-4


def test_time_budget_run_finishes_with_its_pictures(tmp_path):
    config = tmp_path / "t.yaml"
    data = tiny_fast_config_dict("fastgan", iters=0)
    config.write_text(yaml.safe_dump(data))
    res = run_cli("train", "--config", config, "--time", "1s", "--out", tmp_path / "run")
    assert res.code == 0, res.text
    assert "time budget of 1s spent" in res.out
    assert (tmp_path / "run" / "checkpoints" / "last.pt").is_file() and (
        tmp_path / "run" / "curves.png"
    ).is_file()
    saved = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert saved["train"]["time"] == 1.0
    again = run_cli("train", "--resume", tmp_path / "run")
    assert again.code == 0 and "already spent its time budget" in " ".join(again.out.split())


def test_presets_json_and_dry_run_know_the_arch(tmp_path):
    res = run_cli("presets", "fast64", "--json")
    assert res.code == 0, res.text
    detail = json.loads(res.out)
    assert detail["config"]["model"]["arch"] == "fastgan"
    assert detail["generator"][0]["op"].startswith("init") and detail["generator_params"] > 0
    config = tmp_path / "t.yaml"
    config.write_text(yaml.safe_dump(tiny_fast_config_dict("projected", iters=0)))
    res = run_cli("train", "--config", config, "--time", "2m", "--dry-run")
    assert res.code == 0, res.text
    assert "steps fit in 2m00s" in res.out and not (tmp_path / "runs").exists()
