"""Helpers shared by backend code generators (wasm, webgpu, ...): graph rewrites every native
backend wants, convolution/pooling geometry and broadcasting strides.

Backends work on a private copy of the graph (``copy_graph``): the IR handed to
``Backend.generate`` is shared by every backend of a build and must not change.
"""

from __future__ import annotations

import copy
from typing import Any, Callable, Optional, Sequence

from .errors import ConfigError, ShapeError
from .ir import Graph, Node, Shape, Value, dtype_name
from .opdecl import ACTIVATION_ATTRS

#: the attributes of the fused-activation contract (docs/passes.md), declared in webdnn_build.opdecl
FUSED_ACTIVATION_ATTRS = ACTIVATION_ATTRS


def json_shape(shape: Shape) -> Optional[list[Optional[int]]]:
    """A shape as the bundle stores it: known dims as ints, symbolic/unknown dims as null."""
    return None if shape is None else [d if isinstance(d, int) else None for d in shape]


def value_entry(v: Value) -> dict[str, Any]:
    """The name/dtype/shape part of a value-table entry (js program, wasm and webgpu plans)."""
    return {"name": v.name, "dtype": v.dtype, "shape": json_shape(v.shape)}


def const_descriptor(v: Value, weights: dict[str, dict[str, Any]], packer: Any) -> dict[str, Any]:
    """The weight descriptor of a constant: the build's shared one, or a new one for constants a
    backend added itself (e.g. precomputed BatchNorm scales)."""
    return weights.get(v.name) or packer.describe(v.const, v.dtype or dtype_name(v.const.dtype))


_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def parse_bool(value: str, where: str) -> bool:
    """true/false/1/0/yes/no/on/off (any case); anything else is a ConfigError naming ``where``."""
    word = str(value).strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise ConfigError(f"{where}: expected true/false (or 1/0, yes/no, on/off), not {value!r}")


def option_flag(options: dict[str, str], key: str, default: bool) -> bool:
    """A boolean backend option (``--backend-option NAME.KEY=true|false|1|0|yes|no|on|off``)."""
    value = options.get(key)
    if value is None:
        return default
    return parse_bool(value, f"backend option {key}")


def copy_graph(graph: Graph) -> Graph:
    """A copy whose node list and nodes can be rewritten without touching the original."""
    g = copy.copy(graph)
    g.nodes = [Node(n.op_type, list(n.inputs), list(n.outputs), dict(n.attrs), n.domain, n.name) for n in graph.nodes]
    g.values = dict(graph.values)
    g.inputs, g.outputs = list(graph.inputs), list(graph.outputs)
    return g


def fuse_residual(g: Graph, can_run: Callable[[Node, Graph], bool]) -> int:
    """Conv (no activation) → Add(conv, other), other of the same shape ⇒ Conv(x, w, b, other).

    The residual becomes the Conv's 4th input, added before the Add's fused activation (which
    the merged Conv takes over). ``can_run(conv, g)`` says whether the backend runs that Conv
    natively (a js fallback kernel knows no residual input). Returns the number of fusions.
    """
    producers, consumers = g.producers(), g.consumers()
    fused = 0
    for add in list(g.nodes):
        if add.op_type != "Add" or add.domain or len(add.inputs) != 2:
            continue
        for i in (0, 1):
            conv = producers.get(add.inputs[i])
            other = add.inputs[1 - i]
            if conv is None or conv.op_type != "Conv" or conv.domain or "fused_activation" in conv.attrs:
                continue
            if len(conv.inputs) > 3 or not can_run(conv, g):
                continue
            y = conv.outputs[0]
            if len(consumers.get(y, [])) != 1 or y in g.outputs or other == y:
                continue
            vy, vo, va = g.values[y], g.values[other], g.values[add.outputs[0]]
            if not (vy.is_static and vo.is_static and va.is_static
                    and tuple(vy.shape) == tuple(vo.shape) == tuple(va.shape)):
                continue
            if vy.dtype != "float32" or vo.dtype != "float32":
                continue
            # the merged Conv runs where the Add was: every input is available there
            inputs = list(conv.inputs) + [""] * (3 - len(conv.inputs))
            merged = Node("Conv", inputs + [other], [add.outputs[0]], dict(conv.attrs), "", conv.name)
            merged.attrs.update({k: add.attrs[k] for k in FUSED_ACTIVATION_ATTRS if k in add.attrs})
            g.nodes[g.nodes.index(add)] = merged
            g.nodes.remove(conv)
            fused += 1
            producers, consumers = g.producers(), g.consumers()
            break
    g.prune_values()
    return fused


def resolve_pads(node: Node, in_hw: Sequence[int], out_hw: Sequence[int], k: Sequence[int], s: Sequence[int],
                 d: Sequence[int], spatial: int) -> tuple[int, int, int, int]:
    """(top, left, bottom, right) padding of a Conv/pool from ``pads`` or ``auto_pad``, 1-D or 2-D."""
    auto = node.attrs["auto_pad"]
    if isinstance(auto, bytes):
        auto = auto.decode()
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        begins, ends = [], []
        for i in range(2):
            total = max((out_hw[i] - 1) * s[i] + (k[i] - 1) * d[i] + 1 - in_hw[i], 0)
            small, big = total // 2, total - total // 2
            begins.append(small if auto == "SAME_UPPER" else big)
            ends.append(big if auto == "SAME_UPPER" else small)
        return begins[0], begins[1], ends[0], ends[1]
    if auto == "VALID":
        return 0, 0, 0, 0
    pads = list(node.attrs.get("pads", [0] * (2 * spatial)))
    if spatial == 1:
        return 0, pads[0], 0, pads[1]
    return pads[0], pads[1], pads[2], pads[3]


def spatial_params(node: Node, x_shape: Sequence[int], kernel: Sequence[int], y_shape: Sequence[int]):
    """Geometry of a 1-D or 2-D Conv/pool, 1-D lifted to 2-D with a height of 1.

    ``kernel``: the window, (kh, kw) or (kw,) (the trailing dims of a weight shape work too).
    Returns ``h, w, oh, ow, (kh, kw), (sh, sw), (dh, dw), (top, left, bottom, right)``.
    """
    spatial = len(x_shape) - 2
    if spatial == 1:
        h, w, oh, ow = 1, x_shape[2], 1, y_shape[2]
        k = (1, kernel[-1])
        s = (1, node.attrs.get("strides", [1])[0])
        d = (1, node.attrs.get("dilations", [1])[0])
    else:
        h, w, oh, ow = x_shape[2], x_shape[3], y_shape[2], y_shape[3]
        k = (kernel[-2], kernel[-1])
        s = tuple(node.attrs.get("strides", [1, 1]))
        d = tuple(node.attrs.get("dilations", [1, 1]))
    pads = resolve_pads(node, (h, w), (oh, ow), k, s, d, spatial)
    return h, w, oh, ow, k, s, d, pads


def broadcast_strides(in_shape: Sequence[int], out_shape: Sequence[int]) -> list[int]:
    """Element strides of ``in_shape`` aligned to ``out_shape`` (0 on broadcast axes).

    A shape that does not broadcast to ``out_shape`` (a model whose declared shapes contradict its
    ops) is a :class:`ShapeError`: native kernels would address memory outside the tensor.
    """
    rank = len(out_shape)
    if len(in_shape) > rank or any(d != 1 and d != out_shape[rank - len(in_shape) + i] for i, d in enumerate(in_shape)):
        raise ShapeError(f"shape {list(in_shape)} does not broadcast to {list(out_shape)}")
    strides = [0] * rank
    acc = 1
    for i in range(len(in_shape) - 1, -1, -1):
        o = rank - len(in_shape) + i
        strides[o] = 0 if in_shape[i] == 1 else acc
        acc *= in_shape[i]
    return strides


def collapse_axes(shape: Sequence[int], strides: list[list[int]],
                  keep_one: bool = False) -> tuple[list[int], list[list[int]]]:
    """Merge adjacent axes that are contiguous in every operand and drop size-1 axes.

    ``strides``: one list per operand, aligned to ``shape``. Returns the new shape and strides;
    with ``keep_one`` an all-ones shape gives one axis of size 1 instead of none."""
    dims = [(d, [s[i] for s in strides]) for i, d in enumerate(shape) if d != 1]
    out: list[tuple[int, list[int]]] = []
    for d, ss in dims:
        if out:
            pd, ps = out[-1]
            if all(p == s * d for p, s in zip(ps, ss)):
                out[-1] = (pd * d, ss)
                continue
        out.append((d, ss))
    if not out and keep_one:
        out = [(1, [1] * len(strides))]
    return [d for d, _ in out], [[ss[k] for _, ss in out] for k in range(len(strides))]


#: the internal op fuse_attention writes (never in a bundle's js steps: a backend fuses only what it runs)
FUSED_ATTENTION = ("webdnn", "FusedAttention")


def _single_reader(g: Graph, consumers: dict[str, list[Node]], name: str, reader: Node) -> bool:
    readers = consumers.get(name, [])
    return name not in g.outputs and len(readers) == 1 and readers[0] is reader


def const_scalar(g: Graph, name: str) -> Optional[float]:
    """The value of a one-element constant (not a graph input, which callers may override), else None."""
    v = g.values.get(name) if name else None
    if v is None or v.const is None or v.const.size != 1 or name in g.inputs:
        return None
    return float(v.const.reshape(()))


def _static4(g: Graph, name: str) -> Optional[tuple[int, ...]]:
    v = g.values.get(name)
    if v is None or v.dtype != "float32" or not v.is_static or len(v.shape) != 4:  # type: ignore[arg-type]
        return None
    return tuple(v.shape)  # type: ignore[arg-type]


def fuse_attention(g: Graph, can_run: Callable[[Node, Graph], bool]) -> int:
    """softmax(Q·Kᵀ [·scale] [+ bias]) [NaN → 0] · V over 4-D heads ⇒ one ``webdnn.FusedAttention`` node.

    Matched per Softmax (last axis, float32): its input is ``MatMul(Q, Kt)`` (``Kt`` [B, H, D, L], as every
    exporter leaves it), optionally scaled by a constant (``Mul``/``Div``) and plus a bias that broadcasts to
    the scores; its output feeds ``MatMul(·, V)``, directly or through the ``Where(IsNaN(p), 0, p)`` guard that
    torch's scaled_dot_product_attention exports. Every intermediate must have that one reader. The fused
    node reads ``(Q, Kt, V, bias or "")`` with attributes ``scale`` and ``nan_to_zero``, and writes the
    second MatMul's output. ``can_run(node, g)`` says whether the backend runs it natively. Returns the count.
    """
    producers, consumers = g.producers(), g.consumers()
    fused = 0
    for softmax in [n for n in g.nodes if n.op_type == "Softmax" and not n.domain]:
        scores_shape = _static4(g, softmax.inputs[0]) if softmax.inputs else None
        if scores_shape is None or int(softmax.attrs["axis"]) not in (-1, 3) or "fused_activation" in softmax.attrs:
            continue
        dead: list[Node] = [softmax]
        x, scale, bias = softmax.inputs[0], 1.0, ""
        node = producers.get(x)
        if node is not None and node.op_type == "Add" and not node.domain and _single_reader(g, consumers, x, softmax) \
                and "fused_activation" not in node.attrs:
            for i in (0, 1):
                mm = producers.get(node.inputs[i])
                if mm is not None and (mm.op_type == "MatMul" or (mm.op_type in ("Mul", "Div") and producers.get(mm.inputs[0]) is not None
                                                                  and producers[mm.inputs[0]].op_type == "MatMul")):
                    bias, x = node.inputs[1 - i], node.inputs[i]
                    dead.append(node)
                    break
            else:
                continue
            bv = g.values.get(bias)
            if bv is None or bv.dtype != "float32" or not bv.is_static or len(bv.shape) > 4 or bias == x:  # type: ignore[arg-type]
                continue
            padded = (1,) * (4 - len(bv.shape)) + tuple(bv.shape)  # type: ignore[arg-type]
            if any(d not in (1, s) for d, s in zip(padded, scores_shape)):
                continue
            if not _single_reader(g, consumers, x, node):
                continue
        node = producers.get(x)
        if node is not None and node.op_type in ("Mul", "Div") and not node.domain and len(node.inputs) == 2 \
                and "fused_activation" not in node.attrs:
            c = const_scalar(g, node.inputs[1])
            if c is None or c == 0 or not _single_reader(g, consumers, x, dead[-1]):
                continue
            scale = c if node.op_type == "Mul" else 1.0 / c
            dead.append(node)
            x = node.inputs[0]
        mm1 = producers.get(x)
        if mm1 is None or mm1.op_type != "MatMul" or mm1.domain or "fused_activation" in mm1.attrs \
                or not _single_reader(g, consumers, x, dead[-1]):
            continue
        dead.append(mm1)
        q, kt = mm1.inputs
        qs, ks = _static4(g, q), _static4(g, kt)
        if qs is None or ks is None or qs[:2] != scores_shape[:2] or ks[:2] != scores_shape[:2]:
            continue
        # the probabilities' reader: MatMul(p, V), or the NaN guard Where(IsNaN(p), 0, p) first
        p = softmax.outputs[0]
        readers = consumers.get(p, [])
        nan_to_zero = 0
        if p in g.outputs:
            continue
        if len(readers) == 2 and {r.op_type for r in readers} == {"IsNaN", "Where"}:
            isnan = next(r for r in readers if r.op_type == "IsNaN")
            where = next(r for r in readers if r.op_type == "Where")
            zero = const_scalar(g, where.inputs[1]) if len(where.inputs) == 3 else None
            if not (where.inputs[0] == isnan.outputs[0] and where.inputs[2] == p and zero == 0.0
                    and _single_reader(g, consumers, isnan.outputs[0], where)):
                continue
            if tuple(g.values[where.outputs[0]].shape or ()) != scores_shape:
                continue
            dead += [isnan, where]
            p, nan_to_zero = where.outputs[0], 1
            readers = consumers.get(p, [])
        if len(readers) != 1 or p in g.outputs or readers[0].op_type != "MatMul" or readers[0].inputs[0] != p \
                or "fused_activation" in readers[0].attrs:
            continue
        mm2 = readers[0]
        v = mm2.inputs[1]
        vs, ys = _static4(g, v), _static4(g, mm2.outputs[0])
        if vs is None or ys is None or vs[:2] != scores_shape[:2] or vs[2] != scores_shape[3]:
            continue
        if qs[3] != ks[2] or ks[3] != scores_shape[3] or qs[2] != scores_shape[2]:
            continue
        fused_node = Node(FUSED_ATTENTION[1], [q, kt, v, bias], [mm2.outputs[0]],
                          {"scale": float(scale), "nan_to_zero": nan_to_zero}, FUSED_ATTENTION[0], softmax.name)
        if not can_run(fused_node, g):
            continue
        # the fused node runs where the second MatMul was: Q, Kt, V and the bias are all computed by then
        g.nodes[g.nodes.index(mm2)] = fused_node
        drop = {id(n) for n in dead}
        g.nodes = [n for n in g.nodes if id(n) not in drop]
        fused += 1
        producers, consumers = g.producers(), g.consumers()
    if fused:
        g.prune_values()
    return fused
