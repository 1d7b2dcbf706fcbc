"""Can int8 keep the demo model's boxes? NNCF post-training quantisation variants vs the check.

    python benchmarks/int8_variants.py [--calibration 8] [--images 4]

``precision="auto"`` keeps int8 only where ≥ 98 % of each image's top-50 torch fp32 boxes have
a twin (IoU ≥ 0.95, score ± 0.01). This quantises the shipped demo model several ways, each
calibrated on ``--calibration`` synthetic night scenes (seed 9001, as the default check images),
runs it through the product's own int8 path (``Detector(backend="openvino", precision="int8")``
reading the quantised graph from a compile cache) on ``--images`` full 1080×720 scenes of seed
4242, and prints each image's share of twinned boxes, the worst image, and the s/image:

* default: ``nncf.quantize`` as the backend calls it;
* the prediction convolutions (``cls_subnet_pred``, ``box_subnet_pred``) left in float;
* the MIXED preset (asymmetric activations);
* the backbone alone in int8 (FPN, RFE heads and predictions left in float).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
from timing import median_time

from srn.data.synth import make_sample
from srn.engine.backends import openvino_backend
from srn.engine.backends.agreement import agreement
from srn.engine.backends.compile_cache import CompileCache, weights_digest
from srn.engine.detector import Detector
from srn.engine.shipped_models import demo_model_path
from srn.eval.synthetic import NIGHT_SET


def variants() -> dict[str, dict]:
    import nncf

    heads = [".*subnet_pred.*"]
    not_backbone = [".*subnet.*", ".*_lateral.*", r".*\.c\d_conv.*", r".*\.p\d_conv.*", ".*layer[56].*"]
    return {
        "default": {},
        "predictions in float": {"ignored_scope": nncf.IgnoredScope(patterns=heads)},
        "MIXED preset": {"preset": nncf.QuantizationPreset.MIXED},
        "backbone only": {"ignored_scope": nncf.IgnoredScope(patterns=not_backbone)},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calibration", type=int, default=8)
    parser.add_argument("--images", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    reason = openvino_backend.why_unavailable("int8")
    if reason:
        raise SystemExit(reason)
    scenes = [np.ascontiguousarray(make_sample(seed=4242, index=i, config=NIGHT_SET).day) for i in range(args.images)]
    calibration = [np.ascontiguousarray(make_sample(seed=9001, index=i, config=NIGHT_SET).day)
                   for i in range(args.calibration)]
    torch_det = Detector.from_checkpoint(demo_model_path(), device="cpu")
    reference = [torch_det.detect(s)[0] for s in scenes]
    model = torch_det.model
    digest, version = weights_digest(model), openvino_backend.openvino_version()
    fp = openvino_backend.convert(model)
    print(f"demo model, {args.calibration} calibration scenes, {args.images} test scenes; "
          f"torch fp32 {median_time(lambda: torch_det.detect(scenes[0]), args.repeat):.3f} s/image")
    for name, options in variants().items():
        with tempfile.TemporaryDirectory() as tmp:
            cache = CompileCache(Path(tmp))
            quantised = openvino_backend.quantise(fp, calibration, **options)
            cache.write_ir(digest, "int8", version,
                           lambda path, q=quantised: openvino_backend.load_openvino().save_model(
                               q, str(path), compress_to_fp16=False))
            det = Detector(model, device="cpu", backend="openvino", precision="int8", cache_dir=tmp)
            assert det.backend.from_cache  # the graph quantised here, not the backend's default
            shares = [agreement([ref], [det.detect(s)[0]]).twin_fraction for ref, s in zip(reference, scenes)]
            seconds = median_time(lambda d=det: d.detect(scenes[0]), args.repeat)
            print(f"{name:22s} twinned {' '.join(f'{x:.0%}' for x in shares)}; worst {min(shares):.0%} "
                  f"({'passes' if min(shares) >= 0.98 else 'fails'}); {seconds:.3f} s/image")


if __name__ == "__main__":
    main()
