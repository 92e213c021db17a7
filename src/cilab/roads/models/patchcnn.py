"""The course's patch CNN, made fully convolutional.

The course classifies each 16x16 patch with a small CNN that sees a larger window around it.
Sliding that CNN over every patch is the same as one convolutional network whose output stride
is the patch size: each output cell is one patch's logit, and its receptive field is the context
window (here about 100 pixels of the model's input). All patches of an image share the
computation, so training and inference cost a fraction of the window-by-window loop.

Layers: `n_pool` stages of two 3x3 conv-BN-ReLU layers and a 2x2 max-pool (widths `width`,
2x, 4x, 4x ...), then two dilated 3x3 layers at patch resolution that widen the context, then a
1x1 head. `n_pool` = log2(patch size in model pixels), e.g. 4 at full resolution.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from cilab.roads.models.unet import conv_block


@dataclass(frozen=True)
class PatchCNNConfig:
    """Size of a `PatchCNN`; `build_torch_model` makes it from the run's width and depth."""

    width: int = 32
    n_pool: int = 4  # output stride 2**n_pool = the patch size in model-input pixels


class PatchCNN(nn.Module):
    """[B, 3, H, W] in [0, 1] -> [B, 1, ceil(H / s), ceil(W / s)] patch logits, s = 2**n_pool."""

    def __init__(self, cfg: PatchCNNConfig = PatchCNNConfig()) -> None:
        super().__init__()
        if cfg.width < 1 or cfg.n_pool < 1:
            raise ValueError("patchcnn width and n_pool must be >= 1")
        self.cfg = cfg
        widths = [cfg.width * 2 ** min(i, 2) for i in range(cfg.n_pool)]
        stages, c_in = [], 3
        for c in widths:
            stages.append(conv_block(c_in, c))
            c_in = c
        self.stages = nn.ModuleList(stages)
        c = widths[-1]
        self.context = nn.Sequential(
            nn.Conv2d(c, c, 3, padding=2, dilation=2, bias=False),
            nn.BatchNorm2d(c),
            nn.ReLU(inplace=True),
            nn.Conv2d(c, c, 3, padding=4, dilation=4, bias=False),
            nn.BatchNorm2d(c),
            nn.ReLU(inplace=True),
        )
        self.head = nn.Conv2d(c, 1, 1)

    @property
    def stride(self) -> int:
        return 2**self.cfg.n_pool

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = (x - 0.5) / 0.25
        for stage in self.stages:
            x = F.max_pool2d(stage(x), 2)  # [B, C, H / 2^k, W / 2^k]
        return self.context(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        s = self.stride
        ph, pw = (-h) % s, (-w) % s
        if ph or pw:  # partial edge patches: replicate the edge so every patch has a cell
            x = F.pad(x, (0, pw, 0, ph), mode="replicate")
        return self.head(self.forward_features(x))
