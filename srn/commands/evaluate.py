"""``python -m srn eval``: score detections with the official or the everyday protocols.

``--protocol``:

* ``darkface`` (default): the DARK FACE / UG2+ tool. ``--gt`` a label folder (``<id>.txt``: count,
  then ``x1 y1 x2 y2``), ``--pred`` a submission folder (``<id>.txt``: ``x1 y1 x2 y2 score``).
  ``--exact-boxes`` compares the true boxes instead of the tool's ``x1+x2`` quirk.
* ``wider``: the WIDER FACE tool. ``--gt`` the folder with ``wider_face_val.mat`` and
  ``wider_{easy,medium,hard}_val.mat``; ``--pred`` the ``<event>/<image>.txt`` prediction folder.
  Reports easy / medium / hard.
* ``ap50`` / ``coco``: one-to-one AP@0.5 (VOC all-point) / COCO AP@[.5:.95]. ``--gt`` is either a
  DARK FACE label folder (``--pred``: a DARK FACE submission folder) or a WIDER ground-truth
  ``.txt`` file (``--pred``: a WIDER prediction folder; faces flagged ``invalid`` are ignored).

``--strict`` (darkface/wider) counts predictions on face-free images as false positives (the
official tools skip those images). ``--plot FILE.png`` draws the PR curve(s); ``--json FILE``
writes the numbers and curves. Exit status: 0, or 2 for unreadable input.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

PROTOCOLS = ("darkface", "wider", "ap50", "coco")
WIDER_MAT_FILES = {"all": "wider_face_val.mat", "easy": "wider_easy_val.mat",
                   "medium": "wider_medium_val.mat", "hard": "wider_hard_val.mat"}


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register the ``eval`` subcommand on an ``add_subparsers()`` object."""
    p = subparsers.add_parser(
        "eval",
        help="evaluate detections (DARK FACE, WIDER FACE, AP@0.5 or COCO AP)",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--gt", required=True, metavar="LABELS", help="ground truth (folder or file, see above)")
    p.add_argument("--pred", required=True, metavar="PREDS", help="prediction folder")
    p.add_argument("--protocol", choices=PROTOCOLS, default="darkface", help="metric (default: darkface)")
    p.add_argument("--strict", action="store_true", help="count predictions on face-free images")
    p.add_argument("--exact-boxes", action="store_true", help="darkface: IoU on the true boxes, not the tool's x1+x2")
    p.add_argument("--max-dets", type=int, default=None, help="coco: keep the top N predictions per image")
    p.add_argument("--plot", metavar="PNG", help="write the PR curve(s) to this PNG")
    p.add_argument("--json", metavar="FILE", help="write the results as JSON")
    p.set_defaults(func=run)
    return p


def _stem_key(name: str) -> str:
    path = Path(name)
    parent = path.parent.as_posix()
    return path.stem if parent in ("", ".") else f"{parent}/{path.stem}"


def _load_wider(gt_dir: Path, pred_dir: Path):
    from srn.formats.wider import read_mat_ground_truth, read_mat_keep_lists, read_predictions, xyxy_to_xywh

    paths = {k: gt_dir / v for k, v in WIDER_MAT_FILES.items()}
    missing = [str(p) for p in paths.values() if not p.is_file()]
    if missing:
        raise ValueError(f"missing WIDER ground truth file(s): {', '.join(missing)}")
    mat = read_mat_ground_truth(paths["all"])
    names, boxes = [], []
    for event, files, event_boxes in zip(mat.events, mat.files, mat.boxes):
        for f, b in zip(files, event_boxes):
            names.append(f"{event}/{Path(f).stem if Path(f).suffix.lower() in ('.jpg', '.png') else f}")
            boxes.append(np.asarray(b, dtype=np.float64).reshape(-1, 4))
    keeps = {}
    for setting in ("easy", "medium", "hard"):
        lists = read_mat_keep_lists(paths[setting])
        keeps[setting] = [k for event in lists for k in event]
    preds = {}
    for key, (xyxy, scores) in read_predictions(pred_dir).items():
        preds[key] = (xyxy_to_xywh(xyxy), np.asarray(scores, dtype=np.float64))
    return names, boxes, keeps, preds


def _load_labelled(gt: Path, pred: Path):
    """(names, gt xyxy list, keep list, preds list) for ap50/coco."""
    if gt.is_dir():
        from srn.formats.darkface import read_labels_folder, read_submissions_folder

        labels = read_labels_folder(gt)
        subs = read_submissions_folder(pred)
        names = sorted(labels)
        empty = (np.zeros((0, 4)), np.zeros(0))
        return names, [labels[n] for n in names], None, [subs.get(n, empty) for n in names]
    from srn.formats.wider import read_gt, read_predictions, xywh_to_xyxy

    records = read_gt(gt)
    preds = read_predictions(pred)
    names, boxes, keeps, plist = [], [], [], []
    empty = (np.zeros((0, 4)), np.zeros(0))
    for rec in records:
        valid = ~np.all(rec.boxes == 0, axis=1)  # the all-zero placeholder line is not a face
        key = _stem_key(rec.name)
        names.append(key)
        boxes.append(xywh_to_xyxy(rec.boxes[valid]))
        keeps.append(rec.attributes[valid, 3] == 0)  # "invalid" faces are ignored
        plist.append(preds.get(key, empty))
    return names, boxes, keeps, plist


def _curve_json(curve) -> dict:
    def clean(a):
        return [None if not np.isfinite(v) else float(v) for v in np.asarray(a, dtype=np.float64)]

    return {"label": curve.label, "ap": curve.ap if np.isfinite(curve.ap) else None,
            "precision": clean(curve.precision), "recall": clean(curve.recall), "thresholds": clean(curve.thresholds)}


def evaluate(args: argparse.Namespace) -> dict:
    """Run the chosen protocol; returns {name: EvalResult}."""
    from srn.eval.matching import evaluate_ap50, evaluate_coco
    from srn.eval.official import evaluate_darkface, evaluate_wider

    gt, pred = Path(args.gt), Path(args.pred)
    if not gt.exists():
        raise ValueError(f"{gt}: no such file or folder")
    if not pred.is_dir():
        raise ValueError(f"{pred}: not a folder")
    if args.protocol == "darkface":
        from srn.formats.darkface import read_labels_folder, read_submissions_folder

        if not gt.is_dir():
            raise ValueError(f"{gt}: the darkface protocol needs a label folder")
        res = evaluate_darkface(read_labels_folder(gt), read_submissions_folder(pred),
                                strict=args.strict, box_quirk=not args.exact_boxes)
        return {"darkface": res}
    if args.protocol == "wider":
        if not gt.is_dir():
            raise ValueError(f"{gt}: the wider protocol needs the folder holding the .mat files")
        names, boxes, keeps, preds = _load_wider(gt, pred)
        return evaluate_wider(names, boxes, keeps, preds, strict=args.strict)
    names, boxes, keeps, plist = _load_labelled(gt, pred)
    if args.protocol == "ap50":
        return {"ap50": evaluate_ap50(boxes, plist, keep=keeps, names=names)}
    return {"coco": evaluate_coco(boxes, plist, keep=keeps, names=names, max_dets=args.max_dets)}


def run(args: argparse.Namespace) -> int:
    from srn.formats.errors import FormatError

    try:
        results = evaluate(args)
    except (FormatError, ValueError, OSError) as exc:
        print(f"srn eval: {exc}", file=sys.stderr)
        return 2
    for name, res in results.items():
        extra = "  ".join(f"{k} {v:.4f}" for k, v in res.metrics.items() if k != "AP")
        print(f"{name}: AP {res.ap:.4f}  ({len(res.images)} images, {res.num_faces} faces, "
              f"{res.num_predictions} predictions){'  ' + extra if extra else ''}")
        for note in res.notes:
            print(f"  note: {note}")
    if args.plot:
        from srn.eval.plot import write_pr_png

        write_pr_png(args.plot, [r.curve for r in results.values()], title=f"{args.protocol} protocol")
        print(f"wrote {args.plot}")
    if args.json:
        from srn.fileio import atomic_write_text

        data = {name: {"ap": r.ap if np.isfinite(r.ap) else None, "metrics": r.metrics, "faces": r.num_faces,
                       "predictions": r.num_predictions, "images": len(r.images), "notes": r.notes,
                       "curve": _curve_json(r.curve)} for name, r in results.items()}
        atomic_write_text(args.json, json.dumps(data, indent=1) + "\n")
    return 0
