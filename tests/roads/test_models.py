"""Shapes, gradients and the registry of the torch road models."""

from __future__ import annotations

import pytest
import torch

from cilab.core.errors import CilabError
from cilab.roads.models import build_torch_model
from cilab.roads.models.patchcnn import PatchCNN, PatchCNNConfig
from cilab.roads.models.unet import UNet, UNetConfig


@pytest.mark.parametrize("size", [(32, 32), (40, 56), (76, 76)])
def test_unet_output_matches_any_input_size(size: tuple[int, int]) -> None:
    model = UNet(UNetConfig(width=4, depth=3)).eval()
    x = torch.rand(2, 3, *size)
    assert model(x).shape == (2, 1, *size)


def test_unet_trained_size_and_test_size() -> None:
    """400x400 training tiles and 608x608 test tiles at half resolution (200, 304)."""
    model = UNet(UNetConfig(width=2, depth=4)).eval()
    with torch.inference_mode():
        assert model(torch.rand(1, 3, 200, 200)).shape == (1, 1, 200, 200)
        assert model(torch.rand(1, 3, 304, 304)).shape == (1, 1, 304, 304)


@pytest.mark.parametrize(("n_pool", "size", "grid"), [(4, 48, 3), (3, 24, 3), (4, 40, 3)])
def test_patchcnn_gives_one_logit_per_patch(n_pool: int, size: int, grid: int) -> None:
    model = PatchCNN(PatchCNNConfig(width=4, n_pool=n_pool)).eval()
    assert model(torch.rand(1, 3, size, size)).shape == (1, 1, grid, grid)


@pytest.mark.parametrize("name", ["unet", "patchcnn"])
def test_backward_reaches_every_parameter(name: str) -> None:
    model = build_torch_model(name, 4, 2)
    model(torch.rand(2, 3, 32, 32)).sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())


def test_unknown_model_lists_the_valid_ones() -> None:
    with pytest.raises(CilabError, match="unet, patchcnn"):
        build_torch_model("resnet", 4, 2)
