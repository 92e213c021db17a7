"""Smoke tests of every `cilab cosmo` command on the tiny simulated set, and their error lines."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from cilab.cli.main import main

from .conftest import REAL_DIR

FAST = ["--folds", "3", "--repeats", "1", "--importance-repeats", "1"]


def test_simulate_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "sim"
    argv = ["cosmo", "simulate", "--out", str(out), "--n-labeled", "6", "--n-scored", "4"]
    assert main([*argv, "--n-query", "3", "--size", "64", "--seed", "1"]) == 0
    assert "wrote 13 images" in capsys.readouterr().out  # 2 ids in both scored and query
    assert len(list((out / "query").glob("*.png"))) == 3
    # a second run into the same folder is a one-line error, not an overwrite
    assert main(argv) == 2
    assert capsys.readouterr().err.strip().endswith("choose a new --out")


def test_validate_sim_command(tiny_data: Path, tmp_path: Path) -> None:
    fig = tmp_path / "v.png"
    real = REAL_DIR if REAL_DIR.is_dir() else tmp_path / "none"
    assert (
        main(["cosmo", "validate-sim", str(tiny_data), "--out", str(fig), "--real-dir", str(real)])
        == 0
    )
    numbers = json.loads(fig.with_suffix(".json").read_text())
    assert fig.stat().st_size > 10_000 and numbers["sim_images"] == 30
    if REAL_DIR.is_dir():
        assert 0 <= numbers["score_ks_distance"] <= 1


def test_classify_command(
    tiny_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "cls"
    argv = ["cosmo", "classify", "--data-dir", str(tiny_data), "--out", str(run), *FAST]
    assert main([*argv, "--cache-dir", str(tmp_path / "cache"), "--no-family-ablation"]) == 0
    assert not (run / "families.csv").exists()  # regress's test covers the ablation
    text = capsys.readouterr().out
    assert "baseline" in text and "gradient_boosting" in text
    for name in (
        "results.csv",
        "results.md",
        "roc_pr.png",
        "importance.png",
        "importance.csv",
        "metrics.json",
    ):
        assert (run / name).is_file(), name
    with open(run / "results.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["model"] for r in rows] == [
        "baseline",
        "logreg",
        "svm",
        "random_forest",
        "gradient_boosting",
    ]
    assert rows[0]["features"] == "10" and all(0 <= float(r["auroc_mean"]) <= 1 for r in rows)
    metrics = json.loads((run / "metrics.json").read_text())
    assert set(metrics["importance"]) <= {"hist10", *metrics["features"]["families"]}


def test_regress_command_writes_a_submission(tiny_data: Path, tmp_path: Path) -> None:
    run = tmp_path / "reg"
    argv = ["cosmo", "regress", "--data-dir", str(tiny_data), "--out", str(run), *FAST]
    cache = ["--cache-dir", str(tmp_path / "cache")]
    assert main([*argv, *cache, "--models", "constant,baseline,ridge", "--no-family-ablation"]) == 0
    with open(run / "submission.csv", newline="") as fh:
        rows = list(csv.reader(fh))
    with open(tiny_data / "query_example.csv", newline="") as fh:
        order = [r[0] for r in list(csv.reader(fh))[1:]]
    assert rows[0] == ["Id", "Predicted"]
    assert [r[0] for r in rows[1:]] == order  # one row per query image, the example's order
    assert all(float(r[1]) >= -1 for r in rows[1:])
    with open(run / "results.csv", newline="") as fh:
        res = {r["model"]: r for r in csv.DictReader(fh)}
    assert set(res) == {"constant", "baseline", "ridge"} and "query_mae" in res["constant"]
    assert not (run / "families.csv").exists()
    # the best model on each family alone (both candidates are cheap to refit 8 x 3 times)
    assert main([*argv, *cache, "--models", "constant,ridge"]) == 0
    with open(run / "families.csv", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["family", "features", "cv_mae"]
    assert [r[0] for r in rows[1:3]] == ["hist10", "finehist"]
    md = (run / "results.md").read_text()
    assert "on one feature family at a time (" in md and "| family | features | CV MAE |" in md


@pytest.mark.parametrize("command", ["classify", "regress"])
def test_missing_data_is_one_line(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["cosmo", command, "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--data-dir" in err
    assert main(["cosmo", command, "--data-dir", str(tmp_path / "x"), "--out", "r"]) == 2
    assert "not found" in capsys.readouterr().err


def test_unknown_model_lists_the_valid_ones(
    tiny_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["cosmo", "classify", "--data-dir", str(tiny_data), "--out", str(tmp_path / "r")]
    assert main([*argv, "--models", "xgboost"]) == 2
    assert "valid: baseline, logreg" in capsys.readouterr().err


def test_extract_command(
    tiny_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import numpy as np

    out = tmp_path / "f.npz"
    argv = ["cosmo", "extract", "--data-dir", str(tiny_data), "--out", str(out)]
    assert main([*argv, "--families", "hist10,moments", "--cache-dir", str(tmp_path / "c")]) == 0
    assert "96 images x 20 features" in capsys.readouterr().out  # each split separately
    with np.load(out) as z:
        assert z["X"].shape == (36 + 48 + 12, 20)
        assert list(np.unique(z["split"])) == ["labeled", "query", "scored"]
        assert list(z["families"][:10]) == ["hist10"] * 10


def test_cli_registration_imports_nothing_heavy() -> None:
    """`cilab --help` must not pay for scikit-learn, scikit-image or SciPy's ndimage."""
    import subprocess
    import sys

    code = (
        "import sys, argparse; from cilab.cli import cosmo; "
        "cosmo.register(argparse.ArgumentParser().add_subparsers()); "
        "print(sorted(m for m in ('sklearn', 'skimage', 'scipy.ndimage') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
