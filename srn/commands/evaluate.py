"""``python -m srn eval``: score detections with the official or the everyday protocols.

``--protocol``:

* ``darkface`` (default): the DARK FACE / UG2+ tool. ``--gt`` a label folder (``<id>.txt``: count,
  then ``x1 y1 x2 y2``), ``--pred`` a submission folder (``<id>.txt``: ``x1 y1 x2 y2 score``).
  Boxes are compared as the current tool does (as they are); ``--april-2019-boxes`` uses the
  rule of the tool's April 2019 versions, ``[x1, y1, x1+x2, y1+y2]``, for numbers made with them.
* ``wider``: the WIDER FACE tool. ``--gt`` the folder with ``wider_face_val.mat`` and
  ``wider_{easy,medium,hard}_val.mat``; ``--pred`` the ``<event>/<image>.txt`` prediction folder.
  Reports easy / medium / hard. The official files store the faces as int32, and the tool's
  MATLAB arithmetic on them is integer arithmetic (an overlap is 0 or 1, the first face over
  0.5 wins); that is what is computed. ``--semantics float`` gives the float result instead (as
  Python ports of the tool compute it).
* ``ap50`` / ``coco``: one-to-one AP@0.5 (VOC all-point) / COCO AP@[.5:.95]. ``--gt`` is either a
  DARK FACE label folder (``--pred``: a DARK FACE submission folder) or a WIDER ground-truth
  ``.txt`` file (``--pred``: a WIDER prediction folder; faces flagged ``invalid`` are ignored).

``--pred`` is any folder ``srn detect`` wrote (``--format wider``, ``darkface`` or ``json``): the
form is recognised from its files, so detect and eval chain in every format. Predicted boxes
without pixels (w or h <= 0) are scored as the official tools score them (they match no face)
and counted; ``--refuse-empty-boxes`` makes them an error instead.

``--strict`` (darkface/wider) counts predictions on face-free images as false positives (the
official tools skip those images). ``--plot FILE.png`` draws the PR curve(s); ``--json FILE``
writes the numbers and curves. Exit status: 0; 1 when no prediction matched any ground-truth
image; 2 for unreadable input.
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
        description=__doc__.split("\n\n", 1)[1].replace("``", "") if __doc__ else None,  # no reST in --help
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--gt", required=True, metavar="LABELS", help="ground truth (folder or file, see above)")
    p.add_argument("--pred", required=True, metavar="PREDS",
                   help="prediction folder, as srn detect writes it in any --format")
    p.add_argument("--protocol", choices=PROTOCOLS, default="darkface", help="metric (default: darkface)")
    p.add_argument("--strict", action="store_true", help="count predictions on face-free images")
    p.add_argument("--april-2019-boxes", action="store_true",
                   help="darkface: compare [x1, y1, x1+x2, y1+y2] as the tool's April 2019 versions did")
    p.add_argument("--exact-boxes", action="store_true", help=argparse.SUPPRESS)  # the default now; old scripts
    p.add_argument("--semantics", choices=["official", "float"], default="official",
                   help="wider: official = MATLAB's arithmetic on the file's types (int32 faces: integer "
                        "overlaps, as the official tool); float = float IoU (default: official)")
    p.add_argument("--max-dets", type=int, default=None, help="coco: keep the top N predictions per image")
    p.add_argument("--refuse-empty-boxes", action="store_true",
                   help="refuse predicted boxes without pixels instead of scoring them as the official tools do")
    p.add_argument("--plot", metavar="PNG", help="write the PR curve(s) to this PNG")
    p.add_argument("--json", metavar="FILE", help="write the results as JSON")
    p.set_defaults(func=run)
    return p


def _stem_key(name: str) -> str:
    path = Path(name)
    parent = path.parent.as_posix()
    return path.stem if parent in ("", ".") else f"{parent}/{path.stem}"


def _load_wider(gt_dir: Path, pred_dir):
    from srn.formats.wider import read_mat_ground_truth, read_mat_keep_lists, xyxy_to_xywh

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
    for key, (xyxy, scores) in pred_dir.predictions.items():
        preds[key] = (xyxy_to_xywh(xyxy), np.asarray(scores, dtype=np.float64))
    return names, boxes, keeps, preds, mat.integer_class


def _load_labelled(gt: Path, pred):
    """(names, gt xyxy list, keep list, preds list) for ap50/coco."""
    if gt.is_dir():
        from srn.formats.darkface import read_labels_folder

        labels = read_labels_folder(gt)
        subs = pred.by_stem()
        names = sorted(labels)
        empty = (np.zeros((0, 4)), np.zeros(0))
        return names, [labels[n] for n in names], None, [subs.get(n, empty) for n in names]
    from srn.formats.wider import read_gt, xywh_to_xyxy

    records = read_gt(gt)
    preds = pred.predictions
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
    from srn.formats.predictions import read_prediction_folder

    gt, pred_dir = Path(args.gt), Path(args.pred)
    if not gt.exists():
        raise ValueError(f"{gt}: no such file or folder")
    if not pred_dir.is_dir():
        raise ValueError(f"{pred_dir}: not a folder")
    pred = read_prediction_folder(pred_dir, allow_empty=not args.refuse_empty_boxes)
    if args.protocol == "darkface":
        from srn.formats.darkface import read_labels_folder

        if not gt.is_dir():
            raise ValueError(f"{gt}: the darkface protocol needs a label folder")
        labels = read_labels_folder(gt)
        if not labels:
            raise NoGroundTruth(f"{gt}: no label files in it")
        subs = pred.by_stem()
        _check_matched(pred, pred_dir, set(labels), set(subs))
        if args.exact_boxes and args.april_2019_boxes:
            raise ValueError("--exact-boxes (the default) and --april-2019-boxes contradict each other")
        res = evaluate_darkface(labels, subs, strict=args.strict,
                                box_rule="april-2019" if args.april_2019_boxes else "current")
        return _noted({"darkface": res}, pred)
    if args.protocol == "wider":
        if not gt.is_dir():
            raise ValueError(f"{gt}: the wider protocol needs the folder holding the .mat files")
        names, boxes, keeps, preds, integer_class = _load_wider(gt, pred)
        _check_matched(pred, pred_dir, set(names), set(preds))
        integer_class = integer_class if args.semantics == "official" else None
        return _noted(evaluate_wider(names, boxes, keeps, preds, strict=args.strict, integer_class=integer_class),
                      pred)
    names, boxes, keeps, plist = _load_labelled(gt, pred)
    if not names:
        raise NoGroundTruth(f"{gt}: no annotated images in it")
    _check_matched(pred, pred_dir, set(names), set(pred.by_stem() if gt.is_dir() else pred.predictions))
    if args.protocol == "ap50":
        return _noted({"ap50": evaluate_ap50(boxes, plist, keep=keeps, names=names)}, pred)
    return _noted({"coco": evaluate_coco(boxes, plist, keep=keeps, names=names, max_dets=args.max_dets)}, pred)


class NoGroundTruth(ValueError):
    """Empty ground truth: an AP over no faces is no result (exit status 2)."""


class NothingMatched(ValueError):
    """No prediction file belongs to any ground-truth image (exit status 1)."""


def _check_matched(pred, pred_dir: Path, gt_names: set[str], pred_names: set[str]) -> None:
    if gt_names & pred_names:
        return
    found = f"{len(pred_names)} {pred.kind} prediction files, e.g. {sorted(pred_names)[0]!r}" if pred_names \
        else "no prediction files (.txt, or detections.json)"
    raise NothingMatched(f"{pred_dir}: no predictions for any of the {len(gt_names)} ground-truth images "
                         f"(e.g. {sorted(gt_names)[0]!r}); found {found}")


def _noted(results: dict, pred) -> dict:
    if pred.empty_boxes:
        for res in results.values():
            res.notes.append(f"{pred.empty_boxes} predicted boxes have no pixels (w or h <= 0); scored as the "
                             "official tools score them: they match no face")
    return results


def run(args: argparse.Namespace) -> int:
    from srn.formats.errors import FormatError

    try:
        results = evaluate(args)
    except NothingMatched as exc:
        print(f"srn eval: {exc}", file=sys.stderr)
        return 1
    except (FormatError, ValueError, OSError) as exc:
        print(f"srn eval: {exc}", file=sys.stderr)
        return 2
    for name, res in results.items():
        extra = "  ".join(f"{k} {v:.4f}" for k, v in res.metrics.items() if k != "AP")
        print(f"{name}: AP {res.ap:.4f}  ({len(res.images)} images, {res.num_faces} faces, "
              f"{res.num_predictions} predictions){'  ' + extra if extra else ''}")
        for note in res.notes:
            print(f"  note: {note}")
    try:
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
    except OSError as exc:  # an unwritable place, a full disk: the scores above still stand
        print(f"srn eval: cannot write {exc.filename or args.json or args.plot}: {exc.strerror or exc}",
              file=sys.stderr)
        return 2
    return 0
