"""The demo's memory: each step's config hash and state, kept in `RUNS_DIR/demo.json`.

A step is one run of one command (train the VAE, evaluate it, simulate the cosmology set, ...).
Before it starts, its record says `running` with the hash of its config (and of the steps it
depends on); when it ends, `done` with its wall time and key metrics. demo.json is rewritten
atomically after every change, so a Ctrl-C or a crash never leaves it half written. On the
next invocation a step is

- reused when its record is `done` with the same hash and its outputs are still there;
- resumed (the trainers continue from `last.pt`) when its record has the same hash but did not
  finish;
- rerun from scratch when the hash differs: the paths it owns are removed first, and the steps
  that depend on it get new hashes too, so they rerun as well, and nothing else does.

Settings that do not change a result (where it is written, the device, processes, threads,
logging) are left out of the hash.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cilab import __version__
from cilab.core.errors import CilabError
from cilab.core.io import read_json, write_json
from cilab.demo.config import PARTS

#: Config fields that never change what a run computes.
VOLATILE = frozenset({"out", "device", "workers", "threads", "log_every", "cnn_device"})
FORMAT = 1  # demo.json's layout version


def config_hash(obj: Any) -> str:
    """16 hex digits of SHA-256 over canonical JSON (sorted keys)."""
    blob = json.dumps(obj, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def stable(cfg: Any, drop: Iterable[str] = ()) -> dict[str, Any]:
    """A config (dataclass or dict) without the fields that do not change its result."""
    values = dataclasses.asdict(cfg) if dataclasses.is_dataclass(cfg) else dict(cfg)
    gone = VOLATILE | set(drop)
    return {k: v for k, v in values.items() if k not in gone}


def now() -> str:
    """The current UTC time, ISO 8601 to the second: demo.json's timestamps."""
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass
class StepRecord:
    """A finished (or reused) step, as the part that ran it sees it."""

    name: str
    config_hash: str
    metrics: dict[str, Any]
    reused: bool
    seconds: float  # the wall time of the run that computed it


class Ledger:
    """`RUNS_DIR/demo.json`: a record per part, each with a record per step (`runs`)."""

    def __init__(self, out: str | Path, scale: str) -> None:
        self.out = Path(out)
        self.path = self.out / "demo.json"
        data: dict[str, Any] = {}
        if self.path.exists():
            try:
                data = read_json(self.path)
            except (OSError, ValueError) as e:
                raise CilabError(
                    f"{self.path}: unreadable ({e}); remove it to start over"
                ) from None
        self.parts: dict[str, dict[str, Any]] = data.get("parts", {})
        # Every path a step ever owned (relative to RUNS_DIR): only these are ever removed.
        self.owned: set[str] = set(data.get("owned", []))
        self.scale = scale
        self.started = now()
        self.touched: dict[str, dict[str, bool]] = {}  # part -> step -> reused, this invocation

    # -- records -------------------------------------------------------------------------------
    def part(self, part: str) -> dict[str, Any]:
        return self.parts.setdefault(part, {"status": "skipped", "runs": {}})

    def runs(self, part: str) -> dict[str, Any]:
        return self.part(part).setdefault("runs", {})

    def prune(self, part: str) -> None:
        """Keep only the steps this invocation went through (the part's current plan)."""
        touched = self.touched.get(part, {})
        runs = self.runs(part)
        self.part(part)["runs"] = {k: runs[k] for k in touched if k in runs}

    def save(self) -> None:
        write_json(
            self.path,
            {
                "format": FORMAT,
                "cilab_version": __version__,
                "out": str(self.out),
                "scale": self.scale,
                "part_order": list(PARTS),
                "started": self.started,
                "updated": now(),
                "parts": self.parts,
                "owned": sorted(self.owned),
            },
        )

    def rel(self, path: Path) -> str:
        """`path` relative to RUNS_DIR (how demo.json names files)."""
        try:
            return str(path.relative_to(self.out))
        except ValueError:
            return str(path)

    # -- steps ---------------------------------------------------------------------------------
    def step(
        self,
        part: str,
        name: str,
        *,
        config: Mapping[str, Any],
        action: Callable[[bool], dict[str, Any]],
        command: str,
        describe: str,
        where: Path,
        deps: Sequence[str] = (),
        owns: Sequence[Path] = (),
        outputs: Sequence[Path] = (),
    ) -> StepRecord:
        """Reuse, resume or run one step (see the module doc); `action(resume)` returns metrics.

        `owns`: the paths this step alone writes (removed when its config changes); `outputs`:
        what must exist for a finished step to count as done.
        """
        h = config_hash({"config": dict(config), "deps": list(deps)})
        runs = self.runs(part)
        rec = runs.get(name)
        same = rec is not None and rec.get("config_hash") == h
        touched = self.touched.setdefault(part, {})
        if same and rec["status"] == "done" and all(p.exists() for p in outputs):
            print(f"   {part}/{name}: reused (config {h[:8]}, {self.rel(where)})", flush=True)
            touched[name] = True
            return StepRecord(name, h, rec.get("metrics", {}), True, rec.get("seconds", 0.0))
        touched[name] = False
        if not same:
            self._clear(part, name, rec, owns)
        self.owned.update(self.rel(p) for p in owns)
        how = "resuming" if same else "running"
        print(f"-- {part}/{name}: {how} {describe} -> {where}", flush=True)
        runs[name] = {
            "config_hash": h, "status": "running", "dir": self.rel(where), "command": command,
            "config": dict(config), "started": now(),
        }  # fmt: skip
        self.save()
        start = time.perf_counter()
        metrics = action(same)
        seconds = round(time.perf_counter() - start, 1)
        runs[name].update(status="done", seconds=seconds, metrics=metrics, finished=now())
        self.save()
        return StepRecord(name, h, metrics, False, seconds)

    def _clear(
        self, part: str, name: str, rec: dict[str, Any] | None, owns: Sequence[Path]
    ) -> None:
        present = [p for p in owns if p.exists() or p.is_symlink()]
        if not present:
            return
        foreign = [p for p in present if self.rel(p) not in self.owned]
        if foreign:
            raise CilabError(
                f"{foreign[0]} exists, but {self.path} has no record of it, so the demo did not "
                "write it: move it away, or choose another --out"
            )
        if rec is not None:
            print(f"   {part}/{name}: its settings changed; rerunning it from scratch", flush=True)
        out = self.out.resolve()
        for p in present:
            if not p.resolve().is_relative_to(out):  # never delete outside RUNS_DIR
                raise CilabError(f"{p}: outside {self.out}; refusing to remove it")
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p)
            else:
                p.unlink()
