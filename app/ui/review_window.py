"""The review window: image browser, original/enhanced views with editable boxes, side panels.

It owns no data: the project store holds images, boxes and edits (every edit is committed when
made, so there is no Save and a crash loses nothing); the panels and jobs do the work. This class
wires them: which image is shown, keyboard actions from ``app.ui.keymap``, the status bar.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

import numpy as np
from PySide6.QtCore import QCoreApplication, QSettings, Qt
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence, QUndoStack
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMenu,
    QPlainTextEdit,
    QScrollArea,
    QSizePolicy,
    QSlider,
    QSplitter,
    QTabWidget,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from app.jobs.image_pipeline import ImagePipeline
from app.store import (
    NotFoundError,
    Project,
    StoreError,
    image_summaries,
    review_queue,
)
from app.ui.box_attributes import BoxAttributePanel
from app.ui.box_commands import STATUS_NAMES
from app.ui.box_editor import BoxEditor
from app.ui.box_list import BoxList
from app.ui.box_scene import BoxScene
from app.ui.detect_panel import DetectPanel
from app.ui.enhance_panel import EnhancePanel
from app.ui.help_overlay import HelpOverlay
from app.ui.histogram import LuminanceHistogram
from app.ui.image_browser_panel import ImageBrowserPanel
from app.ui.keymap import KEYMAP
from app.ui.model_loop import ModelLoop
from app.ui.notice_bar import NoticeBar
from app.ui.paired_views import PairedViews
from app.ui.project_view_state import ProjectViewState
from app.ui.qimage import to_qimage
from app.ui.review_status import STATUS_ACTIONS, ReviewStatusActions
from app.ui.run_picker import RunPicker
from app.ui.view_overlays import ViewCaption, ViewMessage, method_short_name
from srn.imageio import ImageReadError

ZOOM_STEP = 1.25
DEFAULT_SIZE = (1440, 900)
"""Window size on first launch (later launches restore the last geometry)."""
FRAME_ALLOWANCE = 64
"""Pixels a window manager's title bar and borders may add around the window."""
DOCK_WIDTH = {"imagesDock": 260, "panelsDock": 380}
"""Initial dock widths in pixels."""
MAX_RECENT = 8


class ReviewWindow(ReviewStatusActions, QMainWindow):
    """Review one project. ``open_project(location)`` shows it; ``current_image_id`` is what is shown."""

    def __init__(self, settings: QSettings | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("DarkFace Studio")
        self.setAcceptDrops(True)
        self._settings = settings if settings is not None else QSettings()
        self.project: Project | None = None
        self.current_image_id: int | None = None
        self._rgb: np.ndarray | None = None
        self.undo_stack = QUndoStack(self)
        self._undo_index = 0
        self._restoring_history = False
        self._warned_done: set[int] = set()
        self._sample_job = None
        self.export_dialog = None

        self.scene = BoxScene(self)
        self.views = PairedViews(self.scene)
        self.notice = NoticeBar()
        central = QWidget()
        column = QVBoxLayout(central)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(2)
        column.addWidget(self.notice)
        column.addWidget(self.views, 1)
        self.setCentralWidget(central)
        self.editor = BoxEditor(None, self.scene, self.undo_stack)
        # on the viewport, under the loupe (which is raised over it when it shows)
        self.captions = {view: ViewCaption(view.viewport()) for view in self.views.views()}
        self.view_message = ViewMessage(self.views)
        self.run_picker = RunPicker()
        self._model_threshold_of: int | None = None
        # owned by the application, not the window: a window deleted without close() must not
        # destroy the pipeline's running QThreads (that aborts the process); it is stopped instead
        self.pipeline = pipeline = ImagePipeline(QCoreApplication.instance())
        self.previewer = pipeline.previewer
        self.destroyed.connect(lambda *_: _stop_if_alive(pipeline))

        self._build_browser()
        self._build_panels()
        self._build_status()
        self.actions: dict[str, QAction] = {}
        self._create_actions()
        self.help = HelpOverlay(self)

        self.views.cursor_moved.connect(self._on_cursor)
        self.views.zoom_changed.connect(lambda _z: self._refresh_status())
        for view in self.views.views():
            view.space_tapped.connect(self.mark_done)
            view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
            view.customContextMenuRequested.connect(lambda pos, v=view: self._status_menu(v.mapToGlobal(pos)))
        for signal in (self.browser_proxy.layoutChanged, self.browser_proxy.rowsRemoved,
                       self.browser_proxy.rowsInserted, self.browser_proxy.modelReset):
            signal.connect(lambda *_: self._refresh_position())  # a filter moved the image's row
        browser = self.browser_panel.view
        browser.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        browser.customContextMenuRequested.connect(self._on_browser_menu)
        self.undo_stack.indexChanged.connect(self._on_undo_index)
        self.editor.boxes_changed.connect(self._on_boxes_changed)
        self.editor.error.connect(lambda text: self.notify(text, "warning"))
        self.editor.image_loaded.connect(lambda _id: self.run_picker.show_boxes(self.scene.boxes()))
        self.editor.image_loaded.connect(lambda _id: self._refresh_captions())
        self.run_picker.shown_run_changed.connect(self._on_shown_run)
        self.scene.visibility_changed.connect(self._refresh_captions)
        self.previewer.preview_ready.connect(self._on_enhanced)
        self.previewer.full_ready.connect(self._on_enhanced)
        self.previewer.failed.connect(lambda _k, msg: self.notify(msg, "error"))
        self.enhance_panel.params_changed.connect(self.previewer.request)
        self.enhance_panel.params_changed.connect(lambda _p: self._refresh_captions())
        self.enhance_panel.params_committed.connect(self.previewer.request_full)
        self.enhance_panel.params_committed.connect(lambda _p: self._prefetch_neighbours())
        # the image views get the room; a saved layout (restored next) overrides this
        self.resize(*DEFAULT_SIZE)
        docks = {dock.objectName(): dock for dock in self.findChildren(QDockWidget)}
        self.resizeDocks([docks[name] for name in DOCK_WIDTH], list(DOCK_WIDTH.values()), Qt.Orientation.Horizontal)
        self._restore()
        self._refresh_captions()

    # -- construction ----------------------------------------------------------------------
    def _build_browser(self) -> None:
        self.browser_panel = panel = ImageBrowserPanel(self._path_of)
        self.browser_model, self.browser_proxy = panel.model, panel.proxy
        self.order_box = panel.order_box
        panel.current_changed.connect(self.show_image)
        panel.order_changed.connect(lambda _order: self._apply_order())
        dock = QDockWidget("Images", self)
        dock.setObjectName("imagesDock")
        dock.setWidget(panel)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, dock)

    def _build_panels(self) -> None:
        self.attributes = BoxAttributePanel(self.editor)
        self.enhance_panel = EnhancePanel()
        self.histogram = LuminanceHistogram()
        enhance = QWidget()
        box = QVBoxLayout(enhance)
        box.addWidget(self.enhance_panel)
        box.addWidget(self.histogram)
        self.detect_panel = DetectPanel()
        self.detect_panel.set_scope_provider(self._scope_ids)
        self.detect_panel.enhance_params = self.enhance_panel.params
        self.detect_panel.image_done.connect(self._on_detected)
        self.detect_panel.run_finished.connect(lambda _run: self.reload_browser())
        self.detect_panel.run_finished.connect(lambda _run: self.run_picker.refresh_runs())
        self.log_panel = QPlainTextEdit()
        self.log_panel.setReadOnly(True)
        self.log_panel.setObjectName("logPanel")
        self.enhance_panel.message.connect(self._log)  # preset saved / loaded / failed: log and status bar
        self.tabs = QTabWidget()
        self.box_list = BoxList(self.editor, self.views)
        boxes = QSplitter(Qt.Orientation.Vertical)  # the list and the selected box: one tab, the bar stays short
        boxes.setObjectName("boxesPage")
        boxes.addWidget(self.box_list)
        boxes.addWidget(self.attributes)
        boxes.setStretchFactor(0, 3)
        boxes.setStretchFactor(1, 2)
        self.tabs.addTab(boxes, "Boxes")
        self.tabs.addTab(enhance, "Enhance")
        self.tabs.addTab(self.detect_panel, "Detect")
        self.loop = ModelLoop(self, self._log)  # after the Detect panel: it listens to its runs
        for panel in (self.detect_panel, self.loop.training, self.loop.evaluation):
            panel.problem.connect(lambda text, p=panel: self.notify(text, "error",
                                                                    ("Details", lambda: self.show_panel(p))))
        # scrollable: their plots and tables must not force the dock wider than the image views
        self.tabs.addTab(_scrolling(self.loop.training), "Train")
        self.tabs.addTab(_scrolling(self.loop.evaluation), "Evaluate")
        self.tabs.addTab(self.log_panel, "Log")
        self.tabs.currentChanged.connect(lambda _i: self.loop.refresh_models()
                                         if self.current_panel() is self.loop.evaluation else None)
        dock = QDockWidget("Panels", self)
        dock.setObjectName("panelsDock")
        dock.setWidget(self.tabs)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)

    def show_panel(self, panel: QWidget) -> None:
        """Bring the side-panel tab holding ``panel`` to the front."""
        for i in range(self.tabs.count()):
            page = self.tabs.widget(i)
            if page is panel or (isinstance(page, QScrollArea) and page.widget() is panel) or page.isAncestorOf(panel):
                self.tabs.setCurrentIndex(i)

    def current_panel(self) -> QWidget:
        page = self.tabs.currentWidget()
        return page.widget() if isinstance(page, QScrollArea) else page

    def _build_status(self) -> None:
        self.confidence = QSlider(Qt.Orientation.Horizontal)
        self.confidence.setRange(0, 100)
        self.confidence.setValue(50)
        self.confidence.setMaximumWidth(160)
        self.confidence.setToolTip("Hide model boxes scored below this (also the accept-all threshold)")
        self.confidence.valueChanged.connect(self._on_confidence)
        self.confidence_label = QLabel()
        self.status_label = QLabel()
        self.statusBar().addWidget(self.status_label, 1)
        self.statusBar().addPermanentWidget(QLabel("min score"))
        self.statusBar().addPermanentWidget(self.confidence)
        self.statusBar().addPermanentWidget(self.confidence_label)
        self._on_confidence(self.confidence.value())

    def _create_actions(self) -> None:
        slots = {
            "next_image": lambda: self.step(1), "previous_image": lambda: self.step(-1),
            "next_unreviewed": self.next_unreviewed,
            **{name: (lambda _=False, st=status: self.set_status(st)) for name, status in STATUS_ACTIONS.items()},
            "draw_mode": lambda: self.editor.set_mode("draw"), "select_mode": self._select_mode,
            "delete_box": self.editor.delete_selected, "accept_box": self.editor.accept_selected,
            "reject_box": self.editor.reject_selected, "accept_all": self.accept_all,
            "next_box": lambda: self.box_list.select_next(1), "previous_box": lambda: self.box_list.select_next(-1),
            "nudge_left": lambda: self._nudge(-1, 0), "nudge_right": lambda: self._nudge(1, 0),
            "nudge_up": lambda: self._nudge(0, -1), "nudge_down": lambda: self._nudge(0, 1),
            "nudge_left_far": lambda: self._nudge(-10, 0), "nudge_right_far": lambda: self._nudge(10, 0),
            "nudge_up_far": lambda: self._nudge(0, -10), "nudge_down_far": lambda: self._nudge(0, 10),
            "undo": self.undo_stack.undo, "redo": self.undo_stack.redo,
            "toggle_boxes": self.toggle_boxes,
            "toggle_loupe": lambda: self.views.set_loupe(not self.views.loupe_enabled()),
            "fit": self.views.fit, "actual_size": self.views.actual_size,
            "zoom_in": lambda: self.views.zoom_by(ZOOM_STEP), "zoom_out": lambda: self.views.zoom_by(1 / ZOOM_STEP),
            "layout_side": lambda: self.views.set_layout("side"), "layout_single": self._toggle_single,
            "layout_split": lambda: self.views.set_layout("split"), "help": self.toggle_help,
        }
        menus = {}
        for b in KEYMAP:
            action = QAction(b.label, self)
            action.setObjectName(b.action)
            if not b.by_view:
                action.setShortcuts([QKeySequence(k) for k in b.keys])
                action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            action.triggered.connect(slots[b.action])
            self.addAction(action)
            self.actions[b.action] = action
            menu = menus.get(b.group) or self.menuBar().addMenu(f"&{b.group}")
            menus[b.group] = menu
            menu.addAction(action)
        self.menus = menus
        loupe = self.actions["toggle_loupe"]
        loupe.setCheckable(True)
        self.views.loupe_changed.connect(lambda on, _factor: loupe.setChecked(on))
        self._add_tools(menus["Edit"], menus["View"])
        open_action = QAction("Open project…", self)
        open_action.setShortcut(QKeySequence.StandardKey.Open)
        open_action.triggered.connect(self._choose_project)
        import_action = QAction("Open image folder…", self)
        import_action.triggered.connect(self._choose_folder)
        file_menu = self.menuBar().addMenu("&File")
        self.menuBar().insertMenu(self.menuBar().actions()[0], file_menu)
        export_action = QAction("Export labels or detections…", self)
        export_action.setObjectName("exportAction")
        export_action.setShortcut(QKeySequence("Ctrl+E"))
        export_action.setStatusTip("WIDER FACE ground truth, DARK FACE, COCO, or a detection run's WIDER predictions")
        export_action.triggered.connect(self.open_export_dialog)
        file_menu.addAction(open_action)
        file_menu.addAction(import_action)
        file_menu.addSeparator()
        file_menu.addAction(export_action)
        file_menu.addSeparator()
        self.recent_menu = file_menu.addMenu("Recent projects")
        self._fill_recent()
        from app.ui.fetch_weights_dialog import add_models_menu

        models_menu = add_models_menu(self)  # Models → Get the authors' SRN model…
        manage = QAction("Manage models…", self)
        manage.setObjectName("manageModels")
        manage.setStatusTip("Rename, add, remove or restore the project's detector models")
        manage.triggered.connect(self.open_models_dialog)
        models_menu.addAction(manage)

    def _add_tools(self, edit_menu: QMenu, view_menu: QMenu) -> None:
        """The draw/select toggle (toolbar and Edit menu: the mode is always visible), the option to
        keep drawing after a box, and the View menu's way back to a closed panel."""
        self.draw_toggle = QAction("Draw boxes (W)", self)
        self.draw_toggle.setObjectName("drawToggle")
        self.draw_toggle.setCheckable(True)
        self.draw_toggle.setToolTip("Drag on the image to draw a face box; Esc or a click here goes back to select")
        self.draw_toggle.toggled.connect(lambda on: self.editor.set_mode("draw" if on else "select"))
        self.scene.mode_changed.connect(lambda mode: self.draw_toggle.setChecked(mode == "draw"))
        self.keep_drawing = QAction("Stay in draw mode after a box", self)
        self.keep_drawing.setObjectName("keepDrawing")
        self.keep_drawing.setCheckable(True)
        self.keep_drawing.setChecked(self._settings.value("review/keep_drawing", False, type=bool))
        self.keep_drawing.toggled.connect(self._on_keep_drawing)
        self._on_keep_drawing(self.keep_drawing.isChecked())
        edit_menu.addSeparator()
        edit_menu.addAction(self.keep_drawing)
        self.tools = QToolBar("Tools", self)
        self.tools.setObjectName("toolsBar")
        self.tools.addAction(self.draw_toggle)
        self.tools.addSeparator()
        self.tools.addWidget(QLabel(" Proposals: "))
        self.tools.addWidget(self.run_picker)
        spacer = QWidget()
        spacer.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.tools.addWidget(spacer)
        self.position_label = QLabel()
        self.position_label.setObjectName("positionLabel")
        self.position_label.setToolTip("Where the shown image is in the list, its name and review status")
        self.tools.addWidget(self.position_label)
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, self.tools)
        view_menu.addSeparator()
        for widget in (*self.findChildren(QDockWidget), self.tools):
            view_menu.addAction(widget.toggleViewAction())

    def _on_keep_drawing(self, on: bool) -> None:
        self.editor.keep_drawing = on
        self._settings.setValue("review/keep_drawing", on)

    # -- project ---------------------------------------------------------------------------
    def open_project(self, location: str | os.PathLike[str]) -> bool:
        """Open a project (SQLite file or URL); errors are said above the views and in the log."""
        try:
            project = Project.open(location)
        except (StoreError, OSError) as exc:
            self.notify(f"Could not open {location}: {exc}", "error")
            return False
        if project.read_only:  # the window saves every edit as it is made
            project.close()
            self.notify(f"Could not open {location} for review: this user cannot write the file or its folder, "
                        "and the window saves every edit as it is made. Copy it somewhere writable, or read it "
                        "with `darkface-studio project stats` / `project export`.", "error")
            return False
        return self.set_project(project)

    def open_folder(self, folder: str | os.PathLike[str]) -> bool:
        """Open (creating if needed) the project kept beside a folder of images, importing new images."""
        from app.project_folder import open_folder_project

        try:
            project, messages = open_folder_project(folder)
        except (StoreError, OSError, ValueError) as exc:
            self.notify(f"Could not open {folder}: {exc}", "error")
            return False
        for message in messages:
            self._log(message)
        if not self.set_project(project):
            return False
        self._offer_ground_truth(Path(folder))
        return True

    def _offer_ground_truth(self, folder: Path) -> None:
        """A DARK FACE ``label/`` folder in or beside the images (the benchmark's and the sample's
        layout) is offered in the Evaluate tab as the set to score against."""
        from app.jobs.evaluate_job import LabelSet
        from app.project_folder import find_label_folder

        folder = folder.expanduser().resolve()
        labels = find_label_folder(folder)
        if labels is not None:
            self.loop.evaluation.add_label_set(LabelSet(labels, folder))

    def set_project(self, project: Project) -> bool:
        if self.project is not None:
            self._save_view_state()
            if self.export_dialog is not None:
                self.export_dialog.stop()  # its job reads the project closed next
            self.project.close()
        self.project = project
        self._warned_done.clear()
        self.pipeline.clear()  # image ids are per project:
        self.current_image_id = None  # the same id in the new project is another image
        self.browser_model.clear_thumbnails()
        self._restoring_history = True
        try:
            self.editor.set_project(project)  # its undo stack: this author's edits still in effect
        finally:
            self._restoring_history = False
            self._undo_index = self.undo_stack.index()
        self.enhance_panel.set_project(project)
        self.detect_panel.set_project(project)
        self.run_picker.set_project(project)
        if self.export_dialog is not None:
            self.export_dialog.set_project(project)
        self.loop.set_project(project)
        self.setWindowTitle(f"DarkFace Studio — {project.path or project.url}")
        self._remember_recent(str(project.path or project.url))
        self.browser_model.set_rows([])  # the view state below must not touch the old rows
        min_score, image_id = self._view_state().restore(self.browser_panel)
        self.confidence.setValue(min_score)
        self.reload_browser()
        if not (image_id is not None and self.browser_panel.select_image(image_id)):
            if self.browser_proxy.rowCount():
                self.select_row(0)
            else:
                self.show_image(None)
        return True

    # -- per-project view state ---------------------------------------------------------------
    def _view_state(self) -> ProjectViewState:
        return ProjectViewState(self._settings, str(self.project.path or self.project.url))

    def _save_view_state(self) -> None:
        """Remember the project's order, filters, min score and shown image (reopened as left)."""
        if self.project is not None:
            self._view_state().save(self.browser_panel, self.confidence.value(), self.current_image_id)

    def reload_browser(self) -> None:
        if self.project is None:
            return
        current = self.current_image_id
        self.browser_model.set_rows(image_summaries(self.project))
        self._apply_order()
        if current is not None:
            self._select_image(current, load=False)
        self._refresh_counts()

    def _path_of(self, summary) -> Path:
        return self.project.image_path(summary.root_id, summary.rel_path)

    # -- navigation ------------------------------------------------------------------------
    def select_row(self, row: int) -> None:
        self.browser_panel.select_row(row)

    def current_row(self) -> int:
        return self.browser_panel.current_row()

    def step(self, delta: int) -> None:
        rows = self.browser_panel.row_count()
        if rows:
            self.select_row(min(max(self.current_row() + delta, 0), rows - 1))

    def _select_image(self, image_id: int, load: bool = True) -> None:
        self.browser_panel.select_image(image_id, notify=load)

    # -- showing an image ------------------------------------------------------------------
    def show_image(self, image_id: int | None) -> None:
        """Show image ``image_id`` (original, enhanced, boxes); a bad file is reported and skipped over."""
        self.current_image_id = image_id
        self._rgb = None
        self.loop.apply_changes(image_id)
        if image_id is None or self.project is None:
            self.editor.load(None)
            self._show_nothing()
            return
        params = self.enhance_panel.params()
        try:
            self.editor.load(image_id)
            path = self.project.image_path(*self._root_and_path(image_id))
            rgb, enhanced = self.pipeline.open(image_id, path, params)  # what the detector sees is shown
        except (ImageReadError, NotFoundError, StoreError, OSError, ValueError) as exc:
            self.notify(str(exc), "error")
            self._show_nothing()
            return
        self._rgb = rgb
        self.views.set_images(to_qimage(rgb), to_qimage(enhanced) if enhanced is not None else None)
        self.histogram.set_images(rgb, enhanced)  # no enhanced image yet: ``_on_enhanced`` fills it in
        self.view_message.clear()
        self._refresh_status()
        self._refresh_position()
        self._prefetch_neighbours()

    def show_image_id(self, image_id: int) -> None:
        """Show ``image_id``, selecting it in the browser when the filters let it be listed."""
        if not self.browser_panel.select_image(image_id):
            self.show_image(image_id)

    def _show_nothing(self) -> None:
        self.views.set_images(None, None)
        self.pipeline.close_image()
        self._refresh_status()
        self._refresh_position()

    def _prefetch_neighbours(self) -> None:
        """Warm the caches for the next, previous and next-but-one image of the browser's order."""
        if self.project is None:
            return
        row, items = self.current_row(), []
        for delta in (1, -1, 2):
            summary = self.browser_panel.summary_at(row + delta)
            if summary is not None:
                items.append((summary.id, self._path_of(summary)))
        self.pipeline.prefetch(items, self.enhance_panel.params())

    def _root_and_path(self, image_id: int) -> tuple[int, str]:
        row = self.browser_model.row_of(image_id)
        if row is not None:
            s = self.browser_model.summary(row)
            return s.root_id, s.rel_path
        summary = image_summaries(self.project, [image_id])
        if not summary:
            raise NotFoundError(f"no image with id {image_id}")
        return summary[0].root_id, summary[0].rel_path

    def _on_enhanced(self, key, image: np.ndarray, _params) -> None:
        if key != self.previewer.key or self.pipeline.shown_key(key) != self.current_image_id or image is None:
            return
        self.views.set_enhanced(to_qimage(image))
        if self._rgb is not None and image.shape[:2] == self._rgb.shape[:2]:
            self.histogram.set_after(image)  # the original's curve was drawn by ``show_image``

    def _update_row(self, image_id: int) -> None:
        """Refresh the browser's row of ``image_id`` from the store (status, box counts, scores)."""
        if self.project is not None:
            self.browser_model.update_rows(image_summaries(self.project, [image_id]))

    def _on_detected(self, image_id: int) -> None:
        self._update_row(image_id)
        if image_id == self.current_image_id:
            self.editor.load(image_id)
            self._refresh_status()
        self._refresh_counts()

    def _on_boxes_changed(self, image_id: int) -> None:
        self._update_row(image_id)
        self._refresh_status()

    # -- editing helpers -------------------------------------------------------------------
    def _select_mode(self) -> None:
        if self.help.isVisible():
            self.help.hide()
        self.editor.set_mode("select")

    def _nudge(self, dx: int, dy: int) -> None:
        self.editor.nudge_selected(dx, dy)

    def accept_all(self) -> None:
        self.editor.accept_all_above(self.confidence.value() / 100)

    def toggle_boxes(self) -> None:
        self.scene.set_boxes_visible(not self.scene.boxes_visible())

    def _toggle_single(self) -> None:
        if self.views.layout_name() == "single":
            self.views.set_show_enhanced(not self.views.shows_enhanced())
        else:
            self.views.set_layout("single")

    def toggle_help(self) -> None:
        self.help.toggle()

    def _on_confidence(self, value: int) -> None:
        self.scene.set_confidence_threshold(value / 100)
        self.confidence_label.setText(f"{value / 100:.2f}")
        if self._model_threshold_of is not None and self.project is not None:  # remembered for that model
            self._view_state().set_model_min_score(self._model_threshold_of, value)

    # -- which run's proposals, and what the views say about them -------------------------------
    def _on_shown_run(self, run_id: int | None) -> None:
        """Show ``run_id``'s proposals; the min score becomes the one last set for its model."""
        self.scene.set_shown_run(run_id)
        run = self.run_picker.run(run_id) if run_id is not None else None
        model_id = run.model_version_id if run is not None else None
        self._model_threshold_of = None  # restoring a model's threshold must not save it as the other's
        if model_id is not None and self.project is not None:
            saved = self._view_state().model_min_score(model_id)
            if saved is not None:
                self.confidence.setValue(saved)
        self._model_threshold_of = model_id
        self._refresh_captions()

    def _refresh_captions(self) -> None:
        """Each view says what it shows, and how many proposals the min score hides there."""
        hidden = self.scene.hidden_below_threshold() if self.scene.boxes_visible() else 0
        tail = f"  ·  {hidden} below {self.confidence.value() / 100:.2f} hidden" if hidden else ""
        method = method_short_name(self.enhance_panel.method_combo.currentText())
        original, enhanced = self.views.views()
        self.captions[original].setText("original" + tail)
        self.captions[enhanced].setText(f"enhanced ({method})" + tail)

    def _refresh_position(self) -> None:
        """"3 / 24 · 3.png · new" on the toolbar: where in the list the shown image is."""
        if self.project is None or self.current_image_id is None:
            self.position_label.setText("")
            return
        row = self.browser_model.row_of(self.current_image_id)
        if row is None:
            self.position_label.setText("")
            return
        summary = self.browser_model.summary(row)
        listed = self.browser_panel.listed_row(self.current_image_id)
        where = (f"{listed + 1} / {self.browser_proxy.rowCount()}" if listed is not None
                 else f"not in the filtered list of {self.browser_proxy.rowCount()}")
        status = STATUS_NAMES.get(summary.status, summary.status)
        self.position_label.setText(f"{where}  ·  {summary.rel_path}  ·  {status} ")

    def _scope_ids(self, scope: str) -> list[int] | None:
        if self.project is None:
            return []
        if scope == "current":
            return [] if self.current_image_id is None else [self.current_image_id]
        if scope == "selected":
            return self.browser_panel.selected_ids()
        return None  # the panel's own queries: all unreviewed / all images

    # -- filters and order -----------------------------------------------------------------
    def _apply_order(self) -> None:
        if self.project is None:
            return
        order = self.browser_panel.order()
        self.browser_model.reorder([q.image_id for q in review_queue(self.project, order)])

    # -- status ----------------------------------------------------------------------------
    def _refresh_counts(self) -> None:
        self.browser_panel.refresh_counts()
        self._refresh_position()

    def _refresh_status(self, cursor: str = "") -> None:
        parts = []
        if self._rgb is not None:
            h, w = self._rgb.shape[:2]
            parts.append(f"{w}×{h}")
        parts.append(f"zoom {self.views.zoom() * 100:.0f}%")
        boxes = self.scene.boxes()
        if boxes:
            labels = sum(1 for b in boxes if b.state == "accepted")
            proposed = sum(1 for b in boxes if b.state == "proposed")
            parts.append(f"{labels} faces, {proposed} proposed")
        if cursor:
            parts.append(cursor)
        self.status_label.setText("  ·  ".join(parts))

    def status_text(self) -> str:
        return self.status_label.text()

    def _on_cursor(self, x: float, y: float) -> None:
        if self._rgb is None:
            return
        ix, iy = int(np.floor(x)), int(np.floor(y))
        h, w = self._rgb.shape[:2]
        if 0 <= ix < w and 0 <= iy < h:
            r, g, b = (int(v) for v in self._rgb[iy, ix, :3])
            self._refresh_status(f"({ix}, {iy}) RGB {r} {g} {b}")

    def _log(self, text: str) -> None:
        self.log_panel.appendPlainText(f"{datetime.now():%H:%M:%S}  {text}")
        self.statusBar().showMessage(text, 10_000)

    def notify(self, text: str, kind: str = "info", action=None) -> None:
        """Say ``text`` above the views (non-modal) and in the log; ``kind``: info, warning, error."""
        self.log_panel.appendPlainText(f"{datetime.now():%H:%M:%S}  {text}")
        if action is None and kind == "error":
            action = ("Show log", lambda: self.show_panel(self.log_panel))
        self.notice.show_notice(text, kind, action)

    # -- settings, files, drag and drop ----------------------------------------------------
    def show_on_screen(self) -> None:
        """Show the window inside the screen's available area: maximized when its size (plus the
        window manager's frame) does not fit — a first launch on a small screen, or a geometry
        saved on a bigger monitor — so the status bar is never below the screen's edge."""
        screen = self.screen()
        avail = screen.availableGeometry() if screen is not None else None
        too_big = avail is not None and (self.width() + FRAME_ALLOWANCE > avail.width()
                                         or self.height() + FRAME_ALLOWANCE > avail.height())
        if too_big and not self.isMaximized():
            self.showMaximized()
            return
        if avail is not None and not avail.contains(self.frameGeometry().topLeft()):
            self.move(avail.topLeft())  # saved on a monitor that is gone
        self.show()

    def _restore(self) -> None:
        geometry = self._settings.value("review/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        state = self._settings.value("review/state")
        if state is not None:
            self.restoreState(state)
        self.views.set_layout(str(self._settings.value("review/layout", "side")))

    def _remember_recent(self, location: str) -> None:
        recent = [r for r in self.recent_projects() if r != location]
        self._settings.setValue("review/recent", [location, *recent][:MAX_RECENT])
        self._fill_recent()

    def recent_projects(self) -> list[str]:
        """Most recent first. QSettings gives a one-item list back as a plain string (INI files,
        some platforms' stores): that is one location, never a list of its characters."""
        value = self._settings.value("review/recent")
        if not value:
            return []
        return [value] if isinstance(value, str) else [str(v) for v in value if v]

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        for location in self.recent_projects():
            action = self.recent_menu.addAction(location)
            action.triggered.connect(lambda _=False, loc=location: self.open_project(loc))

    def _choose_project(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open project", "", "DarkFace projects (*.db);;All files (*)")
        if path:
            self.open_project(path)

    def _choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open a folder of images")
        if folder:
            self.open_folder(folder)

    def dragEnterEvent(self, event) -> None:
        urls = event.mimeData().urls()
        if urls and all(u.isLocalFile() and Path(u.toLocalFile()).is_dir() for u in urls):
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        for url in event.mimeData().urls():
            self.open_folder(url.toLocalFile())
            break

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if self.help.isVisible():
            self.help.setGeometry(self.rect())

    # -- sample project --------------------------------------------------------------------
    def start_sample_project(self, base: str | os.PathLike[str], **options):
        """Generate (or reuse) the sample project in the background and open it when ready."""
        from app.jobs.sample_job import SampleProjectJob

        if self._sample_job is not None and self._sample_job.is_running():
            return self._sample_job
        # parented to the application: a QThread destroyed while running aborts the process
        job = SampleProjectJob(base, QCoreApplication.instance(), **options)
        job.finished.connect(self._on_sample_ready)
        job.failed.connect(self._on_sample_failed)
        job.progress.connect(lambda done, total, stage: self.view_message.show_message(
            f"Preparing the sample project: {stage} {done}/{total}…", done, total)
            if self.project is None else None)
        self._sample_job = job
        if self.project is None:  # shown where the reviewer looks: the empty views
            self.view_message.show_message(f"Preparing the sample project in {Path(base)}…", 0, 0)
        job.start()
        return job

    def _on_sample_failed(self, message: str) -> None:
        self.view_message.clear()
        self.notify(message, "error")

    def _on_sample_ready(self, path: Path) -> None:
        from app.sample_project import SAMPLE_IMAGES

        self.view_message.clear()

        if self.project is None and self.open_folder(Path(path) / SAMPLE_IMAGES):
            row = self._first_row_showing_proposals()
            if row is not None:  # a newcomer's first image shows boxes to decide on, not none
                self.select_row(row)
            self.notify("Sample project ready: review the demo model's boxes (Y accept, N reject, "
                        "W draw, Space done and next; F1 lists every key).")

    def _first_row_showing_proposals(self) -> int | None:
        """The first listed image with a proposal at or above the min score, if any."""
        threshold = self.scene.confidence_threshold()
        for row in range(self.browser_proxy.rowCount()):
            summary = self.browser_model.summary(self.browser_proxy.mapToSource(self.browser_proxy.index(row, 0)).row())
            if summary.max_score is not None and summary.max_score >= threshold:
                return row
        return None

    def open_export_dialog(self):
        """File → Export…: the project's labels or a run's detections, in the background."""
        from app.ui.export_dialog import ExportDialog

        if self.project is None:
            self.notify("Open a project first: there is nothing to export yet.")
            return None
        if self.export_dialog is None:
            self.export_dialog = ExportDialog(self.project, self)
            self.export_dialog.exported.connect(lambda report: self._log(report.summary()))
        self.export_dialog.show()
        self.export_dialog.raise_()
        self.export_dialog.activateWindow()
        return self.export_dialog

    def open_models_dialog(self):
        """Models → Manage models…; the pickers follow every change made there."""
        from app.ui.models_dialog import ModelsDialog

        if self.project is None:
            self.notify("Open a project first: models belong to a project.")
            return None
        dialog = ModelsDialog(self.project, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.models_changed.connect(self._on_models_changed)
        dialog.show()
        self._models_dialog = dialog
        return dialog

    def _on_models_changed(self) -> None:
        self.detect_panel.refresh_models()
        self.loop.refresh_models()
        self.run_picker.refresh_runs()
        self.run_picker.show_boxes(self.scene.boxes())

    def stop_jobs(self) -> None:
        from app.ui.fetch_weights_dialog import FetchWeightsDialog

        if self.export_dialog is not None:
            self.export_dialog.stop()
        if self._sample_job is not None:
            _stop_if_alive(self._sample_job)
        for dialog in self.findChildren(FetchWeightsDialog):  # a download keeps its .part to resume
            dialog.stop()
        _stop_if_alive(self.pipeline)
        self.detect_panel.stop()
        self.loop.stop()
        self.browser_model.wait_for_thumbnails(5000)

    def closeEvent(self, event: QCloseEvent) -> None:
        self._save_view_state()
        self._settings.setValue("review/geometry", self.saveGeometry())
        self._settings.setValue("review/state", self.saveState())
        self._settings.setValue("review/layout", self.views.layout_name())
        self.stop_jobs()
        if self.project is not None:
            self.project.close()
        super().closeEvent(event)


def _scrolling(widget: QWidget) -> QScrollArea:
    area = QScrollArea()
    area.setWidget(widget)
    area.setWidgetResizable(True)
    area.setFrameShape(QScrollArea.Shape.NoFrame)
    return area


def _stop_if_alive(job) -> None:
    """Stop a job unless Qt already deleted it (at application exit the app's children go first)."""
    import shiboken6

    try:
        if shiboken6.isValid(job):
            job.stop()
    except RuntimeError:  # deleted between the check and the call (interpreter shutdown)
        pass
