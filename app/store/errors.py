"""Errors the store raises; each message names what the user has to look at."""

from __future__ import annotations


class StoreError(Exception):
    """Base class: anything the annotation store refuses to do."""


class SchemaTooNewError(StoreError):
    """The project was written by a newer DarkFace Studio; this one must not touch it."""


class ReadOnlyProjectError(StoreError):
    """A change asked of a project opened read-only (no write permission on the file or its folder)."""


class DatabaseFailure(StoreError):
    """The database itself failed a read or a write (a damaged file, a lost server connection)."""


class ProjectBusyError(DatabaseFailure):
    """Another program held the project's write lock past the busy timeout; nothing was saved."""


class NotAProjectError(StoreError):
    """The file is not a project database: empty, another kind of file, or damaged."""


class ConflictError(StoreError):
    """Someone else changed the row since it was read (optimistic concurrency check failed).

    ``current`` holds the row as it is now (a ``BoxData`` for boxes), so the caller can show it.
    """

    def __init__(self, message: str, current=None) -> None:
        super().__init__(message)
        self.current = current


class NotFoundError(StoreError):
    """The image, box, model version or edit asked for does not exist (or was removed)."""


class OutsideRootsError(StoreError):
    """An image path that is not inside any of the project's image roots."""


class ImportCancelled(StoreError):
    """An import stopped because the caller cancelled it; what was committed before stays."""
