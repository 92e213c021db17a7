"""Reading a run's files, and the facts every kind of run shows (epochs, time, device, when).

Everything is read defensively: a run still being written (a torn metrics.jsonl line, a file
replaced mid-read, no metrics.json yet) is reported as far as it goes, never an error.
"""

from __future__ import annotations

import csv
import re
import time
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from statistics import median
from typing import Any

from cilab.core.io import read_jsonl
from cilab.report.discover import read_json_safe
from cilab.report.view import Fig, duration

RECENT_S = 30 * 60  # a run whose log changed this recently is "running"
CURVE_SKIP = {"time_s", "img_per_s", "lr", "seconds"}


def when(path: Path) -> str | None:
    """When `path` was last written (local time, to the minute); None when it is gone."""
    try:
        return datetime.fromtimestamp(path.stat().st_mtime).strftime("%Y-%m-%d %H:%M")
    except OSError:
        return None


def stamped(label: str, path: Path) -> list[tuple[str, str]]:
    """The fact "`label`: when `path` was written", as a list to add: empty when it is gone."""
    at = when(path)
    return [(label, at)] if at else []


def age_s(path: Path) -> float | None:
    """Seconds since `path` was last written (how a live run is told from a stopped one)."""
    try:
        return time.time() - path.stat().st_mtime
    except OSError:
        return None


def records_of(path: Path) -> list[dict[str, Any]]:
    """The JSON objects of a metrics.jsonl (a torn last line skipped); [] when unreadable."""
    try:
        return [r for r in read_jsonl(path) if isinstance(r, dict)] if path.is_file() else []
    except (OSError, UnicodeDecodeError):
        return []


def dict_json(path: Path) -> dict[str, Any]:
    """A JSON file that should hold an object; {} when it is missing, torn or not one."""
    data = read_json_safe(path)
    return data if isinstance(data, dict) else {}


def read_csv(path: Path, limit: int = 200) -> tuple[list[str], list[list[str]]]:
    """(header, first `limit` rows) of a CSV file; ([], []) when unreadable."""
    try:
        with open(path, newline="") as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError, csv.Error):
        return [], []
    return (rows[0], rows[1 : limit + 1]) if rows else ([], [])


def existing(run: Path, items: Iterable[tuple[str, str]]) -> list[Fig]:
    """Figures of the (file name, caption) `items` that the run has written, in that order."""
    return [Fig(caption, run / name) for name, caption in items if (run / name).is_file()]


def curve_keys(records: list[dict[str, Any]], order: Sequence[str] = ()) -> list[str] | None:
    """Metric families worth a panel (not times or rates); `order` first when present."""
    fams: list[str] = []
    for r in records:
        if "epoch" not in r:
            continue
        for k, v in r.items():
            if k in ("epoch", "step", "global_step") or isinstance(v, bool):
                continue
            if not isinstance(v, int | float):
                continue
            fam = re.sub(r"^(train|val|test)_", "", k)
            if fam not in CURVE_SKIP and fam not in fams:
                fams.append(fam)
    if not fams:
        return None
    first = [f for f in order if f in fams]
    return (
        first + [f for f in fams if f not in first]
        if first
        else sorted(fams, key=lambda f: f != "loss")
    )


def curves_fig(run: Path, records: list[dict[str, Any]], caption: str, **kw: Any) -> list[Fig]:
    """The run's curves.png when it is up to date, else a figure drawn from the records."""
    png, log = run / "curves.png", run / "metrics.jsonl"
    try:
        fresh = png.is_file() and (not log.is_file() or png.stat().st_mtime >= log.stat().st_mtime)
    except OSError:
        fresh = False
    if fresh:
        return [Fig(caption, png, wide=True)]
    keys = curve_keys(records, kw.get("order", ()))
    if keys is None:
        return []
    return [Fig(caption + " (drawn by the report from metrics.jsonl)", None, records, keys, True)]


def training_facts(run: Path, records: list[dict[str, Any]], total: Any) -> list[tuple[str, str]]:
    """Epochs, steps, time and speed of a training run from its records, and when it wrote."""
    facts: list[tuple[str, str]] = []
    epochs = [r["epoch"] for r in records if isinstance(r.get("epoch"), int | float)]
    if epochs:
        facts.append(("epochs", f"{int(max(epochs))} of {total}" if total else str(max(epochs))))
    steps = [r["step"] for r in records if isinstance(r.get("step"), int | float)]
    if steps:
        facts.append(("optimizer steps", f"{int(max(steps)):,}"))
    times = [r["time_s"] for r in records if isinstance(r.get("time_s"), int | float)]
    if times:
        facts.append(("training time (sum of epochs)", duration(sum(times))))
    rates = [r["img_per_s"] for r in records if isinstance(r.get("img_per_s"), int | float)]
    if rates:
        facts.append(
            (
                "images/s (median, min–max)",
                f"{median(rates):,.0f} ({min(rates):,.0f}–{max(rates):,.0f})",
            )
        )
    facts += stamped("config written", run / "config.json")
    facts += stamped("log last updated", run / "metrics.jsonl")
    return facts


def training_state(run: Path, records: list[dict[str, Any]], total: Any) -> tuple[str, str]:
    """(state, text): done when all `total` epochs are logged, else running or stopped by how
    recently the log changed."""
    epochs = [r["epoch"] for r in records if isinstance(r.get("epoch"), int | float)]
    done = int(max(epochs)) if epochs else 0
    if isinstance(total, int) and done >= total:
        return "done", f"trained ({done} epochs)"
    age = age_s(run / "metrics.jsonl")
    if age is None:
        age = age_s(run / "config.json")
    of = f" {total}" if total else ""
    if age is not None and age < RECENT_S:
        return "running", f"training: epoch {done} of{of} done"
    return "stopped", f"stopped after epoch {done} of{of}"


def device_facts(config: dict[str, Any]) -> list[tuple[str, str]]:
    """The device, precision and threads the run was configured with (not where it ran)."""
    out = []
    if "device" in config:
        dev = str(config["device"])
        if config.get("bf16"):
            dev += ", bf16 autocast"
        if config.get("threads"):
            dev += f", {config['threads']} threads"
        out.append(("device (as configured)", dev))
    return out


def rel_name(path: Path, root: Path) -> str:
    """How the report names `path`: relative to the runs folder `root` (its own name when it is
    that folder; the full path when it lies outside)."""
    try:
        rel = path.relative_to(root)
    except ValueError:
        return str(path)
    return str(rel) if str(rel) != "." else path.name or str(path)
