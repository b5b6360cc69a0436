"""Class labels from class subfolders, the built-in shapes and a downloaded dataset's label file:
kept in the prepared cache, shown by `gan data info`, and refused clearly when too few."""

import json

import numpy as np
import pytest
import torch
from data.test_cli_output import data_cli
from PIL import Image

from gancli.data import labels as labels_mod
from gancli.data.labels import folder_labels, require_classes
from gancli.data.prepared import prepare_array, prepare_folder, prepare_shapes
from gancli.errors import UserError


def make_folder(root, counts: dict[str, int], loose: int = 0):
    root.mkdir(parents=True, exist_ok=True)
    for name, n in counts.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            Image.new("RGB", (12, 12), (40 * i, 10, 200)).save(root / name / f"{i}.png")
    for i in range(loose):
        Image.new("RGB", (12, 12), (0, 0, 0)).save(root / f"loose{i}.png")
    return root


def test_folder_labels_take_the_first_folder_below_the_shared_one():
    labels, classes = folder_labels(["wrap/roses/a.jpg", "wrap/daisy/b.jpg", "wrap/roses/deep/c.jpg"])
    assert classes == ["daisy", "roses"] and labels.tolist() == [1, 0, 1]
    assert folder_labels(["a.jpg", "roses/b.jpg"]) == (None, [])  # an image beside the class folders
    assert folder_labels(["only/a.jpg", "only/b.jpg"]) == (None, [])  # one folder: no classes
    assert folder_labels([]) == (None, [])


def test_folder_labels_are_cached_and_survive_skipped_files(tmp_path):
    root = make_folder(tmp_path / "photos", {"tulips": 2, "daisy": 3})
    (root / "daisy" / "broken.png").write_bytes(b"not a png")
    first = prepare_folder(root, 8, 3, "resize", tmp_path / "cache", workers=1)
    assert first.classes == ["daisy", "tulips"]
    assert first.labels.tolist() == [0, 0, 0, 1, 1] and len(first.skipped) == 1
    again = prepare_folder(root, 8, 3, "resize", tmp_path / "cache", workers=1)
    assert again.from_cache and again.classes == first.classes
    assert torch.equal(again.labels, first.labels)
    saved = torch.load(first.cache_file, weights_only=True)
    assert saved["format"] == 2 and saved["classes"] == ["daisy", "tulips"]


def test_unlabelled_folder_and_bad_cache_labels(tmp_path):
    root = make_folder(tmp_path / "flat", {}, loose=3)
    prepared = prepare_folder(root, 8, 3, "resize", tmp_path / "cache", workers=1)
    assert prepared.labels is None and prepared.classes == []
    payload = torch.load(prepared.cache_file, weights_only=True)
    payload["labels"] = torch.tensor([0, 5, 0])  # out of range of no classes
    torch.save(payload, prepared.cache_file)
    rebuilt = prepare_folder(root, 8, 3, "resize", tmp_path / "cache", workers=1)
    assert not rebuilt.from_cache and "labels are malformed" in rebuilt.warnings[0]


def test_shapes_carry_their_kind(tmp_path):
    from gancli.data.builtin import shape_parameters

    prepared = prepare_shapes(30, 8, 3, tmp_path)
    assert prepared.classes == ["disc", "square", "triangle"]
    assert torch.equal(prepared.labels, shape_parameters(30)["kind"])
    assert torch.equal(prepare_shapes(30, 8, 3, tmp_path).labels, prepared.labels)


def test_array_labels_beside_images_npy(tmp_path):
    folder = tmp_path / "cifar10"
    folder.mkdir()
    np.save(folder / "images.npy", np.zeros((4, 6, 6, 3), np.uint8))
    unlabelled = prepare_array(folder / "images.npy", 6, 3, "resize", tmp_path / "cache", "cifar10")
    assert unlabelled.labels is None
    labels_mod.save_labels(folder, np.array([2, 0, 1, 2]), ["a", "b", "c"])
    labelled = prepare_array(folder / "images.npy", 6, 3, "resize", tmp_path / "cache", "cifar10")
    assert labelled.labels.tolist() == [2, 0, 1, 2] and labelled.classes == ["a", "b", "c"]
    (folder / "classes.json").write_text(json.dumps(["a"]))
    np.save(folder / "labels.npy", np.array([2, 0, 1, 2]))  # new mtime: a new cache key
    with pytest.raises(UserError, match="do not match its 4 images"):
        prepare_array(folder / "images.npy", 6, 3, "resize", tmp_path / "cache", "cifar10")


def test_require_classes_errors_name_the_fix():
    with pytest.raises(UserError, match="one subfolder per class.*ImageFolder"):
        require_classes(None, [], "/photos")
    with pytest.raises(UserError, match=r"at least 2 images.*roses \(1\)"):
        require_classes(torch.tensor([0, 0, 1]), ["daisy", "roses"], "/photos")
    require_classes(torch.tensor([0, 0, 1, 1]), ["daisy", "roses"], "/photos")


def test_data_info_shows_classes_and_counts(tmp_path):
    root = make_folder(tmp_path / "photos", {"tulips": 2, "daisy": 3})
    args = ["info", str(root), "--resolution", "8", "--root", str(tmp_path / "data")]
    result = data_cli(*args, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["classes"] == {"daisy": 3, "tulips": 2}
    result = data_cli(*args, columns=100)
    assert "daisy 3, tulips 2" in result.output
