"""`gan export`: ONNX (checked with onnxruntime) and TorchScript files of a trained generator."""

import json
import sys

import pytest
import torch
from conftest import run_cli, trained_run

from gancli.export import ERF_LIMIT, erfinv, read_pt2_metadata, read_torchscript_metadata, truncate_map
from gancli.sampling import generate_from_latents, latents, load_generator
from gancli.training.checkpoint import load_checkpoint, save_checkpoint


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """One tiny trained run shared by the tests of this module (a few seconds to train)."""
    return trained_run(tmp_path_factory, "export", iters=3)


def test_onnx_export_matches_pytorch_with_a_free_batch_and_metadata(run, tmp_path):
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    out = tmp_path / "g.onnx"
    res = run_cli("export", run, "--out", out)
    assert res.code == 0, res.text
    assert "largest difference" in res.out
    model = onnx.load(str(out))
    meta = {p.key: p.value for p in model.metadata_props}
    assert (meta["latent_dim"], meta["resolution"], meta["channels"]) == ("8", "16", "3")
    assert meta["preset"] == "quick" and meta["gancli_version"]
    generator, _ = load_generator(run)
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    for n in (1, 7):  # neither is the batch of the export's example
        z = latents(n, 8, seed=n)
        got = session.run(None, {"latent": z.numpy()})[0]
        with torch.no_grad():
            want = generator(z).numpy()
        assert got.shape == (n, 3, 16, 16)
        assert abs(got - want).max() < 1e-4


def test_torchscript_uint8_export_gives_gan_samples_images(run, tmp_path):
    out = tmp_path / "g.pt"
    res = run_cli(
        "export",
        run / "checkpoints" / "last.pt",
        "--format",
        "torchscript",
        "--uint8",
        "--out",
        out,
        "--json",
    )
    assert res.code == 0, res.text
    report = json.loads(res.out)
    assert report["path"] == str(out) and report["max_diff"] <= 1
    loaded = torch.jit.load(str(out))
    generator, _ = load_generator(run)
    z = latents(6, 8, seed=3)
    got = loaded(z)
    want = generate_from_latents(generator, z)  # what `gan sample` saves
    assert got.dtype == torch.uint8 and got.shape == (6, 3, 16, 16)
    assert (got.int() - want.int()).abs().max() <= 1
    meta = read_torchscript_metadata(out)
    assert meta["latent_dim"] == "8" and "0..255" in meta["output"]


def test_default_out_is_in_the_run_and_nothing_is_overwritten(run):
    res = run_cli("export", run, "--format", "torchscript")
    assert res.code == 0, res.text
    out = run / "export" / "generator.torchscript.pt"
    before = out.read_bytes()
    res = run_cli("export", run, "--format", "torchscript", "--uint8")
    assert res.code != 0 and "--force" in res.err
    assert out.read_bytes() == before
    assert run_cli("export", run, "--format", "torchscript", "--uint8", "--force").code == 0
    assert out.read_bytes() != before


def test_best_needs_a_scored_run(run, tmp_path):
    res = run_cli("export", run, "--best", "--format", "torchscript", "--out", tmp_path / "g.pt")
    assert res.code == 2 and "best.pt" in res.err and not (tmp_path / "g.pt").exists()


def test_missing_onnx_packages_say_how_to_install_them(run, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # as if not installed
    res = run_cli("export", run, "--out", tmp_path / "g.onnx")
    assert res.code == 2 and 'pip install -e ".[export]"' in res.err and "onnxruntime" in res.err
    assert not (tmp_path / "g.onnx").exists()


def test_the_ema_weights_are_exported_when_the_checkpoint_has_them(run, tmp_path):
    payload = load_checkpoint(run / "checkpoints" / "last.pt")
    ema = {k: (v * 0.5 if v.is_floating_point() else v) for k, v in payload["generator"].items()}
    payload.pop("format"), payload.pop("version")
    ema_run = tmp_path / "ema"
    save_checkpoint(ema_run, {**payload, "generator_ema": ema})
    out = tmp_path / "g.pt"
    assert run_cli("export", ema_run, "--format", "torchscript", "--out", out).code == 0
    generator, _ = load_generator(run)
    generator.load_state_dict(ema)
    z = latents(4, 8, seed=0)
    with torch.no_grad():
        assert torch.allclose(torch.jit.load(str(out))(z), generator(z), atol=1e-5)


def test_pt2_export_matches_pytorch_with_a_free_batch_and_metadata(run, tmp_path):
    out = tmp_path / "g.pt2"
    res = run_cli("export", run, "--format", "pt2", "--out", out)
    assert res.code == 0, res.text
    assert "largest difference" in res.out and "deprecated" not in res.out
    assert read_pt2_metadata(out)["latent_dim"] == "8"
    program = torch.export.load(str(out)).module()
    generator, _ = load_generator(run)
    for n in (1, 7):  # neither is the batch of the export's example
        z = latents(n, 8, seed=n)
        with torch.no_grad():
            got, want = program(z), generator(z)
        assert got.shape == (n, 3, 16, 16)
        assert (got - want).abs().max() < 1e-5


def test_torchscript_export_notes_its_deprecation(run, tmp_path):
    res = run_cli("export", run, "--format", "torchscript", "--out", tmp_path / "g.pt")
    assert res.code == 0, res.text
    assert "TorchScript is deprecated" in res.out and "--format pt2" in res.out


def test_erfinv_from_plain_operations_matches_torch():
    x = torch.linspace(-ERF_LIMIT, ERF_LIMIT, 20_001)
    assert (erfinv(x).double() - torch.erfinv(x.double())).abs().max() < 2e-6


def test_truncate_map_gives_the_truncated_normal_of_gan_sample():
    z = torch.randn(200_000, generator=torch.Generator().manual_seed(0))
    mapped = truncate_map(z, 0.5)
    assert mapped.abs().max() <= 0.5
    assert (truncate_map(z.sort().values, 0.5).diff() >= 0).all()  # monotone: a latent's rank is kept
    redrawn = latents(2_000, 100, seed=1, truncation=0.5).flatten()  # gan sample's draws
    assert abs(mapped.std() - redrawn.std()) < 0.003  # both ~0.2836, the truncated normal's sd
    assert abs(mapped.abs().mean() - redrawn.abs().mean()) < 0.003


@pytest.mark.parametrize("fmt", ["pt2", "onnx"])
def test_truncation_is_baked_into_the_exported_model(run, tmp_path, fmt):
    if fmt == "onnx":
        pytest.importorskip("onnxruntime")
    out = tmp_path / f"g.{fmt}"
    res = run_cli("export", run, "--format", fmt, "--truncation", "0.5", "--out", out, "--json")
    assert res.code == 0, res.text
    meta = json.loads(res.out)["metadata"]
    assert meta["truncation"] == "0.5" and "truncated to [-0.5, 0.5]" in meta["input"]
    z = latents(6, 8, seed=3)
    if fmt == "pt2":
        got = torch.export.load(str(out)).module()(z).detach()
    else:
        import onnxruntime as ort

        session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
        got = torch.from_numpy(session.run(None, {"latent": z.numpy()})[0])
    generator, _ = load_generator(run)
    with torch.no_grad():
        truncated, plain = generator(truncate_map(z, 0.5)), generator(z)
    assert (got - truncated).abs().max() < 1e-4
    assert (got - plain).abs().max() > 1e-2  # it changes the pictures


def test_export_refuses_a_bad_truncation(run, tmp_path):
    res = run_cli("export", run, "--format", "pt2", "--truncation", "0", "--out", tmp_path / "g.pt2")
    assert res.code == 2 and "--truncation is 0" in res.err and not (tmp_path / "g.pt2").exists()
