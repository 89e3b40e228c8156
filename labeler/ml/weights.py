"""Where a model's weights come from, and labeler's checkpoint files. What a model is and
how it is built is the registry's (a ModelSpec, looked up once per load).

load_model tries, in order: the project's checkpoint, a file the user names, torchvision's
COCO weights (from its cache, or downloaded), and finally nothing at all, and says in one
sentence which it used. Class heads are matched to the project's classes by name, so a
checkpoint survives added or removed classes and COCO weights give a head start to the
classes COCO knows. Every file is read with torch.load(weights_only=True): a weights file
is data, never code. Anything wrong with a file is a WeightsError that names it.
"""

from __future__ import annotations

import os
import pickle
import re
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence
from urllib.parse import urlparse

import torch
from torch import nn
from torchvision.models.detection import MaskRCNN

from ..core.errors import UserError
from ..formats.common import atomic_files
from .registry import (  # noqa: F401  (coco_categories, coco_class_map: part of this module's API)
    DEFAULT_MODEL, ModelSpec, coco_categories, coco_class_map, get_spec, model_config,
)

FORMAT = "labeler-checkpoint-1"

# Head parameters with one row (or 4 for box deltas) per class, background first.
HEAD_ROWS: dict[str, int] = {
    f"roi_heads.{layer}.{kind}": rows for kind in ("weight", "bias") for layer, rows in (
        ("box_predictor.cls_score", 1), ("box_predictor.bbox_pred", 4),
        ("mask_predictor.mask_fcn_logits", 1))}
_CLS_KEY = "roi_heads.box_predictor.cls_score.weight"
_MASK_PREFIXES = ("roi_heads.mask_head.", "roi_heads.mask_predictor.")
_RESERVED = ("format", "model_name", "class_names", "config", "model")


class WeightsError(UserError, ValueError):
    """A weights or checkpoint file that cannot be used; the message names the file."""


@dataclass
class LoadedModel:
    """A model ready to run or train, and where its weights came from."""

    model: MaskRCNN  # eval mode, on the CPU
    spec: ModelSpec  # what the model is (registry)
    class_names: tuple[str, ...]  # model label i (1-based) <-> class_names[i - 1]
    source: str  # "checkpoint" | "file" | "coco" | "none"
    message: str  # one plain sentence for the GUI and the CLI
    class_map: dict[str, str] = field(default_factory=dict)  # project class -> COCO class used
    config: dict[str, Any] = field(default_factory=dict)  # what build_model was given
    extra: dict[str, Any] = field(default_factory=dict)  # a checkpoint's extra items

    @property
    def model_name(self) -> str:
        return self.spec.name


def _mapping_text(class_names: Sequence[str], mapping: Mapping[str, str]) -> str:
    pairs = ", ".join(f"{n} -> {mapping.get(n) or '(none)'}" for n in class_names)
    return f"{len(mapping)} of {len(class_names)} classes mapped: {pairs}"


# --- state dicts -----------------------------------------------------------------------

def remap_heads(state_dict: Mapping[str, torch.Tensor], src_names: Sequence[str],
                dst_names: Sequence[str], mapping: Mapping[str, str], fresh_model: nn.Module
                ) -> dict[str, torch.Tensor]:
    """The state dict re-cut for ``dst_names``: everything but the class rows is copied; the
    background row and each mapped class's rows (``mapping``: dst name -> src name) come from
    the source; unmapped classes keep ``fresh_model``'s rows; other source classes go.
    Raises ValueError when the heads do not have len(src_names) + 1 classes."""
    src_index = {name: i + 1 for i, name in enumerate(src_names)}
    unknown = [t for t in (mapping.get(n) for n in dst_names) if t and t not in src_index]
    if unknown:
        raise WeightsError(f"classes are mapped to {unknown[0]!r}, which the weights do not have")
    pairs = [(0, 0)] + [(d, src_index[mapping[n]]) for d, n in enumerate(dst_names, start=1)
                        if mapping.get(n)]
    fresh = fresh_model.state_dict()
    out: OrderedDict[str, torch.Tensor] = OrderedDict()
    for key, value in state_dict.items():
        rows = HEAD_ROWS.get(key)
        if rows is None or key not in fresh:
            out[key] = value
            continue
        new = fresh[key].detach().clone()
        if value.shape[0] != (len(src_names) + 1) * rows or value.shape[1:] != new.shape[1:]:
            raise WeightsError(f"{key} has shape {tuple(value.shape)}; expected {len(src_names) + 1} "
                             f"classes (background included) of rows {tuple(new.shape[1:])}")
        for d, s in pairs:
            new[d * rows:(d + 1) * rows] = value[s * rows:(s + 1) * rows]
        out[key] = new
    metadata = getattr(state_dict, "_metadata", None)
    if metadata is not None:  # module versions: lets torch convert old layouts while loading
        out._metadata = metadata  # type: ignore[attr-defined]
    return out


def _load_into(model: nn.Module, state_dict: Mapping[str, torch.Tensor], path: Path,
               model_name: str, allow_missing: tuple[str, ...] = ()) -> None:
    """load_state_dict, with every way of not fitting turned into one WeightsError."""
    own = model.state_dict()
    problems = [f"{k} is {tuple(v.shape)} in the file, {tuple(own[k].shape)} in the model"
                for k, v in state_dict.items() if k in own and v.shape != own[k].shape][:1]
    if not problems:
        try:
            result = model.load_state_dict(state_dict, strict=False)
        except RuntimeError as exc:  # a mismatch only visible after torch renamed old keys
            raise WeightsError(f"{path}: does not fit the {model_name} architecture: "
                               f"{str(exc).strip().splitlines()[-1].strip()}") from None
        missing = [k for k in result.missing_keys
                   if not k.endswith("num_batches_tracked") and not k.startswith(allow_missing)]
        problems = [f"{len(keys)} weights {what} (e.g. {keys[0]})" for what, keys in
                    (("missing", missing), ("unexpected", result.unexpected_keys)) if keys]
    if problems:
        raise WeightsError(f"{path}: does not fit the {model_name} architecture: {'; '.join(problems)}")


def _is_state_dict(obj: object) -> bool:
    return (isinstance(obj, dict) and bool(obj)
            and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()))


def _has_mask_head(state_dict: Mapping[str, torch.Tensor]) -> bool:
    return any(k.startswith(_MASK_PREFIXES) for k in state_dict)


# --- files -----------------------------------------------------------------------------

def _torch_load(path: Path) -> Any:
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"{path}: {'not a file' if path.exists() else 'no such file'}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle, zip and EOF errors of damaged or foreign files
        found = re.search(r"GLOBAL (\S+)", str(exc))
        if found:
            raise WeightsError(f"{path}: holds Python objects ({found.group(1)}) besides tensors, "
                               "which labeler refuses to load (weights_only)") from None
        detail = "" if isinstance(exc, pickle.UnpicklingError) else f" ({type(exc).__name__})"
        raise WeightsError(f"{path}: not a PyTorch weights file, or a damaged one{detail}") from None


_CHECKPOINT_FIELDS = {
    "model_name": lambda v: isinstance(v, str),
    "class_names": lambda v: isinstance(v, list) and bool(v) and all(isinstance(n, str) for n in v),
    "config": lambda v: isinstance(v, dict),
    "model": lambda v: _is_state_dict(v),
}


def _validate_checkpoint(obj: object, path: Path) -> dict:
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise WeightsError(f"{path}: not a labeler checkpoint (no 'format': '{FORMAT}' entry)")
    bad = [name for name, ok in _CHECKPOINT_FIELDS.items() if not ok(obj.get(name))]
    if bad:
        raise WeightsError(f"{path}: a labeler checkpoint without a valid {', '.join(bad)}")
    return obj


def read_checkpoint(path: Path) -> dict:
    """A labeler checkpoint as saved by save_checkpoint; WeightsError on anything wrong."""
    return _validate_checkpoint(_torch_load(Path(path)), Path(path))


def _check_plain(value: Any, where: str) -> None:
    """Only what torch.load(weights_only=True) reads back (tensors, numbers, strings, lists,
    dicts): checked before writing, so a checkpoint never fails to load later."""
    if isinstance(value, dict) and all(isinstance(k, (str, int)) for k in value):
        for k, item in value.items():
            _check_plain(item, f"{where}[{k!r}]")
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _check_plain(item, f"{where}[{i}]")
    elif not (value is None or isinstance(value, (bool, int, float, str, torch.Tensor))):
        raise TypeError(f"checkpoint item {where} is a {type(value).__name__}; use tensors, "
                        "numbers, strings, lists and dicts")


def save_checkpoint(path: Path, model: nn.Module, model_name: str, class_names: Iterable[str],
                    **extra: Any) -> None:
    """Write a checkpoint atomically (formats.common.atomic_files): a crash leaves the old one.
    ``config`` may be given among ``extra``; by default it is the one build_model recorded."""
    path = Path(path)
    names = [str(n) for n in class_names]
    config = extra.pop("config", None)
    config = dict(config) if config is not None else model_config(model)
    clash = [k for k in extra if k in _RESERVED]
    if clash:
        raise ValueError(f"checkpoint extra items may not be named {', '.join(clash)}")
    _check_plain(config, "config")
    for key, value in extra.items():
        _check_plain(value, key)
    state = model.state_dict()
    cls = state.get(_CLS_KEY)
    if cls is not None and cls.shape[0] != len(names) + 1:
        raise WeightsError(f"the model has {cls.shape[0] - 1} classes but {len(names)} class names were given")
    weights: OrderedDict[str, torch.Tensor] = OrderedDict((k, v.detach().cpu()) for k, v in state.items())
    weights._metadata = getattr(state, "_metadata", None)  # type: ignore[attr-defined]
    payload = {"format": FORMAT, "model_name": model_name, "class_names": names,
               "config": config, "model": weights, **extra}
    with atomic_files([path]) as (f,):
        torch.save(payload, f)


# --- loading ---------------------------------------------------------------------------

def _finish(model: nn.Module, spec: ModelSpec, names: tuple[str, ...], source: str, message: str,
            class_map: dict[str, str] | None = None, extra: dict | None = None) -> LoadedModel:
    model.cpu().eval()
    return LoadedModel(model, spec, names, source, message, dict(class_map or {}),
                       model_config(model), dict(extra or {}))  # type: ignore[arg-type]


def _build(spec: ModelSpec, names: tuple[str, ...], config: dict, path: Path | None = None) -> MaskRCNN:
    try:
        return spec.create(len(names) + 1, **config)
    except ValueError as exc:
        if path is None:
            raise
        raise WeightsError(f"{path}: its config does not build {spec.name}: {exc}") from None


def _from_checkpoint(ckpt: dict, path: Path, spec: ModelSpec, names: tuple[str, ...],
                     config: dict, source: str) -> LoadedModel:
    model_name = spec.name
    if ckpt["model_name"] != model_name:
        raise WeightsError(f"{path}: a checkpoint of {ckpt['model_name']}, not of {model_name}")
    model = _build(spec, names, {**ckpt["config"], **config}, path)
    src = tuple(ckpt["class_names"])
    state = ckpt["model"]
    what = "Checkpoint" if source == "checkpoint" else "Weights from checkpoint"
    message = f"{what} {path.name} ({model_name}, {len(src)} classes)"
    if src != names:
        try:
            state = remap_heads(state, src, names, {n: n for n in names if n in src}, model)
        except ValueError as exc:
            raise WeightsError(f"{path}: {exc}") from None
        new = [n for n in names if n not in src]
        gone = [n for n in src if n not in names]
        message += (f"; classes matched by name: {len(names) - len(new)} kept"
                    + (f", new and untrained: {', '.join(new)}" if new else "")
                    + (f", dropped: {', '.join(gone)}" if gone else ""))
    _load_into(model, state, path, model_name)
    extra = {k: v for k, v in ckpt.items() if k not in _RESERVED}
    return _finish(model, spec, names, source, message + ".", extra=extra)


def _from_coco(state: Any, path: Path, spec: ModelSpec, names: tuple[str, ...],
               class_map: Mapping[str, str] | None, config: dict, source: str, origin: str) -> LoadedModel:
    if not _is_state_dict(state):
        raise WeightsError(f"{path}: not a state dict of {spec.name}")
    categories = spec.coco_categories
    mapping = coco_class_map(names, class_map, categories=categories)
    model = _build(spec, names, config)
    try:
        state = remap_heads(state, list(categories)[1:], names, mapping, model)
    except ValueError as exc:
        raise WeightsError(f"{path}: {exc}") from None
    box_only = source == "file" or not spec.coco_has_mask_head  # else the mask head must be there
    _load_into(model, state, path, spec.name, allow_missing=_MASK_PREFIXES if box_only else ())
    message = f"COCO-pretrained {spec.name} ({origin}); {_mapping_text(names, mapping)}"
    if not _has_mask_head(state):
        message += "; the mask head starts untrained (these COCO weights detect boxes only)"
    return _finish(model, spec, names, source, message, class_map=mapping)


def _from_file(path: Path, spec: ModelSpec, names: tuple[str, ...], class_map: Mapping[str, str] | None,
               config: dict) -> LoadedModel:
    obj = _torch_load(path)
    if isinstance(obj, dict) and "format" in obj:
        return _from_checkpoint(_validate_checkpoint(obj, path), path, spec, names, config, "file")
    if isinstance(obj, dict) and _is_state_dict(obj.get("model")):
        obj = obj["model"]  # a torchvision references/detection training checkpoint
    cls = obj.get(_CLS_KEY) if _is_state_dict(obj) else None
    if cls is None:
        raise WeightsError(f"{path}: neither a labeler checkpoint nor weights of {spec.name}")
    count = len(spec.coco_categories)
    if cls.shape[0] != count:
        raise WeightsError(f"{path}: its heads have {cls.shape[0]} classes; labeler can match classes "
                           f"only for a labeler checkpoint or {count}-class COCO weights")
    return _from_coco(obj, path, spec, names, class_map, config, "file", path.name)


def coco_cache_path(spec: ModelSpec) -> Path | None:
    """Where torch.hub keeps the spec's COCO weights (torchvision's own download target)."""
    if spec.coco_url is None:
        return None
    filename = os.path.basename(urlparse(spec.coco_url).path)
    return Path(torch.hub.get_dir()) / "checkpoints" / filename


def _coco_state(spec: ModelSpec, allow_download: bool) -> tuple[Any, str]:
    """(state dict, where from) of torchvision's COCO weights, or (None, why not)."""
    cache = coco_cache_path(spec)
    if cache is None:
        return None, ""
    if cache.is_file():
        try:
            return _torch_load(cache), "torchvision cache"
        except WeightsError as exc:
            raise WeightsError(f"{exc} (delete it and it is downloaded again)") from None
    if not allow_download:
        return None, ""
    try:
        return torch.hub.load_state_dict_from_url(
            spec.coco_url, progress=False, check_hash=True,
            map_location="cpu", weights_only=True), "downloaded"
    except Exception as exc:  # offline, proxy, HTTP error, bad hash: not fatal
        return None, f" (the COCO weights could not be downloaded: {type(exc).__name__})"


def load_model(model_name: str | None, class_names: Iterable[str], *, checkpoint: Path | None = None,
               weights: Path | None = None, class_map: dict[str, str] | None = None,
               allow_download: bool = True, **config: Any) -> LoadedModel:
    """The best weights there are, in this order: ``checkpoint`` (the project's), ``weights``
    (a file the user names), torchvision's COCO weights (cache, then download when allowed),
    none. A named file that is missing or does not fit is a WeightsError, never skipped;
    ``class_map`` (project class -> COCO name) applies to COCO weights only. ``model_name``
    None: the checkpoint's model, else the registry's DEFAULT_MODEL."""
    names = tuple(class_names)
    if not names or len(set(names)) != len(names):
        raise ValueError(f"class names must be non-empty and unique, got {list(names)}")
    ckpt = read_checkpoint(Path(checkpoint)) if checkpoint is not None else None
    spec = get_spec(model_name or (ckpt["model_name"] if ckpt is not None else DEFAULT_MODEL))
    if ckpt is not None:
        return _from_checkpoint(ckpt, Path(checkpoint), spec, names, config, "checkpoint")  # type: ignore[arg-type]
    if weights is not None:
        return _from_file(Path(weights), spec, names, class_map, config)
    state, origin = _coco_state(spec, allow_download)
    if state is not None:
        return _from_coco(state, coco_cache_path(spec), spec, names, class_map, config,  # type: ignore[arg-type]
                          "coco", origin)
    message = (f"No pretrained weights found{origin}: the model starts untrained and learns "
               "from the labels you accept.")
    cache = coco_cache_path(spec)
    if cache is not None:
        message += (f" To start from COCO weights instead, put {cache.name} in {cache.parent} "
                    f"(from {spec.coco_url}).")
    return _finish(_build(spec, names, config), spec, names, "none", message)
