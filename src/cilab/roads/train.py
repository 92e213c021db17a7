"""k-fold cross-validated training of the road models (the CV report: `cv_report.py`).

`train_roads(cfg)` splits the training images into `folds` folds (seeded, by image), trains one
model per fold on the others and predicts the held-out fold (out-of-fold, "OOF"). Then it tunes
the patch threshold, reports per-fold and mean +- std metrics, and writes the predictor: the
average of the fold models (`--deploy folds`), or (`--deploy refit`, the U-Net's default) one
more model trained the same way on every training image. A run directory:

    RUN_DIR/config.json      the resolved config
    RUN_DIR/fold_K/          model.pt (torch) or model.npz (logreg), oof.npz, fold.json;
                             torch folds also config.json, metrics.jsonl, tb/, last.pt
    RUN_DIR/refit/           with --deploy refit: the same, without oof.npz
    RUN_DIR/cv.json          per-fold and mean/std metrics, thresholds, all-background reference
    RUN_DIR/predictor.json   what `cilab roads predict` uses

Honest thresholds: fold k's metrics use the threshold tuned on the OOF predictions of the other
folds (never its own); the deployed threshold is tuned on all OOF predictions. Model weights are
those of the last epoch (no early stopping on the fold that is reported).

Why refit: the CV numbers describe one model with the run's TTA; the refit model is that
procedure on 25 % more images, and it is one model instead of five to predict with: with the
U-Net's 3-scale x 8-symmetry TTA the 94 test tiles take 61 s against the fold average's 286 s,
inside the 2-minute budget (docs/RESULTS.md).

The torch models train through `cilab.core.loop.EpochTrainer` (resume, Ctrl-C, logs, DDP); all
augmentation draws come from its per-step generator, so `--resume` reproduces an uninterrupted
run exactly.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from cilab.core.config import option
from cilab.core.device import resolve_bf16
from cilab.core.distributed import DistEnv, init_distributed, shutdown_distributed
from cilab.core.errors import CilabError
from cilab.core.io import atomic_write, read_json, read_jsonl, write_json
from cilab.core.loop import EpochTrainer, cosine_lr, resume_config
from cilab.core.seed import STREAM_SPLIT, derived_generator, seed_everything
from cilab.roads.augment import AugmentConfig, augment, draw
from cilab.roads.cv_report import summarize_cv
from cilab.roads.data import RoadsSet, load_training
from cilab.roads.features import FeatureSet
from cilab.roads.metrics import Counts, accuracy, confusion, f1
from cilab.roads.models import PATCH_OUTPUT, build_torch_model
from cilab.roads.models.logreg import LogRegConfig, build_logreg, predict_patch_proba, save_logreg
from cilab.roads.patches import FOREGROUND_THRESHOLD, PATCH, patch_labels
from cilab.roads.postprocess import Morphology, patch_statistic
from cilab.roads.predict import REFIT_DIR, downscale, torch_probabilities, zoom_factors

ModelName = Literal["logreg", "patchcnn", "unet"]
#: `RoadsTrainConfig.fold` of the refit model: every training image, no validation.
ALL_IMAGES = -2

# Model-specific defaults for the options left as None (see RoadsTrainConfig.__post_init__).
DEFAULTS: dict[str, dict[str, Any]] = {
    "unet": {"epochs": 400, "batch_size": 8, "lr": 3e-3, "width": 16, "depth": 4, "scale": 0.5,
             "crop": 128, "tta_zoom": 1.25, "deploy": "refit"},
    "patchcnn": {"epochs": 40, "batch_size": 8, "lr": 2e-3, "width": 32, "depth": 0, "scale": 0.5,
                 "crop": 128, "tta_zoom": 1.0, "deploy": "folds"},
    "logreg": {"epochs": 1, "batch_size": 1, "lr": 0.0, "width": 0, "depth": 0, "scale": 1.0,
               "crop": 0, "tta_zoom": 1.0, "deploy": "folds"},
}  # fmt: skip


@dataclass
class RoadsTrainConfig:
    """Everything that determines a road-segmentation training run."""

    model: ModelName = option("unet", "logreg (course baseline), patchcnn, or unet")
    data_dir: str | None = option(None, "folder with training/ (else $CILAB_DATA/roads)")
    out: str = option("runs/roads", "run directory (created)")
    folds: int = option(5, "k of k-fold cross-validation by image")
    train_folds: int | None = option(
        None, "train only the first N folds (quick trials); CV then covers those"
    )
    limit_images: int | None = option(None, "use only the first N training images (tests)")
    epochs: int | None = option(None, "passes over the fold's training images (model default)")
    max_steps: int | None = option(None, "stop each invocation after this many steps of a fold")
    batch_size: int | None = option(None, "crops per step (model default)")
    lr: float | None = option(None, "peak AdamW learning rate; warm-up then cosine decay")
    weight_decay: float = option(1e-4, "AdamW weight decay")
    width: int | None = option(None, "channels of the first layer (model default)")
    depth: int | None = option(None, "U-Net downsamplings (the patch CNN's follow from --scale)")
    scale: float | None = option(None, "model input scale: 1, 0.5 or 0.25 of the full resolution")
    crop: int | None = option(None, "training crop side in model pixels")
    scale_min: float = option(0.8, "smallest random zoom of a crop")
    scale_max: float = option(1.25, "largest random zoom of a crop")
    rotate: bool = option(True, "free random rotation in addition to the D4 flips/rotations")
    colour: float = option(1.0, "strength of the colour jitter (0: none)")
    dice_weight: float = option(1.0, "U-Net loss = BCE + this x (1 - soft Dice)")
    tta: Literal["none", "flips", "d4"] = option(
        "d4", "test-time augmentation for OOF and predict: 1, 4 or 8 symmetries"
    )
    tta_zoom: float | None = option(
        None,
        "multi-scale TTA: also predict at 1/Z and Z times the model's scale and average "
        "(1: one scale; U-Net default: 1.25, training's largest zoom; patch models: 1)",
    )
    morphology: Morphology = option("none", "clean U-Net masks: none, open, close, open-close")
    morph_radius: int = option(2, "disk radius of the morphology, full-resolution pixels")
    tune: Literal["accuracy", "f1", "none"] = option(
        "accuracy", "tune the patch threshold for this metric on validation folds"
    )
    gt_threshold: float = option(FOREGROUND_THRESHOLD, "a truth patch is road if its mean > this")
    features: FeatureSet = option("basic", "logreg features: basic (the course's) or extended")
    logreg_c: float = option(1e5, "logreg inverse regularization C (the course's 1e5)")
    balanced: bool = option(True, "logreg balanced class weights (the course's choice)")
    val_every: int = option(10, "validate on the held-out fold every N epochs (and the last)")
    channels_last: bool = option(True, "channels-last memory format (faster on CPU here)")
    bf16: bool | None = option(
        None,
        "bf16 autocast of the network (weights, loss and optimizer stay fp32); default: on "
        "where bf16 is fast (CPUs with AMX or AVX512-BF16: 1.7-3x faster U-Net steps; CUDA "
        "GPUs), else off",
    )
    threads: int | None = option(
        None, "CPU threads for torch (default: torch's; 1 is far faster on oversubscribed cores)"
    )
    seed: int = option(0, "random seed (folds, initialization, augmentation)")
    device: Literal["auto", "cpu", "cuda"] = option("auto", "auto picks CUDA when present")
    log_every: int = option(10, "steps between TensorBoard step scalars")
    deploy: Literal["folds", "refit"] | None = option(
        None,
        "what predict runs: the average of the fold models, or one more model trained on all "
        "images after CV (U-Net default: refit, one model instead of five; others: folds)",
    )
    fold: int = option(-1, "the fold a trainer runs (set internally; -2: all images)")

    def __post_init__(self) -> None:
        for key, value in DEFAULTS[self.model].items():
            if getattr(self, key) is None:
                setattr(self, key, value)
        if self.folds < 2:
            raise ValueError("folds must be >= 2")
        if self.train_folds is not None and not 1 <= self.train_folds <= self.folds:
            raise ValueError("train-folds must be between 1 and --folds")
        if self.model != "logreg":
            for name in ("epochs", "batch_size", "width", "crop", "val_every", "log_every"):
                if getattr(self, name) < 1:
                    raise ValueError(f"{name.replace('_', '-')} must be >= 1")
            if self.lr <= 0:
                raise ValueError("lr must be > 0")
            if self.scale not in (1.0, 0.5, 0.25):
                raise ValueError("scale must be 1, 0.5 or 0.25")
            if self.model == "patchcnn":
                self.depth = int(math.log2(PATCH * self.scale))
                if self.crop % (PATCH * self.scale):
                    raise ValueError(f"crop must be a multiple of {int(PATCH * self.scale)}")
            elif self.crop % 2**self.depth:
                raise ValueError(f"crop must be a multiple of 2**depth = {2**self.depth}")
            if not 0 < self.scale_min <= self.scale_max:
                raise ValueError("need 0 < scale-min <= scale-max")
        if not 0 <= self.gt_threshold < 1:
            raise ValueError("gt-threshold must be in [0, 1)")
        zoom_factors(self.tta_zoom)  # type: ignore[arg-type]  # raises below 1
        if PATCH_OUTPUT[self.model] and self.tta_zoom != 1.0:
            raise ValueError("tta-zoom needs the U-Net (a patch model's grid is fixed); use 1")
        if self.model == "logreg" and self.deploy == "refit":
            raise ValueError("deploy refit needs a torch model; logreg averages its folds")

    def augment_config(self) -> AugmentConfig:
        return AugmentConfig(
            crop=self.crop,  # type: ignore[arg-type]
            scale_min=self.scale_min,
            scale_max=self.scale_max,
            rotate=self.rotate,
            colour=self.colour,
        )


def fold_split(n: int, folds: int, seed: int) -> list[np.ndarray]:
    """Image indices of each fold: a seeded permutation cut into `folds` near-equal parts."""
    if n < folds:
        raise CilabError(f"{folds} folds need at least {folds} images, have {n}")
    perm = torch.randperm(n, generator=derived_generator(seed, STREAM_SPLIT)).numpy()
    return [np.sort(part) for part in np.array_split(perm, folds)]


def train_val_indices(n: int, folds: int, seed: int, fold: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, val) image indices for fold `fold`: val is its `fold_split` part, train the rest."""
    parts = fold_split(n, folds, seed)
    val = parts[fold]
    return np.setdiff1d(np.arange(n), val), val


# -- losses --------------------------------------------------------------------------------------
def dice_loss(logits: torch.Tensor, target: torch.Tensor, eps: float = 1.0) -> torch.Tensor:
    """1 - soft Dice over the whole batch (soft targets allowed)."""
    p = torch.sigmoid(logits)
    inter = (p * target).sum()
    return 1 - (2 * inter + eps) / (p.sum() + target.sum() + eps)


def patch_targets(masks: torch.Tensor, stride: int, threshold: float) -> torch.Tensor:
    """[B, 1, H, W] soft masks -> [B, 1, H/s, W/s] 0/1 targets by the competition's rule."""
    return (F.avg_pool2d(masks, stride, ceil_mode=True) > threshold).float()


class _LossModule(nn.Module):
    """The forward pass with its loss, so DistributedDataParallel syncs the gradients."""

    def __init__(self, model: nn.Module, cfg: RoadsTrainConfig, bf16: bool) -> None:
        super().__init__()
        self.model = model
        self.patch_output = PATCH_OUTPUT[cfg.model]
        self.stride = round(PATCH * cfg.scale)  # type: ignore[operator]
        self.dice_weight = cfg.dice_weight
        self.gt_threshold = cfg.gt_threshold
        self.bf16 = bf16

    def forward(
        self, x: torch.Tensor, masks: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            logits = self.model(x)
        logits = logits.float()  # the losses in fp32
        if self.patch_output:
            target = patch_targets(masks, self.stride, self.gt_threshold)
            bce = F.binary_cross_entropy_with_logits(logits, target)
            return bce, {"bce": bce}
        bce = F.binary_cross_entropy_with_logits(logits, masks)
        dice = dice_loss(logits, masks)
        return bce + self.dice_weight * dice, {"bce": bce, "dice": dice}


class RoadsTrainer(EpochTrainer):
    """One fold of a torch road model: AdamW on augmented crops of the fold's training images."""

    def setup(self) -> int:
        cfg = self.cfg
        self.sum_keys = ("loss", "bce", "dice") if cfg.model == "unet" else ("loss", "bce")
        data = load_training(cfg.data_dir, cfg.limit_images)
        if cfg.fold == ALL_IMAGES:
            tr, va = np.arange(len(data)), np.arange(0)
        else:
            tr, va = train_val_indices(len(data), cfg.folds, cfg.seed, cfg.fold)
        self.train_set, self.val_set = data.subset(tr), data.subset(va)
        self.x, self.m = self._tensors(self.train_set)
        self.aug = cfg.augment_config()
        self.model = build_torch_model(cfg.model, cfg.width, cfg.depth).to(self.device)
        if cfg.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.optimizer = torch.optim.AdamW(
            self.model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay
        )
        self.bf16 = resolve_bf16(cfg.bf16, self.device)
        self.loss_module = self.ddp(_LossModule(self.model, cfg, self.bf16))
        return len(self.train_set)

    def _tensors(self, s: RoadsSet) -> tuple[torch.Tensor, torch.Tensor]:
        """Images [N, 3, h, w] and soft masks [N, 1, h, w] in [0, 1], at the model's scale."""
        x = torch.from_numpy(s.images).permute(0, 3, 1, 2).float().div_(255.0)
        m = torch.from_numpy(s.masks)[:, None].float().div_(255.0)
        scale = self.cfg.scale
        return downscale(x, scale).to(self.device), downscale(m, scale).to(self.device)

    def modules(self) -> dict[str, Any]:
        return {"model": self.model, "optimizer": self.optimizer}

    def weights(self) -> dict[str, nn.Module]:
        return {"model": self.model}

    def train_step(self, idx: torch.Tensor) -> dict[str, float]:
        draws = draw(len(idx), self.aug, self.step_generator()).select(self.mine)
        mine = idx[self.mine]
        x, m = augment(self.x[mine], self.m[mine], draws, self.aug)
        if self.cfg.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        loss, parts = self.loss_module(x, m)
        self.optimizer_step(self.optimizer, loss)
        return {"loss": loss.item(), **{k: parts[k].item() for k in self.sum_keys[1:]}}

    def lr_at(self, step: int) -> float:
        """Linear warm-up over 3% of the steps, then cosine decay to 0."""
        total = self.total_steps
        return cosine_lr(self.cfg.lr, step, total, warmup=max(1, round(0.03 * total)))

    def validate(self) -> dict[str, float]:
        last = self.epoch + 1 == self.cfg.epochs
        if not len(self.val_set) or not (last or (self.epoch + 1) % self.cfg.val_every == 0):
            return {}
        self.model.eval()
        try:
            counts = Counts()
            for img, gt in zip(self.val_set.images, self.val_set.masks, strict=True):
                prob = torch_probabilities(
                    [self.model], img, self.cfg.scale, "none", PATCH_OUTPUT[self.cfg.model],
                    self.device, self.cfg.channels_last, self.bf16,
                )  # fmt: skip
                stat = patch_statistic(prob, PATCH_OUTPUT[self.cfg.model])
                default = 0.5 if PATCH_OUTPUT[self.cfg.model] else FOREGROUND_THRESHOLD
                counts += confusion(stat > default, patch_labels(gt, self.cfg.gt_threshold))
        finally:
            self.model.train()
        return {"patch_accuracy": accuracy(counts), "patch_f1": f1(counts)}

    def best_metric_of(self, record: dict[str, Any]) -> float | None:
        return None  # the last epoch's weights are the fold's model (see module docstring)


# -- the k-fold driver ---------------------------------------------------------------------------
def _fold_cfg(cfg: RoadsTrainConfig, k: int) -> RoadsTrainConfig:
    name = REFIT_DIR if k == ALL_IMAGES else f"fold_{k}"
    return replace(cfg, fold=k, out=str(Path(cfg.out) / name))


def _save_oof(path: Path, names: tuple[str, ...], probs: np.ndarray) -> None:
    def write(f) -> None:  # type: ignore[no-untyped-def]
        np.savez_compressed(f, names=np.array(names), probs=probs)

    atomic_write(path, write)


def write_oof(
    fold_dir: Path,
    model: nn.Module,
    cfg: RoadsTrainConfig,
    names: Sequence[str],
    images: Sequence[np.ndarray],
    device: torch.device,
    bf16: bool,
) -> None:
    """A fold's out-of-fold probabilities (float16, `fold_dir/oof.npz`) with `cfg.tta`."""
    probs = np.stack(
        [
            torch_probabilities(
                [model], img, cfg.scale, cfg.tta, PATCH_OUTPUT[cfg.model], device,
                cfg.channels_last, bf16, cfg.tta_zoom,
            )
            for img in images
        ]
    ).astype(np.float16)  # fmt: skip
    _save_oof(fold_dir / "oof.npz", tuple(names), probs)


def _train_torch_fold(cfg: RoadsTrainConfig, k: int, resume: bool, typed: set[str]) -> str:
    fcfg = _fold_cfg(cfg, k)
    has_last = (Path(fcfg.out) / "last.pt").exists()
    trainer = RoadsTrainer(fcfg, resume=resume and has_last, typed=typed)
    start = time.perf_counter()
    result = trainer.fit()
    if result.status != "finished":
        return result.status
    trainer.save_weights("model.pt")
    if not trainer.env.is_main:
        return "finished"
    fold_dir = Path(fcfg.out)
    seconds = sum(r.get("time_s", 0.0) for r in trainer_records(fold_dir))
    info: dict[str, Any] = {"fold": k, "train_seconds": seconds, "n_train": len(trainer.train_set)}
    if k != ALL_IMAGES:
        write_oof(
            fold_dir, trainer.model.eval(), fcfg, trainer.val_set.names, trainer.val_set.images,
            trainer.device, trainer.bf16,
        )  # fmt: skip
        info["val_names"] = list(trainer.val_set.names)
    info["wall_seconds_this_invocation"] = time.perf_counter() - start
    write_json(fold_dir / "fold.json", info)  # written last: marks the fold finished
    return "finished"


def trainer_records(fold_dir: Path) -> list[dict[str, Any]]:
    """A fold's per-epoch `metrics.jsonl` records, [] when none are written yet.

    Their `time_s` summed is the fold's training time over all invocations (resumes).
    """
    path = fold_dir / "metrics.jsonl"
    return read_jsonl(path) if path.exists() else []


def _train_logreg_fold(cfg: RoadsTrainConfig, data: RoadsSet, k: int) -> None:
    start = time.perf_counter()
    fold_dir = Path(cfg.out) / f"fold_{k}"
    tr, va = train_val_indices(len(data), cfg.folds, cfg.seed, k)
    lcfg = LogRegConfig(
        feature_set=cfg.features, C=cfg.logreg_c, class_weight="balanced" if cfg.balanced else None
    )
    pipe = build_logreg(lcfg, cfg.seed)
    y = patch_labels(data.masks[tr], cfg.gt_threshold)
    pipe.fit(data.images[tr], y.reshape(-1))
    save_logreg(pipe, lcfg, fold_dir / "model.npz")
    probs = predict_patch_proba(pipe, data.images[va]).astype(np.float16)
    _save_oof(fold_dir / "oof.npz", tuple(data.names[i] for i in va), probs)
    write_json(
        fold_dir / "fold.json",
        {"fold": k, "train_seconds": time.perf_counter() - start, "n_train": len(tr),
         "val_names": [data.names[i] for i in va]},
    )  # fmt: skip


@dataclass
class CVResult:
    """Outcome of `train_roads` for the CLI and demo; `summary` is None if stopped or rank > 0."""

    run_dir: Path
    status: str
    summary: dict[str, Any] | None


def train_roads(
    cfg: RoadsTrainConfig, resume: bool = False, typed: set[str] | None = None
) -> CVResult:
    """Train every fold (skipping finished ones on --resume), then write cv.json and predictor."""
    typed = set(typed or ()) - {"threads"}  # may change on resume: not part of the result
    # Under torchrun every rank runs this function: one process group for all folds, and rank 0
    # alone writes the run-level files.
    env = init_distributed(cfg.device)
    try:
        return _train_folds(cfg, env, resume, typed)
    finally:
        shutdown_distributed(env)


def _train_folds(cfg: RoadsTrainConfig, env: DistEnv, resume: bool, typed: set[str]) -> CVResult:
    threads = cfg.threads
    run_dir = Path(cfg.out)
    cfg_path = run_dir / "config.json"
    is_main = env.is_main
    if cfg.model == "logreg" and env.enabled:
        raise CilabError("logreg trains in one process; run it without torchrun")
    if resume:
        if not cfg_path.exists():
            raise CilabError(f"{run_dir}: nothing to resume (no config.json); drop --resume")
        saved = _with_old_defaults(read_json(cfg_path))
        cfg = replace(resume_config(cfg, saved, typed), threads=threads)
    elif cfg_path.exists() and is_main:
        raise CilabError(
            f"{run_dir} already holds a run; pass --resume to continue it or choose another --out"
        )
    if is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        write_json(cfg_path, asdict(cfg))
    if threads is not None:
        torch.set_num_threads(threads)
    seed_everything(cfg.seed)
    n_folds = cfg.train_folds or cfg.folds
    data = load_training(cfg.data_dir, cfg.limit_images) if cfg.model == "logreg" else None
    for k in range(n_folds):
        if (run_dir / f"fold_{k}" / "fold.json").exists():
            continue
        if is_main:
            print(f"fold {k + 1}/{cfg.folds}", flush=True)
        if data is not None:
            _train_logreg_fold(cfg, data, k)
        else:
            status = _train_torch_fold(cfg, k, resume, typed)
            if status != "finished":
                return CVResult(run_dir, status, None)
    if cfg.deploy == "refit" and not (run_dir / REFIT_DIR / "fold.json").exists():
        if is_main:
            print("refit on all training images", flush=True)
        status = _train_torch_fold(cfg, ALL_IMAGES, resume, typed)
        if status != "finished":
            return CVResult(run_dir, status, None)
    if not is_main:  # rank 0 may still be writing the last fold's OOF predictions
        return CVResult(run_dir, "finished", None)
    summary = summarize_cv(run_dir, cfg)
    return CVResult(run_dir, "finished", summary)


def saved_config(run_dir: str | Path) -> RoadsTrainConfig:
    """The config a run was trained with, from its config.json (keys this version lacks dropped)."""
    names = {f.name for f in dataclasses.fields(RoadsTrainConfig)}
    saved = _with_old_defaults(read_json(Path(run_dir) / "config.json"))
    return RoadsTrainConfig(**{k: v for k, v in saved.items() if k in names})


def _with_old_defaults(saved: dict[str, Any]) -> dict[str, Any]:
    """A saved config with the settings of runs older than the option where it lacks them."""
    # Runs from before multi-scale TTA predicted at one scale, and before the refit deployed the
    # fold average: resuming or re-scoring them keeps that meaning.
    return {"tta_zoom": 1.0, "deploy": "folds", **saved}
