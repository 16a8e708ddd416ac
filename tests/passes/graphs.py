"""Helpers for pass tests: build IR graphs directly, run them with onnxruntime, compare.

No ONNX importer is involved: graphs are written with :class:`GraphBuilder`,
whose ``build()`` fills in missing dtypes/shapes with ONNX shape inference on the
bridged model (explicitly given shapes, e.g. symbolic ones, are kept).
"""

from __future__ import annotations

from typing import Any, Optional, Sequence, Union

import numpy as np
import onnx
import onnxruntime as ort

from webdnn_build.ir import Graph, Node, Value, dtype_name
from webdnn_build.opdecl import fill_defaults
from webdnn_build.registry import PassContext
from webdnn_build_optimize.onnx_bridge import graph_to_model, ir_dtype

ShapeLike = Optional[Sequence[Union[int, str, None]]]


class GraphBuilder:
    """Writes an IR graph op by op: ``b.op("Relu", [x])`` returns the output name."""

    def __init__(self, opset: int = 17, name: str = "test") -> None:
        self.graph = Graph(name=name, opsets={"": opset})
        self._n = 0

    def _name(self, hint: str) -> str:
        self._n += 1
        return f"{hint}{self._n}"

    def input(self, name: str, shape: ShapeLike, dtype: str = "float32") -> str:
        self.graph.values[name] = Value(name, dtype, tuple(shape) if shape is not None else None)
        self.graph.inputs.append(name)
        return name

    def const(self, array: Any, name: Optional[str] = None) -> str:
        array = np.asarray(array)
        name = name or self._name("c")
        self.graph.values[name] = Value(name, dtype_name(array.dtype), tuple(array.shape), array)
        return name

    def op(self, op_type: str, inputs: Sequence[str], n_out: int = 1, name: Optional[str] = None,
           outputs: Optional[Sequence[str]] = None, domain: str = "", out_shape: ShapeLike = None,
           out_dtype: Optional[str] = None, **attrs: Any) -> Any:
        """Add a node; returns its output name (or the list of names when ``n_out`` > 1).

        ``out_shape``/``out_dtype`` set every output's Value (else ``build()`` infers them);
        other keywords are the node's attributes.
        """
        name = name or self._name(op_type.lower())
        outs = list(outputs) if outputs is not None else [f"{name}_out{k}" if n_out > 1 else name for k in range(n_out)]
        self.graph.nodes.append(Node(op_type, list(inputs), outs, dict(attrs), domain, name))
        for o in outs:
            if o:
                self.graph.values.setdefault(o, Value(o, out_dtype, tuple(out_shape) if out_shape is not None else None))
        return outs if n_out > 1 else outs[0]

    def output(self, *names: str) -> None:
        self.graph.outputs.extend(names)

    def build(self) -> Graph:
        """The graph, with dtypes/shapes the builder was not told filled in by ONNX shape inference and
        the declared attribute defaults filled in (as the compiler does after import: webdnn_build.opdecl)."""
        fill_defaults(self.graph)
        model = onnx.shape_inference.infer_shapes(graph_to_model(self.graph), strict_mode=True)
        g = model.graph
        for info in list(g.value_info) + list(g.output):
            v = self.graph.values.get(info.name)
            if v is None or not info.type.HasField("tensor_type"):
                continue
            tt = info.type.tensor_type
            if v.dtype is None:
                v.dtype = ir_dtype(tt.elem_type)
            if v.shape is None and tt.HasField("shape"):
                v.shape = tuple(d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in tt.shape.dim)
        return self.graph


class LogCollector:
    """A PassContext whose log lines are kept."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.ctx = PassContext(log=self.lines.append)


def ctx() -> PassContext:
    return PassContext()


def op_types(graph: Graph) -> list[str]:
    return [n.op_type for n in graph.nodes]


def random_feeds(graph: Graph, seed: int = 0, dims: Optional[dict[str, int]] = None) -> dict[str, np.ndarray]:
    """Random inputs for the graph's inputs; symbolic dims take their size from ``dims`` (default 2)."""
    rng = np.random.default_rng(seed)
    feeds = {}
    for name in graph.inputs:
        v = graph.values[name]
        assert v.shape is not None, f"input {name} needs a shape"
        shape = tuple(d if isinstance(d, int) else (dims or {}).get(str(d), 2) for d in v.shape)
        if v.dtype and v.dtype.startswith("float"):
            feeds[name] = rng.standard_normal(shape).astype(v.dtype)
        elif v.dtype == "bool":
            feeds[name] = rng.random(shape) > 0.5
        else:
            feeds[name] = rng.integers(-5, 6, shape).astype(v.dtype or "float32")
    return feeds


def run_onnxruntime(model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    onnx.checker.check_model(model)
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL  # compare our rewrites, not ORT's
    sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, sess.run(names, feeds)))


def assert_equivalent(before: onnx.ModelProto, after: Graph, feeds: dict[str, np.ndarray],
                      rtol: float = 1e-5, atol: float = 1e-5) -> None:
    """Same output names and, on ``feeds``, values equal within ``rtol``/``atol`` (max difference reported)."""
    after_model = graph_to_model(after)
    assert [o.name for o in before.graph.output] == [o.name for o in after_model.graph.output]
    expected = run_onnxruntime(before, feeds)
    actual = run_onnxruntime(after_model, feeds)
    for name, want in expected.items():
        got = actual[name]
        assert got.shape == want.shape and got.dtype == want.dtype, f"{name}: {got.shape}/{got.dtype} vs {want.shape}/{want.dtype}"
        diff = float(np.max(np.abs(got.astype(np.float64) - want.astype(np.float64)))) if want.size else 0.0
        np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, err_msg=f"{name}: max abs diff {diff:.3g}")


def check_values(graph: Graph) -> None:
    """Every name a node or the graph uses has a Value, and every Value is used (IR bookkeeping after a pass)."""
    used = set(graph.inputs) | set(graph.outputs)
    for n in graph.nodes:
        used.update(i for i in n.inputs if i)
        used.update(o for o in n.outputs if o)
    missing = used - set(graph.values)
    assert not missing, f"names without a Value: {sorted(missing)}"
    unused = set(graph.values) - used
    assert not unused, f"Values nothing uses: {sorted(unused)}"
    graph.toposort()  # raises on a dangling input
