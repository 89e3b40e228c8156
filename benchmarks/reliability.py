"""Reliability of `labeler import` / `labeler export` against malformed files and kill -9.

Generates, deterministically from --seed, a corpus of malformed COCO and labelme files in a
temporary folder (with a few small real PNG/JPEG images made with OpenCV), and replays each
file against the real command line in subprocesses (`sys.executable -m labeler ...`, each with
a timeout and a memory cap):

    for every corpus file:
        a fresh copy of a small template project (init'ed once, image root inside it)
        labeler import PROJECT --format coco|labelme FILE
        labeler export PROJECT out.json --all --rle     (when the project may have changed)
        the export loaded by pycocotools in another subprocess (a segfault is counted, not fatal)

and classifies the outcome:

    clean        exit 0, no traceback
    clear error  exit 2, exactly one stderr line (progress lines aside) starting 'labeler: error:'
    unclear      any other non-zero exit that is neither a traceback nor a crash
                 (several lines, argparse usage, exit 3...)
    traceback    'Traceback' anywhere in stderr, or exit 1
    crash        killed by a signal (negative exit code), exit 139, or the timeout
    wrong result an exported mask that is not 0/1, NaN/Infinity in the export JSON, an area or
                 bbox that is not finite, an annotation outside the image (empty mask or bbox
                 past the border), RLE runs that do not sum to h*w, an export pycocotools
                 cannot load, a non-zero exit with an export file written anyway
    partial write the import failed but the project changed (database rows or files under the
                 project), or a .tmp file left next to the export
    outside root a file created or changed outside the project's image root (the case folder is
                 watched; e.g. labelme imageData written through a dangling symlink)
    integrity    PRAGMA integrity_check (or foreign_key_check) is not clean afterwards

The first four are exclusive (the worst of the import and export steps counts); the last four
are flags on top. Then kill -9 loops: --kills times, an import of a large valid COCO file
(20,000 annotations) and an export of the imported project are started and SIGKILLed at a
random moment; checked: the project holds none or all of that import's annotations, the
project still opens (`labeler stats`), integrity_check, the export file is either the old one
or a complete new one, and leftover temporary files.

It never asserts: it prints one table of counts (per corpus family, the total, and the kill
loops) and the first few examples of each bad outcome (case name, step, stderr's last line).
Exit status 0 whatever it finds.

    .venv/bin/python benchmarks/reliability.py                       # full run (520 files, 40 kills)
    .venv/bin/python benchmarks/reliability.py --count 40 --kills 3  # a quick look
    options: --count N  --kills N  --seed S  --keep DIR  --jobs N  --timeout S  --mem-limit-mb M
             --examples K  --families a,b (substring filter on family names)

--keep DIR keeps the corpus, every case's project, its stdout/stderr and the export (the
default is a temporary folder, removed at the end). A full run took 8 minutes on 2 shared
cores with --jobs 1 (about 6 for the corpus, 2 for the kill loops); cases that hang cost
--timeout each (30 s), so a build with many hangs takes longer.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import io
import json
import math
import os
import random
import re
import resource
import shutil
import signal
import sqlite3
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

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


# --- COCO families ------------------------------------------------------------------------

def f_coco_coord_float(rng, k):
    d = base_coco(rng)
    v = HUGE_FLOATS[k % len(HUGE_FLOATS)]
    ann = rng.choice(d["annotations"])
    seg = ann["segmentation"][0]
    if (k // len(HUGE_FLOATS)) % 2:
        ann["segmentation"][0] = [v] * len(seg)
        where = "all"
    else:
        i = rng.randrange(len(seg))
        seg[i] = v
        where = f"coord{i}"
    return coco(f"coord {v!r} ({where})", d)


def f_coco_nonfinite(rng, k):
    d = base_coco(rng)
    tok = NONFINITE[k % 3]
    pos = ["polygon", "polygon-all", "bbox (box only)", "width", "rle size", "area", "bbox", "polygon+1e400"][(k // 3) % 8]
    ann = rng.choice(d["annotations"])
    if pos == "polygon":
        ann["segmentation"][0][rng.randrange(len(ann["segmentation"][0]))] = Raw(tok)
    elif pos == "polygon-all":
        ann["segmentation"][0] = [Raw(tok)] * 6
    elif pos == "bbox (box only)":
        ann["segmentation"] = []
        ann["bbox"] = [1, 2, Raw(tok), 10]
    elif pos == "width":
        d["images"][0]["width"] = Raw(tok)
    elif pos == "rle size":
        ann["segmentation"] = {"size": [Raw(tok), 64], "counts": rle_string(mask_runs(48, 64, 5, 10, 5, 10))}
        ann["image_id"] = 1
    elif pos == "area":
        ann["area"] = Raw(tok)
    elif pos == "bbox":
        ann["bbox"] = [Raw(tok)] * 4
    else:
        ann["segmentation"][0][0] = Raw("1e400")
    return coco(f"{tok} in {pos}", d)


def f_coco_huge_int(rng, k):
    d = base_coco(rng)
    positions = ["polygon", "annotation id", "image id", "category id", "width", "height", "bbox (box only)",
                 "rle size", "iscrowd", "image_id ref"]
    pos = positions[(k // 2) % len(positions)]
    v = huge_int(k)
    ann = d["annotations"][0]
    if pos == "polygon":
        ann["segmentation"][0][1] = v
    elif pos == "annotation id":
        ann["id"] = v
    elif pos == "image id":
        d["images"][2]["id"] = v
    elif pos == "category id":
        d["categories"][1]["id"] = v
    elif pos == "width":
        d["images"][0]["width"] = v
    elif pos == "height":
        d["images"][0]["height"] = v
    elif pos == "bbox (box only)":
        ann["segmentation"] = []
        ann["bbox"] = [1, 1, v, 5]
    elif pos == "rle size":
        ann["segmentation"] = {"size": [v, 64], "counts": "PPYo1"}
    elif pos == "iscrowd":
        ann["iscrowd"] = v
    else:
        ann["image_id"] = v
    return coco(f"{'10**400' if k % 2 == 0 else '5000-digit int'} in {pos}", d)


def f_coco_id_container(rng, k):
    d = base_coco(rng)
    values = [[1], {"id": 1}, [], {}, [1, 2]]
    positions = ["annotation image_id", "annotation category_id", "annotation id", "images[].id", "categories[].id"]
    v = values[k % len(values)]
    pos = positions[(k // len(values)) % len(positions)]
    if pos == "annotation image_id":
        d["annotations"][0]["image_id"] = v
    elif pos == "annotation category_id":
        d["annotations"][0]["category_id"] = v
    elif pos == "annotation id":
        d["annotations"][0]["id"] = v
    elif pos == "images[].id":
        d["images"][0]["id"] = v
    else:
        d["categories"][0]["id"] = v
    return coco(f"{json.dumps(v)} as {pos}", d)


def f_coco_dup_ids(rng, k):
    d = base_coco(rng)
    variant = k % 9
    if variant == 0:
        d["categories"].append({"id": 1, "name": "c"})
        name = "category id 1 twice, different names"
    elif variant == 1:
        d["categories"].append({"id": 7, "name": "a"})
        d["annotations"][0]["category_id"] = 7
        name = "category name twice, different ids"
    elif variant == 2:
        d["categories"].append({"id": 1, "name": "a"})
        name = "identical category twice"
    elif variant == 3:
        d["categories"][0]["id"] = 0
        for a in d["annotations"]:
            a["category_id"] = 0 if a["category_id"] == 1 else a["category_id"]
        name = "category id 0"
    elif variant == 4:
        d["categories"][0]["id"] = -5
        for a in d["annotations"]:
            a["category_id"] = -5 if a["category_id"] == 1 else a["category_id"]
        name = "negative category id"
    elif variant == 5:
        d["categories"][0]["id"] = True
        name = "category id true (bool)"
    elif variant == 6:
        for a in d["annotations"]:
            a["id"] = 1
        name = "every annotation id 1"
    elif variant == 7:
        d["images"].append({"id": 9, "file_name": "a.png", "width": 64, "height": 48})
        d["annotations"].append({"id": 99, "image_id": 9, "category_id": 1, "segmentation": [[1, 1, 20, 1, 20, 20]]})
        name = "two image entries for one file"
    else:
        d["categories"] = [{"id": 1, "name": "A"}, {"id": 2, "name": "a "}, {"id": 3, "name": " a"}]
        name = "names equal after strip/case"
    return coco(name, d)


def f_coco_missing_key(rng, k):
    d = base_coco(rng)
    choices = [("top", "images"), ("top", "annotations"), ("top", "categories"), ("image", "id"),
               ("image", "file_name"), ("image", "width"), ("image", "height"), ("ann", "id"),
               ("ann", "image_id"), ("ann", "category_id"), ("ann", "segmentation"), ("box", "bbox"),
               ("cat", "id"), ("cat", "name"), ("rle", "size"), ("rle", "counts"), ("urle", "counts")]
    where, key = choices[k % len(choices)]
    ann = d["annotations"][0]
    if where == "top":
        del d[key]
    elif where == "image":
        del d["images"][0][key]
    elif where == "ann":
        del ann[key]
    elif where == "box":
        ann["segmentation"] = []
        del ann["bbox"]
    elif where == "cat":
        del d["categories"][0][key]
    elif where == "rle":
        ann["segmentation"] = {"size": [48, 64], "counts": rle_string(mask_runs(48, 64, 5, 10, 5, 10))}
        ann["image_id"] = 1
        del ann["segmentation"][key]
    else:
        ann["segmentation"] = {"size": [48, 64]}
        ann["image_id"] = 1
    return coco(f"no {key!r} in {where}", d)


def f_coco_wrong_type(rng, k):
    d = base_coco(rng)
    ann = d["annotations"][0]
    ann["image_id"] = 1
    im = d["images"][0]
    rle = lambda: {"size": [48, 64], "counts": rle_string(mask_runs(48, 64, 5, 10, 5, 10))}  # noqa: E731
    cases = [
        ("width '64'", lambda: im.__setitem__("width", "64")),
        ("width 64.0", lambda: im.__setitem__("width", 64.0)),
        ("width true", lambda: im.__setitem__("width", True)),
        ("width -64", lambda: im.__setitem__("width", -64)),
        ("height 0", lambda: im.__setitem__("height", 0)),
        ("file_name 5", lambda: im.__setitem__("file_name", 5)),
        ("file_name null", lambda: im.__setitem__("file_name", None)),
        ("file_name ''", lambda: im.__setitem__("file_name", "")),
        ("file_name '.'", lambda: im.__setitem__("file_name", ".")),
        ("file_name 'sub'", lambda: im.__setitem__("file_name", "sub")),
        ("segmentation 'abc'", lambda: ann.__setitem__("segmentation", "abc")),
        ("segmentation 5", lambda: ann.__setitem__("segmentation", 5)),
        ("segmentation true", lambda: ann.__setitem__("segmentation", True)),
        ("polygon with a string", lambda: ann.__setitem__("segmentation", [[1, 2, "3", 4, 5, 6]])),
        ("polygon with bools", lambda: ann.__setitem__("segmentation", [[True, False, True, True, False, True]])),
        ("polygon of [x,y] pairs", lambda: ann.__setitem__("segmentation", [[[1, 2], [30, 4], [5, 30]]])),
        ("polygon with null", lambda: ann.__setitem__("segmentation", [[1, 2, None, 4, 5, 6]])),
        ("segmentation list of RLE", lambda: ann.__setitem__("segmentation", [rle()])),
        ("segmentation [[]]", lambda: ann.__setitem__("segmentation", [[]])),
        ("segmentation {}", lambda: ann.__setitem__("segmentation", {})),
        ("iscrowd 'yes'", lambda: ann.__setitem__("iscrowd", "yes")),
        ("bbox '1,2,3,4' (box only)", lambda: (ann.__setitem__("segmentation", []), ann.__setitem__("bbox", "1,2,3,4"))),
        ("bbox [1,2,3] (box only)", lambda: (ann.__setitem__("segmentation", []), ann.__setitem__("bbox", [1, 2, 3]))),
        ("bbox negative (box only)", lambda: (ann.__setitem__("segmentation", []), ann.__setitem__("bbox", [-50, -50, 10, 10]))),
        ("bbox huge (box only)", lambda: (ann.__setitem__("segmentation", []), ann.__setitem__("bbox", [0, 0, 1e9, 1e9]))),
        ("rle size ['48','64']", lambda: ann.__setitem__("segmentation", {**rle(), "size": ["48", "64"]})),
        ("rle size [48.7, 64.2]", lambda: ann.__setitem__("segmentation", {**rle(), "size": [48.7, 64.2]})),
        ("rle size [48]", lambda: ann.__setitem__("segmentation", {**rle(), "size": [48]})),
        ("rle size 'big'", lambda: ann.__setitem__("segmentation", {**rle(), "size": "big"})),
        ("rle counts 5", lambda: ann.__setitem__("segmentation", {**rle(), "counts": 5})),
        ("rle counts null", lambda: ann.__setitem__("segmentation", {**rle(), "counts": None})),
        ("rle counts {}", lambda: ann.__setitem__("segmentation", {**rle(), "counts": {}})),
        ("top level is a list", lambda: None),
        ("images is a dict", lambda: d.__setitem__("images", {"1": im})),
        ("annotations null", lambda: d.__setitem__("annotations", None)),
        ("category name 5", lambda: d["categories"][0].__setitem__("name", 5)),
        ("category name ''", lambda: d["categories"][0].__setitem__("name", "")),
        ("category name '   '", lambda: d["categories"][0].__setitem__("name", "   ")),
        ("category name null", lambda: d["categories"][0].__setitem__("name", None)),
        ("category is a string", lambda: d.__setitem__("categories", ["a", "b"])),
        ("image is a number", lambda: d["images"].__setitem__(0, 5)),
        ("annotation is a list", lambda: d["annotations"].__setitem__(0, [1, 2])),
        ("area 'big'", lambda: ann.__setitem__("area", "big")),
    ]
    name, apply = cases[k % len(cases)]
    apply()
    if name == "top level is a list":
        return coco(name, [d])
    return coco(name, d)


def nested(depth: int, leaf: str = "1", dict_style: bool = False) -> str:
    if dict_style:
        return '{"a":' * depth + leaf + "}" * depth
    return "[" * depth + leaf + "]" * depth


def f_coco_nested(rng, k):
    d = base_coco(rng)
    variants = ["file 1000 deep", "segmentation 1000 deep", "category name 1000-deep dict", "file 100000 deep",
                "file 10**6 '[' unclosed", "annotation 999 deep", "bbox 5000 deep (box only)"]
    v = variants[k % len(variants)]
    if v == "file 1000 deep":
        return coco(v, nested(1000).encode())
    if v == "file 100000 deep":
        return coco(v, nested(100_000).encode())
    if v == "file 10**6 '[' unclosed":
        return coco(v, b"[" * 1_000_000)
    if v == "segmentation 1000 deep":
        d["annotations"][0]["segmentation"] = Raw(nested(1000))
    elif v == "category name 1000-deep dict":
        d["categories"][0]["name"] = Raw(nested(1000, '"x"', dict_style=True))
    elif v == "annotation 999 deep":
        d["annotations"][0] = Raw(nested(999, '{"id":1}'))
    else:
        d["annotations"][0]["segmentation"] = []
        d["annotations"][0]["bbox"] = Raw(nested(5000))
    return coco(v, d)


def f_coco_classname_unicode(rng, k):
    d = base_coco(rng)
    variants = [("lone surrogate \\ud800", "\ud800"), ("lone low surrogate a\\udfffb", "a\udfffb"),
                ("surrogate pair (valid)", "\ud83d\ude00"), ("ANSI colour", "\x1b[31mred\x1b[0m"),
                ("ANSI clear screen", "\x1b[2J\x1b[H"), ("OSC title + BEL", "\x1b]0;pwned\x07cat"),
                ("newline in name", "cat\nlabeler: error: fake"), ("carriage return", "cat\rdog"),
                ("NUL in name", "a\x00b"), ("RTL override", "\u202ecat"), ("invalid UTF-8 bytes", None),
                ("surrogate in file_name", "file"), ("surrogate in supercategory", "super")]
    name, value = variants[k % len(variants)]
    if value is None:
        d["categories"][0]["name"] = "@@BAD@@"
        return coco(name, dumps(d).replace(b"@@BAD@@", b"\xed\xa0\x80\xff"))
    if value == "file":
        d["images"][0]["file_name"] = "a\udc80.png"
    elif value == "super":
        d["categories"][0]["supercategory"] = "\ud800"
    else:
        d["categories"][0]["name"] = value
    return coco(name, d)


def f_coco_10mb(rng, k):
    d = base_coco(rng)
    variants = ["10 MB category name", "10 MB of ANSI codes as a name", "10 MB file_name"]
    v = variants[k % len(variants)]
    if v == "10 MB category name":
        d["categories"].append({"id": 3, "name": "x" * 10_000_000})
        d["annotations"][0]["category_id"] = 3
    elif v == "10 MB of ANSI codes as a name":
        d["categories"][0]["name"] = "\x1b[31m" * 2_000_000
    else:
        d["images"][0]["file_name"] = "y" * 10_000_000 + ".png"
    return coco(v, d)


def f_coco_file_names(rng, k):
    d = base_coco(rng)
    variants = [("300-byte file_name", "x" * 300 + ".png"), ("400-byte UTF-8 file_name", "\u00e9" * 200 + ".png"),
                ("256-byte file_name", "z" * 252 + ".png"), ("path over 4096 bytes", "a/" * 2100 + "a.png"),
                ("NUL in file_name", "a.png\x00.jpg"), ("traversal ../../outside", "../../outside/secret.png"),
                ("absolute /etc/passwd", "/etc/passwd"), ("/dev/zero", "/dev/zero"),
                ("absolute path of a real image", None), ("backslashes", "sub\\c.png"),
                ("trailing slash", "a.png/")]
    name, value = variants[k % len(variants)]
    spec = Spec(name, "coco")
    if value is None:
        value = "@ABS@"
    d["images"][0]["file_name"] = value
    if value.startswith("../../outside"):
        spec.files.append(("outside", "secret.png", png_bytes(64, 48, seed=3)))
    spec.files.insert(0, ("input", "instances.json", dumps(d)))
    return spec


def f_coco_polygon_odd(rng, k):
    d = base_coco(rng)
    n = [1, 3, 5, 7, 9, 11, 13, 2001][k % 8]
    ann = rng.choice(d["annotations"])
    poly = ann["segmentation"][0]
    ring = (poly * (n // len(poly) + 1))[:n]
    if (k // 8) % 2:
        ann["segmentation"] = [poly, ring]
        return coco(f"odd ring of {n} coordinates after a good one", d)
    ann["segmentation"] = [ring]
    return coco(f"ring of {n} coordinates", d)


def f_coco_polygon_outside(rng, k):
    d = base_coco(rng)
    ann = rng.choice(d["annotations"])
    dx, dy = [(1000, 0), (-1000, 0), (0, 5000), (-200, -200), (1e5, 1e5), (0, -60)][k % 6]
    poly = ann["segmentation"][0]
    ann["segmentation"] = [[c + (dx if i % 2 == 0 else dy) for i, c in enumerate(poly)]]
    if (k // 6) % 2:
        ann["segmentation"] = []
        ann["bbox"] = [dx + 1, dy + 1, 10, 10]
        return coco(f"box only, moved by ({dx}, {dy})", d)
    return coco(f"polygon moved by ({dx}, {dy})", d)


def f_coco_selfintersect(rng, k):
    d = base_coco(rng)
    n = [50, 200, 500, 2000, 4][k % 5]
    im = d["images"][1]
    ann = d["annotations"][2]
    if n == 4:
        ann["segmentation"] = [[10, 10, 90, 70, 90, 10, 10, 70]]  # a bow tie
        return coco("bow tie", d)
    pts = []
    for _ in range(n):
        pts += [round(rng.uniform(0, im["width"]), 2), round(rng.uniform(0, im["height"]), 2)]
    ann["segmentation"] = [pts]
    return coco(f"random {n}-vertex self-intersecting polygon", d)


def f_coco_20000_parts(rng, k):
    d = base_coco(rng)
    ann = d["annotations"][0]
    im = d["images"][0]
    parts = []
    for j in range(20_000):
        x, y = rng.uniform(0, im["width"] - 3), rng.uniform(0, im["height"] - 3)
        if k % 2:
            parts.append([round(x, 1), round(y, 1), round(x + 1, 1), round(y, 1)])  # 2 points: degenerate
        else:
            parts.append([round(x, 1), round(y, 1), round(x + 2, 1), round(y, 1), round(x, 1), round(y + 2, 1)])
    ann["segmentation"] = parts
    return coco("20,000 degenerate parts" if k % 2 else "20,000 triangle parts", d)


def f_coco_rle_garbage(rng, k):
    d = base_coco(rng)
    ann = d["annotations"][0]
    ann["image_id"] = 1
    fixed = ["zzzz", "", "0", "\x00\x01", "\u00e9\u00e9", "}}}}}}", "PPYo1" * 1000, "~" * 100_000, "0" * 3072,
             rle_string([3072, 5])]
    if k < len(fixed):
        counts = fixed[k]
        name = f"compressed counts {counts[:12]!r}{'...' if len(counts) > 12 else ''}"
    else:
        counts = "".join(chr(rng.randint(33, 126)) for _ in range(rng.randint(1, 60)))
        name = f"random compressed counts {counts[:12]!r}"
    ann["segmentation"] = {"size": [48, 64], "counts": counts}
    if (k // len(fixed)) % 2:
        ann["iscrowd"] = 1
        name += " (iscrowd)"
    return coco(name, d)


def f_coco_rle_size(rng, k):
    d = base_coco(rng)
    ann = d["annotations"][0]
    ann["image_id"] = 1
    small = rle_string(mask_runs(40, 50, 5, 20, 5, 30))
    variants = [("counts of a 40x50 mask, size [48,64]", {"size": [48, 64], "counts": small}),
                ("counts of a 40x50 mask, size [40,50]", {"size": [40, 50], "counts": small}),
                ("size [64,48] (transposed)", {"size": [64, 48], "counts": rle_string(mask_runs(64, 48, 5, 20, 5, 30))}),
                ("size [0,0]", {"size": [0, 0], "counts": ""}),
                ("size [-48,-64]", {"size": [-48, -64], "counts": small}),
                ("size [10**6,10**6]", {"size": [10**6, 10**6], "counts": small}),
                ("counts of a 96x128 mask, size [48,64]", {"size": [48, 64], "counts": rle_string(mask_runs(96, 128, 5, 90, 5, 120))}),
                ("uncompressed 40x50 counts, size [48,64]", {"size": [48, 64], "counts": mask_runs(40, 50, 5, 20, 5, 30)})]
    name, seg = variants[k % len(variants)]
    ann["segmentation"] = seg
    return coco(name, d)


def f_coco_rle_uncompressed(rng, k):
    d = base_coco(rng)
    ann = d["annotations"][0]
    ann["image_id"] = 1
    total = 48 * 64
    fixed = [("negative run summing to h*w", [-100, total + 100]),
             ("runs over 2**32 summing to h*w", [2**32 + 5, total - 2**32 - 5]),
             ("one run of 2**33", [2**33]), ("run 2**63", [2**63, -(2**63) + total]),
             ("float runs", [1000.5, total - 1000.5]), ("string runs", ["1000", str(total - 1000)]),
             ("empty counts", []), ("all zero runs", [0] * 50), ("3072 runs of 1", [1] * total),
             ("sum h*w - 1", [100, total - 101]), ("negative everywhere", [-1] * 10),
             ("nested list runs", [[100], [total - 100]]), ("bools", [True] * total)]
    if k < len(fixed):
        name, counts = fixed[k]
    else:
        a = rng.randint(-(2**40), 2**40)
        counts = [a, rng.randint(0, 500), total - a - 10]
        name = f"random big runs starting {a}"
    ann["segmentation"] = {"size": [48, 64], "counts": counts}
    return coco(f"uncompressed RLE: {name}", d)


def f_coco_truncated(rng, k):
    d = base_coco(rng)
    text = dumps(d)
    cut = rng.randrange(1, len(text))
    return coco(f"truncated at byte {cut} of {len(text)}", text[:cut])


EMPTY_VARIANTS = [("empty file", b""), ("one space", b" "), ("newline", b"\n"), ("null", b"null"), ("[]", b"[]"),
                  ("{}", b"{}"), ("BOM only", b"\xef\xbb\xbf"), ("0", b"0"), ('""', b'""'), ("NaN", b"NaN")]


def f_coco_empty(rng, k):
    name, data = EMPTY_VARIANTS[k % len(EMPTY_VARIANTS)]
    return coco(name, data)


def garbage(rng, k, valid: bytes) -> tuple[str, bytes]:
    kinds = ["random bytes", "PNG bytes", "gzip of a valid file", "UTF-16 with BOM", "UTF-8 BOM + valid",
             "UTF-32", "random bytes + valid", "latin-1 name"]
    kind = kinds[k % len(kinds)]
    if kind == "random bytes":
        return kind, bytes(rng.randrange(256) for _ in range(rng.randint(1, 4096)))
    if kind == "PNG bytes":
        return kind, png_bytes(16, 16, seed=k)
    if kind == "gzip of a valid file":
        import gzip
        return kind, gzip.compress(valid)
    if kind == "UTF-16 with BOM":
        return kind, valid.decode().encode("utf-16")
    if kind == "UTF-8 BOM + valid":
        return kind, b"\xef\xbb\xbf" + valid
    if kind == "UTF-32":
        return kind, valid.decode().encode("utf-32")
    if kind == "random bytes + valid":
        return kind, bytes(rng.randrange(256) for _ in range(8)) + valid
    return kind, valid.replace(b'"a"', b'"caf\xe9"', 1)


def f_coco_binary(rng, k):
    name, data = garbage(rng, k, dumps(base_coco(rng)))
    return coco(name, data)


def f_coco_image_mismatch(rng, k):
    d = base_coco(rng)
    im = d["images"][0]
    variants = ["width differs", "height differs", "file missing", "file is the JSON itself", "file is a corrupt PNG",
                "file is a folder", "image entry without annotations only"]
    v = variants[k % len(variants)]
    if v == "width differs":
        im["width"] = 65
    elif v == "height differs":
        im["height"] = 1
    elif v == "file missing":
        im["file_name"] = "nope.png"
    elif v == "file is the JSON itself":
        im["file_name"] = "instances.json"
    elif v == "file is a corrupt PNG":
        im["file_name"] = "broken.png"
    elif v == "file is a folder":
        im["file_name"] = "sub"
    else:
        d["annotations"] = []
    return coco(v, d)


# --- labelme families ---------------------------------------------------------------------

LM_TYPES = ["polygon", "rectangle", "circle", "mask", "line", "linestrip", "point", "points", "ellipse", "", None]
LM_BAD_POINTS = [("no points", []), ("one point", [[10, 10]]), ("[[1]]", [[1]]), ("[[1,2,3]]", [[1, 2, 3], [4, 5, 6]]),
                 ("NaN points", "NAN"), ("Infinity points", "INF"), ("1e300 points", [[1e300, 1e300], [-1e300, 5], [5, -1e300]]),
                 ("string coords", [["a", "b"], ["c", "d"]]), ("10**400 coord", "HUGE"), ("points is a dict", {"x": 1}),
                 ("points null", None), ("bool coords", [[True, False], [True, True], [False, True]]),
                 ("three points", [[1, 1], [20, 1], [20, 20]]), ("identical points", [[5, 5], [5, 5], [5, 5]]),
                 ("5000 points", "MANY"), ("points outside", [[1000, 1000], [1100, 1000], [1100, 1100]]),
                 ("negative points", [[-30, -30], [-5, -30], [-5, -5]])]
_LM_COMBOS = [(t, b) for t in range(len(LM_TYPES)) for b in range(len(LM_BAD_POINTS))]
random.Random(1234).shuffle(_LM_COMBOS)


def f_lm_bad_points(rng, k):
    t, b = _LM_COMBOS[k % len(_LM_COMBOS)]
    kind = LM_TYPES[t]
    bname, pts = LM_BAD_POINTS[b]
    if pts == "NAN":
        pts = [[Raw("NaN"), 1], [2, Raw("NaN")], [5, 5]]
    elif pts == "INF":
        pts = [[Raw("Infinity"), 0], [1, Raw("-Infinity")], [5, 5]]
    elif pts == "HUGE":
        pts = [[Raw(str(10**400)), 1], [2, 2], [3, 9]]
    elif pts == "MANY":
        pts = [[round(rng.uniform(0, 64), 2), round(rng.uniform(0, 48), 2)] for _ in range(5000)]
    d = base_labelme(rng)
    shape = {"label": "a", "points": pts, "group_id": None, "shape_type": kind, "flags": {}}
    if kind == "mask":
        shape["mask"] = b64(png_bytes(20, 20, seed=k))
    d["shapes"].append(shape)
    return labelme(f"{kind!r} with {bname}", d)


def f_lm_coords(rng, k):
    d = base_labelme(rng)
    vals = [Raw("NaN"), Raw("Infinity"), Raw("-Infinity"), 1e7, 1e8, 1e300, Raw(str(10**400)), Raw("9" * 5000),
            Raw("1e400"), -1e300]
    v = vals[k % len(vals)]
    kind = ["polygon", "rectangle", "circle"][(k // len(vals)) % 3]
    shape = d["shapes"][0]
    shape["shape_type"] = kind
    shape["points"] = shape["points"][:2] if kind != "polygon" else shape["points"]
    shape["points"][1][0] = v
    label = v.text[:12] if isinstance(v, Raw) else repr(v)
    return labelme(f"{kind} with {label}", d)


def f_lm_image_data(rng, k):
    d = base_labelme(rng, image="missing.png")
    variants = [("not base64 '!!!'", "!!!not base64!!!"), ("base64 of text", b64(b"hello, not an image")),
                ("base64 '===='", "===="), ("truncated PNG", b64(png_bytes(64, 48, seed=1)[:60])),
                ("imageData 12345", 12345), ("imageData list", [1, 2]), ("imageData dict", {"a": 1}),
                ("GIF image", "GIF"), ("base64 with junk between", None), ("imageData true", True),
                ("a JSON file as imageData", b64(b'{"shapes": []}'))]
    name, value = variants[k % len(variants)]
    if value == "GIF":
        from PIL import Image
        buf = io.BytesIO()
        Image.new("L", (64, 48)).save(buf, "GIF")
        value = b64(buf.getvalue())
    elif value is None:
        s = b64(png_bytes(64, 48, seed=2))
        value = s[:20] + "\n\t$%" + s[20:]
    d["imageData"] = value
    where = "images" if (k // len(variants)) % 2 == 0 else "input"
    return labelme(f"{name} ({'json in image root' if where == 'images' else 'json outside root'})", d, where, stem="emb")


def f_lm_image_data_size(rng, k):
    d = base_labelme(rng, image="missing.png")
    variants = ["10x10 PNG, declares 64x48", "10x10 PNG, no declared size, shapes past it", "200x200 JPEG, declares 64x48",
                "64x48 PNG, declares 0x0", "64x48 PNG, declares 10**400 wide"]
    v = variants[k % len(variants)]
    if v.startswith("10x10"):
        d["imageData"] = b64(png_bytes(10, 10, seed=4))
        if "no declared" in v:
            del d["imageWidth"], d["imageHeight"]
    elif v.startswith("200x200"):
        import cv2
        import numpy as np
        d["imageData"] = b64(cv2.imencode(".jpg", np.full((200, 200, 3), 128, np.uint8))[1].tobytes())
    elif "0x0" in v:
        d["imageData"] = b64(png_bytes(64, 48, seed=5))
        d["imageWidth"] = d["imageHeight"] = 0
    else:
        d["imageData"] = b64(png_bytes(64, 48, seed=6))
        d["imageWidth"] = Raw(str(10**400))
    return labelme(v, d, stem="emb")


def f_lm_symlink(rng, k):
    """imageData is written to <image folder>/<json stem>.<format> unless that exists: a dangling
    symlink there (or its target) is where it may land. A JSON in the image root with a PNG is
    matched by stem first, so the other variants use a GIF/PPM or keep the JSON outside the root."""
    from PIL import Image

    d = base_labelme(rng, image="missing.png")
    variants = [("json in root, GIF imageData, absolute dangling emb.gif", "images", "gif", "abs"),
                ("json in root, PPM imageData, dangling emb.ppm", "images", "ppm", "abs"),
                ("json outside root, PNG, relative dangling emb.png in root", "input", "png", "rel"),
                ("json outside root, link into a missing folder", "input", "png", "dir"),
                ("json outside root, link chain", "input", "png", "chain"),
                ("json outside root, link to an existing file outside", "input", "png", "existing"),
                ("json in root, PNG, dangling emb.png (matched by stem)", "images", "png", "abs"),
                ("json in subfolder, GIF imageData, dangling link", "images/sub", "gif", "abs")]
    name, where, fmt, kind = variants[k % len(variants)]
    buf = io.BytesIO()
    Image.fromarray(__import__("numpy").random.default_rng(k).integers(0, 255, (48, 64), dtype="uint8")).save(
        buf, {"png": "PNG", "gif": "GIF", "ppm": "PPM"}[fmt])
    d["imageData"] = b64(buf.getvalue())
    ext = {"png": "png", "gif": "gif", "ppm": "ppm"}[fmt]
    spec = labelme(name, d, "images" if where.startswith("images") else "input", stem="emb")
    link_dir = "proj/images"
    if where == "images/sub":
        spec.files = [("images", "sub/emb.json", spec.files[0][2])]
        link_dir = "proj/images/sub"
    link = f"{link_dir}/emb.{ext}"
    if kind == "abs":
        spec.symlinks.append((link, "outside/escaped." + ext))
    elif kind == "rel":
        spec.symlinks.append((link, f"REL:../../outside/escaped.{ext}"))
    elif kind == "dir":
        spec.symlinks.append((link, f"outside/newdir/escaped.{ext}"))
    elif kind == "existing":
        spec.files.append(("outside", f"existing.{ext}", png_bytes(64, 48, seed=8)))
        spec.symlinks.append((link, f"outside/existing.{ext}"))
    else:
        spec.symlinks.append((link, "outside/link2"))
        spec.symlinks.append(("outside/link2", f"outside/escaped.{ext}"))
    return spec


def f_lm_mask_huge(rng, k):
    d = base_labelme(rng)
    variants = ["mask PNG 30000x30000", "mask PNG header 30000x30000, no pixels", "mask PNG 30000x1",
                "imageData PNG 30000x30000", "mask at negative points", "mask with NaN points", "mask not base64",
                "mask 20x20 at 1e300"]
    v = variants[k % len(variants)]
    shape = {"label": "a", "points": [[5, 5], [25, 25]], "group_id": None, "shape_type": "mask", "flags": {}}
    if v == "mask PNG 30000x30000":
        shape["mask"] = b64(huge_png(30000, 30000))
    elif v.startswith("mask PNG header"):
        shape["mask"] = b64(huge_png(30000, 30000, header_only=True))
    elif v == "mask PNG 30000x1":
        shape["mask"] = b64(huge_png(30000, 1))
    elif v.startswith("imageData"):
        d["imagePath"] = "missing.png"
        d["imageData"] = b64(huge_png(30000, 30000))
        d["imageWidth"] = d["imageHeight"] = 30000
        shape["mask"] = b64(png_bytes(20, 20, seed=9))
    elif v == "mask at negative points":
        shape["points"] = [[-10, -10], [10, 10]]
        shape["mask"] = b64(png_bytes(20, 20, seed=10))
    elif v == "mask with NaN points":
        shape["points"] = [[Raw("NaN"), 5], [25, 25]]
        shape["mask"] = b64(png_bytes(20, 20, seed=11))
    elif v == "mask not base64":
        shape["mask"] = "%%%%"
    else:
        shape["points"] = [[1e300, 1e300], [1e300, 1e300]]
        shape["mask"] = b64(png_bytes(20, 20, seed=12))
    d["shapes"].append(shape)
    return labelme(v, d, stem="emb" if v.startswith("imageData") else "case")


def f_lm_wrong_type(rng, k):
    d = base_labelme(rng)
    s = d["shapes"][0]
    cases = [("group_id '1'", lambda: s.__setitem__("group_id", "1")), ("group_id 1.5", lambda: s.__setitem__("group_id", 1.5)),
             ("group_id true", lambda: s.__setitem__("group_id", True)), ("group_id [1]", lambda: s.__setitem__("group_id", [1])),
             ("group_id 10**400", lambda: s.__setitem__("group_id", Raw(str(10**400)))),
             ("label 5", lambda: s.__setitem__("label", 5)), ("label ''", lambda: s.__setitem__("label", "")),
             ("label null", lambda: s.__setitem__("label", None)), ("shape_type 5", lambda: s.__setitem__("shape_type", 5)),
             ("shape_type ['polygon']", lambda: s.__setitem__("shape_type", ["polygon"])),
             ("shapes is a dict", lambda: d.__setitem__("shapes", {"0": s})), ("shapes null", lambda: d.__setitem__("shapes", None)),
             ("shape is a string", lambda: d["shapes"].__setitem__(0, "polygon")),
             ("imagePath 5", lambda: d.__setitem__("imagePath", 5)), ("imagePath list", lambda: d.__setitem__("imagePath", ["a.png"])),
             ("imageWidth '64'", lambda: d.__setitem__("imageWidth", "64")), ("imageHeight -1", lambda: d.__setitem__("imageHeight", -1)),
             ("imageWidth 1e300", lambda: d.__setitem__("imageWidth", 1e300)), ("imageWidth NaN", lambda: d.__setitem__("imageWidth", Raw("NaN"))),
             ("imageWidth 64.0", lambda: d.__setitem__("imageWidth", 64.0)), ("flags a list", lambda: s.__setitem__("flags", [1])),
             ("top level a list", lambda: None), ("points pairs as dicts", lambda: s.__setitem__("points", [{"x": 1, "y": 2}] * 3))]
    name, apply = cases[k % len(cases)]
    apply()
    return labelme(name, [d] if name == "top level a list" else d)


def f_lm_label_unicode(rng, k):
    d = base_labelme(rng)
    variants = [("lone surrogate", "\ud800"), ("ANSI colour", "\x1b[31mred\x1b[0m"), ("OSC title", "\x1b]0;pwned\x07"),
                ("newline", "a\nlabeler: error: fake"), ("10 MB label", "x" * 10_000_000), ("NUL", "a\x00b"),
                ("__ignore__ with spaces", " __ignore__ "), ("surrogate in imagePath", "IMG")]
    name, value = variants[k % len(variants)]
    if value == "IMG":
        d["imagePath"] = "a\udc80.png"
    else:
        d["shapes"][0]["label"] = value
    return labelme(f"label: {name}", d)


def f_lm_image_path(rng, k):
    d = base_labelme(rng)
    variants = [("300-byte imagePath", "x" * 300 + ".png"), ("path over 4096 bytes", "a/" * 2100 + "a.png"),
                ("NUL in imagePath", "a.png\x00x"), ("../ to outside", "../../outside/secret.png"),
                ("absolute path", "/etc/passwd"), ("backslash traversal", "..\\..\\outside\\secret.png"),
                ("'.'", "."), ("''", ""), ("the JSON itself", "case.json"), ("/dev/zero", "/dev/zero"),
                ("folder", "sub")]
    name, value = variants[k % len(variants)]
    d["imagePath"] = value
    spec = labelme(f"imagePath: {name}", d)
    if "outside" in value:
        spec.files.append(("outside", "secret.png", png_bytes(64, 48, seed=13)))
    return spec


def f_lm_many_shapes(rng, k):
    d = base_labelme(rng)
    grouped = k % 2 == 0
    shapes = []
    for j in range(20_000):
        x, y = rng.uniform(0, 60), rng.uniform(0, 44)
        shapes.append({"label": "a", "points": [[x, y], [x + 3, y], [x, y + 3]], "group_id": 1 if grouped else None,
                       "shape_type": "polygon", "flags": {}})
    d["shapes"] = shapes
    return labelme("20,000 shapes in one group" if grouped else "20,000 separate shapes", d)


def f_lm_selfintersect(rng, k):
    d = base_labelme(rng)
    n = [100, 500][k % 2]
    d["shapes"][0]["points"] = [[round(rng.uniform(0, 64), 2), round(rng.uniform(0, 48), 2)] for _ in range(n)]
    return labelme(f"random {n}-vertex self-intersecting polygon", d)


def f_lm_truncated(rng, k):
    text = dumps(base_labelme(rng))
    cut = rng.randrange(1, len(text))
    return labelme(f"truncated at byte {cut} of {len(text)}", text[:cut])


def f_lm_empty(rng, k):
    name, data = EMPTY_VARIANTS[k % len(EMPTY_VARIANTS)]
    return labelme(name, data)


def f_lm_binary(rng, k):
    name, data = garbage(rng, k, dumps(base_labelme(rng)))
    return labelme(name, data)


def f_lm_nested(rng, k):
    d = base_labelme(rng)
    v = ["file 1000 deep", "points 1000 deep", "file 100000 deep"][k % 3]
    if v == "file 1000 deep":
        return labelme(v, nested(1000).encode())
    if v == "file 100000 deep":
        return labelme(v, nested(100_000).encode())
    d["shapes"][0]["points"] = Raw(nested(1000))
    return labelme(v, d)


# (family name, generator, cap: the most cases it makes; None: as many as the rotation asks)
FAMILIES = [
    ("coco coord 1e7..1e300", f_coco_coord_float, None),
    ("coco NaN/Infinity", f_coco_nonfinite, 24),
    ("coco huge integers", f_coco_huge_int, 20),
    ("coco list/dict as id", f_coco_id_container, 25),
    ("coco duplicate ids", f_coco_dup_ids, 9),
    ("coco missing keys", f_coco_missing_key, 17),
    ("coco wrong types", f_coco_wrong_type, 43),
    ("coco nested deep", f_coco_nested, 7),
    ("coco unicode/ANSI names", f_coco_classname_unicode, 13),
    ("coco 10 MB strings", f_coco_10mb, 3),
    ("coco file names", f_coco_file_names, 11),
    ("coco odd polygons", f_coco_polygon_odd, 16),
    ("coco outside image", f_coco_polygon_outside, 12),
    ("coco self-intersecting", f_coco_selfintersect, 5),
    ("coco 20,000 parts", f_coco_20000_parts, 2),
    ("coco RLE garbage", f_coco_rle_garbage, None),
    ("coco RLE size mismatch", f_coco_rle_size, 8),
    ("coco RLE bad runs", f_coco_rle_uncompressed, None),
    ("coco image mismatch", f_coco_image_mismatch, 7),
    ("coco truncated", f_coco_truncated, None),
    ("coco empty", f_coco_empty, 10),
    ("coco binary garbage", f_coco_binary, None),
    ("labelme bad points", f_lm_bad_points, len(_LM_COMBOS)),
    ("labelme NaN/huge coords", f_lm_coords, 30),
    ("labelme bad imageData", f_lm_image_data, 22),
    ("labelme imageData size", f_lm_image_data_size, 5),
    ("labelme dangling symlink", f_lm_symlink, 8),
    ("labelme 30000x30000 mask", f_lm_mask_huge, 8),
    ("labelme wrong types", f_lm_wrong_type, 23),
    ("labelme unicode labels", f_lm_label_unicode, 8),
    ("labelme imagePath", f_lm_image_path, 11),
    ("labelme 20,000 shapes", f_lm_many_shapes, 2),
    ("labelme self-intersecting", f_lm_selfintersect, 2),
    ("labelme truncated", f_lm_truncated, None),
    ("labelme empty", f_lm_empty, 10),
    ("labelme binary garbage", f_lm_binary, None),
    ("labelme nested deep", f_lm_nested, 3),
]


@dataclass
class Case:
    idx: int
    family: str
    name: str
    fmt: str
    dir: Path                 # the corpus folder of this case (its files, as written)
    files: list               # (where, relpath)
    symlinks: list


def generate_corpus(root: Path, count: int, seed: int, family_filter: list[str]) -> list[Case]:
    families = [f for f in FAMILIES if not family_filter or any(s in f[0] for s in family_filter)]
    used: Counter = Counter()
    cases: list[Case] = []
    order = 0
    while len(cases) < count:
        open_families = [f for f in families if f[2] is None or used[f[0]] < f[2]]
        if not open_families:
            break
        fam_name, gen, _cap = open_families[order % len(open_families)]
        order += 1
        k = used[fam_name]
        used[fam_name] += 1
        idx = len(cases)
        rng = random.Random(f"{seed}:{fam_name}:{k}")
        spec = gen(rng, k)
        d = root / f"{idx:04d}"
        files = []
        for where, rel, data in spec.files:
            if isinstance(data, str):
                data = data.encode()
            p = d / where / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(data)
            files.append((where, rel))
        cases.append(Case(idx, fam_name, spec.name, spec.fmt, d, files, spec.symlinks))
    return cases


# =========================================================================================
# running the command line
# =========================================================================================

@dataclass
class Run:
    rc: int | None           # None: timed out
    stdout: str
    stderr: str
    seconds: float

    @property
    def last_line(self) -> str:
        lines = [l for l in self.stderr.splitlines() if l.strip()]
        fatal = [l for l in lines if l.startswith("Fatal Python error")]
        if fatal:  # faulthandler's report: the error and the innermost frame
            frames = [l.strip() for l in lines if l.strip().startswith('File "')]
            where = ""
            if frames:
                m = re.match(r'File "(.*)", line (\d+) in (.*)', frames[0])
                where = f" at {m.group(1).split('/labeler/')[-1]}:{m.group(2)} in {m.group(3)}" if m else f" at {frames[0]}"
            return f"exit {self.rc}: {fatal[0]}{where}"
        if self.rc is None:
            return "(timed out)" + (f"; last stderr line: {lines[-1]}" if lines else "")
        return lines[-1] if lines else f"(no stderr; exit {self.rc})"


class Runner:
    def __init__(self, timeout: float, mem_mb: int) -> None:
        self.timeout = timeout
        self.mem = mem_mb << 20
        self.env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1",
                        PYTHONFAULTHANDLER="1", PYTHONIOENCODING="utf-8")
        self.env.pop("PYTHONWARNINGS", None)

    def _limits(self) -> None:
        if self.mem:
            resource.setrlimit(resource.RLIMIT_AS, (self.mem, self.mem))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    def popen(self, argv: list[str], cwd: Path, stdin: bool = False, stderr=subprocess.PIPE) -> subprocess.Popen:
        return subprocess.Popen(argv, cwd=cwd, stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                                stdout=subprocess.PIPE,
                                stderr=stderr, env=self.env, preexec_fn=self._limits,
                                start_new_session=True)

    def run(self, argv: list[str], cwd: Path, timeout: float | None = None) -> Run:
        start = time.perf_counter()
        p = self.popen(argv, cwd)
        try:
            out, err = p.communicate(timeout=timeout or self.timeout)
            rc = p.returncode
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGKILL)  # our own child's process group
            out, err = p.communicate()
            rc = None
        return Run(rc, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"), time.perf_counter() - start)

    def labeler(self, args: list, cwd: Path, timeout: float | None = None) -> Run:
        return self.run([sys.executable, "-m", "labeler", *map(str, args)], cwd, timeout)


def classify(run: Run) -> str:
    if run.rc is None or run.rc < 0 or run.rc in (139, 134, 137):
        return "crash"
    if "Traceback" in run.stderr or run.rc == 1:
        return "traceback"
    if run.rc == 0:
        return "clean"
    if run.rc == 2:
        lines = [l for l in run.stderr.splitlines() if l.strip() and not PROGRESS.match(l.strip())]
        if len(lines) == 1 and lines[0].startswith("labeler: error:"):
            return "clear error"
    return "unclear"


# =========================================================================================
# checks
# =========================================================================================

DB_FILES = {"labeler.db", "labeler.db-journal", "labeler.db-wal", "labeler.db-shm"}


def db_state(db: Path) -> tuple:
    """(row counts, digest) of the project tables; ('unreadable', error) when it cannot be read."""
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            h = hashlib.sha1()
            counts = {}
            for table in ("images", "categories", "instances"):  # not meta: a schema migration may touch it
                rows = con.execute(f"SELECT * FROM {table} ORDER BY rowid").fetchall()
                counts[table] = len(rows)
                h.update(repr(rows).encode("utf-8", "backslashreplace"))
            return tuple(sorted(counts.items())), h.hexdigest()
        finally:
            con.close()
    except sqlite3.Error as exc:
        return ("unreadable", str(exc))


def integrity(db: Path) -> str:
    """'' when PRAGMA integrity_check says ok and foreign_key_check finds nothing; else what it says."""
    try:
        con = sqlite3.connect(str(db))
        try:
            rows = con.execute("PRAGMA integrity_check").fetchall()
            if rows != [("ok",)]:
                return "integrity_check: " + "; ".join(str(r[0]) for r in rows[:3])
            fk = con.execute("PRAGMA foreign_key_check").fetchall()
            if fk:
                return f"foreign_key_check: {len(fk)} rows, e.g. {fk[0]}"
            return ""
        finally:
            con.close()
    except sqlite3.Error as exc:
        return f"cannot open: {exc}"


def snapshot(root: Path) -> dict[str, tuple]:
    """relpath -> (kind, size, mtime_ns) of everything under root (symlinks not followed)."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            try:
                st = p.lstat()
            except OSError:
                continue
            kind = "link" if os.path.islink(p) else ("dir" if p.is_dir() else "file")
            if kind == "dir":
                out[str(p.relative_to(root))] = ("dir", 0, 0)
            else:
                out[str(p.relative_to(root))] = (kind, st.st_size, st.st_mtime_ns)
    return out


def changes(before: dict, after: dict) -> list[str]:
    """Paths created, changed or removed between two snapshots."""
    return sorted({k for k in after if before.get(k) != after[k]} | {k for k in before if k not in after})


def area_of(rel: str) -> str:
    """Where a changed path lies: 'db', 'root' (under the image root), 'export' or 'outside'."""
    parts = Path(rel).parts
    if parts[:2] == ("proj", "images"):
        return "root"
    if len(parts) == 2 and parts[0] == "proj" and parts[1].startswith("labeler.db"):
        return "db"  # the database, its journal and migration backups
    if parts[:1] == ("proj",):
        return "project"
    if parts[:1] == ("out",):
        return "export"
    if parts[:1] == ("logs",):
        return "harness"
    return "outside"


# The export check, run in its own process (python reliability.py --check-export FILE).
def check_export(path: str) -> dict:
    import numpy as np
    from pycocotools import mask as mask_utils
    from pycocotools.coco import COCO

    problems: list[str] = []
    tokens: list[str] = []
    bad_floats: list[str] = []

    def on_constant(s):
        tokens.append(s)
        return float(s)

    def on_float(s):
        v = float(s)
        if not math.isfinite(v):
            bad_floats.append(s[:30])
        return v

    with open(path, "rb") as f:
        data = json.loads(f.read(), parse_constant=on_constant, parse_float=on_float)
    if tokens:
        problems.append(f"export JSON has {tokens[0]} ({len(tokens)} non-finite tokens)")
    if bad_floats:
        problems.append(f"export JSON has a number that overflows: {bad_floats[0]}")
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO(path)
    images = {im["id"]: im for im in data["images"]}
    cat_ids = {c["id"] for c in data["categories"]}
    for ann in data["annotations"]:
        aid = ann.get("id")
        im = images.get(ann["image_id"])
        if im is None:
            problems.append(f"annotation {aid}: unknown image id")
            continue
        if ann["category_id"] not in cat_ids:
            problems.append(f"annotation {aid}: unknown category id")
        h, w = im["height"], im["width"]
        area = ann.get("area")
        if not isinstance(area, (int, float)) or not math.isfinite(area):
            problems.append(f"annotation {aid}: area {area!r} is not finite")
        elif area <= 0:
            problems.append(f"annotation {aid}: area {area!r}")
        bbox = ann.get("bbox")
        if not (isinstance(bbox, list) and len(bbox) == 4 and all(isinstance(c, (int, float)) and math.isfinite(c) for c in bbox)):
            problems.append(f"annotation {aid}: bbox {str(bbox)[:60]} is not 4 finite numbers")
        else:
            x, y, bw, bh = bbox
            if x < -1 or y < -1 or x + bw > w + 1 or y + bh > h + 1 or bw <= 0 or bh <= 0:
                problems.append(f"annotation {aid}: bbox {[round(c, 1) for c in bbox]} outside the {w}x{h} image")
        seg = ann.get("segmentation")
        if isinstance(seg, dict):
            if list(seg.get("size", [])) != [h, w]:
                problems.append(f"annotation {aid}: RLE size {seg.get('size')} on a {h}x{w} image")
            counts = seg.get("counts")
            if isinstance(counts, str):
                runs = decode_rle_string(counts)
                if runs is None:
                    problems.append(f"annotation {aid}: RLE counts do not decode")
                elif any(r < 0 for r in runs) or sum(runs) != h * w:
                    problems.append(f"annotation {aid}: RLE runs sum to {sum(runs)} (min run {min(runs, default=0)}), "
                                    f"not {h}*{w}={h * w}")
        mask = coco.annToMask(ann)
        if mask.shape != (h, w):
            problems.append(f"annotation {aid}: mask shape {mask.shape} on a {h}x{w} image")
        values = set(np.unique(mask).tolist())
        if not values <= {0, 1}:
            problems.append(f"annotation {aid}: mask values {sorted(values)[:5]} are not 0/1")
        if not mask.any():
            problems.append(f"annotation {aid}: empty mask (the annotation is outside the image)")
        if isinstance(seg, dict) and isinstance(seg.get("counts"), str):
            a = float(mask_utils.area({"size": seg["size"], "counts": seg["counts"].encode()}))
            if a != float(mask.sum()):
                problems.append(f"annotation {aid}: RLE area {a} but the mask has {int(mask.sum())} pixels")
    return {"annotations": len(data["annotations"]), "problems": problems}


def decode_rle_string(s: str) -> list[int] | None:
    """pycocotools' rleFrString in Python; None when the string ends inside a number."""
    runs: list[int] = []
    p = 0
    while p < len(s):
        x, k, more = 0, 0, True
        while more:
            if p >= len(s):
                return None
            c = ord(s[p]) - 48
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p += 1
            k += 1
            if not more and (c & 0x10):
                x |= -1 << (5 * k)
        if len(runs) > 2:
            x += runs[-2]
        runs.append(x)
    return runs


class Checker:
    """A long-lived `reliability.py --check-exports` process (pycocotools is imported once): one
    export path per line in, one JSON line out. If it dies on a file (a segfault in pycocotools),
    that file counts as a crash and the next file gets a fresh process."""

    def __init__(self, runner: "Runner", timeout: float) -> None:
        self.runner, self.timeout, self.proc = runner, timeout, None

    def check(self, path: Path) -> dict:
        import select

        if self.proc is None or self.proc.poll() is not None:
            self.err = tempfile.TemporaryFile()
            self.proc = self.runner.popen([sys.executable, str(Path(__file__).resolve()), "--check-exports"],
                                          Path(path).parent, stdin=True, stderr=self.err)
        p = self.proc
        try:
            p.stdin.write((str(path) + "\n").encode("utf-8", "surrogateescape"))
            p.stdin.flush()
            ready, _, _ = select.select([p.stdout], [], [], self.timeout)
            line = p.stdout.readline() if ready else b""
        except (BrokenPipeError, OSError):
            line = b""
        if line:
            return json.loads(line)
        timed_out = p.poll() is None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(p.pid, signal.SIGKILL)
        p.wait()
        self.err.seek(0)
        err = self.err.read()[-20000:]
        self.proc = None
        run = Run(None if timed_out else p.returncode, "", err.decode("utf-8", "replace"), 0)
        return {"crash": f"pycocotools check: {run.last_line}"}

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.wait()


def check_exports_loop() -> None:
    """The checker process: paths on stdin, a JSON line each on stdout."""
    for line in sys.stdin:
        path = line.rstrip("\n")
        try:
            report = check_export(path)
        except Exception as exc:  # an export pycocotools (or json) cannot load
            report = {"error": f"{type(exc).__name__}: {exc}"[:300], "problems": []}
        sys.stdout.write(json.dumps(report) + "\n")
        sys.stdout.flush()


_checkers = threading.local()
_all_checkers: list = []
_CHECKER_ARGS: list = []


def checker() -> Checker:
    if not hasattr(_checkers, "c"):
        _checkers.c = Checker(*_CHECKER_ARGS)
        _all_checkers.append(_checkers.c)
    return _checkers.c


# =========================================================================================
# one corpus case
# =========================================================================================

@dataclass
class Result:
    case: Case
    outcome: str = "clean"
    stage: str = "import"
    last_line: str = ""
    flags: dict = field(default_factory=dict)  # flag -> detail
    notes: list = field(default_factory=list)
    seconds: float = 0.0


def make_template(work: Path, runner: Runner) -> Path:
    import cv2
    import numpy as np

    tpl = work / "template"
    images = tpl / "proj" / "images"
    rng = np.random.default_rng(0)
    for name, w, h in IMAGES:
        p = images / name
        p.parent.mkdir(parents=True, exist_ok=True)
        img = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
        cv2.imwrite(str(p), img)
    (images / "broken.png").write_bytes(png_bytes(64, 48, seed=1)[:50])  # unreadable: init skips it
    r = runner.labeler(["init", tpl / "proj", "--images", images, "--labels", ",".join(LABELS)], tpl)
    if r.rc != 0:
        sys.exit(f"reliability: cannot create the template project: {r.last_line}")
    return tpl / "proj"


def place_case(case: Case, run_dir: Path, template: Path) -> list[Path]:
    shutil.copytree(template, run_dir / "proj", symlinks=True)
    (run_dir / "out").mkdir()
    (run_dir / "outside").mkdir(exist_ok=True)
    targets = []
    for where, rel in case.files:
        src = case.dir / where / rel
        base = {"images": run_dir / "proj" / "images", "input": run_dir / "input", "outside": run_dir / "outside"}[where]
        dst = base / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)
        if where != "outside" and rel.endswith(".json"):
            targets.append(dst)
    for link, target in case.symlinks:
        lp = run_dir / link
        lp.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target[4:] if target.startswith("REL:") else str(run_dir / target), lp)
    # the absolute path of a real image, for the case that asks for it
    for dst in targets:
        raw = dst.read_bytes()
        if b"@ABS@" in raw:
            dst.write_bytes(raw.replace(b"@ABS@", str(run_dir / "proj" / "images" / "a.png").encode()))
    return targets


def run_case(case: Case, work: Path, template: Path, runner: Runner, keep: bool) -> Result:
    start = time.perf_counter()
    res = Result(case)
    run_dir = work / "runs" / f"{case.idx:04d}"
    if run_dir.exists():
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True)
    db = run_dir / "proj" / "labeler.db"
    try:
        targets = place_case(case, run_dir, template)
        before_db, before_files = db_state(db), snapshot(run_dir)
        imp = runner.labeler(["import", run_dir / "proj", "--format", case.fmt, *targets], run_dir)
        res.outcome = classify(imp)
        res.last_line = imp.last_line
        after_db, after_files = db_state(db), snapshot(run_dir)
        changed = changes(before_files, after_files)
        outside = [c for c in changed if area_of(c) == "outside"]
        in_root = [c for c in changed if area_of(c) in ("root", "project")]
        if outside:
            res.flags["outside root"] = f"import wrote {', '.join(outside[:3])}"
        db_changed = after_db != before_db
        if imp.rc != 0 and (db_changed or in_root):
            what = (["database rows changed"] if db_changed else []) + [f"new/changed {c}" for c in in_root[:2]]
            res.flags["partial write"] = f"import exit {imp.rc} but {'; '.join(what)}"
        bad = integrity(db)
        if bad:
            res.flags["integrity"] = f"after import: {bad}"
        if "\x1b" in imp.stdout + imp.stderr:
            res.notes.append("raw ESC (terminal control) in the output")
        if max((len(l) for l in imp.stderr.splitlines()), default=0) > 1000:
            res.notes.append("a stderr line over 1000 characters")
        (run_dir / "logs").mkdir()
        (run_dir / "logs" / "import.stderr").write_text(imp.stderr[-20000:], errors="replace")
        (run_dir / "logs" / "import.stdout").write_text(imp.stdout[-20000:], errors="replace")

        # export, when the project may differ from the (known good) template
        if imp.rc == 0 or db_changed or in_root:
            out = run_dir / "out" / "export.json"
            exp = runner.labeler(["export", run_dir / "proj", out, "--all", "--rle"], run_dir)
            (run_dir / "logs" / "export.stderr").write_text(exp.stderr[-20000:], errors="replace")
            eo = classify(exp)
            if SEVERITY[eo] > SEVERITY[res.outcome]:
                res.outcome, res.stage, res.last_line = eo, "export", exp.last_line
            leftovers = [p.name for p in (run_dir / "out").iterdir() if p.name != "export.json"]
            if leftovers:
                res.flags["partial write"] = f"left next to the export: {', '.join(leftovers[:3])}"
            if exp.rc != 0 and out.exists():
                res.flags["wrong result"] = f"export exit {exp.rc} but {out.name} was written"
            after2 = snapshot(run_dir)
            outside2 = [c for c in changes(after_files, after2) if area_of(c) in ("outside", "root")]
            if outside2 and "outside root" not in res.flags:
                res.flags["outside root"] = f"export wrote {', '.join(outside2[:3])}"
            bad = integrity(db)
            if bad and "integrity" not in res.flags:
                res.flags["integrity"] = f"after export: {bad}"
            if exp.rc == 0 and out.exists():
                report = checker().check(out)
                if "crash" in report:
                    res.outcome, res.stage, res.last_line = "crash", "pycocotools", report["crash"]
                elif "error" in report:
                    res.flags.setdefault("wrong result", f"pycocotools cannot load the export: {report['error']}")
                elif report["problems"]:
                    res.flags.setdefault("wrong result", f"{report['problems'][0]}"
                                         + (f" (+{len(report['problems']) - 1} more)" if len(report["problems"]) > 1 else ""))
            elif exp.rc == 0:
                res.flags.setdefault("wrong result", "export exit 0 but no file")
    except Exception as exc:  # the harness itself: report, do not stop
        res.outcome, res.stage, res.last_line = "unclear", "harness", f"harness error: {type(exc).__name__}: {exc}"
    res.seconds = time.perf_counter() - start
    if not keep:
        shutil.rmtree(run_dir, ignore_errors=True)
    return res


# =========================================================================================
# kill -9 loops
# =========================================================================================

def big_coco(root: Path, seed: int) -> tuple[Path, Path]:
    """KILL_IMAGES images (160x120) with KILL_ANNOTATIONS polygons; returns (image dir, json)."""
    import cv2
    import numpy as np

    rng = random.Random(f"{seed}:kill")
    images = root / "images"
    images.mkdir(parents=True)
    nrng = np.random.default_rng(seed)
    coco_images, anns = [], []
    per = KILL_ANNOTATIONS // KILL_IMAGES
    for i in range(KILL_IMAGES):
        name = f"k{i:03d}.png"
        cv2.imwrite(str(images / name), nrng.integers(0, 255, (120, 160, 3), dtype=np.uint8))
        coco_images.append({"id": i + 1, "file_name": name, "width": 160, "height": 120})
        for _ in range(per):
            anns.append({"id": len(anns) + 1, "image_id": i + 1, "category_id": rng.choice([1, 2, 3]),
                         "segmentation": [rand_poly(rng, 160, 120, rng.randint(5, 12))], "iscrowd": 0})
    data = {"images": coco_images, "annotations": anns,
            "categories": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}, {"id": 3, "name": "c"}]}
    path = root / "big.json"
    path.write_bytes(dumps(data))
    return images, path


def count_instances(db: Path) -> int | None:
    try:
        con = sqlite3.connect(str(db))
        try:
            return con.execute("SELECT COUNT(*) FROM instances").fetchone()[0]
        finally:
            con.close()
    except sqlite3.Error:
        return None


@dataclass
class KillStats:
    name: str
    tried: int = 0
    ok: int = 0
    crash: int = 0        # the project no longer opens with the CLI
    partial: int = 0      # not all-or-nothing / torn export / leftover temporary files
    integrity: int = 0
    finished_before_kill: int = 0
    journal_left: int = 0
    leftovers: Counter = field(default_factory=Counter)
    counts_seen: Counter = field(default_factory=Counter)
    examples: list = field(default_factory=list)


def kill_loops(work: Path, runner: Runner, n: int, seed: int) -> tuple[KillStats, KillStats, dict]:
    rng = random.Random(f"{seed}:kills")
    root = work / "kill"
    images, big = big_coco(root, seed)
    tpl = root / "template"
    r = runner.labeler(["init", tpl, "--images", images], root)
    if r.rc != 0:
        sys.exit(f"reliability: cannot create the kill template: {r.last_line}")
    # calibrate: one full import and one full export
    full = root / "full"
    shutil.copytree(tpl, full)
    t = time.perf_counter()
    r = runner.labeler(["import", full, "--format", "coco", big], root, timeout=600)
    t_import = time.perf_counter() - t
    full_count = count_instances(full / "labeler.db")
    old_export = root / "old_export.json"
    t = time.perf_counter()
    r2 = runner.labeler(["export", full, old_export, "--all", "--rle"], root, timeout=600)
    t_export = time.perf_counter() - t
    info = {"import_s": t_import, "export_s": t_export, "import_rc": r.rc, "import_line": r.last_line,
            "export_rc": r2.rc, "imported": full_count}
    old_hash = hashlib.sha1(old_export.read_bytes()).hexdigest() if old_export.exists() else None

    imp, exp = KillStats("kill -9 import"), KillStats("kill -9 export")
    for i in range(n):
        # --- import
        kd = root / f"imp{i:03d}"
        shutil.copytree(tpl, kd)
        delay = rng.uniform(0.0, 1.3) * t_import
        p = runner.popen([sys.executable, "-m", "labeler", "import", str(kd), "--format", "coco", str(big)], root)
        time.sleep(delay)
        imp.tried += 1
        if p.poll() is not None:
            imp.finished_before_kill += 1
        else:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGKILL)
        p.communicate()
        problems = []
        left = [x.name for x in kd.iterdir() if x.name != "labeler.db"]
        if "labeler.db-journal" in left or "labeler.db-wal" in left:
            imp.journal_left += 1
        odd = [x for x in left if x not in DB_FILES]
        for x in odd:
            imp.leftovers[re.sub(r"\d+", "N", x)] += 1
        st = runner.labeler(["stats", kd], root, timeout=120)
        if st.rc != 0:
            imp.crash += 1
            problems.append(f"stats exit {st.rc}: {st.last_line}")
        count = count_instances(kd / "labeler.db")
        imp.counts_seen[count] += 1
        partial = count not in (0, full_count) or bool(odd)
        if count not in (0, full_count):
            problems.append(f"{count} of {full_count} instances after the kill at {delay:.2f} s")
        if odd:
            problems.append(f"left behind: {', '.join(odd[:3])}")
        bad = integrity(kd / "labeler.db")
        if bad:
            imp.integrity += 1
            problems.append(bad)
        imp.partial += partial
        if problems:
            imp.examples.append(f"run {i}, kill at {delay:.2f} s: " + "; ".join(problems))
        else:
            imp.ok += 1
        shutil.rmtree(kd, ignore_errors=True)

        # --- export (of the fully imported project), over an existing export half the time
        ed = root / f"exp{i:03d}"
        ed.mkdir()
        out = ed / "export.json"
        seeded = i % 2 == 0 and old_export.exists()
        if seeded:
            shutil.copyfile(old_export, out)
        delay = rng.uniform(0.0, 1.3) * t_export
        p = runner.popen([sys.executable, "-m", "labeler", "export", str(full), str(out), "--all", "--rle"], root)
        time.sleep(delay)
        exp.tried += 1
        if p.poll() is not None:
            exp.finished_before_kill += 1
        else:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGKILL)
        p.communicate()
        problems = []
        odd = [x.name for x in ed.iterdir() if x.name != "export.json"]
        for x in odd:
            exp.leftovers[re.sub(r"[A-Za-z0-9_]{6,}", "X", x)] += 1
        torn = False
        if out.exists():
            blob = out.read_bytes()
            if hashlib.sha1(blob).hexdigest() != old_hash:
                try:
                    got = len(json.loads(blob)["annotations"])
                    if got != full_count:
                        torn = True
                        problems.append(f"export has {got} of {full_count} annotations")
                except (ValueError, KeyError, TypeError):
                    torn = True
                    problems.append(f"export.json is not complete JSON ({len(blob)} bytes)")
            same = hashlib.sha1(blob).hexdigest() == old_hash
            exp.counts_seen["torn file" if torn else ("old or identical file" if same else "new file")] += 1
        else:
            exp.counts_seen["no file" if not seeded else "old file gone"] += 1
            if seeded:
                torn = True
                problems.append("the previous export.json disappeared")
        if odd:
            problems.append(f"left behind: {', '.join(odd[:3])}")
        bad = integrity(full / "labeler.db")
        if bad:
            exp.integrity += 1
            problems.append(bad)
        exp.partial += torn or bool(odd)
        if problems:
            exp.examples.append(f"run {i}, kill at {delay:.2f} s: " + "; ".join(problems))
        else:
            exp.ok += 1
        shutil.rmtree(ed, ignore_errors=True)
    return imp, exp, info


# =========================================================================================
# report
# =========================================================================================

def clean_text(s: str, limit: int = 220) -> str:
    """One printable line: control characters and surrogates escaped, long text cut."""
    s = s.encode("utf-8", "backslashreplace").decode("utf-8")
    s = "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in s[:limit * 2])
    return s if len(s) <= limit else s[:limit - 3] + "..."


def signature(line: str) -> str:
    """A last stderr line with paths and numbers blurred, to group failures."""
    s = re.sub(r"(/[^\s:'\"]+)+", "<path>", line)
    s = re.sub(r"\d+", "N", s)
    return clean_text(s, 150)


def print_report(results: list[Result], kills: tuple | None, seconds: float, examples: int, args) -> None:
    cols = ["tried", "clean", "clear error", "unclear", "traceback", "crash"] + FLAGS
    rows: dict[str, Counter] = defaultdict(Counter)
    for r in results:
        for key in (r.case.family, "TOTAL corpus"):
            rows[key]["tried"] += 1
            rows[key][r.outcome] += 1
            for f in r.flags:
                rows[key][f] += 1
    width = max([len(k) for k in rows] + [26])
    head = f"{'':<{width}} " + " ".join(f"{c:>{max(len(c), 5)}}" for c in cols)
    print()
    print(f"labeler reliability: {len(results)} corpus files, seed {args.seed}, {args.jobs} job(s), {seconds:.0f} s")
    print(head)
    print("-" * len(head))
    families = [f[0] for f in FAMILIES if f[0] in rows]
    for key in families + ["TOTAL corpus"]:
        if key == "TOTAL corpus":
            print("-" * len(head))
        print(f"{key:<{width}} " + " ".join(f"{rows[key][c]:>{max(len(c), 5)}}" for c in cols))
    if kills:
        imp, exp, info = kills
        for k in (imp, exp):
            vals = {"tried": k.tried, "clean": k.ok, "crash": k.crash, "partial write": k.partial,
                    "integrity": k.integrity}
            print(f"{k.name:<{width}} " + " ".join(f"{vals.get(c, '-'):>{max(len(c), 5)}}" for c in cols))
    print()
    print("clean/clear error/unclear/traceback/crash are exclusive (the worse of import and export counts);")
    print("wrong result/partial write/outside root/integrity are flags on top. Kill rows: clean = consistent,")
    print("crash = the project no longer opens, partial write = not all-or-nothing, torn export or leftover files.")

    notes = Counter(n for r in results for n in r.notes)
    if notes:
        print("notes (not counted above): " + "; ".join(f"{n}: {c}" for n, c in notes.items()))
    if kills:
        imp, exp, info = kills
        print()
        print(f"kill loops: a full import of {KILL_ANNOTATIONS} annotations took {info['import_s']:.1f} s "
              f"(exit {info['import_rc']}, {info['imported']} instances stored), the full export "
              f"{info['export_s']:.1f} s (exit {info['export_rc']}); kills at a uniform moment in [0, 1.3 x] that time")
        for k in (imp, exp):
            print(f"  {k.name}: {k.tried} runs, finished before the kill {k.finished_before_kill}, "
                  f"hot journal left (rolled back on the next open) {k.journal_left}, "
                  f"results {dict(k.counts_seen)}, leftover files {dict(k.leftovers) or 'none'}")

    print()
    print(f"examples (first {examples} of each bad outcome):")
    for outcome in ["traceback", "crash", "unclear", *FLAGS]:
        hits = [r for r in results if r.outcome == outcome or outcome in r.flags]
        if not hits:
            continue
        print(f"  {outcome} ({len(hits)}):")
        for r in hits[:examples]:
            detail = r.flags[outcome] if outcome in r.flags else f"[{r.stage}] {r.last_line}"
            print(f"    #{r.case.idx:04d} {r.case.family} / {clean_text(r.case.name, 70)}: {clean_text(detail)}")
    if kills:
        for k in kills[:2]:
            if k.examples:
                print(f"  {k.name} ({len(k.examples)} runs with a problem):")
                for e in k.examples[:examples]:
                    print(f"    {clean_text(e)}")

    groups: dict[str, list] = defaultdict(list)
    for r in results:
        if r.outcome in ("traceback", "crash", "unclear"):
            groups[f"{r.outcome} [{r.stage}] {signature(r.last_line)}"].append(r)
    if groups:
        print()
        print("traceback/crash/unclear grouped by the last stderr line (paths and numbers blurred):")
        for sig, rs in sorted(groups.items(), key=lambda kv: -len(kv[1]))[:25]:
            print(f"  {len(rs):4d}  {sig}   e.g. #{rs[0].case.idx:04d} {clean_text(rs[0].case.name, 50)}")
    slow = sorted(results, key=lambda r: -r.seconds)[:5]
    print()
    print("slowest cases: " + ", ".join(f"#{r.case.idx:04d} {clean_text(r.case.name, 40)} {r.seconds:.1f} s" for r in slow))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=520, help="corpus files (default 520)")
    parser.add_argument("--kills", type=int, default=40, help="kill -9 rounds, each one import and one export (default 40)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", type=Path, metavar="DIR", help="work here and keep everything")
    parser.add_argument("--jobs", type=int, default=1, help="corpus cases run in parallel (default 1)")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per command; past it the command "
                        "counts as a crash (hang) (default 30)")
    parser.add_argument("--mem-limit-mb", type=int, default=4096, help="address-space cap per command (0: none)")
    parser.add_argument("--examples", type=int, default=5, help="examples printed per bad outcome")
    parser.add_argument("--families", default="", help="only families whose name contains one of these (comma separated)")
    parser.add_argument("--check-exports", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.check_exports:  # the pycocotools check, in its own process
        check_exports_loop()
        return

    start = time.perf_counter()
    if args.keep:
        work = args.keep.resolve()
        if work.exists():
            shutil.rmtree(work)
        work.mkdir(parents=True)
    else:
        work = Path(tempfile.mkdtemp(prefix="labeler-reliability-"))
    runner = Runner(args.timeout, args.mem_limit_mb)
    _CHECKER_ARGS[:] = [runner, args.timeout]
    try:
        template = make_template(work, runner)
        fam_filter = [s.strip() for s in args.families.split(",") if s.strip()]
        cases = generate_corpus(work / "corpus", args.count, args.seed, fam_filter)
        print(f"corpus: {len(cases)} files in {work / 'corpus'} ({time.perf_counter() - start:.0f} s)", file=sys.stderr)
        results: list[Result] = []
        lock = threading.Lock()

        def one(case: Case) -> Result:
            r = run_case(case, work, template, runner, keep=bool(args.keep))
            with lock:
                results.append(r)
                if len(results) % 25 == 0 or len(results) == len(cases):
                    print(f"  {len(results)}/{len(cases)} cases, {time.perf_counter() - start:.0f} s", file=sys.stderr)
            return r

        with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            list(pool.map(one, cases))
        results.sort(key=lambda r: r.case.idx)
        for c in _all_checkers:
            c.close()
        kills = None
        if args.kills > 0:
            print(f"kill -9 loops: {args.kills} rounds", file=sys.stderr)
            kills = kill_loops(work, runner, args.kills, args.seed)
        print_report(results, kills, time.perf_counter() - start, args.examples, args)
        if args.keep:
            print(f"\neverything is in {work} (runs/NNNN: each case's project, stderr and export)")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
