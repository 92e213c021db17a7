"""The CNN's rows of `cilab cosmo classify --cnn`: one network per CV split, the same splits.

For split k (repeat r, fold f) a `CosmoCNN` is trained on that split's training images only,
then gives (1) its own probability for the split's test images: row `cnn`; (2) embeddings of
the split's training and test images, on which `--cnn-embed-model` (logistic regression by
default) is fitted and scored exactly as the feature models are: row `cnn-embed+<model>`. Both
come back as `FoldResult`s, so the table, curves and OOF scores treat them like any other model.

A linear probe is the default because it measures what the embedding carries rather than what a
second non-linear learner adds; note that the training images' embeddings come from a network
fitted to those very images, so they are better separated than the test images' (the usual
stacking caveat; the test images never touch the network or the probe before scoring).

Each split trains in `RUN_DIR/cnn/r<r>_f<f>/` (config.json, metrics.jsonl, tb/, last.pt and
finally outputs.npz). Rerunning the same command reuses finished splits and resumes an
interrupted one from its last.pt; a folder trained with other settings or other data is refused.
Splits run in `--workers` processes with one torch thread each, like the feature models' fits.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from cilab.core.errors import CilabError
from cilab.core.io import atomic_write, read_json, read_jsonl
from cilab.cosmo.config import ClassifyConfig, CNNConfig
from cilab.cosmo.cv import FoldResult, fit_fold
from cilab.cosmo.layout import Split, image_size

CNN_ROW = "cnn"
# Settings that may differ between a split's first run and its reuse or resumption.
FREE = frozenset({"device", "log_every", "max_steps"})


def embed_row(cfg: ClassifyConfig) -> str:
    """The name of the row of the model fitted on the CNN's embeddings."""
    return f"cnn-embed+{cfg.cnn_embed_model}"


def data_digest(images: np.ndarray, y: np.ndarray) -> str:
    """Identifies a split's training data, so a folder is never reused for other images."""
    h = hashlib.blake2b(digest_size=12)
    h.update(np.ascontiguousarray(images).tobytes())
    h.update(np.asarray(y, dtype=np.int64).tobytes())
    return h.hexdigest()


def split_config(cfg: ClassifyConfig, out: Path, k: int, digest: str) -> CNNConfig:
    """CV split k's CNNConfig: folder `cnn/r<repeat>_f<fold>`, seed `seed + k`, data digest."""
    repeat, fold = divmod(k, cfg.folds)
    return CNNConfig(
        out=str(out / "cnn" / f"r{repeat}_f{fold}"), factor=cfg.cnn_factor, epochs=cfg.cnn_epochs,
        batch_size=cfg.cnn_batch_size, lr=cfg.cnn_lr, width=cfg.cnn_width,
        embed_dim=cfg.cnn_embed_dim, seed=cfg.seed + k, device=cfg.cnn_device, data=digest,
    )  # fmt: skip


def _check_folder(ccfg: CNNConfig) -> None:
    path = Path(ccfg.out) / "config.json"
    if not path.exists():
        return
    saved, now = read_json(path), asdict(ccfg)
    changed = sorted(k for k in now if k not in FREE and saved.get(k) != now[k])
    if changed:
        raise CilabError(
            f"{ccfg.out} holds a CNN trained with other {', '.join(changed)}; "
            f"choose another --out or delete {Path(ccfg.out).parent}"
        )


def train_split(
    ccfg: CNNConfig, images: np.ndarray, y: np.ndarray, train: np.ndarray, test: np.ndarray
) -> dict[str, Any]:
    """Train (or reuse, or resume) split `ccfg.out`'s CNN on `images[train]` only; its outputs.

    Returns train/test indices, the test probabilities, both embeddings and the training
    seconds; or {"status": ...} when the training stopped early (Ctrl-C).
    """
    import torch
    from threadpoolctl import threadpool_limits

    from cilab.cosmo.cnn import CosmoCNNTrainer, outputs

    fold_dir = Path(ccfg.out)
    done = fold_dir / "outputs.npz"
    _check_folder(ccfg)
    if done.exists():
        with np.load(done) as z:
            return {k: z[k] for k in z.files}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    start = time.perf_counter()
    try:
        with threadpool_limits(limits=1):
            resume = (fold_dir / "last.pt").exists()
            typed = {f.name for f in dataclasses.fields(CNNConfig)}  # checked just above
            trainer = CosmoCNNTrainer(ccfg, images[train], y[train], resume=resume, typed=typed)
            result = trainer.fit()
            if result.status != "finished":
                return {"status": result.status}
            emb_train, _ = outputs(trainer.model, images[train], trainer.device)
            emb_test, proba = outputs(trainer.model, images[test], trainer.device)
    finally:
        torch.set_num_threads(threads)
    records = read_jsonl(fold_dir / "metrics.jsonl")
    out = {
        "train": train, "test": test, "proba": proba, "emb_train": emb_train,
        "emb_test": emb_test, "train_seconds": np.float64(sum(r["time_s"] for r in records)),
        "wall_seconds": np.float64(time.perf_counter() - start),  # this invocation's share
    }  # fmt: skip
    atomic_write(done, lambda f: np.savez(f, **out))
    return out


def cnn_results(
    cfg: ClassifyConfig,
    images: np.ndarray,
    y: np.ndarray,
    splits: list[tuple[np.ndarray, np.ndarray]],
    out: Path,
) -> tuple[list[FoldResult], dict[str, Any]]:
    """FoldResults of rows `cnn` and `cnn-embed+<model>` on every split, and timing info."""
    from joblib import Parallel, delayed

    from cilab.cosmo.models import CLASSIFIERS, pick

    build = pick(CLASSIFIERS, [cfg.cnn_embed_model], "model")[cfg.cnn_embed_model]
    jobs = []
    for k, (tr, te) in enumerate(splits):
        ccfg = split_config(cfg, out, k, data_digest(images[tr], y[tr]))
        jobs.append(delayed(train_split)(ccfg, images, y, tr, te))
    t0 = time.perf_counter()
    parts = Parallel(n_jobs=cfg.workers)(jobs)
    stopped = [(k, p["status"]) for k, p in enumerate(parts) if "status" in p]
    if stopped:
        k, status = stopped[0]
        raise CilabError(
            f"CNN training {status} in {out / 'cnn'} (split {k}); "
            "run the same command again to continue from its last.pt"
        )
    results: list[FoldResult] = []
    for k, p in enumerate(parts):
        repeat, fold = divmod(k, cfg.folds)
        if not (
            np.array_equal(p["train"], splits[k][0]) and np.array_equal(p["test"], splits[k][1])
        ):
            raise CilabError(f"{out / 'cnn'}: split {k} was trained on other rows; use a new --out")
        proba = p["proba"].astype(np.float64)
        results.append(
            FoldResult(CNN_ROW, repeat, fold, p["test"], proba, (proba >= 0.5).astype(int), None)
        )
        X = np.zeros((len(y), p["emb_train"].shape[1]), dtype=np.float64)
        X[p["train"]], X[p["test"]] = p["emb_train"], p["emb_test"]
        cols = np.arange(X.shape[1])
        results.append(
            fit_fold(embed_row(cfg), build(cfg.seed), X, y, p["train"], p["test"], cols, repeat,
                     fold, "classify", keep=False)
        )  # fmt: skip
    train_s = float(np.mean([p["train_seconds"] for p in parts]))
    split_s = float(np.mean([p["wall_seconds"] for p in parts]))
    n_train = float(np.mean([len(s[0]) for s in splits]))
    info = {
        "splits": len(splits), "epochs": cfg.cnn_epochs, "factor": cfg.cnn_factor,
        "input_side": int(images.shape[1]), "train_images_per_split": n_train,
        "train_seconds_per_split": round(train_s, 2),
        "split_seconds": round(split_s, 2),  # training + embedding every image, this invocation
        "split_seconds_per_1000_train_images": round(1000 * split_s / n_train, 2),
        "wall_seconds": round(time.perf_counter() - t0, 1),
    }  # fmt: skip
    return results, info


def cnn_rows(
    cfg: ClassifyConfig,
    split: Split,
    y: np.ndarray,
    splits: list[tuple[np.ndarray, np.ndarray]],
    out: Path,
    cache: Path | None,
) -> tuple[list[FoldResult], dict[str, int], dict[str, Any]]:
    """Max-pool the split's images (cached), then `cnn_results`; plus each row's input size."""
    from cilab.cosmo.downscale import pool_images

    t0 = time.perf_counter()
    size = image_size(split.paths[0])
    images = pool_images(split.paths, cfg.cnn_factor, cfg.workers, cache, size)
    pool_seconds = time.perf_counter() - t0
    results, info = cnn_results(cfg, images, y, splits, out)
    info["pool_seconds"] = round(pool_seconds, 2)
    features = {CNN_ROW: int(images.shape[1] * images.shape[2]), embed_row(cfg): cfg.cnn_embed_dim}
    return results, features, info
