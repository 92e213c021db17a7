"""Road models by name. Torch models return logits: per pixel (`unet`) or per patch (`patchcnn`).

`logreg` is a scikit-learn pipeline (see `cilab.roads.models.logreg`), not a torch module.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from cilab.core.errors import CilabError
from cilab.roads.models.patchcnn import PatchCNN, PatchCNNConfig
from cilab.roads.models.unet import UNet, UNetConfig

MODEL_NAMES = ("logreg", "patchcnn", "unet")
#: Whether a model's output is one value per patch (True) or per pixel (False).
PATCH_OUTPUT = {"logreg": True, "patchcnn": True, "unet": False}


def _unet(width: int, depth: int) -> nn.Module:
    return UNet(UNetConfig(width=width, depth=depth))


def _patchcnn(width: int, depth: int) -> nn.Module:
    return PatchCNN(PatchCNNConfig(width=width, n_pool=depth))


TORCH_MODELS: dict[str, Callable[[int, int], nn.Module]] = {"unet": _unet, "patchcnn": _patchcnn}


def build_torch_model(name: str, width: int, depth: int) -> nn.Module:
    """A torch road model by name; `depth` is the U-Net's downsamplings or the CNN's pools."""
    if name not in TORCH_MODELS:
        raise CilabError(f"unknown torch model {name!r}; choose one of {', '.join(TORCH_MODELS)}")
    return TORCH_MODELS[name](width, depth)
