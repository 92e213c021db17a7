"""`cilab demo`: every part of the lab at a quick setting (see `cilab.demo`).

Re-running it reuses finished steps and resumes an interrupted one, so an interrupted demo loses
nothing; a part whose settings changed reruns alone.
"""

from __future__ import annotations

import argparse

from cilab.cli.common import add_device_flag

PARTS_HELP = "theory,gen,roads,cosmo"


def register(sub: argparse._SubParsersAction) -> None:
    """Add `cilab demo`, the one command that runs every part end to end."""
    p = sub.add_parser(
        "demo",
        help="run every part of the lab at a quick setting (resumable, cached)",
        description="Run the theory checks, AE/VAE/DCGAN on MNIST, the road models and the "
        "cosmology pipeline at a small setting (--quick, ~15 min on 2 cores) or the recorded "
        "one (--full, hours). Rerunning reuses finished steps; RUNS_DIR/demo.json summarises.",
    )
    p.add_argument("--out", default="runs/demo", metavar="RUNS_DIR",
                   help="where the runs go (default: runs/demo)")  # fmt: skip
    p.add_argument("--only", default=None, metavar="PARTS",
                   help=f"comma-separated parts, of {PARTS_HELP} (default: all)")  # fmt: skip
    p.add_argument(
        "--skip", default=None, metavar="PARTS", help="comma-separated parts to leave out"
    )
    size = p.add_mutually_exclusive_group()
    size.add_argument("--quick", dest="scale", action="store_const", const="quick",
                      help="small settings, ~15 min on a 2-core CPU (the default)")  # fmt: skip
    size.add_argument("--full", dest="scale", action="store_const", const="full",
                      help="the documented settings (60-epoch VAE, 50-epoch DCGAN, 5-fold U-Net, "
                      "12,000 simulated images): hours")  # fmt: skip
    p.set_defaults(scale="quick")
    p.add_argument(
        "--data-dir", default=None,
        help="data root holding mnist/ and roads/ (default: $CILAB_DATA; MNIST downloads)",
    )  # fmt: skip
    p.add_argument(
        "--cosmo-data", default=None, metavar="DIR",
        help="real cosmology data (labeled/, scored/, query/) instead of a simulated set",
    )  # fmt: skip
    p.add_argument(
        "--workers", type=int, default=None,
        help="processes for the cosmology part (default: the cores, at most 4)",
    )  # fmt: skip
    add_device_flag(p)
    p.set_defaults(handler=_demo)


def _parts(spec: str | None) -> list[str]:
    return [s.strip() for s in (spec or "").split(",") if s.strip()]


def _demo(args: argparse.Namespace) -> int:
    from cilab.core.errors import CilabError
    from cilab.demo import PARTS, SCALES, DemoConfig, run_demo

    only, skip = _parts(args.only), _parts(args.skip)
    unknown = [p for p in only + skip if p not in PARTS]
    if unknown:
        raise CilabError(f"unknown part(s) {', '.join(unknown)}; choose from {PARTS_HELP}")
    parts = tuple(p for p in PARTS if (not only or p in only) and p not in skip)
    if not parts:
        raise CilabError("--only/--skip leave no part to run")
    cfg = DemoConfig(
        out=args.out, parts=parts, scale=SCALES[args.scale], data_dir=args.data_dir,
        cosmo_data=args.cosmo_data, device=args.device,
    )  # fmt: skip
    if args.workers is not None:
        if args.workers < 1:
            raise CilabError("--workers must be >= 1")
        cfg.workers = args.workers
    return run_demo(cfg).exit_code
