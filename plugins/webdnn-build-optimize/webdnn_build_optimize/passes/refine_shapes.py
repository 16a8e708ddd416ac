"""refine_shapes: give static shapes to values whose shape import left open but folding made knowable.

onnx's shape inference at import sees the graph before folding: an ``Expand`` whose shape input is
computed by a Shape → Gather → Concat chain gets ``[?, ?, 16, 16]``, and every op after it inherits
the unknown dims. Once folding has made those inputs constant, inferring each such node again, on its
own with its now-known input shapes and small constant inputs, settles the dims, in graph order so that
one refined value refines its readers.

Shapes also flow backwards through ops whose output has their input's shape (unary elementwise ops,
Cast): a declared graph output settles the value that feeds it, e.g. the ReduceSum with run-time axes
before the Sqrt of an expanded ReduceL2, whose kernel can then check the axes against that shape.
"""

from __future__ import annotations

from webdnn_build.ir import Graph
from webdnn_build.registry import PassContext

from .fold_constants import inferred_outputs


def _compatible(old, new: list[int]) -> bool:
    """``new`` only fills in ``old``'s unknown dims (a contradiction is left for the backends to report)."""
    if old is None:
        return True
    return len(old) == len(new) and all(not isinstance(a, int) or a == b for a, b in zip(old, new))


def refine_node(graph: Graph, node) -> int:
    """Fill in the open output dims (and missing dtypes) of one node whose inputs are all static and typed;
    returns how many values changed."""
    outs = [o for o in node.outputs if o]
    if not outs or all(graph.value(o).is_static and graph.value(o).dtype for o in outs) or node.subgraphs():
        return 0
    if not all(graph.value(i).is_static and (graph.value(i).dtype or graph.value(i).is_const)
               for i in node.inputs if i):
        return 0
    inferred = inferred_outputs(graph, node)
    if inferred is None or len(inferred) != len(outs):
        return 0
    changed = 0
    for name, (dtype, dims) in zip(outs, inferred):
        v = graph.value(name)
        if v.dtype is None and dtype is not None:
            v.dtype = dtype
            changed += 1
        if dims is not None and not v.is_static and _compatible(v.shape, dims):
            v.shape = tuple(dims)
            changed += 1
    return changed


#: ops whose (first) input has exactly the shape of their output
SAME_SHAPE = {"Abs", "Acos", "Acosh", "Asin", "Asinh", "Atan", "Atanh", "Cast", "CastLike", "Ceil", "Cos", "Cosh",
              "Elu", "Erf", "Exp", "Floor", "Gelu", "HardSigmoid", "HardSwish", "Identity", "IsInf", "IsNaN",
              "LeakyRelu", "Log", "Mish", "Neg", "Not", "Reciprocal", "Relu", "Round", "Selu", "Sigmoid", "Sign",
              "Sin", "Sinh", "Softplus", "Softsign", "Sqrt", "Tan", "Tanh", "ThresholdedRelu"}


def refine_backwards(graph: Graph, node) -> int:
    """Give the input of a same-shape op the static shape of its output when the input's is open."""
    if node.domain not in ("", "ai.onnx") or node.op_type not in SAME_SHAPE or not node.inputs or not node.outputs:
        return 0
    x, y = graph.value(node.inputs[0]), graph.value(node.outputs[0])
    if not y.is_static or x.is_static or x.is_const or not _compatible(x.shape, list(y.shape)):
        return 0
    x.shape = tuple(y.shape)
    return 1


def run(graph: Graph, ctx: PassContext) -> bool:
    """Re-infer the output shapes (and missing dtypes) of nodes with open outputs whose inputs are all static;
    then pass static output shapes back to the inputs of same-shape ops."""
    refined = sum(refine_node(graph, node) for node in graph.nodes)
    refined += sum(refine_backwards(graph, node) for node in reversed(graph.nodes))
    if refined:
        ctx.log(f"refine_shapes: {refined} value(s) got a static shape or a dtype")
    return bool(refined)
