"""A tiny simulated cosmology dataset, made once per test session (128-px images)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cilab.cosmo.simulate import SimulateConfig, simulate

_BESIDE = Path(__file__).resolve().parents[3] / "shared" / "data"
_SHARED = os.environ.get("CILAB_DATA") or str(_BESIDE)
REAL_DIR = Path(_SHARED) / "cosmology"
TINY = dict(n_labeled=36, n_scored=48, n_query=12, size=128, seed=3)


@pytest.fixture(autouse=True)
def no_cosmology_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COSMOLOGY_DATA", raising=False)


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """labeled 36 (30 real), scored 48, query 12; read-only by convention: copy before editing."""
    out = tmp_path_factory.mktemp("cosmo") / "data"
    simulate(SimulateConfig(out=str(out), workers=1, **TINY))
    return out


def real_csv(name: str) -> Path:
    path = REAL_DIR / "real_csv" / name
    if not path.is_file():
        pytest.skip(f"real calibration data not present ({path})")
    return path
