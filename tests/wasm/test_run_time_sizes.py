"""wasm kernels that take their sizes at run time (issue 10; symbolic.py): the C text of sizes, what refuses
to be decided at build time, and a bundle built with open dims running its products on wasm kernels."""

from __future__ import annotations

import json

import numpy as np
import pytest

from webdnn_build.cli import parse_input_shape
from webdnn_build.compiler import BuildOptions, compile_model
from webdnn_build.symshape import as_expr, floordiv, smax
from webdnn_build_wasm.symbolic import CExpr, SymbolicSizeError, bound, render


def test_sizes_render_as_c_over_the_dims_table():
    index = {"past": 0, "seq": 1}
    seq = CExpr.wrap("seq", index)
    assert str(seq * 384) == "(384*wdn_dims[1])"
    assert str(CExpr.wrap(as_expr("past") + as_expr("seq"), index) * 2) == "(2*wdn_dims[0] + 2*wdn_dims[1])"
    assert render(floordiv(as_expr("seq"), 2), index) == "(((wdn_dims[1]) / (2)))"
    assert "WDN_MAX" in render(smax(as_expr("seq"), as_expr("past")), index)
    assert 1 * seq == seq and (seq - seq) == 0  # constants come back as ints
    assert bound("WDN_X((384*wdn_dims[1]))", {1: 512}) == "WDN_X((384*(512)))"


@pytest.mark.parametrize("decide", [lambda s: s < 64, lambda s: range(s), lambda s: int(s), lambda s: bool(s)])
def test_a_size_known_at_run_time_refuses_build_time_decisions(decide):
    with pytest.raises(SymbolicSizeError):
        decide(CExpr.wrap("seq", {"seq": 0}))


def test_bert_built_with_open_dims_runs_its_heavy_ops_on_wasm(tmp_path, bert_dynamic):
    result = compile_model(bert_dynamic, tmp_path / "b", BuildOptions(
        input_shapes=parse_input_shape(["input_ids=1,1..512", "attention_mask=1,1..512"]), backends=["wasm"]),
        log=lambda m: None)
    plan = json.loads((result.out_dir / "wasm" / "plan.json").read_text())
    # the float32 work (products, normalizations, activations, residuals, head shuffles) runs in wasm; what is
    # left to js steps is the int64 / bool shape and mask arithmetic
    js_float = {s["js"]["op"] for s in plan["steps"] if "js" in s
                if any(plan["values"][o]["dtype"] == "float32" for o in s["js"]["outputs"] if o >= 0)}
    heavy = {"MatMul", "Gemm", "Softmax", "LayerNormalization", "Add", "Mul", "Transpose", "Erf", "Div"}
    assert not js_float & heavy, f"ran as js steps: {sorted(js_float & heavy)}"
    assert plan["dimOrder"] == ["seq"] and plan["dynValues"], plan.keys()
    # every run-time placed value is described: its shape expressions and its lifetime in plan steps
    for vi, (first, last) in zip(plan["dynValues"], plan["dynLive"]):
        assert plan["values"][vi]["symShape"] and -1 <= first <= last <= len(plan["steps"])
    assert np.isfinite(plan["memoryPages"]["maximum"])
