"""benchmarks/gpu_session.py runs blind on a lent GPU: its commands must parse with real CLIs."""

from __future__ import annotations

from pathlib import Path

import pytest
from bench_scripts import load_script

from cilab.cli.main import build_parser


@pytest.fixture(scope="module")
def gpu_session():
    return load_script("gpu_session")


def test_every_run_and_eval_parses_with_the_real_cli(gpu_session, tmp_path: Path) -> None:
    session = gpu_session.Session(tmp_path, tmp_path / "runs", smoke=False)
    parser = build_parser()
    parsed = {}
    for run, flags in gpu_session.RUNS.items():
        train = parser.parse_args(session.train(run, flags)[3:])
        assert (train.epochs, train.out) == (50, str(tmp_path / "runs" / run))
        parsed[run] = train
    evaluate = parser.parse_args(["gen", "eval", "RUN", *gpu_session.EVAL.split()])
    assert evaluate.samples == 10000
    tutorial, best = parsed["dcgan-tutorial"], parsed["dcgan-best"]
    assert not hasattr(tutorial, "batch_size")  # no flag given: every default, the tutorial's
    recipe = (best.batch_size, best.spectral_norm, best.info_codes, best.g_ema)
    assert recipe == (32, True, 10, 0.999)
    assert parsed["dcgan-best-dw2"].d_width == 2 and parsed["dcgan-best-seed1"].seed == 1


def test_the_benchmark_command_parses(gpu_session, tmp_path: Path) -> None:
    bench = load_script("bench_gen")
    command = gpu_session.Session(tmp_path, tmp_path / "runs", smoke=False).bench()
    args = bench.parse_args(command[2:])
    assert (args.model, args.device, args.steps * 256) == ("dcgan", "cuda", 59_904)
    assert args.loop_names == list(bench.MODELS["dcgan"].cuda_loops)
