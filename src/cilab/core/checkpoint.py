"""Checkpoints: written atomically, read with `weights_only=True` so a file cannot run code."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import torch

from cilab.core.errors import DataError
from cilab.core.io import save_torch


def save_checkpoint(state: dict[str, Any], path: str | Path) -> None:
    """Save a dict of tensors, state dicts and plain Python values; atomic rename."""
    save_torch(state, path)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint safely; a missing, truncated or foreign file is a one-line DataError."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "checkpoint not found")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise DataError(path, f"not a readable cilab checkpoint ({first[:200]})") from None
    if not isinstance(state, dict) or "model" not in state:
        raise DataError(path, "not a cilab checkpoint (no 'model' entry)")
    return state
