"""What every demo part works with: its context (config, ledger, output folder), the flags
that rebuild a config as a command line, and the small helpers its steps share.
"""

from __future__ import annotations

import dataclasses
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cilab.core.errors import CilabError
from cilab.demo.cache import Ledger
from cilab.demo.config import DemoConfig


class MissingData(CilabError):
    """A part's data is absent; the message says exactly where it is looked for."""


@dataclass
class Ctx:
    """A part's view of the demo: its settings (the scale among them) and the step ledger."""

    cfg: DemoConfig
    ledger: Ledger

    @property
    def scale(self) -> Any:
        return self.cfg.scale

    def dir(self, part: str) -> Path:
        """The folder the part writes its runs under."""
        return Path(self.cfg.out) / part


def flags(cfg: Any, exclude: tuple[str, ...] = (), always: tuple[str, ...] = ()) -> str:
    """The command-line flags that rebuild dataclass `cfg` from its defaults."""
    cls = type(cfg)
    base = cls(**{k: getattr(cfg, k) for k in ("model",) if hasattr(cfg, k)})
    out = []
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if f.name in exclude or (value == getattr(base, f.name) and f.name not in always):
            continue
        flag = "--" + f.name.replace("_", "-")
        if isinstance(value, bool):
            out.append(flag if value else "--no-" + flag[2:])
        elif value is not None:
            out.append(f"{flag} {shlex.quote(str(value))}")
    return " ".join(out)


def pick(metrics: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    """The `keys` of `metrics` that are present: what a step records of a run."""
    return {k: metrics[k] for k in keys if k in metrics}


def last_record(run_dir: Path) -> dict[str, Any]:
    """The run's last metrics.jsonl record (its final epoch), {} when it has none."""
    from cilab.core.io import read_jsonl

    path = run_dir / "metrics.jsonl"
    records = read_jsonl(path) if path.exists() else []
    return records[-1] if records else {}


def raise_if_interrupted(status: str) -> None:
    """A training stopped by Ctrl-C returns "interrupted"; the demo must stop too, resumable."""
    if status == "interrupted":
        raise KeyboardInterrupt
