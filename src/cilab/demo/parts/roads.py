"""The demo's road-segmentation part: the course baseline and the U-Net cross-validated,
then the U-Net's test predictions and submission when test images are there.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from cilab.core.errors import CilabError
from cilab.core.progress import note
from cilab.demo.cache import StepRecord, stable
from cilab.demo.context import Ctx, MissingData, flags, pick, raise_if_interrupted


def roads_layout(data_dir: str | None) -> str:
    """Where the road data is looked for, file by file."""
    if data_dir is not None:
        root = f"{data_dir}/roads"
    elif os.environ.get("CILAB_DATA"):
        root = f"$CILAB_DATA/roads (= {os.environ['CILAB_DATA']}/roads)"
    else:
        root = "$CILAB_DATA/roads"
    r = root.split(" ")[0]
    return (
        f"the road data (CIL 2019) goes in {root}:\n"
        f"    {r}/training/images/*.png        RGB aerial tiles, e.g. satImage_001.png\n"
        f"    {r}/training/groundtruth/*.png   their masks, same file names\n"
        f"    {r}/test_images/test_N.png       test images (optional: predictions, submission)\n"
        "  set CILAB_DATA (or pass --data-dir DIR with DIR/roads) and rerun the demo: the "
        "finished parts are reused"
    )


def find_roads(data_dir: str | None) -> Path:
    """The road data's root; `MissingData` with the expected layout when training data is absent."""
    from cilab.roads.data import find_roads_dir

    try:
        root = find_roads_dir(data_dir)
    except CilabError:
        raise MissingData(f"no road data found\n  {roads_layout(data_dir)}") from None
    for sub in ("training/images", "training/groundtruth"):
        folder = root / sub
        if not folder.is_dir() or not any(folder.glob("*.png")):
            raise MissingData(
                f"{folder}: missing or holds no .png files\n  {roads_layout(data_dir)}"
            )
    return root


ROADS_KEYS = ("patch_accuracy", "patch_f1", "pixel_f1", "pixel_iou")


def roads(ctx: Ctx) -> dict[str, Any]:
    """Logreg and U-Net CV, then, with test images, the U-Net's predictions and submission."""
    from cilab.roads.train import RoadsTrainConfig

    root = find_roads(ctx.cfg.data_dir)
    base = ctx.dir("roads")
    metrics: dict[str, Any] = {}
    trained = {}
    for name, opts in (("logreg", ctx.scale.roads_logreg), ("unet", ctx.scale.roads_unet)):
        rcfg = RoadsTrainConfig(
            **{**opts, "data_dir": str(root), "device": ctx.cfg.device, "out": str(base / name)}
        )
        trained[name] = _roads_train(ctx, name, rcfg)
        metrics[name] = trained[name].metrics
    test_dir = root / "test_images"
    if not test_dir.is_dir() or not any(test_dir.glob("*.png")):
        note(f"{test_dir}: no test images; skipping the predictions and the submission")
        return metrics
    run = base / "unet"
    pred = run / "test_pred"
    tta = ctx.scale.roads_predict.get("tta")
    p = ctx.ledger.step(
        "roads", "unet-predict", config={"tta": tta, "images": str(test_dir)},
        deps=[trained["unet"].config_hash], action=lambda resume: _predict(ctx, run, test_dir, tta),
        where=pred, owns=[pred], outputs=[pred / "predict.json"],
        command=f"cilab roads predict {run} --images {test_dir} --out {pred}"
        + (f" --tta {tta}" if tta else ""),
        describe="masks and overlays of the test images",
    )  # fmt: skip
    csv = run / "submission.csv"
    s = ctx.ledger.step(
        "roads", "unet-submit", config={}, deps=[p.config_hash], where=csv, owns=[csv],
        outputs=[csv], action=lambda resume: _submit(pred, csv),
        command=f"cilab roads submit {pred} --out {csv}", describe="the competition's CSV",
    )  # fmt: skip
    metrics["unet"] = {**metrics["unet"], **p.metrics, **s.metrics}
    return metrics


def _roads_train(ctx: Ctx, name: str, rcfg: Any) -> StepRecord:
    from cilab.roads.train import train_roads

    run = Path(rcfg.out)

    def action(resume: bool) -> dict[str, Any]:
        result = train_roads(rcfg, resume=resume and (run / "config.json").exists())
        raise_if_interrupted(result.status)
        s = result.summary
        assert s is not None
        return {
            **{k: s["mean_std"][k]["mean"] for k in ROADS_KEYS},
            "trained_folds": s["trained_folds"], "folds": s["folds"],
            "deployed_threshold": s["deployed_threshold"],
            "all_background_patch_accuracy": s["reference_all_background"]["patch_accuracy"],
        }  # fmt: skip

    folds = rcfg.train_folds or rcfg.folds
    what = "course baseline (logistic regression)" if rcfg.model == "logreg" else "U-Net"
    what += f", {folds} of {rcfg.folds} folds"
    if rcfg.model != "logreg":
        what += f", {rcfg.epochs} epoch{'s' * (rcfg.epochs != 1)} at {rcfg.scale:g}x resolution"
    return ctx.ledger.step(
        "roads", name, config=stable(rcfg, drop=("data_dir",)),
        deps=[str(Path(rcfg.data_dir).resolve())],
        action=action, where=run, owns=[run], outputs=[run / "cv.json", run / "predictor.json"],
        command=f"cilab roads train {flags(rcfg, exclude=('fold',), always=('model',))}",
        describe=what,
    )  # fmt: skip


def _predict(ctx: Ctx, run: Path, images: Path, tta: str | None) -> dict[str, Any]:
    from cilab.roads.predict import predict_folder

    info = predict_folder(run, images, run / "test_pred", tta=tta, device=ctx.cfg.device)
    return {"test_images": info["n_images"], **pick(info, ("patch_threshold", "tta"))}


def _submit(pred: Path, csv: Path) -> dict[str, Any]:
    from cilab.roads.predict import patch_threshold_of
    from cilab.roads.submit import submit_folder

    return {"submission_rows": submit_folder(pred, csv, patch_threshold_of(pred, None), None)}
