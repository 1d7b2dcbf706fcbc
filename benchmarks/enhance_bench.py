"""MSRCR speed and accuracy: fast path vs the exact full-resolution computation, in one run.

    python benchmarks/enhance_bench.py [--repeat 15]

Prints, for synthetic 1080×720 night images (srn.data.synth):
  * median time of a full MSRCR (fast path) and of the exact path, and their ratio;
  * slider updates per second at display resolution (PreviewSession: a clip slider and a σ slider);
  * max / mean difference in grey levels between fast and exact outputs;
  * 4000×3000 MSRCR in a fresh process (first call, page faults included) and its peak memory;
  * the torch implementation on CPU (and CUDA when present), if available;
  * every other registered method (SCI, LIME, gamma, CLAHE) at 1080×720 with its defaults, numpy
    and torch on the CPU (LIME also solved at full resolution), and each torch path's difference.
Targets (issue 3): MSRCR 1080×720 ≤ 40 ms; ≥ 30 slider updates/s; ≤ 2 grey levels max and
≤ 0.1 mean from exact; 4000×3000 < 1.5 s. Issue 19: SCI 1080×720 ≤ 30 ms.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

import numpy as np
from timing import median_time

from srn.data.synth import SynthConfig, make_sample
from srn.enhance import METHODS, LIMEParams, MSRCPParams, MSRCRParams, MSRParams, RetinexCache, enhance
from srn.enhance.preview import PreviewSession

BIG_SCRIPT = """
import json, resource, sys, time
import cv2, numpy as np
from srn.data.synth import SynthConfig, make_sample
from srn.enhance import enhance
small = make_sample(0, 1, SynthConfig(width=1080, height=720)).night
big = cv2.resize(small, (4000, 3000), interpolation=cv2.INTER_LINEAR)
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t = time.perf_counter(); enhance(big); first = time.perf_counter() - t
t = time.perf_counter(); enhance(big); second = time.perf_counter() - t
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"first": first, "second": second, "peak_mb": peak / 1024, "extra_mb": (peak - base) / 1024}))
"""


def median_ms(fn, repeat: int) -> float:
    return 1000 * median_time(fn, repeat)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--images", type=int, default=3, help="night images for the accuracy check")
    args = parser.parse_args()
    config = SynthConfig(width=1080, height=720)
    images = [make_sample(7, i, config).night for i in range(1, args.images + 1)]
    image = images[0]

    print("== 1080x720 full enhancement (median ms; exact = full-resolution float64 surrounds)")
    for params in (MSRCRParams(), MSRParams(), MSRCPParams(), MSRCRParams(output="auto")):
        fast = median_ms(lambda params=params: enhance(image, params), args.repeat)
        exact = median_ms(lambda params=params: enhance(image, params, exact=True), max(3, args.repeat // 5))
        name = f"{params.method}/{getattr(params, 'output', 'balance')}"
        print(f"{name:16s} fast {fast:7.1f} ms   exact {exact:7.1f} ms   exact/fast {exact / fast:5.1f}x")

    print("== accuracy, fast vs exact, grey levels")
    for params in (MSRCRParams(), MSRParams(), MSRCPParams(), MSRCRParams(output="auto")):
        worst, means = 0, []
        for img in images:
            d = np.abs(enhance(img, params).astype(int) - enhance(img, params, exact=True).astype(int))
            worst, means = max(worst, int(d.max())), means + [float(d.mean())]
        name = f"{params.method}/{getattr(params, 'output', 'balance')}"
        print(f"{name:16s} max {worst}   mean {np.mean(means):.3f}   ({len(images)} images)")

    print("== slider updates at display resolution (PreviewSession, cache reused)")
    session = PreviewSession(image)
    base = MSRCRParams()
    session.render(base)
    clips = iter(np.linspace(0.2, 5.0, 10_000))
    clip_ms = median_ms(lambda: session.render(base.replace(low_clip=float(next(clips)))), args.repeat)
    print(f"clip slider  {clip_ms:6.1f} ms/update = {1000 / clip_ms:5.1f} updates/s")
    # Each σ slider dragged over its range in 1 % steps: every update needs a new surround.
    for slot, (lo, hi) in enumerate(((5.0, 40.0), (40.0, 160.0), (150.0, 400.0))):
        values = iter(np.geomspace(lo, hi, 10_000)[:: 10_000 // (args.repeat + 2)])

        def move(slot=slot, values=values):
            sigmas = list(base.sigmas)
            sigmas[slot] = float(next(values))
            session.render(base.replace(sigmas=tuple(sigmas)))

        ms = median_ms(move, args.repeat)
        print(f"sigma {slot + 1} slider ({lo:g}..{hi:g}) {ms:6.1f} ms/update = {1000 / ms:5.1f} updates/s")
    cold = median_ms(lambda: enhance(image, base, cache=RetinexCache(image)), args.repeat)
    print(f"(no cache    {cold:6.1f} ms/update)")

    print("== 4000x3000 MSRCR in a fresh process")
    out = subprocess.run([sys.executable, "-c", BIG_SCRIPT], capture_output=True, text=True, check=True)
    big = json.loads(out.stdout)
    print(f"first call {big['first']:.2f} s, second {big['second']:.2f} s, "
          f"peak RSS {big['peak_mb']:.0f} MB ({big['extra_mb']:.0f} MB above the loaded input)")

    try:
        import torch

        from srn.enhance import torch_ops  # noqa: F401
    except ImportError as exc:
        print(f"== torch: skipped ({exc})")
        return
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    print("== torch implementation (same function, device=...)")
    for device in devices:
        def run(device=device):
            out = enhance(image, base, device=device)
            if device == "cuda":
                torch.cuda.synchronize()
            return out

        ms = median_ms(run, args.repeat)
        d = np.abs(run().astype(int) - enhance(image, base).astype(int))
        print(f"{device:5s} {ms:7.1f} ms/image   vs numpy fast path: max {d.max()} mean {d.mean():.3f}")

    print("== the other methods, 1080x720, defaults (median ms; torch on the CPU)")
    others = [m.params_type() for m in METHODS.values() if not m.uses_retinex_cache]
    for params in [*others, LIMEParams(scale=1.0)]:
        repeat = max(3, args.repeat // 5) if params.method == "lime" else args.repeat
        numpy_ms = median_ms(lambda params=params: enhance(image, params), repeat)
        torch_ms = median_ms(lambda params=params: enhance(image, params, device="cpu"), repeat)
        d = np.abs(enhance(image, params, device="cpu").astype(int) - enhance(image, params).astype(int))
        name = params.method + (" (full-res solve)" if getattr(params, "scale", 0.5) == 1.0 else "")
        target = "   target <= 30 ms" if params.method == "sci" else ""
        print(f"{name:22s} numpy {numpy_ms:7.1f} ms   torch {torch_ms:7.1f} ms   torch vs numpy max {d.max()}{target}")


if __name__ == "__main__":
    main()
