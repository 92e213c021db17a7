"""Smoke test of benchmarks/bench_gen.py: --quick on synthetic data, no TensorFlow needed."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "bench_gen.py"


def _load_module():
    spec = importlib.util.spec_from_file_location("bench_gen", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_gen"] = module
    spec.loader.exec_module(module)
    return module


def test_quick_run_writes_rows_with_positive_numbers(tmp_path: Path):
    out = tmp_path / "results.json"
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--synthetic", "--out", str(out)],
        capture_output=True, text=True, timeout=600, cwd=ROOT,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "| loop |" in proc.stdout  # the Markdown table
    data = json.loads(out.read_text())
    assert [r["loop"] for r in data["rows"]] == ["plain", "cilab", "cilab-fast"]
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


def test_peer_is_skipped_with_a_message_when_its_venv_is_missing(tmp_path, capsys):
    bench = _load_module()
    args = bench.parse_args(["--peers", "--keras-python", str(tmp_path / "nope" / "python")])
    assert "keras" in args.loop_names
    assert bench.keras_python(args) is None
    assert "peer skipped" in capsys.readouterr().out


def test_flag_validation():
    bench = _load_module()
    with pytest.raises(SystemExit):
        bench.parse_args(["--loops", "plain,nonsense"])
    with pytest.raises(SystemExit):
        bench.parse_args(["--steps", "0"])
    quick = bench.parse_args(["--quick"])
    assert (quick.steps, quick.warmup, quick.repeats) == (5, 2, 1)
    assert bench.analytic_train_flops("keras") > bench.analytic_train_flops("cilab") > 0
