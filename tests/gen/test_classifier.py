"""The judging classifier: interface, augmentation, identity by weights, the cache, training."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from cilab.core.errors import CilabError
from cilab.gen.classifier import (
    ClassifierConfig,
    MnistClassifier,
    NoClassifier,
    classifier_dir,
    classify,
    load_classifier,
    random_shift,
    save_classifier,
    train_classifier,
    weights_id,
)


def test_features_and_head_shapes_and_backward() -> None:
    torch.manual_seed(0)
    model = MnistClassifier()
    x = torch.rand(5, 1, 28, 28)
    feats = model.forward_features(x)
    assert feats.shape == (5, 128) and (feats >= 0).all()  # after ReLU
    logits = model.forward_head(feats)
    assert logits.shape == (5, 10)
    model.eval()
    assert torch.allclose(model(x), model.forward_head(model.forward_features(x)))
    model.train()
    torch.nn.functional.cross_entropy(model(x), torch.arange(5)).backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


def test_classify_accepts_uint8_and_float_and_restores_mode() -> None:
    model = MnistClassifier().train()
    u8 = torch.randint(0, 256, (7, 28, 28), dtype=torch.uint8)
    probs, feats = classify(model, u8, batch_size=3)
    assert probs.shape == (7, 10) and feats.shape == (7, 128)
    assert probs.sum(1) == pytest.approx(1.0)
    probs_f, _ = classify(model, u8.float().div(255).unsqueeze(1))
    assert probs_f == pytest.approx(probs, abs=1e-6)
    assert model.training


def test_random_shift_moves_each_image_by_at_most_m_pixels() -> None:
    x = torch.zeros(64, 1, 9, 9)
    x[:, 0, 4, 4] = 1.0  # a dot in the centre
    out = random_shift(x, 2, torch.Generator().manual_seed(0))
    assert out.shape == x.shape and out.sum() == 64  # the dot never leaves the image
    pos = out[:, 0].flatten(1).argmax(1)
    dy, dx = pos // 9 - 4, pos % 9 - 4
    assert dy.abs().max() == 2 and dx.abs().max() == 2  # all offsets in [-2, 2] are used
    assert len({(a, b) for a, b in zip(dy.tolist(), dx.tolist(), strict=True)}) > 10
    assert torch.equal(random_shift(x, 0, torch.Generator()), x)


def test_weights_id_identifies_the_weights() -> None:
    torch.manual_seed(0)
    a = MnistClassifier()
    b = MnistClassifier()
    b.load_state_dict(a.state_dict())
    assert weights_id(a) == weights_id(b) and len(weights_id(a)) == 16
    with torch.no_grad():
        b.head.bias[0] += 1e-6
    assert weights_id(a) != weights_id(b)


def test_cache_round_trip_default_and_lookup_by_id(tmp_path: Path) -> None:
    with pytest.raises(NoClassifier, match="cilab gen classifier"):
        load_classifier()
    torch.manual_seed(0)
    model = MnistClassifier().eval()
    path = save_classifier(model, "mnist", {"test_accuracy": 0.5})
    assert path.parent == classifier_dir() and path.parent.parent == tmp_path / "cache"
    loaded = load_classifier()
    assert loaded.id == weights_id(model) and path.name == f"mnist-{loaded.id}.pt"
    assert loaded.test_accuracy == 0.5 and not loaded.model.training
    x = torch.rand(3, 1, 28, 28)
    assert torch.equal(loaded.model(x), model(x))
    assert load_classifier(loaded.id[:6]).id == loaded.id
    assert load_classifier(str(path)).id == loaded.id
    with pytest.raises(NoClassifier, match="no mnist classifier matches 'ffff"):
        load_classifier("ffff0000")
    with pytest.raises(NoClassifier):
        load_classifier(dataset="fashion-mnist")


def test_a_file_whose_weights_do_not_match_its_id_is_refused(tmp_path: Path) -> None:
    path = save_classifier(MnistClassifier(), "mnist", {})
    state = torch.load(path, weights_only=True)
    state["model"]["head.bias"] += 1.0
    torch.save(state, path)
    with pytest.raises(CilabError, match="do not match the stored id"):
        load_classifier()


def test_training_learns_the_tiny_digits(tiny_mnist: Path) -> None:
    cfg = ClassifierConfig(data_dir=str(tiny_mnist), epochs=1, batch_size=64, device="cpu")
    result = train_classifier(cfg, progress=False)  # 10 steps
    assert result.test_accuracy > 0.3  # chance is 0.1; the fake classes are easy bars
    assert load_classifier().id == result.id
    assert result.path.exists()
