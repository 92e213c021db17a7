"""Fixtures for every test: an isolated environment and a tiny learnable MNIST look-alike."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import pytest

from cilab.data.idx import encode_idx

# The shared development data, captured before `isolated_env` hides it from the code under test.
SHARED_DATA = os.environ.get("CILAB_DATA")
MNIST_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist (`-n auto` in pyproject.toml) each worker gets its share of the cores:
    torch's default of one thread per core in every worker would oversubscribe them, and
    OpenMP's spinning threads then slow every worker down."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers > 1:
        import torch

        share = max(1, (os.cpu_count() or 1) // workers)
        torch.set_num_threads(share)
        os.environ["OMP_NUM_THREADS"] = str(share)  # for the processes tests start


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test reads the user's data or cache, or tries to reach the internet."""
    monkeypatch.delenv("CILAB_DATA", raising=False)
    monkeypatch.setenv("CILAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("CILAB_MNIST_MIRROR", "http://127.0.0.1:9/")  # nothing listens there
    monkeypatch.setenv("CILAB_FASHION_MNIST_MIRROR", "http://127.0.0.1:9/")


def fake_digits(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Images whose class decides where a bright bar sits, plus noise: learnable in a few steps."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, size=n).astype(np.uint8)
    images = rng.integers(0, 40, size=(n, 28, 28)).astype(np.uint8)
    for i, c in enumerate(labels):
        r = 2 + 2 * int(c)
        images[i, r : r + 4, 4:24] = 200 + rng.integers(0, 55)
    return images, labels


def write_fake_mnist(folder: Path, n_train: int = 640, n_test: int = 200) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for split, n, seed in (("train", n_train, 1), ("test", n_test, 2)):
        for name, arr in zip(MNIST_FILES[split], fake_digits(n, seed), strict=True):
            (folder / name).write_bytes(gzip.compress(encode_idx(arr), mtime=0))
    return folder


@pytest.fixture(scope="session")
def tiny_mnist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data dir with `mnist/` holding 640 train and 200 test fake digits as IDX gzip files."""
    root = tmp_path_factory.mktemp("data")
    write_fake_mnist(root / "mnist")
    return root
