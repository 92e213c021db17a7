"""Smoke tests of every command on tiny synthetic data, and of the one-line error contract."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from cilab.cli.main import build_parser, main


def all_commands(
    parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()
) -> list[tuple[str, ...]]:
    found = [prefix]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found += all_commands(sub, (*prefix, name))
    return found


@pytest.mark.parametrize("command", all_commands(build_parser()), ids=" ".join)
def test_every_command_has_help(
    command: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([*command, "--help"])
    assert exit_info.value.code == 0
    assert "usage: cilab" in capsys.readouterr().out


def test_flags_are_kebab_case() -> None:
    for command in all_commands(build_parser()):
        parser = build_parser()
        for name in command:
            sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
            parser = sub.choices[name]
        for action in parser._actions:
            for flag in action.option_strings:
                assert "_" not in flag and flag == flag.lower(), (command, flag)


def test_gen_train_eval_compare(
    tiny_mnist: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runs = {}
    for model in ("ae", "vae"):
        out = tmp_path / model
        args = ["gen", "train", "--model", model, "--data-dir", str(tiny_mnist), "--out", str(out),
                "--epochs", "2", "--batch-size", "64", "--val-size", "64"]  # fmt: skip
        assert main(args) == 0
        assert main(["gen", "eval", str(out), "--iw-samples", "20", "--iw-images", "50"]) == 0
        runs[model] = out
    metrics = json.loads((runs["vae"] / "metrics.json").read_text())
    for key in ("test_neg_elbo", "test_recon", "test_kl", "test_nll_iw", "knn_accuracy"):
        assert isinstance(metrics[key], float), key
    assert metrics["test_nll_iw"] <= metrics["test_neg_elbo"] + 3 * metrics["test_nll_iw_sem"]
    assert metrics["knn_accuracy"] > 0.3  # 10 classes: chance is 0.1
    assert "test_recon" in json.loads((runs["ae"] / "metrics.json").read_text())
    expected = {"latent_scatter", "reconstructions", "curves", "samples", "manifold"}
    assert {p.stem for p in runs["vae"].glob("*.png")} == expected
    assert {p.stem for p in runs["ae"].glob("*.png")} == expected - {"samples", "manifold"}
    assert (runs["vae"] / "tb").is_dir() and any((runs["vae"] / "tb").iterdir())
    assert json.loads((runs["vae"] / "config.json").read_text())["model"] == "vae"
    assert (
        main(
            ["gen", "compare", str(runs["ae"]), str(runs["vae"]), "--out", str(tmp_path / "c.png")]
        )
        == 0
    )
    assert Image.open(tmp_path / "c.png").size[0] > 400


def test_yaml_config_is_overridden_by_flags(tiny_mnist: Path, tmp_path: Path) -> None:
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("latent-dim: 3\nbatch_size: 64\nepochs: 5\n")
    out = tmp_path / "run"
    args = ["gen", "train", "--config", str(cfg), "--epochs", "1", "--max-steps", "2",
            "--val-size", "64", "--data-dir", str(tiny_mnist), "--out", str(out)]  # fmt: skip
    assert main(args) == 0
    saved = json.loads((out / "config.json").read_text())
    assert (saved["latent_dim"], saved["batch_size"], saved["epochs"]) == (3, 64, 1)


def test_unknown_yaml_key_is_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("latnet_dim: 3\n")
    assert main(["gen", "train", "--config", str(cfg), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("cilab: error: ") and "latnet_dim" in err and "\n" not in err


@pytest.mark.parametrize(
    ("damage", "problem"),
    [
        (lambda p: p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2]), "train-images"),
        (lambda p: p.write_bytes(b"\x00" * 64), "train-images"),
    ],
    ids=["truncated", "garbage"],
)
def test_bad_data_is_one_line_error_in_a_subprocess(
    tiny_mnist: Path, tmp_path: Path, damage, problem
) -> None:
    import shutil

    data = tmp_path / "data"
    shutil.copytree(tiny_mnist, data)
    damage(data / "mnist/train-images-idx3-ubyte.gz")
    proc = subprocess.run(
        [sys.executable, "-m", "cilab", "gen", "train", "--data-dir", str(data),
         "--out", str(tmp_path / "r")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("cilab: error: ") and problem in lines[0], (
        proc.stderr
    )
    assert "Traceback" not in proc.stderr


def test_val_size_larger_than_data_is_explained(tiny_mnist: Path, tmp_path: Path, capsys) -> None:
    args = ["gen", "train", "--data-dir", str(tiny_mnist), "--out", str(tmp_path / "r")]
    assert main(args) == 2  # the default 5000 exceeds the 640 fake training images
    assert "--val-size 5000 leaves no training images (mnist has 640)" in capsys.readouterr().err
