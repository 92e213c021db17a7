"""Smoke tests of benchmarks/bench_gen.py: --quick on synthetic data, no TensorFlow needed.

The peers (benchmarks/peers/, run with .venv-bench's TensorFlow) are run only where that venv
can import tensorflow; elsewhere their test is reported as skipped, with the reason.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from bench_scripts import load_script

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "bench_gen.py"
PEER_PYTHON = ROOT / ".venv-bench" / "bin" / "python"


def test_quick_run_writes_rows_with_positive_numbers(tmp_path: Path):
    out = tmp_path / "results.json"
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--synthetic", "--threads", "1", "--out",
         str(out)],
        capture_output=True, text=True, timeout=600, cwd=ROOT,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "| loop |" in proc.stdout  # the Markdown table
    data = json.loads(out.read_text())
    assert [r["loop"] for r in data["rows"]] == ["plain", "cilab", "cilab-stock"]
    assert [r["threads_per_proc"] for r in data["rows"]] == [1, 1, 1]  # --threads reached them
    meta = data["meta"]
    assert meta["synthetic"] is True and meta["steps"] == 5 and meta["repeats"] == 1
    assert meta["matmul_gflops"] > 0
    flops = meta["train_flops_per_image"]
    assert flops["cilab_counted"] == pytest.approx(flops["cilab_analytic"], rel=1e-6)
    for row in data["rows"]:
        ips = row["img_per_s"]
        assert 0 < ips["min"] <= ips["median"] <= ips["max"]
        assert row["gflops"] > 0 and row["fraction_of_matmul"] > 0
        assert len(row["runs"]) == 1 and row["runs"][0]["images"] == 5 * 256


@pytest.mark.parametrize(("model", "peer"), [("vae", "keras"), ("dcgan", "tf")])
def test_peer_is_skipped_with_a_message_when_its_venv_is_missing(tmp_path, capsys, model, peer):
    bench = load_script("bench_gen")
    missing = str(tmp_path / "nope" / "python")
    args = bench.parse_args(["--model", model, "--peers", "--keras-python", missing])
    assert peer in args.loop_names
    assert bench.peer_python(args) is None
    assert "peer skipped" in capsys.readouterr().out


def test_dcgan_quick_run_writes_rows_and_the_flop_counts_agree(tmp_path: Path):
    out = tmp_path / "results.json"
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--model", "dcgan", "--quick", "--synthetic",
         "--out", str(out)],
        capture_output=True, text=True, timeout=600, cwd=ROOT,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "DCGAN training throughput" in proc.stdout and "| loop |" in proc.stdout
    data = json.loads(out.read_text())
    assert [r["loop"] for r in data["rows"]] == ["plain", "cilab"]
    meta = data["meta"]
    assert meta["model"] == "dcgan" and meta["synthetic"] is True and meta["steps"] == 5
    flops = meta["train_flops_per_image"]
    # FlopCounterMode on a real GANTrainer step and on the plain loop's step = the analytic counts
    # (cilab's GANTrainer runs the tutorial's step: the same work, FLOP for FLOP)
    assert flops["cilab_counted"] == pytest.approx(flops["analytic"], rel=1e-6)
    assert flops["tutorial_counted"] == pytest.approx(flops["analytic"], rel=1e-6)
    rows = {r["loop"]: r for r in data["rows"]}
    assert rows["plain"]["train_flops_per_image"] == flops["tutorial_counted"]
    assert rows["cilab"]["train_flops_per_image"] == flops["cilab_counted"]
    for row in data["rows"]:
        ips = row["img_per_s"]
        assert 0 < ips["min"] <= ips["median"] <= ips["max"]
        assert row["gflops"] > 0 and row["fraction_of_matmul"] > 0
        assert len(row["runs"]) == 1 and row["runs"][0]["images"] == 5 * 256
    plain_run = rows["plain"]["runs"][0]
    assert math.isfinite(plain_run["final_g_loss"]) and math.isfinite(plain_run["final_d_loss"])


@pytest.mark.parametrize("script", ["keras_vae.py", "tf_dcgan.py"])
def test_peer_script_trains_and_reports(tmp_path: Path, script: str):
    probe = subprocess.run(
        [str(PEER_PYTHON), "-c", "import tensorflow"], capture_output=True, text=True
    ) if PEER_PYTHON.exists() else None  # fmt: skip
    if probe is None or probe.returncode != 0:
        pytest.skip(
            f"{PEER_PYTHON} cannot import tensorflow (the --peers venv: python3 -m venv "
            ".venv-bench && .venv-bench/bin/pip install tensorflow-cpu)"
        )
    bench = load_script("bench_gen")
    data_dir = bench.write_synthetic_mnist(tmp_path / "data", n_train=1024)
    out = tmp_path / "peer.json"
    proc = subprocess.run(
        [str(PEER_PYTHON), str(ROOT / "benchmarks" / "peers" / script), "--data-dir",
         str(data_dir), "--steps", "2", "--warmup", "1", "--json-out", str(out)],
        capture_output=True, text=True, timeout=600, cwd=ROOT,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(out.read_text())
    assert result["img_per_s"] > 0 and result["tensorflow"]


def test_flag_validation():
    bench = load_script("bench_gen")
    with pytest.raises(SystemExit):
        bench.parse_args(["--loops", "plain,nonsense"])
    with pytest.raises(SystemExit):
        bench.parse_args(["--steps", "0"])
    with pytest.raises(SystemExit):
        bench.parse_args(["--threads", "0"])
    quick = bench.parse_args(["--quick"])
    assert (quick.steps, quick.warmup, quick.repeats) == (5, 2, 1)
    assert bench.analytic_train_flops("keras") > bench.analytic_train_flops("cilab") > 0
    with pytest.raises(SystemExit):  # a VAE loop is no DCGAN loop
        bench.parse_args(["--model", "dcgan", "--loops", "cilab-stock"])
    assert bench.parse_args(["--model", "dcgan", "--quick"]).loop_names == ["plain", "cilab"]
    assert bench.analytic_dcgan_flops() > 0


def test_plain_loop_trains_the_tutorials_stock_layers():
    """The plain loop is what a tutorial's user writes: stock nn.ConvTranspose2d, not cilab's
    FastConvTranspose2d (which cilab's VAE builds by default). Same parameters either way."""
    import torch
    from torch import nn

    from cilab.gen.models.fast_ops import FastConvTranspose2d
    from cilab.gen.models.vae import VAE

    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from gen_workers import stock_conv_transpose
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    model = VAE(latent_dim=2)
    keys = model.state_dict().keys()
    assert stock_conv_transpose(model) == 3
    layers = [m for m in model.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert len(layers) == 3 and not any(isinstance(m, FastConvTranspose2d) for m in layers)
    assert model.state_dict().keys() == keys
    assert model.decode(torch.zeros(2, 2)).shape == (2, 1, 28, 28)


def test_worker_names_and_devices_are_checked_before_anything_trains():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import gen_workers
    finally:
        sys.path.pop(0)
    with pytest.raises(SystemExit, match="unknown cilab variant part"):
        gen_workers.run("dcgan", "cilab-bf16-fast", "unused", 1, 1)
    with pytest.raises(SystemExit, match="CPU only"):
        gen_workers.run("vae", "cilab", "unused", 1, 1, "cuda")
    bench = load_script("bench_gen")
    with pytest.raises(SystemExit):  # the peer and torchrun loops are CPU loops
        bench.parse_args(["--model", "dcgan", "--device", "cuda", "--loops", "cilab-ddp2"])
    with pytest.raises(SystemExit):
        bench.parse_args(["--model", "vae", "--device", "cuda"])
