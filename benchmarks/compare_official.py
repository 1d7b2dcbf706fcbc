"""Check ``srn eval --protocol darkface`` against the official DARK FACE MATLAB code under Octave.

    python benchmarks/compare_official.py --tools DIR [--cases 30] [--seed 0]

DIR is a checkout of the official DARK FACE evaluation tools (github Ir1d/DARKFACE_eval_tools:
``evaluation.m``, ``norm_score.m``, ``utils/VOCap.m``) plus the ``boxoverlap.m`` of the WIDER
FACE eval tools; none of that code is part of this project. Needs ``octave`` on the PATH.
For each random case (images with 0–6 faces, jittered true detections, false alarms, tied and
negative scores, face-free images, images without predictions) the official pipeline runs as
``df_eval.m`` chains it — predictions sorted by score (``read_pred``), ``norm_score``,
``evaluation``, ``VOCap(recall, precision)`` — and the AP is compared with ours.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from srn.eval.official import evaluate_darkface

DRIVER = """
addpath('{tools}'); addpath('{tools}/utils');
load('case.mat');
norm_pred_list = norm_score(pred_list);
evaluation(norm_pred_list, '', 'case', file_list, gt_list);
load('./output/case/case.mat');
printf('AP=%.12f\\n', VOCap(pr_curve(:,2), pr_curve(:,1)));
"""


def random_case(rng: np.random.Generator):
    labels, submissions = {}, {}
    for i in range(int(rng.integers(3, 12))):
        name = str(i + 1)
        faces = int(rng.integers(0, 7))
        xy = rng.integers(0, 400, size=(faces, 2))
        wh = rng.integers(6, 60, size=(faces, 2))
        gt = np.concatenate([xy, xy + wh], axis=1).astype(float)
        labels[name] = gt
        if rng.random() < 0.15:
            continue  # no prediction file for this image
        hits = gt[rng.random(faces) < 0.7]
        hits = hits + rng.integers(-4, 5, size=hits.shape)
        again = hits[rng.random(len(hits)) < 0.3]
        dups = again + rng.integers(-2, 3, size=again.shape)  # duplicate detections of a face
        n_false = int(rng.integers(0, 4))
        fxy = rng.integers(0, 400, size=(n_false, 2))
        false = np.concatenate([fxy, fxy + rng.integers(6, 60, size=(n_false, 2))], axis=1)
        boxes = np.concatenate([hits, dups, false]).astype(float)
        scores = np.round(rng.random(len(boxes)) * 2 - 0.3, 2)  # ties and negative scores
        submissions[name] = (boxes, scores)
    return labels, submissions


def run_official(tools: Path, labels, submissions, work: Path) -> float:
    from scipy.io import savemat

    names = sorted(labels, key=int)
    gt_cells = np.empty((len(names), 1), dtype=object)
    pred_cells = np.empty((len(names), 1), dtype=object)
    files = np.empty((len(names), 1), dtype=object)
    for j, name in enumerate(names):
        files[j, 0] = f"{name}.txt"
        gt_cells[j, 0] = labels[name] if len(labels[name]) else np.zeros((0, 0))  # read_gt leaves [] for 0 faces
        boxes, scores = submissions.get(name, (np.zeros((0, 4)), np.zeros(0)))
        rows = np.concatenate([boxes, scores[:, None]], axis=1) if len(scores) else np.zeros((0, 0))
        if len(scores):
            rows = rows[np.argsort(-rows[:, 4], kind="stable")]  # read_pred: sort(..., 'descend') is stable
        pred_cells[j, 0] = rows
    def wrap(cells: np.ndarray) -> np.ndarray:  # the outer 1×1 "event" cell
        outer = np.empty((1, 1), dtype=object)
        outer[0, 0] = cells
        return outer

    savemat(work / "case.mat", {"file_list": wrap(files), "gt_list": wrap(gt_cells), "pred_list": wrap(pred_cells)})
    (work / "driver.m").write_text(DRIVER.format(tools=tools))
    out = subprocess.run(["octave", "--no-gui", "--quiet", "driver.m"], cwd=work, capture_output=True, text=True)
    found = re.search(r"AP=([-\d.eEnaN]+)", out.stdout)
    if not found:
        raise RuntimeError(f"octave failed:\n{out.stdout}\n{out.stderr}")
    return float(found.group(1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tools", required=True, type=Path)
    parser.add_argument("--cases", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if shutil.which("octave") is None:
        print("octave is not installed (sudo apt-get install -y octave)", file=sys.stderr)
        return 2
    rng = np.random.default_rng(args.seed)
    worst = 0.0
    for case in range(args.cases):
        labels, submissions = random_case(rng)
        with tempfile.TemporaryDirectory() as tmp:
            official = run_official(args.tools.resolve(), labels, submissions, Path(tmp))
        ours = evaluate_darkface(labels, submissions).ap
        diff = abs(ours - official) if not (np.isnan(ours) and np.isnan(official)) else 0.0
        worst = max(worst, diff)
        print(f"case {case:3d}: official AP {official:.6f}  ours {ours:.6f}  |diff| {diff:.2e}")
    print(f"{args.cases} cases, max |AP difference| {worst:.2e} (goal 1e-4)")
    return 0 if worst <= 1e-4 else 1


if __name__ == "__main__":
    raise SystemExit(main())
