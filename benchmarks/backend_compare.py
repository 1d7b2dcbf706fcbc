"""The backends section of ``detect_bench.py``: torch vs OpenVINO at each precision, on the CPU.

    python benchmarks/backend_compare.py [--repeat 3] [--stream 32]     # this section alone

Everything in one process on the same input (a synthetic 1080×720 scene), median of
``--repeat`` timed runs after one warm-up; compiled models go to a temporary cache, so every
conversion and check is measured from scratch (and printed as such).
"""

from __future__ import annotations

import argparse
import functools
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from timing import best_time, median_time
from torch.utils.flop_counter import FlopCounterMode

from srn.data.synth import make_sample
from srn.engine.backends import openvino_backend
from srn.engine.backends.agreement import agreement
from srn.engine.detector import Detector
from srn.engine.shipped_models import demo_model_path
from srn.eval.synthetic import NIGHT_SET, ap_on_night_set, write_night_set
from srn.imageio import write_image
from srn.model.config import SRNConfig
from srn.model.srn_net import SRN


def network_gflop(model: SRN, height: int, width: int) -> float:
    """FLOPs of one selective forward pass (torch's counter: 2 per multiply-add)."""
    x = torch.zeros(1, 3, height, width)
    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        model(x)
    return counter.get_total_flops() / 1e9


def peak_gflops(repeat: int = 7) -> dict[str, float]:
    """What this process gets from a large matmul on all its threads, per precision (the
    fastest of ``repeat``): the attainable peak the network's GFLOP/s are set against. int8 is
    torch's int8 × int8 → int32 matmul (``torch._int_mm``) where this torch has it on the CPU."""
    n = 2048
    a, b = torch.randn(n, n), torch.randn(n, n)
    pairs = {"fp32": (a, b), "bf16": (a.bfloat16(), b.bfloat16())}
    peaks = {}
    for precision, (x, y) in pairs.items():
        peaks[precision] = 2 * n**3 / best_time(lambda x=x, y=y: x @ y, repeat) / 1e9
    ai, bi = (torch.randint(-128, 128, (n, n), dtype=torch.int8) for _ in range(2))
    try:
        peaks["int8"] = 2 * n**3 / best_time(lambda: torch._int_mm(ai, bi), repeat) / 1e9
    except (RuntimeError, AttributeError):
        pass
    return peaks


def share(gflops: float, peak: dict[str, float], precision: str) -> str:
    """``gflops`` as a share of ``precision``'s measured peak (oneDNN's convolutions can beat a matmul)."""
    if precision not in peak:
        return f"no {precision} peak measured"
    return f"{100 * gflops / peak[precision]:3.0f} % of the {precision} peak"


def compare_backends(model: SRN, args, label: str = "ResNet-50, random weights") -> None:
    peak = peak_gflops()
    runs = ", ".join(openvino_backend.available_precisions())
    peaks = ", ".join(f"{p} {v:.0f}" for p, v in peak.items())
    print(f"\n== backends on the CPU ({torch.get_num_threads()} threads; large-matmul peak GFLOP/s: {peaks}; "
          f"openvino {openvino_backend.openvino_version()}; can run {runs})")
    scenes = [np.ascontiguousarray(make_sample(seed=4242, index=i, config=NIGHT_SET).day) for i in range(2)]
    demo = Detector.from_checkpoint(demo_model_path(), device="cpu").model
    for name, net in (("demo model (ResNet-18, trained)", demo), (f"authors' architecture ({label})", model)):
        one_model(name, net, scenes, args, peak)


def one_model(name: str, model: SRN, scenes: list[np.ndarray], args, peak: dict[str, float]) -> None:
    image = scenes[0]
    gflop = network_gflop(model, *image.shape[:2])
    print(f"\n-- {name}: {gflop:.0f} GFLOP per 1080×720 image")
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp) / "compiled"
        torch_det = Detector(model, device="cpu")
        reference = [torch_det.detect(s)[0] for s in scenes]
        base = median_time(lambda: torch_det.detect(image), args.repeat)
        print(f"{'torch fp32 (default)':28s} {base:7.2f} s/image  1.00x  {gflop / base:6.0f} GFLOP/s "
              f"({share(gflop / base, peak, 'fp32')})")
        nchw = Detector(model, device="cpu", channels_last=False)
        floor = agreement(reference, [nchw.detect(s)[0] for s in scenes])
        print(f"{'':28s} the float-reordering floor: torch NCHW vs its channels_last default keeps "
              f"{floor.twin_fraction:.1%} (where this is under 98 % the weights' scores are tied and no "
              "agreement check means anything)")
        built = {}
        for precision in ("fp32", "bf16", "int8"):
            reason = openvino_backend.why_unavailable(precision)
            if reason:
                print(f"{'openvino ' + precision:28s} not run: {reason}")
                continue
            start = time.perf_counter()
            det = Detector(model, device="cpu", backend="openvino", precision=precision, cache_dir=cache,
                           sample_images=scenes)
            prepared = time.perf_counter() - start
            built[precision] = det
            t = median_time(lambda d=det: d.detect(image), args.repeat)
            agree = agreement(reference, [det.detect(s)[0] for s in scenes])
            print(f"{'openvino ' + precision:28s} {t:7.2f} s/image  {base / t:4.2f}x  {gflop / t:6.0f} GFLOP/s "
                  f"({share(gflop / t, peak, precision)}); first build {prepared:.1f} s; "
                  f"{'PASSES' if agree.passed else 'FAILS'}: {agree.describe()}")
        start = time.perf_counter()
        auto = Detector(model, device="cpu", backend="auto", precision="auto", cache_dir=cache, sample_images=scenes)
        check = time.perf_counter() - start
        start = time.perf_counter()
        Detector(model, device="cpu", backend="auto", precision="auto", cache_dir=cache)
        second = time.perf_counter() - start
        t_auto = median_time(lambda: auto.detect(image), args.repeat)
        print(f"auto picks {auto.backend.describe()} ({auto.choice.reason}): {t_auto:.2f} s/image, "
              f"{base / t_auto:.2f}x torch; first start {check:.1f} s (check included), second start {second:.2f} s")
        if not args.skip_multiscale:
            ms_torch = median_time(lambda: torch_det.detect(image, mode="multiscale", max_size=args.max_size), 1)
            ms_auto = median_time(lambda: auto.detect(image, mode="multiscale", max_size=args.max_size), 1)
            print(f"multi-scale (max_size {args.max_size}): torch {ms_torch:.1f} s, auto {ms_auto:.1f} s "
                  f"({ms_torch / ms_auto:.2f}x)")
        stream(model, scenes, args, cache, base)
        if "demo" in name:
            held_out(built, args)
            if not args.skip_shapes:
                shape_policy(model, scenes, args)


def compiled_request(core, ir, settings: dict, shape=None):
    """An infer request of ``ir`` (made static at ``shape`` if given) and its compile seconds."""
    graph = ir
    if shape is not None:
        graph = ir.clone()
        graph.reshape(list(shape))
    start = time.perf_counter()
    request = core.compile_model(graph, "CPU", settings).create_infer_request()
    return request, time.perf_counter() - start


def shape_policy(model: SRN, scenes, args) -> None:
    """Dynamic height and width (what the backend compiles) vs a static shape per padded bucket
    (sides rounded up to 128), and vs a static shape of exactly the image's size (the cost of
    being dynamic): the network alone, fp32 and bf16, on the 1080×720 scene and a 900×600 crop,
    with the first dynamic call at each size and each static compile (a bucket's price)."""
    import openvino as ov

    ir = openvino_backend.convert(model)
    sizes = [scenes[0], np.ascontiguousarray(scenes[1][:600, :900])]
    for precision in ("fp32", "bf16"):
        if openvino_backend.why_unavailable(precision):
            continue
        core = ov.Core()
        settings = {"INFERENCE_PRECISION_HINT": openvino_backend.PRECISION_HINT[precision],
                    "PERFORMANCE_HINT": "LATENCY"}
        compiled = functools.partial(compiled_request, core, ir, settings)
        dynamic, _ = compiled()
        cells = []
        for image in sizes:
            h, w = image.shape[:2]
            batch = image[None]
            start = time.perf_counter()
            dynamic.infer([batch])
            first_dynamic = time.perf_counter() - start
            t_dynamic = median_time(lambda r=dynamic, b=batch: r.infer([b]), args.repeat)
            bh, bw = -(-h // 128) * 128, -(-w // 128) * 128
            padded = np.zeros((1, bh, bw, 3), np.uint8)
            padded[0, :h, :w] = image
            bucket, compile_s = compiled(padded.shape)
            t_static = median_time(lambda r=bucket, b=padded: r.infer([b]), args.repeat)
            exact, _ = compiled(batch.shape)
            t_exact = median_time(lambda r=exact, b=batch: r.infer([b]), args.repeat)
            cells.append(f"{w}×{h}: dynamic {t_dynamic:.3f} s (first call {first_dynamic:.2f} s), "
                         f"static {bw}×{bh} bucket {t_static:.3f} s (+{compile_s:.1f} s to compile), "
                         f"static at exactly {w}×{h} {t_exact:.3f} s")
        print(f"shapes, {precision}: " + "; ".join(cells))


def stream(model: SRN, scenes, args, cache: Path, base: float) -> None:
    """images/s of ``detect_files`` over ``--stream`` files (decode on threads, requests in flight)."""
    with tempfile.TemporaryDirectory() as tmp:
        paths = [write_image(Path(tmp) / f"{i}.png", scenes[i % len(scenes)]) for i in range(args.stream)]
        det = Detector(model, device="cpu", backend="auto", precision="auto", cache_dir=cache, hint="THROUGHPUT")
        start = time.perf_counter()
        done = sum(r.error is None for r in det.detect_files(paths))
        rate = done / (time.perf_counter() - start)
        print(f"streaming {args.stream} files ({det.backend.describe()}, throughput hint): {rate:.2f} images/s "
              f"({rate * base:.2f}x torch's single-image rate)")


def held_out(built: dict, args) -> None:
    """AP@0.5 of the demo model on 20 held-out synthetic night scenes (MSRCR), per precision."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = write_night_set(Path(tmp) / "held_out", 20, seed=7)
        ap = {"torch fp32": ap_on_night_set(demo_model_path(), folder, enhanced=True)}
        for precision, det in built.items():
            ap[f"openvino {precision}"] = ap_on_night_set(demo_model_path(), folder, enhanced=True, detector=det)
        base = ap["torch fp32"]
        print("demo model AP@0.5 on 20 held-out MSRCR night scenes (seed 7): "
              + ", ".join(f"{k} {v:.4f} ({100 * (v - base):+.2f} points)" for k, v in ap.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--stream", type=int, default=32)
    parser.add_argument("--max-size", type=int, default=1400)
    parser.add_argument("--skip-multiscale", action="store_true")
    parser.add_argument("--skip-shapes", action="store_true", help="no dynamic-shape vs padded-bucket timing")
    args = parser.parse_args()
    torch.manual_seed(0)
    model = SRN(SRNConfig(backbone="resnet50"))
    with torch.no_grad():  # detect_bench.py's classifier: many anchors over threshold, scores tied (timing only)
        model.cls_subnet_pred.weight.normal_(0.0, 0.5)
        model.cls_subnet_pred.bias.fill_(-2.0)
    compare_backends(model.eval(), args)


if __name__ == "__main__":
    main()
