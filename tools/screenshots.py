"""Screenshots of the real review window for the documentation, rendered offscreen.

    QT_QPA_PLATFORM=offscreen PYTHONPATH=. python tools/screenshots.py [--out docs/images]
        [--work DIR] [--size 1600x1000] [--only NAME ...] [--iterations 20] [--image-size 1080x720]

Every step goes through the app's own code; nothing is painted by hand:

1. a small synthetic night project (``srn.data.synth.write_dataset``: 6 images, 1080×720,
   seed 7). The DARK FACE labels of images 1–4 are kept; those of 5 and 6 are moved aside, so
   that two images play "not reviewed yet";
2. ``ReviewWindow.open_folder(<work>/synth/night)`` creates the project and imports the 4 label
   files as accepted boxes (images done);
3. a *tiny random-weight* SRN (ResNet-18, head width 16, the authors' initialisation) is
   registered as the project's model "tiny random SRN". No trained weights exist offline:
   **no picture shows a trained model's output**;
4. **illustrative proposals**, not a detector's: on images 5 and 6 the held-back label boxes
   with seeded jitter and made-up scores, two made-up false positives and one made-up
   pseudo-label, stored with ``app.store.record_detections``. They stand in for what a trained
   detector would propose, so that every box colour can be shown. Two are accepted and one
   rejected through the window's editor (what the Y and N keys call);
5. Detect tab: a real ``DetectJob`` with the random-weight model on image 5 ("Current image").
   Its proposals score about 0.01 (the authors' prior), under the min-score slider: none is drawn;
6. Train tab: a real ``srn train`` process started by ``TrainingPanel.start`` (what
   "Fine-tune on my labels…" starts) from the random-weight model, ``--iterations`` iterations at
   128 px on the labelled images, on MSRCR-enhanced images. The curves are its real losses,
   meaningless as a result;
7. Evaluate tab: real ``EvaluateJob`` runs ("Compute missing": base raw, base enhanced,
   fine-tuned enhanced, on the held-out split). A random model's scores all lie under the
   authors' 0.05 score threshold, so the evaluation keeps every box (``InferenceConfig`` with
   zero thresholds) to give the curves and the error browser something to show; AP is about 0.

The views are zoomed (to 60 % at most) onto the part of the image with the boxes, as the + key
and dragging would. The Panels dock is widened for the Train and Evaluate pictures with
``resizeDocks``, as dragging its edge would.

The pictures are the same from run to run except for what the clock decides: times of day and
dates in the logs and lists, measured speeds. Each file is written to a temporary name and
renamed into place; a picture over 400 kB as a true-colour PNG is stored with a 256-colour
palette (Pillow, which torchvision and scikit-image bring). The window uses a QSettings file in
the work folder, so the user's settings are never read or written. Exit status 0 when every
picture was written (their paths are printed), 1 when a step failed, 2 for a usage error.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as ``python tools/screenshots.py``: make ``app`` and ``srn`` importable
    sys.path.insert(0, str(ROOT))

SHOTS = ("review-window", "enhance-panel", "help-overlay", "detect-panel", "training-panel", "evaluation-view")
"""Every picture, in the order they are taken (later ones add runs to the project)."""
N_IMAGES = 6
HELD_BACK = (5, 6)
"""Images whose labels are moved aside: they play the unreviewed images."""
SHOWN = 6
"""The image of the review, enhance and help pictures (illustrative proposals on it)."""
DETECTED = 5
"""The image the Detect picture runs the random-weight detector on."""
SEED = 7
MODEL_NAME = "tiny random SRN"
FALSE_POSITIVE_SCORE = 0.71
"""The made-up false positive that the picture shows rejected."""
MAX_BYTES = 400_000
FOCUS_ZOOM = 0.6
DEFAULT_WORK = "darkface-studio-screenshots"
"""The default work folder, under the system's temporary folder: a fixed path, so that the paths
the pictures show (in logs) are the same from run to run."""
MARKER = ".darkface-screenshots"
WAIT_S = 600.0


def parse_size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT, got {text!r}") from None
    if w < 320 or h < 240:
        raise argparse.ArgumentTypeError(f"{text}: at least 320x240")
    return w, h


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tools/screenshots.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=ROOT / "docs" / "images", help="where the PNG files go")
    p.add_argument("--work", type=Path, help=f"work folder for the synthetic project, empty or not there yet "
                   f"(default: {DEFAULT_WORK} in the temporary folder, removed afterwards)")
    p.add_argument("--size", type=parse_size, default=(1600, 1000), help="window size, WIDTHxHEIGHT (1600x1000)")
    p.add_argument("--image-size", type=parse_size, default=(1080, 720),
                   help="size of the synthetic images (1080x720, DARK FACE's)")
    p.add_argument("--only", action="append", choices=SHOTS, metavar="NAME",
                   help=f"take only this picture (repeatable): {', '.join(SHOTS)}")
    p.add_argument("--iterations", type=_positive, default=20, help="iterations of the real training run (20)")
    return p


# -- waiting on the event loop -------------------------------------------------------------------

def wait_until(condition: Callable[[], bool], what: str, timeout_s: float = WAIT_S) -> None:
    """Process Qt events until ``condition()`` holds; TimeoutError naming ``what`` otherwise."""
    from PySide6.QtCore import QCoreApplication, QEventLoop

    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        QCoreApplication.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
        time.sleep(0.01)


def settle(ms: int = 150) -> None:
    """Let queued signals, layouts and paints run."""
    from PySide6.QtCore import QCoreApplication

    end = time.monotonic() + ms / 1000
    while time.monotonic() < end:
        QCoreApplication.processEvents()
        time.sleep(0.01)


# -- the project ---------------------------------------------------------------------------------

def make_synthetic(work: Path, image_size: tuple[int, int]) -> tuple[Path, Path]:
    """``(night image folder, folder of held-back labels)``."""
    from srn.data.synth import SynthConfig, write_dataset

    synth = write_dataset(work / "synth", N_IMAGES, seed=SEED,
                          config=SynthConfig(width=image_size[0], height=image_size[1]))
    held = work / "held-back-labels"
    held.mkdir()
    for index in HELD_BACK:
        os.replace(synth / "label" / f"{index}.txt", held / f"{index}.txt")
    return synth / "night", held


def tiny_model(path: Path) -> Path:
    """A random-weight SRN (ResNet-18, head width 16), saved in the project's checkpoint format."""
    import torch

    from srn.engine.checkpoint import CheckpointMetadata, save_checkpoint
    from srn.model.config import SRNConfig
    from srn.model.srn_net import SRN

    torch.manual_seed(SEED)
    model = SRN(SRNConfig(backbone="resnet18", channels=16))
    save_checkpoint(path, model, CheckpointMetadata(srn_config=model.config.to_dict()))
    return path


def illustrative_proposals(project, image_ids: dict[int, int], held: Path, model_id: int) -> None:
    """Held-back label boxes with seeded jitter and made-up scores, stored as a detection run,
    plus two made-up false positives and a made-up pseudo-label on the ``SHOWN`` image.

    NOT a detector's output: they only give the pictures boxes in every review state.
    """
    import numpy as np

    from app.store import image_summaries, record_detections
    from srn.formats.darkface import read_label

    sizes = {s.id: (s.width, s.height) for s in image_summaries(project, [image_ids[i] for i in HELD_BACK])}
    rng = np.random.default_rng(SEED)
    results, centre = {}, {}
    for index in HELD_BACK:
        image_id = image_ids[index]
        w, h = sizes[image_id]
        truth = np.asarray(read_label(held / f"{index}.txt"), dtype=float).reshape(-1, 4)
        cx = centre[index] = float(np.median((truth[:, 0] + truth[:, 2]) / 2)) if len(truth) else w / 2
        extent = np.maximum(truth[:, 2:] - truth[:, :2], 4)
        boxes = truth + rng.normal(0, 0.06, truth.shape) * np.hstack([extent, extent])
        scores = rng.uniform(0.55, 0.97, len(boxes))
        if index == SHOWN:  # two made-up false positives near the faces: one gets rejected, one
            # stays under the slider's 0.5
            fps = np.array([[cx + 0.08 * w, 0.25 * h, cx + 0.08 * w + 40, 0.25 * h + 48],
                            [cx - 0.10 * w, 0.80 * h, cx - 0.10 * w + 30, 0.80 * h + 36]])
            boxes = np.vstack([boxes, fps])
            scores = np.concatenate([scores, [FALSE_POSITIVE_SCORE, 0.48]])
        results[image_id] = (boxes, scores)
    record_detections(project, _clip(sizes, results), model_version_id=model_id,
                      settings={"illustrative": "label boxes with jitter, made-up scores (tools/screenshots.py)"})
    w, h = sizes[image_ids[SHOWN]]  # source "pseudo" (a teacher model's proposal) is drawn cyan
    x = max(centre[SHOWN] - 0.12 * w, 0)
    pseudo = {image_ids[SHOWN]: (np.array([[x, 0.45 * h, x + 36, 0.45 * h + 44]]), np.array([0.64]))}
    record_detections(project, _clip(sizes, pseudo), model_version_id=model_id, source="pseudo",
                      replace_proposed=False,
                      settings={"illustrative": "a made-up pseudo-label (tools/screenshots.py)"})


def _clip(sizes: dict[int, tuple[int, int]], results: dict) -> dict:
    """Whole-pixel boxes inside their image (``sizes[image_id] = (width, height)``)."""
    import numpy as np

    out = {}
    for image_id, (boxes, scores) in results.items():
        w, h = sizes[image_id]
        b = np.round(np.asarray(boxes, dtype=float))
        b[:, [0, 2]] = np.clip(b[:, [0, 2]], 0, w - 1)
        b[:, [1, 3]] = np.clip(b[:, [1, 3]], 0, h - 1)
        ok = (b[:, 2] > b[:, 0] + 2) & (b[:, 3] > b[:, 1] + 2)
        out[image_id] = (b[ok], np.asarray(scores, dtype=float)[ok])
    return out


# -- saving --------------------------------------------------------------------------------------

def save_png(widget, path: Path, size: tuple[int, int], max_bytes: int = MAX_BYTES) -> Path:
    """``widget.grab()`` to ``path``, atomically; scaled to ``size`` if the widget is not that size.

    A picture larger than ``max_bytes`` as a true-colour PNG is stored with a 256-colour palette
    (Pillow, which torchvision and scikit-image already bring; skipped if it is missing).
    """
    from PySide6.QtCore import QBuffer, QByteArray, QIODevice, Qt

    settle()
    image = widget.grab().toImage()
    if (image.width(), image.height()) != size:
        image = image.scaled(size[0], size[1], Qt.AspectRatioMode.IgnoreAspectRatio,
                             Qt.TransformationMode.SmoothTransformation)
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    if not image.save(buffer, "PNG", 0):  # quality 0: the strongest compression
        raise OSError(f"{path}: cannot encode the PNG file")
    png = bytes(data.data())
    if len(png) > max_bytes:
        png = _palette_png(image) or png
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(png)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def _palette_png(image) -> bytes | None:
    """The QImage as a 256-colour PNG (deterministic octree palette), or None without Pillow."""
    try:
        from PIL import Image
    except ImportError:
        return None
    import io

    import numpy as np
    from PySide6.QtGui import QImage

    rgb = image.convertToFormat(QImage.Format.Format_RGB888)
    w, h, stride = rgb.width(), rgb.height(), rgb.bytesPerLine()
    pixels = np.frombuffer(rgb.constBits(), np.uint8, count=stride * h).reshape(h, stride)[:, :w * 3]
    picture = Image.fromarray(np.ascontiguousarray(pixels).reshape(h, w, 3), "RGB")
    out = io.BytesIO()
    picture.quantize(256, method=Image.Quantize.FASTOCTREE).save(out, "PNG", optimize=True)
    return out.getvalue()


# -- the pictures --------------------------------------------------------------------------------

class Session:
    """The window on the synthetic project, and the steps that prepare each picture."""

    def __init__(self, work: Path, size: tuple[int, int], image_size: tuple[int, int], iterations: int) -> None:
        from PySide6.QtCore import QSettings

        from app.store import register_model, review_queue
        from app.ui.review_window import ReviewWindow

        self.work, self.size, self.iterations = work, size, iterations
        night, held = make_synthetic(work, image_size)
        self.settings = QSettings(str(work / "settings.ini"), QSettings.Format.IniFormat)
        self.window = window = ReviewWindow(settings=self.settings)
        window.resize(*size)
        window.show()
        if not window.open_folder(night):
            raise RuntimeError(f"could not open {night}: {window.log_panel.toPlainText()}")
        project = window.project
        self.ids = {int(Path(q.rel_path).stem): q.image_id for q in review_queue(project, "path")}
        model = register_model(project, MODEL_NAME, tiny_model(work / "tiny-random-srn.pth"))
        self.model_id = model.id
        illustrative_proposals(project, self.ids, held, model.id)
        window.detect_panel.refresh_models(select_id=model.id)
        window.loop.refresh_models()
        window.reload_browser()
        window.order_box.setCurrentText("Path")
        self.show(SHOWN)
        self.review_edits()

    def show(self, index: int) -> None:
        window = self.window
        window.show_image_id(self.ids[index])
        window.views.fit()
        self.wait_for_pictures()

    def focus(self) -> None:
        """Zoom both views (to ``FOCUS_ZOOM`` at most) onto the full-height strip of the image with
        the most boxes, when the views are too narrow to show the whole image that large (as the
        + key and dragging would)."""
        from PySide6.QtCore import QRectF

        window = self.window
        view = window.views.views()[0]
        vw, vh = view.viewport().width(), view.viewport().height()
        w, h = window.scene.image_size()
        boxes = window.scene.boxes()
        strip = vw / min(FOCUS_ZOOM, vh / max(h, 1))
        if not boxes or strip >= w:
            window.views.fit()
            return
        # the strip with the most kinds of box (accepted, proposed, rejected, pseudo), then the most boxes
        kinds = {b.id: (b.state, b.source) for b in boxes}
        starts = sorted({min(max(b.x1 - 0.05 * strip, 0), w - strip) for b in boxes})

        def inside(left: float) -> list:
            return [b for b in boxes if b.x1 >= left and b.x2 <= left + strip]

        left = max(starts, key=lambda a: (len({kinds[b.id] for b in inside(a)}), len(inside(a))))
        window.views.show_region(QRectF(left, 0, strip, h))

    def wait_for_pictures(self) -> None:
        """Until the enhanced view holds the full-resolution result and the prefetcher is idle."""
        window = self.window
        pipeline = window.pipeline
        image_id = window.current_image_id

        def ready() -> bool:
            summary = window.browser_model.summary(window.browser_model.row_of(image_id))
            full = pipeline.cached(image_id, window._path_of(summary), window.enhance_panel.params())[1]
            shown = window.views.enhanced()
            return (full is not None and shown is not None and shown.width() == full.shape[1]
                    and pipeline.prefetcher.is_idle())

        wait_until(ready, "the enhanced image")
        settle(300)

    def review_edits(self) -> None:
        """Accept two proposals and reject the made-up false positive, as Y and N do."""
        editor = self.window.editor
        model = sorted((b for b in editor.boxes() if b.source == "model"), key=lambda b: -(b.score or 0))
        fp = [b for b in model if abs((b.score or 0) - FALSE_POSITIVE_SCORE) < 1e-6]
        for box in [b for b in model if b not in fp][:2]:
            editor.select([box.id])
            editor.accept_selected()
        if fp:
            editor.select([fp[0].id])
            editor.reject_selected()
        settle()

    def select_a_proposal(self) -> None:
        """Select the largest model proposal in sight, so that the Box tab shows one."""
        window = self.window
        view = window.views.views()[0]
        seen = view.mapToScene(view.viewport().rect()).boundingRect()
        remaining = [b for b in window.editor.boxes() if b.source == "model" and b.state == "proposed"
                     and seen.contains(b.x1, b.y1) and seen.contains(b.x2, b.y2)]
        if remaining:
            window.editor.select([max(remaining, key=lambda b: (b.x2 - b.x1) * (b.y2 - b.y1)).id])
        settle()

    def tab(self, panel) -> None:
        """Bring the tab holding ``panel`` to the front (a page, or the widget of a scrolling page)."""
        self.window.show_panel(panel)
        page = self.window.tabs.currentWidget()
        if self.window.current_panel() is not panel and not page.isAncestorOf(panel):
            raise RuntimeError(f"no tab holds {type(panel).__name__}")
        settle()

    def dock_width(self, width: int) -> None:
        from PySide6.QtCore import Qt

        window = self.window
        dock = window.tabs.parentWidget()
        while dock is not None and dock.objectName() != "panelsDock":
            dock = dock.parentWidget()
        if dock is not None:
            window.resizeDocks([dock], [width], Qt.Orientation.Horizontal)
        settle()

    def frame(self, tab, dock_fraction: float) -> None:
        """Show panel ``tab`` with the Panels dock at about ``dock_fraction`` of the window's
        width (Qt keeps it at least as wide as the dock's minimum), the image fitted."""
        self.tab(tab)
        self.dock_width(int(self.size[0] * dock_fraction))
        self.focus()
        self.window.statusBar().clearMessage()
        settle()

    # -- one method per picture ------------------------------------------------------------------
    def review_window(self) -> None:
        self.frame(self.window.attributes, 0.25)
        self.select_a_proposal()

    def enhance_panel(self) -> None:
        self.frame(self.window.enhance_panel, 0.3)
        self.wait_for_pictures()

    def help_overlay(self) -> None:
        self.frame(self.window.attributes, 0.25)
        self.window.toggle_help()
        settle()

    def after_help(self) -> None:
        if self.window.help.isVisible():
            self.window.toggle_help()

    def detect_panel(self) -> None:
        window = self.window
        panel = window.detect_panel
        self.show(DETECTED)
        panel.refresh_models(select_id=self.model_id)
        panel.scope_combo.setCurrentIndex(panel.scope_combo.findData("current"))
        panel.device = "cpu"
        self.frame(panel, 0.25)
        job = panel.run()
        if job is None:
            raise RuntimeError(f"detection did not start: {panel.log.toPlainText()}")
        wait_until(lambda: not panel.is_running(), "the detection run")
        self.wait_for_pictures()
        window.views.fit()  # a new zoom also refreshes the status bar's box counts
        self.frame(panel, 0.25)

    def training_panel(self) -> None:
        window = self.window
        panel = window.loop.training
        panel.env = {"OMP_NUM_THREADS": str(max(1, min(4, os.cpu_count() or 1)))}
        settings = {"base_checkpoint": str(self.work / "tiny-random-srn.pth"), "base_model_id": self.model_id,
                    "base_name": MODEL_NAME, "iterations": self.iterations, "batch_size": 2, "size": 128,
                    "device": "cpu", "workers": 0, "pseudo_labels": None,
                    "enhance": window.enhance_panel.params().to_dict(),
                    "train_config": {"log_every": 1}}
        self.frame(panel, 0.45)
        job = panel.start(settings)
        if job is None:
            raise RuntimeError(f"training did not start: {panel.log.toPlainText()}")
        wait_until(lambda: panel.job() is None, "the training run")
        if "finished" not in panel.status_label.text():
            raise RuntimeError(f"training did not finish: {panel.status_label.text()}")
        bar = panel.log.verticalScrollBar()
        bar.setValue(bar.maximum())  # the end of the log: "Run 1 finished: model version 2 registered."
        self.frame(panel, 0.45)

    def evaluation_view(self) -> None:
        from srn.model.config import InferenceConfig

        view = self.window.loop.evaluation
        view.device = "cpu"
        # a random model's scores (about 0.01, the authors' prior) all lie under the authors' 0.05
        # threshold: keep every box, so that the curves and the false positives have something to show
        view.inference = InferenceConfig(first_step_threshold=0.0, score_threshold=0.0)
        self.frame(view, 0.75)
        view.refresh_models()
        view.compute_missing()
        wait_until(lambda: not view.is_running() and not view.missing_cells(), "the evaluations")
        settle()
        view.refresh_models()
        self.frame(view, 0.75)

    def close(self) -> None:
        self.window.close()
        settle(50)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([sys.argv[0]])  # noqa: F841 - kept alive until the end
    wanted = [s for s in SHOTS if args.only is None or s in args.only]
    needs = set(wanted)
    if "evaluation-view" in needs:
        needs.add("training-panel")  # the experiment table wants a fine-tuned model

    own_work = args.work is None
    work = (Path(tempfile.gettempdir()) / DEFAULT_WORK) if own_work else args.work.resolve()
    if own_work and (work / MARKER).is_file():  # left over by an earlier run of this script
        shutil.rmtree(work)
    if work.exists() and any(work.iterdir()):
        print(f"{work}: the work folder must be empty", file=sys.stderr)
        return 2
    work.mkdir(parents=True, exist_ok=True)
    (work / MARKER).write_text("tools/screenshots.py work folder; safe to delete\n")
    written: list[Path] = []
    session = None
    try:
        session = Session(work, args.size, args.image_size, args.iterations)
        for name in SHOTS:
            if name not in needs:
                continue
            getattr(session, name.replace("-", "_"))()
            if name in wanted:
                path = save_png(session.window, args.out / f"{name}.png", args.size)
                written.append(path)
                print(path, flush=True)
            session.after_help()
    except (RuntimeError, TimeoutError, OSError) as exc:
        print(f"screenshots: {exc}", file=sys.stderr)
        return 1
    finally:
        if session is not None:
            session.close()
        if own_work:
            shutil.rmtree(work, ignore_errors=True)
    for path in written:
        if path.stat().st_size > MAX_BYTES:
            print(f"warning: {path} is {path.stat().st_size // 1000} kB (> {MAX_BYTES // 1000} kB)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
