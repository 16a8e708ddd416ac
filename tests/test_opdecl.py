"""webdnn_build.opdecl: the one declaration of attribute defaults and of the fused-activation contract.

- the generated defaults table is what onnx's and onnxruntime's schemas say today (stale: run
  ``python tools/sync_opdecl.py``), and every default goes back to ONNX with its schema's type;
- fill_defaults fills real schema defaults only, at the node's opset, in subgraphs too;
- every backend (js, wasm, webgpu) implements every fused-activation kind the contract declares, and
  the contract's parameter defaults are the ONNX ops' own.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

import numpy as np
import onnx
import pytest

from tests.helpers import ROOT
from webdnn_build import opdecl
from webdnn_build.ir import Graph, Node
from webdnn_build.opdecl import ACTIVATION_KINDS, attr_defaults, fill_defaults
from webdnn_build.opdecl_schemas import SCHEMA_DEFAULTS

ACTIVATION_JS = ROOT / "js-runtime/src/backends/js/kernels/activation.js"
WASM_CSRC = ROOT / "plugins/webdnn-build-wasm/webdnn_build_wasm/csrc"


# -- the defaults table ----------------------------------------------------------------------------

def test_the_generated_table_matches_the_schemas():
    proc = subprocess.run([sys.executable, str(ROOT / "tools/sync_opdecl.py"), "--check"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("op,opset,expected", [
    ("Softmax", 11, {"axis": 1}),                  # the default changed at 13
    ("Softmax", 13, {"axis": -1}),
    ("LayerNormalization", 17, {"axis": -1, "epsilon": 1e-5, "stash_type": 1}),
    ("LayerNormalization", 12, {"axis": -1, "epsilon": 1e-5, "stash_type": 1}),  # newer than the graph
    ("Clip", 6, {"min": -3.4028235e38, "max": 3.4028235e38}),
    ("Clip", 13, {}),                              # bounds are inputs: nothing to fill
    ("Conv", 17, {"auto_pad": "NOTSET", "group": 1}),  # no kernel_shape / pads / strides: they have none
    ("Cast", 13, {}),                              # saturate is opset 19's
    ("RNN", 14, {"direction": "forward", "layout": 0}),  # not activations (opdecl.NOT_FILLED)
])
def test_defaults_of_the_default_domain(op, opset, expected):
    assert attr_defaults(op, "", opset) == expected


def test_contrib_and_own_ops():
    assert attr_defaults("SkipLayerNormalization", "com.microsoft", 1) == {"epsilon": 1e-12}
    assert attr_defaults("EmbedLayerNormalization", "com.microsoft", 1)["epsilon"] == 1e-12
    assert attr_defaults("Attention", "com.microsoft", 1) == {"unidirectional": 0, "mask_filter_value": -10000.0}
    assert attr_defaults("QuickGelu", "com.microsoft", 1) == {"alpha": 1.702}
    assert attr_defaults("SimplifiedLayerNormalization", "", 17)["epsilon"] == 1e-5
    assert attr_defaults("SimplifiedLayerNormalization", "com.microsoft", 1) == attr_defaults("SimplifiedLayerNormalization")
    assert attr_defaults("FusedAttention", "webdnn") == {"scale": 1.0, "nan_to_zero": 0}
    assert attr_defaults("Cube", "example.kernels", 1) == {}


def _schema(domain: str, op: str, since: int):
    if domain == "com.microsoft" or (domain == "" and op in opdecl.ORT_DEFAULT_DOMAIN_OPS):
        return None  # onnxruntime's: the table's --check covers them
    return onnx.defs.get_schema(op, since, domain)


def test_every_default_goes_back_to_onnx_with_the_schemas_type():
    """onnx_bridge turns the filled attributes into protos for onnx.reference / onnxruntime: each one must
    take its schema's attribute type (an int default stays INT, a float FLOAT, ...)."""
    from webdnn_build_optimize.onnx_bridge import attribute_to_proto

    checked = 0
    for (domain, op), versions in SCHEMA_DEFAULTS.items():
        for since, defaults in versions:
            schema = _schema(domain, op, since)
            if schema is None:
                continue
            for name, value in defaults.items():
                proto = attribute_to_proto(name, value, op, domain, since)
                assert proto.type == schema.attributes[name].type.value, (op, since, name)
                expected = onnx.helper.get_attribute_value(schema.attributes[name].default_value)
                got = onnx.helper.get_attribute_value(proto)
                if isinstance(expected, float):  # the table keeps the shortest text of the float32
                    assert np.float32(got) == np.float32(expected), (op, since, name)
                else:
                    assert got == expected, (op, since, name)
                checked += 1
    assert checked > 300


# -- fill_defaults ---------------------------------------------------------------------------------

def test_fill_defaults_keeps_given_values_and_fills_subgraphs():
    body = Graph(name="body", opsets={"": 11})
    body.nodes.append(Node("Softmax", ["a"], ["b"]))
    g = Graph(name="g", opsets={"": 17, "com.microsoft": 1})
    g.nodes = [Node("LeakyRelu", ["x"], ["y"]), Node("Softmax", ["y"], ["z"], {"axis": 0}),
               Node("If", ["c"], ["w"], {"then_branch": body, "else_branch": Graph(opsets={"": 11})}),
               Node("SkipLayerNormalization", ["x", "s", "g"], ["o"], {}, "com.microsoft"),
               Node("Gemm", ["x", "w", "b"], ["q"], {"fused_activation": "HardSigmoid", "fused_activation_alpha": 0.3}),
               Node("Custom", ["x"], ["u"], {}, "my.domain")]
    added = fill_defaults(g)
    assert g.nodes[0].attrs == {"alpha": 0.01}
    assert g.nodes[1].attrs == {"axis": 0}
    assert body.nodes[0].attrs == {"axis": 1}  # the subgraph's opset
    assert g.nodes[3].attrs == {"epsilon": 1e-12}
    assert g.nodes[4].attrs == {"alpha": 1.0, "beta": 1.0, "transA": 0, "transB": 0, "fused_activation": "HardSigmoid",
                                "fused_activation_alpha": 0.3, "fused_activation_beta": 0.5}
    assert g.nodes[5].attrs == {}
    assert added == 1 + 1 + 1 + 4 + 1 and fill_defaults(g) == 0


def test_an_imported_model_carries_its_defaults(tmp_path):
    """After import (and in the js program of the bundle) every declared default is an attribute."""
    from onnx import helper

    from tests.helpers import float_input, save_model
    from webdnn_build.compiler import BuildOptions, compile_model

    nodes = [helper.make_node("LeakyRelu", ["x"], ["a"]), helper.make_node("Softmax", ["a"], ["y"])]
    path = save_model(nodes, [float_input("x", [2, 3])], [float_input("y", [2, 3])], tmp_path / "m.onnx", opset=11)
    result = compile_model(path, tmp_path / "b", BuildOptions(backends=["js"], passes=[]), log=lambda s: None)
    program = json.loads((result.out_dir / "js" / "program.json").read_text())
    assert [op["attrs"] for op in program["ops"]] == [{"alpha": 0.01}, {"axis": 1}]


# -- the fused-activation contract -----------------------------------------------------------------

#: numpy reference of each kind, given its parameters in the contract's order
REFERENCE = {
    "Relu": lambda x: np.maximum(x, 0),
    "LeakyRelu": lambda x, a: np.where(x < 0, a * x, x),
    "Clip": lambda x, lo, hi: np.minimum(np.maximum(x, lo), hi),
    "Sigmoid": lambda x: 1 / (1 + np.exp(-x)),
    "Tanh": np.tanh,
    "HardSigmoid": lambda x, a, b: np.clip(a * x + b, 0, 1),
    "HardSwish": lambda x: x * np.clip(x / 6 + 0.5, 0, 1),
    "Swish": lambda x, a: x / (1 + np.exp(-a * x)),
}
#: parameter values to apply (not the defaults: a backend that ignored them would pass with those)
PARAMS = {"LeakyRelu": (0.3,), "Clip": (-0.5, 0.75), "HardSigmoid": (0.4, 0.25), "Swish": (1.702,)}


def test_the_test_knows_every_kind():
    assert set(REFERENCE) == set(ACTIVATION_KINDS)
    assert all(len(PARAMS.get(k, ())) == len(kind.params) for k, kind in ACTIVATION_KINDS.items())


def test_parameter_defaults_are_the_onnx_ops_own():
    for kind in ACTIVATION_KINDS.values():
        for name, default in kind.params:
            # the newest version that has the parameter as an attribute (Clip: opset 6, bounds as attributes)
            versions = [d for _, d in SCHEMA_DEFAULTS[("", kind.op_type)] if name in d]
            assert versions, f"{kind.op_type}.{name}: onnx declares no default"
            assert np.float32(versions[-1][name]) == np.float32(default), (kind.op_type, name)


def _attrs(kind: str) -> dict:
    return {"fused_activation": kind, **dict(zip(ACTIVATION_KINDS[kind].param_names(), PARAMS.get(kind, ())))}


def test_wasm_has_every_kind():
    from webdnn_build_wasm.emit.base import ACT_KINDS, act_struct, supported_activation

    header = (WASM_CSRC / "kernels.h").read_text()
    sources = "\n".join(p.read_text() for p in WASM_CSRC.glob("*.[ch]"))
    for kind in ACTIVATION_KINDS:
        assert supported_activation({"fused_activation": kind}), kind
        enum = ACT_KINDS[kind]
        assert re.search(rf"\b{enum}\s*=", header), f"{enum} is not declared in csrc/kernels.h"
        assert re.search(rf"case {enum}\s*:", sources), f"no C kernel applies {enum}"
        struct = act_struct(_attrs(kind))
        values = [float(v.rstrip("f")) for v in re.findall(r"-?[0-9.]+(?:e-?[0-9]+)?f", struct)]
        assert struct.startswith(f"{{{enum},") and values[:len(PARAMS.get(kind, ()))] == [
            float(np.float32(p)) for p in PARAMS.get(kind, ())], struct


def test_webgpu_has_every_kind():
    from webdnn_build_webgpu.wgsl.base import activation_expr, f32lit, supported_activation

    for kind in ACTIVATION_KINDS:
        assert supported_activation({"fused_activation": kind}), kind
        expr = activation_expr(_attrs(kind), "v")  # raises for a kind it does not know
        assert "v" in expr and expr != "v"
        for p in PARAMS.get(kind, ()):
            assert f32lit(p) in expr, (kind, expr)


def test_js_has_every_kind():
    x = np.linspace(-3, 3, 13).astype(np.float32)
    script = (
        "const m = await import(process.argv[1]); const cases = JSON.parse(process.argv[2]); const out = {};"
        "for (const [kind, attrs] of Object.entries(cases)) {"
        "  const t = { dtype: 'float32', shape: [attrs.x.length], data: Float32Array.from(attrs.x) };"
        "  delete attrs.x; out[kind] = Array.from(m.applyActivation(t, attrs).data); }"
        "console.log(JSON.stringify({ kinds: Object.keys(m.FUSED_ACTIVATIONS), out }));")
    cases = {k: {**_attrs(k), "x": x.tolist()} for k in ACTIVATION_KINDS}
    proc = subprocess.run(["node", "--input-type=module", "-e", script, ACTIVATION_JS.as_uri(), json.dumps(cases)],
                          capture_output=True, text=True, check=True)
    result = json.loads(proc.stdout)
    assert set(result["kinds"]) == set(ACTIVATION_KINDS)
    for kind, got in result["out"].items():
        want = REFERENCE[kind](x.astype(np.float64), *PARAMS.get(kind, ()))
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6, err_msg=kind)


# -- the recurrent ops' activations ----------------------------------------------------------------

RNN_JS = ROOT / "js-runtime/src/backends/js/kernels/rnn.js"


def test_js_rnn_activation_params_match_the_declaration():
    """rnn.js's ``ACTIVATIONS`` (uses alpha, uses beta, default alpha, default beta per name) is
    opdecl.RNN_ACTIVATION_PARAMS, which the webgpu emitter reads."""
    src = RNN_JS.read_text()
    block = re.search(r"^const ACTIVATIONS = \{\n(.*?)^\};", src, re.S | re.M)
    assert block, "rnn.js: no `const ACTIVATIONS = { ... };` table"
    lines = [ln for ln in block.group(1).splitlines() if ln.strip()]
    entry = re.compile(r"^\s*(\w+):\s*\[\s*(true|false),\s*(true|false),\s*([-+0-9.eE]+),\s*([-+0-9.eE]+),")
    js = {}
    for ln in lines:
        m = entry.match(ln)
        assert m, f"rnn.js ACTIVATIONS: cannot read {ln!r}"
        js[m.group(1)] = (m.group(2) == "true", m.group(3) == "true", float(m.group(4)), float(m.group(5)))
    assert js == {k: (ua, ub, float(a), float(b)) for k, (ua, ub, a, b) in opdecl.RNN_ACTIVATION_PARAMS.items()}


def test_webgpu_rnn_takes_every_declared_activation():
    from webdnn_build_webgpu.wgsl import rnn

    assert set(rnn.EXPRS) == set(opdecl.RNN_ACTIVATION_PARAMS)
