"""Find what cilab wrote under a folder, by the marker files each command leaves.

A directory is classified by the first rule that matches; a classified run directory is not
searched further (its fold, split and sample folders belong to it):

| kind | marker |
|---|---|
| `cosmo-sim` | `simulation.json` (`cilab cosmo simulate`) |
| `roads-predict` | `predict.json` (`cilab roads predict`, + `metrics.json` of `roads eval`) |
| `roads-cv` | `cv.json` or `predictor.json`, or `config.json` beside `fold_K/` folders |
| `gen-ae`, `gen-vae`, `gen-dcgan` | `config.json` whose `model` is ae, vae or dcgan |
| `cosmo-classify`, `cosmo-regress` | `metrics.json` with `task`, or a cosmology `config.json` |
| `gen-real` | `metrics.json` with `real` (`cilab gen eval --real`) |

Files, wherever they sit: `checks.json` (`theory`: the theory checks, rendered generically),
`FIG.json` beside `FIG.png` holding `sim`/`real` numbers (`cosmo-validate`), and loose figures
(PNG/GIF in folders with few images, e.g. `cilab gen compare`'s). `RUNS_DIR/demo.json` (the
demo's per-part summary) is read when present.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

GEN_MODELS = ("ae", "vae", "dcgan")
IMAGE_SUFFIXES = (".png", ".gif", ".jpg", ".jpeg")
SKIP_DIRS = {"tb", "__pycache__", "node_modules"}
MAX_DEPTH = 8
MAX_LOOSE_IMAGES = 12  # a folder with more images is data, not figures
MAX_JSON_BYTES = 2_000_000

PART_OF = {
    "theory": "theory",
    "gen-ae": "gen",
    "gen-vae": "gen",
    "gen-dcgan": "gen",
    "gen-real": "gen",
    "roads-cv": "roads",
    "roads-predict": "roads",
    "cosmo-sim": "cosmo",
    "cosmo-validate": "cosmo",
    "cosmo-classify": "cosmo",
    "cosmo-regress": "cosmo",
}

LOOKED_FOR = (
    "config.json of `cilab gen train` or `cilab roads train` runs, cv.json, predict.json, "
    "metrics.json of `cilab cosmo classify/regress` or `cilab gen eval --real`, "
    "simulation.json, validate-sim FIG.json, theory/checks.json"
)


@dataclass
class Found:
    """One thing to report: `path` is a directory, or the JSON file of a file-level kind."""

    kind: str
    path: Path

    @property
    def part(self) -> str:
        return PART_OF.get(self.kind, "other")


@dataclass
class Discovery:
    """What `discover` found under `root` (runs, loose figures, demo.json), for `build_report`."""

    root: Path
    runs: list[Found] = field(default_factory=list)
    figures: list[tuple[Path, str]] = field(default_factory=list)  # (image, part)
    demo: dict[str, Any] | None = None

    def __bool__(self) -> bool:
        return bool(self.runs or self.figures or self.demo)


def read_json_safe(path: Path) -> Any:
    """The parsed file, or None when it is missing, too big, being written or not JSON."""
    try:
        if path.stat().st_size > MAX_JSON_BYTES:
            return None
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def classify_dir(path: Path, names: set[str]) -> str | None:
    """The kind of run directory `path` is (its entries are `names`), or None."""
    if "simulation.json" in names:
        return "cosmo-sim"
    if "predict.json" in names:
        return "roads-predict"
    if "cv.json" in names or "predictor.json" in names:
        return "roads-cv"
    config = read_json_safe(path / "config.json") if "config.json" in names else None
    config = config if isinstance(config, dict) else None
    if config is not None and any(re.fullmatch(r"fold_\d+", n) for n in names):
        return "roads-cv"
    if config is not None and config.get("model") in GEN_MODELS:
        return f"gen-{config['model']}"
    metrics = read_json_safe(path / "metrics.json") if "metrics.json" in names else None
    metrics = metrics if isinstance(metrics, dict) else None
    if metrics is not None and metrics.get("task") in ("classify", "regress"):
        return f"cosmo-{metrics['task']}"
    if config is not None and "families" in config and "importance_repeats" in config:
        return "cosmo-classify" if "cnn" in config else "cosmo-regress"
    if metrics is not None and "real" in metrics and "classifier_is" in metrics:
        return "gen-real"
    return None


def _is_validate_json(path: Path) -> bool:
    data = read_json_safe(path)
    return isinstance(data, dict) and {"sim", "real", "sim_images"} <= data.keys()


def discover(root: str | Path, exclude: str | Path | None = None) -> Discovery:
    """Everything reportable under `root` (not under `exclude`, e.g. the report's own folder)."""
    root = Path(root)
    found = Discovery(root)
    skip = Path(exclude).resolve() if exclude is not None else None
    demo = read_json_safe(root / "demo.json")
    found.demo = demo if isinstance(demo, dict) else None
    loose: list[tuple[Path, Path]] = []  # (image, its folder)
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        depth = len(here.relative_to(root).parts)
        names = set(dirnames) | set(filenames)
        kind = classify_dir(here, names)
        if kind is not None:
            found.runs.append(Found(kind, here))
            dirnames[:] = []
            continue
        dirnames[:] = sorted(
            d
            for d in dirnames
            if not d.startswith(".")
            and d not in SKIP_DIRS
            and depth < MAX_DEPTH
            and (skip is None or (here / d).resolve() != skip)
        )
        if "checks.json" in filenames:
            found.runs.append(Found("theory", here / "checks.json"))
        images = sorted(f for f in filenames if f.lower().endswith(IMAGE_SUFFIXES))
        figures_here = []
        for name in images:
            stem = Path(name).stem
            if f"{stem}.json" in filenames and _is_validate_json(here / f"{stem}.json"):
                found.runs.append(Found("cosmo-validate", here / f"{stem}.json"))
            else:
                figures_here.append(here / name)
        if len(figures_here) <= MAX_LOOSE_IMAGES:
            loose += [(p, here) for p in figures_here]
    found.runs.sort(key=lambda f: (str(f.path.parent if f.path.is_file() else f.path), f.kind))
    for image, folder in loose:
        parts = {f.part for f in found.runs if f.path.parent == folder}
        found.figures.append((image, parts.pop() if len(parts) == 1 else "other"))
    return found
