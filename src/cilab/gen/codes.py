"""Does each value of a DCGAN's categorical code (`--info-codes K`, InfoGAN) draw one digit?

InfoGAN's promise on MNIST is that K = 10 codes become the ten classes without any label. The
check: fix the code, draw fresh noise, let the judging classifier label the samples.
`code_agreement` turns those labels into `code_purity`, the mean share of a code's samples in
its most frequent class (1: every code draws one digit; about 0.1 when the codes mean nothing to
the class), and `code_classes`, how many distinct classes the codes' majorities cover (10: every
digit has its code).

Continuous codes (`--info-continuous C`) sit between the noise and the one-hot
(`continuous_columns`); `sweep_latents` moves one of them along a row of values, InfoGAN's
figure, and `class_kept` says how often the judge's label stays that of the code at 0.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def with_code(z: torch.Tensor, codes: int, code: torch.Tensor) -> torch.Tensor:
    """`z` [N, noise_dim + codes] with its last `codes` columns set to the one-hot of `code`
    [N] (a copy)."""
    out = z.clone()
    out[:, -codes:] = F.one_hot(code.to(z.device), codes).to(z.dtype)
    return out


def code_agreement(labels: np.ndarray) -> tuple[float, int, np.ndarray]:
    """(purity, distinct majority classes, majority class per code) of classifier labels
    [codes, n] (row k: the labels of n samples drawn with code k)."""
    counts = np.stack([np.bincount(row, minlength=10) for row in labels])  # [codes, 10]
    majority = counts.argmax(1)
    purity = float(counts.max(1).sum() / labels.size)
    return purity, len(set(majority.tolist())), majority


def continuous_columns(width: int, codes: int, continuous: int) -> slice:
    """Where the continuous codes sit in a latent of `width` columns: [noise | continuous |
    one-hot of `codes`] (`cilab.gen.models.dcgan.draw_latent`)."""
    return slice(width - codes - continuous, width - codes)


def sweep_latents(
    z: torch.Tensor, codes: int, continuous: int, dim: int, values: torch.Tensor
) -> torch.Tensor:
    """InfoGAN's traversal: each latent of `z` [N, width] repeated for every value of
    `values` [V], its continuous code `dim` set to that value and the other continuous codes to
    0 (their mean) -> [N * V, width], latent by latent (row n of a grid with V columns)."""
    out = z.repeat_interleave(len(values), dim=0)  # [N * V, width]
    cols = continuous_columns(z.shape[1], codes, continuous)
    out[:, cols] = 0.0
    out[:, cols.start + dim] = values.to(z).repeat(len(z))
    return out


def class_kept(labels: np.ndarray, centre: int) -> float:
    """Share of a traversal's labels [N, V] equal to each row's label in column `centre` (the
    code at 0): 1 when moving the continuous code changes how a digit is drawn, never which."""
    return float((labels == labels[:, centre : centre + 1]).mean())
