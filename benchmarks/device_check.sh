#!/usr/bin/env bash
# The one prepared script for a lent GPU machine (see the device tool): CUDA correctness
# against the CPU, then the GPU benchmarks. Run from the repository root on the device:
#   bash benchmarks/device_check.sh 2>&1 | tee "$OUT/device_check.txt"
# Needs a Python with the project installed (make setup, or pip install -e '.[test]').
set -uo pipefail
PY=${PY:-python}
echo "== nvidia-smi"; nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || true
echo "== CUDA vs CPU correctness (tests that skip without a GPU)"
QT_QPA_PLATFORM=offscreen $PY -m pytest -q -rs tests/test_enhance_torch.py tests/test_detector.py -k "cuda or CUDA" || echo "correctness: FAILED"
echo "== enhancement on the GPU"
$PY benchmarks/enhance_bench.py --repeat 10 --images 2
echo "== detection, fp32 batch 1 (includes the naive comparison)"
$PY benchmarks/detect_bench.py --device cuda --repeat 5 --skip-retinanet
echo "== detection, fp16 batch 8 (goal: >= 100 images/s at 1080x720 on an H100-class GPU)"
$PY benchmarks/detect_bench.py --device cuda --precision fp16 --batch 8 --repeat 5 --skip-multiscale --skip-retinanet
