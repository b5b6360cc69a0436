"""Image folders: every awkward file kind decodes or is skipped by name; the cache is reused and invalidated."""

import io

import numpy as np
import pytest
import torch
from PIL import Image

from gancli.data.folder import decode_image
from gancli.data.prepared import prepare_folder
from gancli.data.source import load_images
from gancli.errors import UserError


def save(img: Image.Image, path, **kw):
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, **kw)
    return path


@pytest.fixture
def zoo(tmp_path):
    """A folder with nested classes and every file kind the issue names."""
    root = tmp_path / "photos"
    red = Image.new("RGB", (40, 30), (255, 0, 0))
    save(red, root / "roses" / "red.jpg", quality=95)
    save(Image.new("RGB", (30, 40), (0, 0, 255)), root / "roses" / "deep" / "blue.png")
    save(Image.new("CMYK", (32, 32), (0, 255, 255, 0)), root / "tulips" / "cmyk.jpg")  # pure red in CMYK
    arr16 = np.full((20, 20), 65535, dtype=np.uint16)
    save(Image.fromarray(arr16), root / "tulips" / "white16.png")
    pal = Image.new("P", (16, 16), 0)
    pal.putpalette([0, 255, 0] * 256)
    save(pal, root / "daisy" / "green.gif")
    save(Image.new("RGBA", (16, 16), (0, 0, 0, 0)), root / "daisy" / "clear.png")  # fully transparent
    (root / "daisy" / "zero.jpg").write_bytes(b"")
    good = io.BytesIO()
    red.save(good, format="JPEG")
    (root / "daisy" / "cut.jpg").write_bytes(good.getvalue()[:200])  # truncated JPEG
    (root / "daisy" / "notes.txt").write_text("not an image, ignored by extension")
    (root / "daisy" / "fake.png").write_text("a text file with an image extension")
    return root


def test_folder_decodes_every_kind_and_lists_the_skipped(zoo, tmp_path):
    prepared = prepare_folder(zoo, 8, 3, "resize", tmp_path / "cache")
    assert prepared.images.shape == (6, 3, 8, 8) and prepared.images.dtype == torch.uint8
    skipped = sorted(f for f, _ in prepared.skipped)
    assert skipped == ["daisy/cut.jpg", "daisy/fake.png", "daisy/zero.jpg"]
    means = {tuple(int(v) for v in img.float().mean((1, 2)).round()) for img in prepared.images}
    assert (255, 0, 0) in means  # the JPEG (and the CMYK one) decode to red
    assert (0, 0, 255) in means
    assert (0, 255, 0) in means  # palette GIF
    assert (255, 255, 255) in means  # the 16-bit white PNG, and the transparent PNG composited on white


def test_grayscale_output_for_one_channel_presets(zoo, tmp_path):
    prepared = prepare_folder(zoo, 8, 1, "center-crop", tmp_path / "cache")
    assert prepared.images.shape == (6, 1, 8, 8)


def test_exif_orientation_is_applied(tmp_path):
    img = Image.new("RGB", (40, 20), (0, 0, 0))
    img.paste((255, 255, 255), (0, 0, 20, 20))  # left half white
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise when shown
    path = save(img, tmp_path / "rot.jpg", exif=exif.tobytes(), quality=95)
    arr = decode_image(path, 20, 1, "resize")[0].astype(float)
    assert arr[:5].mean() > 200 and arr[-5:].mean() < 50  # after rotation the white half is on top


def test_center_crop_keeps_the_middle(tmp_path):
    img = Image.new("RGB", (60, 20), (0, 0, 0))
    img.paste((255, 255, 255), (20, 0, 40, 20))
    path = save(img, tmp_path / "wide.png")
    assert decode_image(path, 10, 1, "center-crop").min() > 200  # edge pixels blend a little (bilinear)
    assert decode_image(path, 10, 1, "resize").min() < 5


def test_cache_is_reused_then_invalidated_when_a_file_is_added(zoo, tmp_path):
    cache = tmp_path / "cache"
    first = prepare_folder(zoo, 8, 3, "resize", cache)
    assert not first.from_cache
    again = prepare_folder(zoo, 8, 3, "resize", cache)
    assert again.from_cache and torch.equal(again.images, first.images)
    save(Image.new("RGB", (10, 10), (9, 9, 9)), zoo / "new" / "added.png")
    third = prepare_folder(zoo, 8, 3, "resize", cache)
    assert not third.from_cache and third.images.shape[0] == 7
    other_res = prepare_folder(zoo, 4, 3, "resize", cache)
    assert not other_res.from_cache and other_res.images.shape[-1] == 4


def test_corrupt_cache_is_rebuilt_with_a_warning(zoo, tmp_path):
    cache = tmp_path / "cache"
    first = prepare_folder(zoo, 8, 3, "resize", cache)
    first.cache_file.write_bytes(b"garbage")
    rebuilt = prepare_folder(zoo, 8, 3, "resize", cache)
    assert not rebuilt.from_cache and torch.equal(rebuilt.images, first.images)
    assert rebuilt.warnings and "rebuilt" in rebuilt.warnings[0]
    assert prepare_folder(zoo, 8, 3, "resize", cache).from_cache


def test_parallel_decoding_equals_serial(tmp_path):
    root = tmp_path / "many"
    rng = np.random.default_rng(0)
    for i in range(70):
        save(Image.fromarray(rng.integers(0, 255, (24, 32, 3), dtype=np.uint8)), root / f"{i:03d}.jpg")
    serial = prepare_folder(root, 8, 3, "resize", tmp_path / "c1", workers=1)
    parallel = prepare_folder(root, 8, 3, "resize", tmp_path / "c2", workers=2)
    assert torch.equal(serial.images, parallel.images)


def test_decompression_bomb_dimensions_are_skipped(tmp_path, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    root = tmp_path / "bomb"
    save(Image.new("RGB", (100, 100)), root / "big.png")
    save(Image.new("RGB", (10, 10)), root / "small.png")
    prepared = prepare_folder(root, 8, 3, "resize", tmp_path / "cache", workers=1)
    assert prepared.images.shape[0] == 1
    assert prepared.skipped[0][0] == "big.png" and "Decompression" in prepared.skipped[0][1]


def test_errors_name_the_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="No image files.*empty"):
        load_images(str(tmp_path / "empty"), 8, 3)
    with pytest.raises(UserError, match="neither a folder nor a known dataset"):
        load_images("no-such-dataset", 8, 3)


def test_builtin_shapes_is_deterministic():
    a = load_images("shapes", 16, 3, size=32).images
    b = load_images("shapes", 16, 3, size=32).images
    assert a.shape == (32, 3, 16, 16) and torch.equal(a, b)
    assert a.float().std() > 20  # not blank


def test_builtin_shapes_are_drawn_once_then_read_from_the_cache(isolated_home, monkeypatch):
    from gancli.data import builtin

    first = load_images("shapes", 16, 3, size=32)
    assert not first.from_cache and first.cache_file.parent == isolated_home / "prepared"
    monkeypatch.setattr(builtin, "shapes", lambda *a, **k: pytest.fail("drawn again"))
    again = load_images("shapes", 16, 3, size=32)
    assert again.from_cache and torch.equal(again.images, first.images)
    assert again.images.dtype == torch.uint8 and again.images.shape == (32, 3, 16, 16)


def test_an_unwritable_shapes_cache_is_a_note_not_an_error(tmp_path):
    (tmp_path / "prepared").write_text("a file where the cache folder goes")
    prepared = load_images("shapes", 16, 3, size=32, root=str(tmp_path))
    assert prepared.images.shape == (32, 3, 16, 16) and prepared.cache_file is None
    assert "not cached" in prepared.warnings[0]
