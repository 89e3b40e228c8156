"""Finding and checking image files, and decoding their pixels.

One rule for the whole product: **the EXIF orientation is applied**. A photo taken with the
camera on its side is stored, shown, labeled, trained on and exported the way it is
displayed, as labelme, detectron2, Ultralytics, CVAT and OpenCV's imread have it (README,
"What the formats do with the awkward cases"). So the stored width and height are those of
the oriented image, and every coordinate is on the oriented image.

The orientation is read in one place, `image_orientation` (Pillow's Image.getexif, the tag
ImageOps.exif_transpose obeys); sizes (`read_image_info`) and pixels (`decode_image`, reduced
or not) both follow it, so they cannot disagree. OpenCV decodes the stored pixels as they are
(IMREAD_IGNORE_ORIENTATION) and `apply_orientation` then turns them, with the same eight
transforms as exif_transpose.

Sizes come from Pillow, which reads them from the header; each file is also decoded (at
reduced scale for JPEG, via Pillow's draft mode) so that a truncated or corrupt file is
caught when a project is created, not when someone opens it to label.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import cv2
import numpy as np
from PIL import Image, ImageOps

from ..core.errors import UserError
from .reduced import REDUCED_FLAGS as _REDUCED

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp")

# Pillow refuses images above ~179 megapixels as "decompression bombs". Labeling aerial
# and slide images needs more (20,000 x 20,000 = 400 MP); past a gigapixel we still refuse.
MAX_PIXELS = 1 << 30
Image.MAX_IMAGE_PIXELS = MAX_PIXELS

ORIENTATION_TAG = 0x0112  # EXIF/TIFF Orientation, 1..8
SWAPS_AXES = frozenset({5, 6, 7, 8})  # orientations whose displayed image is height x width
PIXEL_RULE = "exif-oriented"  # what decode_image returns; part of any cache key of decoded pixels


class ImageReadError(UserError):
    """An image file that cannot be used; the message names the file and the reason."""


@dataclass(frozen=True)
class ImageInfo:
    path: Path
    width: int  # of the displayed (EXIF-oriented) image
    height: int
    orientation: int = 1  # the file's EXIF orientation (1: pixels stored as displayed)


# --- orientation -----------------------------------------------------------------------

def _orientation(im: Image.Image) -> int:
    """The EXIF orientation of an opened image, as ImageOps.exif_transpose reads it; 1 when
    absent, unreadable or not one of the eight values (exif_transpose leaves those alone).

    For a PNG only the chunks before the pixels count (eXIf, ImageMagick's raw EXIF text,
    XMP; the PNG spec puts eXIf there): Pillow's PNG getexif would decode the whole image to
    look behind them, and sizes must be readable from the header."""
    try:
        exif = Image.Image.getexif(im) if im.format == "PNG" else im.getexif()
        value = exif.get(ORIENTATION_TAG, 1)
    except Exception:  # a broken EXIF block does not make the pixels unusable
        return 1
    return int(value) if isinstance(value, (int, float)) and value in range(1, 9) else 1


def _stored_size(im: Image.Image) -> tuple[int, int]:
    """Width and height of the pixels as stored. Pillow's TIFF reader already reports
    (and decodes) a TIFF as displayed, so its size comes from the TIFF tags instead."""
    if im.format == "TIFF":
        width, height = im.tag_v2.get(256), im.tag_v2.get(257)  # ImageWidth, ImageLength
        if isinstance(width, int) and isinstance(height, int):
            return width, height
    return im.size


def image_orientation(path: str | os.PathLike) -> int:
    """The EXIF orientation of an image file (1..8; 1 also for files without one)."""
    path = Path(path)
    try:
        with Image.open(path) as im:  # reads the header only
            return _orientation(im)
    except FileNotFoundError:
        raise ImageReadError(f"{path}: file not found") from None
    except Image.DecompressionBombError:
        raise ImageReadError(f"{path}: larger than {MAX_PIXELS:,} pixels") from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise ImageReadError(f"{path}: unreadable image ({exc})") from None


def oriented_size(width: int, height: int, orientation: int) -> tuple[int, int]:
    """(width, height) as displayed, from the stored pixels' width and height."""
    return (height, width) if orientation in SWAPS_AXES else (width, height)


def apply_orientation(pixels: np.ndarray, orientation: int) -> np.ndarray:
    """The stored pixels (H x W or H x W x C) as displayed: the transform
    ImageOps.exif_transpose applies for each orientation. Orientations 2-4 flip a
    C-contiguous, writeable array in place (the result is `pixels` itself, no second
    buffer for a huge image); 5-8 need a new, transposed array."""
    if orientation in (2, 3, 4):  # mirror, rotate 180, flip
        code = {2: 1, 3: -1, 4: 0}[orientation]
        if pixels.flags.c_contiguous and pixels.flags.writeable:
            return cv2.flip(pixels, code, pixels)
        return cv2.flip(np.ascontiguousarray(pixels), code)
    if orientation == 5:  # transpose (mirror across the main diagonal)
        return cv2.transpose(pixels)
    if orientation == 6:  # stored rotated 90 degrees counter-clockwise: turn it clockwise
        return cv2.rotate(pixels, cv2.ROTATE_90_CLOCKWISE)
    if orientation == 7:  # transverse (mirror across the other diagonal)
        return cv2.flip(cv2.transpose(pixels), -1)
    if orientation == 8:
        return cv2.rotate(pixels, cv2.ROTATE_90_COUNTERCLOCKWISE)
    return pixels


def orient_point(x: float, y: float, width: int, height: int, orientation: int) -> tuple[float, float]:
    """A point in stored-pixel coordinates (image width x height as stored, (0, 0) at the
    top-left corner of the top-left pixel) moved to where it is on the displayed image.
    Agrees with apply_orientation: pixel (i, j)'s square lands on the displayed pixel's."""
    w, h = width, height
    return {
        1: (x, y), 2: (w - x, y), 3: (w - x, h - y), 4: (x, h - y),
        5: (y, x), 6: (h - y, x), 7: (h - y, w - x), 8: (y, w - x),
    }.get(orientation, (x, y))


# --- sizes -----------------------------------------------------------------------------

UNDECODABLE_MODES = {"F": "32-bit floating-point samples", "I": "32-bit integer samples"}


def read_image_info(path: str | os.PathLike, verify: bool = True) -> ImageInfo:
    """Width and height of the image as displayed (EXIF orientation applied)."""
    path = Path(path)
    try:
        with Image.open(path) as im:
            width, height = _stored_size(im)
            orientation = _orientation(im)  # before load(): see _orientation
            if im.mode in UNDECODABLE_MODES:  # OpenCV's readers refuse 32-bit samples: no canvas, no model
                raise ImageReadError(f"{path}: {UNDECODABLE_MODES[im.mode]}; labeler reads 8- and 16-bit "
                                     "images, so convert it first (e.g. to an 8-bit PNG)")
            if verify:
                im.draft("L", (max(1, im.width // 8), max(1, im.height // 8)))  # JPEG: decode at 1/8
                im.load()
    except FileNotFoundError:
        raise ImageReadError(f"{path}: file not found") from None
    except Image.DecompressionBombError:
        raise ImageReadError(f"{path}: larger than {MAX_PIXELS:,} pixels") from None
    except (OSError, ValueError, SyntaxError) as exc:  # Pillow's ways of saying "corrupt"
        raise ImageReadError(f"{path}: unreadable image ({exc})") from None
    if width <= 0 or height <= 0:
        raise ImageReadError(f"{path}: image has no pixels")
    return ImageInfo(path, *oriented_size(width, height, orientation), orientation)


def find_images(root: str | os.PathLike) -> list[Path]:
    """Image files under root, recursively, by extension, sorted; hidden folders skipped."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        found += [Path(dirpath) / f for f in filenames if f.lower().endswith(IMAGE_EXTENSIONS)]
    return sorted(found)


def scan_images(paths: Iterable[Path], progress: Callable[[int, int], None] | None = None,
                workers: int = 4) -> tuple[list[ImageInfo], list[str]]:
    """Read every image's size (in parallel: Pillow releases the GIL while decoding).
    Returns (readable images, one error line per unreadable file)."""
    paths = list(paths)
    infos: list[ImageInfo] = []
    errors: list[str] = []

    def read(path: Path) -> ImageInfo | str:
        try:
            return read_image_info(path)
        except ImageReadError as exc:
            return str(exc)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        for done, result in enumerate(pool.map(read, paths), 1):
            (errors if isinstance(result, str) else infos).append(result)  # type: ignore[arg-type]
            if progress:
                progress(done, len(paths))
    return infos, errors


# --- decoding pixels (the reductions and their flags: reduced.py) ------------------------


@dataclass(frozen=True)
class _Header:
    width: int  # as stored, before orientation
    height: int
    format: str | None
    orientation: int


def _header(path: Path) -> _Header | None:
    try:
        with Image.open(path) as im:  # reads the header only
            return _Header(*_stored_size(im), im.format, _orientation(im))
    except Exception:  # a format Pillow does not know; OpenCV may still read it
        return None


def decode_image(path: str | Path, reduce: int = 1) -> np.ndarray:
    """8-bit BGR pixels (HxWx3) of an image file as displayed (EXIF orientation applied,
    the size read_image_info gives), at 1/reduce of its size (2, 4 or 8).

    Reduced decoding is only cheap for JPEG (libjpeg's DCT scaling, sizes rounded up); for
    other formats OpenCV decodes everything and then shrinks it. Either way the reduced
    image is the stored one reduced, then oriented, so it is the displayed one reduced."""
    path = Path(path)
    if reduce not in _REDUCED:
        raise ValueError(f"reduce must be 1, 2, 4 or 8, not {reduce}")
    if not path.is_file():
        raise ImageReadError(f"{path}: file not found")
    header = _header(path)
    # The orientation comes from Pillow (image_orientation), so OpenCV must not apply its
    # own; only for a file Pillow cannot open is OpenCV's reading of it the one there is.
    flags = _REDUCED[reduce] | (cv2.IMREAD_IGNORE_ORIENTATION if header else 0)
    try:
        if header and header.format == "TIFF" and header.orientation != 1:
            return _decode_with_pillow(path, reduce)
        pixels = _decode_into_buffer(path, flags, reduce, header)
        if pixels is None:
            pixels = cv2.imread(str(path), flags)
            if pixels is None and not str(path).isascii():  # OpenCV on Windows: ANSI paths only
                pixels = cv2.imdecode(np.fromfile(path, np.uint8), flags)
        if pixels is not None and pixels.size and header:
            pixels = apply_orientation(pixels, header.orientation)
    except MemoryError:
        raise ImageReadError(f"{path}: not enough memory to decode this image") from None
    except cv2.error as exc:
        raise ImageReadError(f"{path}: cannot decode ({exc.err or exc})") from None
    if pixels is None or pixels.size == 0:
        raise ImageReadError(f"{path}: cannot decode (corrupt or unsupported image)")
    return pixels


def _decode_with_pillow(path: Path, reduce: int) -> np.ndarray:
    """Pillow's exif_transpose of the file as 8-bit BGR. For TIFFs with an orientation:
    OpenCV's TIFF reader (libtiff's RGBA path) turns orientations 2-4 itself, whatever the
    flags, and cannot read 5-8 at all (OpenCV 5.0). 16-bit grey keeps its top 8 bits, as
    OpenCV's IMREAD_COLOR does; a reduced image is shrunk as OpenCV shrinks non-JPEGs."""
    try:
        with Image.open(path) as im:
            oriented = ImageOps.exif_transpose(im)
    except Image.DecompressionBombError:
        raise ImageReadError(f"{path}: larger than {MAX_PIXELS:,} pixels") from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise ImageReadError(f"{path}: cannot decode ({exc})") from None
    if oriented.mode.startswith("I;16"):
        grey = (np.asarray(oriented).astype(np.uint16) >> 8).astype(np.uint8)
        pixels = cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR)
    else:
        pixels = cv2.cvtColor(np.asarray(oriented.convert("RGB")), cv2.COLOR_RGB2BGR)
    if reduce > 1:
        height, width = pixels.shape[:2]
        pixels = cv2.resize(pixels, (max(1, width // reduce), max(1, height // reduce)),
                            interpolation=cv2.INTER_LINEAR_EXACT)
    return pixels


def _decode_into_buffer(path: Path, flags: int, reduce: int, header: _Header | None) -> np.ndarray | None:
    """Decode the stored pixels (not yet oriented) straight into a numpy array; None where
    that cannot be set up (a reduced size is only predictable for JPEG: libjpeg rounds up,
    OpenCV's resize rounds down).

    imread(path, dst) gives no sign of failure, it leaves dst as it was, so the last row
    is filled with a pattern first: a decode that stops early never overwrites it."""
    if header is None or not cv2.haveImageReader(str(path)):  # not an image (or a path OpenCV cannot open)
        return None
    width, height = header.width, header.height
    if reduce > 1:
        if header.format not in ("JPEG", "MPO"):  # MPO: a phone's JPEG with a second picture
            return None
        width, height = -(-width // reduce), -(-height // reduce)
    dst = np.empty((height, width, 3), np.uint8)
    sentinel = (np.arange(width * 3, dtype=np.uint32) * 37 % 251).astype(np.uint8).reshape(width, 3)
    dst[-1] = sentinel
    pixels = cv2.imread(str(path), dst, flags)
    if pixels is dst and np.array_equal(dst[-1], sentinel):
        raise ImageReadError(f"{path}: cannot decode (corrupt or truncated image)")
    return pixels
