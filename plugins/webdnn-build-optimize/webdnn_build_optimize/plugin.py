"""Registers the optimization passes and the default pipeline order.

Default pipeline (lower ``order`` runs first); ordering constraints beside each:

====  ===========================  =========================================================
  5   lower_contrib_ops            first: com.microsoft fused ops become standard ops that every
                                   later pass and backend knows
 10   eliminate_identity           first: Identity/Dropout/no-op Cast between two ops hides
                                   patterns from every later pass
 20   fold_shapes_and_constants    after eliminate_identity; fold_shape_ops, fold_constants and
                                   refine_shapes to a fixed point. Before fold_batchnorm: conv weights made
                                   by constant subgraphs must be constants by then
 22   lower_global_pools           after folding (needs static shapes): an Average/MaxPool whose one
                                   window covers its input becomes the global pool
 25   expand_functions             ONNX ops a selected native backend cannot run become their ONNX
                                   function body (when every part then runs natively); after folding,
                                   which gives it the shapes the backends decide by
 30   eliminate_dead_code          after folding: drops the Shape chains folding left unread
 40   fold_batchnorm               after folding (needs constant weights/params); before
                                   fuse_activation (Conv→BN→Relu must be Conv→Relu first)
 45   fuse_gelu, fuse_swish        after folding (their constants must be constants); before
                                   fuse_activation, which can then fold the result into a producer
 50   fuse_activation              last: the fused attributes are for backends only
====  ===========================  =========================================================

``fold_shape_ops``, ``fold_constants`` and ``refine_shapes`` are also registered on their own
(no order: not in the default pipeline, available to explicit pipelines).
"""

from __future__ import annotations

from webdnn_build.hookspecs import hookimpl
from webdnn_build.registry import Registry

from .passes import (
    eliminate_dead_code,
    eliminate_identity,
    expand_functions,
    fold_batchnorm,
    fold_constants,
    fold_shape_ops,
    fold_shapes_and_constants,
    fuse_activation,
    fuse_gelu,
    fuse_swish,
    lower_contrib_ops,
    lower_global_pools,
    refine_shapes,
)


@hookimpl
def webdnn_register_passes(registry: Registry) -> None:
    """Register this distribution's passes under their stable ids."""
    registry.add_pass("lower_contrib_ops", lower_contrib_ops.run,
                      "rewrite com.microsoft fused ops (SkipLayerNormalization, Attention, ...) into standard ops", order=5)
    registry.add_pass("eliminate_identity", eliminate_identity.run,
                      "remove Identity, inference Dropout and no-op Cast", order=10)
    registry.add_pass("lower_global_pools", lower_global_pools.run,
                      "AveragePool/MaxPool whose one window covers the whole input → GlobalAveragePool/GlobalMaxPool",
                      order=22)
    registry.add_pass("expand_functions", expand_functions.run,
                      "replace ONNX ops without a native kernel by their ONNX function body", order=25)
    registry.add_pass("fold_shapes_and_constants", fold_shapes_and_constants.run,
                      "fold_shape_ops, fold_constants, refine_shapes to a fixed point", order=20)
    registry.add_pass("eliminate_dead_code", eliminate_dead_code.run,
                      "remove nodes that do not reach a graph output; prune unused values", order=30)
    registry.add_pass("fold_batchnorm", fold_batchnorm.run,
                      "fold inference BatchNormalization into the preceding Conv or Gemm", order=40)
    registry.add_pass("fuse_gelu", fuse_gelu.run,
                      "0.5 * x * (1 + Erf(x / sqrt 2)) → Gelu", order=45)
    registry.add_pass("fuse_swish", fuse_swish.run,
                      "x * Sigmoid(alpha * x) → Swish (SiLU, QuickGELU)", order=46)
    registry.add_pass("fuse_activation", fuse_activation.run,
                      "fuse Relu/LeakyRelu/Clip/Sigmoid/Tanh/HardSigmoid/HardSwish/Swish into the producing op", order=50)
    # building blocks of fold_shapes_and_constants, for explicit pipelines
    registry.add_pass("fold_shape_ops", fold_shape_ops.run,
                      "turn Shape/Size and shape inputs answered by static shapes into constants")
    registry.add_pass("fold_constants", fold_constants.run,
                      "evaluate nodes with all-constant inputs (onnx.reference) into constants")
    registry.add_pass("refine_shapes", refine_shapes.run,
                      "re-infer open output dims of nodes whose inputs have static shapes")
