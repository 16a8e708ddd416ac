"""Op emitters of the wasm backend, keyed by ONNX op type (default domain only)."""

from __future__ import annotations

from .base import EmitContext, Emitter
from .conv import ConvEmitter
from .data import BatchNormEmitter, ConcatEmitter, LRNEmitter, TransposeEmitter
from .elementwise import BinaryEmitter, UnaryEmitter
from .gemm import GemmEmitter, MatMulEmitter
from .layernorm import LayerNormEmitter
from .pool import GlobalPoolEmitter, PoolEmitter
from .softmax import SoftmaxEmitter

EMITTERS: dict[str, Emitter] = {}
for _cls in (ConvEmitter, GemmEmitter, MatMulEmitter, PoolEmitter, GlobalPoolEmitter, BinaryEmitter, UnaryEmitter,
             SoftmaxEmitter, ConcatEmitter, TransposeEmitter, LRNEmitter, BatchNormEmitter,
             LayerNormEmitter):
    _e = _cls()
    for _op in _cls.ops:
        EMITTERS[_op] = _e

__all__ = ["EMITTERS", "EmitContext", "Emitter"]
