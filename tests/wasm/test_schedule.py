"""Small ops run on thread 0 alone, with no barrier between two of them (webdnn_build_wasm/schedule.py);
a model mixing serial and split ops still matches onnxruntime at 2 threads (rtol 1e-4 of the scale)."""

from __future__ import annotations

import numpy as np
from onnx import helper, numpy_helper

from webdnn_build.ir import Graph, Node, Value
from webdnn_build_wasm.schedule import SERIAL_BELOW, op_work, segment_lines, serial_ops

from .verify_helper import verify_on_wasm


def test_barriers_only_where_threads_change_hands():
    bodies = [["split_a();"], ["small_b();"], ["small_c();"], ["split_d();"], ["small_e();"]]
    lines = segment_lines(bodies, [False, True, True, False, True])
    code = "\n".join(lines)
    # a after split op, between c (serial) and d (split), after d, and at the end: 4; none between b and c
    assert code.count("wdn_barrier(nth);") == 4
    assert code.index("small_c();") < code.index("wdn_barrier(nth);", code.index("small_b();"))
    assert code.count("if (tid == 0) { const int tid = 0, nth = 1;") == 3


def test_work_counts_products_and_elements():
    g = Graph(name="g", opsets={"": 17})
    for name, shape in [("a", (64, 256)), ("w", (256, 128)), ("y", (64, 128)), ("s", (4, 4)), ("t", (4, 4))]:
        g.values[name] = Value(name, "float32", shape)
    mm = Node("MatMul", ["a", "w"], ["y"], {}, "", "mm")
    add = Node("Add", ["s", "s"], ["t"], {}, "", "add")
    assert op_work(mm, g) == 64 * 128 * 256
    assert op_work(add, g) == 48
    assert serial_ops([mm, add], g, SERIAL_BELOW) == [False, True]
    assert serial_ops([mm, add], g, 0) == [False, False]


def test_mixed_serial_and_split_ops_match_at_two_threads(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 256)).astype(np.float32)
    w1 = numpy_helper.from_array(rng.standard_normal((256, 256)).astype(np.float32) / 16, "w1")
    w2 = numpy_helper.from_array(rng.standard_normal((256, 8)).astype(np.float32) / 16, "w2")
    bias = numpy_helper.from_array(rng.standard_normal(8).astype(np.float32), "b")
    nodes = [helper.make_node("MatMul", ["x", "w1"], ["h"]),          # split: 4 M multiply-adds
             helper.make_node("Relu", ["h"], ["r"]),                  # split: 32 K elements
             helper.make_node("MatMul", ["r", "w2"], ["p"]),          # split: 131 K multiply-adds
             helper.make_node("Add", ["p", "b"], ["q"]),              # serial: 1 K elements
             helper.make_node("Sigmoid", ["q"], ["s"]),               # serial, no barrier before it
             helper.make_node("Softmax", ["s"], ["y"], axis=-1)]      # serial
    for threads in (1, 2):
        # the product's serial_below (the test suite's WEBDNN_WASM_SPLIT_ALL would split every op), and
        # thread_min_work=0: split this small model anyway (else it would run on one thread)
        verify_on_wasm(tmp_path / f"t{threads}", nodes, {"x": x}, {"y": ("float32", (64, 8))}, inits=[w1, w2, bias],
                       threads=threads, options=(f"wasm.serial_below={SERIAL_BELOW}", "wasm.thread_min_work=0"))


def test_small_segments_run_on_one_thread():
    from webdnn_build_wasm.schedule import runs_alone, threads_function
    g = Graph(name="g", opsets={"": 17})
    for name, shape in [("a", (64, 256)), ("w", (256, 128)), ("y", (64, 128))]:
        g.values[name] = Value(name, "float32", shape)
    mm = Node("MatMul", ["a", "w"], ["y"], {}, "", "mm")
    assert runs_alone([mm], g, [False], 2_000_000) is False   # 2.1 M multiply-adds: split
    assert runs_alone([mm], g, [False], 3_000_000) is True
    assert runs_alone([mm], g, [True], 1) is True             # nothing to split
    assert runs_alone([mm], g, [True], 0) is True             # every op serial: the workers stay asleep
    # ops serial or not by sizes known at run time: the segment is alone when all of them are, decided per run
    assert runs_alone([mm, mm], g, ["(a < 1)", "(b < 2)"], 0) == "((a < 1) && (b < 2))"
    assert runs_alone([mm, mm], g, ["(a < 1)", False], 0) is False
    code = "\n".join(threads_function({0: True, 2: True, 3: "(wdn_dims[0] < 9)"}))
    assert "case 0:" in code and "case 2:" in code and "case 1:" not in code and "return 1;" in code
    assert "case 3:\n      return (wdn_dims[0] < 9) ? 1 : nth;" in code
