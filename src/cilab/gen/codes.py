"""A DCGAN's InfoGAN codes: does each categorical value draw one digit, and does moving a
continuous code change how the digit is drawn but not which?

InfoGAN's promise on MNIST is that K = 10 codes become the ten classes without any label. The
check: fix the code, draw fresh noise, let the judging classifier label the samples.
`code_agreement` turns those labels into `code_purity`, the mean share of a code's samples in
its most frequent class (1: every code draws one digit; about 0.1 when the codes mean nothing to
the class), and `code_classes`, how many distinct classes the codes' majorities cover (10: every
digit has its code).

Continuous codes (`--info-continuous C`) sit between the noise and the one-hot
(`continuous_columns`); `sweep_latents` moves one of them along a row of values, InfoGAN's
figure, and `class_kept` says how often the judge's label stays that of the code at 0.

`judge_codes` and `judge_continuous` apply both checks to a run for `cilab gen eval`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from cilab.gen.classifier import LoadedClassifier, classify
from cilab.gen.generators import RunGenerator, decode_all

CODE_GRID, CODE_IMAGES = "code_grid.png", 500  # per-code judgement: its figure, samples per code
# Continuous codes: latents swept per code, over InfoGAN's figure's values (past the trained
# [-1, 1], where a code's meaning shows most); the judged ones are those inside [-1, 1].
CONTINUOUS_GRID, CONTINUOUS_ROWS, SWEEP = "continuous_grid.png", 200, torch.linspace(-2, 2, 9)


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


# -- judging a run's codes (`cilab gen eval`) --------------------------------------------------
def judge_codes(
    gen: RunGenerator, codes: int, clf: LoadedClassifier, stream: torch.Generator,
    figures: Path | None, labelled: bool = False,
) -> dict[str, Any]:  # fmt: skip
    """`code_purity`, `code_classes` and `code_digits` (the judge's majority digit of each code,
    which shows how K != 10 codes share the digits out) of `CODE_IMAGES` samples per code
    value, fresh N(0, I) noise each; with `figures` (the run directory) its code_grid.png, the
    first ten samples of each code in a row. When the code is the class label (`labelled`: a
    conditional run) also `label_accuracy`, the share of samples the judge labels as asked."""
    decode = gen.decoder(stream)
    code = torch.arange(codes).repeat_interleave(CODE_IMAGES)  # [codes * CODE_IMAGES]
    images = decode_all(decode, with_code(gen.noise(len(code), stream, 1.0), codes, code))
    probs, _ = classify(clf.model, images)
    labels = probs.argmax(1).reshape(codes, CODE_IMAGES)  # [codes, CODE_IMAGES]
    purity, classes, majority = code_agreement(labels)
    judged = {"code_purity": purity, "code_classes": classes, "code_digits": majority.tolist()}
    if labelled:
        asked = code.numpy().reshape(codes, CODE_IMAGES)
        judged["label_accuracy"] = float((labels == asked).mean())
    if figures is not None:
        from cilab.gen import plots  # matplotlib only when drawing

        rows = images.view(codes, CODE_IMAGES, *images.shape[1:])[:, :10].flatten(0, 1)
        title = code_grid_title(majority, judged.get("label_accuracy"))
        plots.plot_samples(rows, figures / CODE_GRID, nrow=10, title=title)
    return judged


def code_grid_title(majority: np.ndarray, label_accuracy: float | None = None) -> str:
    """code_grid.png's title: what row k was drawn with and what the judge made of it (each
    code's majority digit; for a conditional run, whose code is the label, the share of
    samples drawn as the label asked for)."""
    if label_accuracy is not None:
        return f"row k: label k; judged as asked {label_accuracy:.1%}"
    return "row k: code k; classes " + " ".join(map(str, majority.tolist()))


def judge_continuous(
    gen: RunGenerator, codes: int, continuous: int, clf: LoadedClassifier,
    stream: torch.Generator, figures: Path | None,
) -> dict[str, Any]:  # fmt: skip
    """`continuous_class_kept`, one value per continuous code: over `CONTINUOUS_ROWS` latents
    (code k in row k % codes) swept along that code over [-1, 1], the share of images the judge
    labels as it labels the same latent at 0. With `figures`,
    continuous_grid.png: for each code in turn, ten rows swept over all of `SWEEP`."""
    decode = gen.decoder(stream)
    z = gen.noise(CONTINUOUS_ROWS, stream, 1.0)
    if codes:
        z = with_code(z, codes, torch.arange(CONTINUOUS_ROWS) % codes)
    inside = ((SWEEP >= -1) & (SWEEP <= 1)).nonzero().squeeze(1)  # columns within [-1, 1]
    centre = int((SWEEP[inside] == 0).nonzero())
    kept, shown = [], []
    for dim in range(continuous):
        images = decode_all(decode, sweep_latents(z, codes, continuous, dim, SWEEP))
        probs, _ = classify(clf.model, images)
        labels = probs.argmax(1).reshape(CONTINUOUS_ROWS, len(SWEEP))[:, inside.numpy()]
        kept.append(class_kept(labels, centre))
        shown.append(images[: 10 * len(SWEEP)])  # the first ten rows
    if figures is not None:
        from cilab.gen import plots

        rows = f"\nrow k: code k % {codes}" if codes else ""  # two lines fit nine columns
        title = f"continuous codes 1-{continuous} in turn, -2 to 2{rows}"
        grid = torch.cat(shown)
        plots.plot_samples(grid, figures / CONTINUOUS_GRID, nrow=len(SWEEP), title=title)
    return {"continuous_class_kept": kept}
