"""A pytest plugin for plugin authors: build a model into a bundle, run it in Node, compare with onnxruntime.

Installed with webdnn-build (entry point ``pytest11``), so a plugin's own tests just use the fixtures::

    def test_my_pass(webdnn_build_bundle, assert_matches_onnxruntime):
        bundle = webdnn_build_bundle(model, backends=["js"])        # a path or an onnx.ModelProto
        assert [op["op"] for op in bundle.program("js")["ops"]] == ["Abs"]
        assert_matches_onnxruntime(bundle, {"x": x})                 # every backend of the bundle

Fixtures:

- ``webdnn_build_bundle(model, backends=None, *, passes=None, input_shapes=None, backend_options=None,
  plugins=None, quantize=None) -> Bundle``: builds into the test's ``tmp_path``; a build error fails the test
  with the compiler's message. ``plugins`` ({name: module}) registers plugins for this build only, besides
  the installed ones (a plugin tested without installing it).
- ``webdnn_runner`` (one Node worker per test session) and ``webdnn_run(bundle, feeds, backend="js") ->
  RunResult``: the outputs as numpy arrays, the backend that actually ran (a requested backend that did not
  load fails the test, except a missing WebGPU adapter: see below) and its placement (native vs js fallback
  ops, from the manifest).
- ``assert_matches_onnxruntime(bundle_or_model, feeds, backends=None, rtol=1e-4, atol=1e-5)``: onnxruntime on
  the source model is the oracle; each backend's outputs must satisfy ``max|ours - ort| <= atol + rtol *
  max|ort|`` (integer and bool outputs: equal).
- ``assert_matches_reference(bundle_or_model, feeds, reference, backends=None, rtol=1e-4, atol=1e-5)``: the
  same against ``reference`` (a dict of arrays, or a function of the feeds returning one), for custom ops
  onnxruntime lacks.

A skip is not a pass: where a component is missing (Node, the webdnn-runtime package, onnxruntime, a WebGPU
adapter) the test is skipped with a reason starting ``missing component: ``, and under ``CI=true`` (1, yes)
it fails instead (:func:`require_or_skip`).
"""

from __future__ import annotations

import importlib
import json
import os
import re
import shutil
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, NoReturn, Optional, Sequence, Union

import numpy as np
import pytest

#: prefix of the skip reason when a component a test needs is missing (the same as the repository's tests)
MISSING = "missing component: "
RTOL, ATOL = 1e-4, 1e-5


def in_ci() -> bool:
    """CI=true (or 1/yes): every component a test needs must be there."""
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def require_or_skip(reason: str) -> NoReturn:
    """A component this test needs is missing: skip with the reason, or fail under CI=true."""
    if in_ci():
        pytest.fail(f"CI=true and a required component is missing: {reason}", pytrace=False)
    pytest.skip(MISSING + reason)


def import_or_require(module: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        require_or_skip(f"Python package {module} ({exc})")


@dataclass
class Bundle:
    """A built bundle: its folder, manifest, the source model and the backends built."""

    path: Path
    manifest: dict[str, Any]
    model: Path
    backends: list[str]
    skipped_backends: dict[str, str] = field(default_factory=dict)

    def placement(self, backend: str) -> dict[str, Any]:
        """manifest backends.<backend>.placement: {"native": N, "fallback": M, "fallback_ops": [...]}"""
        return dict(self.manifest["backends"][backend].get("placement") or {})

    def program(self, backend: str = "js") -> dict[str, Any]:
        """The js backend's program (``js/program.json``): its ``ops`` are what the passes left."""
        return json.loads((self.path / backend / "program.json").read_text())


@dataclass
class RunResult:
    outputs: dict[str, Any]
    #: the backend that ran (the one requested: a fallback to another fails the run)
    backend: str
    requested: str
    #: manifest backends.<backend>.placement: how many ops ran on the backend's own kernels ("native") and on
    #: the js kernels in the bundle ("fallback", with "fallback_ops")
    placement: dict[str, Any]
    fallback_log: list[Any] = field(default_factory=list)

    @property
    def native_ops(self) -> int:
        return int(self.placement.get("native", 0))

    @property
    def fallback_ops(self) -> list[str]:
        return list(self.placement.get("fallback_ops", []))


@contextmanager
def extra_plugins(plugins: Optional[Mapping[str, Any]]) -> Iterator[None]:
    """Within the block, the process-wide plugin host also has ``plugins`` (name -> module) registered."""
    from . import plugins as plugin_mod

    if not plugins:
        yield
        return
    saved = plugin_mod._HOST
    host = plugin_mod.PluginHost()
    env = os.environ.get("WEBDNN_BUILD_PLUGINS")
    host.load_entry_points({s.strip() for s in env.split(",") if s.strip()} if env else None)
    for name, module in plugins.items():
        if not host.pm.has_plugin(name):
            host.register(module, name)
    host.build_registry()
    plugin_mod._HOST = host
    try:
        yield
    finally:
        plugin_mod._HOST = saved


def build_bundle(model: Union[str, os.PathLike, Any], out_dir: Path, backends: Optional[Sequence[str]] = None, *,
                 passes: Optional[Sequence[str]] = None, input_shapes: Optional[Mapping[str, Sequence[int]]] = None,
                 backend_options: Optional[Mapping[str, Mapping[str, str]]] = None,
                 plugins: Optional[Mapping[str, Any]] = None, quantize: Optional[Sequence[str]] = None) -> Bundle:
    """Build ``model`` (a path or an onnx.ModelProto, saved as ``out_dir/model.onnx``) into ``out_dir/bundle``.
    A build error fails the test with the compiler's message; a requested backend that was not built (its
    toolchain missing) is a missing component."""
    from .compiler import BuildOptions, compile_model
    from .compress import parse_quantize
    from .errors import WebDNNError
    from .symdim import parse_shape

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if isinstance(model, (str, os.PathLike)):
        path = Path(model)
    else:
        onnx = import_or_require("onnx")
        path = out_dir / "model.onnx"
        onnx.save(model, str(path))
    opts = BuildOptions(
        backends=list(backends) if backends is not None else None,
        passes=list(passes) if passes is not None else None,
        input_shapes={k: parse_shape([str(d) for d in v], f"input shape {k}") for k, v in (input_shapes or {}).items()},
        backend_options={b: dict(o) for b, o in (backend_options or {}).items()},
        quantize=parse_quantize(list(quantize or [])))
    messages: list[str] = []
    try:
        with extra_plugins(plugins):
            result = compile_model(path, out_dir / "bundle", opts, log=messages.append)
    except WebDNNError as exc:
        pytest.fail(f"webdnn-build failed on {path.name}: {exc}", pytrace=False)
    if backends is not None:
        for b in backends:
            if b not in result.backends:  # (asked for but not built: the model does not fit it, a failure)
                pytest.fail(f"backend {b} was not built: {result.skipped_backends.get(b, 'not installed')}",
                            pytrace=False)
    return Bundle(result.out_dir, result.manifest, path, list(result.backends), dict(result.skipped_backends))


#: the webgpu backend's reasons for "no WebGPU here" (js-runtime/src/backends/webgpu/backend.js): a missing
#: component; any other webgpu load error is a failure
_WEBGPU_MISSING = re.compile(r"no WebGPU in this environment|WebGPU has no adapter here|requestAdapter\(\) failed|"
                             r"the webgpu package \(Dawn\) failed to start")


class Runner:
    """Runs bundles in one Node worker (webdnn_build.node.NodeWorker), started on first use."""

    def __init__(self) -> None:
        self._worker: Any = None

    def _start(self) -> Any:
        from .errors import WebDNNError
        from .node import NodeWorker, find_runtime

        if self._worker is not None and self._worker.proc.poll() is None:
            return self._worker
        node = os.environ.get("WEBDNN_NODE") or shutil.which("node")
        if not node:
            require_or_skip("Node.js (node on PATH, or WEBDNN_NODE)")
        try:
            find_runtime()
        except WebDNNError as exc:
            require_or_skip(f"webdnn-runtime npm package: {exc}")
        self._worker = NodeWorker(node)
        return self._worker

    def import_module(self, module: Union[str, Path]) -> None:
        """Import a JS module in the worker (one that calls webdnn-runtime's registerKernel, for custom ops)."""
        spec = str(Path(module).resolve()) if Path(str(module)).exists() else str(module)
        self._start().request({"cmd": "import", "module": spec})

    def run(self, bundle: Union[Bundle, Path], feeds: Mapping[str, Any], backend: str = "js",
            threads: Optional[int] = None) -> RunResult:
        from .errors import WebDNNError

        worker = self._start()
        path = bundle.path if isinstance(bundle, Bundle) else Path(bundle)
        manifest = bundle.manifest if isinstance(bundle, Bundle) else json.loads((path / "manifest.json").read_text())
        try:
            loaded = worker.load(path, [backend], threads)
        except WebDNNError as exc:
            if backend == "webgpu" and _WEBGPU_MISSING.search(str(exc)):
                require_or_skip(f"webgpu: no WebGPU in Node ({exc})")
            pytest.fail(f"{path}: loading on {backend} failed: {exc}", pytrace=False)
        try:
            ran = loaded["backend"]
            if ran != backend:
                log = loaded.get("fallbackLog")
                if backend == "webgpu" and _WEBGPU_MISSING.search(json.dumps(log)):
                    require_or_skip(f"webgpu: no WebGPU in Node ({log})")
                pytest.fail(f"{path}: asked for {backend}, {ran} ran instead: {log}", pytrace=False)
            dtypes = {i["name"]: i["dtype"] for i in manifest["inputs"]}
            try:
                outputs, _ = worker.run(loaded["handle"], dict(feeds), dtypes)
            except WebDNNError as exc:
                pytest.fail(f"{path}: running on {backend} failed: {exc}", pytrace=False)
        finally:
            try:
                worker.dispose(loaded["handle"])
            except WebDNNError:
                pass
        placement = dict((manifest.get("backends", {}).get(ran) or {}).get("placement") or {})
        return RunResult(dict(outputs), ran, backend, placement, list(loaded.get("fallbackLog") or []))

    def close(self) -> None:
        if self._worker is not None:
            self._worker.close()
            self._worker = None


def assert_close(name: str, got: Any, want: Any, rtol: float = RTOL, atol: float = ATOL) -> None:
    """One output against its reference: same shape, then ``max|got - want| <= atol + rtol * max|want|``
    (integer, bool and string outputs: equal)."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, f"{name}: shape {list(got.shape)}, reference {list(want.shape)}"
    if want.dtype.kind not in "fc":
        if not np.array_equal(got, want):
            bad = int(np.sum(got != want)) if got.shape == want.shape else got.size
            raise AssertionError(f"{name}: {bad} of {want.size} elements differ from the reference (exact "
                                 f"match required for {want.dtype})")
        return
    a, b = got.astype(np.float64), want.astype(np.float64)
    diff = np.where(np.isnan(a) & np.isnan(b), 0.0, np.abs(a - b))
    err = float(np.max(diff)) if diff.size else 0.0
    if np.isnan(diff).any():
        err = float("inf")
    finite = b[np.isfinite(b)]
    scale = float(np.max(np.abs(finite))) if finite.size else 0.0
    if not err <= atol + rtol * scale:
        where = np.unravel_index(int(np.nanargmax(np.where(np.isnan(diff), np.inf, diff))), diff.shape) if diff.size else ()
        raise AssertionError(f"{name}: max abs error {err:.3g} at {tuple(int(i) for i in where)} exceeds "
                             f"atol {atol:g} + rtol {rtol:g} x max|reference| {scale:.3g}")


Reference = Union[Mapping[str, Any], Callable[[dict[str, Any]], Mapping[str, Any]]]


class Checker:
    """What ``assert_matches_onnxruntime`` / ``assert_matches_reference`` do, bound to a runner and tmp_path."""

    def __init__(self, runner: Runner, tmp_path: Path) -> None:
        self.runner = runner
        self.tmp_path = tmp_path
        self._n = 0

    def bundle(self, bundle_or_model: Any, backends: Optional[Sequence[str]], **build: Any) -> Bundle:
        if isinstance(bundle_or_model, Bundle):
            missing = [b for b in backends or () if b not in bundle_or_model.backends]
            if missing:
                pytest.fail(f"the bundle has no {', '.join(missing)} (built: {bundle_or_model.backends})", pytrace=False)
            return bundle_or_model
        self._n += 1
        return build_bundle(bundle_or_model, self.tmp_path / f"webdnn-check-{self._n}", backends, **build)

    def against(self, bundle: Bundle, feeds: Mapping[str, Any], reference: Mapping[str, Any], oracle: str,
                backends: Optional[Sequence[str]], rtol: float, atol: float) -> dict[str, RunResult]:
        results = {}
        for backend in backends or bundle.backends:
            result = self.runner.run(bundle, feeds, backend)
            names = [n for n in result.outputs]
            missing = [n for n in reference if n not in result.outputs]
            assert not missing, f"{backend}: outputs {missing} missing (the bundle gave {names})"
            errors = []
            for name in reference:
                try:
                    assert_close(f"{backend} output '{name}'", result.outputs[name], reference[name], rtol, atol)
                except AssertionError as exc:
                    errors.append(str(exc))
            if errors:
                placement = f" (placement: {result.placement})" if result.placement else ""
                raise AssertionError(f"{bundle.model.name} on {backend} does not match {oracle}{placement}:\n  "
                                     + "\n  ".join(errors))
            results[backend] = result
        return results

    def onnxruntime(self, bundle_or_model: Any, feeds: Mapping[str, Any], backends: Optional[Sequence[str]] = None,
                    rtol: float = RTOL, atol: float = ATOL, reference_level: str = "all", **build: Any
                    ) -> dict[str, RunResult]:
        import_or_require("onnxruntime")
        from .verify import run_onnxruntime

        bundle = self.bundle(bundle_or_model, backends, **build)
        reference = run_onnxruntime(bundle.model, dict(feeds), reference_level)
        return self.against(bundle, feeds, reference, "onnxruntime", backends, rtol, atol)

    def reference(self, bundle_or_model: Any, feeds: Mapping[str, Any], reference: Reference,
                  backends: Optional[Sequence[str]] = None, rtol: float = RTOL, atol: float = ATOL, **build: Any
                  ) -> dict[str, RunResult]:
        bundle = self.bundle(bundle_or_model, backends, **build)
        ref = dict(reference(dict(feeds)) if callable(reference) else reference)
        return self.against(bundle, feeds, ref, "the reference", backends, rtol, atol)


# ---- fixtures ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def webdnn_runner() -> Iterator[Runner]:
    """One Node worker for the test session (started on first use)."""
    runner = Runner()
    yield runner
    runner.close()


@pytest.fixture
def webdnn_run(webdnn_runner: Runner) -> Callable[..., RunResult]:
    """``webdnn_run(bundle, feeds, backend="js", threads=None) -> RunResult``."""
    return webdnn_runner.run


@pytest.fixture
def webdnn_build_bundle(tmp_path: Path) -> Callable[..., Bundle]:
    """``webdnn_build_bundle(model, backends=None, *, passes=None, input_shapes=None, backend_options=None,
    plugins=None, quantize=None) -> Bundle``, built under ``tmp_path``."""
    count = [0]

    def build(model: Any, backends: Optional[Sequence[str]] = None, **kw: Any) -> Bundle:
        count[0] += 1
        return build_bundle(model, tmp_path / f"webdnn-build-{count[0]}", backends, **kw)

    return build


@pytest.fixture
def assert_matches_onnxruntime(webdnn_runner: Runner, tmp_path: Path) -> Callable[..., dict[str, RunResult]]:
    """``assert_matches_onnxruntime(bundle_or_model, feeds, backends=None, rtol=1e-4, atol=1e-5,
    reference_level="all", **build_options) -> {backend: RunResult}``."""
    return Checker(webdnn_runner, tmp_path).onnxruntime


@pytest.fixture
def assert_matches_reference(webdnn_runner: Runner, tmp_path: Path) -> Callable[..., dict[str, RunResult]]:
    """``assert_matches_reference(bundle_or_model, feeds, reference, backends=None, rtol=1e-4, atol=1e-5,
    **build_options) -> {backend: RunResult}``; ``reference``: {output: array}, or a function of the feeds."""
    return Checker(webdnn_runner, tmp_path).reference
