"""Model versions and detection runs: where model boxes come from, stored in bulk.

``record_detections`` writes one run's boxes in batches straight through the driver (SQLite: one
prepared INSERT, executemany; PostgreSQL: COPY): 100,000 boxes in ~0.9 s on SQLite and ~1.7 s on
PostgreSQL (``benchmarks/store_bench.py``). Boxes are clipped to their
image. By default a new run on an image first removes the earlier *untouched* proposals of the
same kind (raw or enhanced): boxes a person accepted, rejected, moved or deleted are kept.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from itertools import repeat
from pathlib import Path

import numpy as np
from sqlalchemy import delete, func, select

from app.store.database import chunks
from app.store.errors import NotFoundError, StoreError
from app.store.project import Project
from app.store.tables import Box, DetectionRun, DetectionRunImage, Evaluation, Image, ModelVersion, utcnow
from srn.fileio import sha256_file

BATCH = 20_000


@dataclass(frozen=True)
class ModelVersionData:
    id: int
    name: str
    checkpoint_path: str
    checkpoint_sha256: str | None
    parent_id: int | None
    training_run_id: int | None
    metrics: dict
    created_at: datetime
    archived_at: datetime | None = None

    @classmethod
    def from_row(cls, row: ModelVersion) -> ModelVersionData:
        return cls(**{f: getattr(row, f) for f in cls.__dataclass_fields__})

    @property
    def archived(self) -> bool:
        return self.archived_at is not None


def _checkpoint_digest(checkpoint: str | os.PathLike[str]) -> tuple[Path, str]:
    """The checkpoint's resolved path and sha256 (read before a write transaction opens: it takes seconds)."""
    path = Path(checkpoint).expanduser().resolve()
    if not path.is_file():
        raise NotFoundError(f"{checkpoint}: no such checkpoint file")
    return path, sha256_file(path)


def _refuse_taken_name(s, name: str) -> None:
    if s.scalar(select(ModelVersion.id).where(ModelVersion.name == name)) is not None:
        raise StoreError(f"a model version named {name!r} already exists")


def _insert_model_version(s, name: str, path: Path, digest: str, *, parent_id: int | None,
                          training_run_id: int | None, metrics: dict) -> ModelVersionData:
    """Add the ``ModelVersion`` row in the caller's transaction (``_refuse_taken_name`` first)."""
    row = ModelVersion(name=name, checkpoint_path=str(path), checkpoint_sha256=digest, parent_id=parent_id,
                       training_run_id=training_run_id, metrics=metrics)
    s.add(row)
    s.flush()
    return ModelVersionData.from_row(row)


def register_model(project: Project, name: str, checkpoint: str | os.PathLike[str], *, parent_id: int | None = None,
                   training_run_id: int | None = None, metrics: dict | None = None) -> ModelVersionData:
    """Record a checkpoint as a model version (its sha256 is computed from the file)."""
    path, digest = _checkpoint_digest(checkpoint)
    with project.write() as s:
        _refuse_taken_name(s, name)
        return _insert_model_version(s, name, path, digest, parent_id=parent_id, training_run_id=training_run_id,
                                     metrics=metrics or {})


def model_versions(project: Project, *, archived: bool = True) -> list[ModelVersionData]:
    """Every model version in id order; ``archived=False`` leaves out archived ones (the pickers)."""
    query = select(ModelVersion).order_by(ModelVersion.id)
    if not archived:
        query = query.where(ModelVersion.archived_at.is_(None))
    with project.read() as s:
        return [ModelVersionData.from_row(m) for m in s.scalars(query)]


def rename_model(project: Project, model_id: int, name: str) -> ModelVersionData:
    """Give a model version another (unique, non-empty) name."""
    name = name.strip()
    if not name:
        raise StoreError("a model needs a name")
    if len(name) > 200:
        raise StoreError(f"a model name has at most 200 characters, got {len(name)}")
    with project.write() as s:
        row = s.get(ModelVersion, model_id)
        if row is None:
            raise NotFoundError(f"no model version with id {model_id}")
        if row.name != name:
            _refuse_taken_name(s, name)
            row.name = name
        s.flush()
        return ModelVersionData.from_row(row)


def model_uses(project: Project, model_id: int) -> dict[str, int]:
    """What still names a model version: detection runs, boxes, evaluations, fine-tuned children."""
    with project.read() as s:
        def count(column) -> int:
            return s.scalar(select(func.count()).where(column == model_id)) or 0

        return {"detection runs": count(DetectionRun.model_version_id), "boxes": count(Box.model_version_id),
                "evaluations": count(Evaluation.model_version_id), "fine-tuned models": count(ModelVersion.parent_id)}


def remove_model(project: Project, model_id: int) -> str:
    """Delete a model version nothing names (``"deleted"``), else archive it (``"archived"``):
    its runs, boxes, scores and children keep saying which model they came from. The
    checkpoint file itself is never touched."""
    uses = model_uses(project, model_id)
    with project.write() as s:
        row = s.get(ModelVersion, model_id)
        if row is None:
            raise NotFoundError(f"no model version with id {model_id}")
        if any(uses.values()):
            row.archived_at = row.archived_at or utcnow()
            return "archived"
        s.delete(row)
        return "deleted"


def restore_model(project: Project, model_id: int) -> None:
    """Bring an archived model version back into the pickers."""
    with project.write() as s:
        row = s.get(ModelVersion, model_id)
        if row is None:
            raise NotFoundError(f"no model version with id {model_id}")
        row.archived_at = None


@dataclass(frozen=True)
class DetectionRunData:
    """A detection run as the window lists it: which model, raw or enhanced, when, how many images."""

    id: int
    model_version_id: int | None
    model_name: str | None
    enhanced: bool
    created_at: datetime
    image_count: int

    def title(self) -> str:
        """"run 3 · demo model · enhanced · 12-03 10:04": tells two runs on one image apart."""
        model = self.model_name or "no model"
        return (f"run {self.id} · {model} · {'enhanced' if self.enhanced else 'raw'} · "
                f"{self.created_at.astimezone():%m-%d %H:%M}")


def detection_runs(project: Project, run_ids: Iterable[int] | None = None) -> list[DetectionRunData]:
    """Detection runs (all, or ``run_ids``), newest first, with their model's name."""
    query = (select(DetectionRun, ModelVersion.name)
             .outerjoin(ModelVersion, ModelVersion.id == DetectionRun.model_version_id)
             .order_by(DetectionRun.id.desc()))
    if run_ids is not None:
        query = query.where(DetectionRun.id.in_(list(run_ids)))
    with project.read() as s:
        rows = s.execute(query).all()
        counts = dict(s.execute(select(DetectionRunImage.run_id, func.count()).group_by(DetectionRunImage.run_id)
                                .where(DetectionRunImage.run_id.in_([run.id for run, _ in rows]))).all())
    return [DetectionRunData(run.id, run.model_version_id, name, bool(run.enhanced), run.created_at,
                             counts.get(run.id, 0)) for run, name in rows]


def run_image_ids(project: Project, run_id: int) -> list[int]:
    """The images detection run ``run_id`` looked at (boxes found or not), in id order."""
    with project.read() as s:
        if s.get(DetectionRun, run_id) is None:
            raise NotFoundError(f"no detection run with id {run_id}")
        return list(s.scalars(select(DetectionRunImage.image_id).where(DetectionRunImage.run_id == run_id)
                              .order_by(DetectionRunImage.image_id)))


Detections = Mapping[int, tuple[np.ndarray, np.ndarray]] | Iterable[tuple[int, np.ndarray, np.ndarray]]


def _items(results: Detections) -> list[tuple[int, np.ndarray, np.ndarray]]:
    pairs = results.items() if isinstance(results, Mapping) else ((i, b, s) for i, b, s in results)
    out = []
    for item in pairs:
        image_id, boxes, scores = (item[0], *item[1]) if isinstance(results, Mapping) else item
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        scores = np.asarray(scores, dtype=np.float64).reshape(-1)
        if len(boxes) != len(scores):
            raise StoreError(f"image {image_id}: {len(boxes)} boxes but {len(scores)} scores")
        if not (np.isfinite(boxes).all() and np.isfinite(scores).all()):
            raise StoreError(f"image {image_id}: detections contain NaN or infinite values")
        out.append((int(image_id), boxes, scores))
    return out


def _new_run(s, project: Project, model_version_id, enhanced, settings, author) -> DetectionRun:
    if model_version_id is not None and s.get(ModelVersion, model_version_id) is None:
        raise NotFoundError(f"no model version with id {model_version_id}")
    run = DetectionRun(model_version_id=model_version_id, enhanced=enhanced,
                       settings=dict(settings or {}), author=author or project.author)
    s.add(run)
    s.flush()
    return run


def _write_boxes(s, run: DetectionRun, items, *, source: str, replace_proposed: bool, min_score: float) -> int:
    ids = [i for i, _, _ in items]
    sizes = {}
    for chunk in chunks(ids):
        sizes.update({r.id: (r.width, r.height) for r in s.execute(
            select(Image.id, Image.width, Image.height).where(Image.id.in_(chunk)))})
    missing = [i for i in ids if i not in sizes]
    if missing:
        raise NotFoundError(f"no image with id {missing[0]} ({len(missing)} unknown image ids in the results)")
    if replace_proposed and ids:
        same_kind = select(DetectionRun.id).where(DetectionRun.enhanced == run.enhanced, DetectionRun.id != run.id)
        for chunk in chunks(ids):
            s.execute(delete(Box).where(Box.image_id.in_(chunk), Box.source == source,
                                        Box.state == "proposed", Box.version == 1,
                                        Box.detection_run_id.in_(same_kind))
                      .execution_options(synchronize_session=False))
    # which images the run covered: an image where it found nothing still counts as seen
    for chunk in chunks(sorted(set(ids))):
        seen = set(s.scalars(select(DetectionRunImage.image_id).where(DetectionRunImage.run_id == run.id,
                                                                      DetectionRunImage.image_id.in_(chunk))))
        new = [{"run_id": run.id, "image_id": i} for i in chunk if i not in seen]
        if new:
            s.execute(DetectionRunImage.__table__.insert(), new)
    now = utcnow()
    template = {"source": source, "state": "proposed", "model_version_id": run.model_version_id,
                "detection_run_id": run.id, "blur": 0, "expression": 0, "illumination": 0, "invalid": 0,
                "occlusion": 0, "pose": 0, "ignore": False, "author": None, "created_at": now,
                "updated_at": now, "version": 1}
    insert = _BoxInserter(s, template)
    written = 0
    for image_id, boxes, scores in items:
        w, h = sizes[image_id]
        b = boxes.copy()
        b[:, [0, 2]] = b[:, [0, 2]].clip(0, w - 1)
        b[:, [1, 3]] = b[:, [1, 3]].clip(0, h - 1)
        keep = (b[:, 2] >= b[:, 0]) & (b[:, 3] >= b[:, 1]) & (scores >= min_score)
        written += insert.add(image_id, b[keep], scores[keep])
    insert.flush()
    return written


class _BoxInserter:
    """Bulk INSERT of model boxes, the same rows as ``s.execute(Box.__table__.insert(), [dicts])``.

    SQLAlchemy's executemany costs ~15 µs a row in Python (each row's dict is turned into bind
    parameters and every value run through its type's bind processor), and psycopg sends one
    bind/execute per row: 100,000 boxes took 2.3 s on SQLite and 5.6 s on PostgreSQL. Here the
    constant columns go through their bind processors once, the per-box columns (``_PER_BOX``)
    through theirs as whole columns, and the rows are tuples built by ``zip`` in C. SQLite gets
    them with ``executemany`` of one prepared INSERT (``exec_driver_sql``, so engine events still
    see it); PostgreSQL on psycopg 3 with ``COPY box (...) FROM STDIN`` of text rows formatted
    here (ints by ``str``, floats by ``repr`` as psycopg's own dumpers write them; the constant
    columns dumped by psycopg once), which is 3x faster than ``write_row``. Rows go out every
    ``BATCH`` boxes, inside the caller's transaction.
    """

    _PER_BOX = ("image_id", "x1", "y1", "x2", "y2", "score")

    def __init__(self, session, template: dict) -> None:
        self.conn = session.connection()
        dialect = self.conn.dialect
        table = Box.__table__

        def processor(name):
            return table.c[name].type.dialect_impl(dialect).bind_processor(dialect)

        self.constants = [name for name in template if name not in self._PER_BOX]
        self.copy = dialect.name == "postgresql" and dialect.driver == "psycopg"
        mark = {"qmark": "?", "format": "%s", "pyformat": "%s"}.get(dialect.paramstyle)
        self.direct = self.copy or mark is not None
        if not self.direct:  # named or numbered placeholders: SQLAlchemy's own executemany, as before
            self.values = [template[name] for name in self.constants]
            self.processors = [None] * len(self._PER_BOX)
        else:
            procs = {name: processor(name) for name in (*self._PER_BOX, *self.constants)}
            self.values = [template[name] if procs[name] is None else procs[name](template[name])
                           for name in self.constants]
            self.processors = [procs[name] for name in self._PER_BOX]
        columns = ", ".join(dialect.identifier_preparer.quote(c) for c in (*self._PER_BOX, *self.constants))
        name = dialect.identifier_preparer.format_table(table)
        if self.copy:
            self.sql = f"COPY {name} ({columns}) FROM STDIN"
            self.suffix = self._copy_text(self.values)
        elif self.direct:
            marks = ", ".join([mark] * (len(self._PER_BOX) + len(self.constants)))
            self.sql = f"INSERT INTO {name} ({columns}) VALUES ({marks})"
        self.rows: list = []

    def _copy_text(self, values: list) -> str:
        """The constant columns as COPY text fields, dumped by psycopg as ``write_row`` would."""
        from psycopg.adapt import PyFormat, Transformer

        transformer = Transformer(self.conn.connection.driver_connection)
        dumped = transformer.dump_sequence(values, [PyFormat.TEXT] * len(values))
        escape = {ord("\\"): "\\\\", ord("\t"): "\\t", ord("\n"): "\\n", ord("\r"): "\\r"}
        return "\t".join("\\N" if d is None else bytes(d).decode().translate(escape) for d in dumped)

    def add(self, image_id: int, boxes: np.ndarray, scores: np.ndarray) -> int:
        n = len(boxes)
        if n == 0:
            return 0
        columns = [[image_id] * n, *boxes.T.tolist(), scores.tolist()]
        columns = [col if proc is None else list(map(proc, col)) for proc, col in zip(self.processors, columns)]
        if self.copy:  # ints and floats as psycopg writes them (str; floats never inf/nan here)
            suffix = self.suffix
            self.rows.extend(f"{i}\t{a!r}\t{b!r}\t{c!r}\t{d!r}\t{e!r}\t{suffix}\n"
                             for i, a, b, c, d, e in zip(*columns))
        else:
            self.rows.extend(zip(*columns, *(repeat(v, n) for v in self.values)))
        if len(self.rows) >= BATCH:
            self.flush()
        return n

    def flush(self) -> None:
        if not self.rows:
            return
        if self.copy:
            raw = self.conn.connection.driver_connection
            with raw.cursor() as cursor, cursor.copy(self.sql) as copy:
                copy.write("".join(self.rows))
        elif self.direct:
            self.conn.exec_driver_sql(self.sql, self.rows)
        else:
            names = (*self._PER_BOX, *self.constants)
            self.conn.execute(Box.__table__.insert(), [dict(zip(names, row)) for row in self.rows])
        self.rows = []


def _check_source(source: str) -> None:
    if source not in ("model", "pseudo"):
        raise StoreError(f"detections have source 'model' or 'pseudo', not {source!r}")


def record_detections(project: Project, results: Detections, *, model_version_id: int | None = None,
                      enhanced: bool = False, settings: dict | None = None, source: str = "model",
                      replace_proposed: bool = True, min_score: float = 0.0, author: str | None = None) -> int:
    """Store one whole detection run (``{image_id: (boxes xyxy, scores)}``) in one transaction; returns its id."""
    _check_source(source)
    items = _items(results)
    with project.write() as s:
        run = _new_run(s, project, model_version_id, enhanced, settings, author)
        _write_boxes(s, run, items, source=source, replace_proposed=replace_proposed, min_score=min_score)
        return run.id


def start_detection_run(project: Project, *, model_version_id: int | None = None, enhanced: bool = False,
                        settings: dict | None = None, author: str | None = None) -> int:
    """Open a run that ``add_detections`` fills image by image (the GUI shows each as it finishes)."""
    with project.write() as s:
        return _new_run(s, project, model_version_id, enhanced, settings, author).id


def add_detections(project: Project, run_id: int, results: Detections, *, source: str = "model",
                   replace_proposed: bool = True, min_score: float = 0.0) -> int:
    """Add some images' detections to run ``run_id`` (one transaction); returns the number of boxes stored."""
    _check_source(source)
    items = _items(results)
    with project.write() as s:
        run = s.get(DetectionRun, run_id)
        if run is None:
            raise NotFoundError(f"no detection run with id {run_id}")
        return _write_boxes(s, run, items, source=source, replace_proposed=replace_proposed, min_score=min_score)
