"""SRN inference speed: our selective computation vs the naive one vs torchvision's RetinaNet.

    python benchmarks/detect_bench.py [--repeat 3] [--device cpu] [--skip-multiscale]
                                      [--precision fp16 --batch 8]    # on a GPU

Same random weights (seeded), same synthetic 1080×720 night image, one run. Prints median
seconds per image for: our single-scale detector (first-step subnets only where SRN uses them),
the same network computed naively (every subnet on every level, as the authors' code does),
torchvision's RetinaNet-R50-FPN, the ratios, the share of post-processing, whether the two SRN
computations give identical detections, and the multi-scale time at --max-size.
Goals (issue 4): CPU ≥ 1.3× faster than naive with identical detections, post-processing < 5 %;
CUDA fp16 batch 8 ≥ 100 images/s on an H100-class GPU.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from srn.data.synth import SynthConfig, make_sample
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--device", default=None)
    parser.add_argument("--backbone", default="resnet50")
    parser.add_argument("--precision", default="fp32", choices=["fp32", "fp16", "bf16"])
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--max-size", type=int, default=1400)
    parser.add_argument("--skip-multiscale", action="store_true")
    parser.add_argument("--skip-retinanet", action="store_true")
    args = parser.parse_args()

    torch.manual_seed(0)
    detector = Detector(SRN(SRNConfig(backbone=args.backbone)), device=args.device, precision=args.precision)
    sync = torch.cuda.synchronize if detector.device.type == "cuda" else (lambda: None)
    image = make_sample(0, 1, SynthConfig(width=1080, height=720)).night
    images = [image] * args.batch
    print(f"device {detector.device_name}, backbone {args.backbone}, precision {args.precision}, batch {args.batch}")

    detector.compute = "selective"
    ours_dets = detector.detect(images, batch_size=args.batch)
    ours = timed(lambda: detector.detect(images, batch_size=args.batch), args.repeat, sync) / args.batch
    detector.compute = "naive"
    naive_dets = detector.detect(images, batch_size=args.batch)
    naive = timed(lambda: detector.detect(images, batch_size=args.batch), args.repeat, sync) / args.batch
    detector.compute = "selective"
    identical = all(
        torch.equal(a.boxes, b.boxes) and torch.equal(a.scores, b.scores) for a, b in zip(ours_dets, naive_dets)
    )

    # Post-processing share: time the network alone on the same batch.
    batch = detector._to_tensor(images)

    def network_only():
        with torch.inference_mode():
            detector.model(batch, compute="selective")

    net = timed(network_only, args.repeat, sync) / args.batch
    post_share = max(0.0, ours - net) / ours

    print(f"SRN single-scale (selective)  {ours:8.3f} s/image  ({1 / ours:7.2f} images/s)")
    print(f"SRN naive (authors' compute)  {naive:8.3f} s/image  -> ours is {naive / ours:.2f}x faster; "
          f"identical detections: {identical} ({len(ours_dets[0].scores)} boxes)")
    print(f"network alone                 {net:8.3f} s/image  -> post-processing {100 * post_share:.1f} % of the total")

    if not args.skip_retinanet:
        from torchvision.models.detection import retinanet_resnet50_fpn

        retina = retinanet_resnet50_fpn(weights=None, weights_backbone=None, min_size=720, max_size=1080).eval()
        retina = retina.to(detector.device)
        tensors = [torch.from_numpy(image).permute(2, 0, 1).float().div(255).to(detector.device)] * args.batch

        def run_retina():
            with torch.inference_mode():
                retina(tensors)

        rt = timed(run_retina, args.repeat, sync) / args.batch
        print(f"torchvision RetinaNet-R50-FPN {rt:8.3f} s/image  -> ours / RetinaNet time ratio {ours / rt:.2f}")

    if not args.skip_multiscale:
        ms = timed(lambda: detector.detect([image], mode="multiscale", max_size=args.max_size), 1, sync)
        print(f"SRN multi-scale (max_size {args.max_size})  {ms:8.3f} s/image ({ms / ours:.1f}x single-scale)")


if __name__ == "__main__":
    main()
