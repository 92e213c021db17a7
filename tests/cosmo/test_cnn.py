"""The cosmology CNN: max-pooled inputs, the network, its trainer, and its rows in classify."""

from __future__ import annotations

import csv
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from cilab.cli.main import main
from cilab.cosmo import cnn as cnn_module
from cilab.cosmo.cnn import CosmoCNN, CosmoCNNTrainer, d4_batch, embed, outputs, predict_proba
from cilab.cosmo.cnn_cv import cnn_results, data_digest, train_split
from cilab.cosmo.config import ClassifyConfig, CNNConfig
from cilab.cosmo.downscale import max_pool, pool_images
from cilab.cosmo.layout import load_layout, read_image

TINY_CNN = dict(epochs=2, batch_size=8, width=2, embed_dim=4, device="cpu", log_every=1)


def _images(n: int = 24, side: int = 16, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Fields of a few bright pixels (label 1) and noise fields (label 0)."""
    rng = np.random.default_rng(seed)
    y = (np.arange(n) % 4 != 0).astype(int)
    x = np.zeros((n, side, side), np.uint8)
    for i in range(n):
        if y[i]:
            x[i, rng.integers(0, side, 3), rng.integers(0, side, 3)] = rng.integers(50, 256, 3)
        else:
            x[i] = rng.integers(0, 40, (side, side))
    return x, y


def test_max_pool_keeps_a_point_source() -> None:
    img = np.zeros((1000, 1000), np.uint8)
    img[517, 333] = 200
    pooled = max_pool(img, 8)
    assert pooled.shape == (125, 125) and pooled.dtype == np.uint8
    assert pooled[517 // 8, 333 // 8] == 200 and pooled.sum() == 200
    mean = img.reshape(125, 8, 125, 8).mean(axis=(1, 3))
    assert mean.max() == pytest.approx(200 / 64)  # averaging would dilute it to ~3 grey levels
    # a side that is no multiple of the factor: the edge block is padded, the corner survives
    odd = np.zeros((130, 130), np.uint8)
    odd[129, 129] = 7
    assert max_pool(odd, 8).shape == (17, 17) and max_pool(odd, 8)[16, 16] == 7


def test_pool_images_streams_and_caches(
    tiny_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = load_layout(tiny_data).require("labeled").paths[:5]
    pooled = pool_images(paths, 8, cache_dir=tmp_path, size=128)
    assert pooled.shape == (5, 16, 16) and pooled.dtype == np.uint8
    assert np.array_equal(pooled[2], max_pool(read_image(paths[2]), 8))
    assert len(list((tmp_path / "maxpool-f8").rglob("*.npz"))) == 5

    def no_decoding(*args: object, **kwargs: object) -> None:
        raise AssertionError("decoded although cached")

    monkeypatch.setattr("cilab.cosmo.downscale.read_image", no_decoding)
    assert np.array_equal(pool_images(paths, 8, cache_dir=tmp_path, size=128), pooled)


def test_network_shapes() -> None:
    model = CosmoCNN(width=4, embed_dim=8)
    x = torch.rand(3, 1, 125, 125)
    assert model(x).shape == (3,) and model.embed(x).shape == (3, 8)
    images, _ = _images(5)
    emb, proba = outputs(model, images)
    assert emb.shape == (5, 8) and proba.shape == (5,) and ((proba > 0) & (proba < 1)).all()
    assert np.array_equal(embed(model, images), emb)
    assert np.array_equal(predict_proba(model, images), proba)
    assert model.training  # outputs() restores the mode it found


def test_d4_batch_is_the_eight_symmetries() -> None:
    x = torch.arange(9, dtype=torch.float32).reshape(1, 1, 3, 3)
    out = d4_batch(x.repeat(8, 1, 1, 1), torch.arange(8))
    assert torch.equal(out[0], x[0]) and torch.equal(out[1], torch.rot90(x[0], 1, (-2, -1)))
    assert torch.equal(out[4], x[0].flip(-1))
    assert len({tuple(o.flatten().tolist()) for o in out}) == 8  # all distinct, same pixels
    assert all(sorted(o.flatten().tolist()) == list(range(9)) for o in out)


def test_one_training_step_changes_the_weights(tmp_path: Path) -> None:
    images, y = _images()
    cfg = CNNConfig(out=str(tmp_path / "run"), max_steps=1, **TINY_CNN)
    trainer = CosmoCNNTrainer(cfg, images, y)
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    result = trainer.fit()
    assert result.status == "max_steps" and result.global_step == 1
    after = trainer.model.state_dict()
    assert not torch.equal(before["embedding.weight"], after["embedding.weight"])
    assert not torch.equal(before["blocks.0.0.weight"], after["blocks.0.0.weight"])
    assert (tmp_path / "run" / "last.pt").is_file()


def test_each_split_trains_on_its_training_images_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sklearn.model_selection import StratifiedKFold

    images, y = _images(24)
    images[:, 0, 0] = np.arange(24)  # every image is told apart by its first pixel
    seen: list[set[int]] = []
    real_init = CosmoCNNTrainer.__init__

    def spy(self: CosmoCNNTrainer, cfg: CNNConfig, imgs: np.ndarray, *args, **kwargs) -> None:
        seen.append(set(imgs[:, 0, 0].tolist()))
        real_init(self, cfg, imgs, *args, **kwargs)

    monkeypatch.setattr(cnn_module.CosmoCNNTrainer, "__init__", spy)
    splits = list(StratifiedKFold(3, shuffle=True, random_state=0).split(images, y))
    cfg = ClassifyConfig(folds=3, repeats=1, cnn_epochs=1, cnn_batch_size=8, cnn_width=2,
                         cnn_embed_dim=4, cnn_device="cpu")  # fmt: skip
    results, info = cnn_results(cfg, images, y, splits, tmp_path)
    assert len(seen) == 3 and info["splits"] == 3
    for (train, test), ids in zip(splits, seen, strict=True):
        assert ids == set(train.tolist()) and not ids & set(test.tolist())
    assert [r.model for r in results] == ["cnn", "cnn-embed+logreg"] * 3
    for r, (_, test) in zip(results[::2], splits, strict=True):
        assert np.array_equal(r.test, test) and r.scores.shape == test.shape


def test_same_seed_same_network_and_exact_resume(tmp_path: Path) -> None:
    images, y = _images()
    train, test = np.arange(0, 24, 2), np.arange(1, 24, 2)
    digest = data_digest(images[train], y[train])
    base = CNNConfig(**{**TINY_CNN, "epochs": 3, "batch_size": 4}, data=digest)  # 3 steps/epoch

    def run(name: str, **changes: object) -> dict[str, np.ndarray]:
        return train_split(
            replace(base, out=str(tmp_path / name), **changes), images, y, train, test
        )

    a, b = run("a"), run("b")
    assert np.array_equal(a["proba"], b["proba"]) and np.array_equal(a["emb_test"], b["emb_test"])
    assert run("c", max_steps=5) == {"status": "max_steps"}  # stopped within the 2nd epoch
    c = run("c")  # resumes from last.pt
    assert np.array_equal(a["proba"], c["proba"]) and np.array_equal(a["emb_train"], c["emb_train"])
    assert len((tmp_path / "c" / "metrics.jsonl").read_text().splitlines()) == 3
    with pytest.raises(Exception, match="other width"):
        run("c", width=3)


def test_classify_cnn_adds_two_rows_on_the_same_splits(
    tiny_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "cls"
    argv = ["cosmo", "classify", "--data-dir", str(tiny_data), "--out", str(run), "--folds", "3",
            "--repeats", "1", "--importance-repeats", "1", "--no-family-ablation", "--models",
            "baseline,logreg", "--cache-dir", str(tmp_path / "cache"), "--cnn", "--cnn-epochs",
            "2", "--cnn-batch-size", "8", "--cnn-width", "4", "--cnn-device", "cpu"]  # fmt: skip
    assert main(argv) == 0
    assert "CNN: 3 splits" in capsys.readouterr().out
    with open(run / "results.csv", newline="") as fh:
        rows = {r["model"]: r for r in csv.DictReader(fh)}
    assert list(rows) == ["baseline", "logreg", "cnn", "cnn-embed+logreg"]
    assert rows["cnn"]["features"] == str(16 * 16) and rows["cnn-embed+logreg"]["features"] == "32"
    assert all(0 <= float(r["auroc_mean"]) <= 1 for r in rows.values())
    with open(run / "oof_scores.csv", newline="") as fh:
        oof = list(csv.DictReader(fh))
    assert len(oof) == 36 and all(r["cnn"] != "nan" for r in oof)  # every image scored once
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["best"] in ("baseline", "logreg") and metrics["cnn"]["epochs"] == 2
    assert "cnn-embed+logreg" in (run / "results.md").read_text()
    folds = sorted(p.name for p in (run / "cnn").iterdir())
    assert folds == ["r0_f0", "r0_f1", "r0_f2"]
    # the same command again reuses the trained splits: identical rows, no training
    stamp = (run / "cnn" / "r0_f0" / "metrics.jsonl").stat().st_mtime_ns
    assert main(argv) == 0
    assert (run / "cnn" / "r0_f0" / "metrics.jsonl").stat().st_mtime_ns == stamp
    with open(run / "results.csv", newline="") as fh:
        again = {r["model"]: r for r in csv.DictReader(fh)}
    assert again == rows
    # other CNN settings into the same folder: a one-line refusal, not a silent mix
    assert main([*argv, "--cnn-width", "6"]) == 2
    assert "other width" in capsys.readouterr().err
