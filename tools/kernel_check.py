"""Developer tool: run ONNX backend node tests directly against the js backend's kernels.

Bypasses the compiler (no passes, no bundle): every node of the test model is
executed in order by tools/kernel_check.mjs. Use it while writing kernels;
the real conformance run is tests/conformance.

    python tools/kernel_check.py 'test_(add|sub)'       # regex on test names
    python tools/kernel_check.py --ops Conv,MaxPool       # tests whose nodes are all in this set
"""

from __future__ import annotations

import argparse
import base64
import json
import re
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper
from onnx.backend.test import loader

from webdnn_build.opdecl import attr_defaults

HERE = Path(__file__).resolve().parent


def encode_array(a: np.ndarray) -> dict:
    a = np.asarray(a)
    if a.dtype.kind in "OUS":
        return {"dtype": "string", "shape": list(a.shape), "json": [x.decode() if isinstance(x, bytes) else str(x) for x in a.ravel()]}
    if a.dtype == np.bool_:
        dt = "bool"
    else:
        dt = a.dtype.name
        if dt not in ("float32", "float64", "float16", "int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64"):
            # ml_dtypes (bfloat16, float8, int4) -> not supported by this tool
            raise ValueError(f"dtype {dt}")
    return {"dtype": dt, "shape": list(a.shape), "b64": base64.b64encode(np.ascontiguousarray(a).tobytes()).decode()}


def encode_attr(attr: onnx.AttributeProto):
    v = onnx.helper.get_attribute_value(attr)
    if isinstance(v, bytes):
        return v.decode()
    if isinstance(v, onnx.TensorProto):
        return {"__tensor__": encode_array(numpy_helper.to_array(v))}
    if isinstance(v, list):
        if v and isinstance(v[0], bytes):
            return [x.decode() for x in v]
        if v and isinstance(v[0], onnx.TensorProto):
            raise ValueError("tensor list attribute")
        if v and isinstance(v[0], onnx.GraphProto):
            raise ValueError("graph attribute")
        return list(v)
    if isinstance(v, onnx.GraphProto):
        raise ValueError("graph attribute")
    if isinstance(v, float) and not np.isfinite(v):
        return {"__float__": str(v)}
    return v


def encode_case(case) -> dict:
    m = case.model
    opset = {o.domain: o.version for o in m.opset_import}
    nodes = []
    for n in m.graph.node:
        # the declared defaults the compiler fills in (webdnn_build.opdecl): the kernels read them as given
        domain_opset = opset.get(n.domain, opset.get("ai.onnx" if not n.domain else n.domain))
        defaults = attr_defaults(n.op_type, n.domain, domain_opset)
        nodes.append({"op": n.op_type, "domain": n.domain, "name": n.name, "inputs": list(n.input), "outputs": list(n.output),
                      "attrs": {**defaults, **{a.name: encode_attr(a) for a in n.attribute}}})
    inits = {i.name: encode_array(numpy_helper.to_array(i)) for i in m.graph.initializer}
    sets = []
    for inputs, outputs in case.data_sets:
        ins = [numpy_helper.to_array(x) if isinstance(x, onnx.TensorProto) else x for x in inputs]
        outs = [numpy_helper.to_array(x) if isinstance(x, onnx.TensorProto) else x for x in outputs]
        graph_inputs = [i.name for i in m.graph.input if i.name not in inits]
        sets.append({"inputs": {name: encode_array(a) for name, a in zip(graph_inputs, ins)},
                     "outputs": [encode_array(a) for a in outs]})
    return {"name": case.name, "opset": opset.get("", opset.get("ai.onnx", 0)), "nodes": nodes, "initializers": inits,
            "graphOutputs": [o.name for o in m.graph.output], "rtol": case.rtol, "atol": case.atol, "sets": sets}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("pattern", nargs="?", default=".")
    ap.add_argument("--ops", help="comma-separated op types: run tests whose nodes all belong to this set")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    rx = re.compile(args.pattern)
    ops = set(args.ops.split(",")) if args.ops else None
    cases, skipped = [], []
    for case in loader.load_model_tests(kind="node"):
        if not rx.search(case.name):
            continue
        if ops is not None and not all(n.op_type in ops for n in case.model.graph.node):
            continue
        try:
            cases.append(encode_case(case))
        except ValueError as exc:
            skipped.append((case.name, str(exc)))
    payload = json.dumps({"cases": cases, "verbose": args.verbose})
    proc = subprocess.run(["node", str(HERE / "kernel_check.mjs")], input=payload, text=True)
    for name, why in skipped:
        print(f"SKIP {name}: {why}")
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main())
