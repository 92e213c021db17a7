"""`cilab report`: the HTML, its copied images, metrics against targets, escaping, errors."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from cilab.cli.main import main
from cilab.core.errors import CilabError
from cilab.report.build import build_report

from .conftest import EVIL, make_runs


class Page(HTMLParser):
    """The image sources, links, tables and metric rows of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.images: list[str] = []
        self.links: list[str] = []
        self.tables: list[str] = []
        self.rows: list[list[str]] = []  # the metric tables' rows, as cell texts
        self._in_metrics = 0
        self._row: list[str] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "img":
            self.images.append(a["src"] or "")
        elif tag == "a":
            self.links.append(a.get("href") or "")
        elif tag == "table":
            self.tables.append(a.get("class") or "")
            self._in_metrics += a.get("class") == "metrics"
        elif tag == "tr" and self._in_metrics:
            self._row = []
        elif tag == "td" and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self._cell is not None and self._row is not None:
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            if self._row:
                self.rows.append(self._row)
            self._row = None
        elif tag == "table" and self._in_metrics:
            self._in_metrics -= 1

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def parse(report: Path) -> Page:
    page = Page()
    page.feed((report / "index.html").read_text())
    return page


def row(page: Page, label: str) -> list[str]:
    matches = [r for r in page.rows if r[0].startswith(label)]
    assert matches, f"no metric row {label!r} in {[r[0] for r in page.rows]}"
    return matches[0]


def test_every_image_is_copied_into_img_and_every_copy_is_shown(built: Path) -> None:
    page = parse(built)
    assert len(page.images) >= 20
    for src in page.images:
        assert src.startswith("img/") and ".." not in src, src
        assert (built / src).is_file(), src
    assert sorted(p.name for p in (built / "img").iterdir()) == sorted(
        Path(s).name for s in page.images
    )
    assert any("critic_extremes" in s for s in page.images)  # a rejection-sampled DCGAN's
    assert any("jacobian_extremes" in s for s in page.images)  # a truncated one's
    # nothing outside the report folder, no network
    html = (built / "index.html").read_text()
    assert "http://" not in html and "https://" not in html and "file:" not in html
    assert all(link.startswith(("#", "img/")) for link in page.links)


def test_metric_tables_hold_values_targets_and_verdicts(built: Path) -> None:
    page = parse(built)
    assert page.tables.count("metrics") >= 9
    elbo = row(page, "test −ELBO")
    assert elbo[1] == "138.50" and elbo[2].startswith("≤ 140") and "✓ met" in elbo[3]
    assert "157.5 after 10 epochs" in elbo[4]
    assert row(page, "importance-weighted NLL")[1] == "135.12 ± 1.5000"
    assert "✓ met" in row(page, "classifier Inception Score")[3]  # the DCGAN's 9.6125 >= 9.5
    fd = row(page, "Fréchet distance")
    assert fd[1] == "7.5000" and fd[2].startswith("≤ 6") and "✗ not met" in fd[3]
    acc = row(page, "patch accuracy")
    assert acc[1] == "0.9125 ± 0.0100" and "✗ not met" in acc[3] and "0.92775" in acc[4]
    assert "✓ met" in row(page, "road-patch F1")[3]
    assert "✓ met" in row(page, "checks passed")[3] and row(page, "checks passed")[1] == "2/2"
    auroc = row(page, "AUROC, best feature model")
    assert auroc[1] == "0.9987 ± 0.0010" and "✓ met" in auroc[3]
    assert row(page, "CV MAE, best model")[1] == "0.0864 ± 0.0010"
    assert "✗ not met" in row(page, "share of images on a pedestal")[3]
    # an unevaluated run shows validation numbers, marked provisional where a target exists
    assert row(page, "validation reconstruction")[1] == "179.00"


def test_config_command_facts_and_tables(built: Path, fake_runs: Path) -> None:
    html = (built / "index.html").read_text()
    # the config's non-default options as flags, --out last; values shell-quoted (and escaped)
    assert "cilab gen train --model vae --data-dir &#x27;&lt;script" in html
    assert "--epochs 3 --out runs/vae-2d</pre>" in html
    assert "cilab gen eval runs/vae-2d --iw-samples 100 --iw-images 1000" in html
    # where demo.json recorded the commands, those are shown instead of rebuilt ones
    assert "cilab gen train --model dcgan --epochs 2 --out D</pre>" in html
    assert "cilab gen eval D --samples 500</pre>" in html
    assert "--out runs/d</pre>" not in html
    assert "cilab theory check --seed 0 --samples 2000 --out X</pre>" in html
    assert "made by: cilab gen compare A V --out P" in html
    runs = fake_runs  # paths of run folders are shown as RUNS_DIR was given
    assert (
        f"cilab roads predict runs/r --images data/test --out {runs}/roads/pred --tta flips" in html
    )
    assert f"validate-sim runs/cosmo/sim --out {runs}/cosmo/validate.png --n-images 3" in html
    assert "cilab roads train --model logreg --folds 2 --epochs 1 --out runs/r</pre>" in html
    assert "cilab cosmo classify --families hist10 --folds 3 --workers 2 --out runs/cls" in html
    assert "<summary>config.json</summary>" in html and "<summary>checks.json</summary>" in html
    assert "kl_closed_form" in html and "iwae_bound" in html  # the theory rows, as a table
    assert "Demo (demo.json)" in html and "2 min 00 s" in html  # demo.json's parts
    assert "missing-data" in html and "no roads data in &lt;data&gt;" in html
    assert "done (reused)" in html and "3 of 3" in html
    assert "training time (sum of epochs)" in html and "PyTorch" in html
    for part in ("part-theory", "part-gen", "part-roads", "part-cosmo"):
        assert f'id="{part}"' in html and f'href="#{part}"' in html


def test_curves_are_drawn_when_the_run_has_no_curves_png(built: Path) -> None:
    drawn = [p for p in (built / "img").iterdir() if p.name.startswith("gen-ae-2d--")]
    assert [p.name for p in drawn] == ["gen-ae-2d--training-curves.png"]
    assert drawn[0].stat().st_size > 1000
    # the VAE's own curves.png is up to date: copied, not redrawn
    assert (built / "img" / "gen-vae-2d--curves.png").is_file()


def test_text_from_runs_is_escaped(built: Path) -> None:
    html = (built / "index.html").read_text()
    assert EVIL not in html
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in html
    assert html.count("<script>") == 1  # the report's own image counter


def test_a_malicious_run_name_is_escaped(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    (runs / 'a"><img src=x onerror=alert(1)>').mkdir(parents=True)
    bad = runs / 'a"><img src=x onerror=alert(1)>'
    (bad / "config.json").write_text('{"model": "ae", "epochs": 1}')
    build_report(runs, tmp_path / "out")
    html = (tmp_path / "out" / "index.html").read_text()
    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html


def test_rebuilding_replaces_the_report_atomically(tmp_path: Path) -> None:
    runs = make_runs(tmp_path / "runs")
    out = runs / "report"  # inside RUNS_DIR: not searched
    build_report(runs, out)
    (out / "img" / "stale.png").write_bytes(b"x")
    result = build_report(runs, out)
    assert not (out / "img" / "stale.png").exists()
    assert len(result.views) == 11 and result.missing_images == 0
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".report.")]


def test_cli_writes_the_report_and_errors_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runs = make_runs(tmp_path / "runs")
    assert main(["report", str(runs), "--out", str(tmp_path / "r")]) == 0
    out = capsys.readouterr().out
    assert re.search(r"wrote .*index\.html: 11 run\(s\), \d+ image\(s\); targets: \d+ met", out)

    assert main(["report", str(tmp_path / "nope"), "--out", str(tmp_path / "r2")]) == 2
    err = capsys.readouterr().err
    assert err.strip() == f"cilab: error: {tmp_path / 'nope'}: no such folder"

    (tmp_path / "empty").mkdir()
    assert main(["report", str(tmp_path / "empty"), "--out", str(tmp_path / "r3")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "no cilab runs found (looked for config.json" in err
    assert not (tmp_path / "r3").exists()


def test_an_unrelated_out_folder_is_not_replaced(tmp_path: Path) -> None:
    runs = make_runs(tmp_path / "runs")
    keep = tmp_path / "mine"
    keep.mkdir()
    (keep / "notes.txt").write_text("precious")
    with pytest.raises(CilabError, match="not a cilab report"):
        build_report(runs, keep)
    assert (keep / "notes.txt").read_text() == "precious"


def test_binarized_vae_is_judged_by_its_iw_nll(tmp_path: Path) -> None:
    from cilab.report.describe import describe
    from cilab.report.discover import discover

    from .conftest import dump

    run = tmp_path / "vae32"
    dump(run / "config.json", {"model": "vae", "latent_dim": 32, "binarize": "dynamic"})
    dump(
        run / "metrics.json",
        {
            "test_neg_elbo": 88.0,
            "test_recon": 60.0,
            "test_kl": 28.0,
            "test_nll_iw": 83.5,
            "iw_samples": 5000,
            "iw_images": 10000,
        },
    )
    (view,) = [describe(f, tmp_path) for f in discover(tmp_path).runs]
    rows = {r.label: r for r in view.metrics}
    nll = rows["importance-weighted NLL (nats)"]
    assert nll.status == "met" and nll.target is not None and nll.target.describe() == "≤ 84"
    assert "86.76" in nll.refs[0].text and "anchors use K = 5000" not in nll.note
    assert rows["test −ELBO (nats)"].status == "none"  # the ≤ 140 target is the 2-D VAE's


def test_samples_drawn_otherwise_say_so_next_to_their_scores(tmp_path: Path) -> None:
    from cilab.report.describe import describe
    from cilab.report.discover import discover

    from .conftest import dump

    run = tmp_path / "gan"
    dump(run / "config.json", {"model": "dcgan", "epochs": 50})
    plain = {
        "classifier_is": 8.55,
        "fd": 50.3,
        "fd_real_floor": 2.24,
        "samples": 10000,
        "sample_temperature": 1.0,
        "rejection_quantile": None,
        "acceptance_rate": None,
        "jacobian_quantile": None,
        "jacobian_kept": None,
        "sample_checkpoint": "best",
    }
    for extra, said, flags in (
        ({}, "", ""),
        ({"sample_temperature": 0.5}, "; temperature 0.5", " --temperature 0.5"),
        ({"sample_weights": "slow"}, "; the slow weight average", " --weights slow"),
        ({"sample_weights": "raw", "sample_temperature": 0.5},
         "; no weight average; temperature 0.5", " --temperature 0.5 --weights raw"),
        ({"rejection_quantile": 0.95, "acceptance_rate": 0.7929},
         "; discriminator rejection sampling, Q = 0.95, 79% accepted",
         " --rejection-quantile 0.95"),
        ({"jacobian_quantile": 0.8, "jacobian_kept": 0.8012, "rejection_quantile": 0.95,
          "sample_checkpoint": "last", "jacobian_norm": "absolute"},
         "; Jacobian truncation (absolute norm), Q = 0.8, 80% kept; discriminator rejection "
         "sampling, Q = 0.95",
         " --checkpoint last --jacobian-quantile 0.8 --rejection-quantile 0.95 --jacobian-norm "
         "absolute"),
    ):  # fmt: skip
        dump(run / "metrics.json", {**plain, **extra})
        (view,) = [describe(f, tmp_path) for f in discover(tmp_path).runs]
        rows = {r.label: r for r in view.metrics}
        assert rows["classifier Inception Score"].note == "10000 samples" + said
        fd_note = rows["Fréchet distance (classifier features)"].note
        assert fd_note == "target 3 × fd_real_floor (2.2400)" + said
        assert view.commands[-1] == "cilab gen eval gan" + flags  # reproduces the draw
    # A run with a categorical code says so in its title, and shows how pure its codes are.
    dump(run / "config.json", {"model": "dcgan", "epochs": 50, "info_codes": 10})
    dump(run / "metrics.json", {**plain, "code_purity": 0.9312, "code_classes": 9})
    (view,) = [describe(f, tmp_path) for f in discover(tmp_path).runs]
    assert view.title == "DCGAN, 100-D noise + 10-way code (InfoGAN)"
    (row,) = [r for r in view.metrics if r.label.startswith("code purity")]
    assert row.value == 0.9312 and row.note == "majorities cover 9 classes"
    # ... and so does one with continuous codes, showing the least-kept code's share.
    dump(run / "config.json", {"model": "dcgan", "info_codes": 10, "info_continuous": 2})
    dump(run / "metrics.json", {**plain, "continuous_class_kept": [0.97, 0.9412]})
    (view,) = [describe(f, tmp_path) for f in discover(tmp_path).runs]
    assert view.title == "DCGAN, 100-D noise + 10-way code + 2 continuous (InfoGAN)"
    (row,) = [r for r in view.metrics if r.label.startswith("digit kept")]
    assert row.value == 0.9412 and row.note == "per code 0.970 / 0.941"
    # A conditional run: the label in its title, and how often the judge agrees with it.
    dump(run / "config.json", {"model": "dcgan", "conditional": True})
    dump(run / "metrics.json", {**plain, "code_purity": 0.99, "label_accuracy": 0.9875})
    (view,) = [describe(f, tmp_path) for f in discover(tmp_path).runs]
    assert view.title == "DCGAN, 100-D noise + class label (projection D)"
    (row,) = [r for r in view.metrics if r.label.startswith("label accuracy")]
    assert row.value == 0.9875


def test_rows_table_puts_the_name_first_and_free_text_last() -> None:
    from cilab.report.view import rows_table

    # keys as write_json stores them: sorted, so "details" would come first
    rows = [{"details": "mc=1.7", "name": "kl_mc", "passed": True, "value": 0.1}]
    table = rows_table("checks", rows)
    assert table.header == ["name", "passed", "value", "details"]
    assert table.rows[0] == ["kl_mc", "PASS", "0.1", "mc=1.7"]
