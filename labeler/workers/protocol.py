"""The messages between the app and its worker processes: plain, picklable dataclasses.

The inference worker writes suggestions to the project itself (its own connection; SQLite
WAL lets the window read meanwhile) and tells the app what it wrote. Every answer about
an image carries (image_id, model_version), so the app can drop stale ones.
"""

from __future__ import annotations

import queue
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .lock import Holder


@dataclass(frozen=True)
class WorkerConfig:
    project_dir: str
    model_name: str | None = None  # None: the registry's default
    weights: str | None = None  # a file the user names (--weights / a setting)
    device: str = "auto"  # auto | cpu | cuda | mps
    batch_size: int = 2
    score_threshold: float = 0.2  # suggestions below this are not stored
    mask_threshold: float = 0.5  # mask probability above which a pixel is in the instance
    allow_download: bool = True  # fetch COCO weights into torchvision's cache when online
    class_map: dict[str, str] = field(default_factory=dict)  # project class -> COCO class
    model_overrides: dict = field(default_factory=dict)  # e.g. min_size for tiny test models
    refine_masks: str | None = None  # an assist model (ml.promptable) that redraws each suggestion from its box
    # pre-labeling levers (ml.decode, ml.predict.Predictor); the defaults leave the CPU path as it was
    decode_on_device: bool = False  # CUDA only: JPEGs decoded on the GPU (nvJPEG), a batch at a time; off
    # until a GPU run has measured it (benchmarks/gpu_checks.sh)
    amp: bool | None = None  # autocast (bfloat16) for the model; None: on for CUDA, off elsewhere
    channels_last: bool = False  # NHWC convolutions (tensor cores like them); off by default everywhere


def receive_all(inbox, block: bool) -> list:
    """Every message waiting in a worker's inbox (waiting for the first one if `block`)."""
    messages = []
    try:
        messages.append(inbox.get(block=block))
        while True:
            messages.append(inbox.get_nowait())
    except queue.Empty:
        pass
    return messages


# --- app -> worker ----------------------------------------------------------------------

@dataclass(frozen=True)
class Predict:
    """Suggest for these images. `urgent`: the image on screen, served before anything else
    (and again even if this model version has seen it before)."""

    image_ids: tuple[int, ...]
    urgent: bool = False


@dataclass(frozen=True)
class Prelabel:
    """Suggest for every image this model version has not seen ("unlabeled" or "all")."""

    scope: str = "unlabeled"


@dataclass(frozen=True)
class Cancel:
    """Drop the queued background work (a running batch finishes its current images)."""


@dataclass(frozen=True)
class PromptBox:
    """Segment what is in this box (image pixels, x0 y0 x1 y1)."""

    request_id: int
    image_id: int
    box: tuple[float, float, float, float]
    category_id: int | None = None  # None: the model's best class


@dataclass(frozen=True)
class Shutdown:
    pass


# --- worker -> app ----------------------------------------------------------------------

@dataclass(frozen=True)
class Ready:
    device: str  # in words, e.g. "CUDA: NVIDIA H100 80GB HBM3" or "CPU (2 threads)"
    model_name: str
    model_version: int
    weights_source: str  # checkpoint | file | coco | none
    message: str  # one plain sentence about the weights
    weights_file: str = ""  # where this model's COCO weights are looked for (torch hub cache); "" if none exist
    weights_url: str = ""  # where they are published


@dataclass(frozen=True)
class Suggested:
    image_id: int
    model_version: int
    added: int
    skipped: str | None = None


@dataclass(frozen=True)
class Prompted:
    request_id: int
    image_id: int
    model_version: int
    category_id: int | None  # None: nothing found in the box
    score: float
    shape_json: list | None  # Polygons.to_json()


@dataclass(frozen=True)
class Progress:
    done: int
    total: int
    running: bool  # False: the batch finished or was cancelled


@dataclass(frozen=True)
class Failed:
    """One request failed (an unreadable image, say); the worker goes on."""

    image_id: int | None
    message: str


@dataclass(frozen=True)
class Fatal:
    """The worker cannot go on (no model could be loaded); it exits after this."""

    message: str


@dataclass(frozen=True)
class Died:
    """Made by the client, not the worker: the process ended without saying why."""

    exitcode: int | None
    restarted: bool


@dataclass(frozen=True)
class Reload:
    """Load the project's current model version (a round promoted a new one) and suggest
    again for every image nobody has reviewed yet."""


# --- the trainer --------------------------------------------------------------------------

@dataclass(frozen=True)
class TrainerConfig:
    project_dir: str
    model_name: str | None = None  # None: the model of the current checkpoint, else the default
    weights: str | None = None  # starting weights when the project has no checkpoint yet
    device: str = "auto"
    steps: int | None = 200  # budget per round: optimizer steps (None: seconds only)...
    seconds: float | None = None  # ...and/or seconds (None: steps only), whichever ends first
    batch_size: int = 2
    lr: float | None = None  # None: the engine's default for the optimizer
    holdout: float = 0.2  # share of accepted images kept for scoring, never trained on
    allow_download: bool = True
    class_map: dict[str, str] = field(default_factory=dict)
    model_overrides: dict = field(default_factory=dict)
    engine: dict = field(default_factory=dict)  # other ml.engine.TrainConfig fields
    threads: int | None = None  # CPU threads for torch (None: all but one core)


@dataclass(frozen=True)
class Train:
    """Run `rounds` training rounds, one after the other."""

    rounds: int = 1


@dataclass(frozen=True)
class StopRound:
    """End the running round's training now; it is still scored and may be promoted."""


@dataclass(frozen=True)
class TrainerReady:
    """The trainer holds the project's trainer lock and takes rounds."""

    pid: int


@dataclass(frozen=True)
class Blocked:
    """The trainer cannot start: a live trainer elsewhere holds the project's lock. It exits
    after this; the client starts it again once that trainer has ended."""

    message: str  # one sentence naming the holder: "labeler train (pid 1234, since 14:02) is training this project"
    holder: Holder | None = None  # None: not one that can be watched for its end (unnamed, ended in vain)


@dataclass(frozen=True)
class RoundStarted:
    version: int
    train_images: int
    heldout_images: int
    steps: int | None  # the round's step budget; None: a time budget only
    seconds: float | None = None  # its time budget, if any (a round ends at whichever comes first)


@dataclass(frozen=True)
class TrainProgress:
    version: int
    phase: str  # "training" | "scoring"
    step: int
    total: int | None  # steps (or images to score); None: training to a time budget
    loss: float | None = None
    seconds_left: float | None = None  # training to a time budget: the seconds left

    def steps_text(self) -> str:
        """'step 12/200', or for a time budget 'step 12, 42 s left'."""
        if self.total is not None:
            return f"step {self.step}/{self.total}"
        return f"step {self.step}" + (f", {self.seconds_left:.0f} s left" if self.seconds_left is not None else "")


@dataclass(frozen=True)
class RoundDone:
    version: int | None  # None: no round was started (too few accepted images...)
    status: str  # a core.rounds.RoundStatus: PROMOTED | KEPT_PREVIOUS | FAILED | SKIPPED
    metrics: dict = field(default_factory=dict)
    reason: str = ""  # why it was not promoted, failed or skipped, in one sentence


# --- the assist model (a promptable segmenter, SAM 2.1) --------------------------------------

@dataclass(frozen=True)
class AssistConfig:
    project_dir: str
    model: str | None = None  # a short name, a Hugging Face repository or a folder; None: the default
    device: str = "auto"
    allow_download: bool = True  # fetch the weights into the Hugging Face cache when online
    cache_dir: str | None = None  # embeddings on disk; None: the user's cache folder
    cache_bytes: int = 2 << 30  # the disk cache's cap
    threads: int | None = None  # CPU threads for torch (None: all but one core)


@dataclass(frozen=True)
class Embed:
    """Encode these images ahead, in this order (the image on screen first, then the next ones
    in the browser). Replaces the images still queued from the last Embed."""

    image_ids: tuple[int, ...]


@dataclass(frozen=True)
class Segment:
    """A prompt on one image: a box (image pixels, x0 y0 x1 y1) and/or clicks (x, y, positive).
    Answered by `Segmented` with the same request_id; served before any embedding queued."""

    request_id: int
    image_id: int
    box: tuple[float, float, float, float] | None
    clicks: tuple[tuple[float, float, bool], ...] = ()


@dataclass(frozen=True)
class AssistReady:
    model: str
    device: str  # in words
    message: str


@dataclass(frozen=True)
class AssistMissing:
    """The assist model cannot run here (no weights, no way to fetch them): one sentence
    saying which files to get and where; the worker exits after this and the weight-free
    tools stay."""

    message: str


@dataclass(frozen=True)
class AssistDownload:
    done: int  # bytes
    total: int


@dataclass(frozen=True)
class Embedded:
    image_id: int
    seconds: float  # encoder time; 0 when it came from the cache
    cached: bool


@dataclass(frozen=True)
class Segmented:
    request_id: int
    image_id: int
    candidates: tuple = ()  # (CropMask, score) pairs, best first; () when the request failed
    error: str = ""
    decoder_seconds: float = 0.0
    waited_for_encoder: bool = False  # the image was not embedded yet when the prompt came
