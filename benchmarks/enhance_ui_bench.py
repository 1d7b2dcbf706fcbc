"""Preview updates per second that the GUI actually gets while a slider is dragged (offscreen Qt).

    QT_QPA_PLATFORM=offscreen python benchmarks/enhance_ui_bench.py [--seconds 3] [--rate 120]

The chain measured is the real one: ``EnhancePanel`` slider moves → ``params_changed`` →
``EnhancePreviewer.request`` (worker thread, latest request only) → ``preview_ready`` on the
GUI thread → QImage/QPixmap conversion and the luminance histogram, as the window does. A timer
moves the slider ``--rate`` times per second (a mouse drag delivers about 60–120 moves/s) across
its whole range and back, on a synthetic 1080×720 night image with MSRCR. Prints delivered
updates/s, the latency from a move to the frame showing it, and the target (≥ 30 updates/s).
``benchmarks/enhance_bench.py`` measures the render alone, without Qt or threads.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
from PySide6.QtCore import QTimer  # noqa: E402
from PySide6.QtGui import QImage, QPixmap  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from app.jobs.enhance_job import EnhancePreviewer  # noqa: E402
from app.ui.enhance_panel import EnhancePanel  # noqa: E402
from app.ui.histogram import LuminanceHistogram  # noqa: E402
from srn.data.synth import SynthConfig, make_sample  # noqa: E402
from srn.enhance import MSRCRParams  # noqa: E402

TARGET = 30.0


def sweep(app: QApplication, panel: EnhancePanel, previewer: EnhancePreviewer, histogram: LuminanceHistogram,
          control: str, seconds: float, rate: float) -> dict:
    """Drag ``control`` for ``seconds`` at ``rate`` moves/s; returns delivered frames and latencies."""
    slider = panel.control(control).slider
    positions = np.concatenate([np.arange(slider.minimum(), slider.maximum() + 1),
                                np.arange(slider.maximum(), slider.minimum() - 1, -1)])
    sent: dict[str, float] = {}  # params JSON -> when the move that asked for it happened
    frames: list[float] = []
    latencies: list[float] = []
    pixmaps = []

    def on_changed(params) -> None:
        sent[params.to_json()] = time.perf_counter()
        previewer.request(params)

    def on_ready(key, image, params) -> None:
        now = time.perf_counter()
        h, w = image.shape[:2]
        qimage = QImage(image.data, w, h, 3 * w, QImage.Format.Format_RGB888)
        pixmaps[:] = [QPixmap.fromImage(qimage)]
        histogram.set_after(image)
        frames.append(now)
        if params.to_json() in sent:
            latencies.append(now - sent[params.to_json()])

    panel.params_changed.connect(on_changed)
    previewer.preview_ready.connect(on_ready)
    step = iter(range(10**9))
    timer = QTimer()
    timer.setInterval(max(1, round(1000 / rate)))
    timer.timeout.connect(lambda: slider.setValue(int(positions[next(step) * 7 % len(positions)])))
    start = time.perf_counter()
    timer.start()
    while time.perf_counter() - start < seconds:
        app.processEvents()
        time.sleep(0.0005)
    timer.stop()
    end = time.perf_counter()
    moves = next(step)
    while time.perf_counter() - end < 1.0:  # let the last frame arrive (not counted in the rate)
        app.processEvents()
        time.sleep(0.001)
    panel.params_changed.disconnect(on_changed)
    previewer.preview_ready.disconnect(on_ready)
    delivered = sum(1 for t in frames if t <= end)
    return {"moves": moves, "frames": delivered, "rate": delivered / (end - start),
            "moves_rate": moves / (end - start),
            "latency_ms": 1000 * np.median(latencies) if latencies else float("nan"),
            "latency_p95_ms": 1000 * np.percentile(latencies, 95) if latencies else float("nan")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="drag time per slider")
    parser.add_argument("--rate", type=float, default=120.0, help="slider moves per second")
    args = parser.parse_args()
    app = QApplication.instance() or QApplication([])
    image = make_sample(7, 1, SynthConfig(width=1080, height=720)).night
    panel, histogram = EnhancePanel(params=MSRCRParams()), LuminanceHistogram()
    previewer = EnhancePreviewer()
    try:
        previewer.set_image("bench", image)
        previewer.request(panel.params())  # builds the session and every default surround
        deadline = time.perf_counter() + 10
        while previewer.render_count == 0 and time.perf_counter() < deadline:
            app.processEvents()
            time.sleep(0.001)
        histogram.set_images(image, None)
        print(f"== preview updates/s while dragging a slider: 1080x720 MSRCR, {args.rate:g} moves/s, "
              f"{args.seconds:g} s per slider, {os.cpu_count()} CPUs, offscreen Qt")
        results = {}
        for control in ("low_clip", "sigmas[0]", "sigmas[1]", "sigmas[2]"):
            r = sweep(app, panel, previewer, histogram, control, args.seconds, args.rate)
            results[control] = r["rate"]
            print(f"{control:10s} {r['rate']:5.1f} updates/s  ({r['moves_rate']:.0f} moves/s asked; "
                  f"move→frame latency median {r['latency_ms']:.0f} ms, p95 {r['latency_p95_ms']:.0f} ms)")
        worst = min(results, key=results.get)
        verdict = "meets" if results[worst] >= TARGET else "MISSES"
        print(f"slowest: {worst} {results[worst]:.1f} updates/s — target >= {TARGET:g}/s: {verdict}")
    finally:
        previewer.stop()


if __name__ == "__main__":
    main()
