"""`cilab gen ...`: train, evaluate and compare generative models on MNIST."""

from __future__ import annotations

import argparse
import sys

from cilab.core.config import add_config_arguments, config_from_namespace


def register(sub: argparse._SubParsersAction) -> None:
    gen = sub.add_parser("gen", help="generative models on MNIST (AE, VAE)")
    cmds = gen.add_subparsers(dest="command", metavar="COMMAND", required=True)

    from cilab.gen.train import GenTrainConfig

    p = cmds.add_parser("train", help="train a model into a run directory")
    add_config_arguments(p, GenTrainConfig)
    p.add_argument("--config", metavar="FILE", help="YAML file of options (flags override it)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from last.pt")
    p.set_defaults(handler=_train)

    p = cmds.add_parser("eval", help="metrics.json and figures for a trained run")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument(
        "--iw-samples",
        type=int,
        default=5000,
        help="K for the importance-weighted NLL; 0 skips it (default: 5000)",
    )
    p.add_argument(
        "--iw-images",
        type=int,
        default=None,
        help="only the first N test images for the IW NLL (default: all)",
    )
    p.add_argument(
        "--checkpoint",
        choices=["best", "last"],
        default="best",
        help="which weights (default: best)",
    )
    p.add_argument(
        "--data-dir", default=None, help="data folder, if not the one the run was trained on"
    )
    p.add_argument("--no-figures", action="store_true", help="metrics only")
    p.add_argument("--seed", type=int, default=0, help="seed of the evaluation noise (default: 0)")
    p.add_argument(
        "--device", choices=["auto", "cpu", "cuda"], default="auto", help="(default: auto)"
    )
    p.set_defaults(handler=_eval)

    p = cmds.add_parser("compare", help="latent spaces of evaluated runs side by side")
    p.add_argument("run_dirs", metavar="RUN_DIR", nargs="+")
    p.add_argument("--out", required=True, metavar="FILE.png")
    p.set_defaults(handler=_compare)


def _train(args: argparse.Namespace) -> int:
    from cilab.gen.train import GenTrainConfig, train

    cfg = config_from_namespace(GenTrainConfig, args)
    typed = {k for k in vars(args) if k in GenTrainConfig.__dataclass_fields__}
    result = train(cfg, resume=args.resume, typed=typed)
    if result.status == "interrupted":
        print(
            f"cilab: interrupted; saved {result.run_dir / 'last.pt'} at step {result.global_step}. "
            f"Continue with: cilab gen train --out {result.run_dir} --resume",
            file=sys.stderr,
        )
        return 130
    print(f"run saved in {result.run_dir} ({result.epoch} epochs, {result.global_step} steps)")
    return 0


def _eval(args: argparse.Namespace) -> int:
    from cilab.gen.run_eval import evaluate_run

    metrics = evaluate_run(
        args.run_dir,
        iw_samples=args.iw_samples,
        iw_images=args.iw_images,
        checkpoint=args.checkpoint,
        device=args.device,
        seed=args.seed,
        data_dir=args.data_dir,
        figures=not args.no_figures,
    )
    for k, v in sorted(metrics.items()):
        print(f"{k:>20s}  {v:.4f}" if isinstance(v, float) else f"{k:>20s}  {v}")
    return 0


def _compare(args: argparse.Namespace) -> int:
    from cilab.gen.run_eval import compare_runs

    compare_runs(args.run_dirs, args.out)
    print(f"wrote {args.out}")
    return 0
