"""What each reported metric is measured against: targets (met or not) and anchors (context).

A *target* is a goal the project set itself (the issues' acceptance numbers, restated in
docs/RESULTS.md); the report marks it met or not met. An *anchor* is a number published or
measured elsewhere (../shared/ANCHORS.md) or recorded earlier (docs/RESULTS.md): shown next to
the value, never judged, because it may not be like for like (the text says when it is not).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

ANCHORS_MD = "ANCHORS.md"
RESULTS_MD = "RESULTS.md"
ISSUE = "issue target"
LN10 = math.log(10)


@dataclass(frozen=True)
class Ref:
    """One anchor: the number with what it is, and where it comes from."""

    text: str
    source: str


@dataclass(frozen=True)
class Target:
    """`value op bound` is the goal; `in` takes a (low, high) range, both ends included; `all`
    takes the fraction of checks that passed."""

    op: Literal["<=", ">=", "<", ">", "in", "all"]
    bound: float | tuple[float, float] = 0.0
    source: str = ISSUE

    def met(self, value: float) -> bool:
        if not math.isfinite(value):
            return False
        if self.op == "<=":
            return value <= float(self.bound)  # type: ignore[arg-type]
        if self.op == ">=":
            return value >= float(self.bound)  # type: ignore[arg-type]
        if self.op == "<":
            return value < float(self.bound)  # type: ignore[arg-type]
        if self.op == ">":
            return value > float(self.bound)  # type: ignore[arg-type]
        if self.op == "all":  # value is the fraction of passing checks
            return value >= 1.0
        lo, hi = self.bound  # type: ignore[misc]
        return lo <= value <= hi

    def describe(self) -> str:
        if self.op == "all":
            return "all pass"
        if self.op == "in":
            lo, hi = self.bound  # type: ignore[misc]
            return f"{_num(lo)}–{_num(hi)}"
        sign = {"<=": "≤", ">=": "≥", "<": "<", ">": ">"}[self.op]
        return f"{sign} {_num(float(self.bound))}"  # type: ignore[arg-type]


def _num(x: float) -> str:
    return f"{x:g}" if abs(x) >= 1e-3 or x == 0 else f"{x:.2e}"


# -- theory ------------------------------------------------------------------------------------
THEORY_ALL_PASS = Target("all", source=ISSUE)
THEORY_REFS = (Ref("18/18 checks pass in 3.7 s", RESULTS_MD),)

# -- generative models on MNIST ----------------------------------------------------------------
# 2-D latent, grey-level targets (the exercise's Bernoulli loss on grey levels).
VAE2D_NEG_ELBO = Target("<=", 140.0)
VAE2D_NEG_ELBO_REFS = (
    Ref("157.5 after 10 epochs: plain conv VAE, this architecture", ANCHORS_MD),
    Ref("146.95: Keras example's training loss on train + test (not a test number)", ANCHORS_MD),
    Ref("155.20 after 18 of 60 epochs", RESULTS_MD),
)
VAE_GREY_NLL_REFS = (
    Ref("152.0 (K=200) after 10 epochs, plain conv VAE; no published 2-D IW NLL", ANCHORS_MD),
    Ref("grey-level targets: not comparable with the binarized NLL table", ANCHORS_MD),
)
# Dynamically binarized MNIST, K = 5000 importance samples (Burda et al. 2015, Table 1).
VAE_BINARY_NLL = Target("<=", 84.0)
VAE_BINARY_NLL_REFS = (
    Ref("86.76: VAE, 1 stochastic layer (IWAE paper)", ANCHORS_MD),
    Ref("85.33: VAE, 2 stochastic layers; IWAE k=50: 84.78 / 82.90", ANCHORS_MD),
)
VAE_STATIC_NLL_REFS = (Ref("87.10: IWAE k=50, static binarization", ANCHORS_MD),)
AE2D_RECON_REFS = (Ref("152.31 after 10 epochs (AE, 2-D)", RESULTS_MD),)
KNN_REFS_VAE = (Ref("0.645 after 18 epochs (VAE, 2-D)", RESULTS_MD),)
KNN_REFS_AE = (Ref("0.596 after 10 epochs (AE, 2-D)", RESULTS_MD),)

# Sample quality, judged by the MNIST classifier (`cilab gen eval`).
DCGAN_IS = Target(">=", 9.5)
CLASS_ENTROPY = Target(">=", round(0.99 * LN10, 4))  # 0.99 ln 10
FD_FLOOR_FACTOR = 3.0  # target: fd <= 3 x fd_real_floor (computed per run)
IS_REFS = (
    Ref("≈ 9.88 for the real test set with a good CNN (ceiling 10)", ANCHORS_MD),
    Ref("real test set 9.840 with cilab's classifier", RESULTS_MD),
)
CLASS_ENTROPY_REFS = (Ref(f"ln 10 = {LN10:.4f} is perfect; real test set 2.3008", RESULTS_MD),)
PRECISION_REFS = (Ref("real test set 0.888", RESULTS_MD),)
RECALL_REFS = (Ref("real test set 0.867", RESULTS_MD),)
NN_DISTANCE_REFS = (
    Ref("real test set 4.218; far below it means memorized training images", RESULTS_MD),
)
FD_REFS = (Ref("real test set: fd = fd_real_floor = 2.282", RESULTS_MD),)

# -- road segmentation (CIL 2019) --------------------------------------------------------------
ROADS_ACCURACY = Target(">=", 0.93)
ROADS_F1 = Target(">=", 0.85)
ROADS_ACCURACY_REFS = (
    Ref("0.92775 public / 0.92168 private: best CIL 2019 (extra data, pretrained)", ANCHORS_MD),
    Ref("0.92105: 7 bagged U-Nets, no extra data", ANCHORS_MD),
    Ref("0.83–0.89: a single U-Net from scratch", ANCHORS_MD),
)
ROADS_F1_REFS = (Ref("0.90–0.91: good U-Nets on EPFL's version (true road F1)", ANCHORS_MD),)

# -- cosmology ---------------------------------------------------------------------------------
COSMO_CLASSIFY_REFS = (
    Ref("simulated data: baseline AUROC 0.944, random forest 1.000", RESULTS_MD),
    Ref("exercise baseline: 10-bin histogram, SGD logistic regression", ANCHORS_MD),
)
COSMO_REGRESS_REFS = (
    Ref("real data: constant 0.84–0.88, RF on 10-bin histogram 0.31", ANCHORS_MD),
    Ref("real data: best reported 0.094 (XGBoost, histogram + power spectrum)", ANCHORS_MD),
    Ref("simulated data: gradient boosting 0.086 (constant 0.798)", RESULTS_MD),
)
# validate-sim: the clean real images' facts (cilab.cosmo.validate_sim.ANCHOR, from ANCHORS.md)
SIM_SOURCES = Target("in", (40.0, 70.0), ANCHORS_MD)
SIM_PEAK_GT100 = Target("in", (3.0, 6.0), ANCHORS_MD)
SIM_FWHM = Target("in", (3.1, 4.2), ANCHORS_MD)
SIM_PEDESTAL = Target("in", (0.22, 0.27), ANCHORS_MD)
SIM_PEAK_GE4_REFS = (Ref("≈ 21 sources with peak ≥ 4 in a clean real image", ANCHORS_MD),)
SIM_ZERO_REFS = (Ref("99.7 % of a clean real image's pixels are exactly 0", ANCHORS_MD),)
SIM_KS_REFS = (Ref("0.0143 (scores mapped through the real quantiles)", RESULTS_MD),)
SIMULATE_REFS = (Ref("12,000 images in 228.8 s, 2 workers, load ≈ 5", RESULTS_MD),)
