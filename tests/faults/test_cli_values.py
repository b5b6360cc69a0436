"""Bad command-line values: negative, zero and absurd sizes, paths that do not exist or cannot be
written, devices that do not exist.

Promise: one paragraph naming the value and what to do, a non-zero exit, no traceback, and no
run folder, grid or cache half-made. (Tests run as root, so a chmod'ed folder would not stop
a write: unwritable places are paths under a regular file, or under /proc.)
"""

from __future__ import annotations

import pytest
from faults.faultkit import assert_clean_error, assert_usage_error, png_bytes


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A finished 3-iteration run to sample from."""
    import torch
    import yaml
    from conftest import run_cli, tiny_config_dict

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    folder = tmp_path_factory.mktemp("values")
    cfg = folder / "tiny.yaml"
    cfg.write_text(yaml.safe_dump(tiny_config_dict(iters=3)))
    with pytest.MonkeyPatch.context() as mp:  # module scope: before the per-test GAN_HOME exists
        mp.setenv("GAN_HOME", str(folder / "home"))
        res = run_cli("train", "--config", cfg, "--out", folder / "run")
    torch.set_num_threads(threads)
    assert res.code == 0, res.text
    return folder / "run"


@pytest.fixture
def afile(tmp_path):
    """A regular file: nothing can be created below it, not even by root."""
    path = tmp_path / "a-file"
    path.write_text("not a folder")
    return path


TRAIN_CASES = {
    "negative-iters": (["--iters", "-1"], ["'train.iters' is -1", "zero or more"]),
    "negative-epochs": (["--epochs", "-3"], ["'train.epochs' is -3"]),
    "zero-batch": (["--batch-size", "0"], ["'train.batch_size' is 0", "positive"]),
    "negative-batch": (["--batch-size", "-8"], ["'train.batch_size' is -8"]),
    "absurd-batch": (["--batch-size", str(10**9)], ["'train.batch_size' is 1000000000", "at most 65536"]),
    "batch-larger-than-dataset": (
        ["--batch-size", "100"],
        ["has 64 usable images, fewer than one batch of 100"],
    ),
    "nan-lr": (["--lr", "nan"], ["'train.lr_g' is nan"]),
    "infinite-lr": (["--lr", "inf"], ["'train.lr_g' is inf"]),
    "negative-lr": (["--lr", "-0.1"], ["'train.lr_g' is -0.1"]),
    "zero-log-every": (["--log-every", "0"], ["'train.log_every' is 0"]),
    "zero-sample-every": (["--sample-every", "0"], ["'train.sample_every' is 0"]),
    "negative-checkpoint-every": (["--checkpoint-every", "-5"], ["'train.checkpoint_every' is -5"]),
    "absurd-seed": (["--seed", str(10**30)], ["'train.seed' is 1000000000000000000000000000000"]),
    "unknown-device": (["--device", "tpu"], ["'train.device' is 'tpu'", "auto, cpu, cuda"]),
    "device-not-a-gpu-number": (["--device", "cuda:x"], ["'train.device' is 'cuda:x'"]),
    "absent-gpu": (["--device", "cuda:99"], ["--device cuda:99"]),
    "missing-data-folder": (["--data", "/no/such/folder"], ["/no/such/folder", "does not exist"]),
}


@pytest.mark.parametrize("case", sorted(TRAIN_CASES))
def test_bad_train_values_get_one_clear_message(case, tmp_path, write_config, cli):
    args, needles = TRAIN_CASES[case]
    run = tmp_path / "run"
    assert_clean_error(cli("train", "--config", write_config(), "--out", run, *args), *needles)
    assert not run.exists()


def test_train_paths_that_do_not_exist_or_cannot_be_written(tmp_path, afile, write_config, cli):
    cfg = write_config()
    assert_clean_error(
        cli("train", "--config", cfg, "--out", afile / "run"), f"--out {afile / 'run'}", f"{afile} is a file"
    )
    assert_clean_error(cli("train", "--config", cfg, "--out", afile), f"--out {afile} is a file")
    assert_clean_error(cli("train", "--config", cfg, "--out", "/proc/gan-run"), "Cannot write /proc/gan-run")
    assert_clean_error(cli("train", "--config", tmp_path / "none.yaml"), "none.yaml does not exist")
    assert_clean_error(cli("train", "--resume", tmp_path / "no-run"), "no-run does not exist")
    (tmp_path / "empty").mkdir()
    assert_clean_error(cli("train", "--resume", tmp_path / "empty"), "holds no checkpoint")
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(10):
        (photos / f"{i}.png").write_bytes(png_bytes(i))
    # the data root (where the prepared cache goes) under a file
    assert_clean_error(
        cli("train", "--config", cfg, "--data", photos, "--root", afile / "root", "--batch-size", "4"),
        f"Cannot write {afile / 'root'}",
    )
    assert_usage_error(cli("train", "--config", cfg, "--nproc", "0"), "Invalid value for '--nproc'")


SAMPLE_CASES = {
    "zero-n": (["-n", "0"], ["-n must be a positive number", "got 0"]),
    "negative-n": (["-n", "-3"], ["got -3"]),
    "absurd-n": (["-n", str(10**9)], ["at most 10,000", "got 1000000000"]),
    "one-step-walk": (["--interpolate", "1"], ["--interpolate needs at least 2 steps"]),
    "zero-rows": (["--interpolate", "4", "--rows", "0"], ["--rows at least 1"]),
    "absurd-walks": (["--interpolate", "10000", "--rows", "10000"], ["100,000,000 images"]),
    "unknown-device": (["--device", "tpu"], ["--device tpu is not a device gan knows"]),
    "absent-gpu": (["--device", "cuda:99"], ["--device cuda:99"]),
    "overflowing-seed": (
        ["--seed", "99999999999999999999"],
        ["--seed is 99999999999999999999", "4294967296"],
    ),
    "overflowing-walk-seed": (
        ["--interpolate", "3", "--seed", str(-(10**20))],
        ["--seed is -100000000000000000000"],
    ),
}


@pytest.mark.parametrize("case", sorted(SAMPLE_CASES))
def test_bad_sample_values_get_one_clear_message(case, tiny_run, tmp_path, cli):
    args, needles = SAMPLE_CASES[case]
    out = tmp_path / "grid.png"
    assert_clean_error(cli("sample", tiny_run, "--out", out, *args), *needles)
    assert not out.exists()


def test_sample_paths_that_do_not_exist_or_cannot_be_written(tiny_run, tmp_path, afile, cli):
    assert_clean_error(cli("sample", tmp_path / "no-run"), "no-run does not exist")
    assert_clean_error(
        cli("sample", tiny_run, "--out", afile / "grid.png"), f"Cannot write {afile / 'grid.png'}"
    )
    assert_clean_error(
        cli("sample", tiny_run, "--out", "/proc/gan-grid.png"), "Cannot write /proc/gan-grid.png"
    )
    assert_clean_error(
        cli("sample", tiny_run, "--out", tmp_path / "g.png", "--out-dir", afile / "each"),
        f"Cannot write {afile / 'each'}",
    )


def test_bad_data_and_download_values_get_one_clear_message(tmp_path, afile, cli):
    assert_clean_error(
        cli("data", "info", "shapes", "--resolution", "0"), "--resolution must be between 1 and 4096 (got 0)"
    )
    assert_clean_error(cli("data", "info", "shapes", "--resolution", str(10**9)), "(got 1000000000)")
    assert_clean_error(cli("data", "info", "shapes", "--channels", "2"), "--channels must be 1 or 3 (got 2)")
    assert_clean_error(cli("data", "info", "shapes", "-n", "0"), "-n must be positive (got 0)")
    assert_clean_error(cli("data", "info", tmp_path / "nothing"), "does not exist")
    assert_clean_error(
        cli("download", "http://127.0.0.1:9/x.tgz", "--name", "../evil", "--root", tmp_path),
        "Invalid dataset name '../evil'",
    )
    assert_clean_error(
        cli("download", "http://127.0.0.1:9/x.tgz", "--name", "x", "--root", afile / "root"), f"{afile}"
    )
    assert_clean_error(
        cli("download", "ftp://example.org/x.tgz", "--name", "x", "--root", tmp_path),
        "is not an http(s) address",
    )
    assert_usage_error(cli("download", "flowers", "--timeout", "0"), "--timeout")


# Sizes from a config: each is bounded before anything is built or allocated, naming the limit.
SIZE_CASES = {
    "resolution": ("model: {resolution: 100000}\n", "'model.resolution' is 100000; at most 4096"),
    "project-size": (
        "model: {generator: [{op: project, out: 8, size: 100000}]}\n",
        "'model.generator[0].size' is 100000",
        "at most 4096",
    ),
    "project-activation": (
        "model: {generator: [{op: project, out: 512, size: 4096}, {op: tanh}]}\n",
        "'model.generator[0]' (project) makes 512x4096x4096 = 8,589,934,592 values per image",
        "at most 67,108,864",
    ),
    "parameters": (
        "model: {discriminator: [{op: linear, out: 60000}, {op: linear, out: 1}]}\n",
        "'model.discriminator' has 737,340,000 parameters",
        "at most 268,435,456",
    ),
    "yaml-int-digits": ("train: {iters: 1" + "0" * 5000 + "}\n", "holds a number too long", "5001 digits"),
}


@pytest.mark.parametrize("case", sorted(SIZE_CASES))
def test_sizes_from_a_config_are_bounded(case, tmp_path, cli):
    text, *needles = SIZE_CASES[case]
    path = tmp_path / f"{case}.yaml"
    path.write_text("preset: quick\n" + text)
    assert_clean_error(cli("train", "--config", path, "--out", tmp_path / "run"), *needles, code=2)
    assert not (tmp_path / "run").exists()


def test_data_preparation_estimates_memory_before_allocating(cli):
    flat = assert_clean_error(cli("data", "info", "shapes", "--resolution", "4096"), code=2)
    assert "Drawing 4,096 built-in shapes at 4096x4096 would need about 3,072.0 GiB" in flat
    assert "half of this machine's memory" in flat and "smaller --resolution" in flat


def test_os_errors_name_the_path_and_the_errno(tmp_path, write_config, cli):
    """ENAMETOOLONG, ELOOP and an unknown ~user reach the top as one paragraph, not a traceback."""
    cfg = write_config()
    long = tmp_path / ("n" * 300)
    too_long = ["File name too long (ENAMETOOLONG)", "choose a shorter path"]
    assert_clean_error(cli("train", "--config", cfg, "--out", long / "x"), str(long), *too_long, code=2)
    assert_clean_error(
        cli("train", "--config", cfg, "--data", long, "--out", tmp_path / "r"), str(long), *too_long
    )
    assert_clean_error(cli("sample", long, "--out", tmp_path / "g.png"), str(long), *too_long, code=2)
    (tmp_path / "selfloop").symlink_to(tmp_path / "selfloop")
    loop = tmp_path / "selfloop" / "x"
    assert_clean_error(
        cli("train", "--config", cfg, "--out", loop), str(loop), "(ELOOP)", "symbolic link", code=2
    )
    unknown = ["~nosuchuser/x: there is no user 'nosuchuser' on this system", "Give the path in full"]
    assert_clean_error(cli("data", "info", "~nosuchuser/x"), *unknown, code=2)
    assert_clean_error(
        cli("train", "--config", cfg, "--data", "~nosuchuser/x", "--out", tmp_path / "r"), *unknown
    )
    assert_clean_error(cli("data", "info", "shapes", "--root", "~nosuchuser/x"), *unknown, code=2)
    assert not (tmp_path / "r").exists()
