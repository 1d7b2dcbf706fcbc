"""Test-suite wide settings: no display is needed anywhere (Qt runs offscreen)."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# The window and ``srn detect`` pick their inference backend by ``auto`` (OpenVINO on the CPU):
# converting and checking each test's freshly made model would cost seconds per test, so tests
# run torch unless they ask for another (tests/test_backends.py, the e2e backend tests).
os.environ.setdefault("DARKFACE_BACKEND", "torch")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

# -- markers, from what a test uses (so none can be forgotten) --------------------------------
# gui: real Qt widgets (qtbot / qapp); postgres: the PostgreSQL side of ``db_url`` or the test
# server itself; cuda: needs a CUDA device. ``slow`` is set by hand on tests of tens of seconds.
# ``make test-fast`` deselects slow, postgres and cuda; ``make test`` and CI run everything.
GUI_FIXTURES = {"qtbot", "qapp", "review_window"}


def pytest_collection_modifyitems(config, items) -> None:
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        if names & GUI_FIXTURES:
            item.add_marker(pytest.mark.gui)
        params = getattr(getattr(item, "callspec", None), "params", {})
        if params.get("db_url") == "postgresql" or item.module.__name__.endswith("test_ci_postgres"):
            item.add_marker(pytest.mark.postgres)
        if any("CUDA" in str(m.kwargs.get("reason", "")) for m in item.iter_markers("skipif")):
            item.add_marker(pytest.mark.cuda)


@pytest.fixture
def qt_settings(tmp_path: Path):
    """A QSettings in ``tmp_path``, so window tests never read or write the user's settings."""
    from PySide6.QtCore import QSettings

    return QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)


# -- annotation-store databases ---------------------------------------------------------------
# Store tests take ``db_url``: a fresh SQLite file, and a fresh database on the PostgreSQL server
# named by DFS_TEST_PG_URL (set by .ci/with_postgres.sh; skipped when unset).

PG_ENV = "DFS_TEST_PG_URL"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path: Path) -> str:
    if request.param == "sqlite":
        yield str(tmp_path / "project.dfs.db")
        return
    admin_url = os.environ.get(PG_ENV)
    if not admin_url:
        pytest.skip(f"{PG_ENV} is not set (run through .ci/with_postgres.sh or `make test-pg`)")
    import uuid

    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"dfs_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@pytest.fixture
def write_images():
    """``write_images(folder, names, size=(160, 120))``: small real PNG/JPEG files, each different."""

    def write(folder: Path, names, size=(160, 120)) -> list[Path]:
        import cv2
        import numpy as np

        paths = []
        for i, name in enumerate(names):
            path = Path(folder) / name
            path.parent.mkdir(parents=True, exist_ok=True)
            image = np.full((size[1], size[0], 3), 10 + 7 * i, np.uint8)
            image[i % size[1], :, 0] = 255
            assert cv2.imwrite(str(path), image)
            paths.append(path)
        return paths

    return write


# -- shared models, projects and windows (built once per session where they are read-only) --------

@pytest.fixture(scope="session")
def confident_checkpoint(tmp_path_factory) -> Path:
    """A tiny random SRN (ResNet-18, 16 channels) that finds "faces" on every image."""
    from tests.training_fixtures import confident_tiny_checkpoint

    return confident_tiny_checkpoint(tmp_path_factory.mktemp("weights") / "tiny_srn.pth")


@pytest.fixture(scope="session")
def training_synth(tmp_path_factory) -> Path:
    """Eight synthetic 160×120 night images with DARK FACE labels (``srn.data.synth``)."""
    from tests.training_fixtures import synth_images

    return synth_images(tmp_path_factory.mktemp("synth"))


@pytest.fixture(scope="session")
def tiny_base_checkpoint(tmp_path_factory) -> Path:
    from tests.training_fixtures import tiny_checkpoint

    return tiny_checkpoint(tmp_path_factory.mktemp("weights") / "tiny base.pth")


@pytest.fixture
def tp(tmp_path, training_synth, tiny_base_checkpoint):
    """A fresh project with every kind of label the training export distinguishes (``training_fixtures``)."""
    from tests.training_fixtures import make_training_project

    tp = make_training_project(tmp_path, training_synth, tiny_base_checkpoint)
    yield tp
    tp.project.close()


@pytest.fixture
def review_window(qtbot, qt_settings):
    """A shown, active ``ReviewWindow`` with throwaway settings; closed afterwards."""
    from PySide6.QtWidgets import QApplication

    from app.ui.review_window import ReviewWindow

    window = ReviewWindow(settings=qt_settings)
    qtbot.addWidget(window)
    window.resize(1200, 700)
    window.show()
    qtbot.waitExposed(window)
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window)
    yield window
    window.close()
