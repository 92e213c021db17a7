"""MNIST tensors for the generative models: splits, binarization and seeded batches.

The whole training set lives on the compute device as uint8 (47 MB for 60,000 images), and a
batch is one index operation: no per-sample Python, no DataLoader workers. Every random draw
(epoch permutation, dynamic binarization, reparameterization noise) comes from a stream derived
from (seed, epoch or step), so a resumed or multi-process run draws exactly the same numbers as
an uninterrupted single-process one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

from cilab.core.errors import CilabError
from cilab.core.seed import STREAM_EVAL, STREAM_SPLIT, STREAM_STATIC, derived_generator
from cilab.data.mnist import load_mnist

Binarize = Literal["none", "dynamic", "static"]
BINARIZE_CHOICES: tuple[str, ...] = ("none", "dynamic", "static")

# Evaluation sets are binarized once with a seed independent of the training seed, so runs with
# different seeds are judged on the same binary test images.
EVAL_BINARIZE_SEED = 20151101


@dataclass
class GenData:
    """uint8 images [N, 28, 28] and int64 labels, already split and placed on `device`."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor


def load_gen_data(
    dataset: str,
    data_dir: str | None,
    val_size: int,
    seed: int,
    device: torch.device,
    binarize: Binarize = "none",
) -> GenData:
    """Load train/test, hold out `val_size` training images (seeded), binarize statically if asked.

    With `static` binarization the stored images are already 0/255; with `dynamic` the training
    batches are sampled afresh in `to_model_input`, and val/test are sampled once with a fixed seed.
    """
    train, test = load_mnist("train", dataset, data_dir), load_mnist("test", dataset, data_dir)
    if val_size >= len(train.labels):
        raise CilabError(
            f"--val-size {val_size} leaves no training images ({dataset} has {len(train.labels)})"
        )
    perm = torch.randperm(len(train.labels), generator=derived_generator(seed, STREAM_SPLIT))
    val_idx, train_idx = perm[:val_size], perm[val_size:]
    train_x, val_x, test_x = train.images[train_idx], train.images[val_idx], test.images
    if binarize == "static":
        train_x = sample_binary(train_x, derived_generator(seed, STREAM_STATIC))
    if binarize in ("static", "dynamic"):
        val_x = sample_binary(val_x, derived_generator(EVAL_BINARIZE_SEED, STREAM_EVAL, 0))
        test_x = sample_binary(test_x, derived_generator(EVAL_BINARIZE_SEED, STREAM_EVAL, 1))
    return GenData(
        train_x.to(device), train.labels[train_idx].to(device),
        val_x.to(device), train.labels[val_idx].to(device),
        test_x.to(device), test.labels.to(device),
    )  # fmt: skip


def sample_binary(images_u8: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """One Bernoulli sample per pixel with p = grey level / 255, stored as 0/255 uint8."""
    p = images_u8.float() / 255.0
    u = torch.rand(p.shape, generator=generator, device=p.device)
    return ((u < p).to(torch.uint8)) * 255


def to_model_input(
    images_u8: torch.Tensor, binarize: Binarize, uniform: torch.Tensor | None = None
) -> torch.Tensor:
    """uint8 [B, 28, 28] -> float [B, 1, 28, 28] in [0, 1]; `dynamic` thresholds fresh uniforms."""
    x = images_u8.unsqueeze(1).float().div_(255.0)  # [B, 1, 28, 28]
    if binarize == "dynamic":
        assert uniform is not None, "dynamic binarization needs uniforms of the batch's shape"
        x = (uniform.view_as(x) < x).float()
    return x
