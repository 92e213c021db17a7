"""What the report shows of one run, and how it prints numbers.

A `RunView` holds a run's metric rows (each judged against its anchor), tables, figures, curves,
config, reproducing commands and facts; the describers in `cilab.report.describe` fill one in
for each kind of run and `render` turns it into HTML. The number formats live here so every
table prints a value the same way.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cilab.report import anchors as A
from cilab.report.discover import Found


@dataclass
class Fig:
    """An image to show: a file of the run, or (`records`) a curve figure the report draws."""

    caption: str
    path: Path | None = None
    records: list[dict[str, Any]] | None = None
    keys: list[str] | None = None
    wide: bool = False
    thumb: int | None = None  # longest side in pixels for a downscaled copy
    src: str | None = None  # set by the builder: the copy's path relative to index.html


@dataclass
class MetricRow:
    """One metric of a run: value, shown text, and the anchor target `status` judges it by."""

    label: str
    value: float | None
    text: str
    target: A.Target | None = None
    refs: Sequence[A.Ref] = ()
    pending: bool = False  # a provisional number (validation, unfinished run): not judged
    note: str = ""

    @classmethod
    def of(
        cls,
        label: str,
        value: float | None,
        target: A.Target | None = None,
        refs: Sequence[A.Ref] = (),
        pending: bool = False,
        note: str = "",
    ) -> MetricRow:
        """A row whose text is the value as `fmt` shows it (most rows)."""
        return cls(label, value, fmt(value), target, refs, pending, note)

    @property
    def status(self) -> str:
        if self.value is None or not math.isfinite(self.value):
            return "missing" if self.target else "none"
        if self.target is None:
            return "none"
        if self.pending:
            return "pending"
        return "met" if self.target.met(self.value) else "not-met"


@dataclass
class Table:
    """A titled table of ready-formatted cells, made by the describers, drawn by `render`."""

    title: str
    header: list[str]
    rows: list[list[str]]
    note: str = ""


@dataclass
class RunView:
    """What the report shows of one run; a describer fills it in, `render` draws it."""

    found: Found
    name: str  # path relative to RUNS_DIR
    title: str
    state: str  # done / running / stopped / partial
    state_text: str
    metrics: list[MetricRow] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    figures: list[Fig] = field(default_factory=list)
    curves: list[Fig] = field(default_factory=list)
    config: Any = None
    config_name: str = "config.json"
    commands: list[str] = field(default_factory=list)
    commands_source: str = "rebuilt from the run's saved config and outputs (non-default options)"
    facts: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def part(self) -> str:
        return self.found.part

    @property
    def anchor_id(self) -> str:
        return "run-" + re.sub(r"[^A-Za-z0-9_-]+", "-", self.name).strip("-").lower()


# -- numbers -----------------------------------------------------------------------------------
def num(v: Any) -> float | None:
    """`v` as a float when it is a JSON number (not a bool), else None."""
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    return float(v)


def fmt(v: Any) -> str:
    """A number as a table shows it: integers whole, floats to 4 decimals (fewer when large)."""
    x = num(v)
    if x is None:
        return "–" if v is None else str(v)
    if not math.isfinite(x):
        return str(x)
    if isinstance(v, int):
        return f"{v:,}" if abs(v) >= 10_000 else str(v)
    if x != 0 and (abs(x) >= 1e6 or abs(x) < 1e-3):
        return f"{x:.3e}"
    if abs(x) >= 1000:
        return f"{x:,.1f}"
    return f"{x:.2f}" if abs(x) >= 100 else f"{x:.4f}"


def fmt_pm(pair: Any, digits: int = 4) -> tuple[float | None, str]:
    """(mean, 'mean ± std') of a [mean, std] pair or {'mean', 'std'} dict."""
    if isinstance(pair, dict):
        pair = [pair.get("mean"), pair.get("std")]
    if isinstance(pair, list | tuple) and len(pair) == 2 and num(pair[0]) is not None:
        m, s = num(pair[0]), num(pair[1])
        text = f"{m:.{digits}f}" + (f" ± {s:.{digits}f}" if s is not None else "")
        return m, text
    return None, fmt(pair)


def duration(seconds: float | None) -> str:
    """Seconds as a person reads them: 42.0 s, 3 min 07 s, 2 h 05 min; – when unknown."""
    if seconds is None or not math.isfinite(seconds):
        return "–"
    s = round(seconds)
    if s < 60:
        return f"{seconds:.1f} s"
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h} h {m:02d} min" if h else f"{m} min {s:02d} s"


# -- generic JSON tables -----------------------------------------------------------------------
def json_rows(data: Any) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """(rows, scalars) of a JSON document: its list of objects, and its top-level scalars."""
    if isinstance(data, list):
        return [r for r in data if isinstance(r, dict)], {}
    if not isinstance(data, dict):
        return [], {}
    scalars = {k: v for k, v in data.items() if not isinstance(v, dict | list)}
    for key in ("rows", "checks", "results", "parts"):
        value = data.get(key)
        if isinstance(value, list) and any(isinstance(r, dict) for r in value):
            return [r for r in value if isinstance(r, dict)], scalars
        if isinstance(value, dict) and value and all(isinstance(v, dict) for v in value.values()):
            return [{"name": k, **v} for k, v in value.items()], scalars
    for value in data.values():
        if isinstance(value, list) and value and all(isinstance(r, dict) for r in value):
            return value, scalars
    if data and all(isinstance(v, dict) for v in data.values()):
        return [{"name": k, **v} for k, v in data.items()], {}
    return [], scalars


FIRST_COLUMNS = ("name", "check", "id", "model", "part")  # what a row is about, leftmost
LAST_COLUMNS = ("details", "message", "note")  # free text, rightmost


def rows_table(title: str, rows: list[dict[str, Any]]) -> Table:
    """A table of JSON objects; JSON files store keys sorted, so the columns are reordered."""
    header: list[str] = []
    for r in rows:
        header += [k for k in r if k not in header]
    header.sort(key=lambda k: (k not in FIRST_COLUMNS, k in LAST_COLUMNS))  # stable otherwise
    cells = [[cell(r.get(k)) for k in header] for r in rows]
    return Table(title, header, cells)


def cell(v: Any) -> str:
    """A JSON value as a generic table shows it: bools PASS/FAIL, lists and dicts flattened."""
    if isinstance(v, bool):
        return "PASS" if v else "FAIL"
    if isinstance(v, dict):
        return ", ".join(f"{k}={cell(x)}" for k, x in v.items())
    if isinstance(v, list):
        return ", ".join(cell(x) for x in v)
    if isinstance(v, float):
        return f"{v:.4g}"
    return fmt(v)
