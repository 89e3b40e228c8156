"""The COCO families of the reliability corpus (benchmarks/reliability.py)."""

import json




from _reliability_corpus import HUGE_FLOATS, NONFINITE, Raw, Spec, base_coco, coco, dumps, huge_int, mask_runs, png_bytes, rle_string  # noqa: E402

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


