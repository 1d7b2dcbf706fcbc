"""The annotation store: one service API over SQLAlchemy for the GUI and the command line.

``Project`` opens a database (SQLite file or URL) and upgrades its schema; the functions below
are the operations, each one committed transaction. Modules: ``tables`` (the ORM tables), ``schema``
(Alembic upgrade/backup), ``database`` (engines), ``images`` (import, review status), ``labels``
(label import), ``detections`` (model versions, runs), ``boxes`` (edits), ``history`` (undo/redo),
``queue`` (review orders), ``stats``, ``export``, ``cli`` (``darkface-studio project ...``).
"""

from app.store.boxes import (
    BoxData,
    box_counts,
    boxes_of,
    create_box,
    delete_box,
    get_box,
    move_box,
    set_box_state,
    set_state_by_score,
    update_box,
)
from app.store.detections import (
    DetectionRunData,
    ModelVersionData,
    add_detections,
    detection_runs,
    model_uses,
    model_versions,
    record_detections,
    register_model,
    remove_model,
    rename_model,
    restore_model,
    run_image_ids,
    start_detection_run,
)
from app.store.errors import (
    ConflictError,
    DatabaseFailure,
    ImportCancelled,
    NotAProjectError,
    NotFoundError,
    OutsideRootsError,
    ProjectBusyError,
    ReadOnlyProjectError,
    SchemaTooNewError,
    StoreError,
)
from app.store.export import (
    EXPORT_FORMATS,
    FOLDER_FORMATS,
    ExportReport,
    check_destination,
    export,
    export_count,
    export_splits,
)
from app.store.history import EditData, history, redo_last, revert_edit, undo_last
from app.store.images import (
    ImportReport,
    add_image,
    assign,
    image_dimensions,
    image_file,
    import_images,
    set_review_status,
    set_split,
)
from app.store.labels import LabelImportReport, import_labels
from app.store.project import PROJECT_DIR, Project
from app.store.queue import QUEUE_ORDERS, QueueItem, review_queue
from app.store.stats import ProjectStats, project_stats
from app.store.summaries import ImageSummary, image_summaries
from app.store.tables import REVIEW_STATUSES, WIDER_ATTRIBUTES
from app.store.training import unique_model_name

__all__ = [
    "PROJECT_DIR", "QUEUE_ORDERS", "REVIEW_STATUSES", "WIDER_ATTRIBUTES", "BoxData", "ImageSummary", "ProjectStats",
    "image_summaries",
    "project_stats", "add_detections", "start_detection_run", "DetectionRunData", "ModelVersionData", "detection_runs",
    "model_uses", "remove_model", "rename_model", "restore_model", "run_image_ids", "unique_model_name",
    "EXPORT_FORMATS",
    "FOLDER_FORMATS", "ExportReport", "check_destination", "export", "export_count", "export_splits", "ConflictError",
    "DatabaseFailure", "EditData", "ImportCancelled", "ImportReport", "LabelImportReport", "NotAProjectError",
    "NotFoundError", "OutsideRootsError", "Project", "ProjectBusyError", "ReadOnlyProjectError", "QueueItem",
    "SchemaTooNewError", "StoreError", "add_image", "assign", "box_counts", "boxes_of", "create_box", "delete_box",
    "get_box", "history", "image_dimensions", "image_file", "import_images", "import_labels", "model_versions",
    "move_box", "record_detections", "redo_last", "register_model", "review_queue", "revert_edit", "set_box_state",
    "set_review_status", "set_split", "set_state_by_score", "undo_last", "update_box",
]
