"""Training mechanics: steps change weights, resume is exact, Ctrl-C and NaN are handled."""

from __future__ import annotations

import json
import math
import os
import re
import signal
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from cilab.core.checkpoint import load_checkpoint
from cilab.core.errors import CilabError, TrainingDiverged
from cilab.core.loop import print_record
from cilab.gen.train import GenTrainConfig, GenTrainer, train


def cfg_for(tiny_mnist: Path, out: Path, **kw: object) -> GenTrainConfig:
    base = dict(
        data_dir=str(tiny_mnist), out=str(out), epochs=2, batch_size=64, val_size=128, device="cpu"
    )
    return GenTrainConfig(**{**base, **kw})


def weights(path: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(path)["model"]


def assert_same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_train_step_changes_weights_and_eval_does_not(tiny_mnist: Path, tmp_path: Path) -> None:
    trainer = GenTrainer(cfg_for(tiny_mnist, tmp_path / "r"))
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    trainer.train_step(torch.arange(64))
    after = trainer.model.state_dict()
    assert all(not torch.equal(before[k], after[k]) for k in before)
    from cilab.gen.evaluate import evaluate_loss

    frozen = {k: v.clone() for k, v in after.items()}
    evaluate_loss(trainer.model, trainer.data.val_x, seed=0)
    assert_same_weights(frozen, trainer.model.state_dict())
    assert trainer.model.training  # evaluation restores the mode


@pytest.mark.parametrize("binarize", ["none", "dynamic"])
def test_resume_equals_uninterrupted_run(tiny_mnist: Path, tmp_path: Path, binarize: str) -> None:
    full = train(cfg_for(tiny_mnist, tmp_path / "full", binarize=binarize))
    assert full.status == "finished" and full.epoch == 2 and full.global_step == 16
    part = train(cfg_for(tiny_mnist, tmp_path / "part", binarize=binarize, max_steps=5))
    assert part.status == "max_steps" and part.global_step == 5
    rest = train(
        cfg_for(tiny_mnist, tmp_path / "part", binarize=binarize), resume=True, typed={"epochs"}
    )
    assert rest.global_step == 16
    assert_same_weights(weights(tmp_path / "full/last.pt"), weights(tmp_path / "part/last.pt"))
    assert_same_weights(weights(tmp_path / "full/best.pt"), weights(tmp_path / "part/best.pt"))
    lines = [json.loads(s) for s in (tmp_path / "part/metrics.jsonl").read_text().splitlines()]
    full_lines = [json.loads(s) for s in (tmp_path / "full/metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in lines] == [1, 2]
    for a, b in zip(lines, full_lines, strict=True):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-9)
        assert a["val_loss"] == pytest.approx(b["val_loss"], rel=1e-9)


def test_ctrl_c_saves_and_resume_continues_exactly(tiny_mnist: Path, tmp_path: Path) -> None:
    cfg = cfg_for(tiny_mnist, tmp_path / "int")
    trainer = GenTrainer(cfg)

    def press_ctrl_c(t: GenTrainer) -> None:
        if t.global_step == 11:  # in the second epoch
            os.kill(os.getpid(), signal.SIGINT)

    result = trainer.fit(on_step=press_ctrl_c)
    assert result.status == "interrupted" and result.global_step == 11
    state = load_checkpoint(tmp_path / "int/last.pt")
    assert (state["epoch"], state["step_in_epoch"], state["global_step"]) == (1, 3, 11)
    train(cfg, resume=True)
    train(cfg_for(tiny_mnist, tmp_path / "ref"))
    assert_same_weights(weights(tmp_path / "ref/last.pt"), weights(tmp_path / "int/last.pt"))


def test_nan_loss_stops_with_clear_error_and_keeps_last_good(
    tiny_mnist: Path, tmp_path: Path
) -> None:
    cfg = cfg_for(tiny_mnist, tmp_path / "nan", epochs=3)
    trainer = GenTrainer(cfg)
    original = trainer.model.loss

    def poisoned(x, target, noise=None):  # healthy for one epoch, then NaN
        out = original(x, target, noise)
        if trainer.epoch >= 1:
            out.loss = out.loss * float("nan")
        return out

    trainer.model.loss = poisoned  # type: ignore[method-assign]
    with pytest.raises(TrainingDiverged, match=r"loss became nan at epoch 2, step 9"):
        trainer.fit()
    good = load_checkpoint(tmp_path / "nan/last.pt")
    assert good["epoch"] == 1 and good["global_step"] == 8
    assert all(torch.isfinite(v).all() for v in good["model"].values())


def test_existing_run_needs_resume_and_resume_refuses_model_changes(
    tiny_mnist: Path, tmp_path: Path
) -> None:
    cfg = cfg_for(tiny_mnist, tmp_path / "r", max_steps=2)
    train(cfg)
    with pytest.raises(CilabError, match="already holds a run; pass --resume"):
        train(cfg)
    with pytest.raises(CilabError, match="cannot change latent_dim"):
        train(replace(cfg, latent_dim=5), resume=True, typed={"latent_dim"})
    with pytest.raises(CilabError, match="nothing to resume"):
        train(cfg_for(tiny_mnist, tmp_path / "empty"), resume=True)


def test_same_seed_same_numbers(tiny_mnist: Path, tmp_path: Path) -> None:
    a = train(cfg_for(tiny_mnist, tmp_path / "a", epochs=1, model="vae"))
    b = train(cfg_for(tiny_mnist, tmp_path / "b", epochs=1, model="vae"))
    c = train(cfg_for(tiny_mnist, tmp_path / "c", epochs=1, model="vae", seed=1))
    assert a.best_metric == b.best_metric != c.best_metric
    assert_same_weights(weights(tmp_path / "a/last.pt"), weights(tmp_path / "b/last.pt"))


def test_checkpoint_refuses_arbitrary_pickles(tmp_path: Path) -> None:
    import pickle

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    bad = tmp_path / "evil.pt"
    bad.write_bytes(pickle.dumps({"model": Evil()}, protocol=2))
    with pytest.raises(CilabError, match=r"evil\.pt: not a readable cilab checkpoint"):
        load_checkpoint(bad)
    (tmp_path / "trunc.pt").write_bytes(b"PK\x03\x04garbage")
    with pytest.raises(CilabError, match=r"trunc\.pt"):
        load_checkpoint(tmp_path / "trunc.pt")


def test_cosine_schedule_follows_the_global_step(tiny_mnist: Path, tmp_path: Path) -> None:
    trainer = GenTrainer(cfg_for(tiny_mnist, tmp_path / "cos", lr_schedule="cosine", lr=1e-2))
    seen = []
    trainer.fit(on_step=lambda t: seen.append(t.optimizer.param_groups[0]["lr"]))
    assert len(seen) == 16
    assert seen[0] == pytest.approx(1e-2)  # step 0
    assert seen[8] == pytest.approx(0.5e-2)  # half way
    assert seen[-1] == pytest.approx(0.5e-2 * (1 + math.cos(math.pi * 15 / 16)))


def test_training_in_a_log_prints_progress_lines(
    tiny_mnist: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """Under nohup or a batch job stderr is no terminal: tqdm stays off and plain lines say how
    far each epoch is (here one after every step)."""
    monkeypatch.setattr("sys.stderr.isatty", lambda: False, raising=False)
    monkeypatch.setenv("CILAB_PROGRESS_EVERY", "1e-9")
    train(cfg_for(tiny_mnist, tmp_path / "r", epochs=2, log_every=1))
    out, err = capsys.readouterr()
    lines = [ln for ln in err.splitlines() if ln.startswith("epoch 1/2: ")]
    assert [ln.split(" step ")[0] for ln in lines] == [f"epoch 1/2: {i}/8" for i in range(1, 9)]
    assert "step/s" in lines[0] and "left; loss=" in lines[0]
    # The epoch lines (stdout) say how long the remaining epochs take at this pace.
    ends = [ln for ln in out.splitlines() if ln.startswith(("epoch 1:", "epoch 2:"))]
    assert len(ends) == 2 and re.search(r" \(1 epoch left, ~\d\d:\d\d\)$", ends[0])
    assert "left" not in ends[1]


def test_epoch_line_counts_the_epochs_left_to_max_steps(
    tiny_mnist: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """`--max-steps 12` of a 5-epoch run (8 steps an epoch) stops in epoch 2: after epoch 1 one
    epoch is left, not four."""
    train(cfg_for(tiny_mnist, tmp_path / "r", epochs=5, max_steps=12))
    ends = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("epoch 1:")]
    assert len(ends) == 1 and re.search(r" \(1 epoch left, ~\d\d:\d\d\)$", ends[0])


def test_epoch_line_ends_with_the_time_the_remaining_epochs_take(
    capsys: pytest.CaptureFixture,
) -> None:
    print_record({"epoch": 2, "loss": 1.5, "time_s": 90.0}, epochs_left=3)
    print_record({"epoch": 5, "loss": 1.25, "time_s": 1500.0}, epochs_left=45)
    print_record({"epoch": 50, "loss": 1.0, "time_s": 90.0}, epochs_left=0)
    assert capsys.readouterr().out.splitlines() == [
        "epoch 2: loss=1.5 time_s=90 (3 epochs left, ~04:30)",
        "epoch 5: loss=1.25 time_s=1500 (45 epochs left, ~18:45:00)",
        "epoch 50: loss=1 time_s=90",
    ]
