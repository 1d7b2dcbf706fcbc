"""The review window as annotators drive it: every shortcut, prefetched neighbours, sliders that
change the enhanced view, detection results appearing in the views, the score filter."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from app.jobs.enhance_job import EnhancedImageCache
from app.jobs.image_cache import ImageLRU
from app.jobs.prefetch import NeighbourPrefetcher, file_key
from app.store import boxes_of, record_detections
from app.ui.keymap import KEYMAP, check_unique
from app.ui.panel_helpers import LOAD_WEIGHTS
from app.ui.review_window import ReviewWindow
from srn.enhance import MSRCRParams
from srn.formats.darkface import write_label

W, H = 160, 120
WAIT_MS = 30_000


def _write(path: Path, seed: int, level: int = 40) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    assert cv2.imwrite(str(path), rng.integers(0, level, (H, W, 3), dtype=np.uint8))


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    for i, name in enumerate(("a", "b", "c", "d")):
        _write(tmp_path / "image" / f"{name}.png", i)
    write_label(tmp_path / "label" / "a.txt", np.array([[10, 10, 40, 50]], float))
    return tmp_path / "image"


@pytest.fixture
def window(review_window):
    return review_window


def _open(window, folder: Path) -> None:
    assert window.open_folder(folder)
    window.order_box.setCurrentText("Path")
    window.select_row(0)


# -- prefetching -------------------------------------------------------------------------------

def test_neighbours_are_prefetched_so_the_switch_renders_nothing(qtbot, window, folder):
    _open(window, folder)
    pipeline, params = window.pipeline, window.enhance_panel.params()
    second, third = window.browser_panel.summary_at(1), window.browser_panel.summary_at(2)
    following = second.id

    def cached(summary):
        return pipeline.cached(summary.id, window._path_of(summary), params)

    qtbot.waitUntil(lambda: pipeline.prefetcher.is_idle() and cached(second)[1] is not None, timeout=WAIT_MS)
    assert cached(second)[0] is not None
    assert cached(third)[0] is not None  # next-but-one too
    renders = window.previewer.full_render_count, window.previewer.render_count

    QTest.keyClick(window.views.left, Qt.Key.Key_D)
    assert window.current_image_id == following
    shown = window.views.enhanced()
    assert shown is not None  # at once, from the cache: no wait for a render
    expected = cached(second)[1]
    assert shown.pixelColor(5, 7).red() == expected[7, 5, 0]
    qtbot.wait(300)
    assert (window.previewer.full_render_count, window.previewer.render_count) == renders


def test_prefetcher_skips_unreadable_files_and_a_new_request_replaces_the_old(qtbot, tmp_path):
    for name in ("a", "c"):
        _write(tmp_path / f"{name}.png", 1)
    (tmp_path / "b.png").write_bytes(b"not an image")
    originals, enhanced = ImageLRU(10**8), EnhancedImageCache(10**8)
    prefetcher = NeighbourPrefetcher(originals, enhanced)
    try:
        done = []
        prefetcher.prefetched.connect(done.append)
        params = MSRCRParams()
        prefetcher.prefetch([(1, tmp_path / "a.png"), (2, tmp_path / "b.png"), (3, tmp_path / "c.png")], params)
        qtbot.waitUntil(lambda: prefetcher.is_idle() and 3 in done, timeout=WAIT_MS)
        assert done == [1, 3] and len(originals) == 2
        assert enhanced.get(file_key(3, tmp_path / "c.png"), params) is not None
        assert originals.get(file_key(1, tmp_path / "a.png")).shape == (H, W, 3)

        prefetcher.prefetch([(4, tmp_path / "a.png")], None)  # no params: decode only
        qtbot.waitUntil(lambda: 4 in done, timeout=WAIT_MS)
        assert file_key(4, tmp_path / "a.png") in originals and len(enhanced) == 2  # 1 and 3 only
    finally:
        assert prefetcher.stop()
    prefetcher.prefetch([(5, tmp_path / "a.png")], None)  # ignored after stop
    assert file_key(5, tmp_path / "a.png") not in originals


def test_image_cache_is_bounded_by_bytes_and_least_recently_used_goes_first():
    cache = ImageLRU(budget_bytes=250)
    for key in "abc":
        cache.put(key, np.zeros(100, np.uint8))
        if key == "b":
            cache.get("a")  # a is now more recent than b
    assert "b" not in cache and "a" in cache and "c" in cache and cache.nbytes == 200
    cache.put("huge", np.zeros(300, np.uint8))
    assert "huge" not in cache and len(cache) == 2
    with pytest.raises(ValueError):
        cache.get("a")[0] = 1  # shared arrays are read-only


def test_a_different_project_never_shows_cached_pictures_of_the_first(qtbot, window, folder, tmp_path):
    _open(window, folder)
    qtbot.waitUntil(lambda: window.pipeline.prefetcher.is_idle(), timeout=WAIT_MS)
    other = tmp_path / "other" / "image"
    for i, name in enumerate(("a", "b")):
        path = other / f"{name}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        assert cv2.imwrite(str(path), np.full((H, W, 3), 200 + i, np.uint8))  # same ids, other pixels
    assert window.open_folder(other)
    assert window.views.original().pixelColor(3, 3).red() in (200, 201)


# -- shortcuts ---------------------------------------------------------------------------------

def test_every_keymap_binding_is_a_window_shortcut():
    check_unique()  # no key is bound to two actions (Qt would make such a shortcut ambiguous)
    window = ReviewWindow()
    try:
        for binding in KEYMAP:
            action = window.actions[binding.action]
            if binding.by_view:
                assert action.shortcuts() == []  # Space is the view's: tap = command, hold = pan
            else:
                assert [s.toString() for s in action.shortcuts()] == \
                    [QKeySequence(k).toString() for k in binding.keys], binding.action
    finally:
        window.close()
        window.deleteLater()


def test_view_and_edit_shortcuts_do_what_the_help_says(qtbot, window, folder):
    _open(window, folder)
    view, views = window.views.left, window.views
    image_id = window.current_image_id
    model_box = record_detections(window.project, {image_id: (np.array([[60.0, 20, 90, 60]]), np.array([0.9]))})
    assert model_box
    window.editor.load(image_id)

    QTest.keyClick(view, Qt.Key.Key_1)
    assert views.zoom() == pytest.approx(1.0)
    QTest.keyClick(view, Qt.Key.Key_Plus)
    assert views.zoom() == pytest.approx(1.25)
    QTest.keyClick(view, Qt.Key.Key_Minus)
    assert views.zoom() == pytest.approx(1.0)
    QTest.keyClick(view, Qt.Key.Key_F)
    assert view.is_fitted()

    QTest.keyClick(view, Qt.Key.Key_3)
    assert views.layout_name() == "single"
    shows = views.shows_enhanced()
    QTest.keyClick(view, Qt.Key.Key_3)
    assert views.shows_enhanced() != shows
    QTest.keyClick(view, Qt.Key.Key_4)
    assert views.layout_name() == "split"
    QTest.keyClick(view, Qt.Key.Key_2)
    assert views.layout_name() == "side"

    QTest.keyClick(view, Qt.Key.Key_H)
    assert not window.scene.boxes_visible()
    QTest.keyClick(view, Qt.Key.Key_H)
    assert window.scene.boxes_visible()

    proposal = next(b for b in window.scene.boxes() if b.source == "model")
    window.scene.select_only([proposal.id])
    QTest.keyClick(view, Qt.Key.Key_Y)
    assert {b.id: b.state for b in boxes_of(window.project, image_id)}[proposal.id] == "accepted"
    QTest.keyClick(view, Qt.Key.Key_N)
    assert {b.id: b.state for b in boxes_of(window.project, image_id, states=None)}[proposal.id] == "rejected"
    window.scene.select_only([next(b.id for b in window.scene.boxes() if b.source != "model")])
    QTest.keyClick(view, Qt.Key.Key_Delete)
    assert [(b.source, b.state) for b in boxes_of(window.project, image_id)] == [("model", "rejected")]

    QTest.keyClick(view, Qt.Key.Key_D, Qt.KeyboardModifier.ControlModifier)  # next unreviewed
    assert window.current_image_id != image_id
    QTest.keyClick(view, Qt.Key.Key_Question)
    assert window.help.isVisible()
    QTest.keyClick(window.help, Qt.Key.Key_Escape)
    assert not window.help.isVisible()
    QTest.keyClick(view, Qt.Key.Key_F1)
    assert window.help.isVisible()


# -- enhancement and detection in the window ---------------------------------------------------

def test_moving_a_slider_changes_the_enhanced_view(qtbot, window, folder):
    _open(window, folder)
    qtbot.waitUntil(lambda: window.views.enhanced() is not None, timeout=WAIT_MS)
    before = window.views.enhanced().copy()
    slider = window.enhance_panel.control("sigmas[0]").slider
    slider.setValue(slider.minimum())
    qtbot.waitUntil(lambda: window.views.enhanced() is not None and window.views.enhanced() != before,
                    timeout=WAIT_MS)
    assert window.enhance_panel.params().sigmas[0] < 15


@pytest.fixture
def checkpoint(confident_checkpoint) -> Path:
    return confident_checkpoint


def test_detected_boxes_appear_in_both_views_as_the_run_goes(qtbot, window, folder, checkpoint):
    _open(window, folder)
    panel = window.detect_panel
    panel.device = "cpu"
    panel.choose_file = lambda parent: str(checkpoint)
    panel.model_combo.setCurrentIndex(panel.model_combo.findText(LOAD_WEIGHTS))
    panel.scope_combo.setCurrentIndex(panel.scope_combo.findData("current"))
    assert not [b for b in window.scene.boxes() if b.source == "model"]
    with qtbot.waitSignal(panel.run_finished, timeout=60_000):
        panel.run_button.click()
    shown = [b for b in window.scene.boxes() if b.source == "model"]
    stored = [b for b in boxes_of(window.project, window.current_image_id) if b.source == "model"]
    assert shown and sorted(b.id for b in shown) == sorted(b.id for b in stored)
    left, right = window.views.views()
    assert left.scene() is right.scene() is window.scene
    assert window.browser_model.summary(window.browser_model.row_of(window.current_image_id)).proposed == len(stored)
    assert f"{len(stored)} proposed" in window.status_text()  # the status bar counts the new boxes


def test_score_range_filter_shows_images_by_their_best_proposal(qtbot, window, folder):
    _open(window, folder)
    ids = [window.browser_panel.summary_at(r).id for r in range(4)]
    record_detections(window.project, {ids[0]: (np.array([[1.0, 1, 20, 20]]), np.array([0.9])),
                                       ids[1]: (np.array([[1.0, 1, 20, 20]]), np.array([0.3]))})
    window.reload_browser()
    panel = window.browser_panel
    panel.score_min.setValue(0.5)
    assert [panel.summary_at(r).id for r in range(panel.row_count())] == [ids[0]]
    panel.score_min.setValue(0.0)
    panel.score_max.setValue(0.5)
    assert [panel.summary_at(r).id for r in range(panel.row_count())] == [ids[1]]
    panel.score_max.setValue(1.0)
    assert panel.row_count() == 4 and "4 shown" in panel.counts.text()


# -- status bar and drag and drop --------------------------------------------------------------

def test_status_bar_shows_size_zoom_boxes_and_the_pixel_under_the_cursor(qtbot, window, folder):
    _open(window, folder)
    image_id = window.current_image_id
    record_detections(window.project, {image_id: (np.array([[60.0, 20, 90, 60]]), np.array([0.9]))})
    window.editor.load(image_id)
    window._refresh_status()
    text = window.status_text()
    assert f"{W}×{H}" in text and "zoom" in text and "1 faces, 1 proposed" in text  # a.png has one label
    view = window.views.left
    QTest.mouseMove(view.viewport(), view.mapFromScene(12.5, 7.5))
    r, g, b = window._rgb[7, 12]
    assert f"(12, 7) RGB {r} {g} {b}" in window.status_text()


def test_dropping_a_folder_on_the_window_opens_it(qtbot, window, folder):
    from PySide6.QtCore import QMimeData, QPointF, QUrl
    from PySide6.QtGui import QDragEnterEvent, QDropEvent

    data = QMimeData()
    data.setUrls([QUrl.fromLocalFile(str(folder))])
    pos = window.rect().center()
    enter = QDragEnterEvent(pos, Qt.DropAction.CopyAction, data, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(window, enter)
    assert enter.isAccepted()
    drop = QDropEvent(QPointF(pos), Qt.DropAction.CopyAction, data, Qt.MouseButton.LeftButton,
                      Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(window, drop)
    assert window.project is not None and window.browser_model.rowCount() == 4

    file_only = QMimeData()
    file_only.setUrls([QUrl.fromLocalFile(str(folder / "a.png"))])
    refused = QDragEnterEvent(pos, Qt.DropAction.CopyAction, file_only, Qt.MouseButton.LeftButton,
                              Qt.KeyboardModifier.NoModifier)
    refused.ignore()
    QApplication.sendEvent(window, refused)
    assert not refused.isAccepted()  # only folders are offered the drop


def test_work_finishing_after_a_project_switch_cannot_fill_the_new_projects_cache(qtbot, window, folder):
    _open(window, folder)
    pipeline, params = window.pipeline, window.enhance_panel.params()
    summary = window.browser_panel.summary_at(0)
    path = window._path_of(summary)
    pipeline.clear()  # what opening another project does
    # a render of the old project that ends now stores under the old generation's key
    stale = pipeline.previewer.key
    pipeline.enhanced.put(stale, params, np.zeros((H, W, 3), np.uint8))
    assert pipeline.cached(summary.id, path, params) == (None, None)  # same id and file, new generation
