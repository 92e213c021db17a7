"""Device selection: CUDA when present, else CPU; the same code runs on both."""

from __future__ import annotations

import torch

from cilab.core.errors import CilabError

DEVICE_CHOICES = ("auto", "cpu", "cuda")


def resolve_device(name: str = "auto", local_rank: int | None = None) -> torch.device:
    """Map `auto|cpu|cuda` to a torch.device; `cuda` without a GPU is a clear error."""
    if name not in DEVICE_CHOICES:
        raise CilabError(f"unknown device {name!r}; choose one of {', '.join(DEVICE_CHOICES)}")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        if not torch.cuda.is_available():
            raise CilabError("--device cuda was asked for but no CUDA GPU is visible")
        return torch.device("cuda", local_rank or 0)
    return torch.device("cpu")
