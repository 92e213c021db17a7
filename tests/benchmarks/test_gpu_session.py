"""benchmarks/gpu_session.py runs blind on a lent GPU: its commands must parse, its plan add up."""

from __future__ import annotations

from pathlib import Path

import pytest
from bench_scripts import load_script

from cilab.cli.main import build_parser


@pytest.fixture(scope="module")
def gpu_session():
    return load_script("gpu_session")


def test_every_command_parses_with_the_real_cli(gpu_session, tmp_path: Path) -> None:
    session = gpu_session.Session(tmp_path, tmp_path / "runs", smoke=False)
    parser = build_parser()
    for run, (flags, _, eval_flags) in gpu_session.RUNS.items():
        train = parser.parse_args(session.train(run, flags, 3)[3:])
        assert (train.epochs, train.out) == (3, str(tmp_path / "runs" / run))
        evaluate = parser.parse_args(["gen", "eval", "RUN", *eval_flags.split()])
        assert evaluate.samples == 10000
    dcgan = parser.parse_args(session.train("p", f"{gpu_session.DCGAN} --bf16", 1)[3:])
    assert (dcgan.model, dcgan.batch_size, dcgan.adam_beta1, dcgan.g_ema) == (
        "dcgan",
        64,
        0.5,
        0.999,
    )


def test_epochs_fit_the_budget(gpu_session) -> None:
    plan = gpu_session.plan_epochs
    assert plan(10.0, 300, None) == 27  # 90 % of the budget at 10 s per epoch
    assert plan(1000.0, 300, None) == 1  # at least one
    assert plan(None, 300, None) == 1  # no epoch finished in the probe
    assert plan(10.0, 300, 50) == 50  # a fixed count (the DCGAN's 50) wins
