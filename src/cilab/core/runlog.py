"""A run directory's logs: metrics.jsonl (one record per epoch) and TensorBoard event files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cilab.core.io import append_jsonl, atomic_write, read_jsonl, write_json


class RunLog:
    """Appends epoch records and mirrors scalars to TensorBoard (main process only).

    `truncate_after(epoch)` drops records a crashed run wrote after its last checkpoint, so a
    resumed run's metrics.jsonl has each epoch exactly once.
    """

    def __init__(self, run_dir: str | Path, enabled: bool = True, tensorboard: bool = True) -> None:
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / "metrics.jsonl"
        self.enabled = enabled
        self._tb = None
        if enabled and tensorboard:
            from torch.utils.tensorboard import SummaryWriter  # slow import: only when logging

            self._tb = SummaryWriter(log_dir=str(self.run_dir / "tb"))

    def truncate_after(self, epoch: int) -> None:
        if not self.enabled or not self.path.exists():
            return
        kept = [r for r in read_jsonl(self.path) if r.get("epoch", 0) <= epoch]
        data = "".join(json.dumps(r, sort_keys=True) + "\n" for r in kept).encode()
        atomic_write(self.path, lambda f: f.write(data))

    def scalar(self, tag: str, value: float, step: int) -> None:
        if self._tb is not None:
            self._tb.add_scalar(tag, value, step)

    def epoch(self, record: dict[str, Any], step: int) -> None:
        if not self.enabled:
            return
        append_jsonl(self.path, record)
        for k, v in record.items():
            if k not in ("epoch", "step") and isinstance(v, int | float):
                self.scalar(f"epoch/{k}", float(v), step)
        if self._tb is not None:
            self._tb.flush()

    def records(self) -> list[dict[str, Any]]:
        return read_jsonl(self.path) if self.path.exists() else []

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()
            self._tb = None


def save_config(run_dir: str | Path, config: dict[str, Any]) -> None:
    """Write the resolved config as `config.json`, which `--resume` and `gen eval` read back."""
    write_json(Path(run_dir) / "config.json", config)
