"""Loading the FID Inception weights file strictly, and finding it."""

from __future__ import annotations

import os
import sys
import types

import pytest
import torch

from gancli.errors import UserError
from gancli.metrics.inception import FIDInceptionV3, find_weights, load_inception


@pytest.fixture(scope="module")
def random_state() -> dict[str, torch.Tensor]:
    """A cheap random state dict with the published keys and shapes (no calibration needed here)."""
    torch.manual_seed(0)
    state = FIDInceptionV3().state_dict()
    gen = torch.Generator().manual_seed(1)
    return {
        k: torch.randn(v.shape, generator=gen) * 0.05 + (1.0 if "running_var" in k else 0.0)
        for k, v in state.items()
    }


@pytest.fixture(scope="module")
def good_file(random_state, tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("weights") / "good.pth"
    torch.save(random_state, path)
    return str(path)


@pytest.fixture(scope="module")
def loaded(good_file) -> FIDInceptionV3:
    return load_inception(good_file)


def test_loads_the_standard_layout_exactly(loaded, random_state):
    assert not loaded.training
    state = loaded.state_dict()
    assert list(state) == list(random_state)
    for k, v in random_state.items():
        assert torch.equal(state[k], v), k
    assert not any(p.requires_grad for p in loaded.parameters())


def test_folded_batch_norm_gives_the_same_outputs(loaded):
    # One conv unit and one full block; the whole network's fused path is checked against
    # torch-fidelity's unfused network in test_peer_agreement.
    torch.manual_seed(0)
    for unit, x in (
        (loaded.Conv2d_2b_3x3, torch.randn(2, 32, 21, 21)),
        (loaded.Mixed_7c, torch.rand(2, 2048, 8, 8)),
    ):
        with torch.inference_mode():
            fused = unit(x.clone())
            for m in unit.modules():
                if hasattr(m, "unfuse_"):
                    m.unfuse_()
            plain = unit(x.clone())
            for m in unit.modules():
                if hasattr(m, "fuse_"):
                    m.fuse_()
        torch.testing.assert_close(fused, plain, rtol=1e-4, atol=1e-5)


def test_loading_new_weights_drops_the_folded_copy(good_file, random_state):
    model = load_inception(good_file)
    assert model.Conv2d_1a_3x3.fused_weight is not None
    model.load_state_dict(random_state)
    assert model.Conv2d_1a_3x3.fused_weight is None
    assert "fused_weight" not in " ".join(model.state_dict())


def test_wrong_keys_are_named(random_state, tmp_path):
    state = dict(random_state)
    state["Mixed_5b.branch1x1.conv.weights"] = state.pop("Mixed_5b.branch1x1.conv.weight")
    path = tmp_path / "renamed.pth"
    torch.save(state, path)
    with pytest.raises(UserError) as info:
        load_inception(path)
    message = str(info.value)
    assert str(path) in message
    assert "missing keys: Mixed_5b.branch1x1.conv.weight" in message
    assert "unexpected keys: Mixed_5b.branch1x1.conv.weights" in message


def test_torchvision_style_file_with_num_batches_tracked_is_refused(random_state, tmp_path):
    state = dict(random_state)
    state["Conv2d_1a_3x3.bn.num_batches_tracked"] = torch.tensor(0)
    path = tmp_path / "extra.pth"
    torch.save(state, path)
    with pytest.raises(UserError, match="unexpected keys: Conv2d_1a_3x3.bn.num_batches_tracked"):
        load_inception(path)


def test_wrong_shapes_are_named(random_state, tmp_path):
    state = dict(random_state)
    state["fc.weight"] = torch.zeros(1000, 2048)  # torchvision's ImageNet head, not the 1008-class one
    state["fc.bias"] = torch.zeros(1000)
    path = tmp_path / "imagenet.pth"
    torch.save(state, path)
    with pytest.raises(
        UserError, match=r"wrong shapes: fc.weight \(1000, 2048\) \(expected \(1008, 2048\)\)"
    ):
        load_inception(path)


def test_non_finite_values_are_named(random_state, tmp_path):
    state = dict(random_state)
    state["Mixed_6b.branch1x1.bn.running_var"] = state["Mixed_6b.branch1x1.bn.running_var"].clone()
    state["Mixed_6b.branch1x1.bn.running_var"][3] = float("nan")
    path = tmp_path / "nan.pth"
    torch.save(state, path)
    with pytest.raises(UserError, match="non-finite values in Mixed_6b.branch1x1.bn.running_var"):
        load_inception(path)


def test_truncated_file(good_file, tmp_path):
    data = open(good_file, "rb").read()
    path = tmp_path / "truncated.pth"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(UserError, match="truncated or corrupt") as info:
        load_inception(path)
    assert str(path) in str(info.value)


def test_empty_and_garbage_files(tmp_path):
    for name, payload in (("empty.pth", b""), ("garbage.pth", b"\x00garbage" * 10)):
        path = tmp_path / name
        path.write_bytes(payload)
        with pytest.raises(UserError, match=f"{name} cannot be read; it is probably truncated or corrupt"):
            load_inception(path)


def test_pickle_payload_is_refused_by_weights_only(tmp_path):
    path = tmp_path / "payload.pth"
    # A reference to a callable: a plain pickle would import and could call it; weights_only refuses.
    torch.save({"fc.weight": torch.zeros(1), "hook": os.getcwd}, path)
    with pytest.raises(UserError, match="refused.*GLOBAL .*getcwd") as info:
        load_inception(path)
    assert str(path) in str(info.value)


def test_non_state_dict_file(tmp_path):
    path = tmp_path / "tensor.pth"
    torch.save(torch.zeros(3), path)
    with pytest.raises(UserError, match="state dict"):
        load_inception(path)


def test_missing_file(tmp_path):
    with pytest.raises(UserError, match="does not exist.*gan download inception"):
        load_inception(tmp_path / "nope.pth")


@pytest.fixture
def no_registry(monkeypatch):
    """Make `gancli.data.registry` report nothing downloaded (whether or not it exists yet)."""
    module = types.ModuleType("gancli.data.registry")
    module.downloaded_file = lambda name, root=None: None
    monkeypatch.setitem(sys.modules, "gancli.data.registry", module)
    monkeypatch.delenv("GAN_INCEPTION_WEIGHTS", raising=False)
    return module


def test_find_weights_order(no_registry, monkeypatch, tmp_path):
    explicit, env, downloaded = (tmp_path / n for n in ("explicit.pth", "env.pth", "downloaded.pth"))
    for p in (explicit, env, downloaded):
        p.write_bytes(b"x")
    no_registry.downloaded_file = lambda name, root=None: downloaded if name == "inception" else None
    assert find_weights(None) == downloaded
    monkeypatch.setenv("GAN_INCEPTION_WEIGHTS", str(env))
    assert find_weights(None) == env
    assert find_weights(str(explicit)) == explicit


def test_find_weights_names_a_missing_explicit_file(no_registry, tmp_path):
    with pytest.raises(UserError, match="nope.pth.*--weights"):
        find_weights(str(tmp_path / "nope.pth"))


def test_find_weights_without_any_says_how_to_get_them(no_registry):
    with pytest.raises(UserError) as info:
        find_weights(None)
    message = str(info.value)
    assert "gan download inception" in message
    assert "--weights" in message
    assert "$GAN_INCEPTION_WEIGHTS" in message
    assert "pt_inception-2015-12-05-6726825d.pth" in message
    assert "never substitutes" in message


def test_find_weights_without_the_registry_module(monkeypatch):
    monkeypatch.setitem(sys.modules, "gancli.data.registry", None)  # import raises ImportError
    monkeypatch.delenv("GAN_INCEPTION_WEIGHTS", raising=False)
    with pytest.raises(UserError, match="gan download inception"):
        find_weights(None)
