"""The labelme families of the reliability corpus, the family table and the corpus
generator (benchmarks/reliability.py)."""

import io
import random
from collections import Counter
from dataclasses import dataclass
from pathlib import Path




from _reliability_coco import EMPTY_VARIANTS, f_coco_10mb, f_coco_20000_parts, f_coco_binary, f_coco_classname_unicode, f_coco_coord_float, f_coco_dup_ids, f_coco_empty, f_coco_file_names, f_coco_huge_int, f_coco_id_container, f_coco_image_mismatch, f_coco_missing_key, f_coco_nested, f_coco_nonfinite, f_coco_polygon_odd, f_coco_polygon_outside, f_coco_rle_garbage, f_coco_rle_size, f_coco_rle_uncompressed, f_coco_selfintersect, f_coco_truncated, f_coco_wrong_type, garbage, nested  # noqa: E402
from _reliability_corpus import Raw, b64, base_labelme, dumps, huge_png, labelme, png_bytes  # noqa: E402

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


