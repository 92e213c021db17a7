"""The exercise's convolutional encoder and deconvolutional decoder for 28x28 images.

exercise: Conv(1->32, 3x3, s2) -> ReLU -> Conv(32->64, 3x3, s2) -> ReLU -> Dense
          Dense -> 7x7x32 -> ConvT(->64, s2) -> ReLU -> ConvT(->32, s2) -> ReLU -> ConvT(->1) logits
wide:     the same shape with 2x channels, an extra 3x3 conv per resolution and a 512-unit hidden
          layer, for the likelihood benchmark (--arch wide).
Forward FLOPs of the exercise net: encoder 1.9 M, decoder 9.5 M multiply-adds x2 per image.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from cilab.gen.models.fast_ops import FastConvTranspose2d

Arch = Literal["exercise", "wide"]
ARCHS: tuple[str, ...] = ("exercise", "wide")


def _conv(cin: int, cout: int, stride: int) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, kernel_size=3, stride=stride, padding=1)


def _relu() -> nn.ReLU:
    # In place: the activations are the largest tensors of the step ([B, 32, 28, 28] is 25.7 MB
    # at batch 256) and ReLU is memory-bound; writing over the convolution's output instead of
    # a new buffer saves that traffic. Safe: no layer here needs its output for its backward.
    return nn.ReLU(inplace=True)


def _deconv(cin: int, cout: int) -> nn.ConvTranspose2d:
    # FastConvTranspose2d: the same layer and parameters, a faster CPU kernel (fast_ops.py).
    # stride 2, padding 1, output_padding 1 doubles the size exactly (TF "same").
    return FastConvTranspose2d(cin, cout, kernel_size=3, stride=2, padding=1, output_padding=1)


class ConvEncoder(nn.Module):
    """Maps images [B, 1, 28, 28] to a feature vector, then a dense head to `out_dim` numbers."""

    def __init__(self, out_dim: int, arch: Arch = "exercise") -> None:
        super().__init__()
        if arch == "exercise":
            self.features = nn.Sequential(
                _conv(1, 32, 2), _relu(),  # [B, 32, 14, 14]
                _conv(32, 64, 2), _relu(),  # [B, 64, 7, 7]
                nn.Flatten(),  # [B, 3136]
            )  # fmt: skip
            self.head = nn.Linear(64 * 7 * 7, out_dim)
        elif arch == "wide":
            self.features = nn.Sequential(
                _conv(1, 64, 2), _relu(), _conv(64, 64, 1), _relu(),  # [B, 64, 14, 14]
                _conv(64, 128, 2), _relu(), _conv(128, 128, 1), _relu(),  # [B, 128, 7, 7]
                nn.Flatten(),
                nn.Linear(128 * 7 * 7, 512), _relu(),  # [B, 512]
            )  # fmt: skip
            self.head = nn.Linear(512, out_dim)
        else:
            raise ValueError(f"unknown arch {arch!r}; choose one of {', '.join(ARCHS)}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class ConvDecoder(nn.Module):
    """Maps latent codes [B, D] to Bernoulli logits [B, 1, 28, 28]."""

    def __init__(self, latent_dim: int, arch: Arch = "exercise") -> None:
        super().__init__()
        if arch == "exercise":
            self.stem = nn.Sequential(nn.Linear(latent_dim, 7 * 7 * 32), _relu())
            self.channels = 32
            self.body = nn.Sequential(
                _deconv(32, 64), _relu(),  # [B, 64, 14, 14]
                _deconv(64, 32), _relu(),  # [B, 32, 28, 28]
                FastConvTranspose2d(32, 1, kernel_size=3, stride=1, padding=1),  # [B, 1, 28, 28]
            )  # fmt: skip
        elif arch == "wide":
            self.stem = nn.Sequential(
                nn.Linear(latent_dim, 512), _relu(), nn.Linear(512, 7 * 7 * 128), _relu()
            )
            self.channels = 128
            self.body = nn.Sequential(
                _deconv(128, 128), _relu(), _conv(128, 64, 1), _relu(),  # [B, 64, 14, 14]
                _deconv(64, 64), _relu(), _conv(64, 64, 1), _relu(),  # [B, 64, 28, 28]
                FastConvTranspose2d(64, 1, kernel_size=3, stride=1, padding=1),
            )  # fmt: skip
        else:
            raise ValueError(f"unknown arch {arch!r}; choose one of {', '.join(ARCHS)}")

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.stem(z).view(-1, self.channels, 7, 7)  # [B, C, 7, 7]
        return self.body(h)
