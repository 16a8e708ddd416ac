"""fold_shape_ops: turn shape computations the IR's static shapes already answer into constants.

Ordering: runs before ``fold_constants`` (and with it to a fixed point, see
``fold_shapes_and_constants``): once ``Shape`` is a constant, the
Shape → Gather → Concat → Reshape chains that exporters emit fold away.
"""

from __future__ import annotations

from typing import Callable, Optional

import numpy as np

from webdnn_build.ir import Dim, Graph, Node
from webdnn_build.registry import PassContext

from ..graph_utils import const_of, optional_input, remove_nodes


def _shape_dims(graph: Graph, node: Node) -> Optional[list[Dim]]:
    """The (possibly partly symbolic) dims a ``Shape`` node returns, honouring start/end; None if rank unknown."""
    shape = graph.value(node.inputs[0]).shape
    if shape is None:
        return None
    rank = len(shape)
    start = int(node.attrs.get("start", 0))  # opset 15+
    end = node.attrs.get("end")
    end = rank if end is None else int(end)
    start = min(max(start + rank if start < 0 else start, 0), rank)
    end = min(max(end + rank if end < 0 else end, 0), rank)
    return list(shape[start:end])


def _static(dims: list[Dim]) -> bool:
    return all(isinstance(d, int) for d in dims)


def _set_const(graph: Graph, name: str, array: np.ndarray) -> None:
    v = graph.value(name)
    v.const = array
    v.dtype = "int64"
    v.shape = tuple(int(d) for d in array.shape)


def _fold_shape(graph: Graph, node: Node) -> bool:
    dims = _shape_dims(graph, node)
    if dims is None or not _static(dims):
        return False
    _set_const(graph, node.outputs[0], np.array(dims, dtype=np.int64))
    return True


def _fold_size(graph: Graph, node: Node) -> bool:
    v = graph.value(node.inputs[0])
    if not v.is_static:
        return False
    _set_const(graph, node.outputs[0], np.array(v.numel(), dtype=np.int64))
    return True


def _partial_shape_input(graph: Graph, name: str, producers: dict[str, Node]) -> Optional[list[Dim]]:
    producer = producers.get(name)
    if producer is None or producer.op_type != "Shape" or producer.domain not in ("", "ai.onnx"):
        return None
    return _shape_dims(graph, producer)


def _fold_gather_of_shape(graph: Graph, node: Node, producers: dict[str, Node]) -> bool:
    """Gather(Shape(x), const indices) where the gathered dims are static, though others are not."""
    dims = _partial_shape_input(graph, node.inputs[0], producers)
    indices = const_of(graph, optional_input(node, 1))
    if dims is None or indices is None or int(node.attrs["axis"]) != 0:
        return False
    idx = np.asarray(indices).astype(np.int64)
    if np.any(idx < -len(dims)) or np.any(idx >= len(dims)):
        return False
    picked = [dims[int(i)] for i in idx.reshape(-1)]
    if not _static(picked):
        return False
    _set_const(graph, node.outputs[0], np.array(picked, dtype=np.int64).reshape(idx.shape))
    return True


def _fold_slice_of_shape(graph: Graph, node: Node, producers: dict[str, Node]) -> bool:
    """Slice(Shape(x), const starts/ends/axes/steps) where the sliced dims are static, though others are not."""
    dims = _partial_shape_input(graph, node.inputs[0], producers)
    if dims is None:
        return False
    if "starts" in node.attrs:  # opset < 10
        starts, ends = node.attrs["starts"], node.attrs["ends"]
        axes, steps = node.attrs.get("axes", [0]), [1]
    else:
        arrays = [const_of(graph, optional_input(node, k)) for k in range(1, 5)]
        if arrays[0] is None or arrays[1] is None or any(
                optional_input(node, k + 1) and arrays[k] is None for k in (2, 3)):
            return False
        starts, ends = arrays[0].tolist(), arrays[1].tolist()
        axes = arrays[2].tolist() if arrays[2] is not None else [0]
        steps = arrays[3].tolist() if arrays[3] is not None else [1]
    if list(axes) not in ([0], [-1]) or len(starts) != 1 or len(ends) != 1:
        return False
    # python slicing clamps starts/ends exactly like ONNX Slice does
    picked = dims[slice(int(starts[0]), int(ends[0]), int(steps[0]))]
    if not _static(picked):
        return False
    _set_const(graph, node.outputs[0], np.array(picked, dtype=np.int64))
    return True


def _const_shape_input(graph: Graph, node: Node, index: int, allow_infer: bool) -> bool:
    """Replace a computed shape input by the node's static (or all-but-one static) output shape."""
    name = optional_input(node, index)
    if not name or const_of(graph, name) is not None:
        return False
    out = graph.value(node.outputs[0]).shape
    if out is None:
        return False
    unknown = [i for i, d in enumerate(out) if not isinstance(d, int)]
    if unknown and not (allow_infer and len(unknown) == 1):
        return False
    if node.op_type == "Reshape" and not node.attrs.get("allowzero") and 0 in out:  # allowzero: opset 14+
        return False  # 0 would mean "copy the input's dim"
    shape = np.array([d if isinstance(d, int) else -1 for d in out], dtype=np.int64)
    node.inputs[index] = graph.add_const(shape, f"{node.outputs[0]}_shape")
    return True


_FOLDERS: dict[str, Callable[[Graph, Node], bool]] = {
    "Shape": _fold_shape,
    "Size": _fold_size,
}


def run(graph: Graph, ctx: PassContext) -> bool:
    """Fold shape queries that static shapes answer.

    - ``Shape`` (with ``start``/``end``) and ``Size`` of a value whose (selected) dims
      are all static become int64 constants;
    - ``Gather``/``Slice`` picking only static dims out of ``Shape`` of a partly
      dynamic value become constants;
    - the shape input of ``Reshape``, ``Expand`` and ``ConstantOfShape``, when computed
      at run time, is replaced by a constant once the node's output shape is static
      (``Reshape`` also with one unknown dim, as ``-1``).

    Nodes writing a graph output are not replaced by constants. The chains left without readers
    are for ``eliminate_dead_code``; the arithmetic on now-constant shapes is
    for ``fold_constants``.
    """
    outputs = set(graph.outputs)
    producers = graph.producers()
    folded: list[Node] = []
    rewired = 0
    for node in graph.nodes:
        if node.domain not in ("", "ai.onnx") or not node.inputs:
            continue
        op = node.op_type
        # a node writing a graph output is not replaced by a constant (its shape input may still be)
        writes_output = any(o in outputs for o in node.outputs)
        if writes_output and op in ("Shape", "Size", "Gather", "Slice"):
            continue
        if op in _FOLDERS and _FOLDERS[op](graph, node):
            folded.append(node)
        elif op == "Gather" and _fold_gather_of_shape(graph, node, producers):
            folded.append(node)
        elif op == "Slice" and _fold_slice_of_shape(graph, node, producers):
            folded.append(node)
        elif op in ("Reshape", "Expand") and _const_shape_input(graph, node, 1, allow_infer=op == "Reshape"):
            rewired += 1
        elif op == "ConstantOfShape" and _const_shape_input(graph, node, 0, allow_infer=False):
            rewired += 1
    if folded:
        remove_nodes(graph, folded)
    if folded or rewired:
        graph.prune_values()
        ctx.log(f"fold_shape_ops: folded {len(folded)} node(s), made {rewired} shape input(s) constant")
    return bool(folded or rewired)
