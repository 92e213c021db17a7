"""Two unbiased estimators of ∇_{μ,σ} E_{z~N(μ, diag σ²)}[f(z)], and why VAEs use one of them.

Reparameterization (pathwise): write z = μ + σ ε with ε ~ N(0, I); then
    ∇_μ E[f] = E[∇f(z)],   ∇_σ E[f] = E[∇f(z) ⊙ ε].
Score function (REINFORCE): differentiate the density instead of the sample,
    ∇_θ E[f] = E[(f(z) − b) ∇_θ log q(z)],  ∇_μ log q = ε/σ,  ∇_σ log q = (ε² − 1)/σ,
for any constant baseline b. Both have the same mean; the pathwise one uses f's slope and is
usually far less noisy, while the score function needs only values of f (f may be discrete or
non-differentiable). Each function returns one gradient estimate per sample, so callers can
compute means, standard errors and variances from the same draws.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from cilab.core.errors import CilabError

# f maps a batch of latents (n, d) to one value per latent (n,), independently per row.
Objective = Callable[[Tensor], Tensor]


@dataclass(frozen=True)
class GradientSamples:
    """Per-sample estimates of ∇ E_q[f]: one row per draw of ε."""

    grad_mean: Tensor  # (n, d): estimates of ∇_μ
    grad_std: Tensor  # (n, d): estimates of ∇_σ

    @property
    def n(self) -> int:
        return self.grad_mean.shape[0]

    def stacked(self) -> Tensor:
        """(n, 2d): [∇_μ, ∇_σ] side by side, so statistics treat all parameters alike."""
        return torch.cat([self.grad_mean, self.grad_std], dim=-1)

    def estimate(self) -> Tensor:
        """The estimator itself: the average over draws, (2d,)."""
        return self.stacked().mean(dim=0)

    def variance(self) -> Tensor:
        """Per-coordinate variance of a single-draw estimate, (2d,)."""
        return self.stacked().var(dim=0)

    def stderr(self) -> Tensor:
        """Standard error of `estimate()`, (2d,)."""
        return (self.variance() / self.n).sqrt()


def _draw_eps(
    mean: Tensor, std: Tensor, n_samples: int, generator: torch.Generator | None
) -> Tensor:
    if mean.ndim != 1 or mean.shape != std.shape:
        raise CilabError("mean and std must be 1-D tensors of the same length d")
    if n_samples < 2:
        raise CilabError(f"need at least 2 samples to estimate a variance, got {n_samples}")
    if not bool((std > 0).all()):
        raise CilabError("std must be positive")
    return torch.randn(n_samples, mean.shape[0], generator=generator, dtype=mean.dtype)


def reparameterization_gradients(
    f: Objective,
    mean: Tensor,
    std: Tensor,
    n_samples: int,
    generator: torch.Generator | None = None,
) -> GradientSamples:
    """Pathwise estimates: ∇_μ ≈ ∇f(z), ∇_σ ≈ ∇f(z) ⊙ ε with z = μ + σ ε.

    z is a deterministic function of (μ, σ) given ε, so the chain rule applies sample by sample;
    autograd supplies ∇f. Shapes: mean, std (d,) -> GradientSamples with (n, d) fields.
    """
    eps = _draw_eps(mean, std, n_samples, generator)
    z = (mean.detach() + std.detach() * eps).requires_grad_(True)  # (n, d)
    # f acts row by row, so the gradient of the sum is the per-row gradient ∇f(z_i).
    (grad_z,) = torch.autograd.grad(f(z).sum(), z)
    return GradientSamples(grad_mean=grad_z, grad_std=grad_z * eps)


def score_function_gradients(
    f: Objective,
    mean: Tensor,
    std: Tensor,
    n_samples: int,
    generator: torch.Generator | None = None,
    baseline: float = 0.0,
) -> GradientSamples:
    """REINFORCE estimates: (f(z) − b) ∇ log q(z), with ∇_μ log q = ε/σ, ∇_σ log q = (ε²−1)/σ.

    Only values of f are used. A baseline b leaves the mean unchanged (E[∇ log q] = 0) and, close
    to E[f], reduces the variance. Shapes: mean, std (d,) -> GradientSamples with (n, d) fields.
    """
    eps = _draw_eps(mean, std, n_samples, generator)
    with torch.no_grad():
        weight = (f(mean + std * eps) - baseline).unsqueeze(-1)  # (n,) -> (n, 1)
        return GradientSamples(
            grad_mean=weight * eps / std,
            grad_std=weight * (eps.square() - 1.0) / std,
        )
