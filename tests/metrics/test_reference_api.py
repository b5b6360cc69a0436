"""Reference statistics cache and the compute_metrics façade's input checks (synthetic features)."""

from __future__ import annotations

import numpy as np
import pytest

from gancli.errors import UserError
from gancli.metrics.api import compute_metrics, parse_metrics
from gancli.metrics.features import Features
from gancli.metrics.fid import frechet_distance, save_stats_npz, statistics
from gancli.metrics.reference import (
    ReferenceStats,
    cache_path,
    cached_reference,
    export_npz,
    import_npz,
    load_reference,
    save_reference,
    weights_id,
)


def _features(n: int, d: int = 16, seed: int = 0, shift: float = 0.0, **kw) -> Features:
    rng = np.random.default_rng(seed)
    return Features(
        pool=np.abs(rng.standard_normal((n, d))) + shift,
        logits=rng.standard_normal((n, 12)) * 3,
        resize=kw.get("resize", "tf"),
        image_size=kw.get("image_size", (32, 32)),
        channels=kw.get("channels", 3),
    )


def test_cache_path_depends_on_every_key_part(tmp_path):
    base = cache_path("cifar10:train", 32, "tf", "6726825d", tmp_path)
    assert base.parent == tmp_path / "stats"
    assert base.suffix == ".npz" and "cifar10" in base.name and "6726825d" in base.name
    others = {
        cache_path("cifar10:test", 32, "tf", "6726825d", tmp_path),
        cache_path("cifar10:train", 64, "tf", "6726825d", tmp_path),
        cache_path("cifar10:train", 32, "clean", "6726825d", tmp_path),
        cache_path("cifar10:train", 32, "tf", "deadbeef", tmp_path),
    }
    assert base not in others and len(others) == 4


def test_weights_id_is_the_sha256_prefix(tmp_path):
    import hashlib

    path = tmp_path / "w.pth"
    path.write_bytes(b"hello")
    assert weights_id(path) == hashlib.sha256(b"hello").hexdigest()[:8]


def test_save_and_load_keep_features_and_metadata(tmp_path):
    feats = _features(20)
    stats = ReferenceStats.from_features(feats, dataset="toy", resolution=32)
    path = save_reference(stats, tmp_path / "ref.npz")
    back = load_reference(path)
    np.testing.assert_array_equal(back.mu, stats.mu)
    np.testing.assert_array_equal(back.sigma, stats.sigma)
    np.testing.assert_allclose(back.pool, feats.pool.astype(np.float32))
    assert back.meta["dataset"] == "toy" and back.meta["n"] == 20 and back.n == 20
    assert back.meta["resize"] == "tf" and back.meta["image_size"] == [32, 32]


def test_export_and_import_pytorch_fid_layout(tmp_path):
    stats = ReferenceStats.from_features(_features(20))
    path = export_npz(stats, tmp_path / "exported.npz")
    with np.load(path, allow_pickle=False) as data:
        assert sorted(data.files) == ["mu", "sigma"]
    imported = import_npz(path)
    assert imported.pool is None and imported.n is None
    assert imported.meta["source"] == str(path)
    # A file as pytorch-fid writes it (np.savez(path, mu=..., sigma=...)) imports the same way.
    np.savez(tmp_path / "pfid.npz", mu=stats.mu, sigma=stats.sigma)
    np.testing.assert_array_equal(import_npz(tmp_path / "pfid.npz").sigma, stats.sigma)


def test_cached_reference_computes_once(tmp_path):
    calls = []

    def compute():
        calls.append(1)
        return _features(20)

    first = cached_reference("toy", 32, "tf", "abcd1234", compute, root=tmp_path)
    second = cached_reference("toy", 32, "tf", "abcd1234", compute, root=tmp_path)
    assert len(calls) == 1
    np.testing.assert_array_equal(first.mu, second.mu)
    assert second.pool is not None
    cached_reference("toy", 32, "clean", "abcd1234", compute, root=tmp_path)
    assert len(calls) == 2
    assert not [p for p in (tmp_path / "stats").iterdir() if p.suffix != ".npz"]


def test_compute_metrics_with_features_and_stats_only(tmp_path):
    # 12 generated images < 16 feature dimensions: a rank-deficient covariance, hence the warning.
    real, fake = _features(40, seed=1), _features(12, seed=2, shift=0.2)
    with pytest.warns(UserWarning, match="FID from 12 images .< 16 feature dimensions.*rank-deficient"):
        out = compute_metrics(real, fake, "fid,kid,is,pr", kid_subset_size=10, kid_subsets=5)
    assert set(out) == {"fid", "kid", "is", "precision", "recall"}
    assert out["fid"]["value"] == pytest.approx(
        frechet_distance(*statistics(fake.pool), *statistics(real.pool)), rel=1e-12
    )
    assert out["kid"]["std"] is not None and out["fid"]["std"] is None
    stats_only = import_npz(save_stats_npz(tmp_path / "s.npz", *statistics(real.pool)))
    with pytest.warns(UserWarning):
        only_fid = compute_metrics(stats_only, fake, {"fid", "is"})
    assert only_fid["fid"]["value"] == pytest.approx(out["fid"]["value"], rel=1e-12)


def test_stats_only_reference_cannot_give_kid_or_pr(tmp_path):
    real, fake = _features(40, seed=1), _features(30, seed=2)
    stats_only = import_npz(save_stats_npz(tmp_path / "s.npz", *statistics(real.pool)))
    with pytest.raises(
        UserError, match=r"KID and PR need the reference set's Inception features.*s\.npz.*\(mu, sigma\)"
    ):
        compute_metrics(stats_only, fake, {"kid", "pr"})


def test_input_validation():
    real = _features(40, seed=1)
    with pytest.raises(UserError, match="at least 2 generated images"):
        compute_metrics(real, _features(1), {"fid"})
    with pytest.raises(UserError, match="Feature dimensions differ: generated 8, reference 16"):
        compute_metrics(real, _features(10, d=8), {"fid"})
    with pytest.raises(UserError, match="resize mode: tf vs clean"):
        compute_metrics(real, _features(10, resize="clean"), {"fid"})
    with pytest.raises(UserError, match="image size"):
        compute_metrics(real, _features(10, image_size=(64, 64)), {"fid"})
    with pytest.raises(UserError, match="channel count: 3 vs 1"):
        compute_metrics(real, _features(10, channels=1), {"fid"})
    with pytest.raises(UserError, match="--kid-subset-size"):
        compute_metrics(real, _features(10), {"kid"}, kid_subset_size=20)
    with pytest.raises(UserError, match="Unknown metric"):
        parse_metrics("fid,lpips")
    assert parse_metrics(" FID, is ") == {"fid", "is"}


def test_large_n_does_not_warn(recwarn):
    real, fake = _features(40, d=4, seed=1), _features(30, d=4, seed=2)
    compute_metrics(real, fake, {"fid"})
    assert not [w for w in recwarn if "rank-deficient" in str(w.message)]


def test_a_labelled_references_class_counts_survive_export(tmp_path):
    stats = ReferenceStats.from_features(_features(20))
    stats.meta["class_counts"] = {"dark": 5, "light": 15}
    path = export_npz(stats, tmp_path / "exported.npz")
    with np.load(path, allow_pickle=False) as data:
        assert sorted(data.files) == ["meta", "mu", "sigma"]  # pytorch-fid reads mu and sigma only
    assert import_npz(path).meta["class_counts"] == {"dark": 5, "light": 15}


def test_a_statistics_files_meta_that_is_not_a_mapping_is_ignored(tmp_path):
    stats = ReferenceStats.from_features(_features(20))
    np.savez(tmp_path / "odd.npz", mu=stats.mu, sigma=stats.sigma, meta=np.array("[1, 2]"))
    assert import_npz(tmp_path / "odd.npz").meta == {"source": str(tmp_path / "odd.npz")}
