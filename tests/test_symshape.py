"""Symbolic dims (webdnn_build.symshape): the Expr algebra and its canonical form, the text form and its parser
(untrusted names refused), and shape inference over open dims checked against the shapes onnxruntime computes:
shape arithmetic, Slice and pooling edge cases, a BERT encoder exported with a dynamic sequence axis (every value
gets a full symbolic shape) and a CNN at two image sizes."""

from __future__ import annotations

import copy
import itertools
import pickle
import random

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from webdnn_build.cli import parse_input_shape
from webdnn_build.compiler import BuildOptions, import_model, run_passes
from webdnn_build.ir import Graph, Node, Value, value_kind
from webdnn_build.plugins import get_host
from webdnn_build.registry import PassContext
from webdnn_build.symshape import (MAX_NESTING, Expr, as_expr, bounds, dim, evaluate, floordiv, infer_symbolic_shapes,
                                   mod, parse_expr, smax, smin, to_json)

from .helpers import import_or_require, save_model

seq, h, w = as_expr("seq"), as_expr("h"), as_expr("w")
INT64_MAX = np.iinfo(np.int64).max


# -- the algebra ---------------------------------------------------------------------------------------------------

def test_canonical_equality():
    assert seq * 1 + 0 == "seq" and "seq" == seq * 1 + 0
    assert (seq + 1) + 1 == seq + 2
    assert 2 * seq - seq == seq
    assert (seq + h) * (seq - h) == seq * seq - h * h
    assert seq - seq == 0 and (seq + 3) - seq == 3
    assert 3 + seq == seq + 3 and h * seq * 2 == 2 * seq * h
    assert seq + 1 != seq and seq not in ("h", 1.0, None, "Seq")
    # equal to an int or a name: one dict key, one set member
    assert hash(seq * 1) == hash("seq") and hash(seq - seq + 7) == hash(7)
    assert len({seq, "seq", seq + 0, 2 * seq - seq}) == 1 and {"seq": 1}[seq * 1] == 1
    assert len({seq + 1, 1 + seq, seq + 2 - 1}) == 1


def test_copy_and_pickle():
    e = smax(floordiv(seq + 1, 2), h) * seq
    assert copy.deepcopy(e) == e and pickle.loads(pickle.dumps(e)) == e and copy.copy(e) is not None
    with pytest.raises(AttributeError):
        e.terms = ()


def test_dim_keeps_ints_and_names():
    assert dim(seq * 1 + 0) == "seq" and type(dim(seq * 1 + 0)) is str
    assert dim(seq - seq + 4) == 4 and type(dim(seq - seq + 4)) is int
    assert isinstance(dim(seq + 1), Expr) and isinstance(dim(2 * seq), Expr)
    assert dim(5) == 5 and dim("h") == "h"
    with pytest.raises(TypeError):
        as_expr(1.5)


def test_floordiv_and_mod_simplify():
    assert floordiv(7, 2) == 3 and floordiv(-7, 2) == -4
    assert floordiv(seq, 1) == seq
    assert floordiv(2 * seq + 4, 2) == seq + 2
    assert floordiv(2 * seq + 3, 2) == seq + 1  # (2s + 3) // 2 = s + 3 // 2
    assert floordiv(3 * h + 1, 2) == h + floordiv(h + 1, 2)
    assert floordiv(h - 1, 2) + 1 == floordiv(h + 1, 2)
    assert floordiv(floordiv(h, 2), 3) == floordiv(h, 6)
    assert floordiv(h + 1, 2) != floordiv(h, 2)
    assert mod(4 * seq + 5, 4) == 1 and mod(seq, 1) == 0 and mod(-1, 4) == 3
    assert mod(3 * h + 5, 4) == mod(3 * h + 1, 4)
    for bad in (0, -2, seq):
        with pytest.raises(ValueError, match="positive integer"):
            floordiv(seq, bad)
        with pytest.raises(ValueError, match="positive integer"):
            mod(seq, bad)


def test_max_min_simplify():
    assert smax(3, 5) == 5 and smin(3, 5) == 3
    assert smax(seq, seq) == seq and smin(seq + 2, seq) == seq and smax(seq + 2, seq) == seq + 2
    assert smax(seq, h) == smax(h, seq) and smin(seq, 4) == smin(4, seq)
    assert smax(seq, h) != smin(seq, h)
    assert str(smax(seq, 1)) == "max(1, seq)"


def test_evaluate():
    sizes = {"seq": 7, "h": 20}
    assert evaluate(3, sizes) == 3 and evaluate("seq", sizes) == 7
    assert evaluate(seq * seq * h - 2 * seq + 1, sizes) == 7 * 7 * 20 - 13
    assert evaluate(floordiv(h + 1, 4) + mod(seq, 3), sizes) == 5 + 1
    assert evaluate(smax(seq, h) - smin(seq, 2), sizes) == 18
    with pytest.raises(ValueError, match="no size given for dim 'w'"):
        evaluate(w + 1, sizes)


def _random_expr(rng: random.Random, depth: int = 0):
    """A random expr built with the operators, and a function computing the same thing on ints."""
    if depth > 3 or rng.random() < 0.3:
        leaf = rng.choice([rng.randint(-5, 9), "seq", "h", "w", "seq-len.x", "max", "_1"])
        return as_expr(leaf), (lambda sizes: leaf) if isinstance(leaf, int) else (lambda sizes: sizes[leaf])
    (a, fa), (b, fb), k = _random_expr(rng, depth + 1), _random_expr(rng, depth + 1), rng.randint(1, 5)
    return rng.choice([
        (a + b, lambda z: fa(z) + fb(z)), (a - b, lambda z: fa(z) - fb(z)), (a * b, lambda z: fa(z) * fb(z)),
        (floordiv(a, k), lambda z: fa(z) // k), (mod(a, k), lambda z: fa(z) % k),
        (smax(a, b), lambda z: max(fa(z), fb(z))), (smin(a, b), lambda z: min(fa(z), fb(z)))])


def test_simplification_keeps_the_value():
    rng = random.Random(3)
    for _ in range(500):
        e, f = _random_expr(rng)
        for _ in range(3):
            sizes = {name: rng.randint(-7, 40) for name in ("seq", "h", "w", "seq-len.x", "max", "_1")}
            assert evaluate(e, sizes) == f(sizes), (e, sizes)


def test_text_round_trips():
    cases = [seq, seq + 1, 2 * seq - 3, -seq, -floordiv(h + 1, 2), 2 * floordiv(h + 1, 3) - floordiv(w, 2),
             mod(3 * h + 1, 4), seq * seq * h, smax(seq, 1) * smin(h, w), floordiv(smax(seq, h), 3), as_expr(0),
             as_expr(-12), as_expr("seq-len") - 1, floordiv(mod(h, 6), 2), as_expr("max") * 2 + smax("max", 3)]
    rng = random.Random(5)
    cases += [_random_expr(rng)[0] for _ in range(300)]
    sizes = {"seq": 11, "h": 6, "w": 3, "seq-len.x": 4, "max": 9, "_1": 2, "seq-len": 5}
    for e in cases:
        text = to_json(e)
        back = parse_expr(text)
        assert back == e, (text, back)
        assert to_json(back) == text and evaluate(back, sizes) == evaluate(e, sizes)
    assert to_json(floordiv(h + 1, 2) + 3) == "(h + 1) // 2 + 3"
    assert to_json(-floordiv(h + 1, 2)) == "-((h + 1) // 2)"
    assert to_json(as_expr("seq-len") - 1) == "seq-len - 1"  # a name may hold '-': binary minus is spaced


def test_parse_reads_what_people_write():
    assert parse_expr(" 2*seq+1 ") == 2 * seq + 1
    assert parse_expr("seq-1") == "seq-1"  # one name (names may contain '-')
    assert parse_expr("seq - -1") == seq + 1 and parse_expr("--seq") == seq
    assert parse_expr("-h // 2") == floordiv(-h, 2)  # unary minus binds tighter, as in Python
    assert parse_expr("(h + 3) // 2 % 5 * 2") == 2 * mod(floordiv(h + 3, 2), 5)
    assert parse_expr("max(seq, min(h, 3))") == smax(seq, smin(h, 3))
    assert parse_expr("max") == "max"  # a name unless it is called


@pytest.mark.parametrize("name", ["a b", "x);alert(1)//", "", "1x", "sé", "a" * 65, "seq\n", "$", "a/b", "max("])
def test_hostile_names_are_refused(name):
    with pytest.raises(ValueError, match="cannot be written"):
        to_json(as_expr(name) + 1)
    with pytest.raises(ValueError, match="cannot be written"):
        to_json(smax(2 * as_expr(name), "seq"))


@pytest.mark.parametrize("text, message", [
    ("", "unexpected end"), ("1 +", "unexpected end"), ("seq //", "unexpected end"),
    ("seq // seq", "must be a positive integer"), ("seq % 0", "must be a positive integer"),
    ("seq // -2", "must be a positive integer"), ("max(1)", "expected ','"), ("max(1, 2", "expected '\\)'"),
    ("(seq", "expected '\\)'"), ("seq)", "unexpected '\\)'"), ("1abc", "unexpected 'abc'"), ("seq $ 2", "'\\$'"),
    ("a b", "unexpected 'b'"), ("seq.2 + é", "unexpected character 'é'"), ("seq ** 2", "unexpected '\\*'"),
    ("a" * 70, "is not a dim name"), ("2(seq)", "unexpected '\\('"), ("eval(1)", "unexpected '\\('"),
    ("(" * 300 + "1" + ")" * 300, "nested deeper"), ("seq,", "unexpected ','"), ("1.5", "unexpected character"),
])
def test_parse_errors(text, message):
    with pytest.raises(ValueError, match=message):
        parse_expr(text)


def test_nesting_limit():
    e = f = seq
    for _ in range(MAX_NESTING):
        e, f = smax(e + 1, h), 2 * floordiv(f + 1, 3)  # f: two parentheses a level, the most the text takes
    for x in (e, f):
        assert parse_expr(to_json(x)) == x
    with pytest.raises(ValueError, match="nested deeper"):
        to_json(smax(e + 1, h))
    assert "max(" in str(smax(e + 1, h))  # str() and repr() write it anyway


def test_bounds():
    dims = {"seq": (1, 512), "h": (8, None)}
    assert bounds(seq - 512, dims) == (-511, 0)
    assert bounds(2 * seq - h, dims)[0] < 0 and bounds(floordiv(seq, 2), dims) == (0, 256)
    assert bounds(mod(h, 4), dims) == (0, 3) and bounds(smin(seq, h) - 1, dims) == (0, 511)
    assert bounds(INT64_MAX - h, dims)[0] > 0  # an open dim never exceeds symdim.MAX_DIM


# -- shape inference against onnxruntime ---------------------------------------------------------------------------

@pytest.mark.parametrize("a, b, expected", [
    (("seq",), (1,), ("seq",)), ((1, "seq"), ("seq", 1), ("seq", "seq")), ((None,), (1,), (None,)),
    ((None,), ("seq",), (None,)), ((None,), (5,), (5,)), (("seq",), ("n",), (None,)), (("h",), (None,), ("h",)),
    (("seq",), ("h",), ("h",)),
    ((3, "seq"), ("seq",), (3, "seq")), ((1,), (None,), (None,)),
])
def test_broadcasting(a, b, expected):
    """A known dim that is not 1 wins (the other must be 1 or the same); ``h`` is at least 2 here, ``seq`` and
    ``n`` may be 1: two such symbols, or an unknown against one, stay unknown."""
    graph = Graph(nodes=[Node("Add", ["a", "b"], ["y"])], inputs=["a", "b"], outputs=["y"],
                  values={"a": Value("a", "float32", a), "b": Value("b", "float32", b),
                          "y": Value("y", "float32", (None,) * max(len(a), len(b)))},
                  dims={"seq": (1, 64), "n": (1, None), "h": (2, None)})
    infer_symbolic_shapes(graph)
    assert graph.values["y"].shape == expected

def _ort_shapes(path, feeds: dict) -> dict[str, tuple]:
    """The shape of every value of the model that onnxruntime computes (each node output made a graph output)."""
    ort = import_or_require("onnxruntime")
    model = onnx.load(str(path))
    typed = onnx.shape_inference.infer_shapes(model)
    types = {vi.name: vi.type.tensor_type.elem_type for vi in list(typed.graph.value_info) + list(typed.graph.output)}
    have = {o.name for o in model.graph.output}
    for node in model.graph.node:
        for name in node.output:
            if name and name not in have and types.get(name):
                model.graph.output.append(helper.make_tensor_value_info(name, types[name], None))
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    shapes = {n: tuple(a.shape) for n, a in zip(names, sess.run(names, feeds))}
    shapes.update({k: tuple(v.shape) for k, v in feeds.items()})
    return shapes


def _import(path, specs: list[str], passes: bool = True) -> Graph:
    graph = import_model(path, BuildOptions(input_shapes=parse_input_shape(specs)), log=lambda m: None)
    if passes:  # the default pipeline, as compile_model runs it for the js backend
        host = get_host()
        supported = host.registry.backends["js"].supported_ops()
        run_passes(graph, host.registry, None, PassContext(supported_ops=supported, log=lambda m: None),
                   lambda m: None)
    return graph


def _tensors(graph: Graph):
    return [v for v in graph.values.values() if v.dtype is not None and value_kind(v.dtype) == "tensor"]


def _check_against_ort(graph: Graph, path, feeds_list: list[dict], sizes_list: list[dict],
                       unknown: frozenset = frozenset()) -> int:
    """Every tensor but those in ``unknown`` has a full symbolic shape, and each one onnxruntime also computes has
    its shape at every size (the dims known, for those in ``unknown``). Returns the number of shapes compared."""
    for v in _tensors(graph):
        assert v.shape is not None and (None not in v.shape) == (v.name not in unknown), (v.name, v.shape)
    checked = 0
    for feeds, sizes in zip(feeds_list, sizes_list):
        real = _ort_shapes(path, feeds)
        for v in _tensors(graph):
            if v.name in real:
                ours = tuple(None if d is None else evaluate(d, sizes) for d in v.shape)
                assert len(ours) == len(real[v.name]), (v.name, v.shape, real[v.name])
                assert all(a in (None, b) for a, b in zip(ours, real[v.name])), (v.name, v.shape, sizes, real[v.name])
                checked += 1
    return checked


def _const(name, values, dtype=np.int64):
    return numpy_helper.from_array(np.asarray(values, dtype), name)


def test_shape_arithmetic(tmp_path):
    """Shape vectors through Gather / Div / Unsqueeze / Concat into Reshape (-1 by polynomial division), Range,
    ConstantOfShape, Expand, Tile, Slice, Pad, Split, MatMul, Gemm, Gather, Resize, TopK and reductions."""
    n_ = helper.make_node
    nodes = [
        n_("Constant", [], ["reps"], value=numpy_helper.from_array(np.array([2, 1, 3], np.int64))),
        n_("Concat", ["x", "x"], ["c"], axis=1),                                  # [1, 2n, 8]
        n_("Shape", ["c"], ["cs"]), n_("Gather", ["cs", "one"], ["g"], axis=0),   # 2n
        n_("Div", ["g", "two"], ["half"]), n_("Unsqueeze", ["half", "zero1"], ["half1"]),
        n_("Concat", ["half1", "minus1"], ["tshape"], axis=0),
        n_("Reshape", ["c", "tshape"], ["r"]),                                   # [n, 16]
        n_("Range", ["zero", "half", "onescalar"], ["idx"]),                      # [n]
        n_("Gather", ["x", "idx"], ["gx"], axis=1),                               # [1, n, 8]
        n_("Pad", ["x", "pads"], ["p"]),                                          # [1, n + 3, 8]
        n_("Shape", ["p"], ["ps"], start=1, end=2),
        n_("Concat", ["minus1", "ps"], ["pshape"], axis=0),
        n_("Reshape", ["p", "pshape"], ["pr"]),                                   # [8, n + 3]: 8(n+3) / (n+3)
        n_("Slice", ["x", "m2", "big", "one1"], ["tail"]),                        # [1, min(n, 2), 8]
        n_("Split", ["c"], ["s0", "s1"], axis=1),                                 # 2 x [1, n, 8]
        n_("Tile", ["x", "reps"], ["t"]),                                         # [2, n, 24]
        n_("Shape", ["x"], ["xs"]), n_("Expand", ["small", "xs"], ["e"]),         # [1, n, 8]
        n_("Concat", ["half1", "three1"], ["cshape"], axis=0),
        n_("ConstantOfShape", ["cshape"], ["k"]),                                 # [n, 3]
        n_("Transpose", ["x"], ["xt"], perm=[0, 2, 1]),
        n_("MatMul", ["c", "xt"], ["mm"]),                                        # [1, 2n, n]
        n_("ReduceSum", ["mm", "one1"], ["rs"], keepdims=0),                      # [1, n]
        n_("Flatten", ["mm"], ["fl"], axis=2),                                    # [2n, n]
        n_("Mul", ["half", "g"], ["sq"]), n_("Add", ["sq", "onescalar"], ["sq1"]),
        n_("Unsqueeze", ["sq1", "zero1"], ["sq1v"]), n_("ConstantOfShape", ["sq1v"], ["k2"]),  # [2n*n + 1]
        n_("Squeeze", ["x", "zero1"], ["sqz"]), n_("Gemm", ["sqz", "gw"], ["gm"]),   # [n, 4]
        n_("TopK", ["x", "two1"], ["tv", "ti"], axis=1),                          # [1, min(2, n)..., 8]: n >= 2
        n_("ArgMax", ["x"], ["am"], axis=1, keepdims=0),                          # [1, 8]
        n_("Split", ["x", "sp"], ["sp0", "sp1"], axis=2),                         # [1, n, 3], [1, n, 5]
        n_("Resize", ["x", "", "scales"], ["rz"], mode="nearest"),                # [1, 2n, 4]
    ]
    inits = [_const("one", 1), _const("two", 2), _const("zero", 0), _const("zero1", [0]), _const("minus1", [-1]),
             _const("onescalar", 1), _const("pads", [0, 1, 0, 0, 2, 0]), _const("m2", [-2]), _const("big", [INT64_MAX]),
             _const("one1", [1]), _const("three1", [3]), _const("two1", [2]), _const("sp", [3, 5]),
             _const("scales", [1, 2, 0.5], np.float32), numpy_helper.from_array(np.ones((1, 1), np.float32), "small"),
             numpy_helper.from_array(np.ones((8, 4), np.float32), "gw")]
    outs = {"r": 2, "gx": 3, "pr": 2, "tail": 3, "s0": 3, "s1": 3, "t": 3, "e": 3, "k": 2, "rs": 2, "fl": 2, "k2": 1,
            "gm": 2, "tv": 3, "ti": 3, "am": 2, "sp0": 3, "sp1": 3, "rz": 3}
    path = save_model(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, "n", 8])],
                      [helper.make_tensor_value_info(o, TensorProto.INT64 if o in ("ti", "am") else TensorProto.FLOAT,
                                                     [None] * r) for o, r in outs.items()],
                      tmp_path / "m.onnx", initializers=inits)
    graph = _import(path, ["x=1,n:2..64,8"], passes=False)
    assert infer_symbolic_shapes(graph) > 0
    shape = {o: graph.values[o].shape for o in outs}
    n = as_expr("n")
    assert shape["r"] == ("n", 16) and shape["pr"] == (8, n + 3) and shape["t"] == (2, "n", 24)
    assert shape["k"] == ("n", 3) and shape["k2"] == (2 * n * n + 1,) and shape["fl"] == (2 * n, "n")
    assert shape["rs"] == (1, "n") and shape["s0"] == shape["s1"] == (1, "n", 8) and shape["e"] == (1, "n", 8)
    assert shape["gm"] == ("n", 4) and shape["tv"] == (1, 2, 8) and shape["am"] == (1, 8)
    assert shape["rz"] == (1, 2 * n, 4) and shape["sp0"] == (1, "n", 3) and shape["sp1"] == (1, "n", 5)
    sizes = [2, 3, 7]
    feeds = [{"x": np.zeros((1, s, 8), np.float32)} for s in sizes]
    assert _check_against_ort(graph, path, feeds, [{"n": s} for s in sizes]) > 3 * len(outs)


def test_slice_edge_cases(tmp_path):
    """Negative and huge starts/ends, negative steps: onnxruntime clamps as the ONNX spec says (a negative step
    clamps the start to [0, n-1], unlike Python's slicing), except that it reads an end of INT32_MAX or INT64_MAX
    with a negative step as "through the first element" (the spec, numpy and the js kernel: an empty slice);
    those stay unknown."""
    int32_max, small = int(np.iinfo(np.int32).max), int(np.iinfo(np.int64).min)
    points = [0, 1, -1, -3, 4, int(INT64_MAX), small, int32_max]
    nodes, inits, outs, ambiguous = [], [], [], set()
    for i, (s, e, step) in enumerate(itertools.product(points, points, [1, 2, -1, -3])):
        inits += [_const(f"s{i}", [s]), _const(f"e{i}", [e]), _const(f"t{i}", [step])]
        nodes.append(helper.make_node("Slice", ["x", f"s{i}", f"e{i}", "axis", f"t{i}"], [f"y{i}"]))
        outs.append(f"y{i}")
        if step < 0 and e in (INT64_MAX, int32_max):
            ambiguous.add(f"y{i}")
    path = save_model(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, "n"])],
                      [helper.make_tensor_value_info(o, TensorProto.FLOAT, [2, None]) for o in outs],
                      tmp_path / "s.onnx", initializers=[*inits, _const("axis", [1])])
    graph = _import(path, ["x=2,n:1..16"], passes=False)
    infer_symbolic_shapes(graph)
    sizes = [1, 2, 5]
    _check_against_ort(graph, path, [{"x": np.zeros((2, s), np.float32)} for s in sizes], [{"n": s} for s in sizes],
                       frozenset(ambiguous))


def test_pool_output_sizes(tmp_path):
    """Window sizes with pads, dilations, ceil_mode (a last window starting in the end padding is dropped) and
    auto_pad, against onnxruntime at several sizes."""
    nodes, outs = [], []
    configs = [{"kernel_shape": [k], "strides": [s], "pads": [pb, pe], "ceil_mode": c}
               for k, s, pb, pe, c in itertools.product([1, 2, 3], [1, 2, 3], [0, 1], [0, 1, 2], [0, 1])
               if pb < k and pe < k]
    configs += [{"kernel_shape": [3], "strides": [2], "auto_pad": a} for a in ("SAME_UPPER", "SAME_LOWER", "VALID")]
    configs += [{"kernel_shape": [2], "strides": [3], "pads": [1, 1], "dilations": [2], "ceil_mode": 1}]
    for i, attrs in enumerate(configs):
        nodes.append(helper.make_node("MaxPool", ["x"], [f"y{i}"], **attrs))
        outs.append(f"y{i}")
    path = save_model(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, "n"])],
                      [helper.make_tensor_value_info(o, TensorProto.FLOAT, [1, 1, None]) for o in outs],
                      tmp_path / "p.onnx")
    graph = _import(path, ["x=1,1,n:3..40"], passes=False)
    infer_symbolic_shapes(graph)
    sizes = [3, 4, 7, 10, 11]
    _check_against_ort(graph, path, [{"x": np.zeros((1, 1, s), np.float32)} for s in sizes],
                       [{"n": s} for s in sizes])


def test_cnn_at_two_image_sizes(tmp_path):
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.standard_normal((8, 3, 3, 3)).astype(np.float32), "wt"),
             numpy_helper.from_array(rng.standard_normal(8).astype(np.float32), "b")]
    nodes = [helper.make_node("Conv", ["x", "wt", "b"], ["c"], pads=[1, 1, 1, 1], strides=[2, 2]),
             helper.make_node("MaxPool", ["c"], ["p"], kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1),
             helper.make_node("GlobalAveragePool", ["p"], ["y"])]
    path = save_model(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, "h", "w"])],
                      [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8, 1, 1])], tmp_path / "cnn.onnx",
                      initializers=inits)
    graph = _import(path, ["x=1,3,?,?"])
    assert graph.values["c"].shape == (1, 8, None, None)
    assert infer_symbolic_shapes(graph) == 4
    conv = floordiv(h + 1, 2)  # (h + 2*1 - 3) // 2 + 1
    assert graph.values["c"].shape == (1, 8, conv, floordiv(w + 1, 2))
    assert graph.values["p"].shape == (1, 8, floordiv(conv + 1, 2), floordiv(floordiv(w + 1, 2) + 1, 2))
    assert [to_json(d) for d in graph.values["p"].shape] == ["1", "8", "((h + 1) // 2 + 1) // 2",
                                                             "((w + 1) // 2 + 1) // 2"]
    assert graph.values["y"].shape == (1, 8, 1, 1)
    sizes = [(17, 45), (32, 9)]
    feeds = [{"x": np.zeros((1, 3, a, b), np.float32)} for a, b in sizes]
    assert _check_against_ort(graph, path, feeds, [{"h": a, "w": b} for a, b in sizes]) == 2 * 4  # x, c, p, y


def test_bert_every_value_gets_a_symbolic_shape(bert_dynamic):
    graph = _import(bert_dynamic, ["input_ids=1,1..512", "attention_mask=1,1..512"])
    unknown = sum(d is None for v in _tensors(graph) for d in ((None,) if v.shape is None else v.shape))
    assert unknown > 50  # what onnx's inference leaves: Shape -> Gather -> Concat -> Reshape, Range, Expand, ...
    assert infer_symbolic_shapes(graph) == unknown
    assert graph.values["last_hidden_state"].shape == (1, "seq", 32)
    feeds, sizes = [], []
    for n in (5, 9):
        feeds.append({"input_ids": np.arange(n, dtype=np.int64).reshape(1, n) % 100,
                      "attention_mask": np.ones((1, n), np.int64)})
        sizes.append({"seq": n})
    assert _check_against_ort(graph, bert_dynamic, feeds, sizes) > 2 * 100
