"""Intelligent scissors: the polygon segment from the last vertex to the cursor follows
edges (OpenCV `cv2.segmentation.IntelligentScissorsMB`).

The costs, measured by `benchmarks/assist.py --parts tools` on this 2-core AMD EPYC (a
benchmark photo resized; OpenCV 5.0): on the whole of a 1-megapixel image, applyImage (edge
features) 18-25 ms, buildMap (the shortest paths from a fixed vertex to every pixel) 220 ms,
getContour (one path read back from the map) 0.01-0.07 ms; on a 12-megapixel image 280-570
ms, 3.9-4.4 s and 0.02 ms. So the features are computed on a window of at most `window` x
`window` pixels around the fixed vertex (the whole image when it is smaller), recomputed
only when a new vertex comes near the window's edge: `fix()` then costs 200-260 ms with the
default 1024 window on either image (130 ms at 768, 55 ms at 512) and belongs on a worker
thread; `path_to()` (0.02 ms, at most 0.4) is what the live preview calls on every mouse
move. A cursor outside the window gets the edge path to the nearest window pixel, then a
straight step to the cursor.

One instance per image and person; no shared state (usable from one worker thread at a
time: OpenCV's object is not safe for concurrent calls).
"""

from __future__ import annotations

import cv2
import numpy as np

DEFAULT_WINDOW = 1024


class Scissors:
    def __init__(self, image: np.ndarray, window: int = DEFAULT_WINDOW,
                 canny: tuple[float, float] | None = (32.0, 100.0), gradient_limit: float = 200.0):
        """`image` BGR or grey uint8. `canny` (low, high) switches OpenCV's edge feature from
        the Laplacian zero-crossings of the original article to Canny edges; `gradient_limit`
        caps the gradient magnitude feature, so one high-contrast edge does not make every
        other edge look weak. The defaults are the settings commonly used with this class in
        public code (Canny 32/100, limit 200), not tuned here."""
        if image.dtype != np.uint8 or image.ndim not in (2, 3):
            raise ValueError("scissors need an 8-bit image with 1 or 3 channels")
        self._image = image
        self._window = int(window)
        self._canny = canny
        self._gradient_limit = gradient_limit
        self._tool: cv2.segmentation.IntelligentScissorsMB | None = None
        self._roi: tuple[int, int, int, int] | None = None  # x, y, w, h of the features
        self._anchor: tuple[int, int] | None = None

    @property
    def anchor(self) -> tuple[int, int] | None:
        """The fixed vertex (pixel) the paths start from, None before fix()."""
        return self._anchor

    @property
    def roi(self) -> tuple[int, int, int, int] | None:
        return self._roi

    def fix(self, x: float, y: float) -> None:
        """Fix a vertex at image coordinates (x, y): the slow step (features if the vertex
        leaves the current window, then the shortest-path map)."""
        h, w = self._image.shape[:2]
        px, py = int(np.clip(np.floor(x), 0, w - 1)), int(np.clip(np.floor(y), 0, h - 1))
        if self._roi is None or not _inside(self._roi, px, py, self._window // 8, (h, w)):
            self._apply(px, py)
        rx, ry, _, _ = self._roi
        self._tool.buildMap((px - rx, py - ry))
        self._anchor = (px, py)

    def path_to(self, x: float, y: float) -> np.ndarray:
        """The edge-following path from the fixed vertex to the cursor, as an (N, 2) int32
        array of pixel (x, y) from the vertex to the cursor (pixel indices: add 0.5 for
        the pixel centres)."""
        if self._anchor is None:
            raise RuntimeError("fix() a vertex first")
        h, w = self._image.shape[:2]
        tx, ty = int(np.clip(np.floor(x), 0, w - 1)), int(np.clip(np.floor(y), 0, h - 1))
        rx, ry, rw, rh = self._roi
        cx, cy = int(np.clip(tx, rx, rx + rw - 1)), int(np.clip(ty, ry, ry + rh - 1))
        contour = self._tool.getContour((cx - rx, cy - ry), backward=False)
        path = contour.reshape(-1, 2).astype(np.int32) + np.array([rx, ry], np.int32)
        if len(path) == 0 or tuple(path[0]) != self._anchor:
            path = np.vstack([np.array([self._anchor], np.int32), path])
        if (cx, cy) != (tx, ty):
            path = np.vstack([path, np.array([[tx, ty]], np.int32)])
        return path

    def _apply(self, px: int, py: int) -> None:
        h, w = self._image.shape[:2]
        ww, wh = min(w, self._window), min(h, self._window)
        x0 = int(np.clip(px - ww // 2, 0, w - ww))
        y0 = int(np.clip(py - wh // 2, 0, h - wh))
        tool = cv2.segmentation.IntelligentScissorsMB()
        tool.setWeights(0.43, 0.43, 0.14)  # the article's weights (OpenCV's defaults)
        if self._gradient_limit:
            tool.setGradientMagnitudeMaxLimit(self._gradient_limit)
        if self._canny is not None:
            tool.setEdgeFeatureCannyParameters(*self._canny)
        tool.applyImage(np.ascontiguousarray(self._image[y0:y0 + wh, x0:x0 + ww]))
        self._tool, self._roi = tool, (x0, y0, ww, wh)


def _inside(roi: tuple[int, int, int, int], x: int, y: int, margin: int, size: tuple[int, int]) -> bool:
    """Is (x, y) inside the window and at least `margin` from each window edge that is not
    an image edge (so that a path from it has room to go round)?"""
    rx, ry, rw, rh = roi
    h, w = size
    lo_x, hi_x = rx + (margin if rx > 0 else 0), rx + rw - (margin if rx + rw < w else 0)
    lo_y, hi_y = ry + (margin if ry > 0 else 0), ry + rh - (margin if ry + rh < h else 0)
    return lo_x <= x < hi_x and lo_y <= y < hi_y
