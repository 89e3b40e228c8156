"""Which torch device to run on, and how to name it for the user.

One place decides, so the CLI, the workers and the GUI's settings agree on what "auto"
means and all refuse an unavailable accelerator with the same clear message instead of a
CUDA traceback deep inside a worker.
"""

from __future__ import annotations

import torch

from ..core.errors import OptionError


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def pick_device(preference: str = "auto") -> torch.device:
    """"auto" takes CUDA, else Apple MPS, else the CPU; "cpu" always works; "cuda",
    "cuda:N" and "mps" raise ValueError when that device is not there."""
    pref = (preference or "auto").strip().lower()
    if pref == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if pref == "cpu":
        return torch.device("cpu")
    if pref == "mps":
        if not _mps_available():
            raise OptionError("device 'mps' was asked for, but Apple MPS is not available on this "
                             "machine (it needs macOS on Apple silicon); use 'auto' or 'cpu'")
        return torch.device("mps")
    if pref == "cuda" or pref.startswith("cuda:"):
        try:
            device = torch.device(pref)
        except RuntimeError as exc:
            raise OptionError(f"device {preference!r} is not a valid CUDA device name") from exc
        if not torch.cuda.is_available():
            raise OptionError(f"device {preference!r} was asked for, but CUDA is not available "
                             "(no NVIDIA GPU, or a CPU-only PyTorch build); use 'auto' or 'cpu'")
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            raise OptionError(f"device {preference!r} was asked for, but this machine has "
                             f"{count} CUDA device(s) (cuda:0 to cuda:{count - 1})")
        return device
    raise OptionError(f"unknown device {preference!r}; use 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'")


def describe_device(device: torch.device | str) -> str:
    """A short name for status bars and logs, e.g. "CUDA: NVIDIA H100 80GB HBM3"."""
    device = torch.device(device)
    if device.type == "cuda":
        return f"CUDA: {torch.cuda.get_device_name(device)}"
    if device.type == "mps":
        return "Apple MPS"
    if device.type == "cpu":
        threads = torch.get_num_threads()
        return f"CPU ({threads} thread{'s' if threads != 1 else ''})"
    return str(device)
