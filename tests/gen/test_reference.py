"""The real reference is judged once per classifier and data, and the cache changes no number."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from cilab.gen import sample_eval
from cilab.gen.classifier import LoadedClassifier, MnistClassifier, weights_id
from cilab.gen.sample_eval import real_reference, reference_dir
from conftest import write_fake_mnist


def _judge(seed: int) -> LoadedClassifier:
    torch.manual_seed(seed)
    model = MnistClassifier().eval()
    return LoadedClassifier(model, weights_id(model), Path("unused.pt"), None)


def _counting_classify(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real = sample_eval.classify

    def counted(model, images):  # type: ignore[no-untyped-def]
        calls.append(len(images))
        return real(model, images)

    monkeypatch.setattr(sample_eval, "classify", counted)
    return calls


def test_the_second_reference_comes_from_the_cache_unchanged(
    tiny_mnist: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _counting_classify(monkeypatch)
    clf, data = _judge(0), str(tiny_mnist)
    first = real_reference(clf, "mnist", data)
    assert calls == [640, 200]  # the training and test images, judged once
    (path,) = reference_dir().glob(f"mnist-{clf.id}-*.npz")
    second = real_reference(clf, "mnist", data)
    assert calls == [640, 200]  # not again
    for field in ("train_mu", "train_cov", "class_mu", "class_cov", "pr_features",
                  "test_features", "test_predicted", "train_pixels"):  # fmt: skip
        a, b = getattr(first, field), getattr(second, field)
        assert a.dtype == b.dtype and np.array_equal(a, b), field
    assert torch.equal(first.test_images, second.test_images)
    # A torn cache file is judged again and replaced.
    path.write_bytes(path.read_bytes()[:100])
    third = real_reference(clf, "mnist", data)
    assert calls == [640, 200] * 2 and np.array_equal(third.train_cov, first.train_cov)


def test_another_judge_or_other_data_never_reads_the_cache(
    tiny_mnist: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _counting_classify(monkeypatch)
    real_reference(_judge(0), "mnist", str(tiny_mnist))
    other = _judge(1)
    ref = real_reference(other, "mnist", str(tiny_mnist))
    assert len(calls) == 4 and ref.classifier_id == other.id
    write_fake_mnist(tmp_path / "d2" / "mnist", n_train=320)  # other images, same judge
    real_reference(other, "mnist", str(tmp_path / "d2"))
    assert calls[-2:] == [320, 200]
    assert len(list(reference_dir().glob("mnist-*.npz"))) == 3
