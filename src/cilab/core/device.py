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


def has_fast_bf16(device: torch.device) -> bool:
    """Whether bf16 autocast runs convolutions faster than fp32 on `device`.

    True for CUDA GPUs with native bf16 and for CPUs with bf16 dot-product instructions: AMX
    tiles (Intel Sapphire Rapids and later; oneDNN's bf16 kernels measured 1.9-3x the fp32 speed
    on cilab's DCGAN and U-Net steps) or AVX512-BF16 (e.g. AMD Zen 4; 1.6-1.7x on the same
    steps, RESULTS.md). Elsewhere bf16 is emulated and slower than fp32, so "auto" keeps fp32.
    """
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    probes = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")  # private in torch 2.x
    return any(bool(getattr(torch.cpu, name, lambda: False)()) for name in probes)


def resolve_bf16(setting: bool | None, device: torch.device) -> bool:
    """An explicit `--bf16/--no-bf16` wins; None ("auto") follows `has_fast_bf16`."""
    return has_fast_bf16(device) if setting is None else setting
