"""Training objectives of the likelihood models, in nats per image.

Bernoulli log-likelihood summed over pixels and averaged over the batch (the exercise's loss),
the closed-form KL of a diagonal Gaussian to N(0, I), and the importance-weighted bound
(Burda et al. 2015). With grey-level targets the Bernoulli "likelihood" is not normalized, so
those numbers must not be compared with binarized-MNIST NLLs (docs/theory.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

LOG_2PI = math.log(2 * math.pi)


@dataclass
class LossOutput:
    """`loss` is what is minimized (a scalar); `parts` are per-image batch means for logging."""

    loss: torch.Tensor
    parts: dict[str, torch.Tensor] = field(default_factory=dict)


def bernoulli_log_likelihood(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """log p(x|z) = sum over pixels of x log p + (1-x) log(1-p); returns one value per image.

    `logits` may carry leading sample dimensions ([K, B, 1, 28, 28]); the result is [K, B].
    """
    target = target.expand_as(logits)
    ll = -F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    return ll.flatten(start_dim=-3).sum(-1)


def kl_diag_gaussian_standard(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, diag(exp logvar)) || N(0, I)) = -1/2 sum(1 + logvar - mu^2 - exp logvar); [B]."""
    return -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(-1)


def log_normal_diag(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log N(z; mu, diag(exp logvar)), summed over the last dimension."""
    return -0.5 * (LOG_2PI + logvar + (z - mu).pow(2) * torch.exp(-logvar)).sum(-1)


def log_standard_normal(z: torch.Tensor) -> torch.Tensor:
    """log N(z; 0, I), summed over the last dimension."""
    return -0.5 * (LOG_2PI + z.pow(2)).sum(-1)


def iw_bound(log_weights: torch.Tensor) -> torch.Tensor:
    """log (1/K) sum_k w_k from log weights [K, B]; the K-sample importance-weighted bound, [B]."""
    k = log_weights.shape[0]
    return torch.logsumexp(log_weights, dim=0) - math.log(k)
