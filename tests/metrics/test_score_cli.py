"""`gan score` end to end on a few images: generator and folder targets, reference cache, .npz, JSON."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import typer
from PIL import Image
from typer.testing import CliRunner

from gancli.cli import score as score_cli
from gancli.errors import UserError
from gancli.metrics import reference as reference_mod
from gancli.metrics import scoring as scoring_mod

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    # A one-command app around score_command, independent of how gancli.cli.app registers it.
    app = typer.Typer()
    app.command()(score_cli.score_command)
    return app


def invoke(app, *args: str):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A run folder with an untrained quick-preset generator (64x64 RGB)."""
    from gancli.config import load_preset, to_dict
    from gancli.models.dcgan import build_discriminator, build_generator
    from gancli.training.checkpoint import save_checkpoint

    torch.manual_seed(0)
    cfg = load_preset("quick")
    generator = build_generator(cfg.model)
    run = tmp_path_factory.mktemp("run")
    payload = {
        "config": to_dict(cfg),
        "iteration": 0,
        "generator": generator.state_dict(),
        "discriminator": build_discriminator(cfg.model).state_dict(),
        "opt_g": torch.optim.Adam(generator.parameters()).state_dict(),
        "opt_d": torch.optim.Adam(build_discriminator(cfg.model).parameters()).state_dict(),
        "rng": {"torch": torch.get_rng_state()},
    }
    save_checkpoint(run, payload)
    return run


@pytest.fixture(scope="module")
def ref_folder(tmp_path_factory):
    """Ten 64x64 PNGs (the Inception Score needs at least its 10 splits)."""
    folder = tmp_path_factory.mktemp("ref")
    rng = np.random.default_rng(0)
    for i in range(10):
        pixels = (rng.random((64, 64, 3)) * 255).astype(np.uint8)
        Image.fromarray(pixels).save(folder / f"{i}.png")
    return folder


@pytest.fixture
def counted(monkeypatch):
    """Count the images that go through the Inception network."""
    seen = []
    original = scoring_mod.extract_features

    def wrapper(images, *args, **kwargs):  # a tensor, or batches (generated images are streamed)
        features = original(images, *args, **kwargs)
        seen.append(len(features))
        return features

    monkeypatch.setattr(scoring_mod, "extract_features", wrapper)
    monkeypatch.setattr(reference_mod, "extract_features", wrapper)  # the reference's features
    return seen


def test_generator_against_a_folder_as_json_then_from_cache(
    app, run_dir, ref_folder, weights_file, counted, tmp_path
):
    args = [
        run_dir,
        "--ref",
        ref_folder,
        "-n",
        10,
        "--batch-size",
        10,
        "--kid-subset-size",
        4,
        "--kid-subsets",
        3,
        "--weights",
        weights_file,
        "--device",
        "cpu",
        "--root",
        tmp_path,
        "--json",
    ]
    first = invoke(app, *args)
    assert first.exit_code == 0, first.output
    report = json.loads(first.stdout)
    assert set(report["metrics"]) == {"fid", "kid", "is", "precision", "recall"}
    assert report["n"] == 10 and report["n_ref"] == 10 and report["target_kind"] == "generator"
    assert report["resize"] == "tf" and report["resolution"] == 64
    assert report["metrics"]["kid"]["std"] is not None and report["metrics"]["fid"]["std"] is None
    assert "rank-deficient" in first.stderr  # 10 images < 2048 dimensions
    assert counted == [10, 10]  # reference, then generated
    # Second run: the reference statistics (with features, for KID/PR) come from the cache.
    second = invoke(app, *args)
    assert second.exit_code == 0, second.output
    assert counted == [10, 10, 10]
    assert json.loads(second.stdout)["metrics"] == report["metrics"]
    assert len(list((tmp_path / "stats").glob("*.npz"))) == 1


def test_folder_target_table_and_export(app, ref_folder, weights_file, tmp_path):
    exported = tmp_path / "ref-stats.npz"
    result = invoke(
        app,
        ref_folder,
        "--ref",
        ref_folder,
        "--metrics",
        "fid,is",
        "--weights",
        weights_file,
        "--device",
        "cpu",
        "--root",
        tmp_path,
        "--export-ref",
        exported,
        "--resize",
        "pytorch-fid",
    )
    assert result.exit_code == 0, result.output
    assert "FID" in result.stdout and "Inception Score" in result.stdout
    assert "resize pytorch-fid" in result.stdout
    with np.load(exported) as data:
        assert sorted(data.files) == ["mu", "sigma"] and data["mu"].shape == (2048,)
    # The same set against its exported statistics: FID ~ 0, KID/PR skipped by default.
    again = invoke(
        app,
        ref_folder,
        "--ref",
        exported,
        "--weights",
        weights_file,
        "--device",
        "cpu",
        "--root",
        tmp_path,
        "--resize",
        "pytorch-fid",
        "--json",
    )
    assert again.exit_code == 0, again.output
    report = json.loads(again.stdout)
    assert set(report["metrics"]) == {"fid", "is"}
    assert abs(report["metrics"]["fid"]["value"]) < 1e-6
    assert "KID and precision/recall are skipped" in again.stderr
    # Asked for explicitly, KID against mu/sigma only is an error that says what is missing.
    bad = invoke(
        app,
        ref_folder,
        "--ref",
        exported,
        "--metrics",
        "kid",
        "--weights",
        weights_file,
        "--device",
        "cpu",
        "--root",
        tmp_path,
    )
    assert isinstance(bad.exception, UserError)
    assert "(mu, sigma)" in str(bad.exception)


def test_without_weights_says_how_to_get_them(app, ref_folder, tmp_path, monkeypatch):
    monkeypatch.delenv("GAN_INCEPTION_WEIGHTS", raising=False)
    result = invoke(app, ref_folder, "--ref", ref_folder, "--root", tmp_path, "--device", "cpu")
    assert isinstance(result.exception, UserError)
    assert "gan download inception" in str(result.exception)


def test_bad_options(app, ref_folder, weights_file, tmp_path):
    result = invoke(app, ref_folder, "--ref", ref_folder, "--resize", "bicubic", "--weights", weights_file)
    assert isinstance(result.exception, UserError) and "--resize bicubic" in str(result.exception)
    result = invoke(app, ref_folder, "--ref", ref_folder, "--metrics", "fid,lpips", "--weights", weights_file)
    assert isinstance(result.exception, UserError) and "lpips" in str(result.exception)
    result = invoke(
        app, tmp_path / "missing", "--ref", ref_folder, "--weights", weights_file, "--root", tmp_path
    )
    assert isinstance(result.exception, UserError) and "does not exist" in str(result.exception)


def test_best_scores_the_runs_best_checkpoint(app, run_dir, ref_folder, weights_file, tmp_path):
    from gancli.training.checkpoint import load_checkpoint, save_best

    args = [run_dir, "--ref", ref_folder, "-n", 10, "--batch-size", 10, "--metrics", "fid"]
    args += ["--weights", weights_file, "--device", "cpu", "--root", tmp_path, "--json"]
    missing = invoke(app, *args, "--best")
    assert isinstance(missing.exception, UserError) and "--score-every" in str(missing.exception)
    payload = load_checkpoint(run_dir / "checkpoints" / "last.pt")
    payload["generator"] = {
        k: v * 0.5 if v.is_floating_point() else v for k, v in payload["generator"].items()
    }
    save_best(run_dir, {k: v for k, v in payload.items() if k not in ("format", "version")})
    try:
        last = json.loads(invoke(app, *args).stdout)["metrics"]["fid"]["value"]
        best = invoke(app, *args, "--best")
        assert best.exit_code == 0, best.output
        assert json.loads(best.stdout)["metrics"]["fid"]["value"] != last
    finally:
        (run_dir / "checkpoints" / "best.pt").unlink()


def test_truncation_scores_other_images_and_is_reported(app, run_dir, ref_folder, weights_file, tmp_path):
    args = [run_dir, "--ref", ref_folder, "-n", 10, "--batch-size", 10, "--metrics", "fid"]
    args += ["--weights", weights_file, "--device", "cpu", "--root", tmp_path]
    plain = json.loads(invoke(app, *args, "--json").stdout)
    cut = invoke(app, *args, "--json", "--truncation", "0.5")
    assert cut.exit_code == 0, cut.output
    report = json.loads(cut.stdout)
    assert plain["truncation"] is None and report["truncation"] == 0.5
    assert report["metrics"]["fid"]["value"] != plain["metrics"]["fid"]["value"]
    table = invoke(app, *args, "--truncation", "0.5")
    assert table.exit_code == 0 and "truncation 0.5" in table.stdout
    folder = invoke(app, ref_folder, "--ref", ref_folder, "--weights", weights_file, "--truncation", "0.5")
    assert isinstance(folder.exception, UserError) and "folder of images" in str(folder.exception)


@pytest.fixture(scope="module")
def conditional_run(tmp_path_factory):
    """A quick-preset conditional run (classes dark, light), its class embeddings set apart."""
    from gancli.config import load_preset, to_dict
    from gancli.models.build import build_discriminator, build_generator
    from gancli.training.checkpoint import save_checkpoint

    data = to_dict(load_preset("quick"))
    data["model"].update(conditional=True, classes=["dark", "light"])
    from gancli.config import from_dict

    cfg = from_dict(data)
    torch.manual_seed(0)
    generator, discriminator = build_generator(cfg.model), build_discriminator(cfg.model)
    with torch.no_grad():
        for name, p in generator.named_parameters():
            if name.endswith(("gain.weight", "bias.weight")):
                p.copy_(torch.tensor([[-0.9], [0.9]]).expand_as(p))
    run = tmp_path_factory.mktemp("cond-run")
    payload = {
        "config": data,
        "iteration": 0,
        "generator": generator.state_dict(),
        "discriminator": discriminator.state_dict(),
        "opt_g": torch.optim.Adam(generator.parameters()).state_dict(),
        "opt_d": torch.optim.Adam(discriminator.parameters()).state_dict(),
        "rng": {"torch": torch.get_rng_state()},
    }
    save_checkpoint(run, payload)
    return run


def test_class_scores_one_class_against_its_reference_images(
    app, conditional_run, weights_file, counted, tmp_path
):
    ref = tmp_path / "ref"
    for name, value, count in (("dark", 30, 4), ("light", 220, 6)):
        (ref / name).mkdir(parents=True)
        for i in range(count):
            Image.fromarray(np.full((64, 64, 3), value + i, np.uint8)).save(ref / name / f"{i}.png")
    args = [conditional_run, "--ref", ref, "-n", 6, "--batch-size", 6, "--metrics", "fid"]
    args += ["--weights", weights_file, "--device", "cpu", "--root", tmp_path, "--json"]
    reports = {}
    for which in ("dark", "1"):
        res = invoke(app, *args, "--class", which)
        assert res.exit_code == 0, res.output
        reports[which] = json.loads(res.stdout)
    assert reports["dark"]["class"] == "dark" and reports["dark"]["n_ref"] == 4
    assert reports["1"]["class"] == "light" and reports["1"]["n_ref"] == 6  # an index names the class
    assert reports["dark"]["metrics"] != reports["1"]["metrics"]
    assert counted == [4, 6, 6, 6]  # each class's reference images, then its generated ones
    bad = invoke(app, *args, "--class", "grey")
    assert isinstance(bad.exception, UserError) and "0 dark, 1 light" in str(bad.exception)
    folder = invoke(app, ref, "--ref", ref, "--weights", weights_file, "--class", "dark")
    assert isinstance(folder.exception, UserError) and "folder of images" in str(folder.exception)


def test_a_fastgan_run_is_scored_like_any_other(app, ref_folder, weights_file, tmp_path):
    """gan score reads a FastGAN-class run through the same loader (model.arch in its config)."""
    from gancli.config import load_preset, to_dict
    from gancli.models.build import build_discriminator, build_generator, trainable
    from gancli.training.checkpoint import save_checkpoint

    torch.manual_seed(0)
    cfg = load_preset("fast64")
    generator, discriminator = build_generator(cfg.model), build_discriminator(cfg.model)
    payload = {
        "config": to_dict(cfg),
        "iteration": 0,
        "generator": generator.state_dict(),
        "discriminator": discriminator.state_dict(),
        "opt_g": torch.optim.Adam(generator.parameters()).state_dict(),
        "opt_d": torch.optim.Adam(trainable(discriminator)).state_dict(),
        "rng": {"torch": torch.get_rng_state()},
    }
    save_checkpoint(tmp_path / "run", payload)
    args = [tmp_path / "run", "--ref", ref_folder, "-n", 10, "--batch-size", 10, "--metrics", "fid"]
    result = invoke(app, *args, "--weights", weights_file, "--device", "cpu", "--root", tmp_path, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (
        report["n"] == 10 and report["target_kind"] == "generator" and report["metrics"]["fid"]["value"] > 0
    )


def _uneven_class_folder(ref, counts=(("dark", 30, 2), ("light", 220, 8))):
    for name, value, count in counts:
        (ref / name).mkdir(parents=True)
        for i in range(count):
            Image.fromarray(np.full((64, 64, 3), value + i, np.uint8)).save(ref / name / f"{i}.png")
    return ref


@pytest.fixture
def drawn_labels(monkeypatch):
    """The class labels a conditional generator is asked for while it is scored."""
    from gancli import sampling

    seen = []
    real = sampling.generate_from_latents

    def spy(generator, z, device="cpu", batch_size=256, labels=None):
        seen.append(labels)
        return real(generator, z, device, batch_size, labels)

    monkeypatch.setattr(sampling, "generate_from_latents", spy)
    return seen


def test_overall_score_draws_classes_in_the_references_mix(
    app, conditional_run, weights_file, drawn_labels, tmp_path
):
    """Against real images whose classes are uneven (2 dark, 8 light), a conditional generator
    scored over all its classes draws them 1:4, as the reference holds them; an exported
    statistics file keeps the mix. Drawn equally (5:5) the FID would compare two mixes."""
    ref = _uneven_class_folder(tmp_path / "ref")
    args = [conditional_run, "-n", 10, "--batch-size", 4, "--metrics", "fid"]
    args += ["--weights", weights_file, "--device", "cpu", "--root", tmp_path]
    res = invoke(app, *args, "--ref", ref, "--json", "--export-ref", tmp_path / "ref.npz")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["class_mix"] == "reference"
    labels = torch.cat(drawn_labels)
    assert torch.bincount(labels, minlength=2).tolist() == [2, 8]
    assert [len(b) for b in drawn_labels] == [4, 4, 2] and drawn_labels[0].tolist() != [1, 1, 1, 1]
    drawn_labels.clear()
    table = invoke(app, *args, "--ref", tmp_path / "ref.npz")
    assert table.exit_code == 0, table.output
    assert "reference's mix" in table.stdout
    assert torch.bincount(torch.cat(drawn_labels), minlength=2).tolist() == [2, 8]


def test_overall_score_against_unlabelled_images_draws_classes_equally_and_says_so(
    app, conditional_run, weights_file, drawn_labels, tmp_path
):
    flat = tmp_path / "flat"
    flat.mkdir()
    for i in range(6):
        Image.fromarray(np.full((64, 64, 3), 40 * i, np.uint8)).save(flat / f"{i}.png")
    args = [conditional_run, "--ref", flat, "-n", 10, "--batch-size", 10, "--metrics", "fid"]
    res = invoke(app, *args, "--weights", weights_file, "--device", "cpu", "--root", tmp_path, "--json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["class_mix"] == "equal"
    assert "drawn equally often" in res.stderr and "it has no class labels" in res.stderr
    assert torch.bincount(torch.cat(drawn_labels)).tolist() == [5, 5]


def test_class_counts_read_from_a_statistics_file_are_checked():
    """A statistics file is untrusted: counts that are not whole, non-negative numbers are
    treated as no labels, and classes that are not the run's are named."""
    from gancli.metrics.scoring import ScoreRequest, _class_mix, _Target

    target = _Target("generator", 10, 3, 64, classes=["dark", "light"])
    request = ScoreRequest(target=Path("run"), ref="ref.npz")
    told = []
    assert _class_mix(target, request, {"dark": 1, "light": 3}, told.append) == ("reference", [1, 3])
    for bad in (
        {"dark": -1, "light": 3},
        {"dark": 1.5, "light": 3},
        {"dark": True, "light": 3},
        {"dark": 0, "light": 0},
        [1, 3],
        "x",
    ):
        assert _class_mix(target, request, bad, told.append) == ("equal", None)
        assert "no class labels" in told.pop()
    assert _class_mix(target, request, {"cat": 2, "dog": 3}, told.append) == ("equal", None)
    assert "(cat, dog) are not the run's" in told.pop()
