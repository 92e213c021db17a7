"""MNIST and Fashion-MNIST as torch tensors, from a local copy or downloaded once into a cache.

Lookup order (the first folder holding the split's two files wins):
1. `data_dir` when given: `DIR/<dataset>/` or `DIR/` itself. An explicit folder is authoritative,
   so nothing else is searched, and missing files are downloaded into `DIR/<dataset>/`.
2. `$CILAB_DATA/<dataset>/` (the shared development data).
3. For Fashion-MNIST, `/usr/share/datasets/fashion-mnist/` (Debian `dataset-fashion-mnist`).
4. The cache, `$CILAB_CACHE/<dataset>/` (default `~/.cache/cilab/<dataset>/`), where missing files
   are downloaded from public mirrors.

Local copies are accepted as any valid IDX file, gzip-compressed or not: re-compressed copies
(the shared data, Debian's package) differ from the published archives byte for byte while
holding the same pixels. Only downloaded files are checked against the published MD5s, since
that is where a bad mirror or a broken transfer can slip in.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from cilab.core.errors import CilabError, DataError
from cilab.data.download import download_file
from cilab.data.idx import MNIST_IMAGE_SHAPE, read_idx_images, read_idx_labels

DATASETS = ("mnist", "fashion-mnist")
SPLITS = ("train", "test")
NUM_CLASSES = 10

# (images, labels) base names per split; each may be present as NAME.gz or NAME.
FILES: dict[str, tuple[str, str]] = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

# MD5 of the published .gz archives (the values torchvision checks).
MD5: dict[str, dict[str, str]] = {
    "mnist": {
        "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
    },
}

MIRRORS: dict[str, tuple[str, ...]] = {
    "mnist": (
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    ),
    "fashion-mnist": ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
}
MIRROR_ENV = {"mnist": "CILAB_MNIST_MIRROR", "fashion-mnist": "CILAB_FASHION_MNIST_MIRROR"}
SYSTEM_DIRS: dict[str, tuple[Path, ...]] = {
    "fashion-mnist": (Path("/usr/share/datasets/fashion-mnist"),),
}

_FIX = (
    "pass --data-dir DIR or set CILAB_DATA=DIR, where DIR (or DIR/{dataset}) holds the four "
    "IDX files"
)


@dataclass(frozen=True, eq=False)
class ImageSplit:
    """One split: `images` uint8 [N, 28, 28] and `labels` int64 [N].

    Pixels stay uint8 (4x smaller than float32); models convert per batch. eq=False because
    element-wise tensor `==` has no single truth value.
    """

    images: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return int(self.labels.shape[0])


def load_mnist(
    split: Literal["train", "test"],
    dataset: str = "mnist",
    data_dir: str | Path | None = None,
    download: bool = True,
) -> ImageSplit:
    """Load one split of MNIST or Fashion-MNIST, downloading missing files if allowed.

    Raises `DataError` (one line naming the file or folder, and how to fix it) when the files
    are missing, malformed or disagree with each other.
    """
    _check_choice("dataset", dataset, DATASETS)
    _check_choice("split", split, SPLITS)
    folder = find_dataset_dir(dataset, data_dir, split=split)
    missing = [name for name in FILES[split] if _find_file(folder, name) is None]
    if missing:
        _fetch_missing(dataset, data_dir, folder, missing, split, download)
    images_path, labels_path = (_find_file(folder, name) for name in FILES[split])
    assert images_path is not None and labels_path is not None
    return _load_pair(images_path, labels_path)


def find_dataset_dir(
    dataset: str, data_dir: str | Path | None, *, split: str | None = None
) -> Path:
    """The folder to read `dataset` from, following the module's lookup order.

    A folder counts when it holds the files of `split` (all four files when split is None).
    When none does, the folder downloads go to is returned: `data_dir/<dataset>` or the cache.
    """
    _check_choice("dataset", dataset, DATASETS)
    names = [n for s in (SPLITS if split is None else (split,)) for n in FILES[s]]
    for folder in _candidates(dataset, data_dir):
        if all(_find_file(folder, n) is not None for n in names):
            return folder
    return _download_dir(dataset, data_dir)


def cache_dir(dataset: str) -> Path:
    """Where downloads go without `data_dir`: $CILAB_CACHE, else the XDG cache, per dataset."""
    root = os.environ.get("CILAB_CACHE")
    if root:
        return Path(root).expanduser() / dataset
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "cilab" / dataset


def mirrors(dataset: str) -> list[str]:
    """Base URLs to try in order: $CILAB_MNIST_MIRROR / $CILAB_FASHION_MNIST_MIRROR or defaults."""
    override = os.environ.get(MIRROR_ENV[dataset], "")
    urls = [u.strip() for u in override.split(",") if u.strip()]
    return urls or list(MIRRORS[dataset])


def _check_choice(what: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise CilabError(f"unknown {what} {value!r}; choose one of {', '.join(choices)}")


def _candidates(dataset: str, data_dir: str | Path | None) -> list[Path]:
    if data_dir is not None:
        root = Path(data_dir).expanduser()
        # A folder named after the *other* dataset (DIR=.../mnist for fashion-mnist) must not
        # be read as this one: both have the same file names and shapes.
        others = set(DATASETS) - {dataset}
        return [root / dataset] + ([] if root.name in others else [root])
    found = []
    if os.environ.get("CILAB_DATA"):
        found.append(Path(os.environ["CILAB_DATA"]).expanduser() / dataset)
    found.extend(SYSTEM_DIRS.get(dataset, ()))
    found.append(cache_dir(dataset))
    return found


def _download_dir(dataset: str, data_dir: str | Path | None) -> Path:
    if data_dir is not None:
        return Path(data_dir).expanduser() / dataset
    return cache_dir(dataset)


def _find_file(folder: Path, name: str) -> Path | None:
    """`folder/name.gz` or `folder/name` (decompressed), whichever exists, gzip first."""
    for candidate in (folder / f"{name}.gz", folder / name):
        if candidate.is_file():
            return candidate
    return None


def _fetch_missing(
    dataset: str,
    data_dir: str | Path | None,
    folder: Path,
    missing: list[str],
    split: str,
    download: bool,
) -> None:
    """Download the missing files into `folder`, or explain where we looked and how to fix it."""
    looked = ", ".join(str(p) for p in _candidates(dataset, data_dir))
    fix = _FIX.format(dataset=dataset)
    if not download:
        files = ", ".join(f"{n}[.gz]" for n in missing)
        raise DataError(
            folder,
            f"{dataset} {split} files not found ({files}); looked in {looked}; "
            f"download is off; {fix}, or allow downloading",
        )
    for name in missing:
        filename = f"{name}.gz"
        urls = [base.rstrip("/") + "/" + filename for base in mirrors(dataset)]
        try:
            download_file(urls, folder / filename, md5=MD5[dataset][filename])
        except DataError as e:
            raise DataError(
                e.path,
                f"{e.problem}; no local copy in {looked}; {fix}, or set "
                f"{MIRROR_ENV[dataset]} to reachable mirror URLs",
            ) from None


def _load_pair(images_path: Path, labels_path: Path) -> ImageSplit:
    """Read and cross-check one images file and its labels file."""
    images = read_idx_images(images_path, MNIST_IMAGE_SHAPE)
    labels = read_idx_labels(labels_path)
    if len(images) != len(labels):
        raise DataError(
            labels_path,
            f"{len(labels)} labels but {images_path.name} has {len(images)} images",
        )
    if len(labels) and int(labels.max()) >= NUM_CLASSES:
        raise DataError(
            labels_path, f"label {int(labels.max())} found; labels must be 0..{NUM_CLASSES - 1}"
        )
    return ImageSplit(
        images=torch.from_numpy(images),
        labels=torch.from_numpy(labels.astype(np.int64)),
    )
