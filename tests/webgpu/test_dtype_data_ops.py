"""Dtype and data ops on the GPU: signed BitShift, Cast/BitCast between more dtypes (float16, bfloat16, float64
and uint64 included), float Mod, integer Pow, Gelu(tanh), Shape/Size/ConstantOfShape/EyeLike, Dropout with its
mask, Scatter*/TensorScatter, OneHot/Compress/ReverseSequence/MaxUnpool/NonZero, Col2Im, Det, BatchNormalization with
run-time statistics (training mode too), Slice/Pad/Tile with run-time parameters.

Each model runs through the ONNX backend adapter on webgpu (the JS runtime on Dawn), must place every op on
the GPU, and is compared with onnx's reference evaluator (onnxruntime lacks some of these forms, e.g. signed
BitShift); integer and copy results must match exactly. Skipped without a WebGPU adapter in Node.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

from tests.conformance.test_webgpu import _adapter
from tests.helpers import requires
from webdnn_build import onnx_backend

from .common import build

pytestmark = requires(None if _adapter() else "no WebGPU adapter in Node (eval \"$(tools/setup-webgpu.sh)\")")

RNG = np.random.default_rng(11)
T = {"float32": TensorProto.FLOAT, "float16": TensorProto.FLOAT16, "float64": TensorProto.DOUBLE,
     "int8": TensorProto.INT8, "int16": TensorProto.INT16, "int32": TensorProto.INT32, "int64": TensorProto.INT64,
     "uint8": TensorProto.UINT8, "uint32": TensorProto.UINT32, "uint64": TensorProto.UINT64, "bool": TensorProto.BOOL}


def _model(nodes, inputs: dict[str, tuple[str, tuple]], outputs: dict[str, tuple[str, tuple]], opset: int = 21,
           inits: dict[str, np.ndarray] | None = None) -> onnx.ModelProto:
    ins = [helper.make_tensor_value_info(n, T[d], s) for n, (d, s) in inputs.items()]
    outs = [helper.make_tensor_value_info(n, T[d], s) for n, (d, s) in outputs.items()]
    init = [numpy_helper.from_array(np.asarray(a), n) for n, a in (inits or {}).items()]
    m = helper.make_model(helper.make_graph(nodes, "t", ins, outs, initializer=init),
                          opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 10
    return m


def check(m: onnx.ModelProto, feeds: dict[str, np.ndarray], rtol: float = 1e-5, atol: float = 1e-6,
          compare: tuple[str, ...] | None = None) -> None:
    """Runs ``m`` on webgpu: every op native, outputs equal to the reference (floats within rtol/atol)."""
    names = [i.name for i in m.graph.input]
    rep = onnx_backend.make_backend("webgpu").prepare(m)
    got = rep.run([feeds[n] for n in names])
    placement = onnx_backend.last_placement or {}
    assert placement.get("fallback") == 0 and placement.get("native", 0) > 0, placement
    want = ReferenceEvaluator(m).run(None, feeds)
    for out, g, w in zip(m.graph.output, got, want):
        if compare is not None and out.name not in compare:
            continue
        g, w = np.asarray(g), np.asarray(w)
        assert g.shape == w.shape and g.dtype == w.dtype, (out.name, g.shape, w.shape, g.dtype, w.dtype)
        if np.issubdtype(w.dtype, np.floating):
            np.testing.assert_allclose(g.astype(np.float64), w.astype(np.float64), rtol=rtol, atol=atol, err_msg=out.name)
        else:
            np.testing.assert_array_equal(g, w, err_msg=out.name)


def test_shift_cast_bitcast_pow_mod():
    nodes = [helper.make_node("BitShift", ["a8", "s8"], ["shl8"], direction="LEFT"),
             helper.make_node("BitShift", ["a8", "s8"], ["shr8"], direction="RIGHT"),
             helper.make_node("BitShift", ["a32", "s32"], ["shl32"], direction="LEFT"),
             helper.make_node("BitShift", ["a32", "s32"], ["shr32"], direction="RIGHT"),
             helper.make_node("Cast", ["f"], ["f2u8"], to=TensorProto.UINT8),
             helper.make_node("Cast", ["f"], ["f2i16"], to=TensorProto.INT16),
             helper.make_node("Cast", ["a32"], ["i2u8"], to=TensorProto.UINT8),
             helper.make_node("Cast", ["f"], ["f2h"], to=TensorProto.FLOAT16),
             helper.make_node("Cast", ["ties"], ["t2h"], to=TensorProto.FLOAT16),
             helper.make_node("Cast", ["f"], ["f2d"], to=TensorProto.DOUBLE),
             helper.make_node("Cast", ["d"], ["d2f"], to=TensorProto.FLOAT),
             helper.make_node("Cast", ["h"], ["h2f"], to=TensorProto.FLOAT),
             helper.make_node("BitCast", ["f"], ["f2bits"], to=TensorProto.INT32),
             helper.make_node("BitCast", ["a8"], ["i8u8"], to=TensorProto.UINT8),
             helper.make_node("Pow", ["p", "e"], ["ipow"]),
             helper.make_node("Pow", ["f", "e"], ["fpow"]),
             helper.make_node("Mod", ["f", "g"], ["mod0"], fmod=0),
             helper.make_node("Mod", ["f", "g"], ["mod1"], fmod=1),
             helper.make_node("Max", ["h", "h2"], ["hmax"]),
             helper.make_node("Add", ["h", "h2"], ["hadd"]),
             helper.make_node("Max", ["w", "w2"], ["wsub"]),  # (uint64 Sub stays on the CPU: it can wrap)
             helper.make_node("Gelu", ["f"], ["gelu"], approximate="tanh")]
    n = 8
    m = _model(nodes,
               {"a8": ("int8", (n,)), "s8": ("int8", (n,)), "a32": ("int32", (n,)), "s32": ("int32", (n,)),
                "f": ("float32", (n,)), "g": ("float32", (n,)), "d": ("float64", (n,)), "h": ("float16", (n,)),
                "h2": ("float16", (n,)), "p": ("int32", (n,)), "e": ("int32", (n,)), "w": ("uint64", (n,)),
                "w2": ("uint64", (n,)), "ties": ("float32", (n,))},
               {"shl8": ("int8", (n,)), "shr8": ("int8", (n,)), "shl32": ("int32", (n,)), "shr32": ("int32", (n,)),
                "f2u8": ("uint8", (n,)), "f2i16": ("int16", (n,)), "i2u8": ("uint8", (n,)), "f2h": ("float16", (n,)), "t2h": ("float16", (n,)),
                "f2d": ("float64", (n,)), "d2f": ("float32", (n,)), "h2f": ("float32", (n,)), "f2bits": ("int32", (n,)),
                "i8u8": ("uint8", (n,)), "ipow": ("int32", (n,)), "fpow": ("float32", (n,)), "mod0": ("float32", (n,)),
                "mod1": ("float32", (n,)), "hmax": ("float16", (n,)), "hadd": ("float16", (n,)),
                "wsub": ("uint64", (n,)), "gelu": ("float32", (n,))}, opset=26)
    feeds = {"a8": np.array([-128, -8, -1, 0, 1, 4, 64, 127], np.int8),
             "s8": np.array([1, 8, 127, -1, 7, 9, 1, 0], np.int8),
             "a32": np.array([-2 ** 31, -8, -1, 0, 1, 300, 1 << 30, 2 ** 31 - 1], np.int32),
             "s32": np.array([1, 32, 100, -1, 31, 4, 1, 0], np.int32),
             "f": np.array([-4.3, 7.2, 5.0, 300.7, -7.2, 0.5, 1e-3, 65519.0], np.float32),
             "g": np.array([2.1, -3.4, 8.0, -2.1, 3.4, -0.25, 7.0, 3.0], np.float32),
             "d": np.array([0.1, -1 / 3, 1e30, 2.5, -0.0, 1e-40, 123456789.123, 7.0], np.float64),
             "h": np.array([0.1, -2.5, 1000, 65504, -0.0, 3.14, 1e-7, -7], np.float16),
             "h2": np.array([0.2, -2.25, 0.5, 16, 1e-3, -3.14, 1e-7, 7], np.float16),
             "p": np.array([2, -3, 5, 0, 1, -1, 7, 2], np.int32), "e": np.array([10, 3, 0, 4, 2, 5, 2, 1], np.int32),
             "w": np.array([5, 10, 4000000000, 7, 0, 1, 2, 3], np.uint64),
             "w2": np.array([3, 10, 1, 0, 0, 1, 1, 3], np.uint64),
             # float16 ties (to even), subnormal ties, the overflow edge
             "ties": np.array([1 + 2 ** -11, 1 + 3 * 2 ** -11, -(2 ** -25), 3 * 2 ** -25, 65519.99, 65520.0,
                               2 ** -14 + 2 ** -25, 1 + 2 ** -11 + 2 ** -20], np.float32)}
    check(m, feeds, rtol=1e-4, atol=1e-5)


def test_shape_fill_dropout_ops():
    nodes = [helper.make_node("Shape", ["x"], ["shape"], start=1),
             helper.make_node("Size", ["x"], ["size"]),
             helper.make_node("ConstantOfShape", ["cs"], ["fill"], value=numpy_helper.from_array(np.array([7], np.int32))),
             helper.make_node("EyeLike", ["x2"], ["eye"], k=1),
             helper.make_node("Dropout", ["x", "ratio"], ["drop", "mask"])]
    m = _model(nodes, {"x": ("float32", (2, 3, 4)), "x2": ("float32", (3, 5)), "ratio": ("float32", ())},
               {"shape": ("int64", (2,)), "size": ("int64", ()), "fill": ("int32", (2, 3)), "eye": ("float32", (3, 5)),
                "drop": ("float32", (2, 3, 4)), "mask": ("bool", (2, 3, 4))},
               inits={"cs": np.array([2, 3], np.int64)})
    check(m, {"x": RNG.standard_normal((2, 3, 4)).astype(np.float32), "x2": np.zeros((3, 5), np.float32),
              "ratio": np.array(0.3, np.float32)})


def test_scatter_ops():
    nodes = [helper.make_node("ScatterElements", ["d", "ie", "ue"], ["se"], axis=1, reduction="add"),
             helper.make_node("ScatterElements", ["d", "ie", "ue"], ["se_none"], axis=1),
             helper.make_node("ScatterND", ["d", "ind", "und"], ["snd"]),
             helper.make_node("ScatterND", ["d", "ind", "und"], ["snd_max"], reduction="max"),
             helper.make_node("TensorScatter", ["cache", "upd", "wi"], ["ts"], mode="circular")]
    m = _model(nodes, {"d": ("float32", (3, 5)), "ie": ("int64", (3, 2)), "ue": ("float32", (3, 2)),
                       "ind": ("int64", (2, 1)), "und": ("float32", (2, 5)),
                       "cache": ("float32", (2, 1, 4, 3)), "upd": ("float32", (2, 1, 2, 3)), "wi": ("int64", (2,))},
               {"se": ("float32", (3, 5)), "se_none": ("float32", (3, 5)), "snd": ("float32", (3, 5)),
                "snd_max": ("float32", (3, 5)), "ts": ("float32", (2, 1, 4, 3))}, opset=24)
    feeds = {"d": RNG.standard_normal((3, 5)).astype(np.float32),
             "ie": np.array([[0, 4], [-1, -1], [2, 2]], np.int64), "ue": RNG.standard_normal((3, 2)).astype(np.float32),
             "ind": np.array([[2], [-3]], np.int64), "und": RNG.standard_normal((2, 5)).astype(np.float32),
             "cache": RNG.standard_normal((2, 1, 4, 3)).astype(np.float32),
             "upd": RNG.standard_normal((2, 1, 2, 3)).astype(np.float32), "wi": np.array([3, 1], np.int64)}
    # se_none has duplicate indices (row 2): ONNX leaves the winner open, the kernel keeps the last like the reference
    check(m, feeds)


def test_select_ops():
    nodes = [helper.make_node("OneHot", ["idx", "depth", "vals"], ["oh"], axis=0),
             helper.make_node("Compress", ["x", "cond"], ["cx"], axis=1),
             helper.make_node("ReverseSequence", ["x", "lens"], ["rs"], batch_axis=0, time_axis=1),
             helper.make_node("MaxUnpool", ["mu", "mi"], ["unpool"], kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("Det", ["mats"], ["det"]),
             helper.make_node("NonZero", ["x01"], ["nz"])]
    m = _model(nodes, {"idx": ("int64", (4,)), "depth": ("int64", ()), "vals": ("float32", (2,)),
                       "x": ("float32", (3, 4)), "cond": ("bool", (4,)), "lens": ("int64", (3,)),
                       "mu": ("float32", (1, 1, 2, 2)), "mi": ("int64", (1, 1, 2, 2)), "mats": ("float32", (3, 4, 4)),
                       "x01": ("int32", (2, 3))},
               {"oh": ("float32", (5, 4)), "cx": ("float32", (3, 2)), "rs": ("float32", (3, 4)),
                "unpool": ("float32", (1, 1, 4, 4)), "det": ("float32", (3,)), "nz": ("int64", (2, 3))})
    feeds = {"idx": np.array([0, 4, -1, 7], np.int64), "depth": np.array(5, np.int64),
             "vals": np.array([-1.0, 2.0], np.float32), "x": RNG.standard_normal((3, 4)).astype(np.float32),
             "cond": np.array([False, True, False, True]), "lens": np.array([4, 1, 3], np.int64),
             "mu": np.array([[[[5, 6], [7, 8]]]], np.float32), "mi": np.array([[[[5, 7], [13, 15]]]], np.int64),
             "mats": RNG.standard_normal((3, 4, 4)).astype(np.float32),
             "x01": np.array([[0, 3, 0], [-1, 0, 2]], np.int32)}  # 3 nonzeros: the declared output shape
    check(m, feeds, rtol=1e-4, atol=1e-5)


def test_col2im_batchnorm_runtime_params():
    nodes = [helper.make_node("Col2Im", ["cols", "img", "blk"], ["im"], strides=[2, 1], pads=[1, 0, 1, 1]),
             helper.make_node("BatchNormalization", ["bx", "s", "b", "mean", "var"], ["bn"], epsilon=1e-3),
             helper.make_node("BatchNormalization", ["bx", "s", "b", "mean", "var"], ["bnt", "rm", "rv"],
                              training_mode=1, momentum=0.8),
             helper.make_node("Slice", ["x", "st", "en", "ax", "sp"], ["sl"]),
             helper.make_node("Pad", ["xi", "pads"], ["pw"], mode="wrap"),
             helper.make_node("Pad", ["xi", "pads"], ["pr"], mode="reflect"),
             helper.make_node("Tile", ["x", "reps"], ["tl"])]
    # Col2Im: image 5x4, block 2x2, strides (2, 1), pads (1, 0) / (1, 1) -> 3 x 4 columns
    m = _model(nodes, {"cols": ("float32", (1, 8, 12)), "img": ("int64", (2,)), "blk": ("int64", (2,)),
                       "bx": ("float32", (2, 3, 4)), "s": ("float32", (3,)), "b": ("float32", (3,)),
                       "mean": ("float32", (3,)), "var": ("float32", (3,)),
                       "x": ("float32", (4, 6)), "st": ("int64", (2,)), "en": ("int64", (2,)), "ax": ("int64", (2,)),
                       "sp": ("int64", (2,)), "xi": ("int32", (2, 3)), "pads": ("int64", (4,)), "reps": ("int64", (2,))},
               {"im": ("float32", (1, 2, 5, 4)), "bn": ("float32", (2, 3, 4)), "bnt": ("float32", (2, 3, 4)),
                "rm": ("float32", (3,)), "rv": ("float32", (3,)), "sl": ("float32", (2, 2)),
                "pw": ("int32", (6, 6)), "pr": ("int32", (6, 6)), "tl": ("float32", (8, 12))}, opset=18)
    feeds = {"cols": RNG.standard_normal((1, 8, 12)).astype(np.float32), "img": np.array([5, 4], np.int64),
             "blk": np.array([2, 2], np.int64), "bx": RNG.standard_normal((2, 3, 4)).astype(np.float32),
             "s": np.array([1.0, 0.5, 2.0], np.float32), "b": np.array([0.0, 1.0, -1.0], np.float32),
             "mean": np.array([0.1, -0.2, 0.3], np.float32), "var": np.array([1.0, 0.5, 2.0], np.float32),
             "x": RNG.standard_normal((4, 6)).astype(np.float32), "st": np.array([-1, 1], np.int64),
             "en": np.array([-100, 5], np.int64), "ax": np.array([0, -1], np.int64), "sp": np.array([-2, 3], np.int64),
             "xi": np.arange(6, dtype=np.int32).reshape(2, 3), "pads": np.array([1, 2, 3, 1], np.int64),
             "reps": np.array([2, 2], np.int64)}
    check(m, feeds, rtol=1e-4, atol=1e-5)


def test_inexact_forms_stay_on_the_cpu(tmp_path):
    """Forms the GPU cannot compute exactly run on the CPU (plan only; no adapter needed for the build)."""
    nodes = [helper.make_node("Max", ["d", "d"], ["dmax"]),                                  # float64 arithmetic
             helper.make_node("Cast", ["d"], ["d2h"], to=TensorProto.FLOAT16),                 # rounds twice
             helper.make_node("Cast", ["a32"], ["i2u64"], to=TensorProto.UINT64),              # negative -> 2^64 - x
             helper.make_node("Cast", ["a32"], ["i2f"], to=TensorProto.FLOAT),
             helper.make_node("BitCast", ["i2f"], ["bits"], to=TensorProto.INT32)]             # f32 bits under f16
    m = _model(nodes, {"d": ("float64", (4,)), "a32": ("int32", (4,))},
               {"dmax": ("float64", (4,)), "d2h": ("float16", (4,)), "i2u64": ("uint64", (4,)), "bits": ("int32", (4,))},
               opset=26)
    for precision, cpu_ops in (("f32", {"Max", "Cast"}), ("f16", {"Max", "Cast", "BitCast"})):
        (tmp_path / precision).mkdir()
        _, plan = build(tmp_path / precision, m, {"precision": precision})
        cpu = [s["cpu"]["op"] for s in plan["steps"] if "cpu" in s]
        gpu = [s["gpu"]["op"] for s in plan["steps"] if "gpu" in s]
        assert set(cpu) == cpu_ops and cpu.count("Cast") == 2, (precision, cpu, gpu)


def test_odd_workgroups_on_wgpu_py(tmp_path):
    """Scatter/select kernels on the wgpu-py plan executor with odd workgroup sizes and folded dispatches,
    against onnxruntime."""
    from .test_index_ops import on_wgpu_py
    nodes = [helper.make_node("ScatterElements", ["d", "ie", "ue"], ["se"], axis=0, reduction="mul"),
             helper.make_node("ScatterND", ["d", "ind", "und"], ["snd"]),
             helper.make_node("OneHot", ["oi", "depth", "vals"], ["oh"]),
             helper.make_node("ReverseSequence", ["d", "lens"], ["rs"], batch_axis=1, time_axis=0),
             helper.make_node("Tile", ["d", "reps"], ["tl"])]
    m = _model(nodes, {"d": ("float32", (6, 5)), "ie": ("int64", (2, 5)), "ue": ("float32", (2, 5)),
                       "ind": ("int64", (3, 2)), "und": ("float32", (3,)), "oi": ("int64", (7,)),
                       "depth": ("int64", ()), "vals": ("float32", (2,)), "lens": ("int64", (5,)),
                       "reps": ("int64", (2,))},
               {"se": ("float32", (6, 5)), "snd": ("float32", (6, 5)), "oh": ("float32", (7, 9)),
                "rs": ("float32", (6, 5)), "tl": ("float32", (12, 15))}, opset=18)
    feeds = {"d": RNG.standard_normal((6, 5)).astype(np.float32), "ie": RNG.integers(-6, 6, (2, 5)).astype(np.int64),
             "ue": RNG.standard_normal((2, 5)).astype(np.float32), "ind": np.array([[0, 1], [5, -1], [2, 2]], np.int64),
             "und": np.array([1.0, 2.0, 3.0], np.float32), "oi": np.array([0, 8, -1, -9, 3, 9, 4], np.int64),
             "depth": np.array(9, np.int64), "vals": np.array([0.5, -2.0], np.float32),
             "lens": np.array([6, 1, 0, 3, 2], np.int64), "reps": np.array([2, 3], np.int64)}
    on_wgpu_py(tmp_path, m, feeds)


def test_float16_uint64_constants():
    """float16 and uint64 initializers reach the GPU (as f32 / u32) with their values."""
    nodes = [helper.make_node("Add", ["h", "c"], ["y"]), helper.make_node("Concat", ["h", "c2"], ["z"], axis=0),
             helper.make_node("Max", ["w", "cu"], ["wu"])]  # (uint64 Add stays on the CPU: it can wrap)
    m = _model(nodes, {"h": ("float16", (4,)), "w": ("uint64", (4,))},
               {"y": ("float16", (4,)), "z": ("float16", (8,)), "wu": ("uint64", (4,))},
               inits={"c": np.array([0.5, -1.25, 1000, 3.140625], np.float16),
                      "c2": np.array([1, 2, 3, 4.5], np.float16), "cu": np.array([1, 2, 3, 4000000000], np.uint64)})
    check(m, {"h": np.array([1, 2, 3, 4], np.float16), "w": np.array([1, 2, 3, 4], np.uint64)})


def test_split_concat_with_empty_parts():
    """An empty Split part read only by a Concat (the partial-rotation form of RotaryEmbedding) stays on the GPU:
    neither kernel binds it."""
    nodes = [helper.make_node("Split", ["x", "sizes"], ["a", "empty"], axis=1),
             helper.make_node("Neg", ["a"], ["na"]),
             helper.make_node("Concat", ["na", "empty", "zero"], ["y"], axis=1)]
    m = _model(nodes, {"x": ("float32", (2, 5))}, {"y": ("float32", (2, 5))}, opset=18,
               inits={"sizes": np.array([5, 0], np.int64), "zero": np.zeros((2, 0), np.float32)})
    check(m, {"x": RNG.standard_normal((2, 5)).astype(np.float32)})
