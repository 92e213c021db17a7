"""`cilab report RUNS_DIR --out DIR`: find the runs, copy their figures, write index.html.

The report is built in a temporary folder beside DIR and renamed into place, so DIR is always
either the previous complete report or the new one. Figures are copied (never linked), so the
folder can be zipped and opened anywhere from the file system.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cilab.core.errors import CilabError
from cilab.report.demo_json import demo_summary, recorded_commands
from cilab.report.describe import describe
from cilab.report.discover import LOOKED_FOR, Discovery, Found, discover
from cilab.report.render import GENERATOR, Page, render
from cilab.report.runfiles import rel_name
from cilab.report.view import Fig, RunView


@dataclass
class ReportResult:
    """What `build_report` wrote (index.html, run views, image counts), for the CLI."""

    index: Path
    views: list[RunView]
    images: int
    missing_images: int

    def summary(self) -> str:
        counts = {
            s: sum(r.status == s for v in self.views for r in v.metrics)
            for s in ("met", "not-met", "pending")
        }
        return (
            f"wrote {self.index}: {len(self.views)} run(s), {self.images} image(s); targets: "
            f"{counts['met']} met, {counts['not-met']} not met, {counts['pending']} provisional"
        )


def build_report(runs_dir: str | Path, out: str | Path) -> ReportResult:
    """Find the runs under `runs_dir`, describe each, write `out/index.html` and `out/img/`.

    Raises `CilabError` when `runs_dir` is missing or holds no run, or when `out` is
    something other than an empty folder or an earlier report.
    """
    runs_dir, out = Path(runs_dir), Path(out)
    if not runs_dir.exists():
        raise CilabError(f"{runs_dir}: no such folder")
    if not runs_dir.is_dir():
        raise CilabError(f"{runs_dir}: not a folder; give the folder that holds the runs")
    _check_out(out, runs_dir)
    found = discover(runs_dir, exclude=out)
    if not found:
        raise CilabError(f"{runs_dir}: no cilab runs found (looked for {LOOKED_FOR})")
    views = [_describe(f, runs_dir) for f in found.runs]
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        images = _Images(tmp / "img")
        for v in views:
            for fig in v.figures + v.curves:
                images.add(fig, v.name)
        loose = [(Fig(rel_name(p, runs_dir), p), part) for p, part in found.figures]
        for fig, _ in loose:
            images.add(fig, "figure")
        page = Page(str(runs_dir.resolve()), _now(), machine_info(), views, loose)
        _add_demo(page, found)
        html = render(page)
        (tmp / "index.html").write_text(html, encoding="utf-8")
        os.chmod(tmp, 0o777 & ~_umask())
        _replace_dir(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return ReportResult(out / "index.html", views, images.count, images.missing)


def _describe(found: Found, root: Path) -> RunView:
    try:
        return describe(found, root)
    except Exception as err:  # one unreadable run must not cost the whole report
        view = RunView(found, rel_name(found.path, root), found.kind, "partial", "unreadable")
        view.notes.append(f"could not be read: {type(err).__name__}: {err}")
        return view


def _check_out(out: Path, runs_dir: Path) -> None:
    if out.exists() and not out.is_dir():
        raise CilabError(f"{out}: exists and is not a folder; choose another --out")
    if out.is_dir() and any(out.iterdir()) and not _is_report(out):
        raise CilabError(
            f"{out}: exists and is not a cilab report; choose another --out or empty it"
        )
    if out.resolve() == runs_dir.resolve():
        raise CilabError(f"{out}: the report cannot replace RUNS_DIR; choose another --out")


def _is_report(folder: Path) -> bool:
    index = folder / "index.html"
    try:
        return index.is_file() and f'content="{GENERATOR}"' in index.read_text(errors="replace")
    except OSError:
        return False


def _replace_dir(new: Path, out: Path) -> None:
    """Rename `new` onto `out`; a previous report is moved aside first, then deleted."""
    if out.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".old", dir=out.parent))
        os.rename(out, old / "report")
        os.rename(new, out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.rename(new, out)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _now() -> str:
    return datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z").strip()


class _Images:
    """Copies (or draws) each figure into img/ under a unique, readable name."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.folder.mkdir(parents=True)
        self.names: set[str] = set()
        self.count = 0
        self.missing = 0

    def _name(self, run: str, what: str, suffix: str) -> str:
        base = re.sub(r"[^A-Za-z0-9_.-]+", "-", f"{run}--{what}").strip("-.")[:120] or "image"
        name, k = f"{base}{suffix}", 1
        while name in self.names:
            k += 1
            name = f"{base}-{k}{suffix}"
        self.names.add(name)
        return name

    def add(self, fig: Fig, run: str) -> None:
        try:
            if fig.records is not None:
                name = self._name(run, re.sub(r"\W+", "-", fig.caption.split("(")[0]), ".png")
                _draw_curves(fig, self.folder / name)
            elif fig.path is not None and fig.thumb:
                name = self._name(run, fig.path.stem, ".png")
                _thumbnail(fig.path, self.folder / name, fig.thumb)
            elif fig.path is not None:
                name = self._name(run, fig.path.stem, fig.path.suffix.lower())
                shutil.copyfile(fig.path, self.folder / name)
            else:
                raise OSError("no image")
        except (OSError, ValueError, CilabError):
            self.missing += 1
            return
        fig.src = f"img/{name}"
        self.count += 1


def _draw_curves(fig: Fig, dest: Path) -> None:
    from cilab.gen.plots import plot_curves

    assert fig.records is not None
    plot_curves(fig.records, dest, keys=fig.keys)


def _thumbnail(src: Path, dest: Path, side: int) -> None:
    from PIL import Image

    with Image.open(src) as im:
        im.thumbnail((side, side))
        im.save(dest, format="PNG")


def _add_demo(page: Page, found: Discovery) -> None:
    """demo.json's part table, and its recorded commands in place of the rebuilt ones."""
    if found.demo is None:
        return
    page.demo_facts, page.demo = demo_summary(found.demo)
    recorded = recorded_commands(found.demo, found.root)
    for v in page.views:
        keys = [v.found.path, v.found.path.with_suffix(".png")]
        commands = [c for k in keys for c in recorded.get(k.resolve(), [])]
        if commands:
            v.commands, v.commands_source = commands, "as recorded by `cilab demo` (demo.json)"
    for fig, _ in page.loose:
        if fig.path is not None and recorded.get(fig.path.resolve()):
            fig.caption += " · made by: " + "; ".join(recorded[fig.path.resolve()])


def machine_info() -> list[tuple[str, str]]:
    """Where and with what the report was built (the runs may come from elsewhere)."""
    import torch

    from cilab import __version__

    info = [
        ("host", platform.node() or "?"),
        ("OS", platform.platform(terse=True)),
        ("CPU", _cpu_model()),
        ("cores", str(os.cpu_count() or "?")),
        ("memory", _memory()),
        ("GPU", torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"),
        ("Python", sys.version.split()[0]),
        ("PyTorch", torch.__version__),
        ("cilab", __version__),
    ]
    return [(k, v) for k, v in info if v]


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory() -> str:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return f"{int(line.split()[1]) / 2**20:.1f} GiB"
    except (OSError, ValueError):
        pass
    return ""
