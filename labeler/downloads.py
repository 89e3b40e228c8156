"""Fetching a weights file with progress, for the window's Download button.

The window does not import torch (it would cost it a second of start-up and hundreds of
megabytes), so it cannot call torch.hub; this does what torch.hub.download_url_to_file does
for torchvision's files, with a progress callback instead of a terminal bar: the bytes go to
a temporary file beside the target, the SHA-256 must start with the hash in the file name
(torchvision's "name-<hash>.pth" convention, which torch.hub checks too), and only then is
the file renamed into place, so a cut connection or a Cancel never leaves half a file where
the model looks for weights.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import urllib.request
from pathlib import Path
from typing import Callable

from .core.errors import UserError

CHUNK = 1 << 16
HASH_IN_NAME = re.compile(r"-([a-f0-9]{6,})\.")  # torch.hub's HASH_REGEX, at least 6 digits


class DownloadError(UserError):
    """The file could not be fetched or is not the file it claims to be (one line)."""


def download(url: str, target: Path, progress: Callable[[int, int], None] | None = None,
             timeout: float = 30.0) -> Path:
    """Fetch `url` into `target` (its folder is created). `progress(done, total)` gets byte
    counts (total 0 when the server does not say) and may raise to cancel."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    expected = HASH_IN_NAME.search(target.name)
    digest = hashlib.sha256()
    handle, partial = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".partial")
    try:
        with os.fdopen(handle, "wb") as out:
            try:
                with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - https URL from the registry
                    total = int(response.headers.get("Content-Length") or 0)
                    done = 0
                    while chunk := response.read(CHUNK):
                        out.write(chunk)
                        digest.update(chunk)
                        done += len(chunk)
                        if progress is not None:
                            progress(done, total)
            except OSError as exc:  # no network, DNS, proxy, HTTP error, timeout
                raise DownloadError(f"{url}: could not download ({exc})") from None
        if expected and not digest.hexdigest().startswith(expected.group(1)):
            raise DownloadError(f"{url}: the file that arrived is not the published one (its SHA-256 "
                                f"does not start with {expected.group(1)}); nothing was kept")
        os.replace(partial, target)
        return target
    finally:
        if os.path.exists(partial):
            os.unlink(partial)
