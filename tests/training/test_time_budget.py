"""`gan train --time`: durations, the config key, a run that stops at the first step past its
budget and ends finished, and a resumed run that counts the time already spent."""

import pytest
import torch
from conftest import tiny_config_dict
from rich.console import Console

from gancli import config
from gancli.cli.live import LiveDisplay
from gancli.data.builtin import shapes
from gancli.errors import UserError
from gancli.training.checkpoint import find_checkpoint, load_checkpoint
from gancli.training.trainer import Trainer, length_reached
from gancli.units import format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90s", 90),
        ("30m", 1800),
        ("2h", 7200),
        ("1h30m", 5400),
        ("1h 30m 5s", 5405),
        ("45", 45),
        ("1.5m", 90),
        (12, 12),
    ],
)
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "m", "5d", "-3s", "ten minutes", "nan", "400d"])
def test_bad_durations_name_the_value(text):
    with pytest.raises(UserError, match="--time"):
        parse_duration(text)


def test_duration_display():
    assert [format_duration(s) for s in (42.4, 95, 3725)] == ["42s", "1m35s", "1h02m05s"]


def test_the_config_key_takes_a_duration_and_the_flag_replaces_the_length():
    data = tiny_config_dict()
    data["train"]["time"] = "1h30m"
    assert config.from_dict(data).train.time == 5400
    cfg = config.resolve("quick", None, config.Overrides(time="90s"))
    assert (cfg.train.time, cfg.train.iters, cfg.train.epochs) == (90, 0, 0)
    config.check_run_length(cfg)  # a time budget alone is a length
    data["train"]["time"] = "soon"
    with pytest.raises(UserError, match="train.time"):
        config.from_dict(data)


def test_length_reached():
    cfg = config.from_dict(tiny_config_dict(iters=0, time=60))
    assert not length_reached(cfg, 0, 1000, 59.9) and length_reached(cfg, 0, 1, 60)
    assert length_reached(cfg, 10, 10, 0)  # the total, when there is one, counts too


class TenSecondSteps:
    """A clock that says each completed iteration took 10 s."""

    def __init__(self, t: Trainer) -> None:
        self.t = t

    def __call__(self) -> float:
        return 10.0 * self.t.counters.iteration


def timed(tmp_path, budget: float) -> Trainer:
    cfg = config.from_dict(tiny_config_dict(iters=0, time=budget, checkpoint_every=100))
    t = Trainer(cfg, shapes(40, 16), torch.device("cpu"), tmp_path)
    t.clock = TenSecondSteps(t)
    return t


def test_a_run_stops_at_the_first_step_past_its_budget_and_resumes_counting(tmp_path):
    first = timed(tmp_path, 35)
    outcome = first.fit()
    assert (outcome.status, outcome.iteration) == ("finished", 4)  # 40 s >= 35 s
    assert "time budget of 35s spent" in outcome.message
    payload = load_checkpoint(find_checkpoint(tmp_path))  # the final checkpoint is written
    assert payload["iteration"] == 4 and payload["elapsed_s"] == 40
    resumed = timed(tmp_path, 55)
    resumed.load_state(payload)
    assert resumed.fit().iteration == 6  # 40 s already spent: two more steps reach 60 s


def test_the_live_display_shows_the_time_left():
    console = Console(record=True, width=120, force_terminal=False)
    display = LiveDisplay(console, 0, 10, time_budget=600)
    record = {"iteration": 5, "epoch": 1, "loss_d": 1.0, "loss_g": 1.0, "score_d": 0.5, "score_g": 0.5}
    display.on_metrics({**record, "images_per_s": 10.0, "elapsed_s": 125.0})
    assert "time left 7m55s" in console.export_text()
