"""The report's view of `cilab theory check`'s checks.json: one row per identity checked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cilab.report import anchors as A
from cilab.report import commands
from cilab.report.discover import Found, read_json_safe
from cilab.report.runfiles import rel_name, stamped
from cilab.report.view import MetricRow, RunView, cell, json_rows, rows_table


def _passed(row: dict[str, Any]) -> bool | None:
    for key in ("passed", "pass", "ok"):
        if isinstance(row.get(key), bool):
            return row[key]
    for key in ("result", "status", "verdict"):
        if isinstance(row.get(key), str):
            return row[key].strip().upper() in ("PASS", "PASSED", "OK")
    return None


def describe_theory(found: Found, root: Path) -> RunView:
    """checks.json: the share of checks passed (target: all) and a row per check."""
    data = read_json_safe(found.path)
    rows, scalars = json_rows(data)
    view = RunView(
        found,
        rel_name(found.path, root),
        "variational-inference checks",
        "done",
        "checked",
        config=data,
        config_name=found.path.name,
    )
    verdicts = [p for p in (_passed(r) for r in rows) if p is not None]
    if verdicts:
        share = sum(verdicts) / len(verdicts)
        view.metrics.append(
            MetricRow(
                "checks passed",
                share,
                f"{sum(verdicts)}/{len(verdicts)}",
                A.THEORY_ALL_PASS,
                A.THEORY_REFS,
            )
        )
    if rows:
        view.tables.append(rows_table("checks", rows))
    elif data is not None and not scalars:
        view.notes.append("checks.json holds no list of rows; shown below as JSON")
    view.facts += [(k, cell(v)) for k, v in scalars.items()]
    view.commands.append(
        commands.theory_check(data if isinstance(data, dict) else {}, str(found.path))
    )
    view.facts += stamped("written", found.path)
    return view
