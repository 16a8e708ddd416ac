"""WGSL kernel emitters of the webgpu backend, keyed by ONNX op type (default domain only)."""

from __future__ import annotations

from .base import Dispatch, Emitter, KernelBuilder, KernelContext
from .conv import ConvEmitter
from .data import ConcatEmitter, CopyEmitter, ExpandEmitter, PadEmitter, SliceEmitter, TransposeEmitter
from .elementwise import ElementwiseEmitter
from .indexing import GatherEmitter, GatherNDEmitter
from .matmul import GemmEmitter, MatMulEmitter
from .norm import BatchNormEmitter, InstanceNormEmitter, LayerNormEmitter, LRNEmitter
from .pool import GlobalPoolEmitter, PoolEmitter
from .reduce import ReduceEmitter
from .softmax import SoftmaxEmitter

EMITTERS: dict[str, Emitter] = {}
for _cls in (ConvEmitter, GemmEmitter, MatMulEmitter, PoolEmitter, GlobalPoolEmitter, ElementwiseEmitter,
             SoftmaxEmitter, ReduceEmitter, BatchNormEmitter, LayerNormEmitter, InstanceNormEmitter, LRNEmitter,
             ConcatEmitter, TransposeEmitter, CopyEmitter, SliceEmitter, GatherEmitter, GatherNDEmitter, ExpandEmitter,
             PadEmitter):
    _e = _cls()
    for _op in _cls.ops:
        EMITTERS[_op] = _e

__all__ = ["EMITTERS", "Dispatch", "Emitter", "KernelBuilder", "KernelContext"]
