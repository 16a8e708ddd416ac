"""``webdnn-build verify``: build, run in Node, compare every output with onnxruntime.

An output passes when ``max|ours - ort| <= atol + rtol * max|ort|``: the error is
judged relative to the output's scale, so that elements near zero (where a
per-element relative error is meaningless) do not fail a correct model. The
per-element maximum relative error is printed too.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np

from .compiler import BuildOptions, Log, compile_model, stderr_log
from .errors import VerifyError, WebDNNError
from .node import NodeWorker

_RANDOM_DTYPES = {"float32": np.float32, "float64": np.float64, "float16": np.float16}


@dataclass
class OutputReport:
    name: str
    shape: tuple[int, ...]
    max_abs: float
    max_rel: float
    scale: float
    ok: bool
    #: mean absolute error over the elements (where an error is a few flipped quantization steps, the max
    #: is large and the mean tiny; for garbage both are)
    mean_abs: float = 0.0


#: the size ``verify`` gives a dim left open at build time when neither --dim nor an input file sets it (odd and
#: small: no kernel gets a power of two for free), clamped into the dim's range
OPEN_DIM_DEFAULT = 7


def open_dim_sizes(manifest: dict, given: Optional[dict[str, Any]] = None,
                   dims: Optional[dict[str, int]] = None) -> dict[str, int]:
    """Sizes for the dims a bundle left open (manifest["dims"]): from the shapes of ``given`` arrays, then
    ``dims`` (--dim NAME=N), else OPEN_DIM_DEFAULT within the dim's range."""
    table = manifest.get("dims") or {}
    unknown = sorted(set(dims or {}) - set(table))
    if unknown:
        raise VerifyError(f"--dim names {', '.join(unknown)}, but the bundle's open dims are {sorted(table) or 'none'}")
    sizes = dict(dims or {})
    for inp in manifest["inputs"]:
        arr = (given or {}).get(inp["name"])
        if isinstance(arr, np.ndarray) and inp["shape"] is not None and arr.ndim == len(inp["shape"]):
            for d, n in zip(inp["shape"], arr.shape):
                if isinstance(d, str) and d in table:
                    sizes.setdefault(d, int(n))
    for name, rng in table.items():
        hi = rng.get("max")
        sizes.setdefault(name, max(rng["min"], min(OPEN_DIM_DEFAULT, hi if hi is not None else OPEN_DIM_DEFAULT)))
    return sizes


def random_inputs(manifest: dict, seed: int = 0, sizes: Optional[dict[str, int]] = None) -> dict[str, np.ndarray]:
    """Random feeds for every input; ``sizes`` gives the dims left open (open_dim_sizes)."""
    rng = np.random.default_rng(seed)
    sizes = sizes if sizes is not None else open_dim_sizes(manifest)
    feeds = {}
    for inp in manifest["inputs"]:
        dtype = inp["dtype"]
        shape = None if inp["shape"] is None else [sizes.get(d, d) if isinstance(d, str) else d for d in inp["shape"]]
        if shape is not None and not all(isinstance(d, int) for d in shape):
            raise VerifyError(f"input '{inp['name']}' has dims known only at run time ({inp['shape']}); "
                              "pass --input NAME=file.npy")
        if dtype in _RANDOM_DTYPES:
            feeds[inp["name"]] = rng.standard_normal(shape).astype(_RANDOM_DTYPES[dtype])
        elif dtype == "bool":
            feeds[inp["name"]] = rng.integers(0, 2, shape).astype(bool)
        elif dtype.startswith(("int", "uint")):
            feeds[inp["name"]] = rng.integers(0, 10, shape).astype(dtype)
        else:
            raise VerifyError(f"input '{inp['name']}': cannot make random data of dtype {dtype}; pass --input NAME=file.npy")
    return feeds


#: ``--reference-optimization``: onnxruntime's graph optimization level for the reference session. "all" is how
#: users run it; "basic" keeps the graph's own arithmetic where onnxruntime's extended fusions approximate it
#: (QDQ models: QLinearSoftmax, requantizing QLinearAdd deviate from the Q/DQ graph by up to 0.25 on a ViT)
REFERENCE_LEVELS = ("all", "extended", "basic", "disabled")


def run_onnxruntime(model: Path, feeds: dict[str, np.ndarray], level: str = "all") -> dict[str, np.ndarray]:
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise WebDNNError("verify needs onnxruntime as the reference: pip install onnxruntime") from exc
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    if level not in REFERENCE_LEVELS:
        raise VerifyError(f"reference optimization level must be one of {', '.join(REFERENCE_LEVELS)}, not {level!r}")
    G = ort.GraphOptimizationLevel
    opts.graph_optimization_level = {"all": G.ORT_ENABLE_ALL, "extended": G.ORT_ENABLE_EXTENDED,
                                     "basic": G.ORT_ENABLE_BASIC, "disabled": G.ORT_DISABLE_ALL}[level]
    try:
        sess = ort.InferenceSession(str(model), opts, providers=["CPUExecutionProvider"])
        names = [o.name for o in sess.get_outputs()]
        return dict(zip(names, sess.run(names, feeds)))
    except Exception as exc:  # onnxruntime's own errors (a model it cannot load or run): the reference is missing
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise VerifyError(f"{model}: onnxruntime (the reference) failed on this model: {first[:500]}") from None


def reference_spread(model: Path, feeds: dict[str, np.ndarray]) -> dict[str, float]:
    """Per float output, the mean |onnxruntime at "all" − onnxruntime at "basic"|: how far onnxruntime's own
    optimized session strays from the graph's arithmetic on these inputs.

    A model that re-quantizes activations at every layer can be chaotic: a value one float rounding from a
    rounding boundary lands one quantization step off, and the step grows layer by layer. On such a model
    no float implementation that sums in another order (onnxruntime's fused kernels included) matches the
    reference closely; the quantized suite variants are held to a mean error within this spread
    (docs/model-suite.md).
    """
    ref_all, ref_basic = run_onnxruntime(model, feeds, "all"), run_onnxruntime(model, feeds, "basic")
    return {name: float(np.mean(np.abs(a.astype(np.float64) - ref_basic[name].astype(np.float64))))
            for name, a in ref_all.items() if isinstance(a, np.ndarray) and a.dtype.kind == "f" and a.size}


def compare(name: str, ours: np.ndarray, ref: np.ndarray, rtol: float, atol: float) -> OutputReport:
    if ours.shape != ref.shape:
        raise VerifyError(f"output '{name}': shape {list(ours.shape)} differs from onnxruntime's {list(ref.shape)}")
    if ref.dtype.kind in "OUSb" or ref.dtype.kind in "iu":
        equal = bool(np.array_equal(ours, ref))
        return OutputReport(name, ref.shape, 0.0 if equal else float("inf"), 0.0 if equal else float("inf"), 0.0, equal)
    a, b = ours.astype(np.float64), ref.astype(np.float64)
    diff = np.abs(a - b)
    diff = np.where(np.isnan(a) & np.isnan(b), 0.0, diff)
    max_abs = float(np.nanmax(diff)) if diff.size else 0.0
    if np.isnan(diff).any():
        max_abs = float("inf")
    scale = float(np.max(np.abs(b[np.isfinite(b)]))) if np.isfinite(b).any() else 0.0
    rel = diff / np.maximum(np.abs(b), 1e-30)
    max_rel = float(np.max(rel)) if rel.size else 0.0
    mean_abs = float(np.mean(diff)) if diff.size else 0.0
    return OutputReport(name, ref.shape, max_abs, max_rel, scale, max_abs <= atol + rtol * scale,
                        mean_abs if np.isfinite(mean_abs) else float("inf"))


def verify_model(
    model: Path,
    backend: str = "js",
    options: Optional[BuildOptions] = None,
    inputs: Optional[dict[str, np.ndarray]] = None,
    rtol: float = 1e-4,
    atol: float = 1e-5,
    seed: int = 0,
    log: Log = stderr_log,
    threads: Optional[int] = None,
    reference_level: str = "all",
    dims: Optional[dict[str, int]] = None,
) -> list[OutputReport]:
    """Build ``model`` for ``backend``, run it in Node on ``inputs`` (random where not given; ``dims``: sizes of
    the dims left open at build time) and compare every output with onnxruntime's."""
    options = options or BuildOptions()
    options.backends = [backend]
    with tempfile.TemporaryDirectory(prefix="webdnn-verify-") as tmp:
        result = compile_model(model, Path(tmp) / "bundle", options, log)
        feeds = random_inputs(result.manifest, seed, open_dim_sizes(result.manifest, inputs, dims))
        feeds.update(inputs or {})
        with NodeWorker() as worker:
            loaded = worker.load(result.out_dir, [backend], threads)
            if loaded["backend"] != backend:
                raise VerifyError(f"bundle loaded on '{loaded['backend']}' instead of '{backend}': {loaded['fallbackLog']}")
            dtypes = {i["name"]: i["dtype"] for i in result.manifest["inputs"]}
            outputs, ms = worker.run(loaded["handle"], feeds, dtypes)
        used = loaded.get("threads") if loaded.get("threadInfo") else None  # only backends that use threads
        log(f"ran on {backend}{f' with {used} thread(s)' if used else ''} in {ms:.1f} ms")
    reference = run_onnxruntime(model, feeds, reference_level)
    reports = []
    for name, ours in outputs:
        if name not in reference:
            raise VerifyError(f"output '{name}' is not an output of the onnxruntime session")
        reports.append(compare(name, ours, reference[name], rtol, atol))
    return reports


# --------------------------------------------------------------------------------------------
# --per-node: every intermediate value, compared node by node
# --------------------------------------------------------------------------------------------

#: at most this many divergent nodes are kept in a report (the first one is what matters)
PER_NODE_KEEP = 10


@dataclass
class NodeReport:
    """One node of the original model: how its compared outputs fared, and the state of its inputs.

    ``inputs`` maps each input name to ``"ok"``, ``"diverged"``, ``"not compared"`` (an intermediate
    value ours does not produce, e.g. one fused away) or ``"given"`` (a graph input or initializer).
    """
    index: int
    op_type: str
    name: str
    outputs: list[OutputReport]
    not_compared: list[str]
    inputs: dict[str, str]

    @property
    def ok(self) -> bool:
        return all(o.ok for o in self.outputs)

    @property
    def inputs_match(self) -> bool:
        return all(s in ("ok", "given") for s in self.inputs.values())

    def to_json(self) -> dict:
        return {"index": self.index, "op": self.op_type, "name": self.name, "ok": self.ok,
                "inputsMatch": self.inputs_match, "inputs": self.inputs, "notCompared": self.not_compared,
                "outputs": [_report_json(o) for o in self.outputs]}


@dataclass
class PerNodeReport:
    """The result of :func:`verify_per_node` / :func:`compare_per_node`."""
    #: the model's own outputs (also compared as node outputs)
    outputs: list[OutputReport]
    #: node outputs compared; not compared because ours did not produce them (fused away by our passes);
    #: not exposed (their type is unknown to shape inference, or the reference lacks them)
    compared: list[str]
    not_compared: list[str]
    unexposed: list[str]
    nodes_checked: int
    #: the first ``PER_NODE_KEEP`` divergent nodes, in topological order; ``divergent_count`` counts all
    divergent: list[NodeReport]
    divergent_count: int

    @property
    def ok(self) -> bool:
        return self.divergent_count == 0 and all(o.ok for o in self.outputs)

    @property
    def culprit(self) -> Optional[NodeReport]:
        return self.divergent[0] if self.divergent else None

    def to_json(self) -> dict:
        return {"ok": self.ok, "outputs": [_report_json(o) for o in self.outputs],
                "nodesChecked": self.nodes_checked, "comparedCount": len(self.compared),
                "notComparedCount": len(self.not_compared), "compared": self.compared,
                "notCompared": self.not_compared, "notExposedCount": len(self.unexposed),
                "notExposed": self.unexposed, "divergentCount": self.divergent_count,
                "culprit": self.culprit.to_json() if self.culprit else None,
                "divergent": [n.to_json() for n in self.divergent]}


def _report_json(r: OutputReport) -> dict:
    # inf (an integer mismatch, NaN where the reference has none) is not JSON: write null
    finite = lambda x: x if np.isfinite(x) else None  # noqa: E731
    return {"name": r.name, "shape": list(r.shape), "max_abs": finite(r.max_abs), "max_rel": finite(r.max_rel),
            "scale": finite(r.scale), "ok": r.ok}


def _topological(nodes: list) -> list[tuple[int, Any]]:
    """(original index, node) in a topological order: the file's order when it is one (ONNX asks for it)."""
    produced_by = {o: i for i, n in enumerate(nodes) for o in n.output if o}
    order: list[tuple[int, Any]] = []
    state = [0] * len(nodes)  # 0 new, 1 on the stack, 2 done
    for start in range(len(nodes)):
        if state[start]:
            continue
        state[start] = 1
        stack = [(start, iter(nodes[start].input))]
        while stack:
            i, it = stack[-1]
            for name in it:
                j = produced_by.get(name)
                if j is not None and state[j] == 0:
                    state[j] = 1
                    stack.append((j, iter(nodes[j].input)))
                    break
            else:
                stack.pop()
                state[i] = 2
                order.append((i, nodes[i]))
    return order


def _is_constant(node: Any) -> bool:
    return node.op_type == "Constant" and node.domain in ("", "ai.onnx")


def augment_model(model: Any, types: Optional[dict[str, tuple[int, Optional[tuple[int, ...]]]]] = None
                  ) -> tuple[Any, list[str]]:
    """A copy of ``model`` whose top-level node outputs (Constant nodes aside) are graph outputs too.

    ``types`` (name -> (ONNX element type, shape or None)) says which to add and how to declare
    them; by default every output whose element type shape inference can tell, without a shape
    (onnxruntime needs no more). Returns the copy and the names added.
    """
    import onnx

    if types is None:
        try:
            inferred = onnx.shape_inference.infer_shapes(model, strict_mode=False)
        except Exception:  # noqa: BLE001 — inference is a help here, not a requirement
            inferred = model
        types = {vi.name: (vi.type.tensor_type.elem_type, None)
                 for vi in [*inferred.graph.value_info, *inferred.graph.output]
                 if vi.type.HasField("tensor_type") and vi.type.tensor_type.elem_type}
    out = onnx.ModelProto()
    out.CopyFrom(model)
    existing = {o.name for o in out.graph.output} | {i.name for i in out.graph.input}
    existing |= {t.name for t in out.graph.initializer}
    added = []
    for node in out.graph.node:
        if _is_constant(node):
            continue
        for name in node.output:
            if name and name not in existing and name in types:
                elem, shape = types[name]
                out.graph.output.append(onnx.helper.make_tensor_value_info(name, elem, shape))
                existing.add(name)
                added.append(name)
    return out, added


def materialized_values(bundle: Path) -> set[str]:
    """Names of the non-constant values a bundle's backend plan keeps (``<backend>/*.json``'s ``values``):
    what the bundle computes into memory, as opposed to what its passes and kernel fusion dropped."""
    import json

    names: set[str] = set()
    for plan in bundle.glob("*/*.json"):
        try:
            values = json.loads(plan.read_text()).get("values")
        except (OSError, ValueError, AttributeError):
            continue
        if isinstance(values, list):
            names.update(v["name"] for v in values if isinstance(v, dict) and "name" in v and "const" not in v)
    return names


def compare_per_node(model: "Any", ours: dict[str, np.ndarray], reference: dict[str, np.ndarray],
                     rtol: float = 1e-4, atol: float = 1e-5, keep: int = PER_NODE_KEEP) -> PerNodeReport:
    """Compare ``ours`` with ``reference`` value by value, walking ``model``'s nodes in topological order.

    Only values present in both are compared (ours may have fused some away). A node diverges when
    one of its compared outputs is beyond tolerance (the rule of :func:`compare`); a shape that
    differs counts as a divergence too. The first divergent node whose inputs all match is the culprit.
    """
    graph = model.graph
    given = {i.name for i in graph.input} | {t.name for t in graph.initializer}
    for node in graph.node:
        if _is_constant(node):
            given.update(node.output)
    state: dict[str, str] = {}
    compared, not_compared, unexposed, divergent = [], [], [], []
    divergent_count = checked = 0
    for index, node in _topological(list(graph.node)):
        if _is_constant(node):
            continue
        reports, missing = [], []
        for name in node.output:
            if not name:
                continue
            if name not in reference:
                unexposed.append(name)
                state[name] = "not compared"
                continue
            if not isinstance(ours.get(name), np.ndarray):
                missing.append(name)
                state[name] = "not compared"
                continue
            ref = reference[name]
            if ours[name].shape != ref.shape:
                r = OutputReport(name, tuple(ref.shape), float("inf"), float("inf"), 0.0, False)
            else:
                r = compare(name, ours[name], ref, rtol, atol)
            reports.append(r)
            state[name] = "ok" if r.ok else "diverged"
        compared += [r.name for r in reports]
        not_compared += missing
        if not reports:
            continue
        checked += 1
        inputs = {n: ("given" if n in given else state.get(n, "not compared")) for n in node.input if n}
        nr = NodeReport(index, node.op_type, node.name, reports, missing, inputs)
        if not nr.ok:
            divergent_count += 1
            if len(divergent) < keep:
                divergent.append(nr)
    final = []
    for o in graph.output:
        if o.name in ours and o.name in reference and isinstance(ours[o.name], np.ndarray):
            final.append(compare(o.name, ours[o.name], reference[o.name], rtol, atol)
                         if ours[o.name].shape == reference[o.name].shape else
                         OutputReport(o.name, tuple(reference[o.name].shape), float("inf"), float("inf"), 0.0, False))
    return PerNodeReport(final, compared, not_compared, unexposed, checked, divergent, divergent_count)


def verify_per_node(
    model: Path,
    backend: str = "js",
    options: Optional[BuildOptions] = None,
    inputs: Optional[dict[str, np.ndarray]] = None,
    rtol: float = 1e-4,
    atol: float = 1e-5,
    seed: int = 0,
    log: Log = stderr_log,
    threads: Optional[int] = None,
    expose: str = "kept",
    reference_level: str = "all",
) -> PerNodeReport:
    """Like :func:`verify_model`, but comparing intermediate values too, made graph outputs on both sides.

    onnxruntime runs a copy of the model with every typed intermediate as an output. Ours runs a
    copy with, for ``expose="kept"``, the intermediates that the plain bundle keeps in memory (its
    plan's values: what passes and kernel fusion did not remove), so that the bundle computes as
    the plain one does (exposing a value that a fusion consumes stops that fusion, and a bug inside
    it would vanish); ``expose="all"`` exposes every intermediate (finer, but fusions are then off).
    The outputs are declared with the shapes onnxruntime returned (our importer's checker wants a
    shape on every graph output, which shape inference often cannot give past a dynamic Reshape).
    Only the top-level graph is examined, not subgraphs. ``reference_level`` is onnxruntime's graph
    optimization level, as for :func:`verify_model` (with every value an output, "all" still changes
    kernels: its NCHWc layout turns a BatchNormalization after a pool into a 1x1 conv).
    """
    import onnx

    if expose not in ("kept", "all"):
        raise VerifyError(f"expose must be 'kept' or 'all', not {expose!r}")
    options = options or BuildOptions()
    options.backends = [backend]
    original = onnx.load(str(model))
    big = sum(len(t.raw_data) for t in original.graph.initializer) > (1 << 30)

    def save(proto: Any, path: Path) -> None:
        onnx.save(proto, str(path), save_as_external_data=big, location=f"{path.stem}.data" if big else None)

    with tempfile.TemporaryDirectory(prefix="webdnn-verify-") as tmp:
        plain = compile_model(model, Path(tmp) / "plain", options, lambda m: None)
        feeds = random_inputs(plain.manifest, seed)
        feeds.update(inputs or {})
        kept = materialized_values(plain.out_dir) if expose == "kept" else None
        shutil.rmtree(plain.out_dir, ignore_errors=True)

        ref_model, added = augment_model(original)
        ref_path = Path(tmp) / "reference.onnx"
        save(ref_model, ref_path)
        del ref_model
        reference = run_onnxruntime(ref_path, feeds, reference_level)
        ref_path.unlink()
        # our copy: the chosen outputs, declared with the shapes onnxruntime produced
        wanted = set(added) if kept is None else set(added) & kept
        types = {n: (onnx.helper.np_dtype_to_tensor_dtype(a.dtype), a.shape) for n, a in reference.items()
                 if n in wanted and isinstance(a, np.ndarray) and a.dtype.kind in "fiub"}
        ours_model, exposed = augment_model(original, types)
        log(f"per-node: onnxruntime returned {len(added)} intermediate value(s); {len(exposed)} exposed in ours "
            f"({'kept by the plain build' if kept is not None else 'all'})")
        ours_path = Path(tmp) / "per-node.onnx"
        save(ours_model, ours_path)
        del ours_model
        result = compile_model(ours_path, Path(tmp) / "bundle", options, log)
        with NodeWorker() as worker:
            loaded = worker.load(result.out_dir, [backend], threads)
            if loaded["backend"] != backend:
                raise VerifyError(f"bundle loaded on '{loaded['backend']}' instead of '{backend}': {loaded['fallbackLog']}")
            dtypes = {i["name"]: i["dtype"] for i in result.manifest["inputs"]}
            outputs, ms = worker.run(loaded["handle"], feeds, dtypes)
        log(f"ran on {backend} in {ms:.1f} ms")
        ours = dict(outputs)
        del outputs
    return compare_per_node(original, ours, reference, rtol, atol)
