"""Diagonal Gaussians in closed form: KL divergences, log densities and reparameterized samples.

A VAE's encoder outputs a mean and a log-variance per latent dimension; everything here takes that
same `(mean, log_var)` pair so the theory checks exercise exactly what a VAE computes. All
functions are batched: the last dimension is the latent dimension `d` and is summed over, any
leading dimensions are kept. Log-variances (not variances) are the parameters because they are
unconstrained, which is what a network can output and what gradient ascent can move freely.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

LOG_2PI = math.log(2.0 * math.pi)


def kl_to_standard_normal(mean: Tensor, log_var: Tensor) -> Tensor:
    """KL(N(mean, diag(exp(log_var))) || N(0, I)) = ½ Σ_j (μ_j² + σ_j² − 1 − log σ_j²).

    This is the VAE's regularizer; it is closed form, so it needs no sampling and has no variance.
    Shapes: mean, log_var (..., d) -> (...).
    """
    return 0.5 * (mean.square() + log_var.exp() - 1.0 - log_var).sum(dim=-1)


def kl_diag_gaussians(
    mean_q: Tensor, log_var_q: Tensor, mean_p: Tensor, log_var_p: Tensor
) -> Tensor:
    """KL(q || p) for two diagonal Gaussians, summed over the last dimension.

    Per dimension: ½ (σ_q²/σ_p² + (μ_q − μ_p)²/σ_p² − 1 + log σ_p² − log σ_q²). With p = N(0, I)
    it reduces to `kl_to_standard_normal`. Shapes broadcast; result drops the last dimension.
    """
    var_ratio = (log_var_q - log_var_p).exp()
    mahalanobis = (mean_q - mean_p).square() / log_var_p.exp()
    return 0.5 * (var_ratio + mahalanobis - 1.0 - (log_var_q - log_var_p)).sum(dim=-1)


def diag_gaussian_log_prob(z: Tensor, mean: Tensor, log_var: Tensor) -> Tensor:
    """log N(z; mean, diag(exp(log_var))), summed over the last dimension (shapes broadcast)."""
    per_dim = -0.5 * (LOG_2PI + log_var + (z - mean).square() / log_var.exp())
    return per_dim.sum(dim=-1)


def standard_normal_log_prob(z: Tensor) -> Tensor:
    """log N(z; 0, I), summed over the last dimension: the VAE prior's log density."""
    return -0.5 * (LOG_2PI + z.square()).sum(dim=-1)


def reparameterize(mean: Tensor, log_var: Tensor, eps: Tensor) -> Tensor:
    """z = g(ε) = μ + σ ⊙ ε with σ = exp(½ log σ²).

    z is a deterministic, differentiable function of (μ, log σ²) once ε ~ N(0, I) is drawn, so
    gradients of any f(z) flow back to the encoder; sampling z directly would block them.
    """
    return mean + (0.5 * log_var).exp() * eps


def sample_diag_gaussian(
    mean: Tensor,
    log_var: Tensor,
    n_samples: int,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Draw `n_samples` reparameterized samples; differentiable w.r.t. mean and log_var.

    Shapes: mean, log_var (..., d) -> (n_samples, ..., d); sample k is `samples[k]`.
    """
    shape = (n_samples, *torch.broadcast_shapes(mean.shape, log_var.shape))
    eps = torch.randn(shape, generator=generator, dtype=mean.dtype, device=mean.device)
    return reparameterize(mean, log_var, eps)
