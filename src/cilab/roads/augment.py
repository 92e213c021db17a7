"""Seeded data augmentation for aerial tiles: crops with scale and rotation, D4, colour.

Every random number comes from the `torch.Generator` passed in (the trainer's per-step stream),
and is drawn for the whole global batch before a process takes its slice, so a resumed or
multi-process run sees exactly the crops an uninterrupted single-process run sees.

One `grid_sample` cuts each crop out of its full image with a random zoom (`scale_range`),
optional free rotation (`rotate`) and position; reflection fills anything outside. Then one of
the eight symmetries of the square (D4: 4 rotations x mirror) is applied exactly (no
interpolation), and a colour jitter (brightness, contrast, saturation, per-channel gain).
Masks go through the same geometry (bilinear, so soft edges stay soft) and no colour change.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class AugmentConfig:
    """What `draw` and `augment` do to a batch; `RoadsTrainConfig.augment_config` makes it."""

    crop: int = 128  # output side, in model pixels
    scale_min: float = 0.8  # zoom factor range (>1 zooms in)
    scale_max: float = 1.25
    rotate: bool = False  # free rotation angle in addition to D4
    d4: bool = True
    colour: float = 1.0  # strength of the colour jitter (0 = none)


def d4(x: torch.Tensor, k: int) -> torch.Tensor:
    """Symmetry k in 0..7 of the square on the last two dims: rotate k % 4 times, then mirror."""
    x = torch.rot90(x, k % 4, dims=(-2, -1))
    return x.flip(-1) if k >= 4 else x


def d4_inverse(x: torch.Tensor, k: int) -> torch.Tensor:
    """Undo `d4(., k)`."""
    if k >= 4:
        x = x.flip(-1)
    return torch.rot90(x, -(k % 4), dims=(-2, -1))


@dataclass
class AugmentDraws:
    """The random numbers of one global batch, [N] or [N, 3] each."""

    scale: torch.Tensor
    angle: torch.Tensor
    cx: torch.Tensor  # crop centre, fraction of the free range
    cy: torch.Tensor
    k: torch.Tensor  # D4 element
    brightness: torch.Tensor
    contrast: torch.Tensor
    saturation: torch.Tensor
    gain: torch.Tensor

    def select(self, s: slice) -> AugmentDraws:
        return AugmentDraws(**{k: v[s] for k, v in self.__dict__.items()})


def draw(n: int, cfg: AugmentConfig, g: torch.Generator) -> AugmentDraws:
    """All random numbers of a global batch of n crops, in a fixed order."""
    dev = g.device

    def u(*shape: int) -> torch.Tensor:
        return torch.rand(shape, generator=g, device=dev)

    log_lo, log_hi = math.log(cfg.scale_min), math.log(cfg.scale_max)
    scale = torch.exp(log_lo + (log_hi - log_lo) * u(n))
    angle = u(n) * 2 * math.pi if cfg.rotate else torch.zeros(n, device=dev)
    cx, cy = u(n), u(n)
    k = torch.randint(0, 8 if cfg.d4 else 1, (n,), generator=g, device=dev)
    c = cfg.colour
    return AugmentDraws(
        scale=scale,
        angle=angle,
        cx=cx,
        cy=cy,
        k=k,
        brightness=(u(n) * 2 - 1) * 0.08 * c,
        contrast=1 + (u(n) * 2 - 1) * 0.2 * c,
        saturation=1 + (u(n) * 2 - 1) * 0.2 * c,
        gain=1 + (u(n, 3) * 2 - 1) * 0.05 * c,
    )


def crop_grid(
    draws: AugmentDraws, crop: int, height: int, width: int, rotate: bool
) -> torch.Tensor:
    """Sampling grids [N, crop, crop, 2] for `F.grid_sample` (align_corners=False)."""
    s, a = draws.scale, draws.angle
    span = crop / s  # side of the source region, in source pixels
    # A rotated square needs sqrt(2) x its side of room to stay inside the image.
    room = span * (math.sqrt(2) if rotate else 1.0)
    cx = room / 2 + draws.cx * (width - room).clamp(min=0)
    cy = room / 2 + draws.cy * (height - room).clamp(min=0)
    cx = torch.where(room > width, torch.full_like(cx, width / 2), cx)
    cy = torch.where(room > height, torch.full_like(cy, height / 2), cy)
    cos, sin = torch.cos(a), torch.sin(a)
    theta = torch.stack(
        [
            torch.stack([span / width * cos, -span / width * sin, 2 * cx / width - 1], -1),
            torch.stack([span / height * sin, span / height * cos, 2 * cy / height - 1], -1),
        ],
        dim=1,
    )  # [N, 2, 3]: output coords in [-1, 1] -> input coords in [-1, 1]
    return F.affine_grid(theta, [len(s), 1, crop, crop], align_corners=False)


def colour_jitter(x: torch.Tensor, draws: AugmentDraws) -> torch.Tensor:
    """Brightness, contrast, saturation and channel gain on [N, 3, H, W] in [0, 1]."""
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    x = (x - mean) * draws.contrast.view(-1, 1, 1, 1) + mean + draws.brightness.view(-1, 1, 1, 1)
    grey = x.mean(dim=1, keepdim=True)
    x = grey + (x - grey) * draws.saturation.view(-1, 1, 1, 1)
    return (x * draws.gain.view(-1, 3, 1, 1)).clamp(0.0, 1.0)


def augment(
    images: torch.Tensor, masks: torch.Tensor, draws: AugmentDraws, cfg: AugmentConfig
) -> tuple[torch.Tensor, torch.Tensor]:
    """Crops of images [N, 3, H, W] and masks [N, 1, H, W] (floats in [0, 1]) by `draws`."""
    h, w = images.shape[-2:]
    grid = crop_grid(draws, cfg.crop, h, w, cfg.rotate)
    both = torch.cat([images, masks], dim=1)
    out = F.grid_sample(both, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    out = torch.stack([d4(o, int(k)) for o, k in zip(out, draws.k.tolist(), strict=True)])
    x, m = out[:, :3], out[:, 3:]
    if cfg.colour > 0:
        x = colour_jitter(x, draws)
    return x.contiguous(), m.contiguous()
