"""Fixtures: a RUNS_DIR holding one small fake run of every kind `cilab report` knows.

Files are shaped like the real commands' outputs (same names and keys), with tiny PNGs, so the
report can be built in about a second.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

EVIL = "<script>alert('x')</script>"


def png(path: Path, size: tuple[int, int] = (40, 30), seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(path)
    return path


def gif(path: Path) -> Path:
    frames = [Image.fromarray(np.full((16, 16), v, dtype=np.uint8)) for v in (0, 128, 255)]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)
    return path


def dump(path: Path, obj: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2))
    return path


def jsonl(path: Path, records: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def age(path: Path, hours: float) -> None:
    t = time.time() - hours * 3600
    os.utime(path, (t, t))


def vae_records(n: int) -> list[dict[str, Any]]:
    return [
        {"epoch": e, "step": 10 * e, "time_s": 2.0, "img_per_s": 1000.0 + e,
         "train_loss": 200.0 - e, "val_loss": 190.0 - e, "val_neg_elbo": 190.0 - e,
         "train_kl": 5.0, "val_kl": 5.1, "val_recon": 185.0 - e}
        for e in range(1, n + 1)
    ]  # fmt: skip


def make_runs(root: Path) -> Path:
    """RUNS_DIR with gen, roads, cosmo and theory outputs, plus demo.json."""
    # gen: an evaluated 2-D VAE (meets the -ELBO target), its curves.png newer than the log
    vae = root / "gen" / "vae-2d"
    dump(vae / "config.json", {
        "model": "vae", "latent_dim": 2, "epochs": 3, "binarize": "none", "batch_size": 256,
        "lr": 0.001, "out": "runs/vae-2d", "device": "auto", "data_dir": EVIL, "seed": 0,
    })  # fmt: skip
    jsonl(vae / "metrics.jsonl", vae_records(3))
    dump(vae / "metrics.json", {
        "test_neg_elbo": 138.5, "test_recon": 132.25, "test_kl": 6.25, "test_nll_iw": 135.125,
        "test_nll_iw_sem": 1.5, "iw_samples": 100, "iw_images": 1000, "knn_accuracy": 0.6123,
        "checkpoint": "best", "binarize": "none",
    })  # fmt: skip
    for i, name in enumerate(("latent_scatter", "manifold", "samples", "reconstructions")):
        png(vae / f"{name}.png", seed=i)
    png(vae / "curves.png", (60, 30))
    (vae / "tb").mkdir()
    png(vae / "tb" / "not-a-figure.png")
    # gen: an AE stopped long ago, never evaluated: curves drawn from metrics.jsonl
    ae = root / "gen" / "ae-2d"
    dump(ae / "config.json", {"model": "ae", "latent_dim": 2, "epochs": 10, "out": "runs/ae-2d"})
    jsonl(ae / "metrics.jsonl", [
        {"epoch": e, "step": e, "time_s": 1.0, "train_loss": 180.0 - e, "val_loss": 181.0 - e,
         "val_recon": 181.0 - e} for e in (1, 2)
    ])  # fmt: skip
    for p in (ae / "config.json", ae / "metrics.jsonl"):
        age(p, 5)
    png(root / "gen" / "ae_vs_vae.png", (50, 25))  # `cilab gen compare`'s loose figure
    # gen: an evaluated DCGAN (IS met, fd not met)
    gan = root / "gen" / "dcgan"
    dump(gan / "config.json", {"model": "dcgan", "epochs": 2, "noise_dim": 100, "out": "runs/d"})
    jsonl(gan / "metrics.jsonl", [
        {"epoch": e, "step": e, "train_d_loss": 1.0, "train_g_loss": 0.8,
         "val_classifier_is": 5.0 + e, "val_fd": 100.0 / e} for e in (1, 2)
    ])  # fmt: skip
    dump(gan / "metrics.json", {
        "classifier_is": 9.6125, "fd": 7.5, "fd_real_floor": 2.0, "class_entropy": 2.29,
        "precision": 0.7, "recall": 0.5, "nn_train_distance": 4.5, "classifier": "abc",
        "samples": 10000, "pr_k": 3,
    })  # fmt: skip
    png(gan / "sample_grid.png")
    png(gan / "critic_extremes.png")  # evaluated with --rejection-quantile
    png(gan / "jacobian_extremes.png")  # and with --jacobian-quantile
    gif(gan / "progress.gif")
    png(gan / "samples" / "epoch_001.png")
    png(gan / "samples" / "epoch_002.png")
    # gen: the real test set as reference
    real = root / "gen" / "real-mnist"
    dump(real / "metrics.json", {
        "real": "test set", "dataset": "mnist", "classifier_is": 9.84, "fd": 2.28,
        "fd_real_floor": 2.28, "class_entropy": 2.3008, "precision": 0.888, "recall": 0.867,
    })  # fmt: skip
    png(real / "sample_grid.png")
    # roads: a finished 2-fold CV (accuracy target not met) and its predictions
    cv = root / "roads" / "logreg"
    dump(cv / "config.json", {"model": "logreg", "folds": 2, "epochs": 1, "out": "runs/r"})
    dump(cv / "cv.json", {
        "model": "logreg", "folds": 2, "trained_folds": 2, "n_images": 8,
        "threshold_note": "each fold's metrics use the threshold tuned on the other folds",
        "per_fold": [{"fold": k, "threshold": 0.3, "n_images": 4, "train_seconds": 1.5,
                      "patch_accuracy": 0.91, "patch_f1": 0.86, "pixel_f1": 0.8,
                      "pixel_iou": 0.7} for k in (0, 1)],
        "mean_std": {"patch_accuracy": {"mean": 0.9125, "std": 0.01},
                     "patch_f1": {"mean": 0.8625, "std": 0.02},
                     "pixel_f1": {"mean": 0.8, "std": 0.0}, "pixel_iou": {"mean": 0.7, "std": 0.0}},
        "pooled": {}, "deployed_threshold": 0.3, "train_seconds_total": 3.0,
        "reference_all_background": {"patch_accuracy": 0.7399},
    })  # fmt: skip
    dump(cv / "predictor.json", {"model": "logreg", "folds": [0, 1]})
    for k in (0, 1):
        dump(cv / f"fold_{k}" / "fold.json", {"fold": k, "train_seconds": 1.5})
        dump(cv / f"fold_{k}" / "config.json", {"model": "logreg", "fold": k})
    pred = root / "roads" / "pred"
    dump(pred / "predict.json", {
        "run_dir": "runs/r", "images": "data/test", "n_images": 2, "model": "logreg",
        "folds": [0, 1], "tta": "flips", "patch_threshold": 0.3, "seconds": 4.2,
    })  # fmt: skip
    dump(pred / "metrics.json", {
        "overall": {"patch_accuracy": 0.95, "patch_f1": 0.9}, "groundtruth": "data/gt",
        "n_images": 2,
    })  # fmt: skip
    png(pred / "overlay" / "montage.png", (80, 40))
    png(pred / "overlay" / "a.png")
    png(pred / "a.png")
    # cosmology: a simulation, its validation, a classification and a regression
    sim = root / "cosmo" / "sim"
    dump(sim / "simulation.json", {
        "config": {"n_labeled": 4, "n_scored": 2, "n_query": 2, "size": 64, "seed": 0,
                   "workers": 1, "shared_ids": 0},
        "images": 8, "seconds": 2.0, "cpu_seconds": 1.5,
    })  # fmt: skip
    (sim / "labeled.csv").write_text("Id,Actual\n1000001,1.0\n1000002,0.0\n1000003,1.0\n")
    for i in (1000001, 1000002, 1000003):
        png(sim / "labeled" / f"{i}.png", (64, 64), seed=i)
    dump(root / "cosmo" / "validate.json", {
        "sim_images": 3, "sim_dir": "runs/cosmo/sim", "real_dir": None,
        "sim": {"zero_fraction_median_clean": 0.9976, "n_sources_median": 58.5,
                "n_peak_ge4_median": 27.0, "n_peak_gt100_median": 4.0, "fwhm_median": 3.74,
                "pedestal_share": 0.5},
        "real": {},
    })  # fmt: skip
    png(root / "cosmo" / "validate.png", (70, 40))
    cls = root / "cosmo" / "cls"
    dump(cls / "config.json", {"out": "runs/cls", "folds": 3, "families": "hist10",
                               "importance_repeats": 5, "cnn": False, "workers": 2})  # fmt: skip
    dump(cls / "metrics.json", {
        "task": "classify", "best": "random_forest", "cv": "1× repeated stratified 3-fold CV",
        "results": {
            "baseline": {"accuracy": [0.8, 0.01], "auroc": [0.9441, 0.03], "auprc": [0.98, 0.01],
                         "features": 10},
            "random_forest": {"accuracy": [0.99, 0.0], "auroc": [0.9987, 0.001],
                              "auprc": [0.999, 0.0], "features": 10},
        },
        "seconds": 12.5,
    })  # fmt: skip
    (cls / "results.csv").write_text(
        "model,features,auroc_mean,auroc_std\nbaseline,10,0.9441,0.03\n"
        "random_forest,10,0.9987,0.001\n"
    )
    png(cls / "roc_pr.png")
    png(cls / "importance.png")
    reg = root / "cosmo" / "reg"
    dump(reg / "config.json", {"out": "runs/reg", "families": "hist10", "importance_repeats": 5})
    dump(reg / "metrics.json", {
        "task": "regress", "best": "gradient_boosting", "cv": "1× repeated 3-fold CV",
        "results": {"constant": {"cv_mae": [0.8, 0.01], "features": 10},
                    "gradient_boosting": {"cv_mae": [0.0864, 0.001], "features": 10,
                                          "query_mae": 0.078}},
    })  # fmt: skip
    png(reg / "scatter.png")
    # theory: the demo's checks.json (rows + scalars), and the demo's summary
    dump(root / "theory" / "checks.json", {
        "seconds": 3.7, "seed": 0,
        "checks": [{"name": "kl_closed_form", "value": 1e-16, "tolerance": 1e-12, "passed": True},
                   {"name": "iwae_bound", "value": 0.01, "tolerance": 0.05, "passed": True}],
    })  # fmt: skip
    dump(root / "demo.json", {  # as `cilab demo` writes it (cilab.demo.cache.Ledger)
        "format": 1, "cilab_version": "0.1.0", "out": str(root), "scale": "quick",
        "started": "2026-11-30T10:00:00+00:00", "updated": "2026-11-30T10:02:32+00:00",
        "owned": ["gen/dcgan"],
        "parts": {
            "theory": {"status": "done", "seconds": 3.7, "reused": True, "runs": {
                "checks": {"status": "done", "dir": "theory/checks.json", "seconds": 3.7,
                           "command": "cilab theory check --seed 0 --samples 2000 --out X"}}},
            "gen": {"status": "done", "seconds": 120.0, "runs": {
                "dcgan": {"status": "done", "dir": "gen/dcgan",
                          "command": "cilab gen train --model dcgan --epochs 2 --out D"},
                "dcgan-eval": {"status": "done", "dir": "gen/dcgan",
                               "command": "cilab gen eval D --samples 500"},
                "compare": {"status": "done", "dir": "gen/ae_vs_vae.png",
                            "command": "cilab gen compare A V --out P"}}},
            "roads": {"status": "missing-data", "message": "no roads data in <data>",
                      "runs": {}},
        },
    })  # fmt: skip
    # a data folder of many images: not figures
    for i in range(20):
        png(root / "data" / "images" / f"{i}.png", (8, 8), seed=i)
    return root


@pytest.fixture(scope="module")
def fake_runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_runs(tmp_path_factory.mktemp("runs"))


@pytest.fixture(scope="module")
def built(fake_runs: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The report of `fake_runs`, built once per test module."""
    from cilab.report.build import build_report

    out = tmp_path_factory.mktemp("report") / "report"
    build_report(fake_runs, out)
    return out
