"""Augmentation: seeded, geometry shared by image and mask, D4 exact and invertible."""

from __future__ import annotations

import torch

from cilab.roads.augment import AugmentConfig, augment, d4, d4_inverse, draw


def batch() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(3, 3, 40, 40, generator=g)
    return x, x[:, :1].clone()  # the mask is the image's first channel


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_same_stream_same_crops_and_slicing_matches_the_global_batch() -> None:
    cfg = AugmentConfig(crop=24, rotate=True)
    x, m = batch()
    a = augment(x, m, draw(3, cfg, gen(5)), cfg)
    b = augment(x, m, draw(3, cfg, gen(5)), cfg)
    assert all(torch.equal(u, v) for u, v in zip(a, b, strict=True))
    c = augment(x, m, draw(3, cfg, gen(6)), cfg)
    assert not torch.equal(a[0], c[0])
    # A process taking samples 1: of the global batch gets exactly those crops.
    part = augment(x[1:], m[1:], draw(3, cfg, gen(5)).select(slice(1, None)), cfg)
    assert torch.allclose(part[0], a[0][1:]) and torch.allclose(part[1], a[1][1:])


def test_image_and_mask_share_the_geometry() -> None:
    cfg = AugmentConfig(crop=24, rotate=True, colour=0.0)
    x, m = batch()
    xa, ma = augment(x, m, draw(3, cfg, gen(1)), cfg)
    assert xa.shape == (3, 3, 24, 24) and ma.shape == (3, 1, 24, 24)
    assert torch.allclose(xa[:, :1], ma, atol=1e-6)


def test_identity_draw_is_an_exact_crop() -> None:
    cfg = AugmentConfig(crop=16, scale_min=1, scale_max=1, rotate=False, d4=False, colour=0)
    x, m = batch()
    d = draw(3, cfg, gen(0))
    d.cx[:] = 0.5
    d.cy[:] = 0.5
    xa, _ = augment(x, m, d, cfg)
    assert torch.allclose(xa, x[:, :, 12:28, 12:28], atol=1e-5)


def test_d4_is_the_group_of_the_square() -> None:
    t = torch.arange(12.0).view(1, 3, 4)
    seen = {tuple(d4(t, k).flatten().tolist()) for k in range(8)}
    assert len(seen) == 8
    for k in range(8):
        assert torch.equal(d4_inverse(d4(t, k), k), t)
