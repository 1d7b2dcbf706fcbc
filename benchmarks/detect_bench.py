"""SRN inference speed: our computation vs the authors' naive one vs torchvision's RetinaNet,
and on the CPU the inference backends (torch vs OpenVINO at each precision).

    python benchmarks/detect_bench.py [--repeat 3] [--device cpu] [--skip-multiscale]
                                      [--skip-retinanet] [--skip-backends] [--stream 32]
                                      [--precision fp16 --batch 8]    # on a GPU

Same random weights (seeded), same synthetic 1080×720 night image, one run. Prints median
seconds per image for:
  * ours: the Detector's default — first-step subnets only where SRN uses them (selective),
    channels_last memory format;
  * naive: every subnet on every level in NCHW, as the authors' code computes it;
  * ours in NCHW (to separate the two speed-ups) and torchvision's RetinaNet-R50-FPN;
plus the ratios, the share of pre- and post-processing, how far our detections are from the
naive ones, and the multi-scale time at --max-size.
Goals (issue 4): CPU ≥ 1.3× faster than naive with identical detections, post-processing < 5 %;
CUDA fp16 batch 8 ≥ 100 images/s on an H100-class GPU.

Backends (issue 17, CPU only): on the shipped demo model (trained, so its scores are not tied)
and on the authors' architecture (ResNet-50, the random weights above), each of torch default,
OpenVINO fp32, bf16 (where native) and int8 (where NNCF is installed): s/image, the ratio to
torch, GFLOP/s against this process's large-matmul peak for that precision, and beside each its
agreement with torch fp32 (the ``precision="auto"`` check); what ``auto`` picks and its multi-scale time;
the streaming path's images/s over ``--stream`` files; and the demo model's AP@0.5 on 20
held-out synthetic night scenes per precision. Goal: auto ≥ 3× torch where its check passes,
≥ 1.5× with fp32 alone.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from srn.data.synth import SynthConfig, make_sample
from srn.engine import postprocess
from srn.engine.detector import Detector
from srn.model.config import SRNConfig
from srn.model.srn_net import SRN


def timed(fn, repeat: int, sync) -> float:
    fn()
    sync()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def compare(a, b) -> str:
    """How two detection lists differ: counts, then how many boxes have a twin (any order) within
    1e-3 px, and the largest score difference between twins."""
    parts = []
    for x, y in zip(a, b):
        if len(x.scores) != len(y.scores):
            parts.append(f"different box counts ({len(x.scores)} vs {len(y.scores)})")
            continue
        if not len(x.scores):
            parts.append("no boxes on either side")
            continue
        dist = torch.cdist(x.boxes.double(), y.boxes.double(), p=float("inf"))
        nearest, twin = dist.min(dim=1)
        matched = nearest <= 1e-3
        score_gap = float((x.scores[matched] - y.scores[twin[matched]]).abs().max()) if matched.any() else float("nan")
        parts.append(f"{int(matched.sum())} of {len(x.scores)} boxes have a twin within 1e-3 px "
                     f"(max score difference {score_gap:.1e})")
    return "; ".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--device", default=None)
    parser.add_argument("--backbone", default="resnet50")
    parser.add_argument("--precision", default="fp32", choices=["fp32", "fp16", "bf16"])
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--max-size", type=int, default=1400)
    parser.add_argument("--skip-multiscale", action="store_true")
    parser.add_argument("--skip-shapes", action="store_true", help="no dynamic-shape vs padded-bucket timing")
    parser.add_argument("--skip-retinanet", action="store_true")
    parser.add_argument("--skip-backends", action="store_true", help="no torch-vs-OpenVINO section")
    parser.add_argument("--stream", type=int, default=32, help="files for the streaming measurement")
    args = parser.parse_args()

    torch.manual_seed(0)
    model = SRN(SRNConfig(backbone=args.backbone))
    with torch.no_grad():  # a classifier with spread-out scores, so post-processing has work to do
        model.cls_subnet_pred.weight.normal_(0.0, 0.5)
        model.cls_subnet_pred.bias.fill_(-2.0)
    detector = Detector(model, device=args.device, precision=args.precision)
    sync = torch.cuda.synchronize if detector.device.type == "cuda" else (lambda: None)
    image = make_sample(0, 1, SynthConfig(width=1080, height=720)).night
    images = [image] * args.batch
    per_image = lambda fn: timed(fn, args.repeat, sync) / args.batch  # noqa: E731
    print(f"device {detector.device_name}, backbone {args.backbone}, precision {args.precision}, batch {args.batch}")

    def run():
        return detector.detect(images, batch_size=args.batch)

    ours_dets = run()
    ours = per_image(run)

    # Stages of our pass: preprocessing, network, post-processing (each timed alone).
    batch = detector.backend.to_tensor(images).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        output = detector.model(batch)
    anchors = detector._anchors_for([lv.size for lv in output.levels])

    def network():
        with torch.inference_mode():
            detector.model(batch)

    def post():
        with torch.inference_mode():
            postprocess.detect_boxes(output, anchors, detector.inference, [image.shape[:2]] * args.batch,
                                     config=detector.config)

    pre_t = per_image(lambda: detector.backend.to_tensor(images))
    net_t = per_image(network)
    post_t = per_image(post)
    candidates = sum(int((torch.sigmoid(lv.cls2) > 0.05).sum()) for lv in output.levels) // args.batch
    for level in output.levels:  # stress case: every anchor scores 0.5 and passes every threshold
        level.cls2 = torch.zeros_like(level.cls2)
        if level.cls1 is not None:
            level.cls1 = torch.zeros_like(level.cls1)
    stress_t = per_image(post)

    detector.set_channels_last(False)
    nchw = per_image(run)
    nchw_dets = run()
    detector.compute = "naive"
    naive_dets = run()
    naive = per_image(run)
    detector.compute = "selective"
    detector.set_channels_last(True)

    print(f"ours (selective, channels_last) {ours:8.3f} s/image ({1 / ours:7.2f} images/s)")
    print(f"naive (authors' compute, NCHW)  {naive:8.3f} s/image -> ours is {naive / ours:.2f}x faster")
    print(f"ours in NCHW                    {nchw:8.3f} s/image -> selective alone {naive / nchw:.2f}x")
    print(f"detections, ours-NCHW vs naive: {compare(nchw_dets, naive_dets)}")
    print(f"detections, ours vs naive:      {compare(ours_dets, naive_dets)}")
    print(f"stages: preprocess {1000 * pre_t:.1f} ms, network {net_t:.3f} s, post-processing "
          f"{1000 * post_t:.1f} ms ({candidates} anchors above 0.05) -> pre+post {100 * (pre_t + post_t) / ours:.2f} %"
          f" of the total; with every anchor firing: {1000 * stress_t:.1f} ms ({100 * stress_t / ours:.2f} %)")

    if not args.skip_retinanet:
        from torchvision.models.detection import retinanet_resnet50_fpn

        retina = retinanet_resnet50_fpn(weights=None, weights_backbone=None, min_size=720, max_size=1080).eval()
        retina = retina.to(detector.device)
        tensors = [torch.from_numpy(image).permute(2, 0, 1).float().div(255).to(detector.device)] * args.batch

        def run_retina():
            with torch.inference_mode():
                retina(tensors)

        rt = per_image(run_retina)
        print(f"torchvision RetinaNet-R50-FPN   {rt:8.3f} s/image -> ours / RetinaNet time ratio {ours / rt:.2f}")

    if not args.skip_multiscale:
        ms = timed(lambda: detector.detect([image], mode="multiscale", max_size=args.max_size), 1, sync)
        print(f"multi-scale (max_size {args.max_size})     {ms:8.3f} s/image ({ms / ours:.1f}x single-scale)")

    if not args.skip_backends and detector.device.type == "cpu":
        from backend_compare import compare_backends

        compare_backends(model, args)


if __name__ == "__main__":
    main()
