"""File → Export…: the ``ExportDialog`` on a real SQLite project, driven through its widgets.

What it writes is read back with ``srn.formats`` and compared with the store's boxes: the files
must be what the evaluation tools and the importers read. A refused or failed export must show
the reason naming the file and leave the destination as it was; a cancelled one writes nothing.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QMessageBox

import app.jobs.export_job as export_job
from app.store import (
    Project,
    boxes_of,
    create_box,
    image_summaries,
    import_images,
    record_detections,
    register_model,
    set_review_status,
    set_split,
)
from app.ui.export_dialog import ExportDialog
from srn.formats import coco, darkface, wider
from srn.formats.records import from_wider

W, H = 64, 48


@dataclass
class Built:
    project: Project
    folder: Path
    ids: dict[str, int]
    run_raw: int
    run_enhanced: int


@pytest.fixture
def built(tmp_path, write_images):
    """Four images: a, b done (splits val, train), c in progress (val), d new; accepted boxes on
    all, an ignored face and a rejected box on a; two detection runs (raw on a, b, c; enhanced on a)."""
    write_images(tmp_path / "images", ["a.png", "b.png", "c.png", "d.png"], size=(W, H))
    project = Project.create(tmp_path / "project.dfs.db")
    import_images(project, tmp_path / "images")
    ids = {s.rel_path: s.id for s in image_summaries(project)}
    a, b, c, d = (ids[f"{n}.png"] for n in "abcd")
    set_review_status(project, [a, b], "done")
    set_review_status(project, c, "in_progress")
    set_split(project, [a, c], "val")
    set_split(project, b, "train")
    create_box(project, a, (2, 3, 20, 25))
    create_box(project, a, (30, 10, 40, 30), ignore=True)
    create_box(project, a, (40, 30, 50, 40), state="rejected")
    create_box(project, b, (5, 5, 15, 15))
    create_box(project, c, (1, 1, 10, 10))
    create_box(project, d, (0, 0, 5, 5))
    checkpoint = tmp_path / "tiny.pth"
    checkpoint.write_bytes(b"weights")
    model = register_model(project, "tiny model", checkpoint)
    run_raw = record_detections(project, {a: ([[3, 4, 21, 26], [35, 5, 45, 15]], [0.9, 0.4]),
                                          b: (np.zeros((0, 4)), np.zeros(0)), c: ([[0, 0, 9, 9]], [0.7])},
                                model_version_id=model.id)
    run_enhanced = record_detections(project, {a: ([[10, 10, 20, 20]], [0.5])}, model_version_id=model.id,
                                     enhanced=True)
    yield Built(project, tmp_path, ids, run_raw, run_enhanced)
    project.close()


@pytest.fixture
def dialog(qtbot, built):
    dlg = ExportDialog(built.project)
    qtbot.addWidget(dlg)
    dlg.show()
    qtbot.waitExposed(dlg)
    yield dlg
    dlg.stop()


# -- helpers ------------------------------------------------------------------------------------

def labels(project: Project, image_id: int) -> tuple[np.ndarray, np.ndarray]:
    """The store's faces of an image: accepted boxes (xyxy) and their ignore flags, in id order."""
    rows = boxes_of(project, image_id, states=("accepted",))
    return (np.array([[b.x1, b.y1, b.x2, b.y2] for b in rows], dtype=np.float64).reshape(-1, 4),
            np.array([b.ignore for b in rows], dtype=bool))


def predictions(project: Project, image_id: int, run_id: int) -> tuple[np.ndarray, np.ndarray]:
    """The run's model boxes of an image, highest score first (the order of a predictions file)."""
    rows = sorted((b for b in boxes_of(project, image_id, states=("proposed", "accepted"))
                   if b.source == "model" and b.detection_run_id == run_id), key=lambda b: -b.score)
    return (np.array([[b.x1, b.y1, b.x2, b.y2] for b in rows], dtype=np.float64).reshape(-1, 4),
            np.array([b.score for b in rows], dtype=np.float64))


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def click(qtbot, button) -> None:
    assert button.isEnabled(), f"{button.text()!r} is disabled"
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def choose(combo, data) -> None:
    index = combo.findData(data)
    assert index >= 0, f"{data!r} is not offered: {[combo.itemText(i) for i in range(combo.count())]}"
    combo.setCurrentIndex(index)


def export_now(qtbot, dlg: ExportDialog) -> None:
    """Click Export and wait until the job has ended (it must have started)."""
    click(qtbot, dlg.export_button)
    assert dlg.is_running(), dlg.message_label.text()
    qtbot.waitUntil(lambda: not dlg.is_running(), timeout=10_000)


def answer(qtbot, dlg: ExportDialog, replace: bool) -> None:
    qtbot.waitUntil(lambda: dlg.overwrite_question() is not None, timeout=2_000)
    box = dlg.overwrite_question()
    button = box.button(QMessageBox.StandardButton.Yes if replace else QMessageBox.StandardButton.Cancel)
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


# -- what is written ----------------------------------------------------------------------------

def test_wider_ground_truth_holds_the_done_images_and_their_faces(qtbot, dialog, built):
    assert dialog.selected_format() == "wider" and dialog.selected_statuses() == ("done",)
    assert dialog.count_label.text() == "2 images will be exported."
    assert not dialog.run_combo.isEnabled()  # only for predictions
    out = built.folder / "wider_face_all_bbx_gt.txt"
    assert dialog.destination() == out  # the default, in the project's folder
    assert not dialog.open_button.isEnabled()
    with qtbot.waitSignal(dialog.exported, timeout=10_000) as signal:
        click(qtbot, dialog.export_button)
        worker = dialog.job().worker
    qtbot.waitUntil(lambda: not dialog.is_running())
    assert worker.thread_ident not in (None, threading.get_ident())  # ran off the GUI thread
    report = signal.args[0]
    assert (report.images, report.boxes, Path(report.out)) == (2, 3, out)

    records = wider.read_gt(out)
    assert [r.name for r in records] == ["a.png", "b.png"]  # c (in progress) and d (new) are not done
    for record in records:
        ann = from_wider(record)
        boxes, ignore = labels(built.project, built.ids[record.name])
        np.testing.assert_array_equal(ann.boxes, boxes)  # accepted only: no rejected box, no proposal
        np.testing.assert_array_equal(ann.ignore, ignore)
    assert labels(built.project, built.ids["a.png"])[1].tolist() == [False, True]
    assert report.summary() in dialog.message_label.text()
    assert dialog.progress_bar.value() == dialog.progress_bar.maximum() == 2
    assert dialog.open_button.isEnabled()


def test_statuses_and_split_choose_the_images_of_a_darkface_export(qtbot, dialog, built):
    dialog.status_checks["in_progress"].setChecked(True)
    choose(dialog.split_combo, "val")
    assert [dialog.split_combo.itemData(i) for i in range(dialog.split_combo.count())] == [None, "train", "val"]
    dialog.set_format("darkface")
    out = built.folder / "darkface_labels_val"
    assert dialog.destination() == out
    assert dialog.count_label.text() == "2 images will be exported."
    export_now(qtbot, dialog)

    written = darkface.read_labels_folder(out)
    assert sorted(written) == ["a", "c"]  # b is train, d is new
    for stem, boxes in written.items():
        np.testing.assert_array_equal(boxes, labels(built.project, built.ids[f"{stem}.png"])[0])
    assert "ignored faces written as faces" in dialog.message_label.text()  # the report's warning is shown


def test_coco_of_one_split(qtbot, dialog, built):
    dialog.set_format("coco")
    choose(dialog.split_combo, "train")
    out = built.folder / "coco_faces_train.json"
    assert dialog.destination() == out
    assert dialog.count_label.text() == "1 image will be exported."
    export_now(qtbot, dialog)

    anns = coco.import_coco(out)
    assert [a.name for a in anns] == ["b.png"]
    np.testing.assert_array_equal(anns[0].boxes, labels(built.project, built.ids["b.png"])[0])
    assert (anns[0].width, anns[0].height) == (W, H)


def test_predictions_of_the_chosen_run(qtbot, dialog, built):
    dialog.set_format("wider-predictions")
    assert dialog.run_combo.isEnabled()
    assert [dialog.run_combo.itemData(i) for i in range(dialog.run_combo.count())] == [
        built.run_enhanced, built.run_raw]  # newest first
    assert "tiny model, enhanced" in dialog.run_combo.itemText(0) and "1 image" in dialog.run_combo.itemText(0)
    assert "3 images" in dialog.run_combo.itemText(1)
    assert dialog.count_label.text() == "1 image (of those the run covered) will be exported."
    choose(dialog.run_combo, built.run_raw)
    assert dialog.count_label.text() == "2 images (of those the run covered) will be exported."
    out = built.folder / f"predictions_run{built.run_raw}"
    assert dialog.destination() == out
    export_now(qtbot, dialog)

    written = wider.read_predictions(out)
    assert sorted(written) == ["a", "b"]  # the done images the run covered; c is in progress
    for key, (boxes, scores) in written.items():
        want_boxes, want_scores = predictions(built.project, built.ids[f"{key}.png"], built.run_raw)
        np.testing.assert_allclose(boxes, want_boxes)
        np.testing.assert_allclose(scores, want_scores, atol=1e-4)
    assert len(written["b"][0]) == 0  # covered, nothing found: an empty file
    assert f"detections of run {built.run_raw}" in dialog.message_label.text()


def test_the_count_follows_the_choices(qtbot, dialog):
    assert dialog.image_count() == 2
    dialog.status_checks["new"].setChecked(True)
    assert (dialog.image_count(), dialog.count_label.text()) == (3, "3 images will be exported.")
    dialog.status_checks["in_progress"].setChecked(True)
    assert dialog.image_count() == 4
    choose(dialog.split_combo, "val")
    assert dialog.image_count() == 2
    for check in dialog.status_checks.values():
        check.setChecked(False)
    assert dialog.image_count() is None
    assert dialog.count_label.text() == "Choose at least one review status."
    assert not dialog.export_button.isEnabled()
    assert "reviewed" in dialog.status_checks["done"].toolTip()


# -- refused and failed exports ------------------------------------------------------------------

def test_the_projects_own_database_is_refused_without_asking(qtbot, dialog, built):
    db = built.project.path
    before = sha(db)
    dialog.set_destination(db)
    click(qtbot, dialog.export_button)
    assert dialog.overwrite_question() is None and not dialog.is_running()
    text = dialog.message_label.text()
    assert str(db) in text and "this project's database" in text
    assert sha(db) == before
    assert len(image_summaries(built.project)) == 4


def test_a_folder_holding_other_txt_files_is_refused_and_left_alone(qtbot, dialog, built):
    out = built.folder / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("my notes\n")
    dialog.set_format("darkface")
    dialog.set_destination(out)
    click(qtbot, dialog.export_button)
    answer(qtbot, dialog, replace=True)  # it holds .txt files: asked first
    qtbot.waitUntil(lambda: not dialog.is_running(), timeout=10_000)
    text = dialog.message_label.text()
    assert text.startswith("Export failed:") and str(out) in text and "notes.txt" in text
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
    assert (out / "notes.txt").read_text() == "my notes\n"
    assert not [p for p in built.folder.iterdir() if p.name.endswith(".partial")]  # no staging folder left
    assert dialog.report is None and not dialog.open_button.isEnabled()


def test_a_write_error_names_the_file(qtbot, dialog, built):
    blocker = built.folder / "not a folder"
    blocker.write_text("a file where the export wants a folder\n")
    dialog.set_destination(blocker / "gt.txt")
    export_now(qtbot, dialog)
    text = dialog.message_label.text()
    assert text.startswith("Export failed:") and str(blocker) in text
    assert blocker.read_text() == "a file where the export wants a folder\n"
    assert dialog.report is None


# -- replacing -----------------------------------------------------------------------------------

def test_replacing_an_earlier_export_asks_first(qtbot, dialog, built):
    out = dialog.destination()
    export_now(qtbot, dialog)
    first = out.read_text()
    create_box(built.project, built.ids["b.png"], (20, 20, 30, 30))  # the labels change

    click(qtbot, dialog.export_button)
    assert not dialog.is_running() and not dialog.export_button.isEnabled()  # waits for the answer
    assert str(out) in dialog.overwrite_question().text()
    answer(qtbot, dialog, replace=False)
    assert not dialog.is_running()
    assert out.read_text() == first
    assert dialog.message_label.text() == "Nothing was exported."

    click(qtbot, dialog.export_button)
    answer(qtbot, dialog, replace=True)
    qtbot.waitUntil(lambda: dialog.report is not None and not dialog.is_running(), timeout=10_000)
    b = next(r for r in wider.read_gt(out) if r.name == "b.png")
    np.testing.assert_array_equal(from_wider(b).boxes, labels(built.project, built.ids["b.png"])[0])
    assert len(b.boxes) == 2


def test_a_confirmed_replace_of_another_kind_of_file_is_forced(qtbot, dialog, built):
    out = built.folder / "notes.txt"
    out.write_text("not a WIDER FACE file\n")  # the store refuses to replace it unless forced
    dialog.set_destination(out)
    click(qtbot, dialog.export_button)
    answer(qtbot, dialog, replace=True)
    qtbot.waitUntil(lambda: not dialog.is_running(), timeout=10_000)
    assert dialog.report is not None, dialog.message_label.text()
    assert [r.name for r in wider.read_gt(out)] == ["a.png", "b.png"]


# -- open folder, cancel, close ------------------------------------------------------------------

@pytest.mark.parametrize("fmt, folder", [("wider", "."), ("darkface", "darkface_labels")])
def test_open_folder_opens_the_folder_written_into(qtbot, dialog, built, monkeypatch, fmt, folder):
    opened = []
    monkeypatch.setattr(QDesktopServices, "openUrl", lambda url: opened.append(url) or True)
    dialog.set_format(fmt)
    assert dialog.folder_url() is None and not dialog.open_button.isEnabled()
    export_now(qtbot, dialog)
    click(qtbot, dialog.open_button)
    assert opened == [QUrl.fromLocalFile(str((built.folder / folder).resolve()))]


@pytest.fixture
def held_export(monkeypatch):
    """The store's export, held at its first image until ``gate`` is set (``reached`` says it got there)."""
    reached, gate = threading.Event(), threading.Event()
    real = export_job.export

    def held(*args, progress, **kwargs):
        def hold(done, total):
            reached.set()
            gate.wait(10)
            progress(done, total)

        return real(*args, progress=hold, **kwargs)

    monkeypatch.setattr(export_job, "export", held)
    yield reached, gate
    gate.set()  # never leave a thread waiting


def test_cancel_stops_the_export_and_nothing_is_written(qtbot, dialog, built, held_export):
    reached, gate = held_export
    dialog.set_format("darkface")
    out = dialog.destination()
    click(qtbot, dialog.export_button)
    qtbot.waitUntil(reached.is_set, timeout=10_000)
    # the export is under way in its thread, and the dialog still answers
    assert dialog.is_running() and dialog.progress_bar.maximum() == 0  # busy
    assert not dialog.export_button.isEnabled() and not dialog.format_combo.isEnabled()
    click(qtbot, dialog.cancel_button)
    gate.set()
    qtbot.waitUntil(lambda: not dialog.is_running(), timeout=10_000)
    assert dialog.message_label.text() == "Export cancelled; nothing was written."
    assert not out.exists() and not [p for p in built.folder.iterdir() if p.name.endswith(".partial")]
    assert dialog.export_button.isEnabled() and dialog.report is None


def test_closing_during_an_export_cancels_it_first(qtbot, dialog, built, held_export):
    reached, gate = held_export
    out = dialog.destination()
    ended = []
    dialog.export_ended.connect(lambda: ended.append(True))
    click(qtbot, dialog.export_button)
    qtbot.waitUntil(reached.is_set, timeout=10_000)
    threading.Timer(0.2, gate.set).start()
    click(qtbot, dialog.close_button)
    assert not dialog.isVisible() and not dialog.is_running() and ended == [True]
    assert dialog.message_label.text() == "Export cancelled; nothing was written."
    assert not out.exists()
