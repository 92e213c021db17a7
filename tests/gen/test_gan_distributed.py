"""The DCGAN under torchrun: 2 CPU processes (gloo) keep identical weights and write one run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from conftest import write_fake_mnist

# Each rank trains, then saves its own parameters, so the test can compare the two replicas.
DRIVER = """
import json, sys, torch
from cilab.gen.gan_train import GANTrainConfig, GANTrainer
data, out, options = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
cfg = GANTrainConfig(data_dir=data, out=out, epochs=2, batch_size=32, device="cpu",
                     monitor_samples=0, checkpoint_every=1, **options)
trainer = GANTrainer(cfg)
trainer.fit()
# Weights, and spectral norm's power-iteration vectors; not BatchNorm's statistics, which each
# rank gathers from its own slice of the batch.
state = {k: v for k, v in trainer.gan.state_dict().items() if "running" not in k}
torch.save(state, f"{out}/rank{trainer.env.rank}.pt")
"""


@pytest.mark.slow
@pytest.mark.parametrize(
    "options",
    [
        {},
        # Every option that meets DDP in its own way, in one run (one torchrun costs ~20 s):
        # R1's double backward through DDP; SN's buffers; a head (categorical and continuous
        # guesses) that only the fakes' pass uses; groups taken within each rank's slice.
        {"r1_gamma": 1.0, "spectral_norm": True, "dropout": 0.0, "info_codes": 10,
         "info_continuous": 2, "minibatch_std": 4},
    ],
    ids=["tutorial", "r1-sn-codes-mbstd"],
)  # fmt: skip
def test_two_processes_keep_identical_replicas(tmp_path: Path, options: dict) -> None:
    write_fake_mnist(tmp_path / "data/mnist", n_train=96, n_test=64)
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER)
    out = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           str(driver), str(tmp_path / "data"), str(out), json.dumps(options)]  # fmt: skip
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    r0, r1 = (torch.load(out / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    assert r0.keys() == r1.keys() and len(r0) > 10
    assert any(k.endswith("._u") for k in r0) == bool(options.get("spectral_norm"))
    for k in r0:  # gradients are all-reduced, so every step keeps the replicas equal
        assert torch.equal(r0[k], r1[k]), k
    # One run directory, written by rank 0: 3 global steps of 32 per epoch, 2 epochs.
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == [1, 2]
    assert all(("train_r1" in r) == ("r1_gamma" in options) for r in records)
    assert (out / "samples/epoch_002.png").is_file() and (out / "epoch_002.pt").is_file()
    last = torch.load(out / "last.pt", weights_only=True)
    assert last["global_step"] == 6
