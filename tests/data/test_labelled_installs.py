"""mnist, fashion-mnist and flowers102 installed with their publishers' label files, served by a
local HTTP server in the publishers' layouts: the labels are saved beside the images, `gan data
info` shows the classes and their counts, `gan train --conditional` trains on them, and label
files that do not fit the images install nothing."""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import tarfile
from dataclasses import replace

import numpy as np
import pytest
import torch
import yaml
from conftest import run_cli, tiny_config_dict
from data.test_download import FAST, jpeg, make_idx
from data.test_label_files import MI_UINT8, idx1, mat_file, matrix
from faults.faultkit import Served, http_server, sha256

from gancli.data import registry
from gancli.data.download import install_dataset
from gancli.data.labels import CLASSES_JSON, LABELLED_FILES_JSON, LABELS_NPY
from gancli.errors import UserError


@contextlib.contextmanager
def served(monkeypatch, name: str, blobs: dict[str, bytes], images: int):
    """Registry entry `name` as it is (file names, roles, classes), its files the test's bytes
    served on 127.0.0.1 and vouched for by their own size and sha256."""
    real = registry.DATASETS[name]
    with http_server({"/" + f.filename: Served(blobs[f.filename]) for f in real.files}) as base:
        files = tuple(
            replace(
                f,
                url=f"{base}/{f.filename}",
                mirrors=(),
                size=len(blobs[f.filename]),
                sha256=sha256(blobs[f.filename]),
            )
            for f in real.files
        )
        monkeypatch.setitem(registry.DATASETS, name, replace(real, files=files, images=images))
        yield


def digit_files(labels: list[int], images: int | None = None) -> dict[str, bytes]:
    """MNIST's layout: gzipped IDX files of training images, their labels, and test images."""
    rng = np.random.default_rng(0)
    return {
        "train-images-idx3-ubyte.gz": make_idx(rng.integers(0, 256, (images or len(labels), 28, 28))),
        "train-labels-idx1-ubyte.gz": gzip.compress(idx1(labels)),
        "t10k-images-idx3-ubyte.gz": make_idx(rng.integers(0, 256, (3, 28, 28))),
    }


def flower_files(labels: list[int], images: int | None = None) -> dict[str, bytes]:
    """Oxford's layout: an uncompressed tar of jpg/image_NNNNN.jpg, and imagelabels.mat holding
    `labels` (1 x N, classes 1-102) compressed, stored as bytes as MATLAB does."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for i in range(1, (images or len(labels)) + 1):
            data = jpeg(i, size=8)
            info = tarfile.TarInfo(f"jpg/image_{i:05d}.jpg")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    mat = mat_file(matrix("labels", np.array([labels], dtype=float), stored=MI_UINT8), compressed=True)
    return {"102flowers.tgz": buf.getvalue(), "imagelabels.mat": mat}


# two images of every class: a conditional run refuses a class with fewer
TWO_EACH = {
    "mnist": (digit_files, [i % 10 for i in range(20)]),
    "fashion-mnist": (digit_files, [i % 10 for i in range(20)]),
    "flowers102": (flower_files, [i % 102 + 1 for i in range(204)]),
}


def install(monkeypatch, name: str, labels: list[int], images: int | None = None):
    make, _ = TWO_EACH[name]
    with served(monkeypatch, name, make(labels, images), images or len(labels)):
        return install_dataset(name, options=FAST)


@pytest.mark.parametrize("name", sorted(TWO_EACH))
def test_labels_are_installed_shown_and_trained_on(name, monkeypatch, tmp_path):
    _, labels = TWO_EACH[name]
    folder = install(monkeypatch, name, labels).folder
    classes = list(registry.DATASETS[name].classes)
    first = 1 if name == "flowers102" else 0  # MATLAB numbers the flowers' classes from 1
    assert np.load(folder / LABELS_NPY).tolist() == [label - first for label in labels]
    assert json.loads((folder / CLASSES_JSON).read_text()) == classes
    if name == "flowers102":
        listed = json.loads((folder / LABELLED_FILES_JSON).read_text())
        assert listed[:2] == ["jpg/image_00001.jpg", "jpg/image_00002.jpg"] and len(listed) == 204

    info = run_cli("data", "info", name, "--resolution", "8", "--json")
    assert info.code == 0, info.text
    assert json.loads(info.out)["classes"] == dict.fromkeys(classes, 2)

    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump({**tiny_config_dict(iters=2), "data": {"name": name}}))
    res = run_cli("train", "--config", config, "--conditional", "--out", tmp_path / "run")
    assert res.code == 0, res.text
    saved = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())["model"]
    assert saved["conditional"] is True and saved["classes"] == classes
    logged = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert logged[-1]["iteration"] == 2 and (tmp_path / "run" / "checkpoints" / "last.pt").is_file()


def test_data_info_names_the_classes_in_a_table(monkeypatch):
    install(monkeypatch, "fashion-mnist", TWO_EACH["fashion-mnist"][1])
    res = run_cli("data", "info", "fashion-mnist", "--resolution", "8")
    assert res.code == 0, res.text
    assert "T-shirt/top 2" in res.out and "Ankle boot 2" in res.out


def test_an_older_install_without_labels_says_how_to_get_them(monkeypatch, tmp_path):
    folder = install(monkeypatch, "mnist", TWO_EACH["mnist"][1]).folder
    (folder / LABELS_NPY).unlink()
    (folder / CLASSES_JSON).unlink()
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump({**tiny_config_dict(iters=2), "data": {"name": "mnist"}}))
    res = run_cli("train", "--config", config, "--conditional", "--out", tmp_path / "run")
    assert res.code == 2 and "gan download NAME --force" in res.err


@pytest.mark.parametrize(
    "name, labels, images, message",
    [
        (
            "mnist",
            [i % 10 for i in range(19)],
            20,
            "train-labels-idx1-ubyte.gz holds 19 labels for 20 images",
        ),
        (
            "fashion-mnist",
            [i % 11 for i in range(20)],
            None,
            "train-labels-idx1-ubyte.gz holds a label of 10",
        ),
        (
            "flowers102",
            [i % 102 + 1 for i in range(203)],
            204,
            "imagelabels.mat labels 203 images .* holds 204",
        ),
        ("flowers102", [i % 102 + 1 for i in range(205)], 204, "1 labelled image.* not in the archive"),
        ("flowers102", [0, *range(1, 204)], 204, "imagelabels.mat: 'labels' holds values other than .*1-102"),
    ],
)
def test_label_files_that_do_not_fit_install_nothing(name, labels, images, message, monkeypatch):
    with pytest.raises(UserError, match=message):
        install(monkeypatch, name, labels, images)
    assert registry.find_downloaded(name) is None
    assert not [p for p in registry.datasets_root().iterdir() if ".tmp" in p.name]


def test_a_flowers_folder_with_an_unlabelled_image_is_refused_by_name(monkeypatch):
    folder = install(monkeypatch, "flowers102", TWO_EACH["flowers102"][1]).folder
    (folder / "jpg" / "image_09999.jpg").write_bytes(jpeg(0, size=8))
    res = run_cli("data", "info", "flowers102", "--resolution", "8")
    assert res.code == 2 and "jpg/image_09999.jpg" in res.err and "--force" in res.err


def test_listed_labels_are_cached_and_rechecked_when_their_files_change(monkeypatch, tmp_path):
    from gancli.data.prepared import prepare_folder

    folder = install(monkeypatch, "flowers102", TWO_EACH["flowers102"][1]).folder
    first = prepare_folder(folder, 8, 3, "resize", tmp_path / "cache", workers=1)
    again = prepare_folder(folder, 8, 3, "resize", tmp_path / "cache", workers=1)
    assert again.from_cache and torch.equal(again.labels, first.labels) and again.classes == first.classes
    assert first.labels[:3].tolist() == [0, 1, 2] and len(first.classes) == 102
    (folder / LABELLED_FILES_JSON).write_text("{not json")  # a new mtime: a new cache key
    with pytest.raises(UserError, match=f"{LABELLED_FILES_JSON} cannot be read"):
        prepare_folder(folder, 8, 3, "resize", tmp_path / "cache", workers=1)
    (folder / LABELLED_FILES_JSON).write_text(json.dumps([f"jpg/image_{i:05d}.jpg" for i in range(1, 205)]))
    (folder / LABELS_NPY).unlink()
    with pytest.raises(UserError, match=f"has {LABELLED_FILES_JSON} but no {LABELS_NPY}"):
        prepare_folder(folder, 8, 3, "resize", tmp_path / "cache", workers=1)


def test_labelled_entries_name_their_classes():
    for name, count in (("mnist", 10), ("fashion-mnist", 10), ("flowers102", 102)):
        ds = registry.DATASETS[name]
        assert len(ds.classes) == len(set(ds.classes)) == count, name
        assert "labels" in "".join(f.role for f in ds.files), name
    assert registry.DATASETS["fashion-mnist"].classes[7] == "Sneaker"
    flowers = registry.DATASETS["flowers102"].classes
    assert (flowers[0], flowers[76], flowers[101]) == ("pink primrose", "passion flower", "blackberry lily")


def test_a_file_known_by_its_md5_is_verified_and_said_so(monkeypatch):
    """md5 is what torchvision publishes for these files: a registry file known only by it is
    checked against it, and the download line names md5, not sha256."""
    import hashlib

    from gancli.data.registry import DatasetInfo, RemoteFile

    blob = b"weights"
    with http_server({"/w.pth": Served(blob)}) as base:
        remote = RemoteFile("w.pth", f"{base}/w.pth", size=len(blob), md5=hashlib.md5(blob).hexdigest())
        entry = DatasetInfo("w", "file", (remote,), None, "-", None, "test")
        monkeypatch.setitem(registry.DATASETS, "w", entry)
        said: list[str] = []
        result = install_dataset("w", options=FAST, info=said.append)
        assert result.unverified == [] and any(f"md5 {remote.md5[:12]}..." in m for m in said)
        bad = replace(remote, md5="0" * 32)
        monkeypatch.setitem(registry.DATASETS, "w", replace(entry, files=(bad,)))
        with pytest.raises(UserError, match="Checksum mismatch.*expected md5 0000"):
            install_dataset("w", options=FAST, force=True)
