"""Op declarations: the one place that states every op's attribute defaults and the fused-activation
contract. Passes, every backend's emitters and the js kernels read them from here (or from the
attributes :func:`fill_defaults` wrote) and spell no default of their own.

Attribute defaults
------------------

- ONNX ops (``ai.onnx``, ``ai.onnx.ml``) and onnxruntime's contrib ops (``com.microsoft``, and
  SimplifiedLayerNormalization, which onnxruntime registers in the default domain): the defaults their
  schemas give, per opset version, in the generated table :mod:`webdnn_build.opdecl_schemas`
  (``tools/sync_opdecl.py``; tests/test_opdecl.py fails when it no longer matches onnx/onnxruntime).
- :data:`CONTRIB_DEFAULTS`: contrib attributes whose schema leaves the default to onnxruntime's kernel.
- :data:`WEBDNN_OPS`: the ops of this compiler's own ``webdnn`` domain (made by backends' fusions).

:func:`fill_defaults` writes every default a node lacks into ``node.attrs`` (subgraphs included). The
compiler runs it on the imported graph and again after every pass that changed the graph
(:func:`webdnn_build.compiler.run_passes`), so from the first pass on ``node.attrs["epsilon"]`` is
there for every op whose schema has a default, in the bundle's programs too (the js kernels read
``attrs.epsilon`` as it is). Only real schema defaults are filled: an attribute without one
(``kernel_shape``, ``pads``, ``strides``, Clip's bounds from opset 11, Cast's ``saturate`` before
opset 19, ...) stays absent, and its absence keeps the meaning the op gives it.

A backend that creates nodes after the passes (its own fusions) writes every declared attribute itself.

Fused activations
-----------------

``fuse_activation`` folds an activation into the op producing its input: the producer gets
``fused_activation`` (the kind, an ONNX op type) and the kind's parameters as
``fused_activation_<param>`` (:data:`ACTIVATION_KINDS`, always all of them); backends apply it to the
op's result, ``onnx_bridge`` turns it back into a node. Each parameter's default is the ONNX op's own
(Clip's bounds: its opset-6 attributes, the float32 range); tests/test_opdecl.py checks that every
backend (js, wasm, webgpu) implements every kind.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Optional

from .ir import Graph, Node
from .opdecl_schemas import SCHEMA_DEFAULTS

Defaults = dict[str, Any]

#: com.microsoft attributes that onnxruntime's schemas declare without a default value, with the value
#: its kernels use when the attribute is absent (``info.GetAttrOrDefault``, contrib_ops/cpu/bert/...)
CONTRIB_DEFAULTS: dict[str, Defaults] = {
    "Attention": {"mask_filter_value": -10000.0},
    "MultiHeadAttention": {"mask_filter_value": -10000.0},
    "EmbedLayerNormalization": {"mask_index_type": 1},
    "RotaryEmbedding": {"interleaved": 0, "rotary_embedding_dim": 0},
}

#: schema defaults that are not filled in: RNN's ``activations`` default names one function per direction of a
#: bidirectional RNN (two), a forward one takes one; absent, every reader takes Tanh per direction
NOT_FILLED: dict[tuple[str, str], frozenset[str]] = {("", "RNN"): frozenset({"activations"})}

#: ops onnxruntime registers in the default domain (importer.ORT_ONNX_DOMAIN_OPS); a file that names them
#: com.microsoft gets the same defaults
ORT_DEFAULT_DOMAIN_OPS = ("SimplifiedLayerNormalization",)

#: the ``webdnn`` domain's ops: op type -> {attribute: default}. ``FusedAttention`` (codegen.fuse_attention):
#: softmax(Q·Kt·scale + bias) · V, with the NaN rows of torch's guard zeroed when ``nan_to_zero``
WEBDNN_OPS: dict[str, Defaults] = {
    "FusedAttention": {"scale": 1.0, "nan_to_zero": 0},
}


def _domain(domain: str) -> str:
    return "" if domain == "ai.onnx" else domain


def attr_defaults(op_type: str, domain: str = "", opset: Optional[int] = None) -> Defaults:
    """The declared attribute defaults of an op at ``opset`` (None or 0: the newest version; older than
    the op: its first version), a new dict. Empty for ops nothing declares (custom domains)."""
    domain = _domain(domain)
    if domain == "webdnn":
        return dict(WEBDNN_OPS.get(op_type, {}))
    versions = SCHEMA_DEFAULTS.get((domain, op_type), ())
    if not versions and domain == "com.microsoft" and op_type in ORT_DEFAULT_DOMAIN_OPS:
        versions = SCHEMA_DEFAULTS.get(("", op_type), ())
    # an op newer than the graph's opset (lower_contrib_ops writes LayerNormalization and Gelu into
    # graphs of any opset) is the op's first version
    found: Defaults = dict(versions[0][1]) if versions else {}
    for since, defaults in versions:
        if opset and since > opset:
            break
        found = dict(defaults)
    if domain == "com.microsoft":
        for key, value in CONTRIB_DEFAULTS.get(op_type, {}).items():
            found.setdefault(key, value)
    for key in NOT_FILLED.get((domain, op_type), ()):
        found.pop(key, None)
    return {k: list(v) if isinstance(v, list) else v for k, v in found.items()}


def declared_ops() -> Iterable[tuple[str, str]]:
    """(domain, op type) of every op with declared defaults."""
    yield from SCHEMA_DEFAULTS
    yield from (("com.microsoft", op) for op in CONTRIB_DEFAULTS if ("com.microsoft", op) not in SCHEMA_DEFAULTS)
    yield from (("webdnn", op) for op in WEBDNN_OPS)


def fill_node_defaults(node: Node, opset: Optional[int]) -> int:
    """Add the declared defaults ``node`` lacks (its fused activation's parameters included); returns how many."""
    added = 0
    for key, value in attr_defaults(node.op_type, node.domain, opset).items():
        if key not in node.attrs:
            node.attrs[key] = value
            added += 1
    kind = ACTIVATION_KINDS.get(str(node.attrs.get("fused_activation") or ""))
    if kind is not None:
        for param, value in kind.params:
            key = f"fused_activation_{param}"
            if key not in node.attrs:
                node.attrs[key] = value
                added += 1
    return added


def fill_defaults(graph: Graph) -> int:
    """Fill every node's declared defaults (nodes of subgraphs too, at their graph's opsets); returns
    how many attributes were added. Idempotent and cheap: run after anything that adds nodes."""
    added = 0
    for g in graph.walk():
        for node in g.nodes:
            added += fill_node_defaults(node, g.opset_for(_domain(node.domain)) or None)
    return added


# -- the fused-activation contract ---------------------------------------------------------------

@dataclass(frozen=True)
class ActivationKind:
    """A fusable activation: its ONNX op type and its parameters (``fused_activation_<name>``) with defaults."""

    op_type: str
    params: tuple[tuple[str, float], ...] = ()

    def param_names(self) -> tuple[str, ...]:
        return tuple(f"fused_activation_{p}" for p, _ in self.params)


_F32_MAX = 3.4028234663852886e38

#: every kind a backend must apply, in the order docs/passes.md lists them. Parameter order is the
#: order backends pass them on (wasm's ``wdn_act`` a, b)
ACTIVATION_KINDS: dict[str, ActivationKind] = {k.op_type: k for k in (
    ActivationKind("Relu"),
    ActivationKind("LeakyRelu", (("alpha", 0.01),)),
    ActivationKind("Clip", (("min", -_F32_MAX), ("max", _F32_MAX))),
    ActivationKind("Sigmoid"),
    ActivationKind("Tanh"),
    ActivationKind("HardSigmoid", (("alpha", 0.2), ("beta", 0.5))),
    ActivationKind("HardSwish"),
    ActivationKind("Swish", (("alpha", 1.0),)),  # SiLU (alpha 1), QuickGELU (1.702): fuse_swish makes them
)}

#: the activations ``fuse_activation`` knows how to fuse
ACTIVATION_OPS = tuple(ACTIVATION_KINDS)

#: every attribute name that belongs to the contract
ACTIVATION_ATTRS = ("fused_activation", "fused_activation_alpha", "fused_activation_beta", "fused_activation_min",
                    "fused_activation_max")
assert all(n in ACTIVATION_ATTRS for k in ACTIVATION_KINDS.values() for n in k.param_names())


def activation_params(attrs: dict[str, Any]) -> tuple[Optional[str], tuple[float, ...]]:
    """(kind, parameter values in the contract's order) of the fused activation in ``attrs``; (None, ())
    when there is none. A parameter the attributes lack takes its declared default."""
    kind = attrs.get("fused_activation")
    if not kind:
        return None, ()
    spec = ACTIVATION_KINDS.get(str(kind))
    if spec is None:
        return str(kind), ()
    return spec.op_type, tuple(float(attrs.get(f"fused_activation_{p}", d)) for p, d in spec.params)


@dataclass(frozen=True)
class FusedActivation:
    """An activation read off (or to be written onto) a producing op."""

    op_type: str
    alpha: Optional[float] = None
    beta: Optional[float] = None
    min: Optional[float] = None
    max: Optional[float] = None

    def to_attrs(self) -> dict[str, Any]:
        """The attributes to set on the producer: the kind and every parameter it declares (the
        declared default where this one leaves it None)."""
        attrs: dict[str, Any] = {"fused_activation": self.op_type}
        kind = ACTIVATION_KINDS.get(self.op_type)
        for param, default in (kind.params if kind else ()):
            val = getattr(self, param)
            attrs[f"fused_activation_{param}"] = float(default if val is None else val)
        return attrs

    @classmethod
    def from_attrs(cls, attrs: dict[str, Any]) -> Optional["FusedActivation"]:
        """The fused activation described by ``attrs``, or None when there is none."""
        op = attrs.get("fused_activation")
        if not op:
            return None
        if isinstance(op, bytes):
            op = op.decode()

        def num(key: str) -> Optional[float]:
            return float(attrs[key]) if key in attrs and attrs[key] is not None else None

        return cls(str(op), num("fused_activation_alpha"), num("fused_activation_beta"), num("fused_activation_min"),
                   num("fused_activation_max"))


def split_attrs(attrs: dict[str, Any]) -> tuple[dict[str, Any], Optional[FusedActivation]]:
    """``attrs`` without the contract's keys, and the fused activation they described."""
    rest = {k: v for k, v in attrs.items() if k not in ACTIVATION_ATTRS}
    return rest, FusedActivation.from_attrs(attrs)


# -- the recurrent ops' activations ----------------------------------------------------------------

#: RNN / GRU / LSTM ``activations``: lower-case name -> (uses alpha, uses beta, default alpha, default beta).
#: ``activation_alpha`` / ``activation_beta`` are consumed in order by the functions that use them; a
#: function that uses one beyond the given list takes its default here. Every backend must agree: the
#: webgpu emitter (wgsl/rnn.py) reads this table; the js kernel (js-runtime/src/backends/js/kernels/rnn.js,
#: ``ACTIVATIONS``) spells it again in JS, and tests/test_opdecl.py fails when the two differ.
RNN_ACTIVATION_PARAMS: dict[str, tuple[bool, bool, float, float]] = {
    "relu": (False, False, 0, 0),
    "tanh": (False, False, 0, 0),
    "sigmoid": (False, False, 0, 0),
    "affine": (True, True, 1, 0),
    "leakyrelu": (True, False, 0.01, 0),
    "thresholdedrelu": (True, False, 1, 0),
    "scaledtanh": (True, True, 1, 1),
    "hardsigmoid": (True, True, 0.2, 0.5),
    "elu": (True, False, 1, 0),
    "softsign": (False, False, 0, 0),
    "softplus": (False, False, 0, 0),
}
