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

# The Gaussian pieces are the ones `cilab theory check` verifies numerically; re-exported here.
from cilab.theory.gaussian import (
    diag_gaussian_log_prob,
    kl_to_standard_normal,
    reparameterize,
    standard_normal_log_prob,
)

__all__ = [
    "LossOutput",
    "bernoulli_log_likelihood",
    "diag_gaussian_log_prob",
    "iw_bound",
    "kl_to_standard_normal",
    "reparameterize",
    "standard_normal_log_prob",
]


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


def iw_bound(log_weights: torch.Tensor) -> torch.Tensor:
    """log (1/K) sum_k w_k from log weights [K, B]; the K-sample importance-weighted bound, [B]."""
    k = log_weights.shape[0]
    return torch.logsumexp(log_weights, dim=0) - math.log(k)
