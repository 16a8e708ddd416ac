"""fold_constants: evaluate nodes whose inputs are all constants and replace them by constants."""

from __future__ import annotations

from typing import Any, Optional

import numpy as np
import onnx
from onnx.reference import ReferenceEvaluator

from webdnn_build.ir import Graph, Node, dtype_name, value_kind
from webdnn_build.limits import MAX_TENSOR_BYTES, element_bytes, numel
from webdnn_build.registry import PassContext

from ..graph_utils import const_of, remove_nodes
from ..onnx_bridge import array_to_tensor, ir_dtype, single_node_model

#: domains whose ops onnx.reference implements
EVALUATOR_DOMAINS = ("", "ai.onnx", "ai.onnx.ml")

#: ops whose result is not a function of their inputs
NONDETERMINISTIC_OPS = frozenset({
    "RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "Bernoulli", "Multinomial",
})

#: ops whose result size depends on input values: never evaluated unless the size is known first
SIZE_FROM_VALUES = frozenset({"ConstantOfShape", "Expand", "Tile", "Range", "Resize", "Upsample", "OneHot",
                              "Pad", "CenterCropPad", "Col2Im"})

#: a node whose result size neither the IR nor onnx's shape inference tells is evaluated only when
#: its inputs are at most this large (shape arithmetic); bigger ones are kept
UNKNOWN_SIZE_MAX_INPUT_BYTES = 64 << 10

#: results larger than this (and larger than the node's inputs together) are not folded, unless every
#: element is equal (the bundle stores those as a `fill` descriptor, for free)
DEFAULT_MAX_BYTES = 16 << 20


def _has_graph_attr(node: Node) -> bool:
    return any(isinstance(v, Graph) or (isinstance(v, (list, tuple)) and any(isinstance(g, Graph) for g in v))
               for v in node.attrs.values())


def _foldable(graph: Graph, node: Node, outputs: set[str]) -> bool:
    if node.domain not in EVALUATOR_DOMAINS or node.op_type in NONDETERMINISTIC_OPS or _has_graph_attr(node):
        return False
    if not any(node.outputs):
        return False
    # sequences and optionals are never constants
    if any(value_kind(graph.value(o).dtype) != "tensor" for o in node.outputs if o):
        return False
    # a graph output is kept as a computed value: backends produce outputs, they do not ship them as weights
    if any(o in outputs for o in node.outputs):
        return False
    return all(const_of(graph, i) is not None for i in node.inputs if i)


def _is_uniform(array: np.ndarray) -> bool:
    if array.size == 0 or all(st == 0 for st in array.strides):
        return True
    flat = array.reshape(-1)
    return bool(np.all(flat == flat[0]))


def stored_bytes(array: np.ndarray) -> int:
    """Bytes ``array`` really occupies: a broadcast view (zero strides) counts its distinct elements only."""
    a = np.asarray(array)
    n = a.itemsize
    for d, st in zip(a.shape, a.strides):
        if st != 0:
            n *= int(d)
    return n if a.size else 0


def _shape_arg(graph: Graph, name: str) -> Optional[list[int]]:
    c = const_of(graph, name)
    if c is None or c.dtype.kind not in "iu" or c.ndim > 1:
        return None
    return [int(v) for v in np.asarray(c).reshape(-1)]


def _static_shape(graph: Graph, name: str) -> Optional[list[int]]:
    c = const_of(graph, name)
    if c is not None:
        return [int(d) for d in np.shape(c)]
    v = graph.value(name)
    return [int(d) for d in v.shape] if v.is_static else None


def _predicted_shapes(graph: Graph, node: Node) -> Optional[list[list[int]]]:
    """The output shapes of ``node`` computed from its constant inputs, for the ops whose result size
    is a function of input *values* (so may be huge from tiny inputs); None when not predictable."""
    op = node.op_type
    ins = node.inputs
    if op == "ConstantOfShape":
        dims = _shape_arg(graph, ins[0]) if ins and ins[0] else None
        return [dims] if dims is not None else None
    if op == "Expand" and len(ins) >= 2:
        x, dims = _static_shape(graph, ins[0]), _shape_arg(graph, ins[1])
        if x is None or dims is None:
            return None
        rank = max(len(x), len(dims))
        x, dims = [1] * (rank - len(x)) + x, [1] * (rank - len(dims)) + dims
        return [[max(a, b) if 1 in (a, b) else a for a, b in zip(x, dims)]]
    if op == "Tile" and len(ins) >= 2:
        x, reps = _static_shape(graph, ins[0]), _shape_arg(graph, ins[1])
        if x is None or reps is None or len(reps) != len(x):
            return None
        return [[a * b for a, b in zip(x, reps)]]
    if op == "Range" and len(ins) >= 3:
        args = [const_of(graph, i) for i in ins[:3]]
        if any(a is None or np.asarray(a).size != 1 for a in args):
            return None
        start, limit, delta = (float(np.asarray(a).reshape(-1)[0]) for a in args)
        if delta == 0 or not all(np.isfinite([start, limit, delta])):
            return None
        return [[max(int(np.ceil((limit - start) / delta)), 0)]]
    if op in ("Resize", "Upsample"):
        x = _static_shape(graph, ins[0]) if ins else None
        if x is None:
            return None
        sizes = _shape_arg(graph, ins[3]) if len(ins) > 3 and ins[3] else None
        if sizes is not None:
            return [sizes] if len(sizes) == len(x) else None
        scale_name = ins[2] if op == "Resize" and len(ins) > 2 else (ins[1] if len(ins) > 1 else "")
        if op == "Resize" and len(ins) == 2:
            scale_name = ins[1]  # opset 10: Resize(X, scales)
        scales = const_of(graph, scale_name) if scale_name else node.attrs.get("scales")
        if scales is None:
            return None
        sc = [float(v) for v in np.asarray(scales, dtype=np.float64).reshape(-1)]
        if len(sc) != len(x) or not all(np.isfinite(sc)) or any(v < 0 for v in sc):
            return None
        return [[int(np.floor(d * f)) for d, f in zip(x, sc)]]
    if op == "OneHot" and len(ins) >= 2:
        idx, depth = _static_shape(graph, ins[0]), const_of(graph, ins[1])
        if idx is None or depth is None or np.asarray(depth).size != 1:
            return None
        return [idx + [max(int(np.asarray(depth).reshape(-1)[0]), 0)]]
    return None


def output_shapes(graph: Graph, node: Node) -> Optional[list[list[int]]]:
    """``node``'s output shapes from its constant inputs, the IR's static shapes or onnx's shape
    inference; None when none of them tells."""
    names = [o for o in node.outputs if o]
    shapes = _predicted_shapes(graph, node)
    if shapes is None:
        values = [graph.value(o) for o in names]
        if all(v.is_static for v in values):
            shapes = [[int(d) for d in v.shape] for v in values]
        else:
            shapes = inferred_shapes(graph, node)
    return shapes


def predicted_bytes(graph: Graph, node: Node, shapes: Optional[list[list[int]]] = None) -> Optional[int]:
    """What ``node``'s results would take (see ``output_shapes``); None when not known."""
    names = [o for o in node.outputs if o]
    shapes = shapes if shapes is not None else output_shapes(graph, node)
    if shapes is None:
        return None
    total = 0
    for name, dims in zip(names, shapes):
        if any(d < 0 for d in dims):
            return None
        total += numel(dims) * element_bytes(graph.value(name).dtype)
    return total


def inferred_outputs(graph: Graph, node: Node) -> Optional[list[tuple[Optional[str], Optional[list[int]]]]]:
    """(dtype, static dims) per non-empty output as onnx's shape inference gives them for the node alone,
    its (small) constant inputs as initializers; either part is None where inference leaves it open.
    None when inference fails."""
    try:
        model = single_node_model(node, graph)
        g = model.graph
        small = [i for i in g.input if const_of(graph, i.name) is not None
                 and stored_bytes(const_of(graph, i.name)) <= 4096]  # type: ignore[arg-type]
        for vi in small:
            c = np.asarray(const_of(graph, vi.name))
            # (not np.ascontiguousarray: it makes a 0-d array 1-d, and inference then sees a rank mismatch)
            g.initializer.append(array_to_tensor(np.array(c, order="C"), vi.name))
        inferred = onnx.shape_inference.infer_shapes(model, strict_mode=False, data_prop=True)
    except Exception:  # inference is best effort here: an unknown size only means "do not evaluate"
        return None
    found = {vi.name: vi for vi in list(inferred.graph.output) + list(inferred.graph.value_info)}
    result: list[tuple[Optional[str], Optional[list[int]]]] = []
    for name in (o for o in node.outputs if o):
        vi = found.get(name)
        if vi is None or not vi.type.HasField("tensor_type"):
            result.append((None, None))
            continue
        tt = vi.type.tensor_type
        dims = tt.shape.dim if tt.HasField("shape") else None
        static = [int(d.dim_value) for d in dims] if dims is not None and all(d.HasField("dim_value") for d in dims) else None
        result.append((ir_dtype(tt.elem_type), static))
    return result


def inferred_shapes(graph: Graph, node: Node) -> Optional[list[list[int]]]:
    """The output shapes onnx's shape inference gives the node alone; None when some output's shape stays unknown."""
    outs = inferred_outputs(graph, node)
    if outs is None or any(dims is None for _, dims in outs):
        return None
    return [dims for _, dims in outs]  # type: ignore[misc]


#: ops whose result, when it exceeds the folding bound, can still be stored for free (uniform, as a
#: `fill`): folded into a zero-stride broadcast view without evaluating (or allocating) anything
#: ops whose result is uniform when their data input is
_UNIFORM_PRESERVING = frozenset({"Expand", "Tile", "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity",
                                 "Transpose"})


def _uniform_view(graph: Graph, node: Node, shapes: Optional[list[list[int]]]) -> Optional[np.ndarray]:
    if shapes is None or len(node.outputs) != 1 or len(shapes) != 1:
        return None
    if node.op_type == "ConstantOfShape":
        value = node.attrs.get("value")
        scalar = np.zeros(1, np.float32) if value is None else np.asarray(value).reshape(-1)
        if scalar.size != 1:
            return None
        return np.broadcast_to(scalar.reshape(()), tuple(shapes[0]))
    if node.op_type in _UNIFORM_PRESERVING:
        x = const_of(graph, node.inputs[0])
        if x is None or x.size == 0 or not _is_uniform(x):
            return None
        return np.broadcast_to(np.asarray(x).reshape(-1)[0], tuple(shapes[0]))
    return None


def _gather_elements(node: Node, data: np.ndarray, indices: np.ndarray) -> list[np.ndarray]:
    axis = int(node.attrs["axis"])
    axis = axis + data.ndim if axis < 0 else axis
    idx = np.asarray(indices).astype(np.int64)
    idx = np.where(idx < 0, idx + data.shape[axis], idx)
    if idx.size and (idx.min() < 0 or idx.max() >= data.shape[axis]):
        raise ValueError(f"an index is out of range for axis {axis} of size {data.shape[axis]}")
    return [np.take_along_axis(np.asarray(data), idx, axis=axis)]


def _dequantize_linear(node: Node, x, scale, zero_point=None) -> list[np.ndarray]:
    """(x - zero_point) * scale, per tensor or per axis (no blocks: block_size > 0 is refused)."""
    if node.attrs.get("block_size"):  # opset 21+
        raise ValueError("blocked DequantizeLinear is not folded")
    x = np.asarray(x)
    if x.dtype.kind not in "iu":
        raise ValueError(f"DequantizeLinear of {x.dtype} is not folded")
    scale = np.asarray(scale, np.float32)
    zp = np.zeros((), np.int64) if zero_point is None else np.asarray(zero_point).astype(np.int64)
    if scale.ndim == 1 and scale.size > 1:  # per axis
        axis = int(node.attrs.get("axis", 1)) % max(x.ndim, 1)  # opset 13+ (before: per tensor only)
        shape = [1] * x.ndim
        shape[axis] = scale.size
        scale, zp = scale.reshape(shape), (zp.reshape(shape) if zp.ndim == 1 else zp)
    return [((x.astype(np.int64) - zp).astype(np.float32) * scale).astype(np.float32)]


#: numpy evaluations of the ops onnx.reference gets wrong or lacks (onnx 1.23: GatherElements along an axis
#: longer than 64 fails in np.choose's fallback, "cannot reshape array of size 1"; DequantizeLinear has
#: implementations for opset 19+ only, its int8/uint8/int32 semantics are those of 13)
NUMPY_EVALUATORS = {
    "GatherElements": _gather_elements,
    "DequantizeLinear": _dequantize_linear,
}

#: a constant DequantizeLinear is folded only when its float32 result is at most this big: parameter
#: vectors (a BatchNorm's scale, a bias, a Pad value) become constants that kernels read directly, while
#: quantized weight tensors stay int8 in the bundle and are dequantized by the backends' kernels
DEQUANTIZE_FOLD_MAX_BYTES = 64 << 10


def evaluate(graph: Graph, node: Node) -> list[np.ndarray]:
    """Run ``node`` on its constant inputs with ``onnx.reference``; one array per output (None for omitted)."""
    feeds: dict[str, Any] = {i: const_of(graph, i) for i in node.inputs if i}
    if node.domain in ("", "ai.onnx") and node.op_type in NUMPY_EVALUATORS:
        return NUMPY_EVALUATORS[node.op_type](node, *(feeds[i] if i else None for i in node.inputs))
    model = single_node_model(node, graph)
    results = ReferenceEvaluator(model).run(None, feeds)
    named = [o for o in node.outputs if o]
    if any(not isinstance(r, (np.ndarray, np.generic)) for r in results):
        # a sequence (list) or an empty optional (None): constants are tensors only
        raise ValueError("the result is not a tensor")
    return [np.asarray(r) for r in results][: len(named)]


def run(graph: Graph, ctx: PassContext) -> bool:
    """Replace every deterministic node whose inputs are all constants by its results, as constants.

    ``Constant`` nodes become constants the same way. Skipped: ops outside the
    domains ``onnx.reference`` implements, random ops, ops with subgraph
    attributes, nodes writing a graph output, and results over
    ``ctx.options["fold_constants.max_bytes"]`` (default 16 MiB) that are
    bigger than the inputs and not uniform. A node the evaluator fails on stays
    (the failure is logged).
    """
    max_bytes = int(ctx.options.get("fold_constants.max_bytes", DEFAULT_MAX_BYTES))
    outputs = set(graph.outputs)
    folded: list[Node] = []
    for node in graph.nodes:
        if not _foldable(graph, node, outputs):
            continue
        names = [o for o in node.outputs if o]
        input_bytes = sum(stored_bytes(const_of(graph, i)) for i in node.inputs if i)  # type: ignore[arg-type]
        bound = max(max_bytes, input_bytes)
        # the size is checked before evaluating: a tiny shape input can ask for terabytes
        shapes = output_shapes(graph, node)
        expected = predicted_bytes(graph, node, shapes)
        if node.op_type == "DequantizeLinear" and (expected is None or expected > DEQUANTIZE_FOLD_MAX_BYTES):
            continue  # a quantized weight: it stays compressed (see DEQUANTIZE_FOLD_MAX_BYTES)
        if expected is None and node.op_type in SIZE_FROM_VALUES:
            ctx.log(f"fold_constants: kept {node.describe()}: its result size is not known before evaluating it")
            continue
        if expected is not None and expected > bound:
            view = _uniform_view(graph, node, shapes) if expected <= MAX_TENSOR_BYTES else None
            if view is None:
                ctx.log(f"fold_constants: kept {node.describe()}: its result would add {expected} bytes")
                continue
            results = [view]
        else:
            if expected is None and input_bytes > UNKNOWN_SIZE_MAX_INPUT_BYTES:
                ctx.log(f"fold_constants: kept {node.describe()}: large inputs and a result size not known "
                        "before evaluating it")
                continue
            try:
                results = evaluate(graph, node)
            except Exception as exc:  # the evaluator's errors are as varied as the ops
                ctx.log(f"fold_constants: could not evaluate {node.describe()}: {type(exc).__name__}: {exc}")
                continue
        if len(results) != len(names):
            ctx.log(f"fold_constants: {node.describe()} returned {len(results)} results for {len(names)} outputs")
            continue
        if any(r.nbytes > bound and not _is_uniform(r) for r in results):
            ctx.log(f"fold_constants: kept {node.describe()}: its result would add {sum(r.nbytes for r in results)} bytes")
            continue
        try:
            typed = [_typed(graph, name, r) for name, r in zip(names, results)]
        except ValueError as exc:
            ctx.log(f"fold_constants: kept {node.describe()}: {exc}")
            continue
        for name, array in zip(names, typed):
            v = graph.value(name)
            v.const = array
            v.dtype = dtype_name(array.dtype)
            v.shape = tuple(int(d) for d in array.shape)
        folded.append(node)
    if folded:
        remove_nodes(graph, folded)
        graph.prune_values()
        ctx.log(f"fold_constants: folded {len(folded)} node(s)")
    return bool(folded)


def _typed(graph: Graph, name: str, array: np.ndarray) -> np.ndarray:
    """``array`` checked against the dtype the IR declared for ``name``."""
    got = dtype_name(array.dtype)  # raises ValueError for dtypes the IR lacks (float8, int4, ...)
    want = graph.value(name).dtype
    if want is not None and want != got:
        raise ValueError(f"the evaluator returned {got} for '{name}', declared {want}")
    return array
