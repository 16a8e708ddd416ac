"""lower_contrib_ops: rewrite onnxruntime's ``com.microsoft`` fused ops into standard ONNX ops.

Exports fused by ``onnxruntime.transformers.optimizer`` (Optimum, many published transformer files)
contain ``SkipLayerNormalization``, ``BiasGelu``, ``Attention`` and friends. Rewritten here into the
standard ops they stand for (``Add`` + ``LayerNormalization``, ``MatMul`` + ``Softmax`` chains...), they
run on every backend's existing kernels, and one canonical form reaches the later fusion passes
and emitters whichever exporter made the file. The js backend also has reference kernels for these
ops (js-runtime/src/backends/js/kernels/contrib.js) for graphs built without this pass.

Each rewrite computes the dtype and shape of every value it creates from its inputs (onnx's shape
inference does not know contrib ops, so their outputs arrive without either). A node whose form is
not covered (an optional output such as ``mean`` in use, a past key/value, a mask layout other than
those below) is left as it is, for the js kernel.

Ordering: first in the pipeline (before eliminate_identity and folding, which then see standard ops).
"""

from __future__ import annotations

import math
from typing import Any, Callable, Optional

import numpy as np

from webdnn_build.ir import Graph, Node, Shape
from webdnn_build.registry import PassContext

from ..graph_utils import FLOAT_DTYPES, optional_input
from .refine_shapes import refine_node

MS = "com.microsoft"


class _Builder:
    """Emits standard nodes that replace one contrib node, with dtype and shape for each new value."""

    def __init__(self, graph: Graph, node: Node) -> None:
        self.g = graph
        self.base = node.name or node.op_type
        self.nodes: list[Node] = []

    def op(self, op_type: str, inputs: list[str], dtype: Optional[str], shape: Shape,
           attrs: Optional[dict[str, Any]] = None, out: Optional[str] = None) -> str:
        """Append ``op_type(inputs)`` writing ``out`` (a fresh value when None); returns the output name."""
        name = out or self.g.fresh_name(f"{self.base}/{op_type}")
        v = self.g.value(name)
        v.dtype = v.dtype or dtype
        if shape is not None and (v.shape is None or not v.is_static):
            v.shape = tuple(shape)
        self.nodes.append(Node(op_type, list(inputs), [name], dict(attrs or {}), "", f"{self.base}/{op_type}_{len(self.nodes)}"))
        return name

    def const(self, array: Any, dtype: str = "float32") -> str:
        return self.g.add_const(np.asarray(array, dtype=dtype), f"{self.base}/const")

    def dtype(self, name: str) -> Optional[str]:
        return self.g.value(name).dtype

    def shape(self, name: str) -> Shape:
        return self.g.value(name).shape


def _broadcast(*shapes: Shape) -> Shape:
    if any(s is None for s in shapes):
        return None
    rank = max(len(s) for s in shapes)  # type: ignore[arg-type]
    out = []
    for k in range(rank):
        dims = [s[len(s) - rank + k] for s in shapes if len(s) - rank + k >= 0]  # type: ignore[arg-type]
        known = [d for d in dims if isinstance(d, int) and d != 1]
        out.append(known[0] if known else (1 if all(d == 1 for d in dims) else None))
    return tuple(out)


def _float_in(b: _Builder, name: str) -> bool:
    return b.dtype(name) in FLOAT_DTYPES


def _unused(node: Node, *indices: int) -> bool:
    return all(not optional_input_out(node, k) for k in indices)


def optional_input_out(node: Node, index: int) -> str:
    return node.outputs[index] if index < len(node.outputs) else ""


def _reduce_mean_last(b: _Builder, x: str, shape: Shape) -> str:
    """ReduceMean over the last axis, keepdims, in the form of the graph's opset (axes input from 18)."""
    out_shape = None if shape is None else tuple(shape[:-1]) + (1,)
    if b.g.opset_for("") >= 18:
        return b.op("ReduceMean", [x, b.const([-1], "int64")], b.dtype(x), out_shape, {"keepdims": 1})
    return b.op("ReduceMean", [x], b.dtype(x), out_shape, {"axes": [-1], "keepdims": 1})


def _rms_norm(b: _Builder, x: str, scale: str, eps: float, out: str) -> None:
    """y = x / sqrt(mean(x^2, last axis) + eps) * scale."""
    shape, dt = b.shape(x), b.dtype(x)
    sq = b.op("Mul", [x, x], dt, shape)
    mean = _reduce_mean_last(b, sq, shape)
    mshape = b.shape(mean)
    rms = b.op("Sqrt", [b.op("Add", [mean, b.const(eps)], dt, mshape)], dt, mshape)
    normed = b.op("Div", [x, rms], dt, shape)
    b.op("Mul", [normed, scale], dt, shape, out=out)


def _skip_sum(b: _Builder, node: Node, bias_index: int) -> Optional[str]:
    """input + skip (+ bias): the value both skip norms normalise; written to output 3 when it is read."""
    x, skip = node.inputs[0], node.inputs[1]
    bias = optional_input(node, bias_index)
    if not all(_float_in(b, n) for n in (x, skip) + ((bias,) if bias else ())):
        return None
    shape = _broadcast(b.shape(x), b.shape(skip))
    total_out = optional_input_out(node, 3)
    s = b.op("Add", [x, skip], b.dtype(x), shape, out=None if bias else (total_out or None))
    if bias:
        s = b.op("Add", [s, bias], b.dtype(x), shape, out=total_out or None)
    return s


def _lower_skip_layernorm(b: _Builder, node: Node) -> bool:
    # inputs: input, skip, gamma, beta?, bias?; outputs: output, mean?, inv_std_var?, input_skip_bias_sum?
    if len(node.inputs) < 3 or not _unused(node, 1, 2):
        return False
    s = _skip_sum(b, node, 4)
    if s is None:
        return False
    beta = optional_input(node, 3)
    b.op("LayerNormalization", [s, node.inputs[2]] + ([beta] if beta else []), b.dtype(s), b.shape(s),
         {"axis": -1, "epsilon": float(node.attrs["epsilon"])}, out=node.outputs[0])
    return True


def _lower_skip_simplified_layernorm(b: _Builder, node: Node) -> bool:
    # inputs: input, skip, gamma, bias?; outputs as SkipLayerNormalization
    if len(node.inputs) < 3 or not _unused(node, 1, 2):
        return False
    s = _skip_sum(b, node, 3)
    if s is None:
        return False
    _rms_norm(b, s, node.inputs[2], float(node.attrs["epsilon"]), node.outputs[0])
    return True


def _lower_simplified_layernorm(b: _Builder, node: Node) -> bool:
    # inputs: X, scale; outputs: Y, inv_std_var?; attrs axis (-1 only here), epsilon
    if len(node.inputs) < 2 or not _unused(node, 1) or not _float_in(b, node.inputs[0]):
        return False
    shape = b.shape(node.inputs[0])
    axis = int(node.attrs["axis"])
    if not (axis == -1 or (shape is not None and axis == len(shape) - 1)):
        return False
    _rms_norm(b, node.inputs[0], node.inputs[1], float(node.attrs["epsilon"]), node.outputs[0])
    return True


def _gelu(b: _Builder, x: str, out: str, approximate: str = "none") -> None:
    b.op("Gelu", [x], b.dtype(x), b.shape(x), {"approximate": approximate}, out=out)


def _with_bias(b: _Builder, x: str, bias: str) -> str:
    return b.op("Add", [x, bias], b.dtype(x), _broadcast(b.shape(x), b.shape(bias))) if bias else x


def _lower_gelu(b: _Builder, node: Node) -> bool:
    if not _float_in(b, node.inputs[0]):
        return False
    _gelu(b, node.inputs[0], node.outputs[0])
    return True


def _lower_bias_gelu(b: _Builder, node: Node) -> bool:
    if len(node.inputs) < 2 or not _float_in(b, node.inputs[0]):
        return False
    _gelu(b, _with_bias(b, node.inputs[0], node.inputs[1]), node.outputs[0])
    return True


def _lower_fast_gelu(b: _Builder, node: Node) -> bool:
    if not _float_in(b, node.inputs[0]):
        return False
    _gelu(b, _with_bias(b, node.inputs[0], optional_input(node, 1)), node.outputs[0], "tanh")
    return True


def _lower_quick_gelu(b: _Builder, node: Node) -> bool:
    # y = x * sigmoid(alpha * x)
    x = node.inputs[0]
    if not _float_in(b, x):
        return False
    dt, shape = b.dtype(x), b.shape(x)
    alpha = float(node.attrs["alpha"])
    scaled = b.op("Mul", [x, b.const(alpha)], dt, shape) if alpha != 1.0 else x
    b.op("Mul", [x, b.op("Sigmoid", [scaled], dt, shape)], dt, shape, out=node.outputs[0])
    return True


def _lower_bias_add(b: _Builder, node: Node) -> bool:
    # X + bias + skip
    if len(node.inputs) < 3 or not _float_in(b, node.inputs[0]):
        return False
    x = _with_bias(b, node.inputs[0], node.inputs[1])
    b.op("Add", [x, node.inputs[2]], b.dtype(x), _broadcast(b.shape(x), b.shape(node.inputs[2])), out=node.outputs[0])
    return True


def _static(shape: Shape, rank: int) -> bool:
    return shape is not None and len(shape) == rank and all(isinstance(d, int) for d in shape)


def _heads(b: _Builder, x: str, batch: int, seq: int, heads: int, size: int, transpose_k: bool = False) -> str:
    """[B, S, N*H] -> [B, N, S, H] (or [B, N, H, S] for keys, ready for Q @ K^T)."""
    r = b.op("Reshape", [x, b.const([batch, seq, heads, size], "int64")], b.dtype(x), (batch, seq, heads, size))
    perm = [0, 2, 3, 1] if transpose_k else [0, 2, 1, 3]
    shape = (batch, heads, size, seq) if transpose_k else (batch, heads, seq, size)
    return b.op("Transpose", [r], b.dtype(x), shape, {"perm": perm})


def _attend(b: _Builder, q: str, k: str, v: str, batch: int, heads: int, seq_q: int, seq_k: int,
            head_q: int, head_v: int, scale: float, bias: Optional[str], out: str) -> None:
    """softmax(Q K^T * scale + bias) V over heads; Q/K/V given as [B, S, N*H]; out [B, S_q, N*H_v]."""
    dt = b.dtype(q)
    qh = _heads(b, q, batch, seq_q, heads, head_q)
    kh = _heads(b, k, batch, seq_k, heads, head_q, transpose_k=True)
    vh = _heads(b, v, batch, seq_k, heads, head_v)
    sshape = (batch, heads, seq_q, seq_k)
    scores = b.op("MatMul", [qh, kh], dt, sshape)
    scores = b.op("Mul", [scores, b.const(scale)], dt, sshape)
    if bias is not None:
        scores = b.op("Add", [scores, bias], dt, sshape)
    probs = b.op("Softmax", [scores], dt, sshape, {"axis": -1})
    ctx = b.op("MatMul", [probs, vh], dt, (batch, heads, seq_q, head_v))
    t = b.op("Transpose", [ctx], dt, (batch, seq_q, heads, head_v), {"perm": [0, 2, 1, 3]})
    b.op("Reshape", [t, b.const([batch, seq_q, heads * head_v], "int64")], dt, (batch, seq_q, heads * head_v), out=out)


def _key_mask_bias(b: _Builder, mask: str, batch: int, seq_k: int, filter_value: float) -> Optional[str]:
    """A [B, 1, 1, S_k] additive bias from a [B, S_k] 0/1 key mask: (1 - mask) * filter_value."""
    shape = b.shape(mask)
    if not _static(shape, 2) or tuple(shape) != (batch, seq_k):  # type: ignore[arg-type]
        return None
    m = b.op("Cast", [mask], "float32", (batch, seq_k), {"to": 1})
    inv = b.op("Sub", [b.const(1.0), m], "float32", (batch, seq_k))
    biased = b.op("Mul", [inv, b.const(filter_value)], "float32", (batch, seq_k))
    return b.op("Reshape", [biased, b.const([batch, 1, 1, seq_k], "int64")], "float32", (batch, 1, 1, seq_k))


def _causal_bias(b: _Builder, seq_q: int, seq_k: int, filter_value: float) -> str:
    """Query i sees keys j <= i + (seq_k - seq_q) (no past here, so seq_k == seq_q)."""
    i = np.arange(seq_q)[:, None]
    j = np.arange(seq_k)[None, :]
    return b.const(np.where(j <= i + (seq_k - seq_q), 0.0, filter_value).reshape(1, 1, seq_q, seq_k))


def _bias_terms(b: _Builder, node: Node, key_mask: str, attn_bias: str, batch: int, seq_q: int,
                seq_k: int) -> Optional[list[str]]:
    """The additive score terms of an attention node: its [B, L] key mask, attention_bias, causal mask
    (``unidirectional``); None when a mask or bias has a form the rewrite does not cover."""
    filter_value = float(node.attrs["mask_filter_value"])  # what a masked key adds to its score
    terms = []
    if key_mask:
        m = _key_mask_bias(b, key_mask, batch, seq_k, filter_value)
        if m is None:
            return None
        terms.append(m)
    if attn_bias:
        if not _static(b.shape(attn_bias), 4):
            return None
        terms.append(attn_bias)
    if int(node.attrs["unidirectional"]):
        terms.append(_causal_bias(b, seq_q, seq_k, filter_value))
    return terms


def _sum_bias(b: _Builder, terms: list[str]) -> Optional[str]:
    acc = None
    for t in terms:
        acc = t if acc is None else b.op("Add", [acc, t], "float32", _broadcast(b.shape(acc), b.shape(t)))
    return acc


def _lower_attention(b: _Builder, node: Node) -> bool:
    """Attention (packed QKV projection): input [B, S, D_in] @ weights [D_in, D_q + D_k + D_v] + bias.

    Covered: no past/present, mask_index absent or a [B, S] 0/1 key mask, attention_bias of a
    static broadcastable shape, unidirectional 0/1, no rotary.
    """
    x, w = node.inputs[0], node.inputs[1]
    bias = optional_input(node, 2)
    mask = optional_input(node, 3)
    if optional_input(node, 4) or optional_input(node, 6) or optional_input_out(node, 1):
        return False  # past / present
    attn_bias = optional_input(node, 5)
    a = node.attrs
    if a.get("do_rotary") or a.get("past_present_share_buffer"):  # (no declared default: absent is off)
        return False
    xs, ws = b.shape(x), b.shape(w)
    if not (_float_in(b, x) and _static(xs, 3) and _static(ws, 2)):
        return False
    batch, seq, _ = xs  # type: ignore[misc]
    heads = int(a["num_heads"])
    sizes = [int(s) for s in a.get("qkv_hidden_sizes", [])] or [ws[1] // 3] * 3  # type: ignore[index]
    if sum(sizes) != ws[1] or sizes[0] != sizes[1] or any(s % heads for s in sizes):  # type: ignore[index]
        return False
    head_q, head_v = sizes[0] // heads, sizes[2] // heads
    terms = _bias_terms(b, node, mask, attn_bias, batch, seq, seq)
    if terms is None:
        return False
    dt = b.dtype(x)
    proj = b.op("MatMul", [x, w], dt, (batch, seq, ws[1]))  # type: ignore[index]
    if bias:
        proj = b.op("Add", [proj, bias], dt, (batch, seq, ws[1]))  # type: ignore[index]
    split = b.const(sizes, "int64")
    names = [b.g.fresh_name(f"{b.base}/{p}") for p in "qkv"]
    for n_, s in zip(names, sizes):
        b.g.value(n_).dtype, b.g.value(n_).shape = dt, (batch, seq, s)
    b.nodes.append(Node("Split", [proj, split], names, {"axis": 2}, "", f"{b.base}/Split_{len(b.nodes)}"))
    if b.g.opset_for("") < 13:  # split sizes were an attribute before opset 13
        b.nodes[-1].inputs = [proj]
        b.nodes[-1].attrs["split"] = sizes
    scale = float(a.get("scale", 0.0)) or 1.0 / math.sqrt(head_q)
    _attend(b, *names, batch, heads, seq, seq, head_q, head_v, scale,
            _sum_bias(b, terms), node.outputs[0])
    return True


def _lower_multihead_attention(b: _Builder, node: Node) -> bool:
    """MultiHeadAttention with separate 3-D query/key/value ([B, S, D], [B, L, D], [B, L, D_v]).

    Covered: optional bias [D + D + D_v], key_padding_mask absent or [B, L] 0/1, attention_bias of a
    static shape, no past/present, unidirectional 0/1.
    """
    q, k, v = node.inputs[0], optional_input(node, 1), optional_input(node, 2)
    bias, kpm, attn_bias = optional_input(node, 3), optional_input(node, 4), optional_input(node, 5)
    if any(optional_input(node, i) for i in range(6, len(node.inputs))) or any(o for o in node.outputs[1:]):
        return False  # past key/value and the decoding inputs
    if not (k and v) or not _float_in(b, q):
        return False
    qs, ks, vs = b.shape(q), b.shape(k), b.shape(v)
    if not (_static(qs, 3) and _static(ks, 3) and _static(vs, 3)):
        return False
    batch, seq_q, d = qs  # type: ignore[misc]
    _, seq_k, dk = ks  # type: ignore[misc]
    dv = vs[2]  # type: ignore[index]
    heads = int(node.attrs["num_heads"])
    if dk != d or d % heads or dv % heads or ks[0] != batch or vs[:2] != ks[:2]:  # type: ignore[index]
        return False
    a = node.attrs
    terms = _bias_terms(b, node, kpm, attn_bias, batch, seq_q, seq_k)
    if terms is None:
        return False
    dt = b.dtype(q)
    if bias:
        bs = b.shape(bias)
        if not _static(bs, 1) or bs[0] != 2 * d + dv:  # type: ignore[index]
            return False
        parts = []
        for name, (lo, hi), shape in ((q, (0, d), qs), (k, (d, 2 * d), ks), (v, (2 * d, 2 * d + dv), vs)):
            sl = b.op("Slice", [bias, b.const([lo], "int64"), b.const([hi], "int64")], dt, (hi - lo,))
            parts.append(b.op("Add", [name, sl], dt, shape))
        q, k, v = parts
    scale = float(a.get("scale", 0.0)) or 1.0 / math.sqrt(d // heads)
    _attend(b, q, k, v, batch, heads, seq_q, seq_k, d // heads, dv // heads, scale,
            _sum_bias(b, terms), node.outputs[0])
    return True


def _lower_embed_layernorm(b: _Builder, node: Node) -> bool:
    """EmbedLayerNormalization: LayerNorm(word[ids] + position[pos] + segment[seg]); mask_index = row sums of mask.

    Inputs: input_ids, segment_ids?, word_embedding, position_embedding, segment_embedding?, gamma, beta,
    mask?, position_ids?. Outputs: output, mask_index?, embedding_sum?.
    """
    ins = list(node.inputs) + [""] * (9 - len(node.inputs))
    ids, seg_ids, word, pos, seg, gamma, beta, mask, pos_ids = ins[:9]
    ids_shape = b.shape(ids)
    if not (_static(ids_shape, 2) and word and pos and gamma and _float_in(b, word)):
        return False
    if int(node.attrs["mask_index_type"]) != 1 and optional_input_out(node, 1):
        return False
    batch, seq = ids_shape  # type: ignore[misc]
    ws = b.shape(word)
    if not _static(ws, 2):
        return False
    hidden = ws[1]  # type: ignore[index]
    dt = b.dtype(word)
    out_shape = (batch, seq, hidden)
    acc = b.op("Gather", [word, ids], dt, out_shape, {"axis": 0})
    if pos_ids:
        p = b.op("Gather", [pos, pos_ids], dt, _broadcast(b.shape(pos_ids) + (hidden,), out_shape))  # type: ignore[operator]
    else:  # positions 0..S-1 for every row
        p = b.op("Gather", [pos, b.const(np.arange(seq)[None, :], "int64")], dt, (1, seq, hidden), {"axis": 0})
    acc = b.op("Add", [acc, p], dt, out_shape)
    if seg and seg_ids:
        acc = b.op("Add", [acc, b.op("Gather", [seg, seg_ids], dt, out_shape, {"axis": 0})], dt, out_shape)
    if optional_input_out(node, 2):
        acc = b.op("Identity", [acc], dt, out_shape, out=node.outputs[2])
    b.op("LayerNormalization", [acc, gamma] + ([beta] if beta else []), dt, out_shape,
         {"axis": -1, "epsilon": float(node.attrs["epsilon"])}, out=node.outputs[0])
    mask_out = optional_input_out(node, 1)
    if mask_out:
        if mask:
            m32 = b.op("Cast", [mask], "int32", b.shape(mask), {"to": 6})
            if b.g.opset_for("") >= 13:
                b.op("ReduceSum", [m32, b.const([1], "int64")], "int32", (batch,), {"keepdims": 0}, out=mask_out)
            else:
                b.op("ReduceSum", [m32], "int32", (batch,), {"axes": [1], "keepdims": 0}, out=mask_out)
        else:  # no mask: every row is full length (what onnxruntime returns)
            b.op("Identity", [b.const(np.full((batch,), seq), "int32")], "int32", (batch,), out=mask_out)
    return True


#: op type -> rewrite; a rewrite returns False (after emitting nothing) when the node's form is not covered
LOWERINGS: dict[str, Callable[[_Builder, Node], bool]] = {
    "SkipLayerNormalization": _lower_skip_layernorm,
    "SkipSimplifiedLayerNormalization": _lower_skip_simplified_layernorm,
    "SimplifiedLayerNormalization": _lower_simplified_layernorm,
    "Gelu": _lower_gelu,
    "BiasGelu": _lower_bias_gelu,
    "FastGelu": _lower_fast_gelu,
    "QuickGelu": _lower_quick_gelu,
    "BiasAdd": _lower_bias_add,
    "Attention": _lower_attention,
    "MultiHeadAttention": _lower_multihead_attention,
    "EmbedLayerNormalization": _lower_embed_layernorm,
}


def _same_as_input(b: _Builder, node: Node) -> list[tuple[Optional[str], Shape]]:
    return [(b.dtype(node.inputs[0]), b.shape(node.inputs[0]))]


def _matmul_nbits_out(b: _Builder, node: Node) -> list[tuple[Optional[str], Shape]]:
    a = b.shape(node.inputs[0])
    return [(b.dtype(node.inputs[0]), None if a is None else tuple(a[:-1]) + (int(node.attrs["N"]),))]


def _attention_out(b: _Builder, node: Node) -> list[tuple[Optional[str], Shape]]:
    x, w = b.shape(node.inputs[0]), b.shape(node.inputs[1])
    sizes = [int(v) for v in node.attrs.get("qkv_hidden_sizes", [])]
    dv = sizes[2] if sizes else (w[1] // 3 if _static(w, 2) else None)  # type: ignore[index]
    return [(b.dtype(node.inputs[0]), None if x is None or dv is None else tuple(x[:2]) + (dv,))]


def _mha_out(b: _Builder, node: Node) -> list[tuple[Optional[str], Shape]]:
    q, v = b.shape(node.inputs[0]), b.shape(optional_input(node, 2))
    dv = None if v is None else (v[2] if len(v) == 3 else (v[1] * v[3] if len(v) == 4 and all(isinstance(d, int) for d in v) else None))
    return [(b.dtype(node.inputs[0]), None if q is None or len(q) != 3 or dv is None else tuple(q[:2]) + (dv,))]


def _embed_out(b: _Builder, node: Node) -> list[tuple[Optional[str], Shape]]:
    ids, word = b.shape(node.inputs[0]), b.shape(node.inputs[2])
    shape = None if ids is None or word is None else tuple(ids) + (word[1],)
    return [(b.dtype(node.inputs[2]), shape), ("int32", None if ids is None else (ids[0],)), (b.dtype(node.inputs[2]), shape)]


#: dtype and shape of output 0 (and the outputs listed) of a contrib node that stays as it is, so that the
#: standard ops reading it get theirs (onnx's shape inference leaves them open)
KEPT_OUTPUTS: dict[str, Callable[[_Builder, Node], list[tuple[Optional[str], Shape]]]] = {
    "MatMulNBits": _matmul_nbits_out,
    "RotaryEmbedding": _same_as_input,
    "Attention": _attention_out,
    "MultiHeadAttention": _mha_out,
    "EmbedLayerNormalization": _embed_out,
    **{op: _same_as_input for op in ("SkipLayerNormalization", "SkipSimplifiedLayerNormalization",
                                     "SimplifiedLayerNormalization", "Gelu", "BiasGelu", "FastGelu", "QuickGelu",
                                     "BiasAdd")},
}


def _describe_kept(graph: Graph, node: Node) -> None:
    """Fill in the dtype and shape of a kept contrib node's outputs where the model left them open."""
    rule = KEPT_OUTPUTS.get(node.op_type)
    if rule is None:
        return
    for name, (dtype, shape) in zip(node.outputs, rule(_Builder(graph, node), node)):
        if not name:
            continue
        v = graph.value(name)
        v.dtype = v.dtype or dtype
        if shape is not None and all(isinstance(d, int) for d in shape) and not v.is_static:
            v.shape = tuple(shape)


def run(graph: Graph, ctx: PassContext) -> bool:
    """Replace each covered ``com.microsoft`` node (and ONNX-domain ``SimplifiedLayerNormalization``,
    which onnxruntime registers there) by the standard ops it computes."""
    new_nodes: list[Node] = []
    lowered: dict[str, int] = {}
    kept = 0
    for node in graph.nodes:
        domain_ok = node.domain == MS or (node.domain == "" and node.op_type == "SimplifiedLayerNormalization")
        rewrite = LOWERINGS.get(node.op_type) if domain_ok else None
        if rewrite is not None:
            b = _Builder(graph, node)
            before = set(graph.values)
            if rewrite(b, node):
                new_nodes.extend(b.nodes)
                lowered[node.op_type] = lowered.get(node.op_type, 0) + 1
                continue
            for name in set(graph.values) - before:  # a rewrite that gave up may have made constants
                del graph.values[name]
            ctx.log(f"lower_contrib_ops: {node.describe()} kept (a form the rewrite does not cover)")
        new_nodes.append(node)
        if node.domain == MS or rewrite is not None:
            _describe_kept(graph, node)
            kept += 1
        elif lowered or kept:  # standard ops after a contrib one: their dtypes and shapes were open at import
            refine_node(graph, node)
    if not lowered:
        return kept > 0  # (kept nodes' outputs may have got a dtype and shape)
    graph.nodes = new_nodes
    ctx.log("lower_contrib_ops: " + ", ".join(f"{n} {op}" for op, n in sorted(lowered.items())))
    return True
