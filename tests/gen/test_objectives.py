"""Objectives against hand-computed values (the Gaussian pieces are tested in tests/theory)."""

from __future__ import annotations

import math

import torch

from cilab.gen.objectives import (
    bernoulli_log_likelihood,
    iw_bound,
)


def test_bernoulli_log_likelihood_by_hand() -> None:
    logits = torch.zeros(1, 1, 28, 28)  # p = 0.5 everywhere
    target = torch.rand(1, 1, 28, 28)
    assert torch.allclose(
        bernoulli_log_likelihood(logits, target), torch.tensor([784 * math.log(0.5)])
    )
    logits = torch.full((2, 1, 1, 28, 28), math.log(3.0))  # p = 0.75, with a sample dim
    target = torch.ones(1, 1, 28, 28)
    expected = torch.full((2, 1), 784 * math.log(0.75))
    assert torch.allclose(bernoulli_log_likelihood(logits, target), expected, rtol=1e-5)


def test_iw_bound_of_equal_weights_is_the_weight() -> None:
    log_w = torch.full((10, 3), -5.0)
    assert torch.allclose(iw_bound(log_w), torch.full((3,), -5.0))
    # one dominant weight: log((e^0 + 9 e^-100) / 10) ~= -log 10
    log_w = torch.tensor([[0.0]] + [[-100.0]] * 9)
    assert torch.allclose(iw_bound(log_w), torch.tensor([-math.log(10)]), atol=1e-6)
