"""The report in a real browser: headless Chromium loads it from the file system, every image
loads, the metric tables are there; a screenshot is kept in the test's output folder.

Chromium is a test requirement (CI installs Debian's `chromium`, see .ci/run): without it this
test fails with the install command instead of skipping.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from cilab.report.build import build_report

from .conftest import make_runs

INSTALL = "apt-get install -y chromium  (Debian/Ubuntu; or put `chromium` on PATH)"
TIMEOUT_S = 60


def chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    pytest.fail(f"headless Chromium is needed for the report's browser test: {INSTALL}")


def run_chromium(browser: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [
        browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
        "--no-first-run", "--disable-extensions", f"--user-data-dir={profile}", *args,
    ]  # fmt: skip
    return subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT_S, check=False)


def test_report_renders_in_headless_chromium(tmp_path: Path) -> None:
    browser = chromium()
    runs = make_runs(tmp_path / "runs")
    report = tmp_path / "report"
    build_report(runs, report)
    # a zipped-and-moved report still works: nothing in it points back into RUNS_DIR
    shutil.rmtree(runs)
    url = (report / "index.html").resolve().as_uri()

    dom = run_chromium(browser, tmp_path / "profile", "--dump-dom", url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    loaded = re.search(r'data-images-ok="(\d+)/(\d+)"', dom.stdout)
    assert loaded, "the page's load handler did not run: " + dom.stdout[:500]
    ok, total = map(int, loaded.groups())
    assert total >= 20 and ok == total, f"only {ok} of {total} images loaded"
    assert dom.stdout.count('<table class="metrics">') >= 9
    for title in ("Variational theory", "Generative models on MNIST", "Road segmentation",
                  "Cosmology", "✓ met", "✗ not met"):  # fmt: skip
        assert title in dom.stdout

    shot = tmp_path / "report.png"
    result = run_chromium(
        browser, tmp_path / "profile", f"--screenshot={shot}", "--window-size=1280,2000", url
    )
    assert result.returncode == 0 and shot.is_file(), result.stderr[-2000:]
    assert shot.stat().st_size > 20_000  # a rendered page, not a blank one
    print(f"report screenshot: {shot}")
