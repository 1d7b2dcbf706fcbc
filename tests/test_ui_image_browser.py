"""The image browser model: rows from the store, lazy thumbnails with status badges, filters."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt

from app.store import Project, import_images, record_detections, review_queue, set_review_status
from app.store.summaries import image_summaries
from app.ui.image_browser_model import IMAGE_ID_ROLE, ImageBrowserModel, ImageFilterProxy


def _project(tmp_path, write_images):
    write_images(tmp_path / "imgs", ["a.png", "b.png", "c.png", "d.png"])
    project = Project.create(tmp_path / "p.db")
    import_images(project, tmp_path / "imgs")
    return project


def test_summaries_count_labels_and_proposals(tmp_path, write_images):
    with _project(tmp_path, write_images) as project:
        ids = {s.rel_path: s.id for s in image_summaries(project)}
        record_detections(project, {ids["a.png"]: (np.array([[1, 1, 9, 9], [20, 20, 30, 30]]), np.array([0.3, 0.8])),
                                    ids["b.png"]: (np.array([[1, 1, 9, 9]]), np.array([0.1]))})
        from app.store import create_box
        create_box(project, ids["c.png"], (5, 5, 15, 15))
        rows = {s.rel_path: s for s in image_summaries(project)}
        assert (rows["a.png"].labels, rows["a.png"].proposed, rows["a.png"].max_score) == (0, 2, 0.8)
        assert (rows["c.png"].labels, rows["c.png"].proposed, rows["c.png"].max_score) == (1, 0, None)
        assert [s.rel_path for s in image_summaries(project, [ids["b.png"]])] == ["b.png"]


def test_model_thumbnails_and_filters(qtbot, tmp_path, write_images):
    with _project(tmp_path, write_images) as project:
        roots = dict(project.roots())
        model = ImageBrowserModel(lambda s: roots[s.root_id] / s.rel_path)
        model.set_rows(image_summaries(project))
        assert model.rowCount() == 4
        index = model.index(0)
        assert "a.png" in model.data(index) and "0 faces" in model.data(index)
        first = model.data(index, Qt.ItemDataRole.DecorationRole)  # placeholder; asks for the thumbnail
        with qtbot.waitSignal(model.dataChanged, timeout=5000):
            pass
        assert model.thumbnail_cached(model.data(index, IMAGE_ID_ROLE))
        thumb = model.data(index, Qt.ItemDataRole.DecorationRole)
        assert thumb.width() == 96 and thumb.height() == 72 and thumb != first

        ids = {s.rel_path: s.id for s in image_summaries(project)}
        set_review_status(project, ids["b.png"], "done")
        record_detections(project, {ids["c.png"]: (np.array([[1, 1, 9, 9]]), np.array([0.7]))})
        model.set_rows(image_summaries(project))
        proxy = ImageFilterProxy()
        proxy.setSourceModel(model)
        proxy.set_filter(statuses=["new"])
        assert proxy.rowCount() == 3
        proxy.set_filter(has_detections=True)
        assert proxy.rowCount() == 1
        proxy.set_filter(score_range=(0.8, 1.0))
        assert proxy.rowCount() == 0
        proxy.set_filter(text="D.P")
        assert proxy.rowCount() == 1

        model.reorder([q.image_id for q in review_queue(project, "unreviewed")])
        assert [model.summary(i).rel_path for i in range(4)] == ["a.png", "c.png", "d.png", "b.png"]
        model.wait_for_thumbnails()
