"""Objectives against hand-computed values and torch.distributions."""

from __future__ import annotations

import math

import torch
from torch.distributions import Normal, kl_divergence

from cilab.gen.objectives import (
    bernoulli_log_likelihood,
    iw_bound,
    kl_diag_gaussian_standard,
    log_normal_diag,
    log_standard_normal,
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


def test_kl_matches_torch_distributions() -> None:
    torch.manual_seed(0)
    mu, logvar = torch.randn(7, 4), torch.randn(7, 4)
    q = Normal(mu, torch.exp(0.5 * logvar))
    p = Normal(torch.zeros(4), torch.ones(4))
    expected = kl_divergence(q, p).sum(-1)
    assert torch.allclose(kl_diag_gaussian_standard(mu, logvar), expected, atol=1e-5)
    assert torch.all(kl_diag_gaussian_standard(torch.zeros(2, 3), torch.zeros(2, 3)) == 0)


def test_log_densities_match_torch_distributions() -> None:
    torch.manual_seed(1)
    z, mu, logvar = torch.randn(5, 3), torch.randn(5, 3), torch.randn(5, 3)
    expected = Normal(mu, torch.exp(0.5 * logvar)).log_prob(z).sum(-1)
    assert torch.allclose(log_normal_diag(z, mu, logvar), expected, atol=1e-5)
    assert torch.allclose(log_standard_normal(z), Normal(0.0, 1.0).log_prob(z).sum(-1), atol=1e-5)


def test_iw_bound_of_equal_weights_is_the_weight() -> None:
    log_w = torch.full((10, 3), -5.0)
    assert torch.allclose(iw_bound(log_w), torch.full((3,), -5.0))
    # one dominant weight: log((e^0 + 9 e^-100) / 10) ~= -log 10
    log_w = torch.tensor([[0.0]] + [[-100.0]] * 9)
    assert torch.allclose(iw_bound(log_w), torch.tensor([-math.log(10)]), atol=1e-6)
