"""Kernels read at run time or beyond the 2-D fast paths run in wasm and match onnxruntime: Reduce* with the
axes as a graph input (float32 / float64 / bool, empty reductions), Resize with run-time scales / sizes /
roi (cubic, antialias, tf_crop_and_resize, keep_aspect_ratio_policy, axes), CumSum / CumProd, Hardmax,
TopK, the N-d pools (3-D, MaxPool indices and uint8, LpPool) and GridSample."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import helper, numpy_helper

from webdnn_build import onnx_backend

from .verify_helper import verify_on_wasm

RNG = np.random.default_rng(11)


def test_reduce_runtime_axes(tmp_path):
    """opset 20, axes a graph input (the kernel reads them); float64 LogSumExp; bool Max / Min; a zero-size
    reduced axis gives the identity (Min / Max of nothing: +-inf as the ONNX reference, checked by the
    conformance suite; onnxruntime differs); an empty axes input reduces all, or copies with noop_with_empty_axes."""
    x = RNG.standard_normal((3, 4, 5)).astype(np.float32)
    feeds = {"x": x, "xd": RNG.standard_normal((2, 3, 4)), "b": RNG.random((4, 3)) > 0.5,
             "ax1": np.array([1], np.int64), "ax02": np.array([-1, 0], np.int64), "axb": np.array([1], np.int64),
             "e": np.zeros((2, 0, 4), np.float32), "none": np.zeros((0,), np.int64)}
    nodes = [helper.make_node("ReduceSum", ["x", "ax1"], ["s"], keepdims=1),
             helper.make_node("ReduceL2", ["x", "ax02"], ["l2"], keepdims=0),
             helper.make_node("ReduceMax", ["x", "ax02"], ["mx"], keepdims=1),
             helper.make_node("ReduceLogSumExp", ["xd", "ax1"], ["lse"], keepdims=0),
             helper.make_node("ReduceMean", ["xd", "ax02"], ["md"], keepdims=1),
             helper.make_node("ReduceMax", ["b", "axb"], ["bmax"], keepdims=0),
             helper.make_node("ReduceMin", ["b", "axb"], ["bmin"], keepdims=1),
             helper.make_node("ReduceSum", ["e", "ax1"], ["es"], keepdims=1),
             helper.make_node("ReduceProd", ["e", "ax1"], ["ep"], keepdims=0),
             helper.make_node("ReduceSum", ["x", "none"], ["noop"], keepdims=1, noop_with_empty_axes=1),
             helper.make_node("ReduceMean", ["x", "none"], ["all"], keepdims=0)]
    outputs = {"s": (np.float32, (3, 1, 5)), "l2": (np.float32, (4,)), "mx": (np.float32, (1, 4, 1)),
               "lse": (np.float64, (2, 4)), "md": (np.float64, (1, 3, 1)), "bmax": (np.bool_, (4,)),
               "bmin": (np.bool_, (4, 1)), "es": (np.float32, (2, 1, 4)), "ep": (np.float32, (2, 4)),
               "noop": (np.float32, (3, 4, 5)), "all": (np.float32, ())}
    verify_on_wasm(tmp_path, nodes, feeds, outputs, threads=2, opset=20)


# (attrs, input names, feeds beyond x, output shape)
RESIZES = [
    ({"mode": "cubic"}, ["x", "", "sc"], {"sc": [1, 1, 1.6, 0.75]}, (1, 2, 8, 6)),
    ({"mode": "cubic", "cubic_coeff_a": -0.5, "exclude_outside": 1, "coordinate_transformation_mode": "align_corners"},
     ["x", "", "", "sz"], {"sz": [1, 2, 3, 11]}, (1, 2, 3, 11)),
    ({"mode": "linear", "antialias": 1}, ["x", "", "sc"], {"sc": [1, 1, 0.6, 0.5]}, (1, 2, 3, 4)),
    ({"mode": "linear", "coordinate_transformation_mode": "tf_crop_and_resize", "extrapolation_value": 3.0},
     ["x", "roi", "", "sz"], {"roi": [0, 0, 0.2, -0.1, 1, 1, 0.9, 1.2], "sz": [1, 2, 4, 5]}, (1, 2, 4, 5)),
    ({"mode": "nearest", "axes": [3, 2], "keep_aspect_ratio_policy": "not_larger"},
     ["x", "", "", "sz"], {"sz": [9, 7]}, (1, 2, 6, 9)),
    ({"mode": "nearest", "nearest_mode": "ceil", "coordinate_transformation_mode": "half_pixel_symmetric"},
     ["x", "", "sc"], {"sc": [1, 1, 2.5, 1.5]}, (1, 2, 12, 12)),
    ({"mode": "linear", "coordinate_transformation_mode": "pytorch_half_pixel"}, ["x", "", "sc"],
     {"sc": [1, 2, 1, 1]}, (1, 4, 5, 8)),
]


def test_resize_runtime_inputs(tmp_path):
    x = RNG.standard_normal((1, 2, 5, 8)).astype(np.float32)
    feeds = {"x": x}
    nodes, outputs = [], {}
    for k, (attrs, ins, extra, shape) in enumerate(RESIZES):
        names = []
        for name in ins:
            if name in extra:
                dtype = np.int64 if name == "sz" else np.float32
                feeds[f"{name}{k}"] = np.array(extra[name], dtype)
                names.append(f"{name}{k}")
            else:
                names.append(name)
        nodes.append(helper.make_node("Resize", names, [f"y{k}"], **attrs))
        outputs[f"y{k}"] = (np.float32, shape)
    verify_on_wasm(tmp_path, nodes, feeds, outputs, threads=2, opset=19)


def test_scan_and_selection_ops(tmp_path):
    """CumSum with a run-time axis, Hardmax, TopK with a run-time k (ties: the lower index first)."""
    feeds = {"x": RNG.standard_normal((3, 5, 4)).astype(np.float32), "xd": RNG.standard_normal((4, 6)),
             "xi": RNG.integers(-3, 4, (2, 7)).astype(np.int64), "ax": np.array(1, np.int32),
             "axn": np.array(-1, np.int64), "k": np.array([3], np.int64),
             "t": RNG.integers(0, 4, (4, 9)).astype(np.float32)}
    nodes = [helper.make_node("CumSum", ["x", "ax"], ["cs"]),
             helper.make_node("CumSum", ["xd", "axn"], ["csd"], exclusive=1, reverse=1),
             helper.make_node("Hardmax", ["t"], ["hm"], axis=0),
             helper.make_node("TopK", ["t", "k"], ["tv", "ti"], axis=1),
             helper.make_node("TopK", ["x", "k"], ["sv", "si"], axis=1, largest=0),
             helper.make_node("TopK", ["xi", "k"], ["iv", "ii"])]
    outputs = {"cs": (np.float32, (3, 5, 4)), "csd": (np.float64, (4, 6)),
               "hm": (np.float32, (4, 9)), "tv": (np.float32, (4, 3)),
               "ti": (np.int64, (4, 3)), "sv": (np.float32, (3, 3, 4)), "si": (np.int64, (3, 3, 4)),
               "iv": (np.int64, (2, 3)), "ii": (np.int64, (2, 3))}
    verify_on_wasm(tmp_path, nodes, feeds, outputs, threads=2, opset=18)


def test_nd_pools(tmp_path):
    feeds = {"v": RNG.standard_normal((1, 2, 6, 7, 5)).astype(np.float32),
             "x": RNG.standard_normal((2, 3, 9, 8)).astype(np.float32),
             "u": RNG.integers(0, 255, (1, 2, 6, 6)).astype(np.uint8),
             "s": RNG.standard_normal((2, 3, 11)).astype(np.float32)}
    nodes = [helper.make_node("MaxPool", ["v"], ["mv", "mi"], kernel_shape=[3, 2, 2], strides=[2, 2, 1],
                              pads=[1, 0, 1, 1, 1, 0], dilations=[1, 2, 1]),
             helper.make_node("MaxPool", ["x"], ["m2", "m2i"], kernel_shape=[3, 3], strides=[2, 2], storage_order=1),
             helper.make_node("AveragePool", ["v"], ["av"], kernel_shape=[2, 3, 2], pads=[1, 1, 0, 0, 1, 1],
                              count_include_pad=1),
             helper.make_node("MaxPool", ["u"], ["mu"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
             helper.make_node("LpPool", ["x"], ["lp"], kernel_shape=[3, 2], p=3, strides=[2, 1], pads=[1, 0, 1, 1]),
             helper.make_node("LpPool", ["s"], ["lp1"], kernel_shape=[3], p=2, auto_pad="SAME_UPPER")]
    outputs = {"mv": (np.float32, (1, 2, 3, 3, 5)), "mi": (np.int64, (1, 2, 3, 3, 5)),
               "m2": (np.float32, (2, 3, 4, 3)), "m2i": (np.int64, (2, 3, 4, 3)),
               "av": (np.float32, (1, 2, 6, 7, 5)), "mu": (np.uint8, (1, 2, 6, 6)),
               "lp": (np.float32, (2, 3, 5, 8)), "lp1": (np.float32, (2, 3, 11))}
    verify_on_wasm(tmp_path, nodes, feeds, outputs, threads=2, opset=18)


GRID_SAMPLES = [("linear", "zeros", 0), ("nearest", "border", 1), ("cubic", "reflection", 0),
                ("linear", "reflection", 1), ("cubic", "zeros", 1), ("nearest", "zeros", 0), ("linear", "border", 0)]


def test_gridsample(tmp_path):
    """2-D: every mode and padding; 3-D (volumetric) linear."""
    feeds = {"x": RNG.standard_normal((2, 3, 5, 6)).astype(np.float32),
             "g": (RNG.random((2, 4, 7, 2)) * 2.6 - 1.3).astype(np.float32),
             "v": RNG.standard_normal((1, 2, 3, 4, 5)).astype(np.float32),
             "gv": (RNG.random((1, 2, 3, 4, 3)) * 2.4 - 1.2).astype(np.float32)}
    nodes = [helper.make_node("GridSample", ["x", "g"], [f"y{k}"], mode=mode, padding_mode=padding, align_corners=align)
             for k, (mode, padding, align) in enumerate(GRID_SAMPLES)]
    nodes.append(helper.make_node("GridSample", ["v", "gv"], ["yv"], mode="linear", padding_mode="zeros"))
    outputs = {f"y{k}": (np.float32, (2, 3, 4, 7)) for k in range(len(GRID_SAMPLES))}
    outputs["yv"] = (np.float32, (1, 2, 2, 3, 4))
    verify_on_wasm(tmp_path, nodes, feeds, outputs, threads=2, opset=20)


def _check_against_reference(nodes, feeds: dict, outputs: dict, opset: int, atol: float = 1e-5) -> None:
    """For what onnxruntime lacks or computes otherwise (CumProd, opset 26; GridSample cubic with border
    padding; float16 ReduceMax): the bundle, every op in wasm, against the onnx reference implementation."""
    from onnx.reference import ReferenceEvaluator

    from .verify_helper import vi

    graph = helper.make_graph(nodes, "g", [vi(k, v.dtype, v.shape) for k, v in feeds.items()],
                              [vi(k, dt, shape) for k, (dt, shape) in outputs.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    expected = ReferenceEvaluator(model).run(None, feeds)
    got = onnx_backend.make_backend("wasm").prepare(model).run(list(feeds.values()))
    placement = onnx_backend.last_placement
    assert placement["fallback"] == 0 and placement["native"] == len(nodes), placement
    for name, e, g in zip(outputs, expected, got):
        np.testing.assert_allclose(np.asarray(g), e, rtol=1e-5, atol=atol, err_msg=name)


def test_against_reference_where_onnxruntime_lacks():
    feeds = {"x": RNG.standard_normal((3, 5, 4)).astype(np.float32),
             "xi": RNG.integers(-3, 4, (2, 7)).astype(np.int64),
             "ax": np.array(1, np.int32), "axn": np.array(-1, np.int64)}
    nodes = [helper.make_node("CumProd", ["xi", "axn"], ["cp"], exclusive=1),
             helper.make_node("CumProd", ["x", "ax"], ["cpf"], reverse=1)]
    _check_against_reference(nodes, feeds, {"cp": (np.int64, (2, 7)), "cpf": (np.float32, (3, 5, 4))}, opset=26)
    feeds = {"x": RNG.standard_normal((1, 2, 5, 6)).astype(np.float32),
             "g": (RNG.random((1, 4, 7, 2)) * 2.6 - 1.3).astype(np.float32)}
    nodes = [helper.make_node("GridSample", ["x", "g"], ["y"], mode="cubic", padding_mode="border", align_corners=1)]
    _check_against_reference(nodes, feeds, {"y": (np.float32, (1, 2, 4, 7))}, opset=20)
    feeds = {"h": RNG.standard_normal((3, 4)).astype(np.float16), "ax": np.array([1], np.int64)}
    nodes = [helper.make_node("ReduceMax", ["h", "ax"], ["hm"], keepdims=0)]
    _check_against_reference(nodes, feeds, {"hm": (np.float16, (3,))}, opset=18)


def test_runtime_axes_must_match_the_plan():
    """Axes read at run time that give another output than the planned one: a run-time error, not a wrong result."""
    from .verify_helper import vi

    # keepdims: axis 2 would give (2, 3, 1), as many elements as the planned (1, 3, 2)
    node = helper.make_node("ReduceSum", ["x", "ax"], ["y"], keepdims=1)
    graph = helper.make_graph([node], "g", [vi("x", np.float32, (2, 3, 2)), vi("ax", np.int64, (1,))],
                              [vi("y", np.float32, (1, 3, 2))])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    rep = onnx_backend.make_backend("wasm").prepare(model)
    x = RNG.standard_normal((2, 3, 2)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(rep.run([x, np.array([-3], np.int64)])[0]), x.sum(0, keepdims=True),
                               rtol=1e-5)
    for bad in (2, 3):  # another shape; out of range
        with pytest.raises(Exception, match="run-time error"):
            rep.run([x, np.array([bad], np.int64)])


def test_einsum(tmp_path):
    """Matmul-like, diagonal with an ellipsis, full sum, outer product, implicit output, float64."""
    feeds = {"a": RNG.standard_normal((2, 3, 4)).astype(np.float32),
             "b": RNG.standard_normal((2, 4, 5)).astype(np.float32),
             "d": RNG.standard_normal((3, 4, 4)).astype(np.float32), "u": RNG.standard_normal((5,)).astype(np.float32),
             "v": RNG.standard_normal((3,)).astype(np.float32), "w": RNG.standard_normal((3, 6))}
    nodes = [helper.make_node("Einsum", ["a", "b"], ["mm"], equation="bij, bjk -> bik"),
             helper.make_node("Einsum", ["d"], ["diag"], equation="...ii->...i"),
             helper.make_node("Einsum", ["a"], ["all"], equation="ijk->"),
             helper.make_node("Einsum", ["u", "v"], ["outer"], equation="i,j->ji"),
             helper.make_node("Einsum", ["a", "u"], ["implicit"], equation="bjk,l"),
             helper.make_node("Einsum", ["w"], ["t"], equation="ij->ji")]
    outputs = {"mm": (np.float32, (2, 3, 5)), "diag": (np.float32, (3, 4)), "all": (np.float32, ()),
               "outer": (np.float32, (3, 5)), "implicit": (np.float32, (2, 3, 4, 5)), "t": (np.float64, (6, 3))}
    verify_on_wasm(tmp_path, nodes, feeds, outputs, threads=2, opset=18)


def test_non_max_suppression(tmp_path):
    """The planned output rows (static here) are the selection's size; overlapping random boxes, 2 classes,
    corner boxes (either corner order) and center_point_box."""
    from onnx.reference import ReferenceEvaluator

    from .verify_helper import vi

    xy = RNG.random((2, 12, 2)).astype(np.float32) * 4
    wh = RNG.random((2, 12, 2)).astype(np.float32) * 2 + 0.5
    corners = np.concatenate([xy, xy + wh], -1)
    corners[0] = corners[0][:, [3, 2, 1, 0]]  # the other diagonal
    feeds = {"boxes": corners[..., [1, 0, 3, 2]].copy(), "centers": np.concatenate([xy, wh], -1),
             "scores": RNG.random((2, 2, 12)).astype(np.float32), "max_out": np.array([4], np.int64),
             "iou": np.array([0.3], np.float32), "score": np.array([0.2], np.float32)}
    nodes = [helper.make_node("NonMaxSuppression", ["boxes", "scores", "max_out", "iou", "score"], ["sel"]),
             helper.make_node("NonMaxSuppression", ["centers", "scores", "max_out", "iou"], ["selc"],
                              center_point_box=1)]
    probe = helper.make_model(helper.make_graph(nodes, "g", [vi(k, v.dtype, v.shape) for k, v in feeds.items()],
                                                [vi("sel", np.int64, [None, 3]), vi("selc", np.int64, [None, 3])]),
                              opset_imports=[helper.make_opsetid("", 13)])
    rows = [r.shape[0] for r in ReferenceEvaluator(probe).run(None, feeds)]
    verify_on_wasm(tmp_path, nodes, feeds, {"sel": (np.int64, (rows[0], 3)), "selc": (np.int64, (rows[1], 3))},
                   opset=13)
