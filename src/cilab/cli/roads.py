"""`cilab roads ...`: train, predict, evaluate and submit road segmentations (CIL 2019)."""

from __future__ import annotations

import argparse
import sys

from cilab.cli.common import add_device_flag
from cilab.core.config import add_config_arguments, config_from_namespace


def register(sub: argparse._SubParsersAction) -> None:
    """Add `cilab roads` (train, predict, eval, submit, ...) to the parser."""
    roads = sub.add_parser("roads", help="road segmentation of aerial images (CIL 2019)")
    cmds = roads.add_subparsers(dest="command", metavar="COMMAND", required=True)

    from cilab.roads.train import RoadsTrainConfig

    p = cmds.add_parser("train", help="k-fold cross-validated training into a run directory")
    add_config_arguments(p, RoadsTrainConfig, exclude=("fold",))
    p.add_argument("--config", metavar="FILE", help="YAML file of options (flags override it)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    p.set_defaults(handler=_train)

    p = cmds.add_parser(
        "rescore",
        help="re-score a finished run with another TTA, morphology or tuning (no retraining)",
    )
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--tta", choices=["none", "flips", "d4"], help="re-predicts the OOF tiles")
    p.add_argument(
        "--tta-zoom", type=float, metavar="Z",
        help="multi-scale TTA at 1/Z, 1 and Z times the model's scale (1: one scale); "
        "re-predicts the OOF tiles",
    )  # fmt: skip
    p.add_argument("--morphology", choices=["none", "open", "close", "open-close"])
    p.add_argument("--morph-radius", type=int, metavar="R")
    p.add_argument("--tune", choices=["accuracy", "f1", "none"])
    add_device_flag(p)
    p.set_defaults(handler=_rescore)

    p = cmds.add_parser("predict", help="full-resolution masks and overlays for a folder")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--images", required=True, metavar="DIR", help="folder of RGB images")
    p.add_argument("--out", required=True, metavar="PRED_DIR", help="where masks go (created)")
    p.add_argument("--groundtruth", metavar="DIR", help="outline the truth in the overlays")
    p.add_argument(
        "--fold", type=int, action="append", metavar="K",
        help="use only fold K's model (repeatable; default: average all folds)",
    )  # fmt: skip
    p.add_argument(
        "--tta", choices=["none", "flips", "d4"], default=None,
        help="test-time augmentation (default: the run's)",
    )  # fmt: skip
    p.add_argument(
        "--tta-zoom", type=float, default=None, metavar="Z",
        help="multi-scale TTA at 1/Z, 1 and Z times the model's scale (default: the run's)",
    )  # fmt: skip
    p.add_argument(
        "--deploy", choices=["folds", "refit"], default=None,
        help="the fold models averaged, or the model refit on all images (default: the run's)",
    )  # fmt: skip
    p.add_argument("--no-overlays", action="store_true", help="masks only")
    p.add_argument(
        "--threads", type=int, default=None,
        help="CPU threads for torch (default: torch's; 1 is faster on oversubscribed cores)",
    )  # fmt: skip
    p.add_argument(
        "--workers", type=int, default=1,
        help="CPU processes of one thread each over the images (default: 1; 2 uses both cores "
        "of a 2-core machine fully)",
    )  # fmt: skip
    add_device_flag(p)
    p.set_defaults(handler=_predict)

    p = cmds.add_parser("eval", help="metrics of predicted masks against ground truth")
    p.add_argument("pred_dir", metavar="PRED_DIR")
    p.add_argument("--groundtruth", required=True, metavar="DIR", help="truth masks, same names")
    p.add_argument(
        "--patch-threshold", type=float, default=None,
        help="a predicted patch is road if its mask mean > this "
        "(default: predict.json's, else 0.25)",
    )  # fmt: skip
    p.add_argument(
        "--gt-threshold", type=float, default=0.25,
        help="a truth patch is road if its mean > this (default: 0.25, the competition's)",
    )  # fmt: skip
    p.set_defaults(handler=_eval)

    p = cmds.add_parser("submit", help="the competition's Id,Prediction CSV from masks")
    p.add_argument("pred_dir", metavar="PRED_DIR")
    p.add_argument("--out", required=True, metavar="FILE.csv")
    p.add_argument(
        "--patch-threshold", type=float, default=None,
        help="a patch is road if its mask mean > this (default: predict.json's, else 0.25)",
    )  # fmt: skip
    p.add_argument(
        "--template", metavar="CSV", default=None,
        help="take the row order from this CSV (default: sample_submission.csv's order)",
    )  # fmt: skip
    p.set_defaults(handler=_submit)


def _train(args: argparse.Namespace) -> int:
    from cilab.roads.train import RoadsTrainConfig, train_roads

    cfg = config_from_namespace(RoadsTrainConfig, args)
    typed = {k for k in vars(args) if k in RoadsTrainConfig.__dataclass_fields__}
    result = train_roads(cfg, resume=args.resume, typed=typed)
    if result.status != "finished":
        print(
            f"cilab: stopped ({result.status}); continue with: "
            f"cilab roads train --out {result.run_dir} --resume",
            file=sys.stderr,
        )
        return 130 if result.status == "interrupted" else 0
    if result.summary is None:  # a torchrun rank other than 0: rank 0 reports
        return 0
    _print_cv(result.summary, result.run_dir)
    return 0


def _print_cv(s: dict, run_dir: object) -> None:
    print(
        f"cross-validation over {s['trained_folds']} of {s['folds']} folds, {s['n_images']} images:"
    )
    for key, v in s["mean_std"].items():
        print(f"  {key:>15s}  {v['mean']:.4f} +- {v['std']:.4f}")
    bg = s["reference_all_background"]
    print(f"  all-background patch_accuracy {bg['patch_accuracy']:.4f}")
    print(f"run saved in {run_dir} (cv.json, predictor.json)")


def _rescore(args: argparse.Namespace) -> int:
    from cilab.roads.rescore import RESCORABLE, rescore

    changes = {k: getattr(args, k) for k in RESCORABLE}
    _print_cv(rescore(args.run_dir, device=args.device, **changes), args.run_dir)
    return 0


def _predict(args: argparse.Namespace) -> int:
    from cilab.roads.predict import predict_folder

    if args.threads is not None:
        import torch

        torch.set_num_threads(args.threads)
    info = predict_folder(
        args.run_dir, args.images, args.out, groundtruth=args.groundtruth, folds=args.fold,
        tta=args.tta, device=args.device, overlays=not args.no_overlays, workers=args.workers,
        tta_zoom=args.tta_zoom, deploy=args.deploy,
    )  # fmt: skip
    print(f"wrote {info['n_images']} masks to {args.out} in {info['seconds']:.1f} s")
    return 0


def _eval(args: argparse.Namespace) -> int:
    from cilab.roads.evaluate import evaluate_folder
    from cilab.roads.predict import patch_threshold_of

    t = patch_threshold_of(args.pred_dir, args.patch_threshold)
    result = evaluate_folder(args.pred_dir, args.groundtruth, t, args.gt_threshold)
    for k, v in result["overall"].items():
        print(f"{k:>16s}  {v:.4f}")
    print(f"wrote {args.pred_dir}/metrics.json ({result['n_images']} images)")
    return 0


def _submit(args: argparse.Namespace) -> int:
    from cilab.roads.predict import patch_threshold_of
    from cilab.roads.submit import submit_folder

    t = patch_threshold_of(args.pred_dir, args.patch_threshold)
    n = submit_folder(args.pred_dir, args.out, t, args.template)
    print(f"wrote {args.out} ({n} patches)")
    return 0
