"""Numerical checks of the variational-inference identities, each with a stated tolerance.

Two kinds of tolerance, never a bare magic number:

* exact identities (closed form against closed form) must hold to float64 rounding:
  |error| <= EXACT_RTOL * (1 + |reference|);
* Monte Carlo comparisons must agree within MC_Z = 5 standard errors, the standard error being
  estimated from the same draws. A correct estimator misses by more than 5 SE with probability
  about 6e-7 per comparison (two-sided normal tail), so a run of ~10 comparisons raises a false
  alarm about once in 10^5 seeds; 5 rather than 4 also leaves room for the heavier-than-normal
  tail of a t-statistic when the integrand is skewed (log-density ratios are chi-square-like).
  A wrong formula misses by hundreds of SE.

Every check takes the implementation under test as an argument (defaulting to cilab's), so tests
can feed a deliberately wrong one and confirm the check catches it. Each check draws from its own
random stream derived from the seed, so results do not depend on which checks run.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import Tensor

from cilab.core.errors import CilabError
from cilab.core.seed import derived_generator
from cilab.theory.estimators import (
    GradientSamples,
    reparameterization_gradients,
    score_function_gradients,
)
from cilab.theory.gaussian import (
    diag_gaussian_log_prob,
    kl_diag_gaussians,
    kl_to_standard_normal,
    sample_diag_gaussian,
    standard_normal_log_prob,
)
from cilab.theory.linear_gaussian import (
    LinearGaussianModel,
    elbo,
    elbo_monte_carlo,
    importance_weighted_bound,
)

MC_Z = 5.0
EXACT_RTOL = 1e-9
OPTIMIZER_TOL = 1e-6  # LBFGS runs to gradient 1e-12; parameters must then match to this.
DEFAULT_SAMPLES = 100_000
MIN_SAMPLES = 1_000
IWAE_KS = (1, 10, 100, 1000)
DTYPE = torch.float64
LATENT_DIM, DATA_DIM, BATCH = 3, 8, 4

KlStd = Callable[[Tensor, Tensor], Tensor]
KlDiag = Callable[[Tensor, Tensor, Tensor, Tensor], Tensor]
ElboFn = Callable[[LinearGaussianModel, Tensor, Tensor, Tensor], Tensor]
BoundFn = Callable[..., Tensor]
GradFn = Callable[..., GradientSamples]


@dataclass(frozen=True)
class CheckResult:
    """One check: `passed` is `value <= tolerance`; `details` holds the numbers behind it."""

    name: str
    value: float
    tolerance: float
    passed: bool
    details: dict[str, float] = field(default_factory=dict)

    @classmethod
    def at_most(cls, name: str, value: float, tolerance: float, **details: float) -> CheckResult:
        """Pass iff value <= tolerance; NaN (a broken implementation) fails."""
        value = float(value)
        passed = math.isfinite(value) and value <= tolerance
        return cls(name, value, float(tolerance), passed, {k: float(v) for k, v in details.items()})


def _gen(seed: int, stream: int) -> torch.Generator:
    return derived_generator(seed, 0x7E0, stream)


def _randn(gen: torch.Generator, *shape: int) -> Tensor:
    return torch.randn(*shape, generator=gen, dtype=DTYPE)


def _log_var(gen: torch.Generator, *shape: int) -> Tensor:
    """Log-variances bounded away from 0 (|log σ²| >= 0.5), so σ² and σ clearly differ.

    A q with σ ≈ 1 would let a formula that confuses σ with σ² slip through the MC check.
    """
    magnitude = 0.5 + 0.5 * _randn(gen, *shape).abs()
    return _randn(gen, *shape).sign() * magnitude


def _mc_mean(values: Tensor) -> tuple[float, float]:
    """Sample mean and its standard error."""
    return values.mean().item(), (values.var() / values.numel()).sqrt().item()


def _exact_error(value: Tensor, reference: Tensor) -> float:
    """Largest error relative to 1 + |reference|, the scale float64 rounding works at."""
    return ((value - reference).abs() / (1.0 + reference.abs())).max().item()


# --- (i) closed-form KL ---------------------------------------------------------------------


def _torch_diag_normal(mean: Tensor, log_var: Tensor) -> torch.distributions.Distribution:
    normal = torch.distributions.Normal(mean, (0.5 * log_var).exp())
    return torch.distributions.Independent(normal, 1)


def check_kl_standard_normal(
    seed: int = 0, samples: int = DEFAULT_SAMPLES, kl_fn: KlStd = kl_to_standard_normal
) -> list[CheckResult]:
    """KL(q || N(0,I)) against Monte Carlo E_q[log q − log p] and torch.distributions."""
    gen = _gen(seed, 1)
    mean, log_var = _randn(gen, LATENT_DIM), _log_var(gen, LATENT_DIM)
    closed = kl_fn(mean, log_var).item()
    z = sample_diag_gaussian(mean, log_var, samples, gen)  # (S, d)
    mc, se = _mc_mean(diag_gaussian_log_prob(z, mean, log_var) - standard_normal_log_prob(z))
    batch_mean, batch_log_var = _randn(gen, 16, LATENT_DIM), _randn(gen, 16, LATENT_DIM)
    zero = torch.zeros_like(batch_mean)
    reference = torch.distributions.kl_divergence(
        _torch_diag_normal(batch_mean, batch_log_var), _torch_diag_normal(zero, zero)
    )
    return [
        CheckResult.at_most(
            "kl_std_normal_vs_mc", abs(closed - mc), MC_Z * se, closed=closed, mc=mc, se=se
        ),
        CheckResult.at_most(
            "kl_std_normal_vs_torch",
            _exact_error(kl_fn(batch_mean, batch_log_var), reference),
            EXACT_RTOL,
            n_pairs=len(reference),
        ),
    ]


def check_kl_diag(
    seed: int = 0, samples: int = DEFAULT_SAMPLES, kl_fn: KlDiag = kl_diag_gaussians
) -> list[CheckResult]:
    """KL(q || p) for two diagonal Gaussians against Monte Carlo and torch.distributions."""
    gen = _gen(seed, 2)
    mq, lq = _randn(gen, LATENT_DIM), _log_var(gen, LATENT_DIM)
    mp, lp = _randn(gen, LATENT_DIM), 0.5 * _log_var(gen, LATENT_DIM)
    closed = kl_fn(mq, lq, mp, lp).item()
    z = sample_diag_gaussian(mq, lq, samples, gen)  # (S, d)
    mc, se = _mc_mean(diag_gaussian_log_prob(z, mq, lq) - diag_gaussian_log_prob(z, mp, lp))
    batch = [_randn(gen, 16, LATENT_DIM) for _ in range(4)]
    reference = torch.distributions.kl_divergence(
        _torch_diag_normal(batch[0], batch[1]), _torch_diag_normal(batch[2], batch[3])
    )
    return [
        CheckResult.at_most(
            "kl_diag_vs_mc", abs(closed - mc), MC_Z * se, closed=closed, mc=mc, se=se
        ),
        CheckResult.at_most(
            "kl_diag_vs_torch", _exact_error(kl_fn(*batch), reference), EXACT_RTOL, n_pairs=16
        ),
    ]


# --- (ii) ELBO on the linear-Gaussian model -------------------------------------------------


def _model(seed: int, stream: int, orthogonal: bool) -> tuple[LinearGaussianModel, Tensor]:
    """A random model and a batch of data x (BATCH, D) drawn from it."""
    gen = _gen(seed, stream)
    model = LinearGaussianModel.random(
        LATENT_DIM, DATA_DIM, orthogonal_columns=orthogonal, generator=gen
    )
    _, x = model.sample(BATCH, gen)
    return model, x


def check_bayes_rule(seed: int = 0, samples: int = DEFAULT_SAMPLES) -> list[CheckResult]:
    """log p(x, z) − log p(z|x) = log p(x) for every z: the closed forms agree with each other."""
    model, x = _model(seed, 3, orthogonal=False)
    z = _randn(_gen(seed, 4), BATCH, LATENT_DIM)
    implied = model.log_joint(x, z) - model.posterior_log_prob(z, x)
    err = _exact_error(implied, model.log_marginal(x))
    return [CheckResult.at_most("bayes_rule_closed_forms", err, EXACT_RTOL)]


def check_elbo_identity(
    seed: int = 0, samples: int = DEFAULT_SAMPLES, elbo_fn: ElboFn = elbo
) -> list[CheckResult]:
    """log p(x) = ELBO(q) + KL(q || p(z|x)) for arbitrary diagonal q (correlated posterior)."""
    model, x = _model(seed, 3, orthogonal=False)
    gen = _gen(seed, 5)
    q_mean, q_log_var = _randn(gen, BATCH, LATENT_DIM), _randn(gen, BATCH, LATENT_DIM)
    log_px = model.log_marginal(x)
    total = elbo_fn(model, x, q_mean, q_log_var) + model.kl_to_posterior(x, q_mean, q_log_var)
    return [
        CheckResult.at_most(
            "logpx_eq_elbo_plus_kl",
            _exact_error(total, log_px),
            EXACT_RTOL,
            log_px=log_px[0].item(),
            elbo=elbo_fn(model, x, q_mean, q_log_var)[0].item(),
        )
    ]


def check_elbo_monte_carlo(
    seed: int = 0, samples: int = DEFAULT_SAMPLES, elbo_fn: ElboFn = elbo
) -> list[CheckResult]:
    """The reparameterized single-sample VAE estimator averages to the closed-form ELBO."""
    model, x = _model(seed, 3, orthogonal=False)
    gen = _gen(seed, 6)
    q_mean, q_log_var = _randn(gen, LATENT_DIM), _randn(gen, LATENT_DIM) - 1.0
    closed = elbo_fn(model, x[0], q_mean, q_log_var).item()
    mc, se = _mc_mean(elbo_monte_carlo(model, x[0], q_mean, q_log_var, samples, gen))
    return [
        CheckResult.at_most(
            "elbo_mc_vs_closed", abs(mc - closed), MC_Z * se, closed=closed, mc=mc, se=se
        )
    ]


def _maximize(
    objective: Callable[[Tensor, Tensor], Tensor], shape: tuple[int, ...]
) -> tuple[Tensor, Tensor]:
    """Gradient-based (LBFGS) ascent on objective(mean, log_var), from q = N(0, I)."""
    mean = torch.zeros(shape, dtype=DTYPE, requires_grad=True)
    log_var = torch.zeros(shape, dtype=DTYPE, requires_grad=True)
    opt = torch.optim.LBFGS(
        [mean, log_var],
        max_iter=500,
        tolerance_grad=1e-12,
        tolerance_change=1e-15,
        line_search_fn="strong_wolfe",
    )

    def closure() -> Tensor:
        opt.zero_grad()
        loss = -objective(mean, log_var).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return mean.detach(), log_var.detach()


def _fit_diagonal_q(
    model: LinearGaussianModel, x: Tensor, elbo_fn: ElboFn
) -> tuple[Tensor, Tensor]:
    """The diagonal q (one per row of x) that maximizes `elbo_fn`: mean, log_var (..., d)."""
    return _maximize(lambda m, lv: elbo_fn(model, x, m, lv), (*x.shape[:-1], model.latent_dim))


def check_elbo_optimum(
    seed: int = 0, samples: int = DEFAULT_SAMPLES, elbo_fn: ElboFn = elbo
) -> list[CheckResult]:
    """Maximizing the ELBO over diagonal q recovers the analytic posterior, and ELBO* = log p(x).

    Uses orthogonal W so p(z|x) is diagonal, i.e. inside q's family.
    """
    model, x = _model(seed, 7, orthogonal=True)
    mean, log_var = _fit_diagonal_q(model, x, elbo_fn)
    post_mean, post_cov = model.posterior(x)
    param_err = max(
        (mean - post_mean).abs().max().item(),
        (log_var.exp() - post_cov.diagonal()).abs().max().item(),
    )
    log_px = model.log_marginal(x)
    gap = (log_px - elbo(model, x, mean, log_var)).abs().max().item()
    return [
        CheckResult.at_most(
            "elbo_argmax_is_posterior", param_err, OPTIMIZER_TOL, logpx_minus_elbo_star=gap
        )
    ]


def check_elbo_perturbation(
    seed: int = 0, samples: int = DEFAULT_SAMPLES, elbo_fn: ElboFn = elbo
) -> list[CheckResult]:
    """At the true posterior the ELBO's gradient vanishes and every perturbation lowers it."""
    model, x = _model(seed, 7, orthogonal=True)
    post_mean, post_cov = model.posterior(x)
    mean = post_mean.clone().requires_grad_(True)
    log_var = post_cov.diagonal().log().expand_as(post_mean).clone().requires_grad_(True)
    best = elbo_fn(model, x, mean, log_var)  # (BATCH,)
    grads = torch.autograd.grad(best.sum(), [mean, log_var])
    grad_max = max(g.abs().max().item() for g in grads)
    gen = _gen(seed, 8)
    n_dirs = 256
    dm, dlv = 0.1 * _randn(gen, n_dirs, *mean.shape), 0.1 * _randn(gen, n_dirs, *mean.shape)
    with torch.no_grad():
        perturbed = elbo_fn(model, x, mean + dm, log_var + dlv)  # (n_dirs, BATCH)
        rise = (perturbed - best).max().item()
    return [
        CheckResult.at_most("elbo_grad_zero_at_posterior", grad_max, EXACT_RTOL),
        CheckResult.at_most("elbo_perturbations_lower", rise, 0.0, n_perturbations=n_dirs),
    ]


def check_mean_field_gap(
    seed: int = 0, samples: int = DEFAULT_SAMPLES, elbo_fn: ElboFn = elbo
) -> list[CheckResult]:
    """With a correlated posterior the best diagonal q has variances 1/Λ_jj and a gap > 0."""
    model, x = _model(seed, 3, orthogonal=False)
    mean, log_var = _fit_diagonal_q(model, x, elbo_fn)
    mf_mean, mf_log_var = model.mean_field_optimum(x)
    param_err = max(
        (mean - mf_mean).abs().max().item(),
        (log_var.exp() - mf_log_var.exp()).abs().max().item(),
    )
    gap = model.kl_to_posterior(x, mean, log_var).min().item()
    return [CheckResult.at_most("mean_field_optimum", param_err, OPTIMIZER_TOL, min_gap_kl=gap)]


# --- (ii) importance-weighted bound ---------------------------------------------------------


def check_importance_weighted_bound(
    seed: int = 0,
    samples: int = DEFAULT_SAMPLES,
    bound_fn: BoundFn = importance_weighted_bound,
) -> list[CheckResult]:
    """E[L_K] rises with K from the ELBO (K=1) towards log p(x), gap ≈ χ²(p(z|x)||q)/(2K).

    q is the posterior shifted by half a standard deviation and 1.5x wider, so its weights have
    finite variance. E[L_K] is estimated from R independent draws of L_K for each K.
    """
    model, x = _model(seed, 9, orthogonal=True)
    x = x[0]
    post_mean, post_cov = model.posterior(x)
    post_var = post_cov.diagonal()
    q_mean = post_mean + 0.5 * post_var.sqrt()
    q_log_var = (1.5 * post_var).log()
    replicates = max(100, samples // 250)
    gen = _gen(seed, 10)
    stats = []
    for k in IWAE_KS:
        draws = bound_fn(  # (R,) independent draws of L_K
            model, x.expand(replicates, -1), q_mean, q_log_var, k, gen
        )
        stats.append(_mc_mean(draws))
    means, ses = [m for m, _ in stats], [s for _, s in stats]
    worst_drop = max(
        (means[i] - means[i + 1]) / math.hypot(ses[i], ses[i + 1]) for i in range(len(means) - 1)
    )
    log_px = model.log_marginal(x).item()
    closed_elbo = elbo(model, x, q_mean, q_log_var).item()
    chi2 = model.importance_weight_chi2(x, q_mean, q_log_var).item()
    k_max = IWAE_KS[-1]
    predicted_gap = chi2 / (2 * k_max)
    gap = log_px - means[-1]
    gaps = {f"gap_{k}": log_px - m for k, m in zip(IWAE_KS, means, strict=True)}
    return [
        CheckResult.at_most(
            "iwae_k1_is_elbo",
            abs(means[0] - closed_elbo),
            MC_Z * ses[0],
            L_1=means[0],
            elbo=closed_elbo,
        ),
        CheckResult.at_most("iwae_rises_with_k", worst_drop, MC_Z, log_px=log_px, **gaps),
        CheckResult.at_most(
            f"iwae_gap_k{k_max}_vs_chi2",
            abs(gap - predicted_gap),
            MC_Z * ses[-1],
            gap=gap,
            predicted=predicted_gap,
            chi2=chi2,
        ),
    ]


# --- (iii) gradient estimators --------------------------------------------------------------


def check_gradient_estimators(
    seed: int = 0,
    samples: int = DEFAULT_SAMPLES,
    reparam_fn: GradFn = reparameterization_gradients,
    score_fn: GradFn = score_function_gradients,
) -> list[CheckResult]:
    """Both estimators of ∇ E_q[Σ(z−c)²] are unbiased; reparameterization has lower variance.

    The exact gradient is ∇_μ = 2(μ − c), ∇_σ = 2σ, since E_q[(z−c)²] = (μ−c)² + σ².
    """
    gen = _gen(seed, 11)
    mean, std, c = _randn(gen, LATENT_DIM), 0.5 + _randn(gen, LATENT_DIM).abs(), _randn(gen, 3)

    def f(z: Tensor) -> Tensor:
        return (z - c).square().sum(dim=-1)  # (n, d) -> (n,)

    exact = torch.cat([2.0 * (mean - c), 2.0 * std])
    rep = reparam_fn(f, mean, std, samples, gen)
    sco = score_fn(f, mean, std, samples, gen)
    # Reported, not checked: cilab's score estimator with the ideal constant baseline E_q[f].
    expected_f = (f(mean[None]) + std.square().sum()).item()
    base = score_function_gradients(f, mean, std, samples, gen, baseline=expected_f)

    def z_max(g: GradientSamples) -> float:
        return ((g.estimate() - exact).abs() / g.stderr()).max().item()

    diff_se = (rep.stderr().square() + sco.stderr().square()).sqrt()
    diff = (rep.estimate() - sco.estimate()).abs() / diff_se
    var_rep, var_sco = rep.variance().sum().item(), sco.variance().sum().item()
    return [
        CheckResult.at_most("grad_reparam_unbiased_z", z_max(rep), MC_Z),
        CheckResult.at_most("grad_score_unbiased_z", z_max(sco), MC_Z),
        CheckResult.at_most("grad_estimators_agree_z", diff.max().item(), MC_Z),
        CheckResult.at_most(
            "grad_var_ratio_reparam/score",
            var_rep / var_sco,
            1.0,
            var_reparam=var_rep,
            var_score=var_sco,
            var_score_baseline=base.variance().sum().item(),
        ),
    ]


CHECKS = (
    check_kl_standard_normal,
    check_kl_diag,
    check_bayes_rule,
    check_elbo_identity,
    check_elbo_monte_carlo,
    check_elbo_optimum,
    check_elbo_perturbation,
    check_mean_field_gap,
    check_importance_weighted_bound,
    check_gradient_estimators,
)


def run_checks(seed: int = 0, samples: int = DEFAULT_SAMPLES) -> list[CheckResult]:
    """Run every check with `samples` Monte Carlo draws each; returns one record per check."""
    if samples < MIN_SAMPLES:
        raise CilabError(f"--samples must be at least {MIN_SAMPLES} for a usable standard error")
    return [result for check in CHECKS for result in check(seed=seed, samples=samples)]


def format_results(results: list[CheckResult], elapsed_s: float | None = None) -> str:
    """A plain-text table, one row per check, then a one-line summary."""
    rows = [("check", "value", "tolerance", "result", "details")]
    for r in results:
        details = " ".join(f"{k}={v:.4g}" for k, v in r.details.items())
        verdict = "PASS" if r.passed else "FAIL"
        rows.append((r.name, f"{r.value:.3e}", f"{r.tolerance:.3e}", verdict, details))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows
    ]
    summary = f"{sum(r.passed for r in results)}/{len(results)} checks passed"
    if elapsed_s is not None:
        summary += f" in {elapsed_s:.1f} s"
    return "\n".join([*lines, summary])


def results_json(
    results: list[CheckResult], elapsed_s: float, seed: int, samples: int
) -> dict[str, Any]:
    """The check table as a JSON-ready dict (`cilab theory check --out FILE.json`)."""
    return {
        "seed": seed,
        "samples": samples,
        "seconds": round(elapsed_s, 3),
        "n_checks": len(results),
        "n_passed": sum(r.passed for r in results),
        "all_passed": all(r.passed for r in results),
        "checks": [asdict(r) for r in results],
    }


def timed_run_checks(
    seed: int = 0, samples: int = DEFAULT_SAMPLES
) -> tuple[list[CheckResult], float]:
    """`run_checks` plus its wall-clock time in seconds."""
    start = time.perf_counter()
    results = run_checks(seed, samples)
    return results, time.perf_counter() - start
