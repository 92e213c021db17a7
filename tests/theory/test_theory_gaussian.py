"""Closed-form diagonal-Gaussian KLs and reparameterized sampling."""

from __future__ import annotations

import pytest
import torch

from cilab.theory.gaussian import (
    diag_gaussian_log_prob,
    kl_diag_gaussians,
    kl_to_standard_normal,
    reparameterize,
    sample_diag_gaussian,
    standard_normal_log_prob,
)


def _normal(mean: torch.Tensor, log_var: torch.Tensor) -> torch.distributions.Distribution:
    return torch.distributions.Independent(
        torch.distributions.Normal(mean, (0.5 * log_var).exp()), 1
    )


@pytest.fixture
def params() -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return [torch.randn(5, 7, 4, generator=g, dtype=torch.float64) for _ in range(4)]


def test_kl_to_standard_normal_matches_torch_batched(params: list[torch.Tensor]) -> None:
    mean, log_var = params[:2]
    expected = torch.distributions.kl_divergence(
        _normal(mean, log_var), _normal(torch.zeros_like(mean), torch.zeros_like(mean))
    )
    got = kl_to_standard_normal(mean, log_var)
    assert got.shape == (5, 7)
    torch.testing.assert_close(got, expected)


def test_kl_diag_matches_torch_and_reduces_to_standard(params: list[torch.Tensor]) -> None:
    mq, lq, mp, lp = params
    expected = torch.distributions.kl_divergence(_normal(mq, lq), _normal(mp, lp))
    torch.testing.assert_close(kl_diag_gaussians(mq, lq, mp, lp), expected)
    zero = torch.zeros_like(mq)
    torch.testing.assert_close(kl_diag_gaussians(mq, lq, zero, zero), kl_to_standard_normal(mq, lq))


def test_kl_is_zero_only_at_equality_and_never_negative(params: list[torch.Tensor]) -> None:
    mq, lq, mp, lp = params
    assert (kl_diag_gaussians(mq, lq, mp, lp) > 0).all()
    torch.testing.assert_close(
        kl_diag_gaussians(mq, lq, mq, lq), torch.zeros(5, 7, dtype=torch.float64)
    )
    assert kl_to_standard_normal(torch.zeros(3), torch.zeros(3)).item() == 0.0


def test_log_probs_match_torch(params: list[torch.Tensor]) -> None:
    z, mean, log_var, _ = params
    torch.testing.assert_close(
        diag_gaussian_log_prob(z, mean, log_var), _normal(mean, log_var).log_prob(z)
    )
    zero = torch.zeros_like(z)
    torch.testing.assert_close(standard_normal_log_prob(z), _normal(zero, zero).log_prob(z))


def test_reparameterized_samples_have_right_moments_and_gradients() -> None:
    mean = torch.tensor([1.0, -2.0], dtype=torch.float64, requires_grad=True)
    log_var = torch.tensor(
        [0.0, 2.0 * torch.log(torch.tensor(3.0)).item()], dtype=torch.float64, requires_grad=True
    )
    z = sample_diag_gaussian(mean, log_var, 200_000, torch.Generator().manual_seed(1))
    assert z.shape == (200_000, 2)
    torch.testing.assert_close(z.mean(0), mean.detach(), atol=0.03, rtol=0)
    torch.testing.assert_close(
        z.std(0), torch.tensor([1.0, 3.0], dtype=torch.float64), atol=0.03, rtol=0
    )
    # d z / d mean = 1 and d z / d log_var = ½ σ ε: gradients reach the parameters.
    z.sum().backward()
    assert mean.grad is not None and log_var.grad is not None
    torch.testing.assert_close(mean.grad, torch.full((2,), 200_000.0, dtype=torch.float64))


def test_reparameterize_is_deterministic_given_eps() -> None:
    eps = torch.tensor([[0.5, -1.0]])
    z = reparameterize(torch.tensor([1.0, 1.0]), torch.log(torch.tensor([4.0, 1.0])), eps)
    torch.testing.assert_close(z, torch.tensor([[2.0, 0.0]]))
