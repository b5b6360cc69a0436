"""--score-every keeps checkpoints/best.pt: the state of the lowest FID so far."""

import torch
from conftest import tiny_config_dict

from gancli import config
from gancli.data.builtin import shapes
from gancli.training.checkpoint import BEST, LAST, load_checkpoint
from gancli.training.trainer import Trainer


class Recorder:
    def __init__(self):
        self.records = []

    def on_metrics(self, record):
        self.records.append(record)


def _trainer(tmp_path, fids, iters=6, observers=None):
    measured = iter(fids)
    cfg = config.from_dict(tiny_config_dict(iters=iters, score_every=2, log_every=2, ema_half_life=100))
    scorer = lambda generator, iteration: {"fid": next(measured)}  # noqa: E731
    return Trainer(cfg, shapes(40, 16), torch.device("cpu"), tmp_path / "run", observers or [], scorer=scorer)


def test_best_checkpoint_holds_the_lowest_fid_state(tmp_path):
    recorder = Recorder()
    trainer = _trainer(tmp_path, [5.0, 3.0, 4.0], observers=[recorder])
    trainer.fit()
    best = load_checkpoint(tmp_path / "run" / "checkpoints" / BEST)
    assert (best["iteration"], best["best_fid"], best["best_iteration"]) == (4, 3.0, 4)
    assert "generator_ema" in best  # what `gan sample --best` draws from
    last = load_checkpoint(tmp_path / "run" / "checkpoints" / LAST)
    assert last["iteration"] == 6 and last["best_iteration"] == 4
    weights = [
        (a, b)
        for a, b in zip(best["generator"].values(), last["generator"].values())
        if a.is_floating_point()
    ]
    assert any(not torch.equal(a, b) for a, b in weights)  # best is iteration 4's state, not the last one
    assert [(r["iteration"], r.get("best_fid")) for r in recorder.records] == [(2, 5.0), (4, 3.0), (6, 3.0)]


def test_resume_keeps_the_best_so_far(tmp_path):
    _trainer(tmp_path, [2.0, 1.0], iters=4).fit()
    resumed = _trainer(tmp_path, [1.5, 0.5], iters=8)
    resumed.load_state(load_checkpoint(tmp_path / "run" / "checkpoints" / LAST))
    assert (resumed.counters.best_fid, resumed.counters.best_iteration) == (1.0, 4)
    resumed.fit()
    best = load_checkpoint(tmp_path / "run" / "checkpoints" / BEST)
    assert (best["best_fid"], best["best_iteration"]) == (0.5, 8)  # 1.5 at 6 did not beat 1.0


def test_sampling_uses_g_ema_and_best_when_asked(tmp_path):
    import pytest

    from gancli.errors import UserError
    from gancli.sampling import load_generator

    _trainer(tmp_path, [5.0, 3.0, 4.0]).fit()
    run = tmp_path / "run"
    last = load_checkpoint(run / "checkpoints" / LAST)
    best = load_checkpoint(run / "checkpoints" / BEST)
    for payload, generator in ((last, load_generator(run)[0]), (best, load_generator(run, best=True)[0])):
        for key, value in generator.state_dict().items():
            assert torch.equal(value, payload["generator_ema"][key])
    assert any(not torch.equal(last["generator_ema"][k], last["generator"][k]) for k in last["generator"])
    (run / "checkpoints" / BEST).unlink()
    with pytest.raises(UserError, match="--score-every"):
        load_generator(run, best=True)


def test_gan_sample_best_draws_from_best_pt(tmp_path):
    from conftest import run_cli
    from PIL import Image

    _trainer(tmp_path, [5.0, 3.0, 4.0]).fit()
    run = tmp_path / "run"
    assert run_cli("sample", str(run), "-n", "4", "--best", "--out", str(tmp_path / "best.png")).code == 0
    assert run_cli("sample", str(run), "-n", "4", "--out", str(tmp_path / "last.png")).code == 0
    assert Image.open(tmp_path / "best.png").tobytes() != Image.open(tmp_path / "last.png").tobytes()
    (run / "checkpoints" / BEST).unlink()
    res = run_cli("sample", str(run), "--best", "--out", str(tmp_path / "x.png"))
    assert res.code == 2 and "--score-every" in res.text
