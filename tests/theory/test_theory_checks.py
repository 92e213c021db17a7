"""The checks pass for cilab's implementations and fail for deliberately wrong ones."""

from __future__ import annotations

import math

import pytest
import torch

from cilab.core.errors import CilabError
from cilab.theory import checks
from cilab.theory.estimators import (
    GradientSamples,
    reparameterization_gradients,
    score_function_gradients,
)
from cilab.theory.gaussian import kl_diag_gaussians, kl_to_standard_normal
from cilab.theory.linear_gaussian import LinearGaussianModel, elbo, importance_weighted_bound

SAMPLES = 20_000


def by_name(results: list[checks.CheckResult]) -> dict[str, checks.CheckResult]:
    return {r.name: r for r in results}


@pytest.fixture(scope="module")
def default_run() -> list[checks.CheckResult]:
    return checks.run_checks(seed=0)


def test_all_checks_pass_at_default_settings(default_run: list[checks.CheckResult]) -> None:
    failed = [r for r in default_run if not r.passed]
    assert not failed, checks.format_results(failed)
    names = {r.name for r in default_run}
    for required in (
        "kl_std_normal_vs_mc",
        "kl_std_normal_vs_torch",
        "logpx_eq_elbo_plus_kl",
        "elbo_argmax_is_posterior",
        "iwae_rises_with_k",
        "grad_estimators_agree_z",
        "grad_var_ratio_reparam/score",
    ):
        assert required in names


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_checks_pass_for_other_seeds(seed: int) -> None:
    assert all(r.passed for r in checks.run_checks(seed=seed, samples=SAMPLES))


def test_results_are_reproducible() -> None:
    a = checks.check_kl_diag(seed=5, samples=SAMPLES)
    b = checks.check_kl_diag(seed=5, samples=SAMPLES)
    assert a == b


def test_mc_tolerance_comes_from_the_standard_error() -> None:
    small = by_name(checks.check_kl_standard_normal(seed=0, samples=2_000))["kl_std_normal_vs_mc"]
    large = by_name(checks.check_kl_standard_normal(seed=0, samples=200_000))["kl_std_normal_vs_mc"]
    assert small.tolerance == pytest.approx(checks.MC_Z * small.details["se"])
    assert large.tolerance == pytest.approx(small.tolerance / 10, rel=0.2)  # SE ∝ 1/√n


def test_iwae_gap_shrinks_towards_zero(default_run: list[checks.CheckResult]) -> None:
    d = by_name(default_run)["iwae_rises_with_k"].details
    gaps = [d[f"gap_{k}"] for k in checks.IWAE_KS]
    assert gaps == sorted(gaps, reverse=True)
    assert -1e-3 < gaps[-1] < 0.1 * gaps[0]


# --- wrong implementations must be caught ---------------------------------------------------


def kl_wrong_sign(mean: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    return -kl_to_standard_normal(mean, log_var)


def kl_std_not_var(mean: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    # A classic slip: σ in place of σ² inside the bracket.
    return 0.5 * (mean.square() + (0.5 * log_var).exp() - 1.0 - log_var).sum(-1)


@pytest.mark.parametrize("wrong", [kl_wrong_sign, kl_std_not_var])
def test_wrong_kl_to_standard_normal_fails_both_checks(wrong) -> None:
    results = checks.check_kl_standard_normal(seed=0, samples=SAMPLES, kl_fn=wrong)
    assert not any(r.passed for r in results)


def test_wrong_kl_diag_fails_both_checks() -> None:
    def reversed_kl(mq, lq, mp, lp):  # KL(p || q) instead of KL(q || p)
        return kl_diag_gaussians(mp, lp, mq, lq)

    results = checks.check_kl_diag(seed=0, samples=SAMPLES, kl_fn=reversed_kl)
    assert not any(r.passed for r in results)


def elbo_plus_kl(model: LinearGaussianModel, x, q_mean, q_log_var):
    # Regularizer added instead of subtracted.
    return elbo(model, x, q_mean, q_log_var) + 2.0 * kl_to_standard_normal(q_mean, q_log_var)


def elbo_without_spread(model: LinearGaussianModel, x, q_mean, q_log_var):
    # Forgets E_q‖W(z − μ)‖²: treats the reconstruction as if z were μ.
    spread = (q_log_var.exp() * model.weight.square().sum(0)).sum(-1)
    return elbo(model, x, q_mean, q_log_var) + 0.5 * spread / model.noise_var


@pytest.mark.parametrize("wrong", [elbo_plus_kl, elbo_without_spread])
def test_wrong_elbo_is_detected(wrong) -> None:
    kw = {"seed": 0, "samples": SAMPLES, "elbo_fn": wrong}
    assert not checks.check_elbo_identity(**kw)[0].passed
    assert not checks.check_elbo_monte_carlo(**kw)[0].passed
    assert not checks.check_elbo_optimum(**kw)[0].passed
    assert not all(r.passed for r in checks.check_elbo_perturbation(**kw))


def bound_without_log_k(model, x, q_mean, q_log_var, k, generator=None):
    return importance_weighted_bound(model, x, q_mean, q_log_var, k, generator) + math.log(k)


def bound_mean_of_logs(model, x, q_mean, q_log_var, k, generator=None):
    # Averages log-weights instead of weights: the ELBO again, whatever K.
    draws = [importance_weighted_bound(model, x, q_mean, q_log_var, 1, generator) for _ in range(k)]
    return torch.stack(draws).mean(0)


@pytest.mark.parametrize("wrong", [bound_without_log_k, bound_mean_of_logs])
def test_wrong_importance_weighted_bound_is_detected(wrong) -> None:
    results = checks.check_importance_weighted_bound(seed=0, samples=SAMPLES, bound_fn=wrong)
    assert not by_name(results)["iwae_gap_k1000_vs_chi2"].passed


def score_without_minus_one(f, mean, std, n, generator=None, baseline=0.0) -> GradientSamples:
    # ∇_σ log q written as ε²/σ: the score no longer has mean zero, so the estimate is biased.
    eps = torch.randn(n, mean.shape[0], generator=generator, dtype=mean.dtype)
    weight = (f(mean + std * eps) - baseline).unsqueeze(-1)  # (n,) -> (n, 1)
    return GradientSamples(weight * eps / std, weight * eps.square() / std)


def reparam_without_eps(f, mean, std, n, generator=None) -> GradientSamples:
    # ∇_σ taken as ∇f(z), forgetting dz/dσ = ε.
    g = reparameterization_gradients(f, mean, std, n, generator)
    return GradientSamples(g.grad_mean, g.grad_mean)


def test_biased_score_function_is_detected() -> None:
    results = by_name(
        checks.check_gradient_estimators(seed=0, samples=SAMPLES, score_fn=score_without_minus_one)
    )
    assert results["grad_reparam_unbiased_z"].passed
    assert not results["grad_score_unbiased_z"].passed
    assert not results["grad_estimators_agree_z"].passed


def test_biased_reparameterization_is_detected() -> None:
    results = by_name(
        checks.check_gradient_estimators(seed=0, samples=SAMPLES, reparam_fn=reparam_without_eps)
    )
    assert not results["grad_reparam_unbiased_z"].passed
    assert not results["grad_estimators_agree_z"].passed


def test_variance_check_fails_if_estimators_are_swapped() -> None:
    results = by_name(
        checks.check_gradient_estimators(
            seed=0,
            samples=SAMPLES,
            reparam_fn=score_function_gradients,
            score_fn=reparameterization_gradients,
        )
    )
    assert not results["grad_var_ratio_reparam/score"].passed


def test_nan_value_fails() -> None:
    assert not checks.CheckResult.at_most("x", float("nan"), 1.0).passed


def test_too_few_samples_is_a_user_error() -> None:
    with pytest.raises(CilabError, match="samples"):
        checks.run_checks(samples=10)


def test_table_lists_every_check(default_run: list[checks.CheckResult]) -> None:
    table = checks.format_results(default_run, elapsed_s=1.0)
    lines = table.splitlines()
    assert lines[0].split()[:4] == ["check", "value", "tolerance", "result"]
    assert len(lines) == len(default_run) + 2
    assert lines[-1] == f"{len(default_run)}/{len(default_run)} checks passed in 1.0 s"
