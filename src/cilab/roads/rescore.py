"""Re-score a finished cross-validation run with another decision rule, without retraining.

Test-time augmentation, morphology and the threshold-tuning metric act only after training, so
`rescore` re-predicts each fold's out-of-fold tiles with the fold's saved model (only when the
TTA or its zoom changes), then rewrites `config.json`, `cv.json` and `predictor.json` exactly as
`train` would have with those settings: the fold models are the same either way (training never
reads them), so a rescored run equals a run trained with the new settings from the start.
"""

from __future__ import annotations

from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import torch

from cilab.core.device import resolve_bf16, resolve_device
from cilab.core.errors import CilabError
from cilab.core.io import read_json, write_json
from cilab.roads.cv_report import summarize_cv
from cilab.roads.data import load_training
from cilab.roads.predict import load_fold_model
from cilab.roads.train import RoadsTrainConfig, saved_config, write_oof

RESCORABLE = ("tta", "tta_zoom", "morphology", "morph_radius", "tune")


def rescore(run_dir: str | Path, device: str = "auto", **changes: Any) -> dict[str, Any]:
    """Apply `changes` (a subset of `RESCORABLE`) to the run in `run_dir`; returns its new CV
    summary (the content of cv.json)."""
    run = Path(run_dir)
    if not (run / "cv.json").is_file():
        raise CilabError(f"{run}: no cv.json; rescore needs a finished `cilab roads train` run")
    unknown = set(changes) - set(RESCORABLE)
    if unknown:
        raise CilabError(f"cannot rescore {sorted(unknown)}: only {', '.join(RESCORABLE)}")
    cfg = saved_config(run)
    try:
        new = replace(cfg, **{k: v for k, v in changes.items() if v is not None}, out=str(run))
    except ValueError as e:  # the config's own checks, e.g. --tta-zoom on a patch model
        raise CilabError(f"{run}: {e}") from None
    if (new.tta, new.tta_zoom) != (cfg.tta, cfg.tta_zoom):
        if cfg.model == "logreg":
            raise CilabError("logreg predicts without test-time augmentation; drop --tta")
        _repredict_oof(run, new, resolve_device(device))
    write_json(run / "config.json", asdict(new))
    return summarize_cv(run, new)


def _repredict_oof(run: Path, cfg: RoadsTrainConfig, device: torch.device) -> None:
    """Every fold's out-of-fold probabilities again, with `cfg`'s TTA, as training writes them."""
    data = load_training(cfg.data_dir, cfg.limit_images)
    index = {name: i for i, name in enumerate(data.names)}
    bf16 = resolve_bf16(cfg.bf16, device)
    for k in range(cfg.train_folds or cfg.folds):
        fold = run / f"fold_{k}"
        val_names = read_json(fold / "fold.json")["val_names"]
        net = load_fold_model(fold, cfg.model, device)
        images = [data.images[index[n]] for n in val_names]
        write_oof(fold, net, cfg, val_names, images, device, bf16)
