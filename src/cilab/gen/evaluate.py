"""Evaluation of trained likelihood models: ELBO parts, importance-weighted NLL, k-NN accuracy.

Images come as uint8 [N, 28, 28]; for binarized runs they are already sampled to 0/255 (see
`cilab.gen.data`), so evaluation never draws a fresh binarization.

All sums run in bounded memory: images in batches, and the K importance samples of each batch in
chunks whose log-sum-exp is combined at the end, so K = 5000 needs no more memory than K = 50.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from cilab.core.distributed import DistEnv, all_reduce_sum
from cilab.core.progress import progress_bar
from cilab.core.seed import STREAM_EVAL, derived_generator
from cilab.gen.data import to_model_input
from cilab.gen.objectives import (
    bernoulli_log_likelihood,
    diag_gaussian_log_prob,
    standard_normal_log_prob,
)

# Decoded images per chunk of the IW estimate. The exercise decoder's activations are
# 32x28x28 + 64x14x14 floats (138 kB) per image, so 4,096 images keep a chunk near 0.6 GB.
MAX_CHUNK_IMAGES = 4_096


def _eval_input(images_u8: torch.Tensor) -> torch.Tensor:
    # Evaluation sets of binarized runs are stored already sampled (0/255): no fresh draw.
    return to_model_input(images_u8, "none")


@torch.no_grad()
def evaluate_loss(
    model: nn.Module,
    images_u8: torch.Tensor,
    seed: int,
    env: DistEnv | None = None,
    batch_size: int = 1000,
) -> dict[str, float]:
    """Mean training objective and its parts over `images_u8` (this rank's shard, then summed)."""
    env = env or DistEnv()
    was_training = model.training
    model.eval()
    mine = images_u8[env.rank :: env.world_size]
    g = derived_generator(seed, STREAM_EVAL, 100 + env.rank, device=images_u8.device)
    keys: list[str] = []
    sums: torch.Tensor | None = None
    for start in range(0, len(mine), batch_size):
        x = _eval_input(mine[start : start + batch_size])
        shape = model.noise_shape(len(x))
        noise = None if shape is None else torch.randn(shape, generator=g, device=x.device)
        out = model.loss(x, x, noise)
        parts = {"loss": out.loss.detach(), **out.parts}
        keys = sorted(parts)
        batch = torch.stack(
            [parts[k].double() * len(x) for k in keys]
            + [torch.tensor(float(len(x)), dtype=torch.float64, device=x.device)]
        )
        sums = batch if sums is None else sums + batch
    model.train(was_training)
    assert sums is not None, "no images to evaluate"
    sums = all_reduce_sum(sums, env)
    n = sums[-1].item()
    return {k: sums[i].item() / n for i, k in enumerate(keys)}


@torch.no_grad()
def iw_log_likelihood(
    model: nn.Module,
    images_u8: torch.Tensor,
    k: int,
    seed: int,
    batch_size: int = 100,
    progress: bool = False,
) -> torch.Tensor:
    """Importance-weighted estimate of log p(x) per image, K samples from q(z|x) (Burda et al.).

    log p(x) ~= logsumexp_k [log p(x|z_k) + log p(z_k) - log q(z_k|x)] - log K. Returns [N].
    Cost: K decoder passes per image; memory: one chunk of K_chunk x batch logits at a time.
    """
    model.eval()
    g = derived_generator(seed, STREAM_EVAL, 200, device=images_u8.device)
    k_chunk = max(1, min(k, MAX_CHUNK_IMAGES // batch_size))
    out = []
    starts = range(0, len(images_u8), batch_size)
    for start in progress_bar(starts, desc=f"IW NLL (K={k})", unit="batch", show=progress):
        x = _eval_input(images_u8[start : start + batch_size])  # [B, 1, 28, 28]
        mu, logvar = model.encode(x)  # [B, D]
        chunk_lse = []
        for done in range(0, k, k_chunk):
            kc = min(k_chunk, k - done)
            eps = torch.randn((kc, *mu.shape), generator=g, device=x.device)  # [kc, B, D]
            z = model.reparameterize(mu, logvar, eps)
            log_w = (
                bernoulli_log_likelihood(model.decode(z), x)
                + standard_normal_log_prob(z)
                - diag_gaussian_log_prob(z, mu, logvar)
            )  # [kc, B]
            chunk_lse.append(torch.logsumexp(log_w.double(), dim=0))  # [B]
        out.append(torch.logsumexp(torch.stack(chunk_lse), dim=0) - math.log(k))
    return torch.cat(out)


@torch.no_grad()
def embed_all(model: nn.Module, images_u8: torch.Tensor, batch_size: int = 2000) -> np.ndarray:
    """Deterministic latent codes (AE: z, VAE: mu) for every image, as float32 [N, D]."""
    model.eval()
    codes = [
        model.embed(_eval_input(images_u8[s : s + batch_size]))
        for s in range(0, len(images_u8), batch_size)
    ]
    return torch.cat(codes).float().cpu().numpy()


def knn_accuracy(
    train_codes: np.ndarray,
    train_labels: np.ndarray,
    test_codes: np.ndarray,
    test_labels: np.ndarray,
    k: int = 5,
) -> float:
    """Digit accuracy of a k-NN classifier on latent codes: how well the code separates classes."""
    from sklearn.neighbors import KNeighborsClassifier

    clf = KNeighborsClassifier(n_neighbors=k).fit(train_codes, train_labels)
    return float((clf.predict(test_codes) == test_labels).mean())
