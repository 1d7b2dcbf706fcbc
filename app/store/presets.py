"""Named enhancement presets, stored in the project so the whole team shares them.

A preset row keeps the method name and the parameters' JSON dict (``MethodParams.to_dict``).
Every read goes back through ``srn.enhance.params_from_dict``, so a preset written by another
version, or edited by hand, is validated like any user input; a bad one raises a ``StoreError``
that names the preset instead of a bare ``ParamError`` deep in the GUI.
"""

from __future__ import annotations

from sqlalchemy import delete, select

from app.store.errors import NotFoundError, StoreError
from app.store.project import Project
from app.store.tables import EnhancementPreset
from srn.enhance.params import MethodParams
from srn.enhance.registry import params_from_dict

MAX_NAME = 200
"""The width of ``enhancement_preset.name``."""


def _clean_name(name: str) -> str:
    cleaned = (name or "").strip()
    if not cleaned:
        raise StoreError("a preset needs a name")
    if len(cleaned) > MAX_NAME:
        raise StoreError(f"preset name is {len(cleaned)} characters long; at most {MAX_NAME} fit")
    return cleaned


def _params_of(row: EnhancementPreset) -> MethodParams:
    """The row's parameters, validated; ``StoreError`` naming the preset if they are unusable."""
    data = row.params
    if not isinstance(data, dict):
        raise StoreError(f"preset {row.name!r}: stored parameters are not a JSON object ({type(data).__name__})")
    data = dict(data)
    data.setdefault("method", row.method)
    if data["method"] != row.method:
        raise StoreError(f"preset {row.name!r}: method column says {row.method!r} "
                         f"but its parameters are for {data['method']!r}")
    try:
        return params_from_dict(data)
    except (ValueError, TypeError) as exc:  # ParamError is a ValueError; unknown keys give TypeError
        raise StoreError(f"preset {row.name!r} cannot be used: {exc}") from exc


def save_preset(project: Project, name: str, params: MethodParams) -> int:
    """Store ``params`` under ``name`` (overwriting a preset of that name); returns its id."""
    name = _clean_name(name)
    data = params.to_dict()
    params_from_dict(data)  # never store what cannot be read back
    with project.write() as s:
        row = s.scalars(select(EnhancementPreset).where(EnhancementPreset.name == name)).one_or_none()
        if row is None:
            row = EnhancementPreset(name=name, method=params.method, params=data)
            s.add(row)
        else:
            row.method, row.params = params.method, data
        s.flush()
        return row.id


def preset_names(project: Project) -> list[str]:
    """Names of the stored presets, sorted case-insensitively (no validation: cheap for menus)."""
    with project.read() as s:
        names = list(s.scalars(select(EnhancementPreset.name)))
    return sorted(names, key=lambda n: (n.casefold(), n))


def list_presets(project: Project) -> list[tuple[str, MethodParams]]:
    """Every preset as ``(name, params)``, sorted by name; ``StoreError`` on the first bad one."""
    with project.read() as s:
        rows = list(s.scalars(select(EnhancementPreset)))
    rows.sort(key=lambda r: (r.name.casefold(), r.name))
    return [(row.name, _params_of(row)) for row in rows]


def load_preset(project: Project, name: str) -> MethodParams:
    """The parameters stored under ``name``; ``NotFoundError`` if there is no such preset."""
    with project.read() as s:
        row = s.scalars(select(EnhancementPreset).where(EnhancementPreset.name == name.strip())).one_or_none()
    if row is None:
        raise NotFoundError(f"no enhancement preset named {name!r}")
    return _params_of(row)


def delete_preset(project: Project, name: str) -> None:
    """Remove the preset ``name``; ``NotFoundError`` if there is none."""
    with project.write() as s:
        gone = s.execute(delete(EnhancementPreset).where(EnhancementPreset.name == name.strip())).rowcount
    if not gone:
        raise NotFoundError(f"no enhancement preset named {name!r}")
