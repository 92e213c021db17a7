"""Fixtures: a tiny synthetic road data set in the competition's layout."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

# Captured before the autouse fixture of tests/conftest.py hides it, for real-data tests.
SHARED_DATA = os.environ.get("CILAB_DATA")


@pytest.fixture(autouse=True)
def one_torch_thread() -> Iterator[None]:
    """Tiny convolutions run fastest on one thread, and 2 threads on busy cores crawl."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def synthetic_tile(size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A green noisy tile with one or two grey roads (bars) and its anti-aliased mask."""
    img = np.empty((size, size, 3), dtype=np.float64)
    img[..., 0] = 70 + rng.normal(0, 12, (size, size))
    img[..., 1] = 110 + rng.normal(0, 12, (size, size))
    img[..., 2] = 60 + rng.normal(0, 12, (size, size))
    mask = np.zeros((size, size), dtype=np.float64)
    for _ in range(int(rng.integers(1, 3))):
        width = int(rng.integers(8, 14))
        start = int(rng.integers(0, size - width))
        if rng.random() < 0.5:
            mask[start : start + width, :] = 1.0
        else:
            mask[:, start : start + width] = 1.0
    road = mask > 0
    img[road] = 150 + rng.normal(0, 8, (int(road.sum()), 3))
    # Anti-aliased edges, as in the real ground truth.
    soft = (mask + np.roll(mask, 1, 0) + np.roll(mask, -1, 0)) / 3
    soft = np.maximum(mask, 0.5 * soft)
    return img.clip(0, 255).astype(np.uint8), (soft * 255).round().astype(np.uint8)


def write_roads(root: Path, n_train: int = 10, n_test: int = 3, size: int = 48) -> Path:
    rng = np.random.default_rng(0)
    for sub in ("training/images", "training/groundtruth", "test_images", "test_groundtruth"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for i in range(1, n_train + 1):
        img, mask = synthetic_tile(size, rng)
        Image.fromarray(img).save(root / f"training/images/satImage_{i:03d}.png")
        Image.fromarray(mask).save(root / f"training/groundtruth/satImage_{i:03d}.png")
    for i in range(1, n_test + 1):  # larger than the training tiles, like 608 vs 400
        img, mask = synthetic_tile(size + 16, rng)
        Image.fromarray(img).save(root / f"test_images/test_{i}.png")
        Image.fromarray(mask).save(root / f"test_groundtruth/test_{i}.png")
    return root


@pytest.fixture(scope="session")
def tiny_roads(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """DIR with `roads/` in the competition layout: 10 training 48x48 tiles, 3 test 64x64."""
    root = tmp_path_factory.mktemp("data")
    write_roads(root / "roads")
    return root


@pytest.fixture(scope="session")
def tiny_unet_flags() -> list[str]:
    """Flags that make a U-Net run take a second or two."""
    return ["--width", "4", "--depth", "2", "--scale", "1", "--crop", "32", "--batch-size", "4",
            "--epochs", "2", "--val-every", "1", "--tta", "flips"]  # fmt: skip
