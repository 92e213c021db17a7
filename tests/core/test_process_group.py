"""The process-group backend follows the device a run will really use."""

from __future__ import annotations

import pytest
import torch

from cilab.core.distributed import DistEnv, backend_for, init_distributed
from cilab.core.errors import CilabError


@pytest.mark.parametrize(
    ("device", "cuda", "backend"),
    [
        ("cpu", False, "gloo"),
        ("cpu", True, "gloo"),  # --device cpu on a GPU machine stays on the CPU
        ("auto", False, "gloo"),
        ("auto", True, "cpu:gloo,cuda:nccl"),  # auto picks CUDA, so NCCL (+ gloo for CPU sums)
        ("cuda", True, "cpu:gloo,cuda:nccl"),
    ],
)
def test_backend_follows_the_resolved_device(
    monkeypatch: pytest.MonkeyPatch, device: str, cuda: bool, backend: str
) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    assert backend_for(device) == backend


def test_cuda_without_a_gpu_is_the_device_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(CilabError, match="no CUDA GPU is visible"):
        backend_for("cuda")


def test_one_process_is_a_world_of_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert init_distributed("auto") == DistEnv()
