"""Parse time of a WIDER FACE training ground-truth file of the real size.

Generates a synthetic ``wider_face_train_bbx_gt.txt`` with the statistics of the real one
(12,880 images in 61 events, ~159k faces, a long-tailed face count per image, some images with
no face) into a temporary folder and times ``srn.formats.wider.read_gt`` on it.

    PYTHONPATH=. python benchmarks/formats_bench.py [--images 12880] [--repeat 3]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np


def synthetic_gt(path: Path, images: int, seed: int = 0) -> int:
    """Write a synthetic WIDER-like ground-truth file; returns the number of faces."""
    rng = np.random.default_rng(seed)
    counts = np.minimum(rng.geometric(1 / 13.4, size=images) - 1, 1968)  # mean ~12.4 (159k) faces per image
    lines, faces = [], 0
    for i, count in enumerate(counts):
        event = i % 61
        lines.append(f"{event}--Event{event}/{event}_Event_image_{i}.jpg")
        lines.append(str(count))
        if count == 0:
            lines.append("0 0 0 0 0 0 0 0 0 0 ")
            continue
        xy = rng.integers(0, 1000, size=(count, 2))
        wh = np.maximum(1, rng.lognormal(3.0, 1.0, size=(count, 2)).astype(int))
        attrs = rng.integers(0, 3, size=(count, 6))
        attrs[:, 1] = attrs[:, 3] = rng.integers(0, 2, size=count)
        for (x, y), (w, h), a in zip(xy, wh, attrs):
            lines.append(f"{x} {y} {w} {h} {a[0]} {a[1]} {a[2]} {a[3]} {a[4]} {a[5]} ")
        faces += int(count)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return faces


def main() -> None:
    from srn.formats import wider

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=12880)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "wider_face_train_bbx_gt.txt"
        faces = synthetic_gt(path, args.images)
        size_mb = path.stat().st_size / 1e6
        times = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            records = wider.read_gt(path)
            times.append(time.perf_counter() - start)
        assert len(records) == args.images and sum(len(r.boxes) for r in records) == faces
    print(f"read_gt: {args.images} images, {faces} faces, {size_mb:.1f} MB: "
          f"best {min(times):.3f} s, median {sorted(times)[len(times) // 2]:.3f} s of {args.repeat}")


if __name__ == "__main__":
    main()
