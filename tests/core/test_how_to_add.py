"""The "how to add" recipes of docs/architecture.md, each done once: a logger, a dataset format,
a layer op and an architecture, touching only the places the doc names. (A metric's recipe is
done in tests/metrics/test_registry.py.)"""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import tiny_config_dict
from torch import nn

from gancli import archs, config, layer_math, layer_ops
from gancli.data import formats, registry
from gancli.data.builtin import shapes
from gancli.models import build, dcgan
from gancli.reporting.observer import EVENTS, Observer, notify
from gancli.reporting.observers import build_observers
from gancli.runs import RunFolder
from gancli.training.trainer import Trainer

# ---------------------------------------------------------------- a logger


class CsvLog(Observer):
    """The recipe's logger: an Observer subclass overriding the events it needs."""

    def __init__(self, path: Path) -> None:
        self.path, self.rows, self.events = path, [], []

    def on_start(self, trainer) -> None:
        self.events.append("on_start")

    def on_metrics(self, record: dict) -> None:
        self.events.append("on_metrics")
        self.rows.append({k: record[k] for k in ("iteration", "loss_d", "loss_g")})

    def on_end(self, outcome) -> None:
        self.events.append("on_end")
        with open(self.path, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=["iteration", "loss_d", "loss_g"])
            writer.writeheader()
            writer.writerows(self.rows)


def test_a_logger_is_an_observer_subclass_that_hears_the_declared_events(tmp_path):
    cfg = config.from_dict(tiny_config_dict(iters=4, log_every=2))
    log = CsvLog(tmp_path / "log.csv")
    Trainer(cfg, shapes(32, 16), torch.device("cpu"), tmp_path / "run", [log]).fit()
    assert log.events == ["on_start", "on_metrics", "on_metrics", "on_end"]
    with open(tmp_path / "log.csv") as handle:
        assert [int(r["iteration"]) for r in csv.DictReader(handle)] == [2, 4]


def test_build_observers_puts_the_front_ends_display_first_and_tensorboard_behind_its_key(tmp_path):
    from contextlib import ExitStack

    cfg = config.from_dict(tiny_config_dict())
    run = RunFolder(tmp_path / "run")
    live = Observer()
    with ExitStack() as stack:
        names = [
            type(o).__name__
            for o in build_observers(cfg, run, resumed_at=None, warn=print, cleanup=stack, live=live)
        ]
    assert names == ["Observer", "MetricsLog", "ArtifactWriter", "RunState"]


def test_every_observer_event_is_declared_and_an_undeclared_one_is_refused():
    assert [name for name in vars(Observer) if name.startswith("on_")] == list(EVENTS)
    with pytest.raises(ValueError, match="not a training event"):
        notify([Observer()], "on_sample", 1, None)


# ---------------------------------------------------------------- a dataset format


def _npz_format(ds, sources, folder, limits):
    """The recipe's format: a NumPy .npz holding `images` (N, H, W, C uint8)."""
    with np.load(sources[0][1]) as data:
        images = data["images"]
    return formats.save_arrays(folder, images, None)


def test_a_dataset_format_is_a_function_in_formats_and_a_registry_entry(tmp_path, monkeypatch):
    from gancli.data.download import install_dataset
    from gancli.data.source import load_images

    images = np.random.default_rng(0).integers(0, 256, (12, 8, 8, 3), dtype=np.uint8)
    archive = tmp_path / "toy.npz"
    np.savez(archive, images=images)
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    remote = registry.RemoteFile("toy.npz", "https://example.invalid/toy.npz", archive.stat().st_size, digest)
    info = registry.DatasetInfo("toyset", "npz", (remote,), 12, "8x8", 3, "test")  # type: ignore[arg-type]
    monkeypatch.setitem(formats.FORMATS, "npz", _npz_format)
    monkeypatch.setitem(registry.DATASETS, "toyset", info)
    result = install_dataset("toyset", from_file=archive)
    assert result.images == 12 and not result.unverified
    prepared = load_images("toyset", 8, 3)
    assert prepared.images.shape == (12, 3, 8, 8)
    assert torch.equal(prepared.images, torch.from_numpy(images).permute(0, 3, 1, 2))


# ---------------------------------------------------------------- a layer op


def test_a_layer_op_is_its_keys_its_module_and_its_shape(monkeypatch):
    monkeypatch.setitem(layer_ops.OPS, "hardtanh", layer_ops.Op(frozenset(), lambda spec, shape: (shape, 0)))
    monkeypatch.setitem(dcgan.LAYERS, "hardtanh", lambda spec, shape, inplace: nn.Hardtanh())
    data = tiny_config_dict()
    data["model"]["generator"][-1] = {"op": "hardtanh"}
    model = config.from_dict(data).model
    assert config.to_dict(model.generator[-1]) == {"op": "hardtanh"}
    g = dcgan.build_generator(model)
    rows = layer_math.generator_rows(model)
    assert [(r.op, tuple(r.output_shape), r.params) for r in dcgan.layer_table(g)] == [
        (r.op, tuple(r.output_shape), r.params) for r in rows
    ]
    assert any(isinstance(m, nn.Hardtanh) for m in g.modules())


# ---------------------------------------------------------------- an architecture


def test_an_architecture_is_a_name_a_plan_and_a_builder(tmp_path, monkeypatch):
    monkeypatch.setattr(archs, "ARCHS", (*archs.ARCHS, "toy"))
    monkeypatch.setitem(config.CHOICES, "model.arch", archs.ARCHS)
    # toy: dcgan's layer lists (its plan is layer_math's), its D without the turned frame
    monkeypatch.setitem(
        build.BUILDERS,
        "toy",
        build.Builders(dcgan.build_generator, lambda m, pretrained: dcgan.build_discriminator(m)),
    )
    data = tiny_config_dict(iters=2)
    data["model"]["arch"] = "toy"
    cfg = config.from_dict(data)
    assert set(build.BUILDERS) == set(archs.ARCHS)  # what tests/models/test_archs.py holds
    trainer = Trainer(cfg, shapes(32, 16), torch.device("cpu"), tmp_path / "run", [])
    assert trainer.fit().status == "finished"
    g = build.build_generator(cfg.model)
    assert sum(p.numel() for p in g.parameters()) == layer_math.param_count(
        layer_math.generator_rows(cfg.model)
    )
