"""The malformed-file corpus of benchmarks/reliability.py: shared pieces (byte builders,
base files, the case spec)."""

import base64
import json
import math
import random
import re
import struct
import sys
import zlib
from dataclasses import dataclass, field

if hasattr(sys, "set_int_max_str_digits"):
    sys.set_int_max_str_digits(0)  # we write 5000-digit integers on purpose

# The template project's images (relative to its image root): name, width, height.
IMAGES = [("a.png", 64, 48), ("b.jpg", 100, 80), ("sub/c.png", 32, 32)]
LABELS = ["a", "b"]
PROGRESS = re.compile(r"^(reading|exporting|writing) .*: \d+/\d+ \(\d+%\)$")
OUTCOMES = ["clean", "clear error", "unclear", "traceback", "crash"]
FLAGS = ["wrong result", "partial write", "outside root", "integrity"]
SEVERITY = {o: k for k, o in enumerate(OUTCOMES)}
KILL_ANNOTATIONS = 20_000
KILL_IMAGES = 40



# =========================================================================================
# corpus generation
# =========================================================================================

class Raw:
    """A JSON fragment written as is (NaN, Infinity, 1e400, deep nesting, ...)."""

    def __init__(self, text: str) -> None:
        self.text = text


def dumps(obj) -> bytes:
    """json.dumps, with Raw fragments spliced in (ensure_ascii keeps lone surrogates as \\ud800)."""
    raws: list[str] = []

    def walk(o):
        if isinstance(o, Raw):
            raws.append(o.text)
            return f"@@RAW{len(raws) - 1}@@"
        if isinstance(o, dict):
            return {k: walk(v) for k, v in o.items()}
        if isinstance(o, list):
            return [walk(v) for v in o]
        return o

    text = json.dumps(walk(obj))
    for k, r in enumerate(raws):
        text = text.replace(f'"@@RAW{k}@@"', r, 1)
    return text.encode("ascii")


def png_bytes(w: int, h: int, value: int = 255, seed: int = 0) -> bytes:
    import cv2
    import numpy as np

    rng = np.random.default_rng(seed)
    img = (rng.integers(0, 2, (h, w), dtype=np.uint8) * value) if value else np.zeros((h, w), np.uint8)
    ok, buf = cv2.imencode(".png", img)
    return buf.tobytes()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


_BIG_PNG: dict[tuple, bytes] = {}


def huge_png(w: int, h: int, header_only: bool = False) -> bytes:
    """A 1-bit greyscale PNG declaring w x h; with real (all-zero but one row) pixels, or only a header."""
    key = (w, h, header_only)
    if key not in _BIG_PNG:
        ihdr = struct.pack(">IIBBBBB", w, h, 1, 0, 0, 0, 0)
        if header_only:
            idat = zlib.compress(b"\x00" * 16)
        else:
            comp = zlib.compressobj(9)
            row_zero = b"\x00" * (1 + (w + 7) // 8)
            row_one = b"\x00" + b"\xff" * ((w + 7) // 8)
            parts = [comp.compress(row_one)]
            chunk = row_zero * 1000
            for _ in range((h - 1) // 1000):
                parts.append(comp.compress(chunk))
            parts.append(comp.compress(row_zero * ((h - 1) % 1000)))
            parts.append(comp.flush())
            idat = b"".join(parts)
        _BIG_PNG[key] = (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat)
                         + _png_chunk(b"IEND", b""))
    return _BIG_PNG[key]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def rle_string(runs: list[int]) -> str:
    """COCO's compressed RLE string for runs (pycocotools' rleToString)."""
    out = []
    for i, x in enumerate(runs):
        if i > 2:
            x -= runs[i - 2]
        more = True
        while more:
            c = x & 0x1F
            x >>= 5
            more = (x != -1) if (c & 0x10) else (x != 0)
            if more:
                c |= 0x20
            out.append(chr(c + 48))
    return "".join(out)


def mask_runs(h: int, w: int, y0: int, y1: int, x0: int, x1: int) -> list[int]:
    """Column-major runs of an h x w mask with a filled rectangle."""
    flat = [0] * (h * w)
    for x in range(x0, x1):
        for y in range(y0, y1):
            flat[x * h + y] = 1
    runs, cur, n = [], 0, 0
    for v in flat:
        if v != cur:
            runs.append(n)
            cur, n = v, 0
        n += 1
    runs.append(n)
    return runs


def rand_poly(rng: random.Random, w: int, h: int, n: int = 4, margin: float = 2) -> list[float]:
    cx, cy = rng.uniform(w * 0.3, w * 0.7), rng.uniform(h * 0.3, h * 0.7)
    r = min(w, h) * rng.uniform(0.1, 0.25)
    out = []
    for k in range(n):
        a = 2 * math.pi * k / n
        rr = r * rng.uniform(0.6, 1.0)
        out += [round(cx + rr * math.cos(a), 2), round(cy + rr * math.sin(a), 2)]
    return out


def base_coco(rng: random.Random) -> dict:
    images = [{"id": i + 1, "file_name": n, "width": w, "height": h} for i, (n, w, h) in enumerate(IMAGES)]
    cats = [{"id": 1, "name": "a", "supercategory": ""}, {"id": 2, "name": "b", "supercategory": ""}]
    anns, k = [], 1
    for im in images:
        for _ in range(2):
            poly = rand_poly(rng, im["width"], im["height"], rng.randint(3, 8))
            anns.append({"id": k, "image_id": im["id"], "category_id": rng.choice([1, 2]),
                         "segmentation": [poly], "area": 10.0, "bbox": [1, 1, 5, 5], "iscrowd": 0})
            k += 1
    return {"images": images, "annotations": anns, "categories": cats}


def base_labelme(rng: random.Random, image: str = "a.png", w: int = 64, h: int = 48) -> dict:
    shapes = []
    for k in range(2):
        flat = rand_poly(rng, w, h, rng.randint(3, 7))
        shapes.append({"label": rng.choice(LABELS), "points": [[flat[i], flat[i + 1]] for i in range(0, len(flat), 2)],
                       "group_id": None, "shape_type": "polygon", "flags": {}})
    return {"version": "5.2.1", "flags": {}, "shapes": shapes, "imagePath": image, "imageData": None,
            "imageHeight": h, "imageWidth": w}


@dataclass
class Spec:
    """One corpus case as generated: what to write, where, and what to import."""
    name: str
    fmt: str
    files: list = field(default_factory=list)     # (where 'input'|'images', relpath, bytes)
    symlinks: list = field(default_factory=list)  # (link relpath in case dir, target relpath in case dir)


def coco(name: str, data) -> Spec:
    return Spec(name, "coco", [("input", "instances.json", data if isinstance(data, bytes) else dumps(data))])


def labelme(name: str, data, where: str = "images", stem: str = "case") -> Spec:
    return Spec(name, "labelme", [(where, f"{stem}.json", data if isinstance(data, bytes) else dumps(data))])


def first_poly_ann(d: dict) -> dict:
    return d["annotations"][0]


NONFINITE = ["NaN", "Infinity", "-Infinity"]
HUGE_FLOATS = [1e7, 1e8, 1e300, -1e300, -1e8, 1e16, 5e-324]


def huge_int(k: int) -> Raw:
    return Raw(str(10**400)) if k % 2 == 0 else Raw("9" * 5000)


