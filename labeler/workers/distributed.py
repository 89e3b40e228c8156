"""Headless training rounds, in one process or across GPUs with torchrun.

`labeler train PROJECT_DIR` runs `train_rounds` in one process. Under
`torchrun --nproc-per-node N labeler train PROJECT_DIR` (or several nodes with
--nnodes/--rdzv-endpoint) every process runs it too: rank 0 owns the project (lock,
snapshot, scoring, checkpoint, promotion) and sends the round's plan to the others; all
ranks train one DistributedDataParallel model, each on its share of the images
(DistributedSampler), so a step sees N x --batch images. The project folder must be on
storage every node can read. NCCL on CUDA, gloo on CPU.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable, Iterator

from ..core.errors import OptionError
from ..store import ProjectStore
from ..store.training import recover_interrupted
from .protocol import RoundDone, TrainerConfig
from .trainer import TrainerLock, run_round


@dataclass
class Dist:
    rank: int
    world: int
    local_rank: int
    device: object  # torch.device

    def wrap(self, model):
        from torch.nn.parallel import DistributedDataParallel

        ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(model, device_ids=ids)

    def sampler(self, dataset, seed: int):
        from torch.utils.data import DistributedSampler

        return DistributedSampler(dataset, num_replicas=self.world, rank=self.rank, shuffle=True, seed=seed)

    def broadcast(self, obj):
        """rank 0's `obj`, on every rank."""
        import torch.distributed as td

        box = [obj]
        td.broadcast_object_list(box, src=0)
        return box[0]

    def close(self) -> None:
        import torch.distributed as td

        if td.is_initialized():
            td.destroy_process_group()


def from_environment(device: str = "auto") -> Dist | None:
    """A process group when started by torchrun with more than one process, else None."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return None
    import torch
    import torch.distributed as td

    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    cuda = device in ("auto", "cuda") and torch.cuda.is_available()
    if device == "cuda" and not cuda:
        raise OptionError("device 'cuda' was asked for, but CUDA is not available")
    if cuda:
        torch.cuda.set_device(local_rank)
        target = torch.device("cuda", local_rank)
    else:
        target = torch.device("cpu")
    td.init_process_group("nccl" if cuda else "gloo")
    return Dist(rank, world, local_rank, target)


def train_rounds(config: TrainerConfig, rounds: int, report: Callable[[object], None] = lambda m: None
                 ) -> Iterator[RoundDone]:
    """Run up to `rounds` rounds; yields each one's outcome (on every rank). Stops early when
    a round cannot start (too few accepted images)."""
    dist = from_environment(config.device)
    lead = dist is None or dist.rank == 0
    lock = TrainerLock(config.project_dir) if lead else None
    store = None
    try:
        if lead:
            lock.acquire()
            store = ProjectStore.open(config.project_dir)
            recover_interrupted(store)
        for _ in range(rounds):
            done = run_round(store, config, report=report, dist=dist)
            yield done
            if done.version is None:  # the round could not start
                return
    finally:
        if store is not None:
            store.close()
        if lock is not None:
            lock.release()
        if dist is not None:
            dist.close()
