"""Cross-validation mechanics: folds, training steps and exact resume."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from cilab.core.checkpoint import load_checkpoint
from cilab.core.errors import CilabError
from cilab.roads.train import (
    RoadsTrainConfig,
    RoadsTrainer,
    dice_loss,
    fold_split,
    patch_targets,
    train_roads,
)

TINY = dict(width=4, depth=2, scale=1.0, crop=32, batch_size=4, epochs=2, val_every=1,
            tta="flips", device="cpu", folds=2)  # fmt: skip


def cfg_for(data: Path, out: Path, **kw: object) -> RoadsTrainConfig:
    return RoadsTrainConfig(**{"model": "unet", "data_dir": str(data), "out": str(out), **TINY,
                               **kw})  # type: ignore[arg-type]  # fmt: skip


def test_folds_partition_the_images_and_depend_on_the_seed() -> None:
    parts = fold_split(80, 5, seed=0)
    assert [len(p) for p in parts] == [16] * 5
    assert sorted(np.concatenate(parts).tolist()) == list(range(80))
    assert all(np.array_equal(a, b) for a, b in zip(parts, fold_split(80, 5, 0), strict=True))
    assert not np.array_equal(parts[0], fold_split(80, 5, seed=1)[0])
    with pytest.raises(CilabError, match="at least 5 images"):
        fold_split(4, 5, 0)


def test_losses_and_patch_targets() -> None:
    masks = torch.zeros(1, 1, 32, 32)
    masks[..., :16, :4] = 1.0  # mean 0.25: background
    masks[..., 16:, :5] = 1.0  # mean 0.3125: road
    assert patch_targets(masks, 16, 0.25).flatten().tolist() == [0, 0, 1, 0]
    big = torch.full((1, 1, 4, 4), 30.0)
    assert dice_loss(big, torch.ones(1, 1, 4, 4)).item() == pytest.approx(0, abs=1e-6)
    assert dice_loss(-big, torch.ones(1, 1, 4, 4)).item() == pytest.approx(1, abs=0.1)


def test_config_checks() -> None:
    with pytest.raises(ValueError, match="folds must be"):
        RoadsTrainConfig(folds=1)
    with pytest.raises(ValueError, match="multiple of 2"):
        RoadsTrainConfig(crop=30)
    assert RoadsTrainConfig(model="patchcnn", scale=0.5).depth == 3  # 16 px = 8 model pixels


def test_train_step_changes_weights(tiny_roads: Path, tmp_path: Path) -> None:
    trainer = RoadsTrainer(cfg_for(tiny_roads, tmp_path / "r", fold=0))
    assert len(trainer.train_set) == 5 and len(trainer.val_set) == 5
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    values = trainer.train_step(torch.arange(4))
    assert set(values) == {"loss", "bce", "dice"}
    after = trainer.model.state_dict()
    changed = [k for k in before if "num_batches" not in k and not torch.equal(before[k], after[k])]
    assert len(changed) > len(before) // 2


def test_bf16_step_matches_fp32_to_bf16_accuracy(tiny_roads: Path, tmp_path: Path) -> None:
    """--bf16 autocasts the network only: the same loss up to bf16 rounding, fp32 weights."""
    values = {}
    for bf16 in (False, True):
        trainer = RoadsTrainer(cfg_for(tiny_roads, tmp_path / f"r{bf16}", fold=0, bf16=bf16))
        assert trainer.bf16 is bf16
        values[bf16] = trainer.train_step(torch.arange(4))
        assert all(p.dtype == torch.float32 for p in trainer.model.parameters())
    assert values[True]["loss"] != values[False]["loss"]  # autocast really ran in bf16 ...
    assert values[True]["loss"] == pytest.approx(values[False]["loss"], rel=0.02)  # ... closely


def fold_weights(run: Path, k: int) -> dict[str, torch.Tensor]:
    return load_checkpoint(run / f"fold_{k}/model.pt")["model"]


def test_resume_gives_the_uninterrupted_result(tiny_roads: Path, tmp_path: Path) -> None:
    full = train_roads(cfg_for(tiny_roads, tmp_path / "full"))
    assert full.status == "finished" and full.summary is not None
    part = train_roads(cfg_for(tiny_roads, tmp_path / "part", max_steps=1))
    assert part.status == "max_steps" and not (tmp_path / "part/cv.json").exists()
    with pytest.raises(CilabError, match="already holds a run"):
        train_roads(cfg_for(tiny_roads, tmp_path / "part"))
    rest = train_roads(cfg_for(tiny_roads, tmp_path / "part"), resume=True, typed=set())
    assert rest.status == "finished"
    for k in (0, 1):
        a, b = fold_weights(tmp_path / "full", k), fold_weights(tmp_path / "part", k)
        assert all(torch.equal(a[n], b[n]) for n in a)
    cv_full = json.loads((tmp_path / "full/cv.json").read_text())
    cv_part = json.loads((tmp_path / "part/cv.json").read_text())
    assert cv_full["mean_std"] == cv_part["mean_std"]
    assert len(cv_full["per_fold"]) == 2 and cv_full["n_images"] == 10
    assert 0 < cv_full["reference_all_background"]["patch_accuracy"] < 1
    pred = json.loads((tmp_path / "full/predictor.json").read_text())
    assert pred["folds"] == [0, 1] and pred["model"] == "unet"
    # the U-Net's default deploys a model refit on all images, trained (and resumed) like a fold
    assert pred["deploy"] == "refit"
    a, b = (
        load_checkpoint(r / "refit/model.pt")["model"]
        for r in (tmp_path / "full", tmp_path / "part")
    )
    assert all(torch.equal(a[n], b[n]) for n in a)
    refit = json.loads((tmp_path / "full/refit/fold.json").read_text())
    assert refit["n_train"] == 10 and "val_names" not in refit  # every image, no OOF
    assert not (tmp_path / "full/refit/oof.npz").exists()
    assert cv_full["refit_train_seconds"] == refit["train_seconds"]


def test_predictor_deploys_the_refit_or_the_folds(tiny_roads: Path, tmp_path: Path) -> None:
    from cilab.roads.predict import Predictor

    run = tmp_path / "r"
    train_roads(cfg_for(tiny_roads, run))
    assert Predictor.load(run, device="cpu").info["deployed"] == "refit"
    both = Predictor.load(run, device="cpu", deploy="folds")
    assert both.info["deployed"] == [0, 1] and len(both.models) == 2
    assert Predictor.load(run, device="cpu", folds=[1]).info["deployed"] == [1]
    only_folds = tmp_path / "f"
    train_roads(cfg_for(tiny_roads, only_folds, deploy="folds"))
    assert not (only_folds / "refit").exists()
    with pytest.raises(CilabError, match="no refit model"):
        Predictor.load(only_folds, device="cpu", deploy="refit")
    with pytest.raises(ValueError, match="deploy refit needs a torch model"):
        RoadsTrainConfig(model="logreg", deploy="refit")


def test_runs_older_than_the_refit_resume_as_they_were(tiny_roads: Path, tmp_path: Path) -> None:
    run = tmp_path / "old"
    train_roads(cfg_for(tiny_roads, run, deploy="folds", tta_zoom=1.0, max_steps=1))
    saved = json.loads((run / "config.json").read_text())
    del saved["deploy"], saved["tta_zoom"]  # as written before these options existed
    (run / "config.json").write_text(json.dumps(saved))
    assert train_roads(cfg_for(tiny_roads, run), resume=True, typed=set()).status == "finished"
    pred = json.loads((run / "predictor.json").read_text())
    assert (pred["deploy"], pred["tta_zoom"]) == ("folds", 1.0) and not (run / "refit").exists()


def test_changing_the_model_on_resume_is_refused(tiny_roads: Path, tmp_path: Path) -> None:
    train_roads(cfg_for(tiny_roads, tmp_path / "r", max_steps=1))
    with pytest.raises(CilabError, match="cannot change width"):
        train_roads(cfg_for(tiny_roads, tmp_path / "r", width=8), resume=True, typed={"width"})
