"""WGSL kernel emitters of the webgpu backend, keyed by (domain, op type).

An emitter class declares its ops in ``ops`` and their domain in ``domain`` ("" = the ONNX default domain;
"com.microsoft" for MatMulNBits, "webdnn" for the backend's fused attention). ``emitter_for(node)`` finds
the emitter of a node ("ai.onnx" is the default domain).
"""

from __future__ import annotations

from typing import Optional

from webdnn_build.ir import Node

from .attention import AttentionEmitter
from .base import Dispatch, Emitter, KernelBuilder, KernelContext
from .conv import ConvEmitter
from .convtranspose import ConvTransposeEmitter
from .data import ConcatEmitter, CopyEmitter, ExpandEmitter, PadEmitter, SliceEmitter, SplitEmitter, TransposeEmitter
from .elementwise import ElementwiseEmitter
from .indexing import GatherEmitter, GatherNDEmitter
from .matmul import GemmEmitter, MatMulEmitter
from .norm import BatchNormEmitter, InstanceNormEmitter, LayerNormEmitter, LRNEmitter
from .pool import GlobalPoolEmitter, PoolEmitter
from .quantize import (ConvIntegerEmitter, DequantizeEmitter, DynamicQuantizeEmitter, MatMulIntegerEmitter, MatMulNBitsEmitter,
                       QuantizeEmitter)
from .reduce import ArgExtremeEmitter, ReduceEmitter
from .resize import ResizeEmitter
from .rnn import RecurrentEmitter
from .softmax import SoftmaxEmitter

EMITTERS: dict[tuple[str, str], Emitter] = {}
for _cls in (ConvEmitter, GemmEmitter, MatMulEmitter, PoolEmitter, GlobalPoolEmitter, ElementwiseEmitter,
             SoftmaxEmitter, ReduceEmitter, BatchNormEmitter, LayerNormEmitter, InstanceNormEmitter, LRNEmitter,
             ConcatEmitter, TransposeEmitter, CopyEmitter, SliceEmitter, GatherEmitter, GatherNDEmitter, ExpandEmitter,
             PadEmitter, SplitEmitter, AttentionEmitter, DequantizeEmitter, QuantizeEmitter, DynamicQuantizeEmitter,
             MatMulIntegerEmitter, MatMulNBitsEmitter, ArgExtremeEmitter, ResizeEmitter, ConvTransposeEmitter,
             RecurrentEmitter, ConvIntegerEmitter):
    _e = _cls()
    for _op in _cls.ops:
        EMITTERS[(_cls.domain, _op)] = _e


def emitter_for(node: Node) -> Optional[Emitter]:
    domain = "" if node.domain in ("", "ai.onnx") else node.domain
    return EMITTERS.get((domain, node.op_type))


__all__ = ["EMITTERS", "Dispatch", "Emitter", "KernelBuilder", "KernelContext", "emitter_for"]
