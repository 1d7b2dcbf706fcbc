"""Models → "Get the authors' SRN model…": the real dialog and job against a local server and a real project."""

from __future__ import annotations

import pytest
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMainWindow

from app.store import Project, model_versions
from app.ui.detect_panel import DetectPanel
from app.ui.fetch_weights_dialog import (
    ACTION_NAME,
    MODEL_NAME,
    FetchWeightsDialog,
    add_models_menu,
    authors_source,
)
from tests.test_weights_fetch import (
    SMALL,
    WeightsServer,
    free_port,
    legacy_checkpoint_bytes,
)

WAIT_MS = 30_000


class Window(QMainWindow):
    """What the dialog needs of ``ReviewWindow``: ``project``, ``detect_panel`` and a menu bar."""

    def __init__(self, project: Project | None) -> None:
        super().__init__()
        self.project = project
        self.detect_panel = DetectPanel()
        self.detect_panel.set_project(project)
        self.setCentralWidget(self.detect_panel)


@pytest.fixture
def server():
    s = WeightsServer()
    s.files["SRN.pth"] = legacy_checkpoint_bytes()
    yield s
    s.close()


@pytest.fixture
def project(tmp_path):
    p = Project.create(tmp_path / "p.db")
    yield p
    p.close()


@pytest.fixture
def window(qtbot, project):
    w = Window(project)
    qtbot.addWidget(w)
    yield w
    for dialog in w.findChildren(FetchWeightsDialog):
        assert dialog.stop()


def _wait_done(qtbot, dialog: FetchWeightsDialog) -> None:
    qtbot.waitUntil(lambda: dialog.job is None, timeout=WAIT_MS)


def test_the_menu_action_downloads_verifies_and_registers_the_model(qtbot, server, window, project, tmp_path):
    dest = tmp_path / "models" / "SRN.pth"
    menu = add_models_menu(window, source=authors_source(mirror=server.url("SRN.pth"), srn_config=SMALL), dest=dest)
    assert menu.title() == "&Models" and menu in window.menuBar().findChildren(type(menu))
    action = window.findChild(QAction, ACTION_NAME)
    assert action is not None and action in menu.actions() and action.text() == "Get the authors' SRN model…"

    action.trigger()
    dialog = window.findChild(FetchWeightsDialog)
    assert dialog is not None and dialog.isVisible() and not dialog.isModal()
    assert dialog.dest_label.text() == str(dest) and server.url("SRN.pth") in dialog.source_label.text()
    _wait_done(qtbot, dialog)

    bar = dialog.progress_bar
    assert bar.maximum() > 1 and bar.value() == bar.maximum()
    assert dest.read_bytes() == server.files["SRN.pth"]
    versions = model_versions(project)
    assert [v.name for v in versions] == [MODEL_NAME]
    assert versions[0].checkpoint_path == str(dest.resolve())
    combo = window.detect_panel.model_combo
    assert combo.currentText() == MODEL_NAME and combo.currentData() == versions[0].id
    assert "Added to the project" in dialog.status_label.text() and dialog.error_label.isHidden()

    # again: the verified file is found, nothing is downloaded, the existing model is kept
    requests = len(server.requests)
    action.trigger()
    assert window.findChildren(FetchWeightsDialog) == [dialog]
    _wait_done(qtbot, dialog)
    assert len(server.requests) == requests
    assert [v.name for v in model_versions(project)] == [MODEL_NAME]
    assert "already has the model" in dialog.status_label.text() and dialog.error_label.isHidden()


def test_progress_is_shown_while_downloading_and_cancel_keeps_the_part_for_resume(qtbot, server, window, project,
                                                                                 tmp_path):
    server.pause_s = 0.01  # ~100 chunks: time to see progress and cancel
    dest = tmp_path / "SRN.pth"
    dialog = FetchWeightsDialog(window, source=authors_source(mirror=server.url("SRN.pth"), srn_config=SMALL),
                                dest=dest, window=window)
    values = []
    dialog.progress_bar.valueChanged.connect(values.append)
    dialog.show()
    dialog.start()
    assert dialog.cancel_button.isEnabled()
    qtbot.waitUntil(lambda: dialog.progress_bar.value() > 0, timeout=WAIT_MS)
    dialog.cancel_button.click()
    _wait_done(qtbot, dialog)
    assert "Cancelled" in dialog.status_label.text()
    part = dest.with_name("SRN.pth.part")
    assert part.is_file() and 0 < part.stat().st_size < len(server.files["SRN.pth"]) and not dest.exists()
    assert dialog.retry_button.isVisibleTo(dialog) and not dialog.cancel_button.isEnabled()
    assert model_versions(project) == []

    kept = part.stat().st_size
    server.pause_s = 0.0
    dialog.retry_button.click()
    _wait_done(qtbot, dialog)
    assert server.requests[-1] == ("SRN.pth", f"bytes={kept}-")
    assert dest.read_bytes() == server.files["SRN.pth"] and not part.exists()
    assert [v.name for v in model_versions(project)] == [MODEL_NAME]
    assert len(set(values)) > 2 and dialog.progress_bar.value() == dialog.progress_bar.maximum()


def test_a_failure_shows_the_message_and_installs_nothing(qtbot, window, project, tmp_path):
    url = f"http://127.0.0.1:{free_port()}/SRN.pth"
    dest = tmp_path / "models" / "SRN.pth"
    add_models_menu(window, source=authors_source(mirror=url), dest=dest)
    window.findChild(QAction, ACTION_NAME).trigger()
    dialog = window.findChild(FetchWeightsDialog)
    _wait_done(qtbot, dialog)
    assert not dialog.error_label.isHidden()
    assert f"cannot reach {url}" in dialog.error_label.text()
    assert "failed" in dialog.status_label.text() and dialog.retry_button.isVisibleTo(dialog)
    assert not dest.exists() and model_versions(project) == []
    assert window.detect_panel.model_combo.findText(MODEL_NAME) < 0


def test_a_corrupt_download_is_refused_with_the_checkers_message(qtbot, server, window, project, tmp_path):
    server.files["SRN.pth"] = b"<html>quota exceeded</html>"
    dest = tmp_path / "SRN.pth"
    dialog = FetchWeightsDialog(window, source=authors_source(mirror=server.url("SRN.pth")), dest=dest, window=window)
    dialog.start()
    _wait_done(qtbot, dialog)
    assert "not a PyTorch file" in dialog.error_label.text()
    assert not dest.exists() and not dest.with_name("SRN.pth.part").exists() and model_versions(project) == []


def test_the_drive_source_shows_the_baiduyun_alternative_on_failure(qtbot, window, tmp_path):
    from srn.weights.download import FetchError

    def offline(file_id, part, *, progress, cancel):
        raise FetchError(f"cannot reach https://drive.google.com/uc?id={file_id}: no network")

    dialog = FetchWeightsDialog(window, dest=tmp_path / "SRN.pth", window=window, drive_download=offline)
    assert "drive.google.com" in dialog.source_label.text()
    dialog.start()
    _wait_done(qtbot, dialog)
    text = dialog.error_label.text()
    assert "cannot reach https://drive.google.com/uc?id=1T4Qt99SdM7c8G4ZuC1igensY0bZdEETF" in text
    assert "BaiduYun" in text and "6fba" in text


def test_without_a_project_the_file_is_installed_and_the_user_told_how_to_use_it(qtbot, server, tmp_path):
    w = Window(None)
    qtbot.addWidget(w)
    dest = tmp_path / "SRN.pth"
    dialog = FetchWeightsDialog(w, source=authors_source(mirror=server.url("SRN.pth"), srn_config=SMALL), dest=dest,
                                window=w)
    dialog.start()
    _wait_done(qtbot, dialog)
    assert dest.is_file() and dialog.registered is None
    assert "Open a project" in dialog.status_label.text() and dialog.error_label.isHidden()
