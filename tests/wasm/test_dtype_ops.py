"""Kernels for every stored dtype and for run-time operands (csrc/numeric.c, csrc/shapeops.c) run natively on wasm
and match onnxruntime (verify's tolerances; integer results exactly): Cast / BitCast between all numeric dtypes, Transpose of any dtype,
broadcasting arithmetic and comparisons on int8..uint64 / float16 / float64, variadic Max / Min / Sum / Mean, float
Mod, mixed-dtype Pow, trigonometric functions, Shape / Size / Slice / Pad / Split / Tile / ConstantOfShape with
run-time operands, the scatter family, OneHot, Compress, Unique, NonZero, GatherElements of rank 7, Det, BatchNormalization with run-time statistics,
ReverseSequence, Col2Im, MaxUnpool, Dropout's mask."""

from __future__ import annotations

import numpy as np
from onnx import TensorProto, helper

from .verify_helper import verify_on_wasm

RNG = np.random.default_rng(23)


def _ints(dtype, shape, lo, hi):
    return RNG.integers(lo, hi, shape, endpoint=True).astype(dtype)


def test_cast_bitcast(tmp_path):
    x = np.concatenate([RNG.standard_normal(60) * 100, [0.0, -0.0, 65504, 65519, -1e-8, 1e-5, 3e-7, 2049]]
                       ).astype(np.float32)
    xi = _ints(np.int64, (6, 7), -30000, 30000)
    to = {"h": TensorProto.FLOAT16, "d": TensorProto.DOUBLE}
    nodes = [helper.make_node("Cast", ["x"], [k], to=v) for k, v in to.items()]
    nodes += [helper.make_node("Cast", ["h"], ["hd"], to=TensorProto.DOUBLE),
              helper.make_node("Cast", ["d"], ["dh"], to=TensorProto.FLOAT16),
              helper.make_node("Cast", ["xi"], ["i16"], to=TensorProto.INT16),
              helper.make_node("Cast", ["i16"], ["u16"], to=TensorProto.UINT16),
              helper.make_node("Cast", ["xi"], ["u32"], to=TensorProto.UINT32),
              helper.make_node("Cast", ["u32"], ["f"], to=TensorProto.FLOAT),
              helper.make_node("Cast", ["xi"], ["u64"], to=TensorProto.UINT64),
              helper.make_node("Cast", ["u64"], ["dd"], to=TensorProto.DOUBLE),
              helper.make_node("BitCast", ["d"], ["bits"], to=TensorProto.INT64),
              helper.make_node("BitCast", ["u16"], ["s16"], to=TensorProto.INT16),
              helper.make_node("Transpose", ["xi"], ["xt"]), helper.make_node("Transpose", ["u16"], ["u16t"])]
    n = x.shape
    verify_on_wasm(tmp_path, nodes, {"x": x, "xi": xi},
                   {"h": ("float16", n), "d": ("float64", n), "hd": ("float64", n), "dh": ("float16", n),
                    "i16": ("int16", xi.shape), "u16": ("uint16", xi.shape), "u32": ("uint32", xi.shape),
                    "f": ("float32", xi.shape), "u64": ("uint64", xi.shape), "dd": ("float64", xi.shape),
                    "bits": ("int64", n), "s16": ("int16", xi.shape), "xt": ("int64", (7, 6)),
                    "u16t": ("uint16", (7, 6))}, opset=26)


def test_int_arithmetic_compare(tmp_path):
    feeds, outs, nodes = {}, {}, []
    for dt, lo, hi in [("int8", -11, 11), ("uint8", 0, 15), ("int16", -150, 150), ("uint16", 0, 250),
                       ("uint32", 0, 60000), ("uint64", 0, 10 ** 9)]:
        a, b = _ints(dt, (3, 1, 5), lo, hi), _ints(dt, (4, 5), max(lo, 1), hi)
        feeds[f"a_{dt}"], feeds[f"b_{dt}"] = a, b
        for op in ("Add", "Sub", "Mul", "Div", "Max", "Min", "Equal", "Greater", "Less"):
            if op in ("Sub",) and dt.startswith("u"):
                continue  # no wrap-around checks against onnxruntime
            if (dt in ("int8", "uint8") and op in ("Add", "Mul")) or (dt in ("int16", "uint16") and op in ("Max", "Min")):
                continue  # overflow / not in onnxruntime
            name = f"{op.lower()}_{dt}"
            nodes.append(helper.make_node(op, [f"a_{dt}", f"b_{dt}"], [name]))
            outs[name] = ("bool" if op in ("Equal", "Greater", "Less") else dt, (3, 4, 5))
    verify_on_wasm(tmp_path, nodes, feeds, outs, opset=14)


def test_float_dtypes_variadic_mod_pow(tmp_path):
    a = RNG.standard_normal((3, 4)) * 5
    b = RNG.standard_normal((4,)) * 3
    c = RNG.standard_normal((2, 1, 4))
    feeds = {"a": a, "b": b, "c": c, "h": a.astype(np.float16), "g": b.astype(np.float16),
             "af": a.astype(np.float32), "bf": b.astype(np.float32), "cf": c.astype(np.float32),
             "xf": np.abs(a).astype(np.float32) + 0.5, "ei": _ints(np.int64, (4,), 0, 4),
             "xi": _ints(np.int32, (3, 4), -5, 5), "yi": _ints(np.int32, (3, 4), 0, 5)}
    nodes = [helper.make_node("Add", ["a", "b"], ["add"]), helper.make_node("Max", ["a", "b", "c"], ["max3"]),
             helper.make_node("Min", ["h", "g"], ["minh"]), helper.make_node("Sum", ["a", "b", "c"], ["sum3"]),
             helper.make_node("Mean", ["af", "bf", "cf"], ["mean3"]), helper.make_node("Max", ["a"], ["max1"]),
             helper.make_node("Mod", ["a", "b"], ["fmod"], fmod=1), helper.make_node("Mod", ["h", "g"], ["mod"], fmod=1),
             helper.make_node("Pow", ["xf", "ei"], ["pfi"]), helper.make_node("Pow", ["xi", "yi"], ["pii"]),
             helper.make_node("Clip", ["xi", "lo", "hi"], ["clip"])]
    unary = ("Sqrt", "Exp", "Log", "Neg", "Abs", "Floor", "Ceil", "Round", "Reciprocal")
    nodes += [helper.make_node(op, ["pos"], [f"u_{op.lower()}"]) for op in unary]
    nodes += [helper.make_node("Neg", ["i8"], ["neg8"]), helper.make_node("Abs", ["i8"], ["abs8"]),
              helper.make_node("Sign", ["i8"], ["sign8"])]
    feeds["lo"], feeds["hi"] = np.array(-2, np.int32), np.array(3, np.int32)
    feeds["pos"] = np.abs(a) * 3 + 0.25
    feeds["i8"] = _ints(np.int8, (3, 4), -127, 127)
    outs = {"add": ("float64", (3, 4)), "max3": ("float64", (2, 3, 4)), "minh": ("float16", (3, 4)),
            "sum3": ("float64", (2, 3, 4)), "mean3": ("float32", (2, 3, 4)), "max1": ("float64", (3, 4)),
            "fmod": ("float64", (3, 4)), "mod": ("float16", (3, 4)), "pfi": ("float32", (3, 4)),
            "pii": ("int32", (3, 4)), "clip": ("int32", (3, 4)), "neg8": ("int8", (3, 4)), "abs8": ("int8", (3, 4)),
            "sign8": ("int8", (3, 4)), **{f"u_{op.lower()}": ("float64", (3, 4)) for op in unary}}
    verify_on_wasm(tmp_path, nodes, feeds, outs, opset=15)


def test_trig(tmp_path):
    x = np.concatenate([RNG.uniform(-0.99, 0.99, 100), [0.0, -0.0, 0.5, -1e-4]]).astype(np.float32)
    big = np.concatenate([RNG.standard_normal(100) * 20, [1e4, -3e5, 1e7]]).astype(np.float32)
    xa = (np.abs(x) * 10 + 1).astype(np.float32)
    ops = {"Asin": "x", "Acos": "x", "Atan": "big", "Sinh": "x", "Cosh": "x", "Asinh": "big", "Acosh": "xa",
           "Atanh": "x", "Sin": "big", "Cos": "big", "Tan": "x"}
    nodes = [helper.make_node(op, [src], [op.lower()]) for op, src in ops.items()]
    shapes = {"x": x.shape, "big": big.shape, "xa": xa.shape}
    verify_on_wasm(tmp_path, nodes, {"x": x, "big": big, "xa": xa},
                   {op.lower(): ("float32", shapes[src]) for op, src in ops.items()}, opset=13)


def test_runtime_shape_operands(tmp_path):
    x = RNG.standard_normal((4, 6, 5)).astype(np.float32)
    feeds = {"x": x, "starts": np.array([1, -1], np.int64), "ends": np.array([4, -7], np.int64),
             "axes": np.array([0, 2], np.int64), "steps": np.array([2, -2], np.int64),
             "pads": np.array([0, 1, 2, 0, 2, 1], np.int64), "split": np.array([2, 4], np.int64),
             "reps": np.array([2, 1, 3], np.int64), "shp": np.array([2, 3], np.int64)}
    nodes = [helper.make_node("Slice", ["x", "starts", "ends", "axes", "steps"], ["sl"]),
             helper.make_node("Pad", ["x", "pads"], ["pr"], mode="reflect"),
             helper.make_node("Pad", ["x", "pads"], ["pe"], mode="edge"),
             helper.make_node("Split", ["x", "split"], ["s0", "s1"], axis=1),
             helper.make_node("Tile", ["x", "reps"], ["t"]),
             helper.make_node("ConstantOfShape", ["shp"], ["c"], value=helper.make_tensor("v", TensorProto.INT32, [1], [7])),
             helper.make_node("Shape", ["x"], ["sh"], start=1), helper.make_node("Size", ["x"], ["sz"]),
             helper.make_node("EyeLike", ["t"], ["eye"], k=1)]
    outs = {"sl": ("float32", (2, 6, 3)), "pr": ("float32", (4, 9, 8)), "pe": ("float32", (4, 9, 8)),
            "s0": ("float32", (4, 2, 5)), "s1": ("float32", (4, 4, 5)), "t": ("float32", (8, 6, 15)),
            "c": ("int32", (2, 3)), "sh": ("int64", (2,)), "sz": ("int64", ()), "eye": ("float32", (8, 6, 15))}
    # EyeLike needs a 2-D input: feed a separate one
    nodes[-1] = helper.make_node("EyeLike", ["c"], ["eye"], k=1, dtype=TensorProto.DOUBLE)
    outs["eye"] = ("float64", (2, 3))
    verify_on_wasm(tmp_path, nodes, feeds, outs, opset=18, threads=2)


def test_scatter_onehot_compress(tmp_path):
    data = RNG.standard_normal((4, 5, 3)).astype(np.float32)
    idx_nd = np.array([[1], [3], [1]], np.int64)
    upd_nd = RNG.standard_normal((3, 5, 3)).astype(np.float32)
    d2 = RNG.standard_normal((3, 6)).astype(np.float32)
    idx_el = np.array([[1, -1, 2], [0, 0, 5], [4, 3, 3]], np.int64)
    upd_el = RNG.standard_normal((3, 3)).astype(np.float32)
    feeds = {"data": data, "idx_nd": idx_nd, "upd_nd": upd_nd, "d2": d2, "idx_el": idx_el, "upd_el": upd_el,
             "ind": np.array([[0, 2, -1], [5, 1, 3]], np.int64), "depth": np.array(4, np.int64),
             "vals": np.array([2, 9], np.int64), "cond": np.array([True, False, True, True]),
             "u": np.array([4, 2, 9, 2, 4, 4, 7], np.int64), "nzx": np.array([[0, 3, 0], [1, 0, 2]], np.int32),
             "g7": RNG.standard_normal((2, 3, 2, 2, 1, 2, 3)).astype(np.float32),
             "gi7": _ints(np.int64, (2, 1, 2, 2, 1, 2, 3), -3, 2)}
    nodes = [helper.make_node("ScatterND", ["data", "idx_nd", "upd_nd"], ["snd"], reduction="add"),
             helper.make_node("ScatterElements", ["d2", "idx_el", "upd_el"], ["sel"], axis=1, reduction="max"),
             helper.make_node("OneHot", ["ind", "depth", "vals"], ["oh"], axis=1),
             helper.make_node("Compress", ["data", "cond"], ["cmp"], axis=0),
             helper.make_node("Unique", ["u"], ["uy", "ui", "uinv", "uc"], sorted=1),
             helper.make_node("NonZero", ["nzx"], ["nz"]),
             helper.make_node("GatherElements", ["g7", "gi7"], ["ge7"], axis=1)]  # rank 7: merged to 3
    outs = {"snd": ("float32", data.shape), "sel": ("float32", d2.shape), "oh": ("int64", (2, 4, 3)),
            "cmp": ("float32", (3, 5, 3)), "uy": ("int64", (4,)), "ui": ("int64", (4,)), "uinv": ("int64", (7,)),
            "uc": ("int64", (4,)), "nz": ("int64", (2, 3)), "ge7": ("float32", (2, 1, 2, 2, 1, 2, 3))}
    verify_on_wasm(tmp_path, nodes, feeds, outs, opset=18, threads=2)


def test_det_batchnorm_revseq_col2im(tmp_path):
    m = RNG.standard_normal((3, 4, 4)).astype(np.float32)
    x = RNG.standard_normal((2, 3, 4, 5)).astype(np.float32)
    stats = {k: RNG.standard_normal(3).astype(np.float32) for k in ("s", "b", "mu")}
    stats["var"] = RNG.uniform(0.5, 2, 3).astype(np.float32)
    seq = RNG.standard_normal((5, 4, 2)).astype(np.float32)
    cols = RNG.standard_normal((1, 6, 9)).astype(np.float32)
    feeds = {"m": m, "x": x, **stats, "seq": seq, "lens": np.array([5, 1, 3, 0], np.int64), "cols": cols,
             "img": np.array([4, 5], np.int64), "blk": np.array([2, 3], np.int64)}
    nodes = [helper.make_node("Det", ["m"], ["det"]),
             helper.make_node("BatchNormalization", ["x", "s", "b", "mu", "var"], ["bn"], epsilon=1e-3),
             helper.make_node("ReverseSequence", ["seq", "lens"], ["rs"], batch_axis=1, time_axis=0),
             helper.make_node("Col2Im", ["cols", "img", "blk"], ["im"]),
             helper.make_node("MaxUnpool", ["pv", "pi"], ["unp"], kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("Dropout", ["x"], ["dr", "mask"])]
    feeds["pv"] = RNG.standard_normal((1, 2, 2, 2)).astype(np.float32)
    feeds["pi"] = np.array([[[[0, 3], [9, 14]], [[17, 18], [24, 31]]]], np.int64)
    outs = {"det": ("float32", (3,)), "bn": ("float32", x.shape), "rs": ("float32", seq.shape),
            "im": ("float32", (1, 1, 4, 5)), "unp": ("float32", (1, 2, 4, 4)), "dr": ("float32", x.shape),
            "mask": ("bool", x.shape)}
    verify_on_wasm(tmp_path, nodes, feeds, outs, opset=18, threads=2)
