"""`cilab cosmo ...`: simulate cosmology data, check the simulation, extract features, fit."""

from __future__ import annotations

import argparse

from cilab.core.config import add_config_arguments, config_from_namespace


def register(sub: argparse._SubParsersAction) -> None:
    cosmo = sub.add_parser("cosmo", help="cosmology images: simulator, features, classifiers")
    cmds = cosmo.add_subparsers(dest="command", metavar="COMMAND", required=True)

    from cilab.cosmo.simulate import SimulateConfig

    p = cmds.add_parser(
        "simulate", help="write a simulated dataset in the original layout (labeled/scored/query)"
    )
    add_config_arguments(p, SimulateConfig)
    p.add_argument("--config", metavar="FILE", help="YAML file of options (flags override it)")
    p.set_defaults(handler=_simulate)


def _simulate(args: argparse.Namespace) -> int:
    from cilab.cosmo.simulate import SimulateConfig, simulate

    cfg = config_from_namespace(SimulateConfig, args)
    result = simulate(cfg, progress=True)
    rate = result.n_images / max(result.seconds, 1e-9)
    print(
        f"wrote {result.n_images} images to {result.out} in {result.seconds:.1f} s "
        f"({rate:.1f} images/s, {cfg.workers} worker(s))"
    )
    return 0
