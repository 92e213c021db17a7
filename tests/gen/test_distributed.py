"""Data-parallel training under torchrun: 2 CPU processes (gloo) match 1 process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from cilab.core.checkpoint import load_checkpoint


def run_cli(args: list[str], nproc: int, env: dict[str, str]) -> None:
    launcher = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc_per_node={nproc}",
    ]
    cmd = [*launcher, "-m", "cilab", *args] if nproc > 1 else [sys.executable, "-m", "cilab", *args]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]


@pytest.mark.slow
@pytest.mark.parametrize(("model", "binarize"), [("ae", "none"), ("vae", "dynamic")])
def test_two_processes_match_one(
    tiny_mnist: Path, tmp_path: Path, model: str, binarize: str
) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    common = ["gen", "train", "--model", model, "--binarize", binarize,
              "--data-dir", str(tiny_mnist), "--epochs", "2", "--batch-size", "64",
              "--val-size", "128", "--device", "cpu"]  # fmt: skip
    run_cli([*common, "--out", str(tmp_path / "one")], 1, env)
    run_cli([*common, "--out", str(tmp_path / "two")], 2, env)
    one = load_checkpoint(tmp_path / "one/last.pt")
    two = load_checkpoint(tmp_path / "two/last.pt")
    assert two["global_step"] == one["global_step"] == 16
    for k, w in one["model"].items():
        # Same global batches and noise; only the order of floating-point sums differs.
        torch.testing.assert_close(two["model"][k], w, rtol=1e-4, atol=1e-5, msg=k)
