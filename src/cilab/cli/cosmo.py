"""`cilab cosmo ...`: simulate cosmology data, check the simulation, extract features, fit."""

from __future__ import annotations

import argparse

from cilab.core.config import add_config_arguments, config_from_namespace


def register(sub: argparse._SubParsersAction) -> None:
    """Add `cilab cosmo` (simulate, validate-sim and the model commands) to the parser."""
    cosmo = sub.add_parser("cosmo", help="cosmology images: simulator, features, classifiers")
    cmds = cosmo.add_subparsers(dest="command", metavar="COMMAND", required=True)

    from cilab.cosmo.config import SimulateConfig

    p = cmds.add_parser(
        "simulate", help="write a simulated dataset in the original layout (labeled/scored/query)"
    )
    add_config_arguments(p, SimulateConfig)
    p.add_argument("--config", metavar="FILE", help="YAML file of options (flags override it)")
    p.set_defaults(handler=_simulate)

    p = cmds.add_parser(
        "validate-sim", help="simulated vs real statistics side by side, with the numbers"
    )
    p.add_argument("sim_dir", metavar="DIR", help="a folder written by cilab cosmo simulate")
    p.add_argument("--out", required=True, metavar="FIG.png", help="figure; numbers go to FIG.json")
    p.add_argument(
        "--real-dir",
        default=None,
        help="real calibration data: real_samples/, real_patch_mosaics/, real_csv/ "
        "(default: $CILAB_DATA/cosmology when present)",
    )
    p.add_argument(
        "--n-images", type=int, default=200, help="label-1 images to measure (default: 200)"
    )
    p.add_argument("--workers", type=int, default=1, help="parallel processes (default: 1)")
    p.set_defaults(handler=_validate_sim)

    p = cmds.add_parser(
        "extract", help="features of every image (streaming, parallel, cached) into one .npz"
    )
    p.add_argument("--data-dir", default=None, help="data folder (else $COSMOLOGY_DATA, ...)")
    p.add_argument("--out", default=None, metavar="FILE.npz", help="where to save the features")
    p.add_argument("--splits", default="labeled,scored,query", help="comma-separated splits")
    p.add_argument("--families", default=None, help="comma-separated families (default: all)")
    p.add_argument("--workers", type=int, default=1, help="parallel processes (default: 1)")
    p.add_argument("--cache-dir", default=None, help="feature cache (default: $CILAB_CACHE/...)")
    p.add_argument("--no-cache", action="store_true", help="compute everything, store nothing")
    p.set_defaults(handler=_extract)

    from cilab.cosmo.config import ClassifyConfig, ModelRunConfig

    for name, text, cls in (
        (
            "classify",
            "real vs not-real on labeled/: the exercise baseline, stronger models, a CNN (--cnn)",
            ClassifyConfig,
        ),
        (
            "regress",
            "scored/ -> similarity score, CV MAE, and submission.csv for query/",
            ModelRunConfig,
        ),
    ):
        p = cmds.add_parser(name, help=text)
        add_config_arguments(p, cls)
        p.add_argument("--config", metavar="FILE", help="YAML file of options (flags override it)")
        p.set_defaults(handler=_classify if name == "classify" else _regress)


def _simulate(args: argparse.Namespace) -> int:
    from cilab.cosmo.simulate import SimulateConfig, simulate

    cfg = config_from_namespace(SimulateConfig, args)
    result = simulate(cfg, progress=True)
    rate = result.n_images / max(result.seconds, 1e-9)
    print(
        f"wrote {result.n_images} images to {result.out} in {result.seconds:.1f} s "
        f"({rate:.1f} images/s, {cfg.workers} worker(s)); CPU {result.cpu_seconds:.1f} s "
        f"({1000 * result.cpu_seconds / max(result.n_images, 1):.1f} ms per image)"
    )
    return 0


def _validate_sim(args: argparse.Namespace) -> int:
    from cilab.cosmo.validate_sim import validate_sim

    n = validate_sim(args.sim_dir, args.out, args.real_dir, args.n_images, args.workers)
    for key, value in n["sim"].items():
        print(f"sim  {key:>28s}  {value}")
    for key, value in n["real"].items():
        print(f"real {key:>28s}  {value}")
    if "score_ks_distance" in n:
        print(f"score KS distance (simulated vs real scored.csv): {n['score_ks_distance']:.4f}")
    print(f"wrote {args.out}")
    return 0


def _extract(args: argparse.Namespace) -> int:
    from pathlib import Path

    from cilab.cosmo.extract import default_cache_dir, extract_layout
    from cilab.cosmo.features import FAMILIES

    families = [f.strip() for f in (args.families or ",".join(FAMILIES)).split(",") if f.strip()]
    cache = (
        None if args.no_cache else Path(args.cache_dir) if args.cache_dir else default_cache_dir()
    )
    splits = [s.strip() for s in args.splits.split(",") if s.strip()]
    table, stats, _ = extract_layout(
        args.data_dir, args.out, splits, families, args.workers, cache, progress=True
    )
    rate = stats.images / max(stats.seconds, 1e-9)
    print(
        f"{stats.images} images x {table.X.shape[1]} features in {stats.seconds:.1f} s "
        f"({rate:.1f} images/s, {args.workers} worker(s), cache: {cache or 'off'}); "
        f"CPU {stats.cpu_seconds:.1f} s ({1000 * stats.cpu_seconds / max(stats.images, 1):.1f} ms "
        "per image)"
    )
    if args.out:
        print(f"wrote {args.out}")
    return 0


def _classify(args: argparse.Namespace) -> int:
    from cilab.cosmo.classify import run_classify
    from cilab.cosmo.config import ClassifyConfig

    cfg = config_from_namespace(ClassifyConfig, args)
    m = run_classify(cfg, progress=True)
    print(m["cv"])
    for name, r in m["results"].items():
        acc, auroc, auprc = r["accuracy"], r["auroc"], r["auprc"]
        print(
            f"{name:>18s}  accuracy {acc[0]:.3f} ± {acc[1]:.3f}  AUROC {auroc[0]:.3f} ± "
            f"{auroc[1]:.3f}  AUPRC {auprc[0]:.3f} ± {auprc[1]:.3f}"
        )
    if "cnn" in m:
        c = m["cnn"]
        print(
            f"CNN: {c['splits']} splits, {c['split_seconds']:.1f} s each "
            f"({c['split_seconds_per_1000_train_images']:.1f} s per 1000 training images, "
            f"{c['epochs']} epochs at {c['input_side']} px)"
        )
    print(f"best feature model: {m['best']}; results in {cfg.out}")
    return 0


def _regress(args: argparse.Namespace) -> int:
    from cilab.cosmo.config import ModelRunConfig
    from cilab.cosmo.regress import run_regress

    cfg = config_from_namespace(ModelRunConfig, args)
    m = run_regress(cfg, progress=True)
    print(m["cv"])
    for name, r in m["results"].items():
        q = f"  query MAE {r['query_mae']:.3f}" if "query_mae" in r else ""
        print(f"{name:>18s}  CV MAE {r['cv_mae'][0]:.3f} ± {r['cv_mae'][1]:.3f}{q}")
    print(f"best: {m['best']}; submission: {cfg.out}/submission.csv")
    return 0
