"""`cilab report`'s discovery: which folders are runs of which kind, and what is left out."""

from __future__ import annotations

from pathlib import Path

from cilab.report.discover import classify_dir, discover

from .conftest import dump, png


def kinds(root: Path) -> dict[str, str]:
    return {str(f.path.relative_to(root)): f.kind for f in discover(root).runs}


def test_every_kind_is_found_once(fake_runs: Path) -> None:
    assert kinds(fake_runs) == {
        "gen/ae-2d": "gen-ae",
        "gen/dcgan": "gen-dcgan",
        "gen/real-mnist": "gen-real",
        "gen/vae-2d": "gen-vae",
        "roads/logreg": "roads-cv",
        "roads/pred": "roads-predict",
        "cosmo/sim": "cosmo-sim",
        "cosmo/validate.json": "cosmo-validate",
        "cosmo/cls": "cosmo-classify",
        "cosmo/reg": "cosmo-regress",
        "theory/checks.json": "theory",
    }


def test_parts_demo_and_loose_figures(fake_runs: Path) -> None:
    found = discover(fake_runs)
    parts = {str(f.path.relative_to(fake_runs)): f.part for f in found.runs}
    assert parts["gen/vae-2d"] == "gen" and parts["cosmo/validate.json"] == "cosmo"
    assert parts["theory/checks.json"] == "theory" and parts["roads/pred"] == "roads"
    assert found.demo is not None and found.demo["scale"] == "quick"
    # the compare figure belongs to the gen part; the validate figure is its run's, not loose;
    # fold dirs, tb/ and a folder of 20 data images are not searched or not figures
    loose = {str(p.relative_to(fake_runs)): part for p, part in found.figures}
    assert loose == {"gen/ae_vs_vae.png": "gen"}


def test_a_run_in_progress_is_found_by_its_config(tmp_path: Path) -> None:
    run = tmp_path / "unet-full"
    dump(run / "config.json", {"model": "unet", "folds": 5})
    dump(run / "fold_0" / "config.json", {"model": "unet", "fold": 0})
    assert kinds(tmp_path) == {"unet-full": "roads-cv"}
    cosmo = tmp_path / "cls"
    dump(cosmo / "config.json", {"families": "hist10", "importance_repeats": 5, "cnn": True})
    assert classify_dir(cosmo, {"config.json"}) == "cosmo-classify"


def test_unrelated_json_and_the_report_folder_are_ignored(tmp_path: Path) -> None:
    dump(tmp_path / "x" / "config.json", {"model": "something-else"})
    dump(tmp_path / "x" / "metrics.json", {"accuracy": 1})
    dump(tmp_path / "fig.json", {"sim": 1})  # not validate-sim's numbers
    png(tmp_path / "fig.png")
    dump(tmp_path / "report" / "checks.json", {"checks": []})
    found = discover(tmp_path, exclude=tmp_path / "report")
    assert found.runs == []
    assert [p.name for p, _ in found.figures] == ["fig.png"]


def test_broken_json_is_not_a_run(tmp_path: Path) -> None:
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "config.json").write_text('{"model": "va')  # being written
    assert not discover(tmp_path)
