"""Prediction with a trained run: probabilities (TTA, fold averaging), masks and overlays.

`Predictor.load(run_dir)` reads `predictor.json` (written by training) and the models it deploys:
the refit model trained on all images (`refit/`), or the fold models, averaged.
`predict_folder` writes, for every image of a folder, `OUT/<same name>.png` (full-resolution
uint8 mask, 0 background / 255 road) and `OUT/overlay/<name>.png` (the image with the
prediction tinted red and, when ground truth is given, its outline in yellow), plus
`OUT/overlay/montage.png` (the first eight overlays tiled) and `OUT/predict.json` with the patch
threshold that `eval` and `submit` then use.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from cilab.core.checkpoint import load_checkpoint
from cilab.core.chunks import balanced_chunks
from cilab.core.device import resolve_bf16, resolve_device
from cilab.core.errors import CilabError, DataError
from cilab.core.io import read_json, write_json
from cilab.core.progress import progress_bar
from cilab.roads.augment import d4, d4_inverse
from cilab.roads.data import list_images, read_image, read_mask
from cilab.roads.models import PATCH_OUTPUT, build_torch_model
from cilab.roads.models.logreg import load_logreg
from cilab.roads.patches import PATCH, patch_grid
from cilab.roads.plots import overlay, save_montage
from cilab.roads.postprocess import Morphology, final_mask
from cilab.viz.grid import write_atomically

TTA_CHOICES: tuple[str, ...] = ("none", "flips", "d4")
REFIT_DIR = "refit"  # the run's model trained on every training image (`--deploy refit`)
MONTAGE_IMAGES = 8
TTA_ELEMENTS = {"none": (0,), "flips": (0, 4, 6, 2), "d4": tuple(range(8))}


def zoom_factors(zoom: float) -> tuple[float, ...]:
    """Input scales of multi-scale TTA relative to the model's: (1/zoom, 1, zoom), or (1,)."""
    if zoom < 1.0:
        raise ValueError(f"tta-zoom must be >= 1 (1: one scale); got {zoom}")
    return (1.0,) if zoom == 1.0 else (1.0 / zoom, 1.0, zoom)


def to_model_space(images: np.ndarray, scale: float, device: torch.device) -> torch.Tensor:
    """uint8 [N, H, W, 3] -> float [N, 3, h, w] in [0, 1], area-downscaled by `scale`."""
    x = torch.from_numpy(np.ascontiguousarray(images)).to(device).permute(0, 3, 1, 2).float()
    x = x / 255.0
    return downscale(x, scale)


def downscale(x: torch.Tensor, scale: float) -> torch.Tensor:
    """Resize by `scale`: area averaging when shrinking, bilinear when enlarging."""
    if scale == 1.0:
        return x.contiguous()
    h, w = x.shape[-2:]
    size = (max(1, round(h * scale)), max(1, round(w * scale)))
    if scale < 1.0:
        return F.interpolate(x, size=size, mode="area")
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


@torch.inference_mode()
def torch_probabilities(
    models: list[nn.Module],
    image: np.ndarray,
    scale: float,
    tta: str,
    patch_output: bool,
    device: torch.device,
    channels_last: bool = False,
    bf16: bool = False,
    zoom: float = 1.0,
) -> np.ndarray:
    """Mean road probability over TTA symmetries, input scales and models.

    `zoom` > 1 (pixel models only) adds multi-scale TTA: the image also goes in at 1/zoom and
    zoom times the model's scale, each probability map resized back to the image; training's
    random zoom makes the model at home at all three. Returns [H, W] (pixel models, upsampled to
    the image) or [h, w] patches (patch models).
    """
    factors = zoom_factors(zoom)
    if patch_output and factors != (1.0,):
        raise CilabError("multi-scale TTA needs a pixel model (a patch model's grid is fixed)")
    h, w = image.shape[:2]
    total = None
    for f in factors:
        x = to_model_space(image[None], scale * f, device)  # [1, 3, h', w']
        ks = _symmetries(x, tta, round(PATCH * scale * f) if patch_output else None)
        p = _mean_over_symmetries(models, x, ks, channels_last, bf16)  # [1, h', w']
        if not patch_output and p.shape[-2:] != (h, w):
            p = F.interpolate(p[None], size=(h, w), mode="bilinear", align_corners=False)[0]
        total = p if total is None else total + p
    assert total is not None
    return (total / len(factors))[0].cpu().numpy()


def _symmetries(x: torch.Tensor, tta: str, patch_stride: int | None) -> tuple[int, ...]:
    """The D4 elements of `tta` that map input `x` [1, 3, h', w'] onto itself (and, for a patch
    model with output stride `patch_stride`, its patch grid too)."""
    ks = TTA_ELEMENTS[tta]
    square = x.shape[-1] == x.shape[-2]
    if patch_stride is not None:
        square = square and x.shape[-1] % patch_stride == 0
    if not square:
        ks = tuple(k for k in ks if k in (0, 2)) if patch_stride is None else (0,)
    return ks


def _mean_over_symmetries(
    models: list[nn.Module], x: torch.Tensor, ks: tuple[int, ...], channels_last: bool, bf16: bool
) -> torch.Tensor:
    """Mean probability of `models` over the symmetries `ks` of `x`, mapped back: [1, h', w']."""
    batch = torch.cat([d4(x, k) for k in ks])  # [len(ks), 3, h', w']
    if channels_last:
        batch = batch.contiguous(memory_format=torch.channels_last)
    total = None
    for model in models:
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=bf16):
            logits = model(batch)
        p = torch.sigmoid(logits.float())
        p = torch.stack([d4_inverse(p[i], k) for i, k in enumerate(ks)]).mean(0)  # [1, ., .]
        total = p if total is None else total + p
    assert total is not None
    return total / len(models)


@dataclass
class Predictor:
    """A run's fold models and decision rule."""

    model: str
    info: dict[str, Any]
    models: list[Any] = field(default_factory=list)
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def patch_output(self) -> bool:
        return PATCH_OUTPUT[self.model]

    @property
    def threshold(self) -> float:
        return float(self.info["patch_threshold"])

    @classmethod
    def load(
        cls,
        run_dir: str | Path,
        folds: list[int] | None = None,
        device: str = "auto",
        tta: str | None = None,
        tta_zoom: float | None = None,
        deploy: str | None = None,
    ) -> Predictor:
        """The run's predictor; each argument given overrides the run's choice (`folds`: these
        fold models, averaged, whatever the run deploys)."""
        run_dir = Path(run_dir)
        path = run_dir / "predictor.json"
        if not path.is_file():
            raise CilabError(
                f"{run_dir}: no predictor.json; is it a finished `cilab roads train` run "
                "(continue it with --resume)?"
            )
        info = read_json(path)
        if tta is not None:
            info["tta"] = tta
        if tta_zoom is not None:  # checked here: a one-line error before any model loads
            try:
                zoom_factors(tta_zoom)
            except ValueError as e:
                raise CilabError(f"--{e}") from None
            if PATCH_OUTPUT[info["model"]] and tta_zoom != 1.0:
                raise CilabError(f"{run_dir}: multi-scale TTA (--tta-zoom) needs a pixel model")
            info["tta_zoom"] = tta_zoom
        dirs = _model_dirs(run_dir, info, folds, deploy)
        dev = resolve_device(device)
        return cls(info["model"], info, [load_fold_model(d, info["model"], dev) for d in dirs], dev)

    def probabilities(self, image: np.ndarray) -> np.ndarray:
        if self.model == "logreg":  # the features are the same for every fold: compute once
            return logreg_fold_mean(self.models, image)
        return torch_probabilities(
            self.models,
            image,
            self.info["scale"],
            self.info["tta"],
            self.patch_output,
            self.device,
            self.info.get("channels_last", False),
            resolve_bf16(self.info.get("bf16", False), self.device),  # None: auto, per machine
            self.info.get("tta_zoom", 1.0),  # runs from before multi-scale TTA: one scale
        )

    def mask(self, image: np.ndarray, prob: np.ndarray | None = None) -> np.ndarray:
        prob = self.probabilities(image) if prob is None else prob
        morph: Morphology = self.info.get("morphology", "none")
        return final_mask(
            prob, self.patch_output, self.threshold, image.shape[:2], morph,
            self.info.get("morph_radius", 0),
        )  # fmt: skip

    @property
    def mask_threshold(self) -> float:
        """The patch threshold that recovers the patch decisions from the written masks."""
        return 0.5 if self.patch_output else self.threshold


def _model_dirs(
    run_dir: Path, info: dict[str, Any], folds: list[int] | None, deploy: str | None
) -> list[Path]:
    """The model folders a predictor averages; records the choice in `info["deployed"]`."""
    if folds is None and (deploy or info.get("deploy", "folds")) == "refit":
        if not (run_dir / REFIT_DIR / "fold.json").is_file():
            raise CilabError(
                f"{run_dir}: no refit model (trained with --deploy folds, or unfinished: continue "
                "it with `cilab roads train --resume`); predict with --deploy folds"
            )
        info["deployed"] = REFIT_DIR
        return [run_dir / REFIT_DIR]
    use = info["folds"] if folds is None else folds
    missing = sorted(set(use) - set(info["folds"]))
    if missing:
        raise CilabError(f"{run_dir}: no trained fold(s) {missing}; have {info['folds']}")
    info["deployed"] = [int(k) for k in use]
    return [run_dir / f"fold_{k}" for k in use]


def logreg_fold_mean(pipes: list[Any], image: np.ndarray) -> np.ndarray:
    """Mean patch probability of fold pipelines sharing one feature step: [h, w]."""
    features = pipes[0].named_steps["features"]
    rows = features.transform(image[None])
    grid = patch_grid(*image.shape[:2], features.patch)
    probs = [pipe[1:].predict_proba(rows)[:, 1] for pipe in pipes]
    return np.mean(probs, axis=0).reshape(grid).astype(np.float32)


def load_fold_model(fold_dir: Path, model: str, device: torch.device) -> Any:
    """The model of one model folder (`fold_K/` or `refit/`), ready to predict.

    Logreg: the scikit-learn pipeline. Torch: the net built from the checkpoint's
    config, on `device`, in eval mode, channels-last when it was trained so.
    """
    if model == "logreg":
        pipe, _ = load_logreg(fold_dir / "model.npz")
        return pipe
    state = load_checkpoint(fold_dir / "model.pt", map_location=device)
    cfg = state["config"]
    net = build_torch_model(model, cfg["width"], cfg["depth"]).to(device)
    try:
        net.load_state_dict(state["model"])
    except RuntimeError as e:
        raise DataError(fold_dir / "model.pt", f"weights do not fit the model ({e})") from None
    net.eval()
    if cfg.get("channels_last"):
        net = net.to(memory_format=torch.channels_last)
    return net


def save_mask(mask: np.ndarray, path: Path) -> None:
    """Write a uint8 [H, W] mask (0/255) as a greyscale PNG, atomically."""
    write_atomically(path, lambda tmp: Image.fromarray(mask, mode="L").save(tmp, format="PNG"))


def save_rgb(image: np.ndarray, path: Path) -> None:
    """Write a uint8 [H, W, 3] image (an overlay) as an RGB PNG, atomically."""
    write_atomically(path, lambda tmp: Image.fromarray(image, mode="RGB").save(tmp, format="PNG"))


def predict_folder(
    run_dir: str | Path,
    images_dir: str | Path,
    out_dir: str | Path,
    groundtruth: str | Path | None = None,
    folds: list[int] | None = None,
    tta: str | None = None,
    device: str = "auto",
    overlays: bool = True,
    workers: int = 1,
    tta_zoom: float | None = None,
    deploy: str | None = None,
) -> dict[str, Any]:
    """Masks (and overlays) for every image in `images_dir`; returns what predict.json holds.

    `workers` > 1 (CPU only) splits the images over that many processes of one torch thread
    each: at inference a single process keeps two cores only about 1.5 busy (small per-layer
    work), two one-thread processes keep both busy. Every image is predicted the same way.
    """
    start = time.perf_counter()
    choice = {"folds": folds, "tta": tta, "tta_zoom": tta_zoom, "deploy": deploy}
    predictor = Predictor.load(run_dir, device=device, **choice)  # type: ignore[arg-type]
    out = Path(out_dir)
    paths = list_images(images_dir)
    if out.resolve() == Path(images_dir).resolve():
        raise CilabError(f"{out}: the output folder must differ from the images folder")
    if workers > 1 and predictor.device.type == "cpu" and len(paths) > 1:
        from joblib import Parallel, delayed

        chunks = balanced_chunks(paths, workers, max_size=16)
        jobs = (
            delayed(_predict_chunk)(run_dir, c, out, groundtruth, choice, overlays) for c in chunks
        )
        done = Parallel(n_jobs=workers, return_as="generator")(jobs)
        for _ in progress_bar(done, total=len(chunks), unit="chunk", desc="predict"):
            pass
    else:
        for path in progress_bar(paths, unit="img", desc="predict"):
            _predict_one(predictor, path, out, groundtruth, overlays)
    if overlays:  # a figure of the first few, for reports
        shown = [out / "overlay" / f"{p.stem}.png" for p in paths[:MONTAGE_IMAGES]]
        save_montage(shown, out / "overlay" / "montage.png", nrow=4)
    info = {
        "run_dir": str(run_dir),
        "images": str(images_dir),
        "n_images": len(paths),
        "model": predictor.model,
        "models": predictor.info["deployed"],
        "tta": predictor.info["tta"],
        "tta_zoom": predictor.info.get("tta_zoom", 1.0),
        "patch_threshold": predictor.mask_threshold,
        "model_patch_threshold": predictor.threshold,
        "seconds": round(time.perf_counter() - start, 2),
    }
    write_json(out / "predict.json", info)
    return info


def _predict_one(
    predictor: Predictor, path: Path, out: Path, groundtruth: str | Path | None, overlays: bool
) -> None:
    image = read_image(path)
    mask = predictor.mask(image)
    save_mask(mask, out / f"{path.stem}.png")
    if overlays:
        gt = None
        if groundtruth is not None:
            gt_path = Path(groundtruth) / path.name
            gt = read_mask(gt_path) if gt_path.is_file() else None
        save_rgb(overlay(image, mask, gt), out / "overlay" / f"{path.stem}.png")


def _predict_chunk(
    run_dir: str | Path,
    paths: list[Path],
    out: Path,
    groundtruth: str | Path | None,
    choice: dict[str, Any],
    overlays: bool,
) -> None:
    """One worker process's share: one torch thread, its own copy of the models."""
    torch.set_num_threads(1)
    predictor = Predictor.load(run_dir, device="cpu", **choice)
    for path in paths:
        _predict_one(predictor, path, out, groundtruth, overlays)


def patch_threshold_of(pred_dir: str | Path, given: float | None) -> float:
    """`given`, else the threshold recorded by `predict`, else the competition's 0.25."""
    if given is not None:
        return given
    path = Path(pred_dir) / "predict.json"
    if path.is_file():
        return float(read_json(path)["patch_threshold"])
    return 0.25
