"""The image list model: names to display, paths as tooltips, face counts once known."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt

from app.ui.image_list_model import FACE_COUNT_ROLE, PATH_ROLE, ImageListModel


def test_rows_show_names_and_tooltips_show_paths(qtbot) -> None:
    model = ImageListModel()
    paths = [Path("/data/night/1.png"), Path("/data/night/2.png")]
    model.set_images(paths)
    assert model.rowCount() == 2
    index = model.index(1, 0)
    assert model.data(index, Qt.ItemDataRole.DisplayRole) == "2.png"
    assert model.data(index, Qt.ItemDataRole.ToolTipRole) == str(paths[1])
    assert model.data(index, PATH_ROLE) == paths[1]
    assert model.data(index, FACE_COUNT_ROLE) is None


def test_face_count_is_stored_and_announced(qtbot) -> None:
    model = ImageListModel()
    model.set_images([Path("a.png"), Path("b.png")])
    with qtbot.waitSignal(model.dataChanged) as blocker:
        model.set_face_count(1, 4)
    assert blocker.args[0].row() == 1 and FACE_COUNT_ROLE in blocker.args[2]
    assert model.data(model.index(1, 0), FACE_COUNT_ROLE) == 4
    model.set_images([Path("c.png")])  # a new folder forgets the old counts
    assert model.data(model.index(0, 0), FACE_COUNT_ROLE) is None
