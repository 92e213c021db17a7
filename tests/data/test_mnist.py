"""MNIST loading: lookup order, local copies unverified, downloads verified, clear errors."""

from __future__ import annotations

import hashlib
import os
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from cilab.core.errors import CilabError, DataError
from cilab.data import mnist
from cilab.data.idx import encode_idx
from cilab.data.mnist import DATASETS, ImageSplit, find_dataset_dir, load_mnist

from .conftest import SHARED_DATA, LocalServer, gz, truncated, write_dataset


def assert_split_equals(got: ImageSplit, arrays: tuple[np.ndarray, np.ndarray]) -> None:
    images, labels = arrays
    assert got.images.dtype == torch.uint8 and got.images.shape == (len(images), 28, 28)
    assert got.labels.dtype == torch.int64 and got.labels.shape == (len(labels),)
    assert torch.equal(got.images, torch.from_numpy(images))
    assert torch.equal(got.labels, torch.from_numpy(labels.astype(np.int64)))
    assert len(got) == len(labels)


def test_public_constants() -> None:
    assert DATASETS == ("mnist", "fashion-mnist")
    assert set(mnist.MD5) == set(DATASETS) == set(mnist.MIRRORS)


@pytest.mark.parametrize("layout", ["flat", "subfolder"])
@pytest.mark.parametrize("compressed", [True, False])
def test_loads_from_data_dir(tmp_path: Path, layout: str, compressed: bool) -> None:
    root = tmp_path / "data"
    arrays = write_dataset(root / "mnist" if layout == "subfolder" else root, compressed)
    for split in ("train", "test"):
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # e.g. torch's non-writable-array warning
            got = load_mnist(split, data_dir=root, download=False)
        assert_split_equals(got, arrays[split])


def test_data_dir_as_string_with_tilde(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    write_dataset(tmp_path / "d" / "mnist")
    assert len(load_mnist("test", data_dir="~/d", download=False)) == 12


def test_local_files_are_not_checksum_verified(tmp_path: Path) -> None:
    """Re-compressed copies (shared data, Debian) differ from the published archives."""
    write_dataset(tmp_path)
    digest = hashlib.md5((tmp_path / "t10k-images-idx3-ubyte.gz").read_bytes()).hexdigest()
    assert digest != mnist.MD5["mnist"]["t10k-images-idx3-ubyte.gz"]
    assert len(load_mnist("test", data_dir=tmp_path, download=False)) == 12


def test_cilab_data_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_dataset(tmp_path / "shared" / "mnist")
    monkeypatch.setenv("CILAB_DATA", str(tmp_path / "shared"))
    assert find_dataset_dir("mnist", None) == tmp_path / "shared" / "mnist"
    assert len(load_mnist("train")) == 30


def test_data_dir_beats_cilab_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_dataset(tmp_path / "shared" / "mnist", n_test=5)
    write_dataset(tmp_path / "mine" / "mnist", n_test=7)
    monkeypatch.setenv("CILAB_DATA", str(tmp_path / "shared"))
    assert len(load_mnist("test", data_dir=tmp_path / "mine")) == 7


def test_explicit_data_dir_is_authoritative(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A wrong --data-dir is an error, not a silent fallback to other data."""
    write_dataset(tmp_path / "shared" / "mnist")
    monkeypatch.setenv("CILAB_DATA", str(tmp_path / "shared"))
    with pytest.raises(DataError, match="not found"):
        load_mnist("test", data_dir=tmp_path / "typo", download=False)


def test_fashion_lookup_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    debian = tmp_path / "usr-share" / "fashion-mnist"
    monkeypatch.setattr(mnist, "SYSTEM_DIRS", {"fashion-mnist": (debian,)})
    monkeypatch.setenv("CILAB_DATA", str(tmp_path / "shared"))
    write_dataset(tmp_path / "shared" / "mnist")  # MNIST only, like the shared data
    cache = tmp_path / "cache" / "fashion-mnist"
    assert find_dataset_dir("fashion-mnist", None) == cache  # nothing yet: the download target
    write_dataset(debian)
    assert find_dataset_dir("fashion-mnist", None) == debian
    write_dataset(tmp_path / "shared" / "fashion-mnist")
    assert find_dataset_dir("fashion-mnist", None) == tmp_path / "shared" / "fashion-mnist"
    assert find_dataset_dir("mnist", None) == tmp_path / "shared" / "mnist"


def test_mnist_folder_is_not_fashion(tmp_path: Path) -> None:
    """`--data-dir .../mnist` with fashion-mnist must not load the digits."""
    write_dataset(tmp_path / "mnist")
    with pytest.raises(DataError, match="fashion-mnist test files not found"):
        load_mnist("test", "fashion-mnist", data_dir=tmp_path / "mnist", download=False)


def test_split_specific_lookup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "shared" / "mnist"
    write_dataset(folder)
    for name in mnist.FILES["train"]:
        (folder / f"{name}.gz").unlink()
    monkeypatch.setenv("CILAB_DATA", str(tmp_path / "shared"))
    assert len(load_mnist("test", download=False)) == 12
    assert find_dataset_dir("mnist", None) == tmp_path / "cache" / "mnist"  # not all four
    with pytest.raises(DataError, match="mnist train files not found"):
        load_mnist("train", download=False)


def test_cache_dir_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("CILAB_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert mnist.cache_dir("mnist") == tmp_path / "xdg" / "cilab" / "mnist"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert mnist.cache_dir("fashion-mnist") == tmp_path / ".cache" / "cilab" / "fashion-mnist"


def test_mirror_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CILAB_MNIST_MIRROR", " http://a/x/ , ,http://b/")
    assert mnist.mirrors("mnist") == ["http://a/x/", "http://b/"]
    monkeypatch.delenv("CILAB_MNIST_MIRROR")
    monkeypatch.delenv("CILAB_FASHION_MNIST_MIRROR")
    assert mnist.mirrors("mnist")[0] == "https://ossci-datasets.s3.amazonaws.com/mnist/"
    assert mnist.mirrors("mnist")[1] == "http://yann.lecun.com/exdb/mnist/"
    assert mnist.mirrors("fashion-mnist") == [
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
    ]


def test_not_found_message_says_where_and_how(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CILAB_DATA", str(tmp_path / "shared"))
    with pytest.raises(DataError) as info:
        load_mnist("train", download=False)
    message = str(info.value)
    assert "\n" not in message
    assert str(tmp_path / "shared" / "mnist") in message
    assert str(tmp_path / "cache" / "mnist") in message
    assert "--data-dir" in message and "CILAB_DATA" in message
    assert "train-images-idx3-ubyte[.gz]" in message


def test_errors_print_as_one_cli_line(tmp_path: Path, mirror: LocalServer) -> None:
    """The CLI prints `cilab: error: <str(exc)>`; every failure mode must fit on one line."""
    write_dataset(tmp_path / "bad")
    _replace(tmp_path / "bad", "t10k-labels-idx1-ubyte", np.zeros(3, np.uint8))
    mnist.MD5["mnist"]["train-images-idx3-ubyte.gz"] = "0" * 32  # restored by monkeypatch
    attempts = [
        lambda: load_mnist("test", data_dir=tmp_path / "none", download=False),
        lambda: load_mnist("test", data_dir=tmp_path / "bad"),
        lambda: load_mnist("train"),
        lambda: load_mnist("train", "nope"),
    ]
    for attempt in attempts:
        with pytest.raises(CilabError) as info:
            attempt()
        assert len(f"cilab: error: {info.value}".splitlines()) == 1


def test_unknown_dataset_or_split() -> None:
    with pytest.raises(CilabError, match="unknown dataset 'cifar'; choose one of mnist"):
        load_mnist("train", "cifar")
    with pytest.raises(CilabError, match="unknown split 'val'"):
        load_mnist("val")  # type: ignore[arg-type]
    with pytest.raises(CilabError, match="unknown dataset"):
        find_dataset_dir("emnist", None)


# --- inconsistent files -------------------------------------------------------------------


def _replace(folder: Path, name: str, array: np.ndarray) -> None:
    (folder / f"{name}.gz").write_bytes(gz(encode_idx(array)))


def test_count_mismatch(tmp_path: Path) -> None:
    write_dataset(tmp_path)
    _replace(tmp_path, "t10k-labels-idx1-ubyte", np.zeros(11, np.uint8))
    with pytest.raises(DataError) as info:
        load_mnist("test", data_dir=tmp_path)
    assert str(info.value) == (
        f"{tmp_path / 't10k-labels-idx1-ubyte.gz'}: 11 labels but t10k-images-idx3-ubyte.gz "
        "has 12 images"
    )


def test_label_out_of_range(tmp_path: Path) -> None:
    write_dataset(tmp_path)
    _replace(tmp_path, "t10k-labels-idx1-ubyte", np.full(12, 10, np.uint8))
    with pytest.raises(DataError, match=re.escape("label 10 found; labels must be 0..9")):
        load_mnist("test", data_dir=tmp_path)


def test_wrong_image_size(tmp_path: Path) -> None:
    write_dataset(tmp_path)
    _replace(tmp_path, "t10k-images-idx3-ubyte", np.zeros((12, 32, 32), np.uint8))
    with pytest.raises(
        DataError, match=re.escape("t10k-images-idx3-ubyte.gz: items are 32×32, expected 28×28")
    ):
        load_mnist("test", data_dir=tmp_path)


def test_swapped_files(tmp_path: Path) -> None:
    write_dataset(tmp_path)
    img, lbl = (tmp_path / f"{n}.gz" for n in mnist.FILES["test"])
    img.rename(tmp_path / "tmp")
    lbl.rename(img)
    (tmp_path / "tmp").rename(lbl)
    with pytest.raises(DataError, match="swapped"):
        load_mnist("test", data_dir=tmp_path)


def test_truncated_local_gzip(tmp_path: Path) -> None:
    write_dataset(tmp_path)
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(DataError, match=re.escape(f"{path}: gzip stream is truncated")):
        load_mnist("train", data_dir=tmp_path)


# --- downloads ----------------------------------------------------------------------------


@pytest.fixture
def mirror(server: LocalServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> LocalServer:
    """Serve a synthetic dataset at /mnist/ and make its MD5s the 'published' ones."""
    source = tmp_path / "source"
    server.arrays = write_dataset(source)  # type: ignore[attr-defined]
    md5s = {}
    for path in source.iterdir():
        server.routes[f"/mnist/{path.name}"] = path.read_bytes()
        md5s[path.name] = hashlib.md5(path.read_bytes()).hexdigest()
    monkeypatch.setitem(mnist.MD5, "mnist", md5s)
    monkeypatch.setenv("CILAB_MNIST_MIRROR", f"{server.url('/down/')},{server.url('/mnist/')}")
    return server


def test_downloads_into_cache_once(mirror: LocalServer, tmp_path: Path) -> None:
    got = load_mnist("test")
    assert_split_equals(got, mirror.arrays["test"])  # type: ignore[attr-defined]
    cache = tmp_path / "cache" / "mnist"
    assert sorted(p.name for p in cache.iterdir()) == [
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
    ]
    assert mirror.hits == [
        "/down/t10k-images-idx3-ubyte.gz",
        "/mnist/t10k-images-idx3-ubyte.gz",
        "/down/t10k-labels-idx1-ubyte.gz",
        "/mnist/t10k-labels-idx1-ubyte.gz",
    ]
    mirror.hits.clear()
    load_mnist("test")
    assert mirror.hits == []  # the second load is served from the cache


def test_downloads_only_missing_files_into_data_dir(mirror: LocalServer, tmp_path: Path) -> None:
    mine = tmp_path / "mine" / "mnist"
    write_dataset(mine, n_test=12)
    (mine / "t10k-labels-idx1-ubyte.gz").unlink()
    got = load_mnist("test", data_dir=tmp_path / "mine")
    assert len(got) == 12
    assert mirror.hits == ["/down/t10k-labels-idx1-ubyte.gz", "/mnist/t10k-labels-idx1-ubyte.gz"]
    assert (mine / "t10k-labels-idx1-ubyte.gz").is_file()


def test_download_checksum_mismatch(mirror: LocalServer, tmp_path: Path) -> None:
    published = mnist.MD5["mnist"]["t10k-images-idx3-ubyte.gz"]
    mnist.MD5["mnist"]["t10k-images-idx3-ubyte.gz"] = "0" * 32  # restored by monkeypatch
    with pytest.raises(DataError) as info:
        load_mnist("test")
    message = str(info.value)
    assert "\n" not in message
    assert f"md5 checksum mismatch: got {published}, expected {'0' * 32}" in message
    assert "CILAB_MNIST_MIRROR" in message and "--data-dir" in message
    assert list((tmp_path / "cache" / "mnist").iterdir()) == []


def test_download_truncated(mirror: LocalServer, tmp_path: Path) -> None:
    name = "t10k-images-idx3-ubyte.gz"
    mirror.routes[f"/mnist/{name}"] = truncated(mirror.routes[f"/mnist/{name}"])  # type: ignore[arg-type]
    with pytest.raises(DataError, match="transfer truncated"):
        load_mnist("test")
    assert list((tmp_path / "cache" / "mnist").iterdir()) == []


def test_download_off_does_not_touch_network(mirror: LocalServer) -> None:
    with pytest.raises(DataError, match="download is off"):
        load_mnist("test", download=False)
    assert mirror.hits == []


def test_published_checksums_are_torchvisions() -> None:
    assert mnist.MD5["mnist"]["train-images-idx3-ubyte.gz"] == "f68b3c2dcbeaaa9fbdd348bbdeb94873"
    assert mnist.MD5["fashion-mnist"]["t10k-labels-idx1-ubyte.gz"] == (
        "bb300cfdad3c16e7a12a480ee83cd310"
    )
    assert all(len(v) == 32 for d in mnist.MD5.values() for v in d.values())


# --- real data ----------------------------------------------------------------------------


def _shared_mnist() -> Path:
    if not SHARED_DATA or not (Path(SHARED_DATA) / "mnist").is_dir():
        pytest.skip("real MNIST not available: set CILAB_DATA to a folder holding mnist/")
    return Path(SHARED_DATA)


@pytest.mark.parametrize(
    ("split", "n", "first_counts"), [("train", 60000, [5923, 6742]), ("test", 10000, [980, 1135])]
)
def test_real_mnist(split: str, n: int, first_counts: list[int]) -> None:
    got = load_mnist(split, data_dir=_shared_mnist(), download=False)  # type: ignore[arg-type]
    assert got.images.shape == (n, 28, 28) and got.images.dtype == torch.uint8
    assert got.labels.shape == (n,) and got.labels.dtype == torch.int64
    counts = torch.bincount(got.labels, minlength=10)
    assert counts[:2].tolist() == first_counts and int(counts.sum()) == n
    assert int(got.images.max()) == 255 and int(got.images.min()) == 0


def test_real_mnist_via_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CILAB_DATA", str(_shared_mnist()))
    assert len(load_mnist("test", download=False)) == 10000


def test_debian_fashion_mnist(monkeypatch: pytest.MonkeyPatch) -> None:
    debian = Path("/usr/share/datasets/fashion-mnist")
    if not (debian / "t10k-images-idx3-ubyte.gz").is_file():
        if os.environ.get("CI"):  # .ci/run installs the package: missing there is a failure
            pytest.fail("CI: Debian package dataset-fashion-mnist is not installed")
        pytest.skip("Debian package dataset-fashion-mnist not installed")
    monkeypatch.setattr(mnist, "SYSTEM_DIRS", {"fashion-mnist": (debian,)})
    got = load_mnist("test", "fashion-mnist", download=False)
    assert torch.bincount(got.labels).tolist() == [1000] * 10
