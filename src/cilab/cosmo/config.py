"""Options of the cosmology commands, in a module light enough to import for `--help`.

(The commands' modules pull in scikit-learn, SciPy and scikit-image; the CLI only needs these
dataclasses to build its flags.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from cilab.core.config import option

# The feature families in extraction order (the registry is `cilab.cosmo.features.FAMILIES`;
# a test keeps the two in step).
FAMILY_NAMES = (
    "hist10",
    "finehist",
    "loghist",
    "powerspec",
    "roi",
    "sources",
    "moments",
    "wavelets",
)


@dataclass
class SimulateConfig:
    """`simulate`'s options: split sizes, image side, seed, workers (`cilab.cosmo.simulate`)."""

    out: str | None = option(None, "output folder; must be absent or empty")
    n_labeled: int = option(1200, "labeled images (5/6 real, 1/6 corrupted or other content)")
    n_scored: int = option(9600, "scored images (with similarity scores)")
    n_query: int = option(1200, "query images (scores hidden in query_truth.csv)")
    size: int = option(1000, "image side in pixels (source counts scale with the area)")
    seed: int = option(0, "random seed; the same seed gives the same bytes")
    workers: int = option(1, "parallel worker processes (-1: all cores)")
    shared_ids: int = option(2, "ids that scored and query share, as in the original")

    def __post_init__(self) -> None:
        for name in ("n_labeled", "n_scored", "n_query"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be ≥ 0")
        if self.size < 32:
            raise ValueError("size must be at least 32 pixels")
        if self.shared_ids > min(self.n_scored, self.n_query):
            self.shared_ids = min(self.n_scored, self.n_query)


@dataclass
class ModelRunConfig:
    """Options shared by `classify` and `regress`."""

    data_dir: str | None = option(None, "data folder (else $COSMOLOGY_DATA, $CILAB_DATA/cosmology)")
    out: str | None = option(None, "run directory to write")
    models: str = option("", "comma-separated models (default: all of this command's)")
    families: str = option(",".join(FAMILY_NAMES), "comma-separated feature families")
    folds: int = option(5, "k of the repeated k-fold cross-validation")
    repeats: int = option(3, "repeats of the k-fold cross-validation")
    importance_repeats: int = option(5, "permutations per family for the importances")
    seed: int = option(0, "seed of the folds, models and permutations")
    workers: int = option(1, "parallel processes for extraction and model fitting (-1: all)")
    cache_dir: str | None = option(None, "feature cache (default: $CILAB_CACHE/cosmo-features)")
    cache: bool = option(True, "cache features on disk, keyed by file content and parameters")
    family_ablation: bool = option(
        True, "also fit the best model on each feature family alone (first CV repeat)"
    )

    def __post_init__(self) -> None:
        if self.folds < 2:
            raise ValueError("folds must be at least 2")
        if self.repeats < 1 or self.importance_repeats < 0:
            raise ValueError("repeats must be ≥ 1 and importance_repeats ≥ 0")

    def family_list(self) -> list[str]:
        names = [f.strip() for f in self.families.split(",") if f.strip()]
        if "hist10" not in names:
            names.insert(0, "hist10")  # the baseline needs it
        return names


@dataclass
class ClassifyConfig(ModelRunConfig):
    """`classify`'s options: the shared ones and the CNN's (off unless `--cnn`)."""

    cnn: bool = option(
        False, "also train a CNN on each CV split: rows cnn and cnn-embed+<cnn-embed-model>"
    )
    cnn_factor: int = option(8, "max-pooling factor of the CNN's input (1000 px -> 125 px at 8)")
    cnn_epochs: int = option(12, "CNN epochs per split")
    cnn_batch_size: int = option(32, "CNN images per step")
    cnn_lr: float = option(3e-3, "CNN peak AdamW learning rate (warm-up, then cosine decay)")
    cnn_width: int = option(8, "CNN channels of the first block (doubling per block)")
    cnn_embed_dim: int = option(32, "size of the CNN embedding fed to --cnn-embed-model")
    cnn_embed_model: str = option("logreg", "classify model fitted on each split's embeddings")
    cnn_device: Literal["auto", "cpu", "cuda"] = option("auto", "CNN device; auto picks CUDA")

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("cnn_factor", "cnn_epochs", "cnn_batch_size", "cnn_width", "cnn_embed_dim"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name.replace('_', '-')} must be ≥ 1")
        if self.cnn_lr <= 0:
            raise ValueError("cnn-lr must be > 0")


@dataclass
class CNNConfig:
    """One CV split's CNN training run (built by `cilab.cosmo.cnn_cv` from a ClassifyConfig).

    Saved in the split's folder; a rerun reuses or resumes the folder only if this matches.
    """

    out: str = option("runs/cosmo-cnn", "the split's run directory")
    factor: int = option(8, "max-pooling factor of the input images")
    epochs: int = option(12, "passes over the split's training images")
    max_steps: int | None = option(None, "stop after this many steps (tests)")
    batch_size: int = option(32, "images per step")
    lr: float = option(3e-3, "peak AdamW learning rate")
    weight_decay: float = option(1e-4, "AdamW weight decay")
    width: int = option(8, "channels of the first block")
    embed_dim: int = option(32, "size of the embedding")
    seed: int = option(0, "initialization, batch order and augmentation")
    device: Literal["auto", "cpu", "cuda"] = option("auto", "auto picks CUDA when present")
    log_every: int = option(10, "steps between TensorBoard step scalars")
    channels_last: bool = option(True, "channels-last memory format (2x faster on CPU here)")
    data: str = option("", "digest of the training images and labels (no reuse across data)")
