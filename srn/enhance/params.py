"""Parameter metadata shared by every enhancement method.

Each method has one frozen dataclass of parameters. Its fields carry a ``ParamSpec`` (label,
range, log scale, which output modes it affects) in the dataclass field metadata, so the GUI can
build sliders without knowing the method, and so it offers only sliders that change the
picture (``offered_specs``). Parameters round-trip through JSON because presets are stored in
the project.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any, ClassVar


@dataclass(frozen=True)
class ParamSpec:
    """How one parameter is shown and constrained.

    ``kind`` is ``"float"``, ``"int"``, ``"choice"`` or ``"floats"`` (a tuple of floats, one
    slider per element, each within ``minimum..maximum``). ``modes`` lists the output modes in
    which the parameter changes the result; ``None`` means all of them.
    """

    name: str
    label: str
    kind: str = "float"
    minimum: float | None = None
    maximum: float | None = None
    log_scale: bool = False
    choices: tuple[str, ...] = ()
    modes: frozenset[str] | None = None
    help: str = ""

    def affects(self, mode: str | None) -> bool:
        return self.modes is None or mode is None or mode in self.modes


def param(default: Any, spec: ParamSpec | None = None) -> Any:
    """A dataclass field with an optional ``ParamSpec`` (fields without one get no slider)."""
    return field(default=default, metadata={"spec": spec} if spec else {})


class ParamError(ValueError):
    """An invalid parameter value; the message names the method, the parameter and the rule."""


@dataclass(frozen=True)
class MethodParams:
    """Base class of every method's parameters: validation, specs, JSON round-trip."""

    method: ClassVar[str] = ""
    mode_field: ClassVar[str | None] = None  # the field holding the output mode, if any

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, list):  # JSON gives lists; keep tuples (hashable, frozen)
                object.__setattr__(self, f.name, tuple(value))
        for spec in self.specs():
            self._check_spec(spec, getattr(self, spec.name))
        self.validate()

    def _fail(self, name: str, message: str) -> None:
        raise ParamError(f"{self.method}: {name} {message}")

    def _check_spec(self, spec: ParamSpec, value: Any) -> None:
        if spec.kind == "choice":
            if value not in spec.choices:
                self._fail(spec.name, f"must be one of {', '.join(spec.choices)}, got {value!r}")
            return
        values = value if spec.kind == "floats" else (value,)
        if spec.kind == "floats" and (not isinstance(value, tuple) or not value):
            self._fail(spec.name, f"must be a non-empty list of numbers, got {value!r}")
        for v in values:
            if isinstance(v, bool) or not isinstance(v, (int, float)) or v != v:
                self._fail(spec.name, f"must be a number, got {v!r}")
            if spec.kind == "int" and int(v) != v:
                self._fail(spec.name, f"must be an integer, got {v!r}")
            if spec.minimum is not None and v < spec.minimum:
                self._fail(spec.name, f"must be >= {spec.minimum:g}, got {v!r}")
            if spec.maximum is not None and v > spec.maximum:
                self._fail(spec.name, f"must be <= {spec.maximum:g}, got {v!r}")

    def validate(self) -> None:
        """Cross-field rules; subclasses override."""

    @classmethod
    def specs(cls) -> list[ParamSpec]:
        return [f.metadata["spec"] for f in dataclasses.fields(cls) if "spec" in f.metadata]

    @property
    def mode(self) -> str | None:
        return getattr(self, self.mode_field) if self.mode_field else None

    def offered_specs(self) -> list[ParamSpec]:
        """The parameters that change the output in the current mode (the sliders to show)."""
        return [s for s in self.specs() if s.affects(self.mode)]

    def replace(self, **changes: Any) -> MethodParams:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"method": self.method}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            d[f.name] = list(value) if isinstance(value, tuple) else value
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MethodParams:
        data = dict(data)
        method = data.pop("method", cls.method)
        if method != cls.method:
            raise ParamError(f"parameters are for method {method!r}, not {cls.method!r}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ParamError(f"{cls.method}: unknown parameter(s) {', '.join(unknown)}")
        return cls(**data)
