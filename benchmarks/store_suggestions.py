"""What writing a model's suggestions into the project costs, per image: store_suggestions
(one transaction: the shape check, serialising, area and box, the INSERTs, the image's
status) for 10 and for 100 suggestions of 30-vertex polygons on a 1066 x 800 image with
no labels yet. At 60 images/s the pre-labeler's main thread has 16.7 ms per image in all,
so this is one of the CPU-side costs a GPU run cannot hide.

    python benchmarks/store_suggestions.py [--images 100]
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from labeler.core import ImageRecord, Polygons  # noqa: E402
from labeler.store import ProjectStore  # noqa: E402
from labeler.store.proposals import Suggestion, store_suggestions  # noqa: E402


def polygon(rng: np.random.Generator) -> Polygons:
    cx, cy = rng.uniform(100, 900), rng.uniform(100, 700)
    angles, radii = np.sort(rng.uniform(0, 2 * math.pi, 30)), rng.uniform(20, 80, 30)
    return Polygons(((tuple((float(cx + r * math.cos(a)), float(cy + r * math.sin(a)))
                            for a, r in zip(angles, radii)),),))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=100, help="images timed per count")
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as work:
        (Path(work) / "images").mkdir()
        with ProjectStore.create(Path(work) / "project", Path(work) / "images", ["a", "b"]) as store:
            images = store.add_images(ImageRecord(None, f"{k}.jpg", 1066, 800) for k in range(2 * args.images))
            for n, batch in ((10, images[:args.images]), (100, images[args.images:])):
                suggestions = [Suggestion(1 + k % 2, polygon(rng), 0.5) for k in range(n)]
                times = []
                for image in batch:
                    start = time.perf_counter()
                    store_suggestions(store, image.id, 0, suggestions)
                    times.append(time.perf_counter() - start)
                print(f"{n:>3} suggestions per image: median {np.median(times) * 1e3:.1f} ms, "
                      f"p90 {np.percentile(times, 90) * 1e3:.1f} ms ({len(batch)} images)")


if __name__ == "__main__":
    main()
