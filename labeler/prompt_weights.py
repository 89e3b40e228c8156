"""Where the assist model's weights are (SAM 2.1), with no torch: the window checks a folder
the person chose without importing torch (it would cost a second of start-up and hundreds of
megabytes); ml/promptable.py loads what this finds.

A source is a short name (MODELS), a Hugging Face repository ("owner/name"), or a folder
holding a model's config.json and model.safetensors (a file in it names the folder too).
Names are looked up in the Hugging Face cache first, so a model fetched once needs no
network again; fetched (with progress) only when allowed. Whatever is missing is one
sentence saying which files to get, from where, and where they go.
"""

from __future__ import annotations

from pathlib import Path

from .core.errors import UserError

MODELS = {  # short name -> Hugging Face repository; all SAM 2.1, Apache-2.0
    "sam2.1-tiny": "facebook/sam2.1-hiera-tiny",
    "sam2.1-small": "facebook/sam2.1-hiera-small",
    "sam2.1-base-plus": "facebook/sam2.1-hiera-base-plus",
    "sam2.1-large": "facebook/sam2.1-hiera-large",
}
DEFAULT_PROMPT_MODEL = "sam2.1-tiny"
WEIGHT_FILES = ("config.json", "model.safetensors")  # what a model folder must hold...
PROCESSOR_FILES = ("preprocessor_config.json", "processor_config.json")  # ...and may (else SAM 2.1's defaults)
_FETCH = [*WEIGHT_FILES, "*processor_config.json"]


class WeightsMissing(UserError):
    """The weights are not on this machine and cannot be fetched; the message says which files
    to get and where to put them (one sentence for the status bar)."""


def model_folder(repo: str) -> Path:
    """Where the Hugging Face cache keeps a repository's files (huggingface_hub's layout)."""
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE) / ("models--" + repo.replace("/", "--"))


def missing_hint(name: str) -> str:
    repo = MODELS.get(name, name)
    return (f"the {name} weights are not on this machine: get {' and '.join(WEIGHT_FILES)} from "
            f"https://huggingface.co/{repo} into a folder and choose it (Model > Assist model weights "
            f"folder, or --assist-model FOLDER), or go online once and labeler fetches them into "
            f"{model_folder(repo)}")


def resolve_weights(source: str | None, allow_download: bool, tqdm_class=None) -> tuple[str, Path]:
    """(model name, folder with the files) for a short name, a Hugging Face repository, a
    folder or a file in one; WeightsMissing when they are not here and may not be fetched."""
    source = source or DEFAULT_PROMPT_MODEL
    path = Path(source).expanduser()
    if path.exists():
        folder = path if path.is_dir() else path.parent
        absent = [f for f in WEIGHT_FILES if not (folder / f).is_file()]
        if absent:
            raise WeightsMissing(f"{folder}: no {' or '.join(absent)} there; the folder of a SAM 2.1 "
                                 f"model holds {' and '.join(WEIGHT_FILES)}")
        return folder.name, folder
    if source.startswith(("/", ".", "~", "\\")) or source.count("/") > 1 or "\\" in source or ":" in source:
        raise WeightsMissing(f"{path}: no such folder (the folder of a SAM 2.1 model holds "
                             f"{' and '.join(WEIGHT_FILES)})")
    repo = MODELS.get(source, source)
    if "/" not in repo:
        raise WeightsMissing(f"unknown assist model {source!r} (known: {', '.join(MODELS)}; or a folder)")
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:  # what is cached first: no network for a model fetched once
        return source, Path(snapshot_download(repo, allow_patterns=_FETCH, local_files_only=True))
    except LocalEntryNotFoundError:
        if not allow_download:
            raise WeightsMissing(missing_hint(source)) from None
    try:
        return source, Path(snapshot_download(repo, allow_patterns=_FETCH, tqdm_class=tqdm_class))
    except Exception as exc:  # offline, a proxy, a full disk: the message says what to do instead
        why = ("huggingface.co could not be reached" if isinstance(exc, LocalEntryNotFoundError)
               else f"the download failed: {type(exc).__name__}: {exc}")
        raise WeightsMissing(f"{missing_hint(source)} ({why})") from exc
