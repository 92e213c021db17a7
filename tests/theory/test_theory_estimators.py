"""Reparameterization and score-function gradient estimators."""

from __future__ import annotations

import pytest
import torch

from cilab.core.errors import CilabError
from cilab.theory.estimators import reparameterization_gradients, score_function_gradients

MEAN = torch.tensor([0.3, -1.0], dtype=torch.float64)
STD = torch.tensor([0.5, 2.0], dtype=torch.float64)


def sin_sum(z: torch.Tensor) -> torch.Tensor:
    return z.sin().sum(dim=-1)


def exact_sin_grad() -> torch.Tensor:
    # E[sin z] = sin(μ) exp(−σ²/2) for z ~ N(μ, σ²).
    damp = (-0.5 * STD.square()).exp()
    return torch.cat([MEAN.cos() * damp, -STD * MEAN.sin() * damp])


@pytest.mark.parametrize("estimator", [reparameterization_gradients, score_function_gradients])
def test_estimators_are_unbiased_for_a_nonpolynomial_f(estimator) -> None:
    g = estimator(sin_sum, MEAN, STD, 200_000, torch.Generator().manual_seed(0))
    assert g.grad_mean.shape == g.grad_std.shape == (200_000, 2)
    z = (g.estimate() - exact_sin_grad()).abs() / g.stderr()
    assert (z < 5).all(), z


def test_reparameterization_has_lower_variance_for_smooth_f() -> None:
    gen = torch.Generator().manual_seed(1)
    rep = reparameterization_gradients(sin_sum, MEAN, STD, 50_000, gen)
    sco = score_function_gradients(sin_sum, MEAN, STD, 50_000, gen)
    assert rep.variance().sum() < 0.5 * sco.variance().sum()


def test_baseline_keeps_mean_and_can_cut_variance() -> None:
    def f(z: torch.Tensor) -> torch.Tensor:
        return 10.0 + z.sum(dim=-1)

    gen = torch.Generator().manual_seed(2)
    plain = score_function_gradients(f, MEAN, STD, 100_000, gen)
    based = score_function_gradients(f, MEAN, STD, 100_000, gen, baseline=10.0 + MEAN.sum().item())
    assert based.variance().sum() < 0.2 * plain.variance().sum()
    exact = torch.cat([torch.ones(2), torch.zeros(2)]).double()
    assert ((based.estimate() - exact).abs() < 5 * based.stderr()).all()


def test_bad_inputs_are_user_errors() -> None:
    with pytest.raises(CilabError):
        reparameterization_gradients(sin_sum, MEAN, -STD, 10)
    with pytest.raises(CilabError):
        score_function_gradients(sin_sum, MEAN, STD[:1], 10)
    with pytest.raises(CilabError):
        score_function_gradients(sin_sum, MEAN, STD, 1)
