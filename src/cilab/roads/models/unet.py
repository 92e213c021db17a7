"""A U-Net from scratch (Ronneberger et al. 2015), sized for CPU training.

Encoder: `depth` downsamplings, each two 3x3 conv-BN-ReLU layers, channels `width * 2**level`.
Decoder: 2x2 transposed convolution, concatenation with the skip, two conv-BN-ReLU layers.
Output: road logits, one channel, at the input's resolution. Any input size works: `forward`
pads to a multiple of 2**depth by reflection and crops the output back, so a model trained on
400x400 crops runs on 608x608 test images unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class UNetConfig:
    """Size of a `UNet`; `build_torch_model` makes it from the run's width and depth."""

    width: int = 16  # channels at full resolution
    depth: int = 4  # number of 2x downsamplings


def conv_block(c_in: int, c_out: int) -> nn.Sequential:
    """Two 3x3 conv -> BN -> ReLU layers (the convs need no bias before BN)."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
        nn.Conv2d(c_out, c_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


class UNet(nn.Module):
    """[B, 3, H, W] images in [0, 1] (normalized inside) -> [B, 1, H, W] road logits."""

    def __init__(self, cfg: UNetConfig = UNetConfig()) -> None:
        super().__init__()
        if cfg.width < 1 or cfg.depth < 1:
            raise ValueError("unet width and depth must be >= 1")
        self.cfg = cfg
        ch = [cfg.width * 2**i for i in range(cfg.depth + 1)]
        self.encoder = nn.ModuleList(
            [conv_block(3 if i == 0 else ch[i - 1], ch[i]) for i in range(cfg.depth + 1)]
        )
        self.up = nn.ModuleList(
            [nn.ConvTranspose2d(ch[i + 1], ch[i], 2, stride=2) for i in range(cfg.depth)]
        )
        self.decoder = nn.ModuleList([conv_block(2 * ch[i], ch[i]) for i in range(cfg.depth)])
        self.head = nn.Conv2d(ch[0], 1, 1)

    @property
    def multiple(self) -> int:
        return 2**self.cfg.depth

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Decoder features at full resolution, [B, width, H, W]; H, W multiples of 2**depth."""
        x = (x - 0.5) / 0.25
        skips = []
        for level, block in enumerate(self.encoder):
            x = block(x if level == 0 else F.max_pool2d(x, 2))
            skips.append(x)
        x = skips.pop()  # the bottleneck
        for level in reversed(range(self.cfg.depth)):
            x = self.decoder[level](torch.cat([self.up[level](x), skips[level]], dim=1))
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        m = self.multiple
        ph, pw = (-h) % m, (-w) % m
        if ph or pw:
            x = F.pad(x, (0, pw, 0, ph), mode="reflect" if min(h, w) > max(ph, pw) else "replicate")
        return self.head(self.forward_features(x))[..., :h, :w]
