"""From image files to suggestions in the project: decode -> model -> polygons -> store.

One `Suggester` owns a model and a project connection. The inference worker process and
`labeler prelabel` both drive it, so the GUI and the headless command do exactly the same
thing. Decoding (OpenCV, which releases the GIL) runs ahead on a thread pool, and turning
masks into polygons for batch k overlaps the model's work on batch k + 1.

With `refine_masks`, each detection's box is also put to the assist model (SAM 2.1) and its
mask kept where it is the better one (ml.promptable.refine_detections).

Big JPEGs are decoded at 1/2, 1/4 or 1/8 size (libjpeg's DCT scaling) when the model would
shrink them that much anyway; the polygons are scaled back to full-image pixels.
"""

from __future__ import annotations

from collections import deque
from itertools import islice
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Iterable, Iterator

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


class Suggester:
    def __init__(self, store: ProjectStore, config: WorkerConfig) -> None:
        from ..ml.device import describe_device, pick_device  # torch is imported only here
        from ..ml.predict import Predictor
        from ..ml.weights import load_model

        self.store = store
        self.config = config
        categories = store.categories()
        if not categories:
            raise ProjectError(f"{store.project_dir}: the project has no classes; add one first")
        self.category_ids = [c.id for c in categories]  # model label i -> category_ids[i - 1]
        self.version = current_model_version(store)
        weights = Path(config.weights) if config.weights else None
        self.loaded = load_model(  # no model named: the checkpoint's, else the registry's default
            config.model_name, [c.name for c in categories],
            checkpoint=project_checkpoint(store.project_dir, self.version), weights=weights,
            class_map=config.class_map or class_map(store) or None, allow_download=config.allow_download,
            **config.model_overrides)
        self.device = pick_device(config.device)
        self.device_text = describe_device(self.device)
        self.predictor = Predictor(self.loaded.model, self.device, score_threshold=config.score_threshold,
                                   mask_threshold=config.mask_threshold)
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

    def load_pixels(self, image: ImageRecord) -> tuple[np.ndarray, int]:
        """RGB pixels for the model and the factor back to full-image pixels."""
        reduce = self.reduction(image)
        bgr = decode_image(self.store.image_path(image), reduce)
        if reduce == 1 and bgr.shape[:2] != (image.height, image.width):
            raise ImageReadError(f"{self.store.image_path(image)}: the file is now {bgr.shape[1]}x"
                                 f"{bgr.shape[0]}, the project says {image.width}x{image.height}")
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), reduce

    # --- suggestions ---------------------------------------------------------------------

    def run(self, images: Iterable[ImageRecord], should_stop: Callable[[], bool] = lambda: False
            ) -> Iterator[Suggested | Failed]:
        """Suggest for `images`, writing each image's suggestions to the store; yields one
        answer per image, in order, as soon as it is written."""
        size = max(1, self.config.batch_size)
        source = iter(images)  # pulled lazily: the caller may filter out images done meanwhile
        decoding: deque[tuple[list[ImageRecord], list[Future]]] = deque()
        converting: tuple[list[ImageRecord], Future] | None = None
        while True:
            while len(decoding) < 2:  # decode up to two batches ahead
                batch = list(islice(source, size))
                if not batch:
                    break
                decoding.append((batch, [self._pool.submit(self.load_pixels, im) for im in batch]))
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
                yield from self._write(*converting)
            converting = (ok, job)
            if should_stop():
                break
        if converting is not None:
            yield from self._write(*converting)

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
            outcome = store_suggestions(self.store, image.id, self.version, suggestions)
            yield Suggested(image.id, self.version, len(outcome.added), outcome.skipped)

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
