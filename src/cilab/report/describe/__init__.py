"""Read one found run and say what the report shows of it: metrics against anchors, tables,
figures, training curves, config, the reproducing command, and machine/time facts.

One module per part of the mission; `describe` picks the describer by the kind `discover` gave
the run. Every describer reads defensively (see `cilab.report.runfiles`): a run still being
written is reported as far as it goes, never an error.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from cilab.report.describe.cosmo import (
    describe_cosmo_model,
    describe_cosmo_sim,
    describe_cosmo_validate,
)
from cilab.report.describe.gen import describe_gen, describe_real
from cilab.report.describe.roads import describe_roads_cv, describe_roads_predict
from cilab.report.describe.theory import describe_theory
from cilab.report.discover import Found
from cilab.report.view import RunView

DESCRIBERS: dict[str, Callable[[Found, Path], RunView]] = {
    "gen-ae": describe_gen,
    "gen-vae": describe_gen,
    "gen-dcgan": describe_gen,
    "gen-real": describe_real,
    "roads-cv": describe_roads_cv,
    "roads-predict": describe_roads_predict,
    "cosmo-classify": describe_cosmo_model,
    "cosmo-regress": describe_cosmo_model,
    "cosmo-sim": describe_cosmo_sim,
    "cosmo-validate": describe_cosmo_validate,
    "theory": describe_theory,
}


def describe(found: Found, root: Path) -> RunView:
    """The view of one found run, by the describer its kind maps to in `DESCRIBERS`."""
    return DESCRIBERS[found.kind](found, root)
