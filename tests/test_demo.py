"""`cilab demo` on tiny data: every part's outputs, demo.json, reuse, partial reruns, --only."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
import torch

from cilab.cli.main import main
from cilab.demo import SCALES, DemoConfig, Scale, run_demo
from cilab.demo import parts as demo_parts
from cosmo.conftest import TINY as TINY_COSMO
from roads.conftest import write_roads

TINY = Scale(
    name="tiny",
    theory={"seed": 0, "samples": 1000},
    ae={"model": "ae", "epochs": 1, "batch_size": 64, "val_size": 64},
    vae={"model": "vae", "epochs": 1, "batch_size": 64, "val_size": 64},
    likelihood_eval={"iw_samples": 4, "iw_images": 20},
    dcgan={"epochs": 1, "batch_size": 64, "monitor_samples": 0, "checkpoint_every": 0},
    sample_eval={"samples": 50},
    classifier={"epochs": 1, "max_steps": 3, "batch_size": 64},
    roads_logreg={"model": "logreg", "tune": "none", "folds": 2},
    roads_unet={"model": "unet", "folds": 2, "train_folds": 1, "width": 4, "depth": 2,
                "scale": 1.0, "crop": 32, "batch_size": 4, "epochs": 1, "val_every": 1},
    roads_predict={"tta": "none"},
    cosmo_sim=TINY_COSMO,
    cosmo_classify={"folds": 3, "repeats": 1, "importance_repeats": 1, "models": "baseline,logreg"},
    cosmo_regress={"folds": 3, "repeats": 1, "importance_repeats": 1,
                   "models": "constant,baseline,ridge"},
)  # fmt: skip


@pytest.fixture(autouse=True)
def one_torch_thread() -> Any:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def data_root(tiny_mnist: Path, tmp_path: Path) -> Path:
    """mnist/ (the tiny fake digits) and roads/ (tiny synthetic tiles) under one root."""
    root = tmp_path / "data"
    root.mkdir()
    (root / "mnist").symlink_to(tiny_mnist / "mnist")
    write_roads(root / "roads")
    return root


def demo(out: Path, data: Path, scale: Scale = TINY, **kw: Any) -> Any:
    cfg = DemoConfig(out=str(out), scale=scale, data_dir=str(data), device="cpu", workers=1, **kw)
    return run_demo(cfg)


def summary(out: Path) -> dict[str, Any]:
    return json.loads((out / "demo.json").read_text())


def test_every_part_then_reuse_then_one_changed_step(
    data_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    out = tmp_path / "runs"
    result = demo(out, data_root)
    assert result.exit_code == 0, capsys.readouterr()
    s = summary(out)
    assert {p: s["parts"][p]["status"] for p in s["parts"]} == dict.fromkeys(
        ("theory", "gen", "roads", "cosmo"), "done"
    )
    expected = [
        "theory/checks.json",
        "gen/ae-2d/metrics.json", "gen/ae-2d/latent_scatter.png", "gen/vae-2d/metrics.json",
        "gen/vae-2d/sample_grid.png", "gen/ae_vs_vae.png", "gen/dcgan/last.pt",
        "gen/dcgan/progress.gif", "gen/dcgan/metrics.json", "gen/dcgan/curves.png",
        "roads/logreg/cv.json", "roads/unet/cv.json", "roads/unet/test_pred/predict.json",
        "roads/unet/test_pred/overlay/montage.png", "roads/unet/submission.csv",
        "cosmo/sim/simulation.json", "cosmo/validate_sim.png", "cosmo/validate_sim.json",
        "cosmo/features.npz", "cosmo/classify/metrics.json", "cosmo/regress/submission.csv",
    ]  # fmt: skip
    assert [p for p in expected if not (out / p).exists()] == []
    gen = s["parts"]["gen"]
    assert gen["metrics"]["vae-2d"]["test_neg_elbo"] > 0 and "fd" in gen["metrics"]["dcgan"]
    assert "classifier" in gen["runs"]  # the tiny scale trains one, like --full
    ae_cmd = gen["runs"]["ae-2d"]["command"]
    assert ae_cmd.startswith("cilab gen train --model ae ") and " --epochs 1 " in ae_cmd
    for part in s["parts"].values():
        assert part["seconds"] > 0 and len(part["config_hash"]) == 16 and not part["reused"]
        assert all(r["status"] == "done" for r in part["runs"].values())
    theory = json.loads((out / "theory/checks.json").read_text())
    assert theory["all_passed"] and theory["n_checks"] == len(theory["checks"])

    # Rerun: every step is reused; nothing trains again.
    mtimes = {p: (out / p).stat().st_mtime_ns for p in ("gen/vae-2d/last.pt", "gen/dcgan/last.pt",
                                                         "roads/unet/fold_0/last.pt")}  # fmt: skip
    for target in ("cilab.gen.train.train", "cilab.gen.gan_train.train_gan",
                   "cilab.roads.train.train_roads", "cilab.cosmo.simulate.simulate",
                   "cilab.cosmo.validate_sim.validate_sim"):  # fmt: skip
        monkeypatch.setattr(target, _forbidden)
    capsys.readouterr()
    assert demo(out, data_root).exit_code == 0
    printed = capsys.readouterr().out
    assert "-- " not in printed and printed.count("reused") >= 15
    s2 = summary(out)
    assert all(p["reused"] for p in s2["parts"].values())
    assert {p: s2["parts"][p]["config_hash"] for p in s2["parts"]} == {
        p: s["parts"][p]["config_hash"] for p in s["parts"]
    }
    assert mtimes == {p: (out / p).stat().st_mtime_ns for p in mtimes}

    # A changed setting reruns that step (and what depends on it) only.
    changed = dataclasses.replace(TINY, cosmo_regress={**TINY.cosmo_regress, "folds": 2})
    capsys.readouterr()
    assert demo(out, data_root, changed).exit_code == 0
    ran = [line for line in capsys.readouterr().out.splitlines() if line.startswith("-- ")]
    assert len(ran) == 1 and ran[0].startswith("-- cosmo/regress: running"), ran
    s3 = summary(out)
    assert [p for p in s3["parts"] if not s3["parts"][p]["reused"]] == ["cosmo"]
    assert s3["parts"]["cosmo"]["runs"]["regress"]["config"]["folds"] == 2
    assert json.loads((out / "cosmo/regress/config.json").read_text())["folds"] == 2


def _forbidden(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError("a reused step trained again")


def test_only_runs_the_named_parts_and_cli_flags(
    data_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(SCALES, "quick", TINY)
    out = tmp_path / "runs"
    argv = ["demo", "--out", str(out), "--only", "theory", "--data-dir", str(data_root)]
    assert main(argv) == 0
    s = summary(out)
    assert s["parts"]["theory"]["status"] == "done"
    assert {s["parts"][p]["status"] for p in ("gen", "roads", "cosmo")} == {"skipped"}
    assert sorted(p.name for p in out.iterdir()) == ["demo.json", "theory"]
    assert main(["demo", "--out", str(out), "--only", "nope"]) == 2
    assert main(["demo", "--out", str(out), "--only", "theory", "--skip", "theory"]) == 2


def test_missing_road_data_is_explained_and_the_demo_goes_on(
    tiny_mnist: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.setitem(demo_parts.PART_FUNCTIONS, "theory", lambda ctx: {"stub": True})
    out = tmp_path / "runs"
    argv = ["demo", "--out", str(out), "--only", "theory,roads", "--data-dir", str(tiny_mnist)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    for piece in ("roads/training/images/*.png", "roads/training/groundtruth/*.png",
                  "roads/test_images/test_N.png"):  # fmt: skip
        assert f"{tiny_mnist}/{piece}" in printed
    s = summary(out)
    assert s["parts"]["roads"]["status"] == "missing-data"
    assert "training/groundtruth" in s["parts"]["roads"]["message"]
    assert s["parts"]["theory"]["status"] == "done"


def test_a_foreign_directory_is_never_overwritten(data_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "runs"
    (out / "theory").mkdir(parents=True)
    (out / "theory/checks.json").write_text("{}")
    result = demo(out, data_root, parts=("theory",))
    assert result.statuses == {"theory": "failed"}
    assert (out / "theory/checks.json").read_text() == "{}"


def test_an_interrupted_demo_resumes_and_without_a_classifier_skips_sample_metrics(
    tiny_mnist: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    import cilab.gen.train as gen_train
    from cilab.core.loop import TrainResult

    real_train = gen_train.train
    calls: list[bool] = []

    def stopped_early(cfg: Any, resume: bool = False, typed: Any = None) -> TrainResult:
        """Train 2 steps, then report a Ctrl-C, as the trainer does."""
        calls.append(resume)
        r = real_train(dataclasses.replace(cfg, max_steps=2), resume=resume, typed=typed)
        return dataclasses.replace(r, status="interrupted")

    def resumed(cfg: Any, resume: bool = False, typed: Any = None) -> TrainResult:
        calls.append(resume)
        return real_train(cfg, resume=resume, typed=typed)

    no_classifier = dataclasses.replace(TINY, classifier=None)
    out = tmp_path / "runs"
    monkeypatch.setattr(gen_train, "train", stopped_early)
    result = demo(out, tiny_mnist, no_classifier, parts=("gen",))
    assert result.exit_code == 130 and result.statuses == {"gen": "interrupted"}
    gen = summary(out)["parts"]["gen"]
    assert gen["status"] == "interrupted" and gen["runs"]["ae-2d"]["status"] == "running"

    monkeypatch.setattr(gen_train, "train", resumed)
    capsys.readouterr()
    assert demo(out, tiny_mnist, no_classifier, parts=("gen",)).exit_code == 0
    captured = capsys.readouterr()
    assert "-- gen/ae-2d: resuming" in captured.out and calls == [False, True, False]
    assert [r["epoch"] for r in map(json.loads, (out / "gen/ae-2d/metrics.jsonl").open())] == [1]
    assert "sample metrics (IS, FD, precision/recall) are skipped" in captured.err
    gen = summary(out)["parts"]["gen"]
    assert gen["status"] == "done" and "classifier" not in gen["runs"]
    assert gen["metrics"]["dcgan"]["sample_metrics"].startswith("skipped")
    assert (out / "gen/dcgan/curves.png").exists() and "fd" not in gen["metrics"]["vae-2d"]
