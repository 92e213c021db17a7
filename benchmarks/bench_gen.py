"""Training throughput of the exercise VAE: a tutorial PyTorch loop, cilab's loop, and the peer.

The model is the exercise VAE (2-D latent, grey-level targets, Bernoulli loss + KL, Adam 1e-3,
batch 256). Loops measured side by side in one run (see benchmarks/README.md):

- plain: the loop a PyTorch tutorial writes: DataLoader(TensorDataset(x_float), batch_size=256,
  shuffle=True), `cilab.gen.models.vae.VAE`, its `loss`, zero_grad / backward / step.
- cilab: cilab's real training loop (`cilab.gen.train` trainer, `fit(max_steps)`), as committed.
- cilab-ddp2: the same under `torchrun --nproc_per_node=2` (gloo, one thread per process).
- cilab-fast, cilab-fast-ddp2: the same with the changes proposed in
  `cilab.gen.models.fast_ops` (FastConvTranspose2d, keep_freed_memory) applied at run time.
- keras (with --peers): a reproduction of the Keras VAE example (its own architecture, batch 128)
  on tensorflow-cpu from the separate venv .venv-bench.

Every measurement is a fresh process (settings such as threads or allocator options never leak
from one loop to another); repetitions are interleaved, alternating the order, so background
load hits every loop alike. A loop's number is images/s over `--steps` steps after `--warmup`
untimed ones; the table gives the median and the min-max over `--repeats`. GFLOP/s counts the
model's training FLOPs (forward + backward, counted once with torch's FlopCounterMode; the Keras
model analytically) against a 2048x2048 fp32 matmul measured in the same run.

    python benchmarks/bench_gen.py                      # MNIST from $CILAB_DATA
    python benchmarks/bench_gen.py --peers --repeats 5 --out results.json
    python benchmarks/bench_gen.py --quick --synthetic   # a few seconds, no data needed
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
KERAS_SCRIPT = ROOT / "benchmarks" / "peers" / "keras_vae.py"
DEFAULT_KERAS_PYTHON = ROOT / ".venv-bench" / "bin" / "python"
BATCH = 256
KERAS_BATCH = 128


@dataclass(frozen=True)
class Loop:
    name: str
    what: str
    worker: str = ""  # plain, cilab, cilab-fast; "" for the peer
    procs: int = 1
    peer: bool = False
    env: tuple[tuple[str, str], ...] = ()  # set for this loop's processes only


PASSIVE = (("OMP_WAIT_POLICY", "PASSIVE"),)
LOOPS: dict[str, Loop] = {
    loop.name: loop
    for loop in (
        Loop("plain", "tutorial loop: DataLoader(TensorDataset) + VAE.loss + Adam", "plain"),
        Loop("plain-passive", "plain with OMP_WAIT_POLICY=PASSIVE", "plain", env=PASSIVE),
        Loop("cilab", "cilab trainer fit() as committed", "cilab"),
        Loop("cilab-ddp2", "cilab under torchrun, 2 procs x 1 thread (gloo)", "cilab", procs=2),
        Loop(
            "cilab-fast",
            "cilab + proposed fast_ops (FastConvTranspose2d, keep_freed_memory)",
            "cilab-fast",
        ),
        Loop(
            "cilab-fast-passive",
            "cilab-fast with OMP_WAIT_POLICY=PASSIVE",
            "cilab-fast",
            env=PASSIVE,
        ),
        Loop(
            "cilab-fast-ddp2",
            "cilab-fast under torchrun, 2 procs x 1 thread",
            "cilab-fast",
            procs=2,
        ),
        Loop("keras", "peer: Keras VAE example reproduction, tensorflow-cpu, batch 128", peer=True),
    )
}
DEFAULT_LOOPS = (
    "plain",
    "cilab",
    "cilab-ddp2",
    "cilab-fast",
    "cilab-fast-passive",
    "cilab-fast-ddp2",
)
# Variables that change how the loops run; cleared so only a loop's own `env` sets them.
TUNING_VARS = ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KMP_BLOCKTIME")
QUICK_LOOPS = ("plain", "cilab", "cilab-fast")


# -- FLOPs -----------------------------------------------------------------------------------
def _conv_macs(cin: int, cout: int, k: int, out_hw: int) -> int:
    return cin * cout * k * k * out_hw * out_hw


def _deconv_macs(cin: int, cout: int, k: int, in_hw: int) -> int:
    return cin * cout * k * k * in_hw * in_hw


def analytic_train_flops(arch: str) -> float:
    """FLOPs of one training image (forward + backward) of the conv/dense layers.

    Each layer costs 2*MACs forward, 2*MACs for its weight gradient and 2*MACs for its input
    gradient (not needed for the first layer). Element-wise ops are not counted (nor are they by
    FlopCounterMode).
    """
    if arch == "cilab":  # cilab.gen.models.conv, "exercise"
        layers = [
            _conv_macs(1, 32, 3, 14),
            _conv_macs(32, 64, 3, 7),
            3136 * 4,  # encoder + head
            2 * 1568,
            _deconv_macs(32, 64, 3, 7),
            _deconv_macs(64, 32, 3, 14),
            _deconv_macs(32, 1, 3, 28),
        ]
    elif arch == "keras":  # the Keras example
        layers = [
            _conv_macs(1, 32, 3, 14),
            _conv_macs(32, 64, 3, 7),
            3136 * 16,
            16 * 2 * 2,
            2 * 3136,
            _deconv_macs(64, 64, 3, 7),
            _deconv_macs(64, 32, 3, 14),
            _deconv_macs(32, 1, 3, 28),
        ]
    else:
        raise ValueError(arch)
    return float(2 * (3 * sum(layers) - layers[0]))


def counted_train_flops(batch: int = 32) -> float:
    """FLOPs per image of one VAE training step (loss forward + backward), by FlopCounterMode."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from cilab.gen.models.vae import VAE

    torch.manual_seed(0)
    model = VAE(latent_dim=2)
    x = torch.rand(batch, 1, 28, 28)
    with FlopCounterMode(display=False) as counter:
        model.loss(x, x).loss.backward()
    return counter.get_total_flops() / batch


def matmul_gflops(n: int = 2048, reps: int = 10) -> float:
    """Best-of-`reps` fp32 n x n matmul rate with torch's default threads."""
    import torch

    a, b = torch.randn(n, n), torch.randn(n, n)
    for _ in range(2):
        a @ b
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best / 1e9


# -- workers (each runs in its own process) --------------------------------------------------
class _Window:
    """Wall and CPU time from the end of step `warmup` to the end of step `warmup + steps`."""

    def __init__(self, warmup: int) -> None:
        self.warmup, self.images, self.t0, self.c0 = warmup, 0, 0.0, 0.0
        self.seconds = self.cpu_s = 0.0

    def step_done(self, step: int, images: int) -> None:
        if step == self.warmup:
            self.t0, self.c0 = time.perf_counter(), time.process_time()
        elif step > self.warmup:
            self.images += images
            self.seconds = time.perf_counter() - self.t0
            self.cpu_s = time.process_time() - self.c0


def worker_plain(data_dir: str, steps: int, warmup: int) -> dict[str, Any]:
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    from cilab.data.mnist import load_mnist
    from cilab.gen.models.vae import VAE

    torch.manual_seed(0)
    x_float = load_mnist("train", "mnist", data_dir, download=False).images.unsqueeze(1).float()
    x_float /= 255.0
    loader = DataLoader(TensorDataset(x_float), batch_size=BATCH, shuffle=True)
    model = VAE(latent_dim=2)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    window, step, loss_sum = _Window(warmup), 0, 0.0
    while step < warmup + steps:
        for (x,) in loader:
            loss = model.loss(x, x).loss
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            loss_sum += loss.item() * len(x)
            step += 1
            window.step_done(step, len(x))
            if step == warmup + steps:
                break
    return {
        "images": window.images,
        "seconds": window.seconds,
        "cpu_s": window.cpu_s,
        "threads": torch.get_num_threads(),
        "final_loss": loss.item(),
    }


def worker_cilab(data_dir: str, steps: int, warmup: int, fast: bool) -> dict[str, Any]:
    import torch

    from cilab.gen import train as gen_train

    if fast:  # the proposed changes, applied from outside until they are merged
        from cilab.gen.models import fast_ops

        fast_ops.keep_freed_memory()
        build = gen_train.build_gen_model

        def build_fast(cfg: Any) -> Any:
            model = build(cfg)
            fast_ops.use_fast_conv_transpose(model)
            return model

        gen_train.build_gen_model = build_fast
    trainer_cls = getattr(gen_train, "GenTrainer", None) or gen_train.Trainer
    world = int(os.environ.get("WORLD_SIZE", "1"))
    with tempfile.TemporaryDirectory(prefix="bench_gen_") as tmp:
        cfg = gen_train.GenTrainConfig(
            model="vae",
            data_dir=data_dir,
            out=str(Path(tmp) / "run"),
            epochs=10_000,
            max_steps=warmup + steps,
            batch_size=BATCH,
            lr=1e-3,
            latent_dim=2,
            val_size=0,
            device="cpu",
            seed=0,
        )
        trainer = trainer_cls(cfg)
        window = _Window(warmup)
        trainer.fit(on_step=lambda t: window.step_done(t.global_step, BATCH))
    return {
        "images": window.images,
        "seconds": window.seconds,
        "cpu_s": window.cpu_s,
        "threads": torch.get_num_threads(),
        "procs": world,
    }


def run_worker(args: argparse.Namespace) -> int:
    if args.worker == "plain":
        result = worker_plain(args.data_dir, args.steps, args.warmup)
    elif args.worker in ("cilab", "cilab-fast"):
        result = worker_cilab(args.data_dir, args.steps, args.warmup, args.worker == "cilab-fast")
    else:
        raise SystemExit(f"unknown worker {args.worker!r}")
    if int(os.environ.get("RANK", "0")) == 0:
        result["img_per_s"] = result["images"] / result["seconds"]
        Path(args.json_out).write_text(json.dumps(result))
    return 0


# -- the driver ------------------------------------------------------------------------------
def write_synthetic_mnist(folder: Path, n_train: int, n_test: int = 512) -> Path:
    """Random uint8 images in the MNIST IDX layout (uncompressed), for runs without data."""
    import numpy as np

    from cilab.data.idx import encode_idx
    from cilab.data.mnist import FILES

    target = folder / "mnist"
    target.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for split, n in (("train", n_train), ("test", n_test)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = (np.arange(n) % 10).astype(np.uint8)
        for name, arr in zip(FILES[split], (images, labels), strict=True):
            (target / name).write_bytes(encode_idx(arr))
    return folder


def keras_python(args: argparse.Namespace) -> str | None:
    """The peer venv's interpreter when it has TensorFlow, else None (with the reason printed)."""
    py = Path(args.keras_python)
    if not py.exists():
        print(
            f"peer skipped: no {py}; create it with:\n  python3 -m venv .venv-bench && "
            ".venv-bench/bin/pip install tensorflow-cpu",
            flush=True,
        )
        return None
    probe = subprocess.run([str(py), "-c", "import tensorflow"], capture_output=True, text=True)
    if probe.returncode != 0:
        print(
            f"peer skipped: {py} cannot import tensorflow; run {py} -m pip install tensorflow-cpu",
            flush=True,
        )
        return None
    return str(py)


def measure(loop: Loop, args: argparse.Namespace, data_dir: str, kpy: str | None) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench_gen_") as tmp:
        out = Path(tmp) / "result.json"
        common = [
            "--data-dir",
            data_dir,
            "--steps",
            str(args.steps),
            "--warmup",
            str(args.warmup),
            "--json-out",
            str(out),
        ]
        paths = [str(ROOT / "src"), *filter(None, [os.environ.get("PYTHONPATH")])]
        env = {k: v for k, v in os.environ.items() if k not in TUNING_VARS}
        env.update({"PYTHONPATH": os.pathsep.join(paths), **dict(loop.env)})
        if loop.peer:
            cmd = [str(kpy), str(KERAS_SCRIPT), *common]
        elif loop.procs > 1:
            env["OMP_NUM_THREADS"] = "1"  # torchrun's own default; made explicit
            cmd = [
                sys.executable,
                "-m",
                "torch.distributed.run",
                "--standalone",
                f"--nproc_per_node={loop.procs}",
                __file__,
                "--worker",
                loop.worker,
                *common,
            ]
        else:  # torch's default threads, as the tutorial and cilab run
            cmd = [sys.executable, __file__, "--worker", loop.worker, *common]
        load = os.getloadavg()[0]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1800)
        if proc.returncode != 0 or not out.exists():
            tail = (proc.stdout + proc.stderr)[-3000:]
            raise RuntimeError(f"{loop.name} failed (exit {proc.returncode}):\n{tail}")
        result = json.loads(out.read_text())
        result["loadavg_1min_before"] = load
        return result


def summarize(name: str, runs: list[dict], flops: float, peak: float) -> dict[str, Any]:
    rates = [r["img_per_s"] for r in runs]
    med = statistics.median(rates)
    loop = LOOPS[name]
    return {
        "loop": name,
        "what": loop.what,
        "procs": loop.procs,
        "env": dict(loop.env),
        "threads_per_proc": runs[0].get("threads"),
        "batch_size": KERAS_BATCH if loop.peer else BATCH,
        "img_per_s": {"median": med, "min": min(rates), "max": max(rates)},
        "train_flops_per_image": flops,
        "gflops": med * flops / 1e9,
        "fraction_of_matmul": med * flops / 1e9 / peak,
        "runs": runs,
    }


def markdown(rows: list[dict], meta: dict) -> str:
    base = next((r["img_per_s"]["median"] for r in rows if r["loop"] == "plain"), None)
    lines = [
        f"VAE training throughput, {meta['date']}, {meta['machine']}",
        f"torch {meta['torch']}, fp32 2048x2048 matmul {meta['matmul_gflops']:.0f} GFLOP/s; "
        f"{meta['steps']} timed steps after {meta['warmup']} warm-up, {meta['repeats']} repeats"
        f"{', synthetic data' if meta['synthetic'] else ''}",
        "",
        "| loop | procs x threads | batch | img/s median | min - max | vs plain | GFLOP/s "
        "| of matmul |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        ips = r["img_per_s"]
        rel = f"{ips['median'] / base:.2f}x" if base else "-"
        threads = r["threads_per_proc"] if r["threads_per_proc"] is not None else "tf default"
        lines.append(
            f"| {r['loop']} | {r['procs']} x {threads} | {r['batch_size']} | {ips['median']:,.0f} "
            f"| {ips['min']:,.0f} - {ips['max']:,.0f} | {rel} | {r['gflops']:.1f} "
            f"| {100 * r['fraction_of_matmul']:.0f}% |"
        )
    return "\n".join(lines)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{platform.node()}: {cpu}, {os.cpu_count()} CPUs, {platform.system()}"


def git_commit() -> str | None:
    proc = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    )
    return proc.stdout.strip() or None


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Training images/s of the exercise VAE: tutorial PyTorch loop vs cilab's "
        "loop (1 process and torchrun x2) vs the Keras example (--peers). Prints a Markdown "
        "table; --out also writes JSON.",
    )
    p.add_argument("--steps", type=int, default=100, help="timed steps per run (default 100)")
    p.add_argument("--warmup", type=int, default=10, help="untimed steps first (default 10)")
    p.add_argument("--repeats", type=int, default=3, help="runs per loop, interleaved (default 3)")
    p.add_argument(
        "--quick",
        action="store_true",
        help=f"a few seconds: 5 steps, 2 warm-up, 1 repeat, loops {','.join(QUICK_LOOPS)}",
    )
    p.add_argument(
        "--loops",
        default=None,
        help=f"comma-separated, from {', '.join(LOOPS)} (default {','.join(DEFAULT_LOOPS)})",
    )
    p.add_argument("--peers", action="store_true", help="add the Keras peer (needs .venv-bench)")
    p.add_argument(
        "--keras-python",
        default=str(DEFAULT_KERAS_PYTHON),
        help="interpreter of the venv with tensorflow-cpu (default .venv-bench/bin/python)",
    )
    p.add_argument("--data-dir", default=None, help="MNIST IDX folder (default $CILAB_DATA)")
    p.add_argument("--synthetic", action="store_true", help="random images instead of MNIST")
    p.add_argument("--out", default=None, help="also write the results as JSON here")
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    p.add_argument("--json-out", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.quick:
        args.steps, args.warmup, args.repeats = 5, 2, 1
    for name in ("steps", "repeats"):
        if getattr(args, name) < 1:
            p.error(f"--{name} must be >= 1")
    if args.warmup < 1:
        p.error("--warmup must be >= 1")
    names = (
        args.loops.split(",") if args.loops else list(QUICK_LOOPS if args.quick else DEFAULT_LOOPS)
    )
    if args.peers and "keras" not in names:
        names.append("keras")
    unknown = [n for n in names if n not in LOOPS]
    if unknown:
        p.error(f"unknown loop(s) {', '.join(unknown)}; choose from {', '.join(LOOPS)}")
    args.loop_names = names
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker:
        return run_worker(args)
    import torch

    with tempfile.TemporaryDirectory(prefix="bench_gen_data_") as tmp:
        if args.synthetic:
            need = (args.steps + args.warmup) * BATCH
            data_dir = str(write_synthetic_mnist(Path(tmp), n_train=max(4096, need)))
        else:
            data_dir = args.data_dir or os.environ.get("CILAB_DATA")
            if not data_dir:
                print(
                    "no MNIST: pass --data-dir DIR or set CILAB_DATA (or use --synthetic)",
                    file=sys.stderr,
                )
                return 2
        loops = [LOOPS[n] for n in args.loop_names]
        kpy = keras_python(args) if any(lp.peer for lp in loops) else None
        if any(lp.peer for lp in loops) and kpy is None:
            loops = [lp for lp in loops if not lp.peer]
        started = dt.datetime.now().astimezone()
        peak_before = matmul_gflops()
        runs: dict[str, list[dict]] = {lp.name: [] for lp in loops}
        for rep in range(args.repeats):
            order = loops if rep % 2 == 0 else loops[::-1]
            for lp in order:
                r = measure(lp, args, data_dir, kpy)
                runs[lp.name].append(r)
                print(
                    f"repeat {rep + 1}/{args.repeats} {lp.name}: {r['img_per_s']:,.0f} img/s "
                    f"(load {r['loadavg_1min_before']:.1f})",
                    flush=True,
                )
        peak_after = matmul_gflops()
    peak = max(peak_before, peak_after)
    flops_counted = counted_train_flops()
    flops = {"cilab": flops_counted, "keras": analytic_train_flops("keras")}
    meta = {
        "date": started.isoformat(timespec="seconds"),
        "machine": machine(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "git_commit": git_commit(),
        "command": " ".join(
            [Path(sys.argv[0]).name, *(argv if argv is not None else sys.argv[1:])]
        ),
        "steps": args.steps,
        "warmup": args.warmup,
        "repeats": args.repeats,
        "synthetic": args.synthetic,
        "matmul_gflops": peak,
        "matmul_gflops_before_after": [peak_before, peak_after],
        "train_flops_per_image": {
            "cilab_counted": flops_counted,
            "cilab_analytic": analytic_train_flops("cilab"),
            "keras_analytic": flops["keras"],
        },
        "loadavg_1min_end": os.getloadavg()[0],
    }
    keras_runs = runs.get("keras")
    if keras_runs:
        meta["tensorflow"] = keras_runs[0].get("tensorflow")
    rows = [
        summarize(lp.name, runs[lp.name], flops["keras" if lp.peer else "cilab"], peak)
        for lp in loops
    ]
    print()
    print(markdown(rows, meta))
    if args.out:
        Path(args.out).write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
