"""What `cilab demo` runs: the parts, and the settings of each run at `--quick` and `--full`.

A `Scale` holds, per run, the options of that run's own command (the fields of its config
dataclass), so the demo's runs are exactly what those commands would write, and the printed
command equivalent reproduces each one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

PARTS = ("theory", "gen", "roads", "cosmo")

Options = dict[str, Any]


@dataclass(frozen=True)
class Scale:
    """Per-run options; each dict is passed to the run's config dataclass (or function)."""

    name: str
    theory: Options  # cilab theory check: seed, samples
    ae: Options  # GenTrainConfig
    vae: Options  # GenTrainConfig
    likelihood_eval: Options  # cilab gen eval of the AE/VAE: iw_samples, iw_images
    dcgan: Options  # GANTrainConfig; bf16 defaults to "where bf16 is fast"
    sample_eval: Options  # samples judged by the classifier (VAE prior samples, DCGAN)
    classifier: Options | None  # ClassifierConfig to train when none is cached; None: never
    roads_logreg: Options  # RoadsTrainConfig
    roads_unet: Options  # RoadsTrainConfig
    roads_predict: Options  # predict_folder: tta
    cosmo_sim: Options  # SimulateConfig
    cosmo_classify: Options  # ClassifyConfig
    cosmo_regress: Options  # ModelRunConfig


#: ≤ 15 min on an idle 2-core laptop CPU (the estimate per part is in `cilab.demo`'s docstring).
QUICK = Scale(
    name="quick",
    theory={"seed": 0, "samples": 100_000},
    ae={"model": "ae", "latent_dim": 2, "epochs": 3},
    vae={"model": "vae", "latent_dim": 2, "epochs": 3},
    likelihood_eval={"iw_samples": 100, "iw_images": 1000},
    dcgan={"epochs": 2, "monitor_samples": 0, "checkpoint_every": 0},
    sample_eval={"samples": 2000},
    classifier=None,
    roads_logreg={"model": "logreg", "tune": "none"},
    # one fold model and one scale: the refit and 3-scale TTA would triple the quick demo's roads
    roads_unet={
        "model": "unet",
        "train_folds": 1,
        "epochs": 20,
        "val_every": 20,
        "deploy": "folds",
        "tta_zoom": 1.0,
    },
    roads_predict={"tta": None},
    cosmo_sim={"n_labeled": 120, "n_scored": 150, "n_query": 30},
    cosmo_classify={"repeats": 1, "importance_repeats": 2},
    cosmo_regress={"repeats": 1, "importance_repeats": 2},
)

#: The documented recorded settings (docs/RESULTS.md): hours, not minutes.
FULL = Scale(
    name="full",
    theory={"seed": 0, "samples": 100_000},
    ae={"model": "ae", "latent_dim": 2, "epochs": 10},
    vae={"model": "vae", "latent_dim": 2, "epochs": 60, "lr_schedule": "cosine"},
    likelihood_eval={"iw_samples": 1000, "iw_images": 1000},
    dcgan={"epochs": 50},
    sample_eval={"samples": 10_000},
    classifier={},
    roads_logreg={"model": "logreg", "tune": "none"},
    roads_unet={"model": "unet"},
    roads_predict={"tta": None},
    cosmo_sim={},
    cosmo_classify={},
    cosmo_regress={"repeats": 1, "importance_repeats": 3},
)

SCALES = {s.name: s for s in (QUICK, FULL)}


def default_workers() -> int:
    """Processes for the cosmology part: the usable cores, at most 4 (memory ~0.5 GB each)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, 4))


@dataclass
class DemoConfig:
    """One `cilab demo` invocation."""

    out: str = "runs/demo"
    parts: tuple[str, ...] = PARTS
    scale: Scale = QUICK
    data_dir: str | None = None  # holds mnist/ and roads/ (else $CILAB_DATA; MNIST downloads)
    cosmo_data: str | None = None  # real cosmology data (labeled/ scored/ query/); else simulate
    device: str = "auto"
    workers: int = field(default_factory=default_workers)
