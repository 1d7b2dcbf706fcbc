"""Schema migrations: up and down, ORM == migrated schema, backup before upgrade, refuse newer."""

from __future__ import annotations

import sqlite3

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from app.store import Project, SchemaTooNewError
from app.store.database import make_engine
from app.store.errors import NotFoundError, StoreError
from app.store.schema import current_revision, downgrade, ensure_current, head_revision, upgrade
from app.store.tables import Base


def _tables(engine) -> set[str]:
    return set(inspect(engine).get_table_names()) - {"alembic_version"}


def test_empty_database_migrates_up_and_down_and_matches_the_orm(db_url):
    engine = make_engine(db_url)
    try:
        assert _tables(engine) == set()
        upgrade(engine)
        assert current_revision(engine) == head_revision()
        assert _tables(engine) == set(Base.metadata.tables)
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
        assert diff == []
        downgrade(engine, "0002")
        assert "evaluation" not in _tables(engine) and "import_problem" in _tables(engine)
        upgrade(engine, "0003")
        assert "evaluation" in _tables(engine)
        column = {c["name"]: c for c in inspect(engine).get_columns("evaluation")}["dataset_fingerprint"]
        assert column["nullable"] and column["type"].length == 64
        downgrade(engine, "0001")
        assert "import_problem" not in _tables(engine)
        downgrade(engine, "base")
        assert _tables(engine) == set()
        upgrade(engine)
        assert _tables(engine) == set(Base.metadata.tables)
    finally:
        engine.dispose()


def test_sqlite_connections_use_wal_foreign_keys_and_full_sync(tmp_path):
    with Project.create(tmp_path / "p.db") as project, project.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL


def test_opening_an_older_project_backs_it_up_then_upgrades(tmp_path):
    path = tmp_path / "old.db"
    engine = make_engine(path)
    upgrade(engine, "0001")
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO image_root (path, created_at) VALUES ('/data', '2026-01-01')"))
    engine.dispose()

    with Project.open(path) as project:
        report = project.schema_report
        assert (report.before, report.after, report.upgraded) == ("0001", head_revision(), True)
        assert report.backup is not None and report.backup.name.startswith("old.db.backup-0001-")
        assert [str(p) for _, p in project.roots()] == ["/data"]  # data survived the upgrade
    backup = sqlite3.connect(report.backup)
    try:
        assert backup.execute("SELECT version_num FROM alembic_version").fetchone() == ("0001",)
        assert backup.execute("SELECT path FROM image_root").fetchall() == [("/data",)]
    finally:
        backup.close()
    with Project.open(path) as again:  # already current: no second backup
        assert again.schema_report.backup is None and not again.schema_report.upgraded


def test_a_project_from_a_newer_app_is_refused_untouched(db_url):
    with Project.create(db_url):
        pass
    engine = make_engine(db_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999_from_the_future'"))
    try:
        with pytest.raises(SchemaTooNewError, match="9999_from_the_future.*newer"):
            Project.open(db_url)
        assert current_revision(engine) == "9999_from_the_future"
        assert _tables(engine) == set(Base.metadata.tables)
    finally:
        engine.dispose()


def test_a_foreign_database_is_not_taken_over(tmp_path):
    path = tmp_path / "other.db"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE customers (id INTEGER)")
    con.commit()
    con.close()
    with pytest.raises(SchemaTooNewError, match="not a DarkFace Studio project"):
        Project.open(path)
    assert sqlite3.connect(path).execute("SELECT name FROM sqlite_master").fetchall() == [("customers",)]


def test_create_and_open_refuse_the_wrong_case(tmp_path):
    with pytest.raises(NotFoundError, match="no such project file"):
        Project.open(tmp_path / "missing.db")
    Project.create(tmp_path / "p.db").close()
    with pytest.raises(StoreError, match="already exists"):
        Project.create(tmp_path / "p.db")


def test_ensure_current_on_current_database_is_a_no_op(tmp_path):
    engine = make_engine(tmp_path / "p.db")
    try:
        first = ensure_current(engine)
        second = ensure_current(engine)
        assert first.upgraded and not second.upgraded and second.backup is None
    finally:
        engine.dispose()


def test_evaluations_survive_an_upgrade_from_0002_and_go_with_their_model(tmp_path):
    """0002 -> head keeps the data and adds the evaluation table, whose rows follow their model."""
    path = tmp_path / "old.db"
    engine = make_engine(path)
    upgrade(engine, "0002")
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO model_version (id, name, checkpoint_path, metrics, created_at) "
                          "VALUES (7, 'base', '/w/base.pth', '{}', '2026-01-01')"))
    engine.dispose()
    with Project.open(path) as project:
        assert project.schema_report.before == "0002"
        with project.write() as s:
            s.execute(text("INSERT INTO evaluation (model_version_id, dataset, enhanced, ap, n_images, n_faces, "
                           "curve, errors, created_at, dataset_fingerprint) VALUES (7, 'heldout', 0, 0.5, 3, 4, "
                           "'{}', '{}', '2026-01-02', :fp)"), {"fp": "ab" * 32})
        with project.read() as s:
            assert s.execute(text("SELECT dataset_fingerprint FROM evaluation")).scalar() == "ab" * 32
        with project.write() as s:
            s.execute(text("DELETE FROM model_version WHERE id = 7"))
        with project.read() as s:
            assert s.execute(text("SELECT count(*) FROM evaluation")).scalar() == 0


def test_a_run_s_covered_images_move_from_its_settings_to_their_table_and_back(tmp_path):
    """0006 backfills ``detection_run_image`` from ``settings["image_ids"]`` (ids of images that
    are gone are dropped: a foreign key now guards them) and removes the JSON list; the downgrade
    writes it back."""
    import json

    path = tmp_path / "old.db"
    engine = make_engine(path)
    upgrade(engine, "0005")
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO image_root (id, path, created_at) VALUES (1, '/data', '2026-01-01')"))
        for i in (1, 2, 3):
            conn.execute(text("INSERT INTO image (id, root_id, rel_path, content_hash, width, height, status, "
                              "created_at, updated_at) VALUES (:i, 1, :p, :h, 8, 8, 'new', '2026-01-01', "
                              "'2026-01-01')"), {"i": i, "p": f"{i}.png", "h": f"h{i}"})
        conn.execute(text("INSERT INTO detection_run (id, enhanced, settings, created_at) VALUES "
                          "(7, 0, :s, '2026-01-01')"), {"s": json.dumps({"mode": "single", "image_ids": [3, 1, 99]})})
    upgrade(engine)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT run_id, image_id FROM detection_run_image ORDER BY image_id")).all() == [
            (7, 1), (7, 3)]
        assert json.loads(conn.execute(text("SELECT settings FROM detection_run")).scalar()) == {"mode": "single"}
    downgrade(engine, "0005")
    with engine.connect() as conn:
        assert json.loads(conn.execute(text("SELECT settings FROM detection_run")).scalar()) == {
            "mode": "single", "image_ids": [1, 3]}
    engine.dispose()
