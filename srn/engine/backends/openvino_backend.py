"""The OpenVINO backend: SRN converted from the torch module and compiled for the CPU.

``openvino.convert_model`` traces ``srn.model.inference_graph.InferenceGraph`` (normalisation
inside, height and width dynamic, so images of any size share one compiled model and nothing
recompiles per image). The converted graph is stored with its fp32 weights in the compile cache;
OpenVINO's own blob cache (``CACHE_DIR``) then makes later compiles take well under a second.

Precisions: ``fp32``; ``bf16`` only where the CPU computes it natively (OpenVINO reports
``BF16`` among its optimisation capabilities: AVX512_BF16 or AMX), refused elsewhere rather than
emulated; ``int8``: NNCF post-training quantisation calibrated on the images given, where the
``nncf`` package is installed (``pip install darkface-studio[int8]``).
Hints: ``LATENCY`` for the one image a reviewer looks at, ``THROUGHPUT`` for batch jobs
(``run_many`` keeps several infer requests in flight).
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import numpy as np
import torch

from srn.engine.backends.compile_cache import CompileCache, weights_digest
from srn.model.inference_graph import InferenceGraph, to_srn_output
from srn.model.outputs import SRNOutput
from srn.model.srn_net import SRN

HINTS = ("LATENCY", "THROUGHPUT")
PRECISION_HINT = {"fp32": "f32", "bf16": "bf16", "int8": "f32"}  # INFERENCE_PRECISION_HINT; int8 is in the graph
_TRACE_SIZE = (256, 320)  # the example input's (H, W); any size works afterwards


class BackendUnavailable(RuntimeError):
    """The runtime cannot load here (not installed, or its native library fails)."""


def load_openvino():
    """The ``openvino`` module, or ``BackendUnavailable`` saying why not."""
    try:
        import openvino
    except Exception as exc:  # ImportError, or an OSError from its shared libraries
        raise BackendUnavailable(f"openvino cannot load ({type(exc).__name__}: {exc})") from exc
    return openvino


def openvino_version() -> str:
    """``"2026.4.1"``: the release, without the build suffix (compiled caches key on it)."""
    return load_openvino().get_version().split("-")[0]


def nncf_available() -> bool:
    try:
        import nncf  # noqa: F401
    except Exception:
        return False
    return True


_core = None
_core_lock = threading.Lock()


def core():
    """One ``openvino.Core`` per process (it owns the CPU plugin's thread pools)."""
    global _core
    with _core_lock:
        if _core is None:
            _core = load_openvino().Core()
        return _core


def machine_key() -> str:
    """The CPU as far as precision choice goes: its name and OpenVINO's capabilities for it."""
    caps = "+".join(sorted(native_capabilities()))
    name = str(core().get_property("CPU", "FULL_DEVICE_NAME"))
    return f"{name}-{caps}"


def native_capabilities() -> set[str]:
    return {str(c) for c in core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")}


def available_precisions() -> list[str]:
    """What this CPU runs, fastest first: int8 (with nncf), bf16 (native only), fp32."""
    caps = native_capabilities()
    found = []
    if "INT8" in caps and nncf_available():
        found.append("int8")
    if "BF16" in caps:
        found.append("bf16")
    return [*found, "fp32"]


def why_unavailable(precision: str) -> str | None:
    """None if ``precision`` runs here, else the reason in words."""
    if precision in available_precisions():
        return None
    if precision == "bf16":
        return ("bf16 needs a CPU that computes it natively (AVX512_BF16 or AMX); this one offers "
                + ", ".join(sorted(native_capabilities())))
    if precision == "int8":
        return "int8 needs NNCF for quantisation: pip install 'darkface-studio[int8]' (or nncf)"
    return f"OpenVINO runs fp32, bf16 or int8, not {precision!r}"


class OpenVINOBackend:
    """``model`` compiled by OpenVINO for the CPU at ``precision``.

    ``calibration`` (uint8 RGB images) is needed the first time an int8 model is made for these
    weights; ``progress(text)`` hears about the slow steps (conversion, quantisation, compile).
    """

    name = "openvino"

    def __init__(
        self,
        model: SRN,
        precision: str = "fp32",
        *,
        cache: CompileCache | None = None,
        hint: str = "LATENCY",
        calibration: Sequence[np.ndarray] | None = None,
        digest: str | None = None,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        load_openvino()
        reason = why_unavailable(precision)
        if reason:
            raise ValueError(reason)
        if hint not in HINTS:
            raise ValueError(f"hint must be one of {', '.join(HINTS)}, got {hint!r}")
        self.precision = precision
        self.hint = hint
        self.config = model.config
        self.version = openvino_version()
        self.cache = cache or CompileCache()
        self.digest = digest or weights_digest(model)
        self._progress = progress or (lambda text: None)
        self.from_cache = True  # False when this construction had to convert (or quantise)
        xml = self._graph_file(model, calibration)
        c = core()
        self.cache.blobs().mkdir(parents=True, exist_ok=True)
        c.set_property({"CACHE_DIR": str(self.cache.blobs())})
        self._progress(f"compiling for the CPU ({precision}, {hint.lower()})")
        self.compiled = c.compile_model(str(xml), "CPU", {
            "PERFORMANCE_HINT": hint,
            "INFERENCE_PRECISION_HINT": PRECISION_HINT[precision],
        })
        self._request = self.compiled.create_infer_request()
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ graph
    def _graph_file(self, model: SRN, calibration):
        kind = "int8" if self.precision == "int8" else "fp"
        xml = self.cache.ir_path(self.digest, kind, self.version)
        if xml is not None:
            return xml
        self.from_cache = False
        fp = self.cache.ir_path(self.digest, "fp", self.version)
        if fp is None:
            self._progress("converting the network for OpenVINO")
            ov_model = convert(model)
            fp = self.cache.write_ir(self.digest, "fp", self.version, lambda path: _save(ov_model, path))
        if kind == "fp":
            return fp
        if not calibration:
            raise ValueError("int8 needs calibration images the first time (a few of the project's images)")
        self._progress(f"quantising to int8 on {len(calibration)} images (NNCF)")
        quantised = quantise(core().read_model(str(fp)), calibration)
        return self.cache.write_ir(self.digest, kind, self.version, lambda path: _save(quantised, path))

    # ------------------------------------------------------------------ inference
    def _outputs(self, batch: np.ndarray, results) -> SRNOutput:
        tensors = [torch.from_numpy(np.array(results[port])) for port in self.compiled.outputs]
        return to_srn_output(tensors, self.config, batch.shape[1], batch.shape[2])

    def run(self, images: Sequence[np.ndarray]) -> SRNOutput:
        batch = np.ascontiguousarray(np.stack(images))
        with self._lock:  # one infer request: one caller at a time
            results = self._request.infer([batch])
            return self._outputs(batch, results)

    def run_many(self, batches: Iterable[tuple[object, np.ndarray | None]], jobs: int | None = None
                 ) -> Iterator[tuple[object, SRNOutput | Exception | None]]:
        """Stream (key, uint8 batch) pairs through several infer requests in flight (the
        compiled model's optimal number unless ``jobs``); yields (key, output, or the exception
        that batch raised) in input order. A ``None`` batch passes through as (key, None)."""
        jobs = jobs or int(self.compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"))
        free = [self.compiled.create_infer_request() for _ in range(max(1, jobs))]
        pending: list[tuple[object, np.ndarray | None, Any]] = []
        iterator = iter(batches)
        exhausted = False
        while pending or not exhausted:
            while free and not exhausted:
                try:
                    key, batch = next(iterator)
                except StopIteration:
                    exhausted = True
                    break
                request = None
                if batch is not None:
                    request = free.pop()
                    batch = np.ascontiguousarray(batch)
                    request.start_async([batch])
                pending.append((key, batch, request))
            if not pending:
                break
            key, batch, request = pending.pop(0)
            if request is None or batch is None:  # a None batch: nothing was started for it
                yield key, None
                continue
            try:
                request.wait()
                output: SRNOutput | Exception = self._outputs(batch, request.results)
            except Exception as exc:  # one batch, not the whole stream
                output = exc
            free.append(request)
            yield key, output

    def describe(self) -> str:
        return f"openvino {self.precision}"


def convert(model: SRN):
    """The OpenVINO model of ``InferenceGraph(model)``, batch, height and width dynamic."""
    ov = load_openvino()
    graph = InferenceGraph(model.to("cpu").to(memory_format=torch.contiguous_format)).eval()
    example = torch.zeros(1, *_TRACE_SIZE, 3, dtype=torch.uint8)
    with torch.no_grad(), warnings.catch_warnings():
        # Tracing warns that the input checks become constants, and that tracing is deprecated
        # in favour of torch.export; the traced graph is checked against torch by the tests.
        warnings.simplefilter("ignore", category=torch.jit.TracerWarning)
        warnings.simplefilter("ignore", category=FutureWarning)
        return ov.convert_model(graph, example_input=example, input=[ov.PartialShape([-1, -1, -1, 3])])


def quantise(ov_model, calibration: Sequence[np.ndarray], **options):
    """NNCF post-training quantisation, calibrated one image at a time on ``calibration``;
    ``options`` go to ``nncf.quantize`` (``benchmarks/int8_variants.py`` compares some)."""
    import nncf

    dataset = nncf.Dataset([np.ascontiguousarray(image[None]) for image in calibration])
    return nncf.quantize(ov_model, dataset, subset_size=len(calibration), **options)


def _save(ov_model, path) -> None:
    load_openvino().save_model(ov_model, str(path), compress_to_fp16=False)  # fp32 stays fp32
