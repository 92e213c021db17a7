"""A lent GPU's whole session in one call: CUDA tests, the CUDA throughput table, runs, evals.

Why a prepared script: a GPU is lent to some tasks only, for about 15 minutes of device time in
all, starting bare each time. Everything worth running there is written and checked here on the
CPU (`--smoke`), so a session that draws a GPU spends its minutes running, not writing.

On the development machine, from the repository root:

    python benchmarks/gpu_session.py --stage     # MNIST + the judging classifier into data/

then, with the device tool (data/ is git-ignored, so it must be carried; about 27 MB):

    run(command="python3 benchmarks/gpu_session.py", carry=["data"], timeout_s=600)

It runs under the device image's python3 and its torch, with cilab from src/ (nothing is
installed there), and writes to $OUT: session.log (its steps), summary.json (timings, the
throughput table, each run's last epoch and its eval) and runs.tar.gz (each command's output,
metrics, configs and figures; no weights: they are too large to come back). Every step has a
time cap taken from `--deadline` (seconds for the whole script), so the call ends inside its
limit and a failing step costs only its own minutes.

The steps, each logged with its wall time:
1. `bench_gen.py --model dcgan --device cuda`, alone on the GPU: the tutorial's step (batch 256)
   in the plain PyTorch loop and in cilab's loop in fp32, bf16, bf16 + channels_last, bf16 +
   torch.compile and bf16 + CUDA graphs, one full epoch's steps each: issue 3's CUDA epoch times.
2. The runs, all at once on the one GPU, 50 epochs each or as many as fit before the deadline
   (SIGINT then: cilab saves last.pt and exits): the tutorial's DCGAN as specified, and the best
   CPU recipe (docs/RESULTS.md) as it is, with a discriminator twice as wide, and with seed 1.
   Beside them pytest tests/test_cuda.py tests/core/test_process_group.py (the CUDA path
   against the CPU; its outcome, not its time, matters).
3. `cilab gen eval` of each: 10,000 samples, judged by the staged classifier.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"  # git-ignored: staged here, carried to the device machine
SHARED_DATA = ROOT.parent / "shared" / "data"

# The best CPU recipe of docs/RESULTS.md (batch 32, SN discriminator, 10 InfoGAN codes, EMA).
BEST = (
    "--model dcgan --batch-size 32 --adam-beta1 0.5 --lr-g 2e-4 --lr-d 4e-4 --dropout 0 "
    "--spectral-norm --g-ema 0.999 --info-codes 10 --info-weight 0.1"
)
EPOCHS = 50
# name: train flags (each run: 50 epochs, or as many as the deadline allows)
RUNS: dict[str, str] = {
    "dcgan-tutorial": "--model dcgan",  # every default: the tutorial's model and training
    "dcgan-best": BEST,
    "dcgan-best-dw2": f"{BEST} --d-width 2",
    "dcgan-best-seed1": f"{BEST} --seed 1",
}
EVAL = "--samples 10000 --checkpoint last"  # as docs/RESULTS.md judges the CPU runs
BENCH = "--model dcgan --device cuda --steps 234 --warmup 20 --repeats 1"  # 234 x 256: an epoch
EVAL_RESERVE = 120  # seconds kept after the runs for the evals and the archive


class Session:
    """Runs commands with a shared log and a summary; every step records its wall time."""

    def __init__(self, out: Path, runs: Path, smoke: bool) -> None:
        self.out, self.runs, self.smoke = out, runs, smoke
        self.log = (out / "session.log").open("a", buffering=1)
        self.summary: dict[str, object] = {"smoke": smoke, "steps": {}}
        self.env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "PYTHONUNBUFFERED": "1",
                    "CILAB_DATA": str(DATA), "CILAB_CACHE": str(DATA / "cache"),
                    # 16 cores, 4 runs: each its share (torch would start 16 threads in each)
                    "OMP_NUM_THREADS": "4"}  # fmt: skip

    def say(self, text: str) -> None:
        line = f"[{time.strftime('%H:%M:%S')}] {text}"
        print(line, flush=True)
        self.log.write(line + "\n")

    def start(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        self.say(f"start {name}: {' '.join(args)}")
        (self.runs / "logs").mkdir(parents=True, exist_ok=True)  # $OUT brings back 8 files
        log = (self.runs / "logs" / f"{name}.log").open("ab")
        return subprocess.Popen(args, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT)

    def wait_all(self, procs: dict[str, subprocess.Popen[bytes]], deadline: float) -> None:
        """Wait for every process; at `deadline` send SIGINT (cilab saves and exits)."""
        while any(p.poll() is None for p in procs.values()) and time.time() < deadline:
            time.sleep(1)
        for name, p in procs.items():
            if p.poll() is None:
                self.say(f"budget spent: SIGINT to {name}")
                p.send_signal(signal.SIGINT)
        for name, p in procs.items():
            try:
                p.wait(timeout=90)
            except subprocess.TimeoutExpired:
                self.say(f"{name} did not stop after SIGINT: killed")
                p.kill()
            self.say(f"{name} exited {p.returncode}")

    def step(self, name: str, procs: dict[str, list[str]], seconds: float) -> float:
        begin = time.time()
        self.wait_all({k: self.start(k, v) for k, v in procs.items()}, begin + seconds)
        wall = round(time.time() - begin, 1)
        self.summary["steps"][name] = wall  # type: ignore[index]
        self.say(f"step {name}: {wall} s")
        return wall

    def cilab(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "cilab", *args]

    def train(self, run: str, flags: str, epochs: int = EPOCHS) -> list[str]:
        limit = ["--max-steps", "3"] if self.smoke else []
        return self.cilab("gen", "train", *flags.split(), "--epochs", str(epochs), *limit,
                          "--out", str(self.runs / run))  # fmt: skip

    def bench(self) -> list[str]:
        flags = "--quick --synthetic --loops plain,cilab" if self.smoke else BENCH  # smoke: CPU
        json_out = str(self.runs / "bench_dcgan_cuda.json")
        return [sys.executable, "benchmarks/bench_gen.py", *flags.split(), "--out", json_out]


def last_epoch(run_dir: Path) -> dict[str, object] | None:
    """The last line of a run's metrics.jsonl (None: no epoch finished)."""
    path = run_dir / "metrics.jsonl"
    lines = path.read_text().splitlines() if path.is_file() else []
    return json.loads(lines[-1]) if lines else None


def stage() -> None:
    """Copy MNIST, the cached judging classifier and, where `cilab gen eval` has made them, its
    real-image references (12 MB, saving each eval there the judge's pass over 70,000 images)
    into data/ for the device machine."""
    from cilab.gen.classifier import classifier_dir  # here only: cilab is installed, not there
    from cilab.gen.sample_eval import reference_dir

    src = Path(os.environ.get("CILAB_DATA") or SHARED_DATA) / "mnist"
    shutil.copytree(src, DATA / "mnist", dirs_exist_ok=True)
    shutil.copytree(classifier_dir(), DATA / "cache" / "classifiers", dirs_exist_ok=True)
    if reference_dir().is_dir():
        shutil.copytree(reference_dir(), DATA / "cache" / "references", dirs_exist_ok=True)
    size = sum(f.stat().st_size for f in DATA.rglob("*") if f.is_file()) / 1e6
    print(f"staged {DATA} ({size:.1f} MB): carry ['data'] in the device call")


def run_session(s: Session, deadline: float) -> None:
    """The steps of the module docstring; `deadline` is the wall-clock time the script ends."""
    try:
        import torch

        s.summary["torch"] = torch.__version__
        s.summary["gpu"] = torch.cuda.get_device_name() if torch.cuda.is_available() else None
    except ImportError:
        s.summary["torch"] = None
    s.say(f"torch {s.summary['torch']}, GPU {s.summary.get('gpu')}")
    s.step("bench", {"bench": s.bench()}, 240)  # alone on the GPU: its timings are clean
    s.summary["bench"] = _read_json(s.runs / "bench_dcgan_cuda.json")

    budget = max(30.0, deadline - time.time() - EVAL_RESERVE)
    s.say(f"runs and tests: {budget:.0f} s")
    tests = ["tests/test_cuda.py", "tests/core/test_process_group.py"]
    pytest = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *tests]
    runs = {r: s.train(r, flags) for r, flags in RUNS.items()}
    s.step("train", {"pytest": pytest, **runs}, budget)
    smoke = "--samples 200 --checkpoint last --no-figures"
    evals = {
        f"eval-{r}": s.cilab("gen", "eval", str(s.runs / r), *(smoke if s.smoke else EVAL).split())
        for r in RUNS
        if (s.runs / r / "last.pt").is_file()
    }
    s.step("eval", evals, max(30.0, deadline - time.time() - 15))
    s.summary["runs"] = {
        r: {"last_epoch": last_epoch(s.runs / r), "eval": _read_json(s.runs / r / "metrics.json")}
        for r in RUNS
    }


def _read_json(path: Path) -> object:
    return json.loads(path.read_text()) if path.is_file() else None


def pack(runs: Path, out: Path) -> None:
    """Everything but the weights (too large to come back), as one archive."""
    with tarfile.open(out / "runs.tar.gz", "w:gz") as tar:
        for f in sorted(runs.rglob("*")):
            if f.is_file() and f.suffix != ".pt":
                tar.add(f, arcname=str(f.relative_to(runs.parent)))


def main() -> int:
    start = time.time()
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--stage", action="store_true", help="copy the data into data/ and exit")
    p.add_argument("--deadline", type=float, default=560, help="seconds for the whole script")
    p.add_argument("--smoke", action="store_true", help="3 steps per run: check the script")
    p.add_argument("--runs", default="runs/gpu", help="where the runs go (emptied first)")
    args = p.parse_args()
    if args.stage:
        stage()
        return 0
    if not (DATA / "mnist").is_dir():
        print(f"{DATA}/mnist missing: run with --stage first, then carry data/", file=sys.stderr)
        return 2
    out = Path(os.environ.get("OUT") or ROOT / "runs" / "gpu-out")
    out.mkdir(parents=True, exist_ok=True)
    runs = ROOT / args.runs
    shutil.rmtree(runs, ignore_errors=True)
    s = Session(out, runs, args.smoke)
    try:
        run_session(s, start + args.deadline)
    finally:
        (out / "summary.json").write_text(json.dumps(s.summary, indent=2) + "\n")
        pack(runs, out)
        s.say(f"summary: {out / 'summary.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
