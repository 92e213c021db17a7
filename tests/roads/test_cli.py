"""Smoke tests of every `cilab roads` command on tiny synthetic tiles."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cilab.cli.main import main
from cilab.roads.patches import read_submission


@pytest.mark.parametrize("model", ["logreg", "patchcnn", "unet"])
def test_train_predict_eval_submit(
    model: str, tiny_roads: Path, tmp_path: Path, tiny_unet_flags: list[str],
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    run, pred = tmp_path / "run", tmp_path / "pred"
    extra = {
        "logreg": ["--features", "extended", "--logreg-c", "1", "--no-balanced"],
        "patchcnn": ["--width", "4", "--scale", "0.5", "--crop", "32", "--batch-size", "4",
                     "--epochs", "2", "--tta", "d4"],
        "unet": tiny_unet_flags,
    }[model]  # fmt: skip
    args = ["roads", "train", "--model", model, "--data-dir", str(tiny_roads), "--out", str(run),
            "--folds", "2", *extra]  # fmt: skip
    assert main(args) == 0
    assert "patch_accuracy" in capsys.readouterr().out
    cv = json.loads((run / "cv.json").read_text())
    assert [f["fold"] for f in cv["per_fold"]] == [0, 1]
    assert set(cv["mean_std"]) == {"patch_accuracy", "patch_f1", "pixel_f1", "pixel_iou"}
    if model == "logreg":  # the easy synthetic roads are learned
        assert cv["pooled"]["patch_accuracy"] > 0.8

    roads = tiny_roads / "roads"
    gt = str(roads / "test_groundtruth")
    assert main(["roads", "predict", str(run), "--images", str(roads / "test_images"),
                 "--out", str(pred), "--groundtruth", gt]) == 0  # fmt: skip
    masks = sorted(p.name for p in pred.glob("*.png"))
    assert masks == ["test_1.png", "test_2.png", "test_3.png"]
    mask = np.asarray(Image.open(pred / "test_1.png"))
    assert mask.shape == (64, 64) and set(np.unique(mask)) <= {0, 255}
    assert Image.open(pred / "overlay/test_1.png").mode == "RGB"

    assert main(["roads", "eval", str(pred), "--groundtruth", str(roads / "test_groundtruth")]) == 0
    metrics = json.loads((pred / "metrics.json").read_text())
    assert set(metrics["per_image"]) == set(masks)
    assert 0 <= metrics["overall"]["patch_accuracy"] <= 1

    assert main(["roads", "submit", str(pred), "--out", str(tmp_path / "s.csv")]) == 0
    labels = read_submission(tmp_path / "s.csv")
    assert sorted(labels) == [1, 2, 3] and labels[1].shape == (4, 4)

    # two worker processes (one thread each) write exactly the masks and overlays of one process
    pred2 = tmp_path / "pred2"
    assert main(["roads", "predict", str(run), "--images", str(roads / "test_images"),
                 "--out", str(pred2), "--groundtruth", gt, "--workers", "2"]) == 0  # fmt: skip
    for name in masks:
        assert (pred2 / name).read_bytes() == (pred / name).read_bytes(), name
        assert (pred2 / "overlay" / name).read_bytes() == (pred / "overlay" / name).read_bytes()
    assert (pred2 / "overlay/montage.png").is_file()


def test_predict_one_fold_and_resume_message(
    tiny_roads: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    base = ["roads", "train", "--model", "logreg", "--data-dir", str(tiny_roads), "--out", str(run),
            "--folds", "2"]  # fmt: skip
    assert main(base) == 0
    assert main([*base, "--resume"]) == 0  # finished folds are skipped; the report is rewritten
    out = tmp_path / "p"
    images = tiny_roads / "roads/test_images"
    assert main(["roads", "predict", str(run), "--images", str(images), "--out", str(out),
                 "--fold", "1", "--no-overlays"]) == 0  # fmt: skip
    assert json.loads((out / "predict.json").read_text())["models"] == [1]
    assert not (out / "overlay").exists()
    assert main(["roads", "rescore", str(run), "--tta-zoom", "1.25"]) == 2  # no traceback
    err = capsys.readouterr().err
    assert "tta-zoom needs the U-Net" in err and err.count("\n") == 1
    for zoom, message in (("1.25", "needs a pixel model"), ("0.5", "must be >= 1")):
        assert main(["roads", "predict", str(run), "--images", str(images), "--out",
                     str(tmp_path / "z"), "--tta-zoom", zoom]) == 2  # fmt: skip
        assert message in capsys.readouterr().err


def test_errors_are_one_line(
    tiny_roads: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["roads", "train", "--model", "logreg", "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("cilab: error: no road-segmentation data") and err.count("\n") == 1
    assert main(["roads", "predict", str(tmp_path), "--images", str(tmp_path), "--out",
                 str(tmp_path / "o")]) == 2  # fmt: skip
    assert "no predictor.json" in capsys.readouterr().err
    assert main(["roads", "eval", str(tmp_path), "--groundtruth", str(tmp_path)]) == 2
    assert "no images" in capsys.readouterr().err
    assert main(["roads", "train", "--model", "unet", "--crop", "30", "--out", str(tmp_path)]) == 2
    assert "multiple of" in capsys.readouterr().err
    assert main(["roads", "train", "--model", "patchcnn", "--tta-zoom", "1.25", "--out",
                 str(tmp_path)]) == 2  # fmt: skip
    assert "tta-zoom needs the U-Net" in capsys.readouterr().err


def test_rescore_equals_training_with_the_new_settings(
    tiny_roads: Path, tmp_path: Path, tiny_unet_flags: list[str]
) -> None:
    """A run re-scored with --tta d4 --tta-zoom 1 writes the cv.json of a run trained so."""
    base = ["roads", "train", "--model", "unet", "--data-dir", str(tiny_roads), "--folds", "2",
            *tiny_unet_flags]  # fmt: skip
    assert "--tta" in base and "--tta-zoom" not in base  # flips at three scales (the default)
    flips, d4 = tmp_path / "flips", tmp_path / "d4"
    assert main([*base, "--out", str(flips)]) == 0
    assert main([*base, "--out", str(d4), "--tta", "d4", "--tta-zoom", "1"]) == 0
    with np.load(flips / "fold_0/oof.npz") as z:
        before = z["probs"]
    assert main(["roads", "rescore", str(flips), "--tta", "d4", "--tta-zoom", "1"]) == 0
    after, want = (json.loads((r / "cv.json").read_text()) for r in (flips, d4))
    for key in ("mean_std", "pooled", "deployed_threshold"):
        assert after[key] == want[key], key
    with np.load(flips / "fold_0/oof.npz") as z, np.load(d4 / "fold_0/oof.npz") as w:
        assert not np.array_equal(z["probs"], before)  # d4 really re-predicted the OOF tiles
        np.testing.assert_array_equal(z["probs"], w["probs"])
        one_scale = z["probs"]
    predictor = json.loads((flips / "predictor.json").read_text())
    assert (predictor["tta"], predictor["tta_zoom"]) == ("d4", 1.0)
    assert json.loads((flips / "config.json").read_text())["tta"] == "d4"
    # the zoom alone also re-predicts
    assert main(["roads", "rescore", str(flips), "--tta-zoom", "1.25"]) == 0
    with np.load(flips / "fold_0/oof.npz") as z:
        assert not np.array_equal(z["probs"], one_scale)
    assert json.loads((flips / "config.json").read_text())["tta_zoom"] == 1.25


def test_rescore_refuses_unfinished_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["roads", "rescore", str(tmp_path), "--tta", "d4"]) == 2
    assert "no cv.json; rescore needs a finished" in capsys.readouterr().err
