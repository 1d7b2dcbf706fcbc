"""Throughput of the synthetic data generator (images per second, one process).

    python benchmarks/bench_synth.py [--n 20]

Prints one line per image size: seconds per day/night pair (generation + PNG encoding + label
writing, as ``srn synth`` does it) and the ratio between the two sizes in the same run.
"""

from __future__ import annotations

import argparse
import tempfile
import time

from srn.data import sources
from srn.data.synth import SynthConfig, write_dataset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20)
    args = parser.parse_args()
    sources.backgrounds(), sources.face_crops()  # load scikit-image data outside the timing
    timings = {}
    for width, height in ((640, 427), (1080, 720)):
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            write_dataset(tmp, n=args.n, seed=0, config=SynthConfig(width=width, height=height))
            per_image = (time.perf_counter() - start) / args.n
        timings[(width, height)] = per_image
        print(f"{width}x{height}: {per_image * 1000:.1f} ms per day/night pair ({1 / per_image:.1f} pairs/s)")
    ratio = timings[(1080, 720)] / timings[(640, 427)]
    print(f"1080x720 / 640x427 time ratio: {ratio:.2f} (pixel ratio {1080 * 720 / (640 * 427):.2f})")


if __name__ == "__main__":
    main()
