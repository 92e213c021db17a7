"""A lent GPU's whole session in one call: CUDA tests, epoch timings, sized runs, their evals.

Why a prepared script: a GPU is lent to some tasks only, for about 15 minutes of device time in
all, starting bare each time. Everything worth running there is written and checked here on the
CPU (`--smoke`), so a session that draws a GPU spends its minutes running, not writing.

On the development machine, from the repository root:

    python benchmarks/gpu_session.py --stage     # MNIST + the judging classifier into data/

then, with the device tool (data/ is git-ignored, so it must be carried; about 15 MB):

    run(command="python3 benchmarks/gpu_session.py", carry=["data"], timeout_s=590)

It runs under the device image's python3 and its torch, with cilab from src/ (nothing is
installed there), and writes to $OUT: session.log (its steps), summary.json (timings, each run's
last epoch and its eval) and runs.tar.gz (each command's output, metrics, configs and figures;
no weights: they are too large to come back).

The steps, each logged with its wall time:
1. pytest tests/test_cuda.py tests/core/test_process_group.py (the CUDA path against the CPU).
2. One DCGAN epoch in fp32 and one in bf16, alone on the GPU: the epoch times for RESULTS.md.
3. One epoch of each run below, all at once: their epoch times side by side, which size step 4.
4. The runs, all at once on the one GPU, each stopped cleanly (SIGINT saves last.pt) when
   `--budget` seconds are up: the DCGAN of issue 3 (the DCGAN paper's Adam, batch 64, a weight
   average; 50 epochs), the wide 2-D VAE (grey levels) and the wide 32-D VAE (dynamic
   binarization, ELBO and an 8-sample IW bound) of issue 2, as many cosine epochs as fit.
5. `cilab gen eval` of each: 10,000 samples, test -ELBO, IW NLL (K = 5000 for 32-D).
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

DCGAN = "--model dcgan --batch-size 64 --adam-beta1 0.5 --lr-g 2e-4 --lr-d 2e-4 --g-ema 0.999"
VAE_WIDE = "--model vae --arch wide --lr-schedule cosine"
VAE_32 = f"{VAE_WIDE} --latent-dim 32 --binarize dynamic"
IW_EVAL = "--samples 10000 --iw-samples 5000 --iw-images 2000"
# name: (train flags, epochs or None = as many as the budget allows, eval flags)
RUNS: dict[str, tuple[str, int | None, str]] = {
    "dcgan-b64-ema": (DCGAN, 50, "--samples 10000"),
    "vae2d-wide": (f"{VAE_WIDE} --latent-dim 2", None, IW_EVAL.replace("5000", "1000")),
    "vae32-wide-dyn": (VAE_32, None, IW_EVAL),
    "vae32-wide-dyn-iw8": (f"{VAE_32} --iw-train-samples 8", None, IW_EVAL),
}


class Session:
    """Runs commands with a shared log and a summary; every step records its wall time."""

    def __init__(self, out: Path, runs: Path, smoke: bool) -> None:
        self.out, self.runs, self.smoke = out, runs, smoke
        self.log = (out / "session.log").open("a", buffering=1)
        self.summary: dict[str, object] = {"smoke": smoke, "steps": {}}
        self.env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "PYTHONUNBUFFERED": "1",
                    "CILAB_DATA": str(DATA), "CILAB_CACHE": str(DATA / "cache")}  # fmt: skip

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

    def train(self, run: str, flags: str, epochs: int) -> list[str]:
        limit = ["--max-steps", "3"] if self.smoke else []
        return self.cilab("gen", "train", *flags.split(), "--epochs", str(epochs), *limit,
                          "--out", str(self.runs / run))  # fmt: skip


def last_epoch(run_dir: Path) -> dict[str, object] | None:
    """The last line of a run's metrics.jsonl (None: no epoch finished)."""
    path = run_dir / "metrics.jsonl"
    lines = path.read_text().splitlines() if path.is_file() else []
    return json.loads(lines[-1]) if lines else None


def epoch_seconds(run_dir: Path) -> float | None:
    """The last finished epoch's training time."""
    last = last_epoch(run_dir)
    return float(last["time_s"]) if last else None  # type: ignore[arg-type]


def plan_epochs(seconds: float | None, budget: float, fixed: int | None) -> int:
    """Epochs that fit in `budget` at `seconds` per epoch (10 % kept for validation and saving)."""
    if fixed is not None:
        return fixed
    if not seconds:
        return 1
    return max(1, int(0.9 * budget / seconds))


def stage() -> None:
    """Copy MNIST and the cached judging classifier into data/ for the device machine."""
    from cilab.gen.classifier import classifier_dir  # here only: cilab is installed, not there

    src = Path(os.environ.get("CILAB_DATA") or SHARED_DATA) / "mnist"
    shutil.copytree(src, DATA / "mnist", dirs_exist_ok=True)
    shutil.copytree(classifier_dir(), DATA / "cache" / "classifiers", dirs_exist_ok=True)
    size = sum(f.stat().st_size for f in DATA.rglob("*") if f.is_file()) / 1e6
    print(f"staged {DATA} ({size:.1f} MB): carry ['data'] in the device call")


def run_session(s: Session, budget: float) -> None:
    try:
        import torch

        s.summary["torch"] = torch.__version__
        s.summary["gpu"] = torch.cuda.get_device_name() if torch.cuda.is_available() else None
    except ImportError:
        s.summary["torch"] = None
    s.say(f"torch {s.summary['torch']}, GPU {s.summary['gpu']}")
    tests = ["tests/test_cuda.py", "tests/core/test_process_group.py"]
    s.step("pytest", {"pytest": [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                                 *tests]}, 240)  # fmt: skip

    timing = {}
    for precision in ("--no-bf16", "--bf16"):  # alone on the GPU, one after the other
        name = f"dcgan-epoch{precision.replace('--', '-')}"
        s.step(name, {name: s.train(f"probe/{name}", f"{DCGAN} {precision}", 1)}, 300)
        timing[name] = epoch_seconds(s.runs / "probe" / name)
    probes = {f"probe-{r}": s.train(f"probe/{r}", flags, 1) for r, (flags, _, _) in RUNS.items()}
    s.step("probes", probes, 300)
    per_epoch = {r: epoch_seconds(s.runs / "probe" / r) for r in RUNS}
    s.summary["epoch_seconds"] = {"alone": timing, "side_by_side": per_epoch}
    s.say(f"epoch seconds: alone {timing}, side by side {per_epoch}")

    plan = {r: plan_epochs(per_epoch[r], budget, fixed) for r, (_, fixed, _) in RUNS.items()}
    s.summary["epochs_planned"] = plan
    s.step("train", {r: s.train(r, RUNS[r][0], plan[r]) for r in RUNS}, budget)

    smoke = "--samples 200 --iw-samples 10 --iw-images 20 --no-figures"
    evals = {
        f"eval-{r}": s.cilab(
            "gen",
            "eval",
            str(s.runs / r),
            "--checkpoint",
            "last",
            *(smoke if s.smoke else flags).split(),
        )
        for r, (_, _, flags) in RUNS.items()
        if (s.runs / r / "last.pt").is_file()
    }
    s.step("eval", evals, 240)
    s.summary["runs"] = {
        r: {
            "epochs_planned": plan[r],
            "last_epoch": last_epoch(s.runs / r),
            "eval": _read_json(s.runs / r / "metrics.json"),
        }
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
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--stage", action="store_true", help="copy the data into data/ and exit")
    p.add_argument("--budget", type=float, default=280, help="seconds for the runs (step 4)")
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
        run_session(s, args.budget)
    finally:
        (out / "summary.json").write_text(json.dumps(s.summary, indent=2) + "\n")
        pack(runs, out)
        s.say(f"summary: {out / 'summary.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
