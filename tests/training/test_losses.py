"""Losses and scores against values computed by hand from probabilities, as the SPEC writes them."""

import math

import torch

from gancli.training.losses import discriminator_loss, flip_real_logits, generator_loss, scores


def logit(p):
    return math.log(p / (1 - p))


Y_REAL = [0.9, 0.6, 0.2]
Y_GEN = [0.3, 0.7]


def test_discriminator_loss_is_the_spec_formula():
    lr = torch.tensor([logit(p) for p in Y_REAL])
    lf = torch.tensor([logit(p) for p in Y_GEN])
    expected = -sum(math.log(p) for p in Y_REAL) / 3 - sum(math.log(1 - p) for p in Y_GEN) / 2
    assert abs(discriminator_loss(lr, lf).item() - expected) < 1e-5


def test_flipped_real_labels_use_one_minus_y():
    lr = torch.tensor([logit(p) for p in Y_REAL])
    lf = torch.tensor([logit(p) for p in Y_GEN])
    flip = torch.tensor([True, False, True])
    flipped = [1 - 0.9, 0.6, 1 - 0.2]
    expected = -sum(math.log(p) for p in flipped) / 3 - sum(math.log(1 - p) for p in Y_GEN) / 2
    assert abs(discriminator_loss(lr, lf, flip).item() - expected) < 1e-5
    assert abs(0.5 * expected - discriminator_loss(lr, lf, flip, scale=0.5).item()) < 1e-5


def test_generator_loss_is_non_saturating():
    lf = torch.tensor([logit(p) for p in Y_GEN])
    expected = -sum(math.log(p) for p in Y_GEN) / 2
    assert abs(generator_loss(lf).item() - expected) < 1e-6


def test_scores_are_taken_before_the_flip():
    lr = torch.tensor([logit(p) for p in Y_REAL])
    lf = torch.tensor([logit(p) for p in Y_GEN])
    score_d, score_g = scores(lr, lf)
    assert abs(score_g.item() - 0.5) < 1e-6
    assert abs(score_d.item() - ((sum(Y_REAL) / 3 + (0.7 + 0.3) / 2) / 2)) < 1e-6


def test_losses_stay_finite_where_log_of_a_probability_would_not():
    lr = torch.tensor([200.0, -200.0])
    lf = torch.tensor([200.0, -200.0])
    assert torch.isfinite(discriminator_loss(lr, lf)) and torch.isfinite(generator_loss(lf))
    assert abs(generator_loss(torch.tensor([-200.0])).item() - 200.0) < 1e-3


def test_flip_negates_logits_only_where_asked():
    lr = torch.tensor([1.0, -2.0, 3.0])
    out = flip_real_logits(lr, torch.tensor([False, True, True]))
    assert out.tolist() == [1.0, 2.0, -3.0]
