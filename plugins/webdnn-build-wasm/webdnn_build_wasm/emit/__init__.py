"""Op emitters of the wasm backend, keyed by (domain, op type).

An emitter class declares its ops in ``ops`` and their domain in ``domain`` ("" = the ONNX default domain;
e.g. "com.microsoft" for MatMulNBits). ``emitter_for(node)`` finds the emitter of a node ("ai.onnx" is
the default domain)."""

from __future__ import annotations

from webdnn_build.ir import Graph, Node

from .attention import AttentionEmitter
from .base import EmitContext, Emitter
from .cast import CastEmitter
from .conv import ConvEmitter
from .convtranspose import ConvTransposeEmitter
from .data import BatchNormEmitter, LRNEmitter, TransposeEmitter
from .elementwise import BinaryEmitter, PReluEmitter, UnaryEmitter
from .gemm import GemmEmitter, MatMulEmitter
from .indexing import CopyEmitter, ExpandEmitter, GatherElementsEmitter, GatherEmitter, GatherNDEmitter
from .integer import IntBinaryEmitter, IntUnaryEmitter
from .intops import IntBitEmitter, TriluEmitter
from .layernorm import InstanceNormEmitter, LayerNormEmitter
from .logical import CompareEmitter, PredicateEmitter, WhereEmitter
from .matmul_nbits import MatMulNBitsEmitter
from .movement import ConcatEmitter, PadEmitter, SliceEmitter, SplitEmitter
from .pool import GlobalPoolEmitter, PoolEmitter
from .quantize import (ConvIntegerEmitter, DequantizeEmitter, DynamicQuantizeEmitter, MatMulIntegerEmitter,
                       QuantizeEmitter)
from .reduce import ArgExtremeEmitter, ReduceEmitter
from .resize import ResizeEmitter
from .rnn import RNNEmitter
from .softmax import SoftmaxEmitter


class FirstOf(Emitter):
    """Several emitters for one op type (e.g. float32 Add and int64 Add): the first that supports a node emits it."""

    def __init__(self, *emitters: Emitter) -> None:
        self.emitters = emitters

    def _pick(self, node: Node, graph: Graph) -> Emitter | None:
        return next((e for e in self.emitters if e.supports(node, graph)), None)

    def supports(self, node: Node, graph: Graph) -> bool:
        return self._pick(node, graph) is not None

    def emit(self, node: Node, ctx: EmitContext) -> list[str]:
        e = self._pick(node, ctx.graph)
        assert e is not None, "emit() of a node no emitter supports"
        return e.emit(node, ctx)


EMITTERS: dict[tuple[str, str], Emitter] = {}
# float32 emitters first: for an op several emitters take, the earlier one wins
for _cls in (ConvEmitter, GemmEmitter, MatMulEmitter, PoolEmitter, GlobalPoolEmitter, BinaryEmitter, UnaryEmitter,
             SoftmaxEmitter, ConcatEmitter, TransposeEmitter, LRNEmitter, BatchNormEmitter,
             LayerNormEmitter, CopyEmitter, GatherEmitter, GatherNDEmitter, ExpandEmitter, CompareEmitter,
             WhereEmitter, PredicateEmitter, IntBinaryEmitter, IntUnaryEmitter, CastEmitter,
             DequantizeEmitter, QuantizeEmitter, DynamicQuantizeEmitter, MatMulIntegerEmitter, ConvIntegerEmitter,
             MatMulNBitsEmitter, AttentionEmitter, InstanceNormEmitter, ConvTransposeEmitter, ResizeEmitter,
             ReduceEmitter, ArgExtremeEmitter, SplitEmitter, SliceEmitter, PadEmitter, RNNEmitter,
             IntBitEmitter, TriluEmitter, GatherElementsEmitter, PReluEmitter):
    _e = _cls()
    for _op in _cls.ops:
        _key = (_cls.domain, _op)
        _prev = EMITTERS.get(_key)
        EMITTERS[_key] = _e if _prev is None else FirstOf(*(_prev.emitters if isinstance(_prev, FirstOf) else (_prev,)), _e)



def emitter_for(node: Node) -> Emitter | None:
    """The emitter registered for the node's (domain, op type), or None."""
    domain = "" if node.domain in ("", "ai.onnx") else node.domain
    return EMITTERS.get((domain, node.op_type))


__all__ = ["EMITTERS", "EmitContext", "Emitter", "emitter_for"]
