"""Training throughput of the exercise VAE or the tutorial's DCGAN: a plain PyTorch loop,
cilab's loop, and the tutorial's own code (the peer), side by side in one run.

`--model vae` (default): the exercise VAE (2-D latent, grey-level targets, Bernoulli loss + KL,
Adam 1e-3, batch 256). `--model dcgan`: the DCGAN of the TensorFlow tutorial (Problem 3; two
Adam 1e-4, batch 256). Loops (see benchmarks/README.md for what each one runs):

- plain: the loop a PyTorch user writes from the tutorial: DataLoader(TensorDataset(x_float),
  batch_size=256, shuffle=True) and the exercise's model with stock layers (cilab's VAE with its
  `FastConvTranspose2d` turned back into `nn.ConvTranspose2d`); for the DCGAN the tutorial's
  train_step (`gen_workers.TutorialDCGANStep`).
- cilab: cilab's real training loop (the trainer's `fit()` with max_steps), as committed.
- vae: cilab-stock (cilab's loop with the stock layers: the loop's share of the speed-up),
  cilab-bf16 (`GenTrainConfig(bf16=True)`), cilab-ddp2 (torchrun, 2 procs x 1 thread, gloo),
  cilab-bf16-ddp2, *-passive (OMP_WAIT_POLICY).
- dcgan: cilab-bf16 (`GANTrainConfig(bf16=True)`), cilab-ddp2, cilab-bf16-ddp2.
- peer (with --peers), on tensorflow-cpu from the separate venv .venv-bench: keras (vae; a
  reproduction of the Keras VAE example, its own architecture, batch 128) or tf (dcgan; a
  reproduction of the TensorFlow DCGAN tutorial's code, benchmarks/peers/tf_dcgan.py).

Every measurement is a fresh process (settings such as threads or allocator options never leak
from one loop to another); repetitions are interleaved, alternating the order, so background
load hits every loop alike. A loop's number is images/s over `--steps` steps after `--warmup`
untimed ones; the table gives the median and the min-max over `--repeats`. GFLOP/s counts the
training FLOPs per image of the step each loop runs (forward + backward, counted with torch's
FlopCounterMode and checked against an analytic count; the peers' analytically) against a
2048x2048 fp32 matmul measured in the same run. The workers are in benchmarks/gen_workers.py.

    python benchmarks/bench_gen.py                      # MNIST from $CILAB_DATA
    python benchmarks/bench_gen.py --peers --repeats 5 --out results.json
    python benchmarks/bench_gen.py --model dcgan --peers --repeats 3 --out dcgan.json
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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PEERS = ROOT / "benchmarks" / "peers"
DEFAULT_PEER_PYTHON = ROOT / ".venv-bench" / "bin" / "python"
BATCH = 256
KERAS_BATCH = 128
EPOCH = 60_000  # MNIST training images: the table's seconds per epoch (training steps only)
# Size of the fp32 matmul reference: on CUDA 2048 is over in microseconds, too short to time.
MATMUL_N = {"cpu": 2048, "cuda": 8192}


def workers() -> ModuleType:
    """benchmarks/gen_workers.py, the measured loops (benchmarks/ is not a package)."""
    here = str(Path(__file__).resolve().parent)
    if here not in sys.path:
        sys.path.insert(0, here)
    import gen_workers

    return gen_workers


@dataclass(frozen=True)
class Loop:
    name: str
    what: str
    worker: str = ""  # gen_workers.WORKERS[model][worker]; "" for the peer
    procs: int = 1
    peer: bool = False
    env: tuple[tuple[str, str], ...] = ()  # set for this loop's processes only
    batch: int = BATCH
    flops: str = "cilab"  # which of the model's FLOP counts this loop's step executes


PASSIVE = (("OMP_WAIT_POLICY", "PASSIVE"),)
# Variables that change how the loops run; cleared so only a loop's own `env` sets them.
TUNING_VARS = ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KMP_BLOCKTIME")


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


def analytic_dcgan_flops() -> float:
    """FLOPs per training image (b images a step) of one DCGAN step, conv/dense layers only.

    The tutorial's step, which cilab's GANTrainer runs too: G forward on b noise vectors, D
    forward on the b real and the b generated images. D's loss back-propagates to D's weights
    (weight gradients on 2b images, input gradients on 2b for every layer but the first); G's
    loss back-propagates through D on the b fakes (input gradients), then to G's weights and
    inputs (but the first layer's) on b.
    """
    g_layers = [
        100 * 7 * 7 * 256,  # Dense
        _deconv_macs(256, 128, 5, 7),
        _deconv_macs(128, 64, 5, 7),
        _deconv_macs(64, 1, 5, 14),
    ]
    d_layers = [_conv_macs(1, 64, 5, 14), _conv_macs(64, 128, 5, 7), 128 * 7 * 7]
    g, d = sum(g_layers), sum(d_layers)
    macs = g + 2 * d + 2 * d + 2 * (d - d_layers[0]) + d + g + (g - g_layers[0])
    return float(2 * macs)


FlopCounts = tuple[dict[str, float], dict[str, float]]


def vae_flops(data_dir: str) -> FlopCounts:
    """Per Loop.flops key the FLOPs per image applied, and the counts the JSON records."""
    counted = workers().counted_vae_flops()
    keras = analytic_train_flops("keras")
    meta = {"cilab_counted": counted, "cilab_analytic": analytic_train_flops("cilab")}
    return {"cilab": counted, "keras": keras}, {**meta, "keras_analytic": keras}


def dcgan_flops(data_dir: str) -> FlopCounts:
    counted = workers().counted_dcgan_flops(data_dir)
    meta = {
        "cilab_counted": counted["cilab"],
        "tutorial_counted": counted["tutorial"],
        "analytic": analytic_dcgan_flops(),
    }
    return counted, meta


def dcgan_flops_line(flops: dict[str, float]) -> str:
    return (
        f"training MFLOP per image: {flops['tutorial'] / 1e6:.1f} in the tutorial's step "
        f"(plain, tf), {flops['cilab'] / 1e6:.1f} in cilab's (the same step)"
    )


def matmul_gflops(reps: int = 10, threads: int | None = None, device: str = "cpu") -> float:
    """Best-of-`reps` fp32 n x n matmul rate, n = `MATMUL_N[device]`, with `threads` (default:
    torch's default threads). TF32 off, so on CUDA the reference is the GPU's real fp32 rate,
    whatever a loop lets cuDNN or cuBLAS do."""
    import torch

    if threads:
        torch.set_num_threads(threads)
    cuda, n = device == "cuda", MATMUL_N[device]
    saved = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    for _ in range(2):
        a @ b
    best = float("inf")
    for _ in range(reps):
        sync()
        t = time.perf_counter()
        a @ b
        sync()
        best = min(best, time.perf_counter() - t)
    torch.backends.cuda.matmul.allow_tf32 = saved
    return 2 * n**3 / best / 1e9


@dataclass(frozen=True)
class Model:
    name: str  # --model
    title: str  # the table's
    loops: dict[str, Loop]
    default_loops: tuple[str, ...]
    quick_loops: tuple[str, ...]
    peer_script: Path
    flops: Callable[[str], FlopCounts]  # (data_dir) -> per Loop.flops key, JSON meta
    flops_line: Callable[[dict[str, float]], str] | None = None  # a table header line
    cuda_loops: tuple[str, ...] = ()  # the default loops of --device cuda (none: CPU only)


def _loops(*loops: Loop) -> dict[str, Loop]:
    return {loop.name: loop for loop in loops}


MODELS: dict[str, Model] = {
    "vae": Model(
        name="vae",
        title="VAE",
        loops=_loops(
            Loop(
                "plain",
                "tutorial loop: DataLoader(TensorDataset) + VAE.loss + Adam, stock layers",
                "plain",
            ),
            Loop("plain-passive", "plain with OMP_WAIT_POLICY=PASSIVE", "plain", env=PASSIVE),
            Loop("cilab", "cilab trainer fit() as committed", "cilab"),
            Loop(
                "cilab-stock",
                "cilab with stock nn.ConvTranspose2d instead of its FastConvTranspose2d",
                "cilab-stock",
            ),
            Loop("cilab-passive", "cilab with OMP_WAIT_POLICY=PASSIVE", "cilab", env=PASSIVE),
            Loop("cilab-bf16", "cilab with bf16=True (autocast forward passes)", "cilab-bf16"),
            Loop("cilab-ddp2", "cilab under torchrun, 2 procs x 1 thread (gloo)", "cilab", 2),
            Loop(
                "cilab-bf16-ddp2",
                "cilab-bf16 under torchrun, 2 procs x 1 thread",
                "cilab-bf16",
                procs=2,
            ),
            Loop(
                "keras",
                "peer: Keras VAE example reproduction, tensorflow-cpu, batch 128",
                peer=True,
                batch=KERAS_BATCH,
                flops="keras",
            ),
        ),
        default_loops=("plain", "cilab", "cilab-stock", "cilab-ddp2"),
        quick_loops=("plain", "cilab", "cilab-stock"),
        peer_script=PEERS / "keras_vae.py",
        flops=vae_flops,
    ),
    "dcgan": Model(
        name="dcgan",
        title="DCGAN",
        loops=_loops(
            Loop(
                "plain",
                "tutorial step in PyTorch: DataLoader(TensorDataset), D(real) and D(fake), "
                "two autograd.grad, two Adam",
                "plain",
                flops="tutorial",
            ),
            Loop("cilab", "cilab GANTrainer fit() as committed", "cilab"),
            Loop("cilab-bf16", "cilab with bf16=True (autocast forward passes)", "cilab-bf16"),
            Loop(
                "cilab-tf32",
                "cilab with TF32 matrix products (cuDNN's convs: TF32 already)",
                "cilab-tf32",
            ),
            Loop(
                "cilab-bf16-cl", "cilab-bf16 with both networks in channels_last", "cilab-bf16-cl"
            ),
            Loop("cilab-compile", "cilab with torch.compile of both networks", "cilab-compile"),
            Loop(
                "cilab-bf16-compile",
                "cilab-bf16 with torch.compile of both networks",
                "cilab-bf16-compile",
            ),
            Loop(
                "cilab-graphs",
                "cilab with torch.compile in mode reduce-overhead (CUDA graphs)",
                "cilab-graphs",
            ),
            Loop(
                "cilab-bf16-graphs",
                "cilab-bf16-compile in mode reduce-overhead (CUDA graphs)",
                "cilab-bf16-graphs",
            ),
            Loop("cilab-ddp2", "cilab under torchrun, 2 procs x 1 thread (gloo)", "cilab", 2),
            Loop(
                "cilab-bf16-ddp2",
                "cilab-bf16 under torchrun, 2 procs x 1 thread",
                "cilab-bf16",
                procs=2,
            ),
            Loop(
                "tf",
                "peer: TensorFlow DCGAN tutorial reproduction, tensorflow-cpu, batch 256",
                peer=True,
                flops="tutorial",
            ),
        ),
        default_loops=("plain", "cilab", "cilab-bf16", "cilab-ddp2", "cilab-bf16-ddp2"),
        # No bf16 in the smoke run: on a CPU without fast bf16 (emulated) one loop takes minutes.
        quick_loops=("plain", "cilab"),
        peer_script=PEERS / "tf_dcgan.py",
        flops=dcgan_flops,
        flops_line=dcgan_flops_line,
        cuda_loops=(
            "plain",
            "cilab",
            "cilab-bf16",
            "cilab-bf16-cl",
            "cilab-bf16-compile",
            "cilab-bf16-graphs",
        ),
    ),
}


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


def peer_python(args: argparse.Namespace) -> str | None:
    """The peer venv's interpreter when it has TensorFlow, else None (with the reason printed)."""
    py = Path(args.peer_python)
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


def measure(
    model: Model, loop: Loop, args: argparse.Namespace, data_dir: str, ppy: str | None
) -> dict:
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
            "--device",
            args.device,
        ]
        worker = [__file__, "--model", model.name, "--worker", loop.worker, *common]
        paths = [str(ROOT / "src"), *filter(None, [os.environ.get("PYTHONPATH")])]
        env = {k: v for k, v in os.environ.items() if k not in TUNING_VARS}
        env.update({"PYTHONPATH": os.pathsep.join(paths), **dict(loop.env)})
        if loop.peer:
            cmd = [str(ppy), str(model.peer_script), *common]
        elif loop.procs > 1:
            env["OMP_NUM_THREADS"] = "1"  # torchrun's own default; made explicit
            cmd = [
                sys.executable,
                "-m",
                "torch.distributed.run",
                "--standalone",
                f"--nproc_per_node={loop.procs}",
                *worker,
            ]
        else:  # torch's default threads, as the tutorial and cilab run, unless --threads
            cmd = [sys.executable, *worker]
        if args.threads and loop.procs == 1:
            # Every single-process loop, PyTorch and TensorFlow alike, on the same cores: a fair
            # side-by-side ratio while other work holds the rest of the machine.
            env.update(
                OMP_NUM_THREADS=str(args.threads),
                TF_NUM_INTRAOP_THREADS=str(args.threads),
                TF_NUM_INTEROP_THREADS="1",
            )
        load = os.getloadavg()[0]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1800)
        if proc.returncode != 0 or not out.exists():
            tail = (proc.stdout + proc.stderr)[-3000:]
            raise RuntimeError(f"{loop.name} failed (exit {proc.returncode}):\n{tail}")
        result = json.loads(out.read_text())
        result["loadavg_1min_before"] = load
        return result


def run_worker(args: argparse.Namespace) -> int:
    result = workers().run(
        args.model, args.worker, args.data_dir, args.steps, args.warmup, args.device
    )
    if int(os.environ.get("RANK", "0")) == 0:
        Path(args.json_out).write_text(json.dumps(result))
    return 0


def summarize(loop: Loop, runs: list[dict], flops: float, peak: float) -> dict[str, Any]:
    rates = [r["img_per_s"] for r in runs]
    med = statistics.median(rates)
    return {
        "loop": loop.name,
        "what": loop.what,
        "procs": loop.procs,
        "env": dict(loop.env),
        "threads_per_proc": runs[0].get("threads"),
        "batch_size": loop.batch,
        "img_per_s": {"median": med, "min": min(rates), "max": max(rates)},
        "train_flops_per_image": flops,
        "gflops": med * flops / 1e9,
        "fraction_of_matmul": med * flops / 1e9 / peak,
        "runs": runs,
    }


def markdown(model: Model, rows: list[dict], meta: dict, flops: dict[str, float]) -> str:
    base = next((r["img_per_s"]["median"] for r in rows if r["loop"] == "plain"), None)
    lines = [
        f"{model.title} training throughput, {meta['date']}, {meta['machine']}"
        + (f", on {meta['gpu']}" if meta.get("gpu") else ""),
        f"torch {meta['torch']}, fp32 {MATMUL_N[meta.get('device', 'cpu')]}^2 matmul "
        f"{meta['matmul_gflops']:,.0f} GFLOP/s; "
        f"{meta['steps']} timed steps after {meta['warmup']} warm-up, {meta['repeats']} repeats"
        f"{', synthetic data' if meta['synthetic'] else ''}",
        *([model.flops_line(flops)] if model.flops_line else []),
        "",
        "| loop | procs x threads | batch | img/s median | min - max | vs plain | s / epoch "
        "| GFLOP/s | of matmul |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        ips = r["img_per_s"]
        rel = f"{ips['median'] / base:.2f}x" if base else "-"
        threads = r["threads_per_proc"] or meta.get("threads") or "tf default"
        lines.append(
            f"| {r['loop']} | {r['procs']} x {threads} | {r['batch_size']} | {ips['median']:,.0f} "
            f"| {ips['min']:,.0f} - {ips['max']:,.0f} | {rel} | {EPOCH / ips['median']:,.1f} "
            f"| {r['gflops']:,.1f} | {100 * r['fraction_of_matmul']:.0f}% |"
        )
    for name, error in meta.get("failed", {}).items():
        lines.append(f"\n{name}: FAILED, {error.splitlines()[-1] if error else 'no output'}")
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
        description="Training images/s of the exercise VAE or the tutorial's DCGAN: a plain "
        "PyTorch loop vs cilab's loop (1 process and torchrun x2) vs the tutorial's own "
        "TensorFlow code (--peers). Prints a Markdown table; --out also writes JSON.",
    )
    p.add_argument("--model", choices=tuple(MODELS), default="vae", help="default vae")
    p.add_argument("--steps", type=int, default=100, help="timed steps per run (default 100)")
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="threads of every single-process loop, PyTorch and TensorFlow (default: each "
        "framework's own default); the matmul reference uses the same number",
    )
    p.add_argument("--warmup", type=int, default=10, help="untimed steps first (default 10)")
    p.add_argument("--repeats", type=int, default=3, help="runs per loop, interleaved (default 3)")
    quick = "; ".join(f"{m.name}: {','.join(m.quick_loops)}" for m in MODELS.values())
    p.add_argument(
        "--quick",
        action="store_true",
        help=f"a few seconds: 5 steps, 2 warm-up, 1 repeat, loops {quick}",
    )
    choices = "; ".join(
        f"{m.name}: {', '.join(m.loops)} (default {','.join(m.default_loops)})"
        for m in MODELS.values()
    )
    p.add_argument("--loops", default=None, help=f"comma-separated, from {choices}")
    p.add_argument(
        "--peers",
        action="store_true",
        help="add the peer: keras (vae) or tf (dcgan); needs .venv-bench",
    )
    p.add_argument(
        "--peer-python",
        "--keras-python",
        dest="peer_python",
        default=str(DEFAULT_PEER_PYTHON),
        help="interpreter of the venv with tensorflow-cpu (default .venv-bench/bin/python)",
    )
    p.add_argument("--data-dir", default=None, help="MNIST IDX folder (default $CILAB_DATA)")
    p.add_argument(
        "--device",
        choices=("cpu", "cuda"),
        default="cpu",
        help="where the loops train (cuda: dcgan only; default loops "
        f"{','.join(MODELS['dcgan'].cuda_loops)}; the matmul reference on the GPU too)",
    )
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
    if args.threads is not None and args.threads < 1:
        p.error("--threads must be >= 1")
    if args.warmup < 1:
        p.error("--warmup must be >= 1")
    model = MODELS[args.model]
    names = args.loops.split(",") if args.loops else None
    cuda = args.device == "cuda"
    if cuda and not model.cuda_loops:
        p.error(f"--device cuda: the {args.model} loops run on the CPU only")
    defaults = model.cuda_loops if cuda else model.default_loops
    names = names or list(model.quick_loops if args.quick else defaults)
    peer = next(name for name, loop in model.loops.items() if loop.peer)
    if args.peers and peer not in names:
        names.append(peer)
    unknown = [n for n in names if n not in model.loops]
    if unknown:
        p.error(
            f"unknown {args.model} loop(s) {', '.join(unknown)}; "
            f"choose from {', '.join(model.loops)}"
        )
    cpu_only = [n for n in names if model.loops[n].peer or model.loops[n].procs > 1]
    if cuda and cpu_only:
        p.error(f"--device cuda: {', '.join(cpu_only)} run on the CPU only")
    args.loop_names = names
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker:
        return run_worker(args)
    import torch

    model = MODELS[args.model]
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
        loops = [model.loops[n] for n in args.loop_names]
        ppy = peer_python(args) if any(lp.peer for lp in loops) else None
        if any(lp.peer for lp in loops) and ppy is None:
            loops = [lp for lp in loops if not lp.peer]
        started = dt.datetime.now().astimezone()
        peak_before = matmul_gflops(threads=args.threads, device=args.device)
        runs: dict[str, list[dict]] = {lp.name: [] for lp in loops}
        failed: dict[str, str] = {}
        for rep in range(args.repeats):
            order = loops if rep % 2 == 0 else loops[::-1]
            for lp in order:
                if lp.name in failed:
                    continue
                try:
                    r = measure(model, lp, args, data_dir, ppy)
                except RuntimeError as e:  # one loop's failure (e.g. a compiler) ends only it
                    failed[lp.name] = str(e)
                    print(f"repeat {rep + 1}/{args.repeats} {e}", flush=True)
                    continue
                runs[lp.name].append(r)
                print(
                    f"repeat {rep + 1}/{args.repeats} {lp.name}: {r['img_per_s']:,.0f} img/s "
                    f"(load {r['loadavg_1min_before']:.1f})",
                    flush=True,
                )
        peak_after = matmul_gflops(threads=args.threads, device=args.device)
        flops, flops_meta = model.flops(data_dir)
    peak = max(peak_before, peak_after)
    meta = {
        "model": model.name,
        "date": started.isoformat(timespec="seconds"),
        "machine": machine(),
        "device": args.device,
        "gpu": torch.cuda.get_device_name() if args.device == "cuda" else None,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "git_commit": git_commit(),
        "command": " ".join(
            [Path(sys.argv[0]).name, *(argv if argv is not None else sys.argv[1:])]
        ),
        "steps": args.steps,
        "threads": args.threads,
        "warmup": args.warmup,
        "repeats": args.repeats,
        "synthetic": args.synthetic,
        "matmul_gflops": peak,
        "matmul_gflops_before_after": [peak_before, peak_after],
        "train_flops_per_image": flops_meta,
        "loadavg_1min_end": os.getloadavg()[0],
    }
    peer_runs = next((runs[lp.name] for lp in loops if lp.peer), None)
    if peer_runs:
        meta["tensorflow"] = peer_runs[0].get("tensorflow")
    rows = [summarize(lp, runs[lp.name], flops[lp.flops], peak) for lp in loops if runs[lp.name]]
    meta["failed"] = failed
    print()
    print(markdown(model, rows, meta, flops))
    if args.out:
        Path(args.out).write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
