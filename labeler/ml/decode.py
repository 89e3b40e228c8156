"""JPEGs decoded by torchvision on the model's device: nvJPEG on CUDA, a batch per call.

Pre-labeling on a GPU spends much of its time decoding on the CPU; nvJPEG does it on the GPU,
and the pixels stay there for the model. The images come out as the product shows them: RGB,
turned by the EXIF orientation as imaging reads it (Pillow's, through read_image_info), with
the same eight transforms as imaging.apply_orientation. They are decoded at full size (no
DCT reduction, a CPU trick: the model's transform shrinks them, on the GPU).

Only plain JPEGs come this way: 8-bit baseline or progressive, Huffman-coded, grey or YCbCr.
For everything else (PNGs, CMYK, 12-bit, arithmetic coding, a file the decoder refuses, one
whose size is not the project's) the answer is None and the caller decodes it with OpenCV, so
what the model sees never depends on which path a file took beyond the decoders' rounding.
The device is a parameter: on the CPU this is libjpeg-turbo, which the tests compare with
the OpenCV path. Off by default in the app (WorkerConfig.decode_on_device) until a GPU run
has measured it. torchvision 0.29 deprecates its image decoders for TorchCodec's; when they
go, decode_jpeg's place here is torchcodec's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch
from PIL import Image
from torch import Tensor

from ..imaging import ImageReadError, read_image_info

PLAIN_MODES = ("L", "RGB")  # Pillow's modes of 1- and 3-component JPEGs (CMYK is "CMYK")


def plain_jpeg_orientation(path: Path) -> int | None:
    """The EXIF orientation of a JPEG this module decodes (8-bit, grey or YCbCr, as Pillow
    reads its frame header), or None for any other file. Files nvJPEG still refuses
    (arithmetic coding, lossless) fail in decode_jpeg and go to OpenCV one by one."""
    try:
        with Image.open(path) as im:
            if im.format != "JPEG" or im.mode not in PLAIN_MODES or getattr(im, "bits", 8) != 8:
                return None
        return read_image_info(path, verify=False).orientation
    except (OSError, ValueError, SyntaxError, ImageReadError, Image.DecompressionBombError):
        return None  # the OpenCV path says what is wrong with it


def orient(pixels: Tensor, orientation: int) -> Tensor:
    """C x H x W pixels as stored -> as displayed: imaging.apply_orientation's transforms."""
    if orientation == 2:
        return pixels.flip(2)
    if orientation == 3:
        return pixels.flip((1, 2))
    if orientation == 4:
        return pixels.flip(1)
    if orientation == 5:
        return pixels.transpose(1, 2)
    if orientation == 6:  # turned clockwise
        return pixels.transpose(1, 2).flip(2)
    if orientation == 7:
        return pixels.transpose(1, 2).flip((1, 2))
    if orientation == 8:  # turned counter-clockwise
        return pixels.transpose(1, 2).flip(1)
    return pixels


def _read(path: Path) -> tuple[Tensor, int] | None:
    """The file's bytes and its EXIF orientation, if it is a plain JPEG."""
    from torchvision.io import read_file

    orientation = plain_jpeg_orientation(path)
    if orientation is None:
        return None
    try:
        return read_file(str(path)), orientation
    except (RuntimeError, OSError):
        return None


def decode_jpegs(paths: Sequence[Path], device: torch.device | str,
                 sizes: Sequence[tuple[int, int]] | None = None) -> list[Tensor | None]:
    """Per path: its pixels as a 3 x H x W uint8 RGB tensor on `device`, EXIF orientation
    applied, or None for a file left to OpenCV (see the module's docstring). `sizes`: the
    (width, height) each image must have, as the project recorded them."""
    from torchvision.io import ImageReadMode, decode_jpeg

    device = torch.device(device)
    read = [_read(Path(p)) for p in paths]
    todo = [i for i, r in enumerate(read) if r is not None]
    out: list[Tensor | None] = [None] * len(read)
    if not todo:
        return out
    data = [read[i][0] for i in todo]  # type: ignore[index]
    try:
        decoded: list[Tensor | None] = list(decode_jpeg(data, mode=ImageReadMode.RGB, device=device))
    except RuntimeError:  # one file the decoder refuses fails the batch: try them one by one
        decoded = []
        for one in data:
            try:
                decoded.append(decode_jpeg(one, mode=ImageReadMode.RGB, device=device))
            except RuntimeError:
                decoded.append(None)
    for i, pixels in zip(todo, decoded):
        if pixels is None or pixels.ndim != 3 or pixels.shape[0] != 3:
            continue
        pixels = orient(pixels, read[i][1])  # type: ignore[index]
        if sizes is not None and (pixels.shape[2], pixels.shape[1]) != tuple(sizes[i]):
            continue  # the file changed since it was added: OpenCV's path says so
        out[i] = pixels
    return out
