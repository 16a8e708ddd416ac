"""Generates plugins/webdnn-build-wasm/webdnn_build_wasm/csrc/gemm_kern.s: the SGEMM micro-kernels
(4x8 and 5x8 f32 tiles) in WebAssembly assembly; clang assembles it with the rest of the kernel library.

    python bench/gemm/gen_kern.py

Why assembly: clang does not fold constant offsets into wasm loads (it emits i32.add + load 0, and V8
then computes each address separately) and its loop shapes cost V8 extra moves and compares. Here each
k step reads the packed A panel ([k][MR]) and the packed B panel ([k][8]) through one pointer each with
constant offsets, and the loop ends on a pointer compare, so V8 emits, per k step, 2 `vmovdqu` +
MR `vbroadcastss` + 2*MR `vmulps` + 2*MR `vaddps` and 5 integer instructions, no spills (accumulators
2*MR + 2 B vectors + 1 broadcast + 1 product <= 14 of V8's 15 usable xmm registers).
Measured on the 2-vCPU Zen 5 (L1-resident panels, kc = 256): 4x8 ~80% of the mul+add peak, 5x8 ~83%.
Unrolling k (in C or here) does not help: V8 schedules all loads of the unrolled body first and spills.

  void wdn__kern{MR}x8(const float* a, const float* b, int kc, float* c, int ldc, int load);
    c[r*ldc + j] = (load ? c[r*ldc + j] : 0) + sum_k a[k*MR + r] * b[k*8 + j]   (r < MR, j < 8; kc >= 0)
  (c: the output tile itself, row stride ldc floats, or a small buffer for edge tiles)
Per k: acc = acc + (a * b) (f32x4.mul then f32x4.add, no FMA), k ascending: the same arithmetic as a
plain C loop, so results are bit-identical to it.

  void wdn__kern{MR}x8_epi(..., const wdn__kern_epi* e),  e = {bias, res, act, lo, hi} (gemm.c):
    the same, then the conv epilogue on the stored tile, row by row: + bias[r], + res[r*ldc + j],
    act 1: pmax(x, 0), 2: pmin(pmax(x, lo), hi). gemm.c calls it on the last K block when alpha ==
    beta == 1 and the activation is none/relu/clip. It replaces the separate C pass (store_tile), which
    cost ~40% of a K=16 1x1 conv. Keeping the tile in registers for the epilogue measured slower (V8
    then allocates the k loop worse); the epilogue's parameters go through memory because f32
    parameters would hold xmm registers across the k loop.
"""
from pathlib import Path

OUT = Path(__file__).resolve().parents[2] / "plugins/webdnn-build-wasm/webdnn_build_wasm/csrc/gemm_kern.s"


SIG = "(i32, i32, i32, i32, i32, i32) -> ()"
SIG_EPI = "(i32, i32, i32, i32, i32, i32, i32) -> ()"


def kernel(mr, epi=False):
    name = f"wdn__kern{mr}x8" + ("_epi" if epi else "")
    A, B, KC, CP, LDC, LOAD = 0, 1, 2, 3, 4, 5
    NP = 7 if epi else 6                 # params; _epi adds a pointer to wdn__kern_epi {bias, res, act, lo, hi}
    EPI = 6  # (passed through memory: f32 parameters would hold xmm registers across the k loop)
    C = list(range(NP, NP + 2 * mr))     # accumulators: row r -> C[2r] (cols 0-3), C[2r+1] (cols 4-7)
    B0, B1, AV = NP + 2 * mr, NP + 1 + 2 * mr, NP + 2 + 2 * mr
    ALAST, ROW = NP + 3 + 2 * mr, NP + 4 + 2 * mr  # i32: address of the last k step's A row; a row of c
    AS = 4 * mr                          # bytes of A per k step
    o = [f"\t.section\t.text.{name},\"\",@", f"\t.hidden\t{name}", f"\t.globl\t{name}",
         f"\t.type\t{name},@function", f"{name}:", f"\t.functype\t{name} {SIG_EPI if epi else SIG}",
         "\t.local\t" + ", ".join(["v128"] * (2 * mr + 3) + ["i32", "i32"])]
    e = lambda *xs: o.extend("\t" + x.replace(" ", "\t", 1) for x in xs)  # noqa: E731
    # ldc in bytes
    e(f"local.get {LDC}", "i32.const 2", "i32.shl", f"local.set {LDC}")
    e(f"local.get {LOAD}", "if")
    e(f"local.get {CP}", f"local.set {ROW}")
    for r in range(mr):
        if r:
            e(f"local.get {ROW}", f"local.get {LDC}", "i32.add", f"local.set {ROW}")
        e(f"local.get {ROW}", "v128.load 0:p2align=2", f"local.set {C[2 * r]}")
        e(f"local.get {ROW}", "v128.load 16:p2align=2", f"local.set {C[2 * r + 1]}")
    e("else")
    for c in C:
        e("v128.const 0, 0, 0, 0", f"local.set {c}")
    e("end_if")
    e("block", f"local.get {KC}", "i32.const 1", "i32.lt_s", "br_if 0")
    # alast = a + (kc - 1) * AS
    e(f"local.get {A}", f"local.get {KC}", f"i32.const {AS}", "i32.mul", "i32.add", f"i32.const {AS}", "i32.sub",
      f"local.set {ALAST}")
    e("loop")
    e(f"local.get {B}", "v128.load 0:p2align=2", f"local.set {B0}")
    e(f"local.get {B}", "v128.load 16:p2align=2", f"local.set {B1}")
    for r in range(mr):
        e(f"local.get {A}", f"v128.load32_splat {4 * r}:p2align=2", f"local.set {AV}")
        for h, bv in ((0, B0), (1, B1)):
            c = C[2 * r + h]
            e(f"local.get {c}", f"local.get {AV}", f"local.get {bv}", "f32x4.mul", "f32x4.add", f"local.set {c}")
    # continue while a != alast (tested before the increment)
    e(f"local.get {A}", f"local.get {ALAST}", "i32.ne")
    e(f"local.get {A}", f"i32.const {AS}", "i32.add", f"local.set {A}")
    e(f"local.get {B}", "i32.const 32", "i32.add", f"local.set {B}")
    e("br_if 0", "end_loop", "end_block")
    e(f"local.get {CP}", f"local.set {ROW}")
    for r in range(mr):
        if r:
            e(f"local.get {ROW}", f"local.get {LDC}", "i32.add", f"local.set {ROW}")
        e(f"local.get {ROW}", f"local.get {C[2 * r]}", "v128.store 0:p2align=2")
        e(f"local.get {ROW}", f"local.get {C[2 * r + 1]}", "v128.store 16:p2align=2")
    if epi:
        # epilogue, row by row on the stored tile (keeping it in registers measured slower: V8 then
        # allocates the k loop worse): + bias[r] (bias != 0), + residual (res != 0: the tile's corner,
        # row stride ldc), then act 1: max(x, 0), 2: min(max(x, lo), hi) as pseudo-max/min (one
        # maxps/minps each on x64; NaN still propagates); alpha == beta == 1.
        # registers: C[0], C[1] row values, B0 bias splat, B1/AV clip bounds; ALAST bias ptr, ROW c row
        BP, RP, ACT = ALAST, A, B   # i32 locals reused: bias ptr, residual row ptr, act kind
        e(f"local.get {EPI}", "i32.load 0:p2align=2", f"local.set {BP}")
        e(f"local.get {EPI}", "i32.load 4:p2align=2", f"local.set {RP}")
        e(f"local.get {EPI}", "i32.load 8:p2align=2", f"local.set {ACT}")
        e(f"local.get {EPI}", "v128.load32_splat 12:p2align=2", f"local.set {B1}")
        e(f"local.get {EPI}", "v128.load32_splat 16:p2align=2", f"local.set {AV}")
        e(f"local.get {CP}", f"local.set {ROW}")
        for r in range(mr):
            if r:
                e(f"local.get {ROW}", f"local.get {LDC}", "i32.add", f"local.set {ROW}")
                e(f"local.get {RP}", "if", f"local.get {RP}", f"local.get {LDC}", "i32.add", f"local.set {RP}", "end_if")
            e(f"local.get {ROW}", "v128.load 0:p2align=2", f"local.set {C[0]}")
            e(f"local.get {ROW}", "v128.load 16:p2align=2", f"local.set {C[1]}")
            e(f"local.get {BP}", "if", f"local.get {BP}", f"v128.load32_splat {4 * r}:p2align=2", f"local.set {B0}")
            e(f"local.get {C[0]}", f"local.get {B0}", "f32x4.add", f"local.set {C[0]}")
            e(f"local.get {C[1]}", f"local.get {B0}", "f32x4.add", f"local.set {C[1]}", "end_if")
            e(f"local.get {RP}", "if")
            e(f"local.get {C[0]}", f"local.get {RP}", "v128.load 0:p2align=2", "f32x4.add", f"local.set {C[0]}")
            e(f"local.get {C[1]}", f"local.get {RP}", "v128.load 16:p2align=2", "f32x4.add", f"local.set {C[1]}")
            e("end_if")
            e(f"local.get {ACT}", "if")
            e(f"local.get {ACT}", "i32.const 1", "i32.eq", "if")
            for c in C[:2]:
                e(f"local.get {c}", "v128.const 0, 0, 0, 0", "f32x4.pmax", f"local.set {c}")
            e("else")
            for c in C[:2]:
                e(f"local.get {c}", f"local.get {B1}", "f32x4.pmax", f"local.get {AV}", "f32x4.pmin", f"local.set {c}")
            e("end_if", "end_if")
            e(f"local.get {ROW}", f"local.get {C[0]}", "v128.store 0:p2align=2")
            e(f"local.get {ROW}", f"local.get {C[1]}", "v128.store 16:p2align=2")
    e("end_function")
    return o


lines = ["# Generated by bench/gemm/gen_kern.py (edit that, not this): SGEMM micro-kernels, see its docstring.",
         "#   void wdn__kern{4,5}x8(const float* a, const float* b, int kc, float* c, int ldc, int load);",
         "#   c[r*ldc+j] = (load ? c[r*ldc+j] : 0) + sum_k a[k*MR+r] * b[k*8+j]; per k: acc + a*b, k ascending.",
         "#   wdn__kern{4,5}x8_epi(..., const wdn__kern_epi* e) with e = {bias, res, act, lo, hi}: the same,",
         "#   then + bias[r] (bias != 0), + res[r*ldc+j] (res != 0), act 0 none / 1 relu / 2 clip(lo, hi).",
         "\t.text",
         f"\t.functype\twdn__kern4x8 {SIG}", f"\t.functype\twdn__kern5x8 {SIG}",
         f"\t.functype\twdn__kern4x8_epi {SIG_EPI}", f"\t.functype\twdn__kern5x8_epi {SIG_EPI}"]
for mr in (4, 5):
    lines += kernel(mr)
for mr in (4, 5):
    lines += kernel(mr, epi=True)
OUT.write_text("\n".join(lines) + "\n")
print(OUT)
