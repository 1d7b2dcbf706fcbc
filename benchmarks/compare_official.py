"""Check ``srn eval`` against the official WIDER FACE / DARK FACE MATLAB code under Octave.

    python benchmarks/compare_official.py --protocol darkface [--tools DIR] [--cases 30] [--seed 0]
    python benchmarks/compare_official.py --protocol wider [--tools DIR] [--cases 10] [--gt-type int32|double]

DIR holds the official evaluation tools (default: ``../shared/third_party/official_eval/<protocol>``)
— DARK FACE: Ir1d/DARKFACE_eval_tools (``evaluation.m``, ``norm_score.m``, ``utils/VOCap.m``,
``boxoverlap.m``); WIDER FACE: its ``eval_tools`` (``evaluation.m``, ``norm_score.m``,
``boxoverlap.m``, ``plot/VOCap.m``). None of that code is part of this project: it is copied to a
temporary folder for each run, where the WIDER ``evaluation.m``'s final ``save`` flag ``-v7.3``
(which Octave cannot write) becomes ``-v7`` (the saved file's format only, not the computation).
Needs ``octave``.

WIDER cases are typed as the official files are: ``face_bbx_list`` int32, ``gt_list`` uint8,
predictions double with fractional coordinates, so the tool's integer arithmetic is exercised
(``--gt-type double`` writes double faces instead; ours then uses float arithmetic too).
For each random case (faces, jittered true detections, duplicates, false alarms, boxes without
pixels, tied and negative scores, face-free images, images without predictions; for WIDER, random easy/medium/
hard keep lists over 61 events, as the official code hard-codes) the official pipeline runs as
``df_eval.m`` / ``wider_eval.m`` chain it — predictions sorted by score (``read_pred``),
``norm_score``, ``evaluation``, ``VOCap(recall, precision)`` — and the APs are compared with ours.
Goal: the largest |AP difference| over all cases and settings <= 1e-6 (exit status 1 otherwise).
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from srn.eval.official import evaluate_darkface, evaluate_wider  # noqa: E402

GOAL = 1e-6
DEFAULT_TOOLS = ROOT.parent / "shared" / "third_party" / "official_eval"


def tools_copy(tools: Path, work: Path) -> Path:
    """The tools in ``work/tools`` (every ``.m`` below ``tools``), ``-v7.3`` saves made ``-v7``."""
    target = work / "tools"
    for src in tools.rglob("*.m"):
        dst = target / src.relative_to(tools)
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_text(src.read_text(encoding="latin-1").replace("'-v7.3'", "'-v7'"), encoding="latin-1")
    return target

DRIVER = """
addpath('{tools}'); addpath('{tools}/utils');
more off;
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
        if len(boxes) and rng.random() < 0.3:  # a box without pixels (x2 < x1), as detectors emit for tiny faces
            boxes[0, 2] = boxes[0, 0] - float(rng.integers(1, 4))
        scores = np.round(rng.random(len(boxes)) * 2 - 0.3, 2)  # ties and negative scores
        submissions[name] = (boxes, scores)
    return labels, submissions


def run_official(tools: Path, labels, submissions, work: Path) -> float:
    from scipy.io import savemat

    tools = tools_copy(tools, work)
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


WIDER_DRIVER = """
addpath('{tools}'); addpath('{tools}/plot');
more off;
load('pred.mat');
norm_pred_list = norm_score(pred_list);
settings = {{'easy', 'medium', 'hard'}};
for k = 1:3
  evaluation(norm_pred_list, sprintf('wider_%s_val.mat', settings{{k}}), settings{{k}}, 'int', 'case');
  load(sprintf('./plot/baselines/Val/int/case/wider_pr_info_case_%s.mat', settings{{k}}));
  printf('AP_%s=%.12f\\n', settings{{k}}, VOCap(pr_cruve(:,2), pr_cruve(:,1)));
end
"""
EVENTS = 61  # hard-coded in the official WIDER code


def _cells(items) -> np.ndarray:
    out = np.empty((len(items), 1), dtype=object)
    for i, item in enumerate(items):
        out[i, 0] = item
    return out


def random_wider_case(rng: np.random.Generator):
    """Per event 1–2 images; gt as x y w h; predictions as x y w h; keep lists per setting."""
    events = []
    for e in range(EVENTS):
        images = []
        for j in range(int(rng.integers(1, 3))):
            faces = int(rng.integers(0, 6))
            xy = rng.integers(0, 300, size=(faces, 2))
            gt = np.concatenate([xy, rng.integers(6, 60, size=(faces, 2))], axis=1).astype(float)
            hits = gt[rng.random(faces) < 0.7].copy()
            hits += np.round(rng.normal(0, 2.5, size=hits.shape), 1)  # fractional, as detectors write
            n_false = int(rng.integers(0, 3))
            false = np.concatenate([rng.integers(0, 300, size=(n_false, 2)), rng.integers(6, 60, size=(n_false, 2))],
                                   axis=1)
            boxes = np.concatenate([hits, false]).astype(float)
            if len(boxes) and rng.random() < 0.3:  # a box without pixels: w of 0 or less
                boxes[0, 2] = -float(rng.integers(0, 3))
            scores = np.round(rng.random(len(boxes)) * 3 - 1, 2)
            keeps = {}
            chosen = np.arange(faces)
            for setting, share in (("easy", 0.4), ("medium", 0.7), ("hard", 1.0)):
                chosen_s = chosen[rng.random(faces) < share] if setting != "hard" else chosen
                keeps[setting] = np.sort(chosen_s)
            has_pred = rng.random() > 0.1
            images.append((f"{e}--Ev/img_{e}_{j}", gt, (boxes, scores) if has_pred else None, keeps))
        events.append(images)
    return events


def run_official_wider(tools: Path, events, work: Path, gt_type: str = "int32") -> dict[str, float]:
    from scipy.io import savemat

    tools = tools_copy(tools, work)
    files = _cells([_cells([name.split("/")[1] for name, *_ in ev]) for ev in events])
    boxes = _cells([_cells([gt.astype(gt_type) for _, gt, _, _ in ev]) for ev in events])
    keep_type = np.uint8 if gt_type == "int32" else np.float64  # the official keep lists are uint8
    for setting in ("easy", "medium", "hard"):
        keep = _cells([_cells([(k[setting] + 1).reshape(-1, 1).astype(keep_type) for *_, k in ev]) for ev in events])
        savemat(work / f"wider_{setting}_val.mat", {"file_list": files, "face_bbx_list": boxes, "gt_list": keep})
    preds = []
    for ev in events:
        rows = []
        for _, _, pred, _ in ev:
            if pred is None or not len(pred[1]):
                rows.append(np.zeros((0, 0)))
                continue
            r = np.concatenate([pred[0], pred[1][:, None]], axis=1)
            rows.append(r[np.argsort(-r[:, 4], kind="stable")])
        preds.append(_cells(rows))
    savemat(work / "pred.mat", {"pred_list": _cells(preds)})
    (work / "driver.m").write_text(WIDER_DRIVER.format(tools=tools))
    out = subprocess.run(["octave", "--no-gui", "--quiet", "driver.m"], cwd=work, capture_output=True, text=True)
    found = dict(re.findall(r"AP_(\w+)=([-\d.eEnaN]+)", out.stdout))
    if len(found) != 3:
        raise RuntimeError(f"octave failed:\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}")
    return {k: float(v) for k, v in found.items()}


def ours_wider(events, gt_type: str = "int32", semantics: str = "official") -> dict[str, float]:
    flat = [img for ev in events for img in ev]
    names = [name for name, *_ in flat]
    gts = [gt for _, gt, _, _ in flat]
    keeps = {s: [k[s] for *_, k in flat] for s in ("easy", "medium", "hard")}
    preds = {name: pred for name, _, pred, _ in flat if pred is not None}
    integer = gt_type if np.dtype(gt_type).kind in "iu" and semantics == "official" else None
    return {s: r.ap for s, r in evaluate_wider(names, gts, keeps, preds, integer_class=integer).items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--protocol", choices=["darkface", "wider"], default="darkface")
    parser.add_argument("--tools", type=Path, help=f"the official tool's folder (default: {DEFAULT_TOOLS}/<protocol>)")
    parser.add_argument("--cases", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--gt-type", choices=["int32", "double"], default="int32",
                        help="wider: the type face_bbx_list is saved as (the official files: int32)")
    parser.add_argument("--semantics", choices=["official", "float"], default="official",
                        help="wider: how ours computes (float: as Python ports do, to see the gap)")
    args = parser.parse_args()
    args.tools = args.tools or DEFAULT_TOOLS / args.protocol
    if shutil.which("octave") is None:
        print("octave is not installed (sudo apt-get install -y octave)", file=sys.stderr)
        return 2
    rng = np.random.default_rng(args.seed)
    worst = 0.0
    for case in range(args.cases):
        if args.protocol == "wider":
            events = random_wider_case(rng)
            with tempfile.TemporaryDirectory() as tmp:
                official = run_official_wider(args.tools.resolve(), events, Path(tmp), args.gt_type)
            ours = ours_wider(events, args.gt_type, args.semantics)
            diffs = {k: abs(ours[k] - official[k]) for k in official}
            worst = max(worst, *diffs.values())
            print(f"case {case:3d}: " + "  ".join(
                f"{k} official {official[k]:.6f} ours {ours[k]:.6f}" for k in ("easy", "medium", "hard")
            ) + f"  max |diff| {max(diffs.values()):.2e}")
            continue
        labels, submissions = random_case(rng)
        with tempfile.TemporaryDirectory() as tmp:
            official = run_official(args.tools.resolve(), labels, submissions, Path(tmp))
        ours = evaluate_darkface(labels, submissions).ap
        diff = abs(ours - official) if not (np.isnan(ours) and np.isnan(official)) else 0.0
        worst = max(worst, diff)
        print(f"case {case:3d}: official AP {official:.6f}  ours {ours:.6f}  |diff| {diff:.2e}")
    print(f"{args.cases} cases, max |AP difference| {worst:.2e} (goal {GOAL:g}; ratio {worst / GOAL:.2f})")
    return 0 if worst <= GOAL else 1


if __name__ == "__main__":
    raise SystemExit(main())
