"""From image files to suggestions in the project: decode -> model -> polygons -> store.

One `Suggester` owns a model and a project connection. The inference worker process and
`labeler prelabel` both drive it, so the GUI and the headless command do exactly the same
thing. Decoding (OpenCV, which releases the GIL) runs ahead on a thread pool, and turning
masks into polygons for batch k overlaps the model's work on batch k + 1.

With `refine_masks`, each detection's box is also put to the assist model (SAM 2.1) and its
mask kept where it is the better one (ml.promptable.refine_detections).

Big JPEGs are decoded at 1/2, 1/4 or 1/8 size (libjpeg's DCT scaling) when the model would
shrink them that much anyway; the polygons are scaled back to full-image pixels. On a CUDA
device, JPEGs are decoded there instead, a batch at a time and at full size (ml.decode; the
model's transform then shrinks them on the GPU); the files it cannot take, and every file on
other devices, go the OpenCV way.

A Suggester without a store (under torchrun, the ranks other than 0: workers/
distributed_prelabel.py) gets what it needs from the project as a `ProjectModel` and never
writes: `batches` hands its results back instead.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from itertools import islice
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import cv2
import numpy as np

from ..core.entities import ImageRecord, Polygons
from ..core.errors import OptionError
from ..imaging import ImageReadError, decode_image
from ..imaging import reduced
from ..store import ProjectError, ProjectStore
from ..store.proposals import Suggestion, class_map, current_model_version, store_suggestions
from .protocol import Failed, Prompted, PromptBox, Ready, Suggested, WorkerConfig

MODELS_DIR = "models"


def project_checkpoint(project_dir: Path, version: int) -> Path | None:
    """The checkpoint the correction loop wrote for this model version, if any."""
    path = Path(project_dir) / MODELS_DIR / f"v{version}.pt"
    return path if version > 0 and path.is_file() else None


def project_model_name(project_dir: Path, version: int, requested: str | None) -> str:
    """The model to build: the one asked for, else the one the project's checkpoint holds
    (so a project fine-tuned on the light model keeps it), else the registry's default."""
    from ..ml.registry import DEFAULT_MODEL
    from ..ml.weights import read_checkpoint

    if requested:
        return requested
    checkpoint = project_checkpoint(project_dir, version)
    return read_checkpoint(checkpoint)["model_name"] if checkpoint is not None else DEFAULT_MODEL


def scale_polygons(shape: Polygons, factor: float) -> Polygons:
    if factor == 1:
        return shape
    return Polygons(tuple(tuple(tuple((x * factor, y * factor) for x, y in ring) for ring in part)
                          for part in shape.parts))


@dataclass(frozen=True)
class ProjectModel:
    """What a Suggester takes from the project: its folder (for the checkpoint), the model
    version, the classes and the COCO class map. Picklable, so that under torchrun rank 0
    reads it from the store and sends it to ranks that never open the store."""

    project_dir: str
    version: int
    category_ids: tuple[int, ...]  # model label i -> category_ids[i - 1]
    category_names: tuple[str, ...]
    class_map: dict[str, str] = field(default_factory=dict)

    @classmethod
    def read(cls, store: ProjectStore) -> "ProjectModel":
        categories = store.categories()
        if not categories:
            raise ProjectError(f"{store.project_dir}: the project has no classes; add one first")
        return cls(str(store.project_dir), current_model_version(store), tuple(c.id for c in categories),
                   tuple(c.name for c in categories), class_map(store))


class _Share:
    """One image's share of a batch decoded in one job (on the GPU), read like a Future."""

    def __init__(self, job: Future, index: int) -> None:
        self.job, self.index = job, index

    def result(self) -> Any:
        value = self.job.result()[self.index]
        if isinstance(value, BaseException):
            raise value
        return value


class Suggester:
    def __init__(self, store: ProjectStore | None, config: WorkerConfig, project: ProjectModel | None = None
                 ) -> None:
        """With a store, everything comes from it and `run` writes there. Without one (give
        `project`), image paths must be absolute and only `batches` may be used."""
        from ..ml.device import describe_device, pick_device  # torch is imported only here
        from ..ml.predict import Predictor
        from ..ml.weights import load_model

        self.store = store
        self.config = config
        self.project = project if project is not None else ProjectModel.read(store)  # type: ignore[arg-type]
        self.category_ids = list(self.project.category_ids)
        self.version = self.project.version
        weights = Path(config.weights) if config.weights else None
        self.loaded = load_model(  # no model named: the checkpoint's, else the registry's default
            config.model_name, self.project.category_names,
            checkpoint=project_checkpoint(Path(self.project.project_dir), self.version), weights=weights,
            class_map=config.class_map or self.project.class_map or None, allow_download=config.allow_download,
            **config.model_overrides)
        self.device = pick_device(config.device)
        self.device_text = describe_device(self.device)
        self.predictor = Predictor(self.loaded.model, self.device, score_threshold=config.score_threshold,
                                   mask_threshold=config.mask_threshold, amp=config.amp,
                                   channels_last=config.channels_last)
        self.min_size = int(min(self.loaded.model.transform.min_size))
        self.refiner = None  # the assist model that redraws the masks from their boxes, if asked for
        self.refined = 0  # masks it redrew so far
        if config.refine_masks:
            from ..ml.promptable import PromptModel, WeightsMissing

            try:
                self.refiner = PromptModel.load(config.refine_masks, device=self.device,
                                                allow_download=config.allow_download)
            except WeightsMissing as exc:
                raise OptionError(f"--refine-masks: {exc}") from None
        # JPEGs decoded on the GPU (nvJPEG) go to the model as they are; the SAM refiner
        # wants CPU pixels, so with it everything takes the OpenCV path
        self.decode_on_device = (config.decode_on_device and self.device.type == "cuda"
                                 and self.refiner is None)
        self._pool = ThreadPoolExecutor(2, thread_name_prefix="suggest")
        self._last_image: tuple[int, np.ndarray, int] | None = None  # for repeated box prompts

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def ready(self) -> Ready:
        from ..ml.weights import coco_cache_path

        cache = coco_cache_path(self.loaded.spec)
        return Ready(self.device_text, self.loaded.model_name, self.version, self.loaded.source,
                     self.loaded.message, str(cache) if cache else "", self.loaded.spec.coco_url or "")

    # --- pixels ------------------------------------------------------------------------

    def reduction(self, image: ImageRecord) -> int:
        """How much smaller the image can be decoded without the model seeing less: its
        shorter side stays at least the model's min_size (JPEGs only: others gain nothing)."""
        if not reduced.is_jpeg_name(image.path):
            return 1
        return reduced.reduction(image.width, image.height, min_side=self.min_size)

    def image_path(self, image: ImageRecord) -> Path:
        return self.store.image_path(image) if self.store is not None else Path(image.path)

    def load_pixels(self, image: ImageRecord) -> tuple[np.ndarray, int]:
        """RGB pixels for the model and the factor back to full-image pixels."""
        reduce = self.reduction(image)
        bgr = decode_image(self.image_path(image), reduce)
        if reduce == 1 and bgr.shape[:2] != (image.height, image.width):
            raise ImageReadError(f"{self.image_path(image)}: the file is now {bgr.shape[1]}x"
                                 f"{bgr.shape[0]}, the project says {image.width}x{image.height}")
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), reduce

    def _start_decoding(self, batch: list[ImageRecord]) -> list:
        """One Future-like per image: (pixels, factor) or the ImageReadError."""
        if not self.decode_on_device:
            return [self._pool.submit(self.load_pixels, im) for im in batch]
        job = self._pool.submit(self._decode_on_device, batch)
        return [_Share(job, i) for i in range(len(batch))]

    def _decode_on_device(self, batch: list[ImageRecord]) -> list:
        """The batch's JPEGs decoded together on the GPU (C x H x W uint8 tensors there, at
        full size: factor 1), every other file as load_pixels decodes it."""
        from ..ml.decode import decode_jpegs

        decoded = decode_jpegs([self.image_path(im) for im in batch], self.device,
                               sizes=[(im.width, im.height) for im in batch])
        out: list = []
        for image, tensor in zip(batch, decoded):
            if tensor is not None:
                out.append((tensor, 1))
                continue
            try:
                out.append(self.load_pixels(image))
            except (ImageReadError, MemoryError) as exc:
                out.append(exc)
        return out

    # --- suggestions ---------------------------------------------------------------------

    def run(self, images: Iterable[ImageRecord], should_stop: Callable[[], bool] = lambda: False
            ) -> Iterator[Suggested | Failed]:
        """Suggest for `images`, writing each image's suggestions to the store; yields one
        answer per image, in order, as soon as it is written."""
        for item in self._pipeline(images, should_stop):
            if isinstance(item, Failed):
                yield item
            elif item is not None:
                yield from self._write(*item)

    def batches(self, images: Iterable[ImageRecord]) -> Iterator[list[tuple[int, list[Suggestion]] | Failed]]:
        """The same work as `run`, written nowhere: after each model batch, what became ready
        meanwhile (the images that could not be read, (image id, suggestions) of the batch
        before, whose polygons were traced while the model ran); the last batch's at the end."""
        ready: list = []
        for item in self._pipeline(images, lambda: False):
            if item is None:
                yield ready
                ready = []
            elif isinstance(item, Failed):
                ready.append(item)
            else:
                ok, job = item
                ready += [(image.id, found) for image, found in zip(ok, job.result())]
        if ready:
            yield ready

    def _pipeline(self, images: Iterable[ImageRecord], should_stop: Callable[[], bool]) -> Iterator:
        """Decode ahead -> model -> polygons on the pool. Yields a Failed for each image that
        cannot be read, (images, Future of their suggestions) for each batch the model ran
        on, and None after each model batch (the point where ranks exchange results)."""
        size = max(1, self.config.batch_size)
        source = iter(images)  # pulled lazily: the caller may filter out images done meanwhile
        decoding: deque[tuple[list[ImageRecord], list[Future]]] = deque()
        converting: tuple[list[ImageRecord], Future] | None = None
        while True:
            while len(decoding) < 2:  # decode up to two batches ahead
                batch = list(islice(source, size))
                if not batch:
                    break
                decoding.append((batch, self._start_decoding(batch)))
            if not decoding:
                break
            batch, futures = decoding.popleft()
            ok, pixels, factors = [], [], []
            for image, future in zip(batch, futures):
                try:
                    array, factor = future.result()
                except ImageReadError as exc:
                    yield Failed(image.id, str(exc))
                    continue
                except MemoryError:
                    yield Failed(image.id, f"{image.path}: not enough memory to decode this image")
                    continue
                ok.append(image)
                pixels.append(array)
                factors.append(factor)
            detections = self.predictor.predict(pixels) if pixels else []
            if self.refiner is not None:
                detections = [self._refine(array, found) for array, found in zip(pixels, detections)]
            job = self._pool.submit(self._suggestions, detections, factors)
            if converting is not None:
                yield converting
            converting = (ok, job)
            yield None
            if should_stop():
                break
        if converting is not None:
            yield converting

    def _refine(self, pixels: np.ndarray, detections: list) -> list:
        from ..ml.promptable import refine_detections

        detections, refined = refine_detections(self.refiner, pixels, detections)
        self.refined += refined
        return detections

    def _suggestions(self, detections, factors) -> list[list[Suggestion]]:
        out = []
        for per_image, factor in zip(detections, factors):
            found = []
            for det in per_image:
                shape = det.to_polygons()
                if shape is not None:
                    found.append(Suggestion(self.category_ids[det.label - 1],
                                            scale_polygons(shape, factor), det.score))
            out.append(found)
        return out

    def _write(self, images: list[ImageRecord], job: Future) -> Iterator[Suggested | Failed]:
        for image, suggestions in zip(images, job.result()):
            yield self.write(image.id, suggestions)

    def write(self, image_id: int, suggestions: list[Suggestion]) -> Suggested:
        """Store one image's suggestions (one transaction) and say what was written."""
        outcome = store_suggestions(self.store, image_id, self.version, suggestions)  # type: ignore[arg-type]
        return Suggested(image_id, self.version, len(outcome.added), outcome.skipped)

    # --- box prompt ----------------------------------------------------------------------

    def prompt(self, request: PromptBox) -> Prompted | Failed:
        image = self.store.get_image(request.image_id)
        if self._last_image is None or self._last_image[0] != image.id:
            pixels, factor = self.load_pixels(image)
            self._last_image = (image.id, pixels, factor)
        _, pixels, factor = self._last_image
        box = tuple(v / factor for v in request.box)
        label = self.category_ids.index(request.category_id) + 1 if request.category_id in self.category_ids else None
        det = self.predictor.predict_box(pixels, box, label)
        shape = det.to_polygons() if det is not None else None
        if det is None or shape is None:
            return Prompted(request.request_id, image.id, self.version, None, 0.0, None)
        shape = scale_polygons(shape, factor)
        return Prompted(request.request_id, image.id, self.version, self.category_ids[det.label - 1],
                        float(det.score), shape.to_json())
