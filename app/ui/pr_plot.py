"""Precision–recall curves of stored evaluations: the Evaluate tab's plot and its bigger window.

One curve per checked evaluation, coloured by its place among them, the AP in the legend. The
same drawing serves the dock's plot and "Bigger plot…", so the two never disagree.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QVBoxLayout, QWidget

COLOURS = ((255, 160, 40), (80, 170, 255), (120, 220, 120), (230, 90, 90), (200, 130, 255), (230, 230, 90))


def format_ap(ap: float | None) -> str:
    return "n/a" if ap is None or not math.isfinite(ap) else f"{ap:.4f}"


def new_pr_plot(name: str) -> pg.PlotWidget:
    plot = pg.PlotWidget(background=(24, 24, 24))
    plot.setObjectName(name)
    plot.setMenuEnabled(False)
    plot.setLabel("bottom", "recall")
    plot.setLabel("left", "precision")
    plot.setXRange(0, 1, padding=0.02)
    plot.setYRange(0, 1, padding=0.02)
    plot.addLegend(offset=(-5, 5))
    return plot


def curve_name(evaluation, models: dict) -> str:
    """Short: the legend sits inside the plot (the evaluation list names the data set)."""
    model = models.get(evaluation.model_version_id)
    kind = "enh" if evaluation.enhanced else "raw"
    return f"{model.name if model else evaluation.model_version_id} {kind}: AP {format_ap(evaluation.ap)}"


def draw_curves(plot: pg.PlotWidget, evaluations: Iterable, models: dict) -> dict[int, pg.PlotDataItem]:
    """Replace ``plot``'s curves with those of ``evaluations``; returns them by evaluation id."""
    plot.clear()
    legend = plot.getPlotItem().legend
    if legend is not None:
        legend.clear()
    curves = {}
    for n, e in enumerate(evaluations):
        recall, precision = e.curve_arrays()
        curves[e.id] = plot.plot(recall, precision, name=curve_name(e, models), connect="finite",
                                 pen=pg.mkPen(COLOURS[n % len(COLOURS)], width=2))
    return curves


def show_plot_window(parent: QWidget, evaluations: Iterable, models: dict) -> QDialog:
    """The curves, larger, in a window of their own (the dock's plot stays)."""
    dialog = QDialog(parent)
    dialog.setObjectName("evalPlotWindow")
    dialog.setWindowTitle("Precision–recall curves")
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dialog.resize(820, 640)
    plot = new_pr_plot("evalBigPlot")
    draw_curves(plot, evaluations, models)
    QVBoxLayout(dialog).addWidget(plot)
    dialog.show()
    return dialog
