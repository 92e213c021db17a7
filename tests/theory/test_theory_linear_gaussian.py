"""The linear-Gaussian model's closed forms, ELBO and importance-weighted bound."""

from __future__ import annotations

import math

import pytest
import torch

from cilab.core.errors import CilabError
from cilab.theory.gaussian import diag_gaussian_log_prob, sample_diag_gaussian
from cilab.theory.linear_gaussian import (
    LinearGaussianModel,
    elbo,
    elbo_monte_carlo,
    importance_weighted_bound,
)


@pytest.fixture
def model() -> LinearGaussianModel:
    return LinearGaussianModel.random(
        3, 6, noise_std=0.7, generator=torch.Generator().manual_seed(0)
    )


@pytest.fixture
def x(model: LinearGaussianModel) -> torch.Tensor:
    return model.sample(5, torch.Generator().manual_seed(1))[1]


def test_log_marginal_matches_multivariate_normal(
    model: LinearGaussianModel, x: torch.Tensor
) -> None:
    cov = model.weight @ model.weight.T + model.noise_var * torch.eye(6, dtype=torch.float64)
    expected = torch.distributions.MultivariateNormal(model.bias, cov).log_prob(x)
    torch.testing.assert_close(model.log_marginal(x), expected)
    assert model.log_marginal(x.reshape(5, 1, 6)).shape == (5, 1)


def test_posterior_is_bayes_rule(model: LinearGaussianModel, x: torch.Tensor) -> None:
    z = torch.randn(5, 3, dtype=torch.float64)
    implied = model.log_joint(x, z) - model.posterior_log_prob(z, x)
    torch.testing.assert_close(implied, model.log_marginal(x))


def test_orthogonal_columns_give_diagonal_posterior() -> None:
    m = LinearGaussianModel.random(
        3, 6, orthogonal_columns=True, generator=torch.Generator().manual_seed(2)
    )
    _, cov = m.posterior(torch.zeros(6, dtype=torch.float64))
    torch.testing.assert_close(cov, torch.diag(cov.diagonal()))


def test_log_px_is_elbo_plus_kl_for_any_q(model: LinearGaussianModel, x: torch.Tensor) -> None:
    q_mean, q_log_var = (
        torch.randn(5, 3, dtype=torch.float64),
        torch.randn(5, 3, dtype=torch.float64),
    )
    gap = model.kl_to_posterior(x, q_mean, q_log_var)
    assert (gap > 0).all()
    torch.testing.assert_close(elbo(model, x, q_mean, q_log_var) + gap, model.log_marginal(x))


def test_elbo_monte_carlo_is_unbiased(model: LinearGaussianModel, x: torch.Tensor) -> None:
    q_mean, q_log_var = (
        torch.zeros(3, dtype=torch.float64),
        torch.full((3,), -1.0, dtype=torch.float64),
    )
    draws = elbo_monte_carlo(model, x, q_mean, q_log_var, 50_000, torch.Generator().manual_seed(3))
    assert draws.shape == (50_000, 5)
    se = draws.std(0) / math.sqrt(50_000)
    assert ((draws.mean(0) - elbo(model, x, q_mean, q_log_var)).abs() < 5 * se).all()


def test_importance_weight_chi2_matches_monte_carlo(
    model: LinearGaussianModel, x: torch.Tensor
) -> None:
    post_mean, post_cov = model.posterior(x[0])
    q_mean, q_log_var = post_mean + 0.2, (2.0 * post_cov.diagonal()).log()
    chi2 = model.importance_weight_chi2(x[0], q_mean, q_log_var)
    z = sample_diag_gaussian(q_mean, q_log_var, 400_000, torch.Generator().manual_seed(4))
    rel_w = (
        model.log_joint(x[0], z)
        - diag_gaussian_log_prob(z, q_mean, q_log_var)
        - model.log_marginal(x[0])
    ).exp()
    assert abs(rel_w.mean().item() - 1.0) < 0.01  # weights average to p(x)
    assert chi2.item() == pytest.approx(rel_w.var().item(), rel=0.05)


def test_importance_weight_chi2_is_infinite_for_too_narrow_q(
    model: LinearGaussianModel, x: torch.Tensor
) -> None:
    post_mean, post_cov = model.posterior(x[0])
    chi2 = model.importance_weight_chi2(x[0], post_mean, (0.3 * post_cov.diagonal()).log())
    assert math.isinf(chi2.item())


def test_iwae_gives_one_independent_draw_per_x(model: LinearGaussianModel, x: torch.Tensor) -> None:
    q_mean, q_log_var = torch.zeros(3, dtype=torch.float64), torch.zeros(3, dtype=torch.float64)
    draws = importance_weighted_bound(model, x[0].expand(50, -1), q_mean, q_log_var, 7)
    assert draws.shape == (50,)
    assert draws.unique().numel() == 50
    assert (draws < model.log_marginal(x[0]) + 5.0).all()


def test_iwae_at_true_posterior_is_exact(model: LinearGaussianModel) -> None:
    m = LinearGaussianModel.random(
        2, 4, orthogonal_columns=True, generator=torch.Generator().manual_seed(5)
    )
    x = torch.ones(4, dtype=torch.float64)
    mean, cov = m.posterior(x)
    draws = importance_weighted_bound(m, x.expand(10, -1), mean, cov.diagonal().log(), 3)
    torch.testing.assert_close(draws, m.log_marginal(x).expand(10))


def test_invalid_inputs_are_user_errors() -> None:
    with pytest.raises(CilabError):
        LinearGaussianModel.random(5, 3)
    with pytest.raises(CilabError):
        LinearGaussianModel(torch.zeros(4, 2), torch.zeros(4), noise_std=0.0)
    m = LinearGaussianModel.random(2, 3)
    with pytest.raises(CilabError):
        importance_weighted_bound(
            m, torch.zeros(3, dtype=torch.float64), torch.zeros(2), torch.zeros(2), 0
        )
