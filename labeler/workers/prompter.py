"""The assist model's worker: a spawned process that owns the promptable model (SAM 2.1).

It encodes images ahead (`Embed`: the image on screen first, then the next ones in the
browser's order), keeps their embeddings in memory (a few) and on disk (embeddings.py,
capped), and answers prompts (`Segment`) from the decoder alone. Prompts are served before
any queued encoding, so a click never waits for an image further down the browser; a
prompt on an image not encoded yet waits for its encoder once (`waited_for_encoder`).

Without weights and no way to fetch them it says `AssistMissing` (which files, where) and
exits: the window keeps its weight-free tools. One bad request is answered with its error
and the loop goes on.
"""

from __future__ import annotations

import os
import time
import traceback
from collections import OrderedDict, deque

import cv2

from .protocol import (
    AssistConfig, AssistDownload, AssistMissing, AssistReady, Embed, Embedded, Failed, Fatal, Segment, Segmented,
    Shutdown, receive_all,
)

ENCODER_SIDE = 1024  # SAM 2.1 resizes every image to 1024 x 1024
IN_MEMORY = 4  # embeddings kept in memory (about 17 MB each)


def main(config: AssistConfig, inbox, outbox) -> None:
    """Process entry point (multiprocessing, spawn)."""
    try:
        import torch

        from ..ml.device import describe_device, pick_device
        from ..ml.promptable import PromptModel, WeightsMissing
        from ..store import ProjectStore

        torch.set_num_threads(config.threads or max(1, (os.cpu_count() or 2) - 1))
        device = pick_device(config.device)
        store = ProjectStore.open(config.project_dir)
        try:
            model = PromptModel.load(config.model, device=device, allow_download=config.allow_download,
                                     tqdm_class=_download_progress(outbox))
        except WeightsMissing as exc:
            outbox.put(AssistMissing(str(exc)))
            return
    except Exception as exc:  # a broken weights folder, an unreadable project...
        outbox.put(Fatal(f"cannot start the assist model: {type(exc).__name__}: {exc}"))
        return
    outbox.put(AssistReady(model.name, describe_device(device),
                           f"{model.name} on {describe_device(device)}: box and clicks answer from its embeddings"))
    Prompter(model, store, config, inbox, outbox).serve()
    store.close()


def _download_progress(outbox):
    """A tqdm class for huggingface_hub that also tells the window how far the download is."""
    from tqdm.auto import tqdm

    class Progress(tqdm):
        def update(self, n=1):
            out = super().update(n)
            if self.total and self.unit == "B":
                outbox.put(AssistDownload(int(self.n), int(self.total)))
            return out

    return Progress


class Prompter:
    def __init__(self, model, store, config: AssistConfig, inbox, outbox) -> None:
        from .embeddings import EmbeddingCache, default_cache_dir

        self.model, self.store = model, store
        self.inbox, self.outbox = inbox, outbox
        self.cache = EmbeddingCache(config.cache_dir or default_cache_dir(), config.cache_bytes)
        self.memory: OrderedDict[int, object] = OrderedDict()  # image id -> Embedding, most recent last
        self.ahead: deque[int] = deque()
        self.prompts: deque[Segment] = deque()

    def serve(self) -> None:
        while True:
            idle = not self.prompts and not self.ahead
            for message in receive_all(self.inbox, block=idle):
                if isinstance(message, Shutdown):
                    return
                if isinstance(message, Segment):
                    self.prompts.append(message)
                elif isinstance(message, Embed):
                    self.ahead = deque(dict.fromkeys(message.image_ids))
            if self.prompts:
                self._answer(self.prompts.popleft())
            elif self.ahead:
                image_id = self.ahead.popleft()
                try:
                    self.embedding(image_id, report=True)
                except Exception as exc:  # one unreadable image: say so, go on with the next
                    self.outbox.put(Failed(image_id, f"assist model: {_plain(exc)}"))

    def _answer(self, request: Segment) -> None:
        waited = request.image_id not in self.memory
        try:
            embedding = self.embedding(request.image_id, report=waited)
            start = time.perf_counter()
            candidates = self.model.segment(embedding, request.box, request.clicks)
            seconds = time.perf_counter() - start
        except Exception as exc:  # noqa: BLE001 - the window shows it, the tool stays usable
            traceback.print_exc()
            self.outbox.put(Segmented(request.request_id, request.image_id, (), _plain(exc)))
            return
        self.outbox.put(Segmented(request.request_id, request.image_id,
                                  tuple((c.mask, c.score) for c in candidates), "", seconds, waited))

    def embedding(self, image_id: int, report: bool = False):
        """The image's embedding: from memory, the disk cache or the encoder."""
        from ..ml.promptable import Embedding

        if image_id in self.memory:
            self.memory.move_to_end(image_id)
            return self.memory[image_id]
        image = self.store.get_image(image_id)
        path = self.store.image_path(image)
        key = None
        try:
            key = _key(self.model.name, path)
        except OSError:
            pass  # the file is gone: decoding says so in one line below
        tensors = self.cache.get(key) if key else None
        start = time.perf_counter()
        if tensors is not None:
            embedding = Embedding.from_tensors(tensors, self.model.device)
        else:
            from ..imaging import decode_image

            reduce = 1
            if path.suffix.lower() in (".jpg", ".jpeg", ".jpe"):  # libjpeg decodes at 1/2, 1/4, 1/8 cheaply
                while reduce < 8 and min(image.width, image.height) / (reduce * 2) >= ENCODER_SIDE:
                    reduce *= 2
            pixels = cv2.cvtColor(decode_image(path, reduce), cv2.COLOR_BGR2RGB)
            embedding = self.model.embed(pixels, (image.height, image.width))
            if key:
                self.cache.put(key, embedding.to_tensors())
        self.memory[image_id] = embedding
        while len(self.memory) > IN_MEMORY:
            self.memory.popitem(last=False)
        if report:
            self.outbox.put(Embedded(image_id, 0.0 if tensors is not None else time.perf_counter() - start,
                                     tensors is not None))
        return embedding


def _key(model: str, path) -> str:
    from .embeddings import cache_key

    return cache_key(model, path)


def _plain(exc: Exception) -> str:
    from ..imaging import ImageReadError

    return str(exc) if isinstance(exc, (ImageReadError, KeyError)) else f"{type(exc).__name__}: {exc}"
