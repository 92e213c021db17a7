"""The one place randomness is seeded."""

from __future__ import annotations

import random

import numpy as np
import torch

# Stream ids for derived_generator; fixed forever, or old runs would not resume exactly.
STREAM_SPLIT, STREAM_PERM, STREAM_STEP, STREAM_STATIC, STREAM_EVAL = 1, 2, 3, 4, 5


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and PyTorch (CPU and CUDA) so the same seed gives the same numbers."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def derived_generator(
    seed: int, *stream: int, device: str | torch.device = "cpu"
) -> torch.Generator:
    """A generator for one named random stream, e.g. (seed, EPOCH_PERMUTATION, epoch).

    Deriving streams from the seed instead of sharing one global state makes a resumed run draw
    exactly the numbers an uninterrupted run would, without saving RNG state.
    """
    value = seed
    for s in stream:
        value = (value * 1_000_003 + s + 0x9E3779B9) % (2**63 - 1)
    g = torch.Generator(device=device)
    g.manual_seed(value)
    return g
