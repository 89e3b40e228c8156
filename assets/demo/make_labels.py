"""How assets/demo/labels.json was made (run once; the output is committed).

Segments the coins in coins.png with OpenCV (blur, Canny edges, closing, hole filling,
opening to cut the bridges between touching coins) and writes the first 16 coins, in
reading order, as COCO polygons. The other 8 coins are left for a person to label in
the demo. Run from the repository root: python assets/demo/make_labels.py
"""

import json
from pathlib import Path

import cv2
import numpy as np

from labeler import geometry

HERE = Path(__file__).parent
LABELED = 16


def coin_masks(gray: np.ndarray) -> list[np.ndarray]:
    edges = cv2.Canny(cv2.GaussianBlur(gray, (5, 5), 0), 50, 150)
    closed = cv2.morphologyEx(edges, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5)),
                              iterations=2)
    outside = closed.copy()
    cv2.floodFill(outside, np.zeros((gray.shape[0] + 2, gray.shape[1] + 2), np.uint8), (0, 0), 255)
    filled = closed | cv2.bitwise_not(outside)
    opened = cv2.morphologyEx(filled, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (11, 11)))
    n, labels, stats, centroids = cv2.connectedComponentsWithStats((opened > 0).astype(np.uint8))
    coins = [i for i in range(1, n) if stats[i, cv2.CC_STAT_AREA] > 500]
    # Reading order: rows of coins (a new row where the centres jump down), left to right.
    coins.sort(key=lambda i: centroids[i][1])
    rows, row = [], []
    for i in coins:
        if row and centroids[i][1] - centroids[row[-1]][1] > 30:
            rows.append(row)
            row = []
        row.append(i)
    rows.append(row)
    ordered = [i for r in rows for i in sorted(r, key=lambda i: centroids[i][0])]
    return [(labels == i).astype(np.uint8) for i in ordered]


def main() -> None:
    gray = cv2.imread(str(HERE / "images" / "coins.png"), cv2.IMREAD_GRAYSCALE)
    masks = coin_masks(gray)
    print(f"found {len(masks)} coins; labeling {LABELED}")
    annotations = []
    for k, mask in enumerate(masks[:LABELED], 1):
        poly = geometry.mask_to_polygons(mask, tolerance=1.0)
        annotations.append({
            "id": k, "image_id": 1, "category_id": 1, "iscrowd": 0,
            "segmentation": [[round(c, 1) for xy in part[0] for c in xy] for part in poly.parts],
            "area": geometry.area(poly), "bbox": list(geometry.bbox(poly)),
        })
    h, w = gray.shape
    coco = {
        "images": [{"id": 1, "file_name": "coins.png", "width": w, "height": h}],
        "annotations": annotations,
        "categories": [{"id": 1, "name": "coin"}, {"id": 2, "name": "cup"}, {"id": 3, "name": "cat"}],
    }
    (HERE / "labels.json").write_text(json.dumps(coco, indent=1) + "\n")


if __name__ == "__main__":
    main()
