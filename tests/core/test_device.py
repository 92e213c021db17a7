"""`--bf16` "auto": on only where the CPU has bf16 dot-product instructions (or on CUDA)."""

from __future__ import annotations

import itertools

import pytest
import torch

from cilab.core import device as dev
from cilab.core.errors import CilabError


@pytest.mark.parametrize(("amx", "avx512_bf16"), list(itertools.product((False, True), repeat=2)))
def test_bf16_auto_follows_the_cpu(
    monkeypatch: pytest.MonkeyPatch, amx: bool, avx512_bf16: bool
) -> None:
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16)
    cpu = torch.device("cpu")
    fast = amx or avx512_bf16
    assert dev.has_fast_bf16(cpu) is fast
    assert dev.resolve_bf16(None, cpu) is fast  # auto
    assert dev.resolve_bf16(True, cpu) is True and dev.resolve_bf16(False, cpu) is False


def test_bf16_auto_survives_a_torch_without_the_probes(monkeypatch: pytest.MonkeyPatch) -> None:
    """The probes are private to torch: a release without them must mean fp32, not a crash."""
    monkeypatch.delattr(torch.cpu, "_is_amx_tile_supported", raising=False)
    monkeypatch.delattr(torch.cpu, "_is_avx512_bf16_supported", raising=False)
    assert dev.has_fast_bf16(torch.device("cpu")) is False


def test_unknown_or_missing_device_is_a_clear_error() -> None:
    with pytest.raises(CilabError, match="unknown device"):
        dev.resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(CilabError, match="no CUDA GPU"):
            dev.resolve_device("cuda")
