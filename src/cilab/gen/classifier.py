"""A small MNIST CNN that judges generated digits in place of Inception (`cilab gen classifier`).

`forward_features` gives the 128-d penultimate layer (the space of the Fréchet distance and of
k-NN precision/recall), `forward_head` the 10 logits (Inception Score, class histogram).

A trained classifier is stored in the cache, `$CILAB_CACHE/classifiers/` (default
`~/.cache/cilab/classifiers/`), as `<dataset>-<id>.pt`, where `<id>` is a SHA-256 of its weights:
metrics name the classifier they were computed with, and two numbers are comparable only when
the ids agree. `<dataset>.json` points at the one used by default (the last trained).

Architecture: conv3x3(32)-BN-ReLU -> maxpool -> conv3x3(64)-BN-ReLU -> maxpool
-> conv3x3(128)-BN-ReLU -> dense 128 -> ReLU (features) -> dropout -> dense 10; 8 M multiply-adds
per image. Trained with Adam, cosine decay and random shifts of up to 2 pixels.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from cilab.core.checkpoint import load_checkpoint, save_checkpoint
from cilab.core.config import option
from cilab.core.device import resolve_device
from cilab.core.errors import CilabError
from cilab.core.io import read_json, write_json
from cilab.core.loop import cosine_lr, set_lr
from cilab.core.progress import progress_bar
from cilab.core.seed import STREAM_PERM, STREAM_STEP, derived_generator, seed_everything
from cilab.data.mnist import cache_dir, load_mnist

# Mean and standard deviation of MNIST's training pixels in [0, 1].
PIXEL_MEAN, PIXEL_STD = 0.1307, 0.3081


def _conv(c_in: int, c_out: int) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]


class MnistClassifier(nn.Module):
    """images [B, 1, 28, 28] in [0, 1] -> logits [B, 10]; features [B, 128] on the way."""

    feature_dim = 128
    num_classes = 10

    def __init__(self, dropout: float = 0.3) -> None:
        super().__init__()
        self.body = nn.Sequential(
            *_conv(1, 32), nn.MaxPool2d(2),  # 28 -> 14
            *_conv(32, 64), nn.MaxPool2d(2),  # 14 -> 7
            *_conv(64, 128),
            nn.Flatten(),  # [B, 128, 7, 7] -> [B, 6272]
            nn.Linear(128 * 7 * 7, self.feature_dim), nn.ReLU(),
        )  # fmt: skip
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(self.feature_dim, self.num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body((x - PIXEL_MEAN) / PIXEL_STD)  # [B, 128]

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(features))  # [B, 10]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


@torch.no_grad()
def classify(
    model: MnistClassifier, images: torch.Tensor, batch_size: int = 1000
) -> tuple[np.ndarray, np.ndarray]:
    """(probabilities [N, 10], features [N, 128]) as float64/float32 arrays, in eval mode.

    `images`: uint8 [N, 28, 28] or float in [0, 1] ([N, 28, 28] or [N, 1, 28, 28]).
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    probs, feats = [], []
    for s in range(0, len(images), batch_size):
        x = _as_input(images[s : s + batch_size]).to(device)
        f = model.forward_features(x)
        probs.append(torch.softmax(model.forward_head(f).double(), dim=1).cpu())
        feats.append(f.float().cpu())
    model.train(was_training)
    return torch.cat(probs).numpy(), torch.cat(feats).numpy()


def _as_input(images: torch.Tensor) -> torch.Tensor:
    """uint8 or float images -> float [B, 1, 28, 28] in [0, 1]."""
    x = images.float().div(255.0) if images.dtype == torch.uint8 else images.float()
    return x.unsqueeze(1) if x.ndim == 3 else x


class NoClassifier(CilabError):
    """No trained classifier where one was looked for; the message says how to train one."""


# -- identity and the cache ------------------------------------------------------------------
def weights_id(model: nn.Module) -> str:
    """16 hex digits of a SHA-256 over the state dict (names, dtypes, shapes and values)."""
    h = hashlib.sha256()
    for name, t in sorted(model.state_dict().items()):
        t = t.detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()[:16]


def classifier_dir() -> Path:
    """`$CILAB_CACHE/classifiers` (default `~/.cache/cilab/classifiers`)."""
    return cache_dir("mnist").parent / "classifiers"


def save_classifier(model: MnistClassifier, dataset: str, info: dict[str, object]) -> Path:
    """Store `model` as `<dataset>-<id>.pt` and make it the default for `dataset`."""
    cid = weights_id(model)
    path = classifier_dir() / f"{dataset}-{cid}.pt"
    save_checkpoint({"model": model.state_dict(), "id": cid, "dataset": dataset, **info}, path)
    write_json(classifier_dir() / f"{dataset}.json", {"id": cid, "file": path.name, **info})
    return path


@dataclass
class LoadedClassifier:
    """A judge from the cache: its network, the weights id that names it in every metric file."""

    model: MnistClassifier
    id: str
    path: Path
    test_accuracy: float | None


def load_classifier(
    ref: str | None = None, dataset: str = "mnist", device: torch.device | None = None
) -> LoadedClassifier:
    """The default classifier of `dataset`, or `ref`: a .pt file or an id (prefix) in the cache.

    The weights are re-hashed on load: a file whose weights do not match its id is refused.
    """
    path = _find_classifier(ref, dataset)
    state = load_checkpoint(path)
    model = MnistClassifier()
    try:
        model.load_state_dict(state["model"])
    except RuntimeError:
        raise CilabError(f"{path}: not a cilab MNIST classifier (weights do not fit)") from None
    cid = weights_id(model)
    if state.get("id", cid) != cid:
        raise CilabError(f"{path}: weights do not match the stored id {state['id']} (corrupted?)")
    acc = state.get("test_accuracy")
    model.to(device or torch.device("cpu")).eval()
    return LoadedClassifier(model, cid, path, float(acc) if acc is not None else None)


def _find_classifier(ref: str | None, dataset: str) -> Path:
    folder = classifier_dir()
    how = f"train one with `cilab gen classifier --dataset {dataset}`"
    if ref is None:
        pointer = folder / f"{dataset}.json"
        if not pointer.exists():
            raise NoClassifier(f"no {dataset} classifier in {folder}; {how}")
        path = folder / read_json(pointer)["file"]
        if not path.exists():
            raise NoClassifier(f"{pointer} names {path.name}, which is missing; {how}")
        return path
    if Path(ref).is_file():
        return Path(ref)
    found = sorted(folder.glob(f"{dataset}-{ref}*.pt"))
    if len(found) != 1:
        what = "no" if not found else "more than one"
        raise NoClassifier(f"{what} {dataset} classifier matches {ref!r} in {folder}; {how}")
    return found[0]


# -- training --------------------------------------------------------------------------------
@dataclass
class ClassifierConfig:
    """Training of the judging classifier; the defaults reach >= 99.3 % on MNIST's test set."""

    dataset: Literal["mnist", "fashion-mnist"] = option("mnist", "image dataset")
    data_dir: str | None = option(
        None, "folder with the IDX files (else $CILAB_DATA, else download)"
    )
    epochs: int = option(5, "passes over the 60,000 training images")
    batch_size: int = option(128, "batch size")
    lr: float = option(2e-3, "peak Adam learning rate (cosine decay to 0)")
    max_shift: int = option(2, "random translation of training images, in pixels (0: none)")
    max_steps: int | None = option(None, "stop after this many steps (smoke tests)")
    seed: int = option(0, "random seed")
    device: Literal["auto", "cpu", "cuda"] = option("auto", "auto picks CUDA when present")

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name.replace('_', '-')} must be >= 1")
        if self.lr <= 0 or self.max_shift < 0:
            raise ValueError("lr must be > 0 and max-shift >= 0")


@dataclass
class ClassifierResult:
    """What `train_classifier` stored: the cached weights, their id and their test accuracy."""

    path: Path
    id: str
    test_accuracy: float
    wall_s: float


def random_shift(x: torch.Tensor, max_shift: int, g: torch.Generator) -> torch.Tensor:
    """Translate each image [B, 1, H, W] by its own integer (dy, dx) in [-m, m], zero fill."""
    if max_shift == 0:
        return x
    b, _, h, w = x.shape
    m = max_shift
    padded = F.pad(x, (m, m, m, m))  # [B, 1, H + 2m, W + 2m]
    dy, dx = torch.randint(0, 2 * m + 1, (2, b), generator=g, device=x.device)
    rows = (dy[:, None] + torch.arange(h, device=x.device))[:, None, :, None]  # [B, 1, H, 1]
    cols = (dx[:, None] + torch.arange(w, device=x.device))[:, None, None, :]  # [B, 1, 1, W]
    padded = padded.gather(2, rows.expand(b, 1, h, w + 2 * m))  # [B, 1, H, W + 2m]
    return padded.gather(3, cols.expand(b, 1, h, w))  # [B, 1, H, W]


@torch.no_grad()
def accuracy(model: MnistClassifier, images_u8: torch.Tensor, labels: torch.Tensor) -> float:
    """Share of uint8 images whose most probable class is their label (the 99.3 % target)."""
    probs, _ = classify(model, images_u8)
    return float((probs.argmax(1) == labels.cpu().numpy()).mean())


def train_classifier(cfg: ClassifierConfig, progress: bool = True) -> ClassifierResult:
    """Train on the training set, measure test accuracy, store in the cache (see module doc)."""
    start = time.perf_counter()
    device = resolve_device(cfg.device)
    seed_everything(cfg.seed)  # initial weights and dropout: torch's global stream
    train = load_mnist("train", cfg.dataset, cfg.data_dir)
    test = load_mnist("test", cfg.dataset, cfg.data_dir)
    x_all, y_all = train.images.to(device), train.labels.to(device)
    model = MnistClassifier().to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    steps_per_epoch = max(1, len(y_all) // cfg.batch_size)
    total = cfg.epochs * steps_per_epoch
    if cfg.max_steps is not None:
        total = min(total, cfg.max_steps)
    step = 0
    model.train()
    for epoch in range(cfg.epochs):
        perm = torch.randperm(len(y_all), generator=derived_generator(cfg.seed, STREAM_PERM, epoch))
        batches = perm[: steps_per_epoch * cfg.batch_size].view(steps_per_epoch, -1).to(device)
        bar = progress_bar(batches, desc=f"classifier epoch {epoch + 1}/{cfg.epochs}",
                           unit="step", leave=False, show=progress)  # fmt: skip
        for idx in bar:
            if step >= total:
                break
            g = derived_generator(cfg.seed, STREAM_STEP, step, device=device)
            x = random_shift(_as_input(x_all[idx]), cfg.max_shift, g)
            set_lr(opt, cosine_lr(cfg.lr, step, total))  # cosine decay from the step number
            loss = F.cross_entropy(model(x), y_all[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            bar.set_postfix(loss=f"{loss.item():.4f}")
        bar.close()
    acc = accuracy(model, test.images, test.labels)
    wall = time.perf_counter() - start
    info = {"test_accuracy": acc, "steps": step, "config": asdict(cfg), "train_wall_s": wall}
    path = save_classifier(model.cpu(), cfg.dataset, info)
    return ClassifierResult(path, weights_id(model), acc, wall)
