"""Data-parallel runs under `torchrun --nproc_per_node=N` (gloo on CPU, nccl on CUDA).

A single process is the world of size 1, so the training code has one path: every rank takes
its slice of the global batch, DistributedDataParallel averages gradients, and metrics are summed
with `all_reduce_sum`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from cilab.core.device import resolve_device


@dataclass(frozen=True)
class DistEnv:
    """Where this process stands in a torchrun job; the defaults are a world of one process."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    owner: bool = False  # this call created the process group, so its shutdown destroys it

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def backend_for(device: str) -> str:
    """The process-group backend for a run's `--device auto|cpu|cuda` setting.

    Follows the device the run will use (`resolve_device`, so `auto` on a GPU machine means
    CUDA and NCCL). A CUDA run still sums some CPU tensors (epoch metrics), which NCCL cannot
    carry, hence gloo for CPU tensors beside NCCL for CUDA ones.
    """
    on_cuda = resolve_device(device).type == "cuda"
    return "cpu:gloo,cuda:nccl" if on_cuda else "gloo"


def init_distributed(device: str) -> DistEnv:
    """Join the process group when launched by torchrun (WORLD_SIZE > 1), else a world of one.

    `device` is the run's `--device` setting. On CUDA each rank first takes the GPU of its local
    rank: NCCL needs one GPU per rank, and without it every rank would share GPU 0.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistEnv()
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    backend = backend_for(device)
    if "nccl" in backend:
        torch.cuda.set_device(local_rank)
    owner = not dist.is_initialized()
    if owner:
        dist.init_process_group(backend=backend)
    return DistEnv(dist.get_rank(), dist.get_world_size(), local_rank, owner)


def shutdown_distributed(env: DistEnv) -> None:
    """Leave the process group if `env`'s call created it. A caller that trains several models
    in one process (the road folds) holds the group open around them: torchrun's rendezvous
    store does not take a second group after the first is destroyed (the ranks hang).

    All ranks meet at a barrier first: rank 0 still writes last.pt when the others finish, and
    a gloo group torn down on one rank while its peer is busy can abort that rank's process
    ("terminate called without an active exception", seen once in CI on the AE test)."""
    if env.owner and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def all_reduce_sum(t: torch.Tensor, env: DistEnv) -> torch.Tensor:
    """Sum a tensor over ranks (a no-op for one process)."""
    if env.enabled:
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


def barrier(env: DistEnv) -> None:
    """Wait for every rank (a no-op for one process), e.g. before reading what rank 0 wrote."""
    if env.enabled:
        dist.barrier()
