"""Tests of the wasm pool / elementwise / softmax / misc kernels against numpy.

The kernels (csrc/pool.c, elementwise.c, softmax.c, misc.c) and pe_driver.c are compiled with zig cc
into one single-threaded test module; pe_runner.mjs runs batches of calls in Node. Every case runs
with nth = 1, 2 and 3 (the calls for tid = 0..nth-1 in sequence): the outputs must be bit-identical
for every nth, fully written (no canary left) and the 64-byte guards around every buffer intact.
Tolerance: max abs err <= 1e-5 * max|ref| + 1e-6; the math functions (exp, log, tanh, sigmoid, erf,
gelu, pow) are checked elementwise to 1e-6 relative over wide ranges.
"""
from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import require_or_skip

HERE = Path(__file__).resolve().parent
CSRC = HERE.parents[1] / "webdnn_build_wasm" / "csrc"
SOURCES = [CSRC / "pool.c", CSRC / "elementwise.c", CSRC / "softmax.c", CSRC / "misc.c", CSRC / "act.c", HERE / "pe_driver.c"]
FLAGS = ["--target=wasm32-freestanding", "-msimd128", "-O3", "-g0", "-ffreestanding", "-fno-math-errno",
         "-nostdlib", "-Wall", "-Wextra", "-Werror", "-Wno-unused-function", "-Wno-unused-parameter",
         f"-I{CSRC}", "-Wl,--no-entry", "-Wl,--import-memory",
         "-Wl,--initial-memory=16777216"]
EXPORTS = ["pe_heap_base", "pe_pool", "pe_binary", "pe_affine", "wdn_unary_f32", "wdn_global_avgpool_f32",
           "wdn_global_maxpool_f32", "wdn_softmax_f32", "wdn_copy_blocks_f32", "wdn_transpose_f32", "wdn_lrn_f32"]
FLAGS += [f"-Wl,--export={e}" for e in EXPORTS]
SPLITS = [1, 2, 3]
CANARY = 0x7FA5A5A5
TINY = 1e-43  # absolute floor for relative checks: subnormal results cannot carry 1e-6 relative precision

ACT_NONE, ACT_RELU, ACT_CLIP, ACT_LEAKY, ACT_SIGMOID, ACT_TANH, ACT_HSIG = range(7)
ACTS = [(ACT_NONE, 0, 0), (ACT_RELU, 0, 0), (ACT_CLIP, -0.5, 0.7), (ACT_LEAKY, 0.1, 0), (ACT_SIGMOID, 0, 0),
        (ACT_TANH, 0, 0), (ACT_HSIG, 0.2, 0.5)]


@pytest.fixture(scope="module")
def wasm(tmp_path_factory):
    if shutil.which("node") is None:
        require_or_skip("node not found")
    out = tmp_path_factory.mktemp("pe") / "pe.wasm"
    cmd = [sys.executable, "-m", "ziglang", "cc", *FLAGS, *map(str, SOURCES), "-o", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"zig cc failed:\n{proc.stderr[:4000]}")
    return out


class Case:
    def __init__(self, batch):
        self.batch, self.bufs, self.calls, self.outs = batch, [], [], []

    def _add(self, arr, out):
        init = None
        if arr is not None:
            arr = np.ascontiguousarray(arr)
            init = [len(self.batch.blob), arr.nbytes]
            self.batch.blob += arr.tobytes()
        return init

    def inp(self, arr, dtype=np.float32):
        arr = np.asarray(arr, dtype=dtype)
        self.bufs.append({"nbytes": max(arr.nbytes, 4), "init": self._add(arr, False), "out": False})
        return {"buf": len(self.bufs) - 1}

    def out(self, shape, init=None):
        n = int(np.prod(shape))
        arr = None if init is None else np.asarray(init, np.float32).reshape(shape)
        self.bufs.append({"nbytes": max(n * 4, 4), "init": self._add(arr, True), "out": True})
        self.outs.append((tuple(shape), n, init is not None))
        return {"buf": len(self.bufs) - 1}

    def call(self, fn, *args):
        self.calls.append({"fn": fn, "args": list(args)})


class Batch:
    def __init__(self):
        self.blob, self.cases = bytearray(), []

    def case(self):
        c = Case(self)
        self.cases.append(c)
        return c

    def run(self, wasm, tmp_path):
        spec = {"splits": SPLITS, "cases": [{"bufs": c.bufs, "calls": c.calls} for c in self.cases]}
        (tmp_path / "spec.json").write_text(json.dumps(spec))
        (tmp_path / "in.bin").write_bytes(bytes(self.blob) or b"\0")
        proc = subprocess.run(["node", str(HERE / "pe_runner.mjs"), str(wasm), str(tmp_path / "spec.json"),
                               str(tmp_path / "in.bin"), str(tmp_path / "out.bin")],
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr[-4000:]
        info = json.loads(proc.stdout)
        raw = np.fromfile(tmp_path / "out.bin", dtype=np.uint32)
        res, pos = [], 0
        for ci, c in enumerate(self.cases):
            assert all(info["guards_ok"][ci]), f"case {ci}: a kernel wrote outside its buffers"
            per_nth = []
            for _ in SPLITS:
                outs = []
                for b in c.bufs:
                    if not b["out"]:
                        continue
                    n = b["nbytes"] // 4
                    outs.append(raw[pos:pos + n])
                    pos += n
                per_nth.append(outs)
            # split invariance + full coverage
            for k, (shape, n, had_init) in enumerate(c.outs):
                base = per_nth[0][k][:n]
                if not had_init:
                    assert not np.any(base == CANARY), f"case {ci} out {k}: elements not written (nth=1)"
                for t, nth in enumerate(SPLITS[1:], 1):
                    other = per_nth[t][k][:n]
                    fb, fo = base.view(np.float32), other.view(np.float32)
                    same = (base == other) | (np.isnan(fb) & np.isnan(fo))
                    assert same.all(), (f"case {ci} out {k}: nth={nth} differs from nth=1 at "
                                        f"{np.flatnonzero(~same)[:8]}")
            res.append([per_nth[0][k][:n].view(np.float32).reshape(shape) for k, (shape, n, _) in enumerate(c.outs)])
        return res


def close(got, ref, what, rel=None):
    """Standard tolerance (1e-5 * max|ref| + 1e-6), or elementwise `rel` relative; non-finite must match."""
    got = np.asarray(got, np.float64)
    ref = np.asarray(ref, np.float64)
    assert got.shape == ref.shape, (what, got.shape, ref.shape)
    fin = np.isfinite(ref)
    bad = ~fin & ~((np.isnan(ref) & np.isnan(got)) | (ref == got))
    assert not bad.any(), f"{what}: non-finite mismatch at {np.argwhere(bad)[:5].tolist()}: " \
                          f"got {got[bad][:5]} want {ref[bad][:5]}"
    if not fin.any():
        return
    g, r = got[fin], ref[fin]
    err = np.abs(g - r)
    if rel is None:
        tol = 1e-5 * np.max(np.abs(r)) + 1e-6
        assert err.max() <= tol, f"{what}: max err {err.max():.3g} > {tol:.3g} at {np.argmax(err)}"
    else:
        tol = rel * np.abs(r) + TINY
        i = np.argmax(err - tol)
        assert (err <= tol).all(), f"{what}: rel err {err[i] / max(abs(r[i]), 1e-300):.3g} at x-index {i} " \
                                   f"(got {g[i]!r}, want {r[i]!r})"


def act_ref(y, kind, a, b):
    y = np.asarray(y, np.float64)
    if kind == ACT_RELU:
        return np.maximum(y, 0)
    if kind == ACT_CLIP:
        return np.minimum(np.maximum(y, a), b)
    if kind == ACT_LEAKY:
        return np.where(y < 0, y * np.float64(np.float32(a)), y)
    if kind == ACT_SIGMOID:
        return 1 / (1 + np.exp(-y))
    if kind == ACT_TANH:
        return np.tanh(y)
    if kind == ACT_HSIG:
        return np.clip(y * np.float64(np.float32(a)) + np.float64(np.float32(b)), 0, 1)
    return y


# ---------------------------------------------------------------------------------------- pooling

def out_size(n, k, s, d, p0, p1, ceil):
    ek = (k - 1) * d + 1
    span = n + p0 + p1 - ek
    if ceil:
        o = -(-span // s) + 1
        if (o - 1) * s >= n + p0:
            o -= 1
    else:
        o = span // s + 1
    return max(o, 0)


def pool_ref(x, kh, kw, sh, sw, dh, dw, pt, pl, pb, pr, oh, ow, is_max, cip):
    n, c, h, w = x.shape
    Hp = max(pt + h + pb, (oh - 1) * sh + (kh - 1) * dh + 1)
    Wp = max(pl + w + pr, (ow - 1) * sw + (kw - 1) * dw + 1)
    xp = np.full((n, c, Hp, Wp), -np.inf if is_max else 0.0)
    xp[:, :, pt:pt + h, pl:pl + w] = x
    valid = np.zeros((Hp, Wp))
    valid[pt:pt + h, pl:pl + w] = 1
    padded = np.zeros((Hp, Wp))
    padded[:pt + h + pb, :pl + w + pr] = 1
    acc = np.full((n, c, oh, ow), -np.inf if is_max else 0.0)
    cnt = np.zeros((oh, ow))
    cntp = np.zeros((oh, ow))
    for ky in range(kh):
        for kx in range(kw):
            sl = (slice(ky * dh, ky * dh + (oh - 1) * sh + 1, sh), slice(kx * dw, kx * dw + (ow - 1) * sw + 1, sw))
            v = xp[(slice(None), slice(None)) + sl]
            acc = np.maximum(acc, v) if is_max else acc + v
            cnt += valid[sl]
            cntp += padded[sl]
    if is_max:
        return acc
    with np.errstate(invalid="ignore", divide="ignore"):
        return acc / (cntp if cip else cnt)


POOL_CASES = [
    # (n, c, h, w), (kh, kw), (sh, sw), (dh, dw), (pt, pl, pb, pr), ceil
    ((1, 3, 8, 8), (2, 2), (2, 2), (1, 1), (0, 0, 0, 0), 0),
    ((2, 3, 17, 19), (2, 2), (2, 2), (1, 1), (0, 0, 0, 0), 1),
    ((1, 4, 16, 16), (3, 3), (2, 2), (1, 1), (1, 1, 1, 1), 0),
    ((1, 2, 15, 23), (3, 3), (2, 2), (1, 1), (1, 1, 1, 1), 1),
    ((1, 2, 112, 112), (3, 3), (2, 2), (1, 1), (1, 1, 1, 1), 0),
    ((2, 3, 13, 29), (3, 3), (1, 1), (1, 1), (1, 1, 1, 1), 0),
    ((1, 3, 10, 37), (5, 5), (1, 1), (1, 1), (2, 2, 2, 2), 0),
    ((1, 2, 9, 31), (3, 3), (1, 1), (2, 3), (2, 3, 2, 3), 0),
    ((1, 2, 11, 33), (3, 2), (3, 3), (1, 1), (1, 0, 2, 1), 1),
    ((1, 2, 12, 40), (2, 3), (1, 2), (2, 2), (1, 2, 0, 1), 0),
    ((1, 1, 7, 7), (3, 3), (2, 2), (1, 1), (2, 2, 2, 2), 0),          # pads > kernel / 2
    ((1, 2, 6, 9), (2, 2), (2, 2), (1, 1), (1, 2, 2, 2), 1),          # windows entirely in the padding
    ((2, 3, 5, 5), (5, 5), (1, 1), (1, 1), (4, 4, 4, 4), 0),
    ((1, 2, 1, 45), (1, 3), (1, 2), (1, 1), (0, 1, 0, 1), 1),
    ((1, 5, 7, 7), (7, 7), (1, 1), (1, 1), (0, 0, 0, 0), 0),
    ((1, 2, 30, 61), (3, 3), (2, 3), (2, 1), (1, 1, 1, 1), 1),
    ((3, 1, 33, 33), (2, 2), (2, 2), (1, 1), (0, 0, 1, 1), 1),
]


@pytest.mark.parametrize("is_max", [1, 0], ids=["max", "avg"])
def test_pool2d(wasm, tmp_path, is_max):
    rng = np.random.default_rng(1 + is_max)
    batch, refs = Batch(), []
    for (n, c, h, w), (kh, kw), (sh, sw), (dh, dw), (pt, pl, pb, pr), ceil in POOL_CASES:
        for cip in ([0] if is_max else [0, 1]):
            oh = out_size(h, kh, sh, dh, pt, pb, ceil)
            ow = out_size(w, kw, sw, dw, pl, pr, ceil)
            x = rng.standard_normal((n, c, h, w)).astype(np.float32)
            cs = batch.case()
            ip = cs.inp([n, c, h, w, oh, ow, kh, kw, sh, sw, dh, dw, pt, pl, pb, pr, cip], np.int32)
            cs.call("pe_pool", is_max, ip, cs.inp(x), cs.out((n, c, oh, ow)), "tid", "nth")
            refs.append(pool_ref(x.astype(np.float64), kh, kw, sh, sw, dh, dw, pt, pl, pb, pr, oh, ow, is_max, cip))
    res = batch.run(wasm, tmp_path)
    for i, (r, ref) in enumerate(zip(res, refs)):
        close(r[0], ref, f"pool case {i}")


def test_global_pool(wasm, tmp_path):
    rng = np.random.default_rng(3)
    batch, refs = Batch(), []
    for nc, hw in [(1, 1), (3, 3), (5, 7), (64, 49), (7, 1000), (2, 13), (17, 4), (1, 8), (9, 12)]:
        x = (rng.standard_normal((nc, hw)) + 0.5).astype(np.float32)
        for fn, ref in (("wdn_global_avgpool_f32", x.astype(np.float64).mean(1)), ("wdn_global_maxpool_f32", x.max(1))):
            cs = batch.case()
            cs.call(fn, nc, hw, cs.inp(x), cs.out((nc,)), "tid", "nth")
            refs.append(ref)
    res = batch.run(wasm, tmp_path)
    for i, (r, ref) in enumerate(zip(res, refs)):
        close(r[0], ref, f"global pool case {i}")


# ------------------------------------------------------------------------------------- elementwise

def bcast_strides(shape, out_shape):
    shape = (1,) * (len(out_shape) - len(shape)) + tuple(shape)
    st, acc = [0] * len(shape), 1
    for i in range(len(shape) - 1, -1, -1):
        st[i] = 0 if shape[i] == 1 else acc
        acc *= shape[i]
    return st


BIN_SHAPES = [
    ((2, 3, 5, 7), (2, 3, 5, 7)),      # same shape
    ((2, 3, 5, 7), ()),                 # scalar b
    ((), (4, 9)),                       # scalar a
    ((2, 6, 5, 7), (6, 1, 1)),          # per-channel b
    ((1, 6, 1, 1), (2, 6, 5, 3)),       # per-channel a
    ((3, 4, 5, 7), (7,)),               # innermost
    ((3, 4, 1, 7), (4, 5, 1)),          # both broadcast
    ((4, 1), (1, 5)),
    ((1, 3, 1, 2, 1, 3), (2, 1, 4, 1, 5, 1)),   # rank 6
    ((2, 1, 3, 1, 3, 2), (1, 2, 1, 2, 3, 1)),
    ((1000,), (1000,)),
    ((3, 1001), (3, 1)),
    ((5, 2051), (2051,)),
    ((1,), (1,)),
    ((7, 1, 1), (1, 1, 9)),
    ((2, 0, 3), (3,)),                  # empty
]


def binary_case(batch, a, b, op, act):
    out_shape = np.broadcast_shapes(a.shape, b.shape)
    rank = len(out_shape)
    pad = 6 - rank
    shape = list(out_shape) + [1] * pad
    sa = bcast_strides(a.shape, out_shape) + [0] * pad
    sb = bcast_strides(b.shape, out_shape) + [0] * pad
    cs = batch.case()
    ip = cs.inp([op, rank, *shape, *sa, *sb, act[0]], np.int32)
    fp = cs.inp([act[1], act[2]])
    cs.call("pe_binary", ip, fp, cs.inp(a), cs.inp(b), cs.out(out_shape), "tid", "nth")
    return out_shape


def binary_ref(a, b, op):
    with np.errstate(all="ignore"):
        if op == 6:
            return np.power(a.astype(np.float64), b.astype(np.float64)).astype(np.float32)
        f = [np.add, np.subtract, np.multiply, np.divide, np.maximum, np.minimum][op]
        return f(a, b)  # float32 arithmetic is correctly rounded, as in wasm


def test_binary(wasm, tmp_path):
    rng = np.random.default_rng(4)
    batch, refs = Batch(), []
    k = 0
    for sa_, sb_ in BIN_SHAPES:
        for op in range(7):
            a = rng.uniform(-3, 3, sa_).astype(np.float32)
            b = rng.uniform(-3, 3, sb_).astype(np.float32)
            if op == 3:
                b = np.where(np.abs(b) < 0.1, 0.5, b).astype(np.float32)
            if op == 6:
                a = np.abs(a).astype(np.float32) + np.float32(0.1)
            act = ACTS[k % len(ACTS)]
            k += 1
            binary_case(batch, a, b, op, act)
            refs.append(act_ref(binary_ref(a, b, op), *act))
    res = batch.run(wasm, tmp_path)
    for i, (r, ref) in enumerate(zip(res, refs)):
        close(r[0], ref, f"binary case {i}")


def test_binary_all_acts(wasm, tmp_path):
    rng = np.random.default_rng(5)
    batch, refs = Batch(), []
    a = rng.uniform(-6, 6, (2, 3, 4, 11)).astype(np.float32)
    b = rng.uniform(-2, 2, (3, 1, 1)).astype(np.float32)
    for act in ACTS:
        binary_case(batch, a, b, 0, act)
        refs.append(act_ref(binary_ref(a, b, 0), *act))
    res = batch.run(wasm, tmp_path)
    for i, (r, ref) in enumerate(zip(res, refs)):
        close(r[0], ref, f"act {ACTS[i]}")


def test_pow_special(wasm, tmp_path):
    sp = [0.0, -0.0, 1.0, -1.0, 2.0, -2.0, 0.5, -0.5, 3.0, -3.0, np.inf, -np.inf, np.nan, 1.5, -1.5, 200.0,
          -200.0, 1e-40, 3e38, 16777216.0, 16777217.0, -7.0, 0.999, 1.001, 123.456]
    xs, ys = np.meshgrid(np.array(sp, np.float32), np.array(sp, np.float32))
    rng = np.random.default_rng(6)
    x2 = rng.uniform(-5, 5, 4000).astype(np.float32)
    y2 = np.round(rng.uniform(-10, 10, 4000)).astype(np.float32)
    x3 = np.exp(rng.uniform(-40, 40, 4000)).astype(np.float32)
    y3 = rng.uniform(-3, 3, 4000).astype(np.float32)
    a = np.concatenate([xs.ravel(), x2, x3])
    b = np.concatenate([ys.ravel(), y2, y3])
    batch = Batch()
    binary_case(batch, a, b, 6, (ACT_NONE, 0, 0))
    res = batch.run(wasm, tmp_path)
    with np.errstate(all="ignore"):
        ref = np.power(a, b)  # numpy float32 power: C powf semantics
    close(res[0][0], ref, "pow", rel=1e-6)


def _erf(x):
    return np.vectorize(math.erf, otypes=[np.float64])(x)


def _gelu(x):
    return np.vectorize(lambda v: 0.5 * v * math.erfc(-v / math.sqrt(2)), otypes=[np.float64])(x)


SPECIALS = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-45, -1e-45, 1e-40, 3.4e38, -3.4e38], np.float32)


def _wide(rng, lo, hi, n=20011):
    x = np.concatenate([np.linspace(lo, hi, n), rng.uniform(lo, hi, 3001)]).astype(np.float32)
    return np.concatenate([x, SPECIALS])


def test_unary_math(wasm, tmp_path):
    rng = np.random.default_rng(7)
    pos = np.concatenate([np.exp(np.linspace(-103.5, 88.7, 20001)), rng.uniform(0, 4, 3001),
                          1 + np.linspace(-1e-3, 1e-3, 2001), [1.0, 2.0**-149, 2.0**-130, 3.4e38]]).astype(np.float32)
    cases = [
        (3, "exp", _wide(rng, -105, 90), lambda x: np.exp(x)),
        (4, "log", np.concatenate([pos, SPECIALS, [-1.0, -1e-30]]).astype(np.float32), lambda x: np.log(x)),
        (2, "tanh", _wide(rng, -12, 12), np.tanh),
        (2, "tanh-small", _wide(rng, -1e-3, 1e-3), np.tanh),
        (1, "sigmoid", _wide(rng, -12, 110), lambda x: 1 / (1 + np.exp(-x))),
        # exp_nonpos's reduction error grows with |x| (6e-8 |x|); results below 2^-126 flush to 0
        (1, "sigmoid-tail", _wide(rng, -110, -12), lambda x: np.where(x < -87.33654, 0.0, 1 / (1 + np.exp(-x)))),
        (12, "erf", _wide(rng, -7, 7), lambda x: np.where(np.isnan(x), np.nan, _erf(np.nan_to_num(x)))),
        (12, "erf-small", _wide(rng, -1e-2, 1e-2), lambda x: np.where(np.isnan(x), np.nan, _erf(np.nan_to_num(x)))),
        # down to x = -13 (|gelu| ~1e-37): below, exp(-x^2/2) < 2^-126 is flushed to 0 (exp_nonpos)
        (13, "gelu", np.concatenate([np.linspace(-13.0, 8, 20001), rng.uniform(-4, 4, 3001)]).astype(np.float32),
         _gelu),
    ]
    batch, refs = Batch(), []
    for op, name, x, f in cases:
        cs = batch.case()
        cs.call("wdn_unary_f32", op, x.size, cs.inp(x), cs.out(x.shape), 0.0, 0.0, "tid", "nth")
        with np.errstate(all="ignore"):
            ref = f(x.astype(np.float64))
            r32 = ref.astype(np.float32)  # values beyond the float32 range round to +-inf
            refs.append((name, np.where(np.isfinite(ref) & ~np.isfinite(r32), r32, ref)))
    res = batch.run(wasm, tmp_path)
    for (name, ref), r in zip(refs, res):
        # gelu: exp(-x^2/2) through exp_nonpos (mathfn.h) costs relative precision in the far negative tail
        close(r[0], ref, name, rel={"sigmoid-tail": 8e-6, "gelu": 6e-6}.get(name, 1e-6))


def test_unary_other(wasm, tmp_path):
    rng = np.random.default_rng(8)
    x = np.concatenate([rng.uniform(-8, 8, 1037), [0.0, -0.0, np.inf, -np.inf, 3.0, -3.0, 1e-30]]).astype(np.float32)
    xd = x.astype(np.float64)
    with np.errstate(all="ignore"):
        cases = [
            (0, 0, 0, np.maximum(xd, 0)),
            (5, 0, 0, np.sqrt(xd)),
            (6, 0, 0, np.abs(xd)),
            (7, 0, 0, -xd),
            (8, -1.5, 2.25, np.clip(xd, -1.5, 2.25)),
            (9, 0.01, 0, np.where(xd < 0, xd * np.float64(np.float32(0.01)), xd)),
            (10, 0.2, 0.5, np.clip(xd * np.float64(np.float32(0.2)) + 0.5, 0, 1)),
            (11, 0, 0, xd * np.clip(xd / 6 + 0.5, 0, 1)),
            (14, 0, 0, (1 / x).astype(np.float64)),
            (15, 0, 0, xd),
        ]
    batch = Batch()
    for op, a, b, _ in cases:
        cs = batch.case()
        cs.call("wdn_unary_f32", op, x.size, cs.inp(x), cs.out(x.shape), a, b, "tid", "nth")
    # in place (x == y) and tiny counts
    for op, n in [(1, 5), (3, 1), (11, 3), (13, 17)]:
        cs = batch.case()
        buf = cs.out((n,), init=x[:n])
        cs.call("wdn_unary_f32", op, n, buf, buf, 0.0, 0.0, "tid", "nth")
    res = batch.run(wasm, tmp_path)
    for (op, _, _, ref), r in zip(cases, res):
        close(r[0], ref, f"unary op {op}")
    xs = x.astype(np.float64)
    inplace_refs = [1 / (1 + np.exp(-xs[:5])), np.exp(xs[:1]), xs[:3] * np.clip(xs[:3] / 6 + 0.5, 0, 1), _gelu(xs[:17])]
    for ref, r in zip(inplace_refs, res[len(cases):]):
        close(r[0], ref, "in-place unary", rel=1e-6)


def test_channel_affine(wasm, tmp_path):
    rng = np.random.default_rng(9)
    batch, refs = Batch(), []
    k = 0
    for n, c, hw in [(1, 3, 1), (2, 5, 7), (1, 16, 49), (3, 4, 1000), (1, 1, 3), (2, 7, 13)]:
        for use_scale, use_shift in [(1, 1), (1, 0), (0, 1)]:
            x = rng.standard_normal((n, c, hw)).astype(np.float32)
            s = rng.uniform(0.5, 2, c).astype(np.float32)
            t = rng.uniform(-1, 1, c).astype(np.float32)
            act = ACTS[k % len(ACTS)]
            k += 1
            cs = batch.case()
            cs.call("pe_affine", n, c, hw, cs.inp(x), cs.inp(s) if use_scale else None,
                    cs.inp(t) if use_shift else None, cs.out(x.shape), act[0], act[1], act[2], "tid", "nth")
            y = x * (s[:, None] if use_scale else np.float32(1)) + (t[:, None] if use_shift else np.float32(0))
            refs.append(act_ref(y, *act))
    res = batch.run(wasm, tmp_path)
    for i, (r, ref) in enumerate(zip(res, refs)):
        close(r[0], ref, f"affine case {i}")


# ----------------------------------------------------------------------------------------- softmax

def test_softmax(wasm, tmp_path):
    rng = np.random.default_rng(10)
    batch, refs = Batch(), []
    inputs = []
    for rows, cols in [(1, 1), (3, 5), (7, 1000), (4, 3), (5, 8), (2, 33), (9, 4)]:
        inputs.append((rng.standard_normal((rows, cols)) * 3).astype(np.float32))
    big = (rng.standard_normal((4, 10)) * 50 + 80).astype(np.float32)   # large values: needs max subtraction
    inf_rows = np.array([[-np.inf, 0.0, 1.0, -np.inf, 2.0], [-1e30, -1e30, 5.0, 0.0, -np.inf]], np.float32)
    inputs += [big, inf_rows]
    for x in inputs:
        for log in (0, 1):
            cs = batch.case()
            cs.call("wdn_softmax_f32", x.shape[0], x.shape[1], cs.inp(x), cs.out(x.shape), log, "tid", "nth")
            xd = x.astype(np.float64)
            z = xd - xd.max(1, keepdims=True)
            with np.errstate(divide="ignore"):
                lse = np.log(np.exp(z).sum(1, keepdims=True))
                refs.append(z - lse if log else np.exp(z - lse))
    res = batch.run(wasm, tmp_path)
    for i, (r, ref) in enumerate(zip(res, refs)):
        close(r[0], ref, f"softmax case {i}")


# -------------------------------------------------------------------------------------------- misc

def test_copy_blocks(wasm, tmp_path):
    rng = np.random.default_rng(11)
    batch, refs = Batch(), []
    for count, block, ss, ds in [(1, 1, 1, 1), (3, 5, 7, 5), (4, 37, 37, 100), (100, 3, 10, 3), (2, 1000, 1500, 1000),
                                 (7, 16, 16, 32), (1, 4099, 0, 0)]:
        src = rng.standard_normal(max((count - 1) * ss + block, 1)).astype(np.float32)
        dlen = max((count - 1) * ds + block, 1)
        dst0 = np.full(dlen, -7.0, np.float32)
        cs = batch.case()
        cs.call("wdn_copy_blocks_f32", count, block, cs.inp(src), ss, cs.out((dlen,), init=dst0), ds, "tid", "nth")
        ref = dst0.copy()
        for i in range(count):
            ref[i * ds:i * ds + block] = src[i * ss:i * ss + block]
        refs.append(ref)
    res = batch.run(wasm, tmp_path)
    for i, (r, ref) in enumerate(zip(res, refs)):
        np.testing.assert_array_equal(r[0], ref, err_msg=f"copy case {i}")


def test_transpose(wasm, tmp_path):
    rng = np.random.default_rng(12)
    batch, refs = Batch(), []
    cases = [((5,), (0,)), ((8, 12), (1, 0)), ((7, 9), (1, 0)), ((33, 130), (1, 0)), ((2, 3, 8, 8), (0, 2, 3, 1)),
             ((2, 16, 5, 7), (0, 2, 3, 1)), ((2, 5, 7, 3), (0, 3, 1, 2)), ((3, 4, 5), (2, 0, 1)), ((3, 4, 5), (1, 0, 2)),
             ((2, 3, 4, 5, 6), (4, 2, 0, 3, 1)), ((2, 1, 3, 1, 4, 5), (5, 4, 3, 2, 1, 0)), ((1, 1, 6), (2, 1, 0)),
             ((4, 1, 9), (2, 1, 0)), ((6, 5), (0, 1)), ((2, 3, 0), (2, 0, 1))]
    for shape, perm in cases:
        x = rng.standard_normal(shape).astype(np.float32)
        st = [int(s) // 4 for s in x.strides] if x.size else [1] * x.ndim
        out_shape = [shape[p] for p in perm]
        in_strides = [st[p] for p in perm]
        cs = batch.case()
        cs.call("wdn_transpose_f32", len(shape), cs.inp(out_shape, np.int32), cs.inp(in_strides, np.int32),
                cs.inp(x), cs.out(out_shape), "tid", "nth")
        refs.append(np.transpose(x, perm))
    res = batch.run(wasm, tmp_path)
    for i, (r, ref) in enumerate(zip(res, refs)):
        np.testing.assert_array_equal(r[0], ref, err_msg=f"transpose case {i} {cases[i]}")


def test_lrn(wasm, tmp_path):
    rng = np.random.default_rng(13)
    batch, refs = Batch(), []
    for (n, c, hw), size, alpha, beta, bias in [((1, 8, 9), 5, 1e-4, 0.75, 1.0), ((2, 5, 13), 3, 0.5, 0.75, 2.0),
                                                ((1, 3, 7), 4, 0.1, 0.5, 1.0), ((1, 16, 64), 5, 2e-3, 0.6, 1.5),
                                                ((2, 4, 1), 1, 0.3, 1.0, 1.0), ((1, 6, 5), 2, 1.0, 0.9, 0.5)]:
        x = (rng.standard_normal((n, c, hw)) * 2).astype(np.float32)
        cs = batch.case()
        cs.call("wdn_lrn_f32", n, c, hw, size, alpha, beta, bias, cs.inp(x), cs.out(x.shape), "tid", "nth")
        xd = x.astype(np.float64)
        sq = np.zeros_like(xd)
        before, after = (size - 1) // 2, size - 1 - (size - 1) // 2
        for ch in range(c):
            sq[:, ch] = (xd[:, max(0, ch - before):min(c - 1, ch + after) + 1] ** 2).sum(1)
        a32, b32, bias32 = (float(np.float32(v)) for v in (alpha, beta, bias))
        refs.append(xd / (bias32 + a32 / size * sq) ** b32)
    res = batch.run(wasm, tmp_path)
    for i, (r, ref) in enumerate(zip(res, refs)):
        close(r[0], ref, f"lrn case {i}")


def maxpool_js_ref(x, kh, kw, sh, sw, dh, dw, pt, pl, oh, ow):
    """The js backend's MaxPool scan (kernels/pool.js): taps in (ky, kx) order, the first valid tap
    starts the max, a later tap v replaces it only when v > max (so a NaN propagates only when it is the
    first valid tap; +0/-0 keep the first seen); no valid tap gives -inf."""
    n, c, h, w = x.shape
    y = np.full((n, c, oh, ow), -np.inf, np.float32)
    for oy in range(oh):
        for ox in range(ow):
            best, first = None, True
            for ky in range(kh):
                iy = oy * sh - pt + ky * dh
                if not 0 <= iy < h:
                    continue
                for kx in range(kw):
                    ix = ox * sw - pl + kx * dw
                    if not 0 <= ix < w:
                        continue
                    v = x[:, :, iy, ix]
                    if first:
                        best, first = v.copy(), False
                    else:
                        best = np.where(v > best, v, best)
            if best is not None:
                y[:, :, oy, ox] = best
    return y


def test_maxpool_nan_signed_zero(wasm, tmp_path):
    """MaxPool on NaN / +-0 / +-inf inputs: bit-identical to the js backend's scan order."""
    rng = np.random.default_rng(11)
    batch, refs = Batch(), []
    specials = np.array([np.nan, 0.0, -0.0, np.inf, -np.inf, 1.0, -1.0], np.float32)
    for (n, c, h, w), (kh, kw), (sh, sw), (dh, dw), (pt, pl, pb, pr), ceil in POOL_CASES:
        oh = out_size(h, kh, sh, dh, pt, pb, ceil)
        ow = out_size(w, kw, sw, dw, pl, pr, ceil)
        x = rng.standard_normal((n, c, h, w)).astype(np.float32)
        mask = rng.random(x.shape) < 0.3
        x[mask] = rng.choice(specials, size=int(mask.sum()))
        cs = batch.case()
        ip = cs.inp([n, c, h, w, oh, ow, kh, kw, sh, sw, dh, dw, pt, pl, pb, pr, 0], np.int32)
        cs.call("pe_pool", 1, ip, cs.inp(x), cs.out((n, c, oh, ow)), "tid", "nth")
        refs.append(maxpool_js_ref(x, kh, kw, sh, sw, dh, dw, pt, pl, oh, ow))
    res = batch.run(wasm, tmp_path)
    for i, (r, ref) in enumerate(zip(res, refs)):
        got = np.asarray(r[0], np.float32).ravel()
        ref = ref.ravel()
        same = (got.view(np.uint32) == ref.view(np.uint32)) | (np.isnan(got) & np.isnan(ref))
        assert same.all(), f"maxpool special case {i}: {int((~same).sum())} of {same.size} differ"
