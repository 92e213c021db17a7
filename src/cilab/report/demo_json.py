"""`RUNS_DIR/demo.json` (written by `cilab demo`): the per-part table and the recorded commands.

Its layout: top-level scalars (`out`, `scale`, `started`, `updated`, ...) and `parts`, one
record per part (`status`, `seconds`, `message`, `reused`, ...) whose `runs` hold one record per
step with the step's `dir` (relative to RUNS_DIR) and the exact `command` it ran. Anything else
is shown generically.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cilab.report.view import Table, cell, duration, json_rows, num, rows_table

HIDDEN = {"owned", "format", "parts"}


def demo_summary(demo: dict[str, Any]) -> tuple[list[tuple[str, str]], Table | None]:
    """(facts, table of parts) of a demo.json."""
    facts = [(k, cell(v)) for k, v in demo.items() if k not in HIDDEN and not isinstance(
        v, dict | list)]  # fmt: skip
    parts = demo.get("parts")
    if isinstance(parts, dict) and parts and all(isinstance(p, dict) for p in parts.values()):
        rows = []
        for name, rec in parts.items():
            steps = rec.get("runs") if isinstance(rec.get("runs"), dict) else {}
            done = sum(isinstance(s, dict) and s.get("status") == "done" for s in steps.values())
            rows.append([
                str(name), str(rec.get("status", "?")) + (" (reused)" if rec.get("reused") else ""),
                f"{done} of {len(steps)}" if steps else "–", duration(num(rec.get("seconds"))),
                str(rec.get("message", "")),
            ])  # fmt: skip
        header = ["part", "status", "steps done", "time (steps)", "message"]
        return facts, Table("", header, rows)
    rows, scalars = json_rows(demo)
    facts = [(k, cell(v)) for k, v in scalars.items() if k not in HIDDEN]
    return facts, rows_table("", rows) if rows else None


def recorded_commands(demo: dict[str, Any] | None, root: Path) -> dict[Path, list[str]]:
    """Resolved output path -> the commands demo.json recorded for it, in step order."""
    out: dict[Path, list[str]] = {}
    parts = demo.get("parts") if isinstance(demo, dict) else None
    if not isinstance(parts, dict):
        return out
    for rec in parts.values():
        steps = rec.get("runs") if isinstance(rec, dict) else None
        if not isinstance(steps, dict):
            continue
        for step in steps.values():
            if not isinstance(step, dict):
                continue
            where, command = step.get("dir"), step.get("command")
            if isinstance(where, str) and isinstance(command, str) and command:
                path = (root / where).resolve()
                if command not in out.get(path, []):
                    out.setdefault(path, []).append(command)
    return out
