"""`cilab demo`: the main job. For now a short AE + VAE run on MNIST with all figures.

Re-running it continues unfinished runs and skips finished ones, so an interrupted demo loses
nothing.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="run the lab's main job at a quick setting")
    p.add_argument("--out", default="runs/demo", help="where the runs go (default: runs/demo)")
    p.add_argument("--epochs", type=int, default=3, help="epochs per model (default: 3)")
    p.add_argument("--batch-size", type=int, default=256, help="(default: 256)")
    p.add_argument("--val-size", type=int, default=5000, help="held-out images (default: 5000)")
    p.add_argument(
        "--data-dir", default=None, help="data folder (default: $CILAB_DATA, else download)"
    )
    p.add_argument(
        "--device", choices=["auto", "cpu", "cuda"], default="auto", help="(default: auto)"
    )
    p.set_defaults(handler=_demo)


def _demo(args: argparse.Namespace) -> int:
    from cilab.gen.run_eval import compare_runs, evaluate_run
    from cilab.gen.train import GenTrainConfig, train

    out = Path(args.out)
    runs = []
    for model in ("ae", "vae"):
        run_dir = out / f"{model}-2d"
        cfg = GenTrainConfig(
            model=model, epochs=args.epochs, batch_size=args.batch_size, val_size=args.val_size,
            out=str(run_dir), data_dir=args.data_dir, device=args.device,
        )  # fmt: skip
        print(f"== {model.upper()} with a 2-D latent, {args.epochs} epochs -> {run_dir}")
        resume = (run_dir / "last.pt").exists()
        result = train(cfg, resume=resume, typed={"epochs"})
        if result.status == "interrupted":
            return 130
        if not (run_dir / "metrics.json").exists() or result.global_step != _evaluated_step(
            run_dir
        ):
            evaluate_run(
                run_dir, iw_samples=100, iw_images=1000, device=args.device, data_dir=args.data_dir
            )
            _mark_evaluated(run_dir, result.global_step)
        runs.append(run_dir)
    compare_runs(runs, out / "ae_vs_vae.png")
    print(f"figures and metrics.json in {', '.join(map(str, runs))}")
    print(f"AE vs VAE latent spaces: {out / 'ae_vs_vae.png'}")
    return 0


def _evaluated_step(run_dir: Path) -> int | None:
    from cilab.core.io import read_json

    return read_json(run_dir / "metrics.json").get("evaluated_step")


def _mark_evaluated(run_dir: Path, step: int) -> None:
    from cilab.gen.run_eval import update_metrics

    update_metrics(run_dir, {"evaluated_step": step})
