"""`labeler prelabel` under torchrun: the images shared across processes, one writer.

Under `torchrun --nproc-per-node N labeler prelabel PROJECT_DIR` every process builds the
model on its own device (process group: workers/distributed.py; NCCL on CUDA, gloo on the
CPU). Rank 0 alone opens the project: it lists the images this model version has not seen
yet, as one process does (so a stopped run resumes), and sends the work to the others (the
ProjectModel and the images, with absolute paths). The other ranks never open the SQLite
store; they read only the image files (and a checkpoint), so the project folder must be on
storage every node can read.

Image i goes to rank i mod N. After each model batch every rank hands rank 0 what it has
ready (per image: its suggestions, or why it could not be read; gather_object) and all learn
whether anyone still has work (all_reduce), so a rank with a shorter share keeps taking part
until the longest is done. Rank 0 writes each image's suggestions in one transaction, as one
process does: a stopped or failed run leaves whole images, and the same command goes on.

An untrained model (--untrained) starts from random weights: rank 0 sends its own to the
others, so every rank runs the same model.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from itertools import chain
from typing import Iterator, Sequence

from ..core.entities import ImageRecord
from .distributed import Dist
from .protocol import Failed, Suggested, WorkerConfig
from .suggest import ProjectModel, Suggester


@dataclass(frozen=True)
class Work:
    project: ProjectModel
    images: tuple[ImageRecord, ...]  # every rank's, in order; paths absolute
    untrained: bool  # rank 0's model has no trained weights: its random ones are sent


def send_work(dist: Dist, suggester: Suggester | None, images: Sequence[ImageRecord] = ()) -> None:
    """Rank 0: send the work (images with absolute paths) to the other ranks, then, for an
    untrained model, its weights. `suggester` None: rank 0 stopped before it had any work
    (it reports why); the others then stop too, quietly."""
    if suggester is None:
        dist.broadcast(None)
        return
    store = suggester.store
    assert store is not None
    absolute = tuple(replace(im, path=str(store.image_path(im))) for im in images)
    work = Work(suggester.project, absolute, suggester.loaded.source == "none")
    dist.broadcast(work)
    if work.untrained:
        _share_weights(suggester)


def receive_work(dist: Dist, config: WorkerConfig) -> tuple[Suggester, Work] | None:
    """A rank other than 0: the work from rank 0 and a Suggester for it (no store); None
    when rank 0 stopped before sending any."""
    work = dist.broadcast(None)
    if work is None:
        return None
    suggester = Suggester(None, config, work.project)
    if work.untrained:
        _share_weights(suggester)
    return suggester, work


def _share_weights(suggester: Suggester) -> None:
    """Rank 0's model weights into every rank's model (in place, on its device)."""
    import torch
    import torch.distributed as td

    with torch.no_grad():
        for tensor in suggester.predictor.model.state_dict().values():
            if tensor.is_contiguous():
                td.broadcast(tensor, src=0)
            else:  # channels_last weights: the collectives want contiguous tensors
                dense = tensor.contiguous()
                td.broadcast(dense, src=0)
                tensor.copy_(dense)


def sharded_run(dist: Dist, suggester: Suggester, images: Sequence[ImageRecord]) -> Iterator[Suggested | Failed]:
    """Every rank, with the same list of images: suggest for its share. Rank 0 writes
    everyone's results and yields one answer per image, as Suggester.run does; the other
    ranks yield nothing."""
    batches = suggester.batches(images[dist.rank::dist.world])
    finished = False
    while True:
        ready = None if finished else next(batches, None)
        if ready is None:
            finished, ready = True, []
        everyone, left = _exchange(dist, ready, finished)
        for item in chain.from_iterable(everyone):
            yield item if isinstance(item, Failed) else suggester.write(*item)
        if not left:
            return


def _exchange(dist: Dist, ready: list, finished: bool) -> tuple[list[list], bool]:
    """Everyone's ready results to rank 0 (the others get []), and whether any rank has
    work left."""
    import torch
    import torch.distributed as td

    everyone: list | None = [None] * dist.world if dist.rank == 0 else None
    td.gather_object(ready, everyone, dst=0)
    left = torch.tensor([0 if finished else 1], device=dist.device)
    td.all_reduce(left)
    return everyone or [], bool(left.item())
