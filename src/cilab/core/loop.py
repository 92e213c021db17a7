"""The epoch loop every cilab model trains with: resume, Ctrl-C, max-steps, logs, checkpoints.

A subclass says what a run is made of (`setup`), what one optimizer step does (`train_step`),
how to validate (`validate`), and which numbers pick `best.pt` (`best_metric`); everything a user
expects of a run directory lives here once:

- `config.json`, the resolved config; `metrics.jsonl`, one record per epoch; TensorBoard in `tb/`.
- `last.pt`: modules, optimizers, position (epoch, step in epoch, global step) and the epoch's
  running sums, written atomically, so `--resume` continues exactly where a run stopped.
- `best.pt`: only the weights (`weights()`) of the epoch with the lowest `best_metric`.
- Ctrl-C stops at a step boundary and saves `last.pt`; a non-finite step value stops the run
  with a clear message and leaves the last good `last.pt` in place.

Batches are global index tensors from `cilab.gen.data.epoch_batches`-style samplers; under torchrun
each rank takes `idx[rank::world_size]` (`self.mine`), and every random draw comes from
`step_generator()`, a stream derived from (seed, global step), so a resumed or multi-process run
draws the numbers an uninterrupted single-process run draws.
"""

from __future__ import annotations

import math
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from cilab.core.checkpoint import load_checkpoint, save_checkpoint
from cilab.core.device import resolve_device
from cilab.core.distributed import DistEnv, all_reduce_sum, init_distributed, shutdown_distributed
from cilab.core.errors import CilabError, TrainingDiverged
from cilab.core.interrupt import StopFlag, graceful_interrupt
from cilab.core.progress import format_interval, progress_bar
from cilab.core.runlog import RunLog, save_config
from cilab.core.seed import STREAM_PERM, STREAM_STEP, derived_generator, seed_everything

Status = Literal["finished", "max_steps", "interrupted"]
# Settings that may differ when a run is resumed; all others must match the saved config.
RESUMABLE_OVERRIDES = frozenset({"epochs", "max_steps", "device", "log_every"})


@dataclass
class TrainResult:
    """How `EpochTrainer.fit` ended: where the run lives, whether it finished, how far it got."""

    run_dir: Path
    status: Status
    epoch: int  # completed epochs
    global_step: int
    best_metric: float


def resume_config(cfg: Any, saved: dict[str, Any], typed: set[str]) -> Any:
    """The saved config, updated by the flags typed now; changing the model itself is refused."""
    changed = sorted(k for k in typed - RESUMABLE_OVERRIDES if saved.get(k) != getattr(cfg, k))
    if changed:
        raise CilabError(
            f"cannot change {', '.join(changed)} when resuming; "
            f"may change: {', '.join(sorted(RESUMABLE_OVERRIDES))}"
        )
    merged = {**saved, **{k: getattr(cfg, k) for k in typed}}
    # --max-steps is where this invocation stops, not a property of the run: not inherited.
    merged["max_steps"] = cfg.max_steps if "max_steps" in typed else None
    return type(cfg)(**merged)


class EpochTrainer(ABC):
    """Set up from a config (or the run's last.pt with `resume=True`), then `fit()`.

    The config must have: out, epochs, max_steps, batch_size, seed, device, log_every.
    """

    #: Per-image quantities `train_step` returns, averaged over each epoch as train_<key>.
    sum_keys: tuple[str, ...] = ("loss",)

    def __init__(self, cfg: Any, resume: bool = False, typed: set[str] | None = None) -> None:
        self.env: DistEnv = init_distributed(cfg.device)
        self.run_dir = Path(cfg.out)
        state = self._load_resume_state(resume)
        if state is not None:
            cfg = resume_config(cfg, state["config"], typed or set())
        self.cfg = cfg
        self.device = resolve_device(cfg.device, self.env.local_rank)
        if cfg.batch_size % self.env.world_size:
            raise CilabError(
                f"batch-size {cfg.batch_size} is not divisible by {self.env.world_size} processes"
            )
        self.mine = slice(self.env.rank, None, self.env.world_size)
        seed_everything(cfg.seed)
        self.n_train = self.setup()
        self.steps_per_epoch = self.n_train // cfg.batch_size
        if self.steps_per_epoch == 0:
            raise CilabError(
                f"batch-size {cfg.batch_size} exceeds the {self.n_train} training images"
            )
        self.epoch, self.step_in_epoch, self.global_step = 0, 0, 0
        self.best_metric = math.inf
        self.sums = torch.zeros(1 + len(self.sum_keys), dtype=torch.float64)  # images, keys...
        if state is not None:
            self._restore(state)

    # -- what a subclass provides ------------------------------------------------------------
    @abstractmethod
    def setup(self) -> int:
        """Load data, build modules and optimizers; return the number of training images."""

    @abstractmethod
    def train_step(self, idx: torch.Tensor) -> dict[str, float]:
        """One step on the global batch `idx` (use `self.mine` to slice); per-image means."""

    @abstractmethod
    def modules(self) -> dict[str, nn.Module | torch.optim.Optimizer]:
        """Everything with a state_dict that `last.pt` must hold (unwrapped from DDP)."""

    @abstractmethod
    def weights(self) -> dict[str, nn.Module]:
        """The modules `best.pt` holds."""

    def validate(self) -> dict[str, float]:
        """Validation metrics at the end of an epoch (keys get a val_ prefix)."""
        return {}

    def best_metric_of(self, record: dict[str, Any]) -> float | None:
        """The record's number that `best.pt` minimizes; None writes no best.pt."""
        return record.get("val_loss", record.get("train_loss"))

    def on_epoch_end(self, record: dict[str, Any]) -> None:
        """Main-process hook after each epoch's record is logged (e.g. sample grids)."""
        return None

    @property
    def total_steps(self) -> int:
        """Optimizer steps of the whole run (`--epochs`), the length of a decay schedule."""
        return self.cfg.epochs * self.steps_per_epoch

    def lr_at(self, step: int) -> float | None:
        """The learning rate of global step `step`; None keeps the optimizer's own (constant).

        A function of the step rather than a scheduler object, so resume needs no extra state.
        """
        return None

    def optimizer_step(self, optimizer: torch.optim.Optimizer, loss: torch.Tensor) -> None:
        """Set this step's learning rate, then zero_grad, backward and step."""
        lr = self.lr_at(self.global_step)
        if lr is not None:
            set_lr(optimizer, lr)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    def train_mode(self) -> None:
        for m in self.weights().values():
            m.train()

    def batches(self, start: int) -> Iterator[torch.Tensor]:
        """Global index batches of this epoch from batch `start` on (seeded permutation)."""
        return epoch_batches(
            self.n_train, self.cfg.batch_size, self.cfg.seed, self.epoch, self.device, start
        )

    def step_generator(self) -> torch.Generator:
        """The random stream of the current step, the same on every rank and after resume."""
        return derived_generator(self.cfg.seed, STREAM_STEP, self.global_step, device=self.device)

    def ddp(self, module: nn.Module) -> nn.Module:
        """Wrap for data-parallel training when running under torchrun."""
        if not self.env.enabled:
            return module
        ids = [self.device.index] if self.device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(module, device_ids=ids)

    # -- checkpoints -------------------------------------------------------------------------
    def _load_resume_state(self, resume: bool) -> dict[str, Any] | None:
        last = self.run_dir / "last.pt"
        if resume:
            if not last.exists():
                raise CilabError(f"{last}: nothing to resume (no checkpoint); drop --resume")
            return load_checkpoint(last)
        if last.exists():
            raise CilabError(
                f"{self.run_dir} already holds a run; "
                "pass --resume to continue it or choose another --out"
            )
        return None

    def _restore(self, state: dict[str, Any]) -> None:
        for name, module in self.modules().items():
            module.load_state_dict(state[name])
        self.epoch, self.step_in_epoch = state["epoch"], state["step_in_epoch"]
        self.global_step, self.best_metric = state["global_step"], state["best_metric"]
        self.sums = state["sums"].clone()

    def _state(self) -> dict[str, Any]:
        return {
            **{name: m.state_dict() for name, m in self.modules().items()},
            "epoch": self.epoch,
            "step_in_epoch": self.step_in_epoch,
            "global_step": self.global_step,
            "best_metric": self.best_metric,
            "sums": self.sums.clone(),
            "config": asdict(self.cfg),
        }

    def save_last(self) -> None:
        if self.env.is_main:
            save_checkpoint(self._state(), self.run_dir / "last.pt")

    def save_weights(self, name: str, extra: dict[str, Any] | None = None) -> None:
        """Write weights-only `name` (e.g. best.pt, epoch_015.pt) with the config."""
        if self.env.is_main:
            state = {k: m.state_dict() for k, m in self.weights().items()}
            meta = {"epoch": self.epoch, "config": asdict(self.cfg), **(extra or {})}
            save_checkpoint({**state, **meta}, self.run_dir / name)

    # -- the loop ----------------------------------------------------------------------------
    def fit(self, on_step: Callable[[EpochTrainer], None] | None = None) -> TrainResult:
        """Train until `epochs` or `max_steps`; Ctrl-C saves `last.pt` and returns cleanly."""
        log = RunLog(self.run_dir, enabled=self.env.is_main)
        if self.env.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            save_config(self.run_dir, asdict(self.cfg))
            log.truncate_after(self.epoch)
        status: Status = "finished"
        try:
            with graceful_interrupt() as stop:
                while self.epoch < self.cfg.epochs and status == "finished":
                    status = self._run_epoch(log, stop, on_step)
        finally:
            log.close()
        self.save_last()
        shutdown_distributed(self.env)
        return TrainResult(self.run_dir, status, self.epoch, self.global_step, self.best_metric)

    def _step(self, idx: torch.Tensor) -> dict[str, float]:
        values = self.train_step(idx)
        bad = {k: v for k, v in values.items() if not math.isfinite(v)}
        if bad:
            k, v = next(iter(bad.items()))
            raise TrainingDiverged(
                f"{k} became {v} at epoch {self.epoch + 1}, step {self.global_step + 1}; "
                f"the last good weights are in {self.run_dir / 'last.pt'} "
                "(lower --lr or change --seed)"
            )
        n = len(idx) // self.env.world_size
        self.sums += torch.tensor([n] + [values[k] * n for k in self.sum_keys], dtype=torch.float64)
        self.global_step += 1
        self.step_in_epoch += 1
        return values

    def _run_epoch(self, log: RunLog, stop: StopFlag, on_step: Any) -> Status:
        start_time, start_step = time.perf_counter(), self.step_in_epoch
        bar = progress_bar(
            self.batches(start_step), total=self.steps_per_epoch, initial=start_step,
            unit="step", desc=f"epoch {self.epoch + 1}/{self.cfg.epochs}", leave=False,
            show=self.env.is_main,
        )  # fmt: skip
        self.train_mode()
        for idx in bar:
            if self._reached_max_steps():
                bar.close()
                return "max_steps"
            values = self._step(idx)
            if self.global_step % self.cfg.log_every == 0:
                for k, v in values.items():
                    log.scalar(f"step/train_{k}", v, self.global_step)
                running = (self.sums[1:] / max(self.sums[0].item(), 1)).tolist()
                bar.set_postfix(dict(zip(self.sum_keys, running, strict=True)))
            if on_step is not None:
                on_step(self)
            if stop.requested:
                bar.close()
                return "interrupted"
        bar.close()
        self._end_epoch(log, start_time, start_step)
        return "max_steps" if self._reached_max_steps() else "finished"

    def epochs_left(self) -> int:
        """Whole epochs still to run: to `--epochs`, or fewer when `--max-steps` stops sooner
        (a part epoch counts as one), so the epoch line's time estimate ends where the run does."""
        left = self.cfg.epochs - self.epoch
        if self.cfg.max_steps is not None:
            steps = max(self.cfg.max_steps - self.global_step, 0)
            left = min(left, -(-steps // self.steps_per_epoch))
        return left

    def _reached_max_steps(self) -> bool:
        return self.cfg.max_steps is not None and self.global_step >= self.cfg.max_steps

    def _end_epoch(self, log: RunLog, start_time: float, start_step: int) -> None:
        sums = all_reduce_sum(self.sums.clone().to(self.device), self.env).cpu()
        n = sums[0].item()
        record: dict[str, Any] = {"epoch": self.epoch + 1, "step": self.global_step}
        record.update({f"train_{k}": sums[i + 1].item() / n for i, k in enumerate(self.sum_keys)})
        record.update({f"val_{k}": v for k, v in self.validate().items()})
        elapsed = time.perf_counter() - start_time
        record["time_s"] = elapsed
        record["img_per_s"] = (self.step_in_epoch - start_step) * self.cfg.batch_size / elapsed
        metric = self.best_metric_of(record)
        self.epoch += 1
        self.step_in_epoch = 0
        self.sums.zero_()
        if self.env.is_main:
            log.epoch(record, self.global_step)
            print_record(record, self.epochs_left())
            if metric is not None and metric < self.best_metric:
                self.best_metric = metric
                self.save_weights("best.pt", {"best_metric": metric})
            self.on_epoch_end(record)
        self.save_last()


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """Run the optimizer's next step at `lr` (every parameter group)."""
    for group in optimizer.param_groups:
        group["lr"] = lr


def cosine_lr(base: float, step: int, total: int, warmup: int = 0) -> float:
    """Linear warm-up over `warmup` steps, then cosine decay from `base` to 0 at `total`."""
    if step < warmup:
        return base * (step + 1) / warmup
    progress = min((step - warmup) / max(total - warmup, 1), 1.0)
    return 0.5 * base * (1 + math.cos(math.pi * progress))


def epoch_batches(
    n: int, batch_size: int, seed: int, epoch: int, device: torch.device, start: int = 0
) -> Iterator[torch.Tensor]:
    """Index tensors of the global batches of one epoch (drop_last), from batch `start` on.

    A batch is then one gather from a device-resident tensor: no per-sample Python, no workers.
    """
    perm = torch.randperm(n, generator=derived_generator(seed, STREAM_PERM, epoch)).to(device)
    for i in range(start, n // batch_size):
        yield perm[i * batch_size : (i + 1) * batch_size]


def print_record(record: dict[str, Any], epochs_left: int = 0) -> None:
    """One line per epoch: its float metrics and, while epochs remain, the time they will
    take at this epoch's pace (`time_s`), for the user who checks a long run's log."""
    shown = [f"{k}={v:.4g}" for k, v in record.items() if isinstance(v, float)]
    line = f"epoch {record['epoch']}: " + " ".join(shown)
    if epochs_left > 0 and "time_s" in record:
        eta = format_interval(epochs_left * record["time_s"])
        line += f" ({epochs_left} epoch{'s' if epochs_left > 1 else ''} left, ~{eta})"
    print(line, flush=True)
