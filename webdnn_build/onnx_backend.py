"""An ``onnx.backend.base.Backend`` over webdnn-build bundles, for the official ONNX test suite.

``prepare`` keeps the model; the first ``run`` fixes the input shapes from the
data it is given, builds a bundle for one backend and loads it in a shared,
persistent Node worker (one process for the whole suite, restarted if it dies).
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np
import onnx
from onnx.backend.base import Backend, BackendRep

from .compiler import BuildOptions, compile_model
from .node import NodeWorker

_worker: Optional[NodeWorker] = None
#: the "placement" ({"native", "fallback"} op counts) of the last bundle built, for conformance reports
last_placement: Optional[dict[str, int]] = None
_live_handles: set[int] = set()
_tmp_root = Path(tempfile.mkdtemp(prefix="webdnn-conformance-"))
atexit.register(shutil.rmtree, _tmp_root, ignore_errors=True)


def shared_worker() -> NodeWorker:
    global _worker
    if _worker is None or _worker.proc.poll() is not None:
        _live_handles.clear()
        _worker = NodeWorker()
        atexit.register(_worker.close)
    return _worker


def _quiet(msg: str) -> None:
    pass


class BundleRep(BackendRep):
    def __init__(self, model: onnx.ModelProto, backend: str) -> None:
        self.model = model
        self.backend = backend
        self.handle: Optional[int] = None
        self.shapes: Optional[dict[str, tuple[int, ...]]] = None
        self.inputs: list[str] = []
        self.dtypes: dict[str, str] = {}

    def _tensor_inputs(self) -> set[str]:
        return {i.name for i in self.model.graph.input if i.type.HasField("tensor_type")}

    def _shapes(self, inputs: Sequence[Any]) -> dict[str, tuple[int, ...]]:
        """The shapes of the tensor inputs (sequence/optional inputs get theirs at run time)."""
        tensors = self._tensor_inputs()
        return {n: tuple(int(d) for d in np.shape(a)) for n, a in zip(self.inputs, inputs) if n in tensors}

    def _build(self, inputs: Sequence[Any]) -> None:
        inits = {i.name for i in self.model.graph.initializer}
        names = [i.name for i in self.model.graph.input if i.name not in inits]
        self.inputs = names
        self.shapes = self._shapes(inputs)
        work = Path(tempfile.mkdtemp(dir=_tmp_root))
        model_path = work / "model.onnx"
        onnx.save(self.model, str(model_path))
        # scalars (shape ()) need no override; an override with no dims is still valid
        # the conformance run checks kernels, not threading: skip the threaded wasm module (half the compile time)
        opts = BuildOptions(backends=[self.backend], input_shapes=self.shapes,
                            backend_options={"wasm": {"threads": "false"}} if self.backend == "wasm" else {})
        result = compile_model(model_path, work / "bundle", opts, log=_quiet)
        global last_placement
        last_placement = result.manifest["backends"][self.backend].get("placement")
        self.dtypes = {i["name"]: i["dtype"] for i in result.manifest["inputs"]}
        worker = shared_worker()
        # one live bundle at a time: the suite never goes back to an earlier case, and runtimes hold
        # real resources per bundle (a WebGPU device, wasm memory and workers)
        for handle in list(_live_handles):
            try:
                worker.dispose(handle)
            except Exception:  # noqa: BLE001 - a failed dispose must not fail the next case
                pass
            _live_handles.discard(handle)
        loaded = worker.load(result.out_dir, [self.backend])
        if loaded["backend"] != self.backend:
            raise RuntimeError(f"bundle fell back to {loaded['backend']}: {loaded['fallbackLog']}")
        self.handle = loaded["handle"]
        _live_handles.add(self.handle)

    def run(self, inputs: Any, **kwargs: Any) -> tuple[Any, ...]:
        if isinstance(inputs, dict):
            inputs = [inputs[n] for n in self.inputs] if self.inputs else list(inputs.values())
        elif not isinstance(inputs, (list, tuple)):
            inputs = [inputs]
        # sequences stay lists of arrays, empty optionals None
        inputs = [a if a is None else [np.asarray(x) for x in a] if isinstance(a, list) else np.asarray(a) for a in inputs]
        shapes_now = None
        if self.handle is not None:
            shapes_now = self._shapes(inputs)
        if self.handle is None or shapes_now != self.shapes:
            self._build(inputs)
        assert self.handle is not None
        feeds = dict(zip(self.inputs, inputs))
        outputs, _ = shared_worker().run(self.handle, feeds, self.dtypes)
        return tuple(a for _, a in outputs)


def make_backend(backend_name: str) -> type[Backend]:
    class WebDNNBackend(Backend):
        @classmethod
        def is_compatible(cls, model: onnx.ModelProto, device: str = "CPU", **kwargs: Any) -> bool:
            return True

        @classmethod
        def prepare(cls, model: onnx.ModelProto, device: str = "CPU", **kwargs: Any) -> BundleRep:
            return BundleRep(model, backend_name)

        @classmethod
        def supports_device(cls, device: str) -> bool:
            return device == "CPU"

    WebDNNBackend.__name__ = f"WebDNNBackend_{backend_name}"
    return WebDNNBackend
