"""GEMM / conv2d wasm kernels vs numpy: builds the test module with zig, runs it in Node (1 and 2
threads), compares (max abs err <= 1e-4 * max|ref| + 1e-6) and checks that 1 and 2 threads give
bit-identical results. Skipped when node or ziglang is missing (failed under CI=true)."""
from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import require_or_skip

HERE = Path(__file__).resolve().parent
# build.py by its path: a top-level module named "build" could be another one (e.g. pypa's build)
_spec = importlib.util.spec_from_file_location("webdnn_wasm_kernels_build", HERE / "build.py")
_build_mod = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_build_mod)
build = _build_mod.build

ACTS = [(0, 0.0, 0.0), (1, 0.0, 0.0), (2, -0.5, 0.7), (3, 0.1, 0.0), (4, 0.0, 0.0), (5, 0.0, 0.0), (6, 0.2, 0.5)]


def act_ref(x, kind, a, b):
    if kind == 1: return np.maximum(x, 0)
    if kind == 2: return np.clip(x, a, b)
    if kind == 3: return np.where(x < 0, a * x, x)
    if kind == 4: return 1 / (1 + np.exp(-x))
    if kind == 5: return np.tanh(x)
    if kind == 6: return np.clip(a * x + b, 0, 1)
    return x


def gemm_cases(rng):
    shapes = [(1, 1, 1), (4, 8, 1), (5, 9, 3), (3, 7, 2), (1, 37, 19), (1, 40, 64), (2, 3, 300), (13, 17, 257),
              (64, 64, 64), (33, 70, 513), (100, 9, 260), (7, 130, 31), (128, 24, 1), (8, 600, 40), (17, 1, 9),
              (200, 150, 20), (6, 520, 9), (9, 11, 0)]
    cases = []
    for idx, (m, n, k) in enumerate(shapes):
        for ta in (0, 1):
            for tb in (0, 1):
                if idx % 3 and (ta, tb) not in ((0, 0), (ta ^ 1, tb)):
                    continue
                bias_kind = (idx + 2 * ta + tb) % 5
                act = ACTS[(idx + ta + 3 * tb) % len(ACTS)]
                cases.append(dict(kind="gemm", m=m, n=n, k=k, ta=ta, tb=tb, biasKind=bias_kind,
                                  alpha=float([1.0, 0.5, -1.25][idx % 3]), beta=float([1.0, 2.0][idx % 2]),
                                  residual=(idx + ta) % 2 == 1, act=act[0], actA=act[1], actB=act[2]))
    # every activation / bias kind on one odd shape
    for bk in range(5):
        for ai, act in enumerate(ACTS):
            cases.append(dict(kind="gemm", m=11, n=21, k=35, ta=0, tb=1, biasKind=bk, alpha=1.0, beta=0.75,
                              residual=ai % 2 == 0, act=act[0], actA=act[1], actB=act[2]))
    return cases


def conv_cases():
    # (n, cin, h, w, cout, kh, kw, sh, sw, dh, dw, pads(t,l,b,r), group)
    specs = [
        (1, 3, 9, 11, 5, 3, 3, 1, 1, 1, 1, (1, 1, 1, 1), 1),
        (2, 4, 8, 8, 6, 1, 1, 1, 1, 1, 1, (0, 0, 0, 0), 1),      # pointwise
        (1, 8, 7, 7, 16, 1, 1, 2, 2, 1, 1, (0, 0, 0, 0), 1),     # 1x1 stride 2
        (1, 3, 17, 19, 8, 7, 7, 2, 2, 1, 1, (3, 3, 3, 3), 1),    # stem-like
        (1, 5, 10, 12, 7, 3, 3, 2, 2, 1, 1, (1, 0, 1, 2), 1),
        (1, 4, 12, 12, 4, 3, 3, 1, 1, 2, 2, (2, 2, 2, 2), 1),    # dilation
        (1, 6, 9, 9, 9, 3, 3, 1, 1, 1, 1, (1, 1, 1, 1), 3),      # groups
        (1, 4, 6, 6, 8, 2, 2, 1, 1, 1, 1, (0, 1, 1, 0), 2),
        (1, 8, 13, 21, 8, 3, 3, 1, 1, 1, 1, (1, 1, 1, 1), 8),    # depthwise s1
        (2, 6, 14, 30, 6, 3, 3, 2, 2, 1, 1, (1, 1, 1, 1), 6),    # depthwise s2
        (1, 5, 11, 25, 5, 5, 5, 1, 1, 1, 1, (2, 2, 2, 2), 5),    # depthwise 5x5
        (1, 4, 9, 40, 4, 3, 3, 3, 3, 2, 1, (0, 2, 1, 1), 4),     # depthwise odd stride/dilation
        (1, 3, 20, 41, 3, 3, 3, 2, 2, 1, 1, (0, 0, 0, 0), 3),    # depthwise s2 no pad
        (1, 4, 6, 6, 8, 3, 3, 1, 1, 1, 1, (1, 1, 1, 1), 4),      # depth multiplier 2 (grouped path)
        (1, 70, 9, 10, 33, 3, 3, 1, 1, 1, 1, (1, 1, 1, 1), 1),   # K = 630 > KC
        (1, 300, 4, 5, 12, 1, 1, 1, 1, 1, 1, (0, 0, 0, 0), 1),   # pointwise K > KC
        (1, 16, 30, 30, 12, 3, 3, 1, 1, 1, 1, (1, 1, 1, 1), 1),  # N = 900 > NC
        (1, 2, 5, 5, 3, 5, 5, 1, 1, 1, 1, (0, 0, 0, 0), 1),      # 1x1 output
        (1, 3, 40, 150, 3, 3, 3, 1, 1, 1, 1, (1, 0, 0, 1), 3),   # depthwise s1, several row strips, asym pads
        (1, 2, 45, 301, 2, 3, 3, 2, 2, 1, 1, (0, 1, 1, 0), 2),   # depthwise s2, several strips, odd width
        (2, 5, 7, 7, 5, 3, 3, 1, 1, 1, 1, (1, 1, 1, 1), 5),      # depthwise 7x7 planes (MobileNetV2 tail)
        (1, 3, 6, 9, 3, 3, 3, 2, 2, 1, 1, (2, 2, 2, 2), 3),      # depthwise s2, pad 2
        (1, 40, 10, 10, 24, 3, 3, 1, 1, 1, 1, (1, 1, 1, 1), 1),  # M = 24: 5-row + 4-row GEMM panels
        (1, 70, 7, 7, 37, 3, 3, 1, 1, 1, 1, (1, 1, 1, 1), 1),    # N = 49: 1-column edge panels (paired), K > KC
        (1, 60, 14, 14, 23, 3, 3, 1, 1, 1, 1, (1, 1, 1, 1), 1),  # N = 196: 4-column edge panel, K > KC
        # depthwise 3x3 through the assembly kernels (dw_kern.s): acts none/relu/clip, widths up to
        # DW_FIXED_OW = 112, several strips, odd widths (C tail), both strides
        (1, 3, 30, 112, 3, 3, 3, 1, 1, 1, 1, (1, 1, 1, 1), 3),   # idx 23: act 2 (clip), OW 112
        (1, 4, 45, 113, 4, 3, 3, 1, 1, 1, 1, (1, 1, 1, 1), 4),   # idx 24: act 3 (C path), OW 113 > 112
        (1, 3, 9, 9, 3, 3, 3, 2, 2, 1, 1, (1, 1, 1, 1), 3),      # idx 25: act 4 (C path), residual
        (1, 6, 23, 30, 6, 3, 3, 2, 2, 1, 1, (1, 1, 1, 1), 6),    # idx 26: act 5
        (2, 5, 14, 14, 5, 3, 3, 1, 1, 1, 1, (1, 1, 1, 1), 5),    # idx 27: act 6
        (1, 7, 50, 223, 7, 3, 3, 2, 2, 1, 1, (0, 1, 1, 0), 7),   # idx 28: act 0, residual (C path), OW 112
        (1, 4, 30, 57, 4, 3, 3, 1, 1, 1, 1, (1, 1, 1, 1), 4),    # idx 29: act 1 (relu), OW 57, 1 strip tail 1
        (2, 9, 7, 7, 9, 3, 3, 1, 1, 1, 1, (1, 1, 1, 1), 9),      # idx 30: act 2 (clip), OW 7
        (1, 3, 56, 56, 3, 3, 3, 2, 2, 1, 1, (0, 0, 1, 1), 3),    # idx 31: act 3
        (1, 6, 56, 56, 6, 3, 3, 2, 2, 1, 1, (0, 0, 1, 1), 6),    # idx 32: act 4
        (1, 5, 29, 100, 5, 3, 3, 2, 2, 1, 1, (1, 1, 1, 1), 5),   # idx 33: act 5
        (1, 8, 16, 16, 8, 3, 3, 1, 1, 1, 1, (1, 1, 1, 1), 8),    # idx 34: act 6
        (1, 8, 28, 28, 8, 3, 3, 1, 1, 1, 1, (1, 1, 1, 1), 8),    # idx 35: act 0 (none)
        (1, 4, 33, 33, 4, 3, 3, 2, 2, 1, 1, (1, 1, 1, 1), 4),    # idx 36: act 1 (relu)
        (1, 4, 33, 44, 4, 3, 3, 2, 2, 1, 1, (1, 1, 1, 1), 4),    # idx 37: act 2 (clip), residual
    ]
    cases = []
    for idx, (n, cin, h, w, cout, kh, kw, sh, sw, dh, dw, pads, group) in enumerate(specs):
        oh = (h + pads[0] + pads[2] - dh * (kh - 1) - 1) // sh + 1
        ow = (w + pads[1] + pads[3] - dw * (kw - 1) - 1) // sw + 1
        act = ACTS[idx % len(ACTS)]
        cases.append(dict(kind="conv", n=n, cin=cin, h=h, w=w, cout=cout, oh=oh, ow=ow, kh=kh, kw=kw, sh=sh, sw=sw,
                          dh=dh, dw=dw, pads=list(pads), group=group, hasBias=idx % 4 != 3,
                          residual=idx % 3 == 1, act=act[0], actA=act[1], actB=act[2]))
    return cases


def conv_ref(x, w, c):
    n, cin, h, wd = x.shape
    g = c["group"]
    cin_g, cout_g = cin // g, c["cout"] // g
    pt, pl, pb, pr = c["pads"]
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    y = np.zeros((n, c["cout"], c["oh"], c["ow"]))
    for ky in range(c["kh"]):
        for kx in range(c["kw"]):
            y0, x0 = ky * c["dh"], kx * c["dw"]
            patch = xp[:, :, y0:y0 + c["sh"] * (c["oh"] - 1) + 1:c["sh"], x0:x0 + c["sw"] * (c["ow"] - 1) + 1:c["sw"]]
            for gi in range(g):
                wg = w[gi * cout_g:(gi + 1) * cout_g, :, ky, kx].astype(np.float64)
                y[:, gi * cout_g:(gi + 1) * cout_g] += np.einsum("oc,nchw->nohw", wg, patch[:, gi * cin_g:(gi + 1) * cin_g])
    return y


def make_data(rng, c):
    if c["kind"] == "gemm":
        m, n, k = c["m"], c["n"], c["k"]
        a = rng.standard_normal((k, m) if c["ta"] else (m, k)).astype(np.float32)
        b = rng.standard_normal((n, k) if c["tb"] else (k, n)).astype(np.float32)
        inputs = {"a": a, "b": b}
        bias_shape = {1: (m,), 2: (n,), 3: (m, n), 4: (1,)}.get(c["biasKind"])
        if bias_shape:
            inputs["bias"] = rng.standard_normal(bias_shape).astype(np.float32)
        if c["residual"]:
            inputs["residual"] = rng.standard_normal((m, n)).astype(np.float32)
        A = a.T if c["ta"] else a
        B = b.T if c["tb"] else b
        ref = c["alpha"] * (A.astype(np.float64) @ B.astype(np.float64))
        if bias_shape:
            bias = inputs["bias"].astype(np.float64)
            ref = ref + c["beta"] * (bias[:, None] if c["biasKind"] == 1 else bias)
    else:
        x = rng.standard_normal((c["n"], c["cin"], c["h"], c["w"])).astype(np.float32)
        w = rng.standard_normal((c["cout"], c["cin"] // c["group"], c["kh"], c["kw"])).astype(np.float32)
        inputs = {"x": x, "weight": w}
        ref = conv_ref(x, w, c)
        if c["hasBias"]:
            inputs["bias"] = rng.standard_normal(c["cout"]).astype(np.float32)
            ref = ref + inputs["bias"][None, :, None, None]
        if c["residual"]:
            inputs["residual"] = rng.standard_normal(ref.shape).astype(np.float32)
    if c["residual"]:
        ref = ref + inputs["residual"]
    ref = act_ref(ref, c["act"], c["actA"], c["actB"])
    return inputs, ref.astype(np.float32).ravel()


@pytest.fixture(scope="module")
def tools(tmp_path_factory):
    if shutil.which("node") is None:
        require_or_skip("node not found")
    try:
        import ziglang  # noqa: F401
    except ImportError:
        require_or_skip("ziglang not installed (pip install -e plugins/webdnn-build-wasm)")
    out = tmp_path_factory.mktemp("wasm")
    build(out)
    return out


def test_gemm_conv(tools, tmp_path):
    rng = np.random.default_rng(1234)
    cases = gemm_cases(rng) + conv_cases()
    blobs, refs, offset = [], [], 0
    for i, c in enumerate(cases):
        c["id"] = i
        inputs, ref = make_data(rng, c)
        c["inputs"] = {}
        for name, arr in inputs.items():
            flat = np.ascontiguousarray(arr, dtype=np.float32).ravel()
            c["inputs"][name] = [offset, int(flat.size)]
            blobs.append(flat)
            offset += flat.size
        c["out"] = int(ref.size)
        refs.append(ref)
    (tmp_path / "cases.json").write_text(json.dumps(cases))
    (np.concatenate(blobs) if blobs else np.zeros(0, np.float32)).tofile(tmp_path / "inputs.bin")
    proc = subprocess.run(["node", str(HERE / "run_cases.mjs"), str(tools), str(tmp_path)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out1 = np.fromfile(tmp_path / "out-1.bin", dtype=np.float32)
    out2 = np.fromfile(tmp_path / "out-2.bin", dtype=np.float32)
    failures, off = [], 0
    for c, ref in zip(cases, refs):
        got = out1[off:off + ref.size]
        got2 = out2[off:off + ref.size]
        off += ref.size
        desc = {k: v for k, v in c.items() if k not in ("inputs",)}
        err = float(np.max(np.abs(got - ref))) if ref.size else 0.0
        tol = 1e-4 * float(np.max(np.abs(ref))) + 1e-6 if ref.size else 0.0
        if not np.isfinite(got).all() or err > tol:
            failures.append(f"err {err:.3g} > tol {tol:.3g}: {desc}")
        elif not np.array_equal(got.view(np.uint32), got2.view(np.uint32)):
            failures.append(f"1 vs 2 threads differ: {desc}")
    print(f"{len(cases)} cases x 2 thread counts, {len(failures)} failures")
    assert not failures, "\n".join(failures[:20])
