// Kernels: matrix products (MatMul, Gemm, MatMulInteger, Einsum) and the shared GEMM routines
// used by conv.js.
import {
  makeTensor, sizeOf, stridesOf, broadcastShapes, broadcastIndex, isBigInt, toNumbers, roundToDtype,
} from './util.js';

// Alias kept for families that import it from here (rnn.js, signal.js); new code imports roundToDtype from util.js.
export { roundToDtype as roundForDtype } from './util.js';

// ---------------------------------------------------------------------------------------------
// GEMM core

const KC = 256; // k-block: keeps the 4 rows of A and B being dotted in L1

/**
 * C[i, j] (+)= sum_k A[i, k] * B[j, k]  ("NT" product: both operands row-major with k contiguous).
 *   A: M×K at aOff with row stride lda;  B: N×K at bOff with row stride ldb;  C: M×N at cOff, row stride ldc.
 * Works on any numeric typed arrays (not BigInt). When `accumulate` is false C is overwritten.
 * 4×4 register blocking: each k step loads 8 values for 16 multiply-adds.
 */
export function gemmNT(M, N, K, A, aOff, lda, B, bOff, ldb, C, cOff, ldc, accumulate = false) {
  if (!accumulate) for (let i = 0; i < M; i++) C.fill(0, cOff + i * ldc, cOff + i * ldc + N);
  for (let k0 = 0; k0 < K; k0 += KC) {
    const k1 = Math.min(K, k0 + KC);
    let i = 0;
    for (; i + 4 <= M; i += 4) {
      const a0 = aOff + i * lda, a1 = a0 + lda, a2 = a1 + lda, a3 = a2 + lda;
      const cRow = cOff + i * ldc;
      let j = 0;
      for (; j + 4 <= N; j += 4) {
        const b0 = bOff + j * ldb, b1 = b0 + ldb, b2 = b1 + ldb, b3 = b2 + ldb;
        let c00 = 0, c01 = 0, c02 = 0, c03 = 0, c10 = 0, c11 = 0, c12 = 0, c13 = 0;
        let c20 = 0, c21 = 0, c22 = 0, c23 = 0, c30 = 0, c31 = 0, c32 = 0, c33 = 0;
        for (let k = k0; k < k1; k++) {
          const x0 = A[a0 + k], x1 = A[a1 + k], x2 = A[a2 + k], x3 = A[a3 + k];
          let y = B[b0 + k]; c00 += x0 * y; c10 += x1 * y; c20 += x2 * y; c30 += x3 * y;
          y = B[b1 + k]; c01 += x0 * y; c11 += x1 * y; c21 += x2 * y; c31 += x3 * y;
          y = B[b2 + k]; c02 += x0 * y; c12 += x1 * y; c22 += x2 * y; c32 += x3 * y;
          y = B[b3 + k]; c03 += x0 * y; c13 += x1 * y; c23 += x2 * y; c33 += x3 * y;
        }
        let c = cRow + j;
        C[c] += c00; C[c + 1] += c01; C[c + 2] += c02; C[c + 3] += c03; c += ldc;
        C[c] += c10; C[c + 1] += c11; C[c + 2] += c12; C[c + 3] += c13; c += ldc;
        C[c] += c20; C[c + 1] += c21; C[c + 2] += c22; C[c + 3] += c23; c += ldc;
        C[c] += c30; C[c + 1] += c31; C[c + 2] += c32; C[c + 3] += c33;
      }
      for (; j < N; j++) { // leftover columns: 4×1
        const b0 = bOff + j * ldb;
        let c0 = 0, c1 = 0, c2 = 0, c3 = 0;
        for (let k = k0; k < k1; k++) {
          const y = B[b0 + k];
          c0 += A[a0 + k] * y; c1 += A[a1 + k] * y; c2 += A[a2 + k] * y; c3 += A[a3 + k] * y;
        }
        const c = cRow + j;
        C[c] += c0; C[c + ldc] += c1; C[c + 2 * ldc] += c2; C[c + 3 * ldc] += c3;
      }
    }
    for (; i < M; i++) { // leftover rows: 1×4 then 1×1
      const a0 = aOff + i * lda;
      const cRow = cOff + i * ldc;
      let j = 0;
      for (; j + 4 <= N; j += 4) {
        const b0 = bOff + j * ldb, b1 = b0 + ldb, b2 = b1 + ldb, b3 = b2 + ldb;
        let c0 = 0, c1 = 0, c2 = 0, c3 = 0;
        for (let k = k0; k < k1; k++) {
          const x = A[a0 + k];
          c0 += x * B[b0 + k]; c1 += x * B[b1 + k]; c2 += x * B[b2 + k]; c3 += x * B[b3 + k];
        }
        const c = cRow + j;
        C[c] += c0; C[c + 1] += c1; C[c + 2] += c2; C[c + 3] += c3;
      }
      for (; j < N; j++) {
        const b0 = bOff + j * ldb;
        let s = 0;
        for (let k = k0; k < k1; k++) s += A[a0 + k] * B[b0 + k];
        C[cRow + j] += s;
      }
    }
  }
}

/** Transpose a rows×cols row-major block (row stride ld) of `src` into dst (cols×rows, contiguous). */
export function transposeInto(src, off, rows, cols, ld, dst) {
  for (let r = 0; r < rows; r++) {
    const s = off + r * ld;
    for (let c = 0; c < cols; c++) dst[c * rows + r] = src[s + c];
  }
  return dst;
}

/**
 * C (M×N, at cOff, contiguous) = A (M×K at aOff) · B (K×N at bOff), plain row-major ("NN").
 * For M ≥ 4, B is transposed into `scratch` (a typed array of ≥ K*N elements, allocated when
 * missing) and the NT kernel is used; thin products use a row-axpy loop over contiguous B rows.
 */
export function gemmNN(M, N, K, A, aOff, B, bOff, C, cOff, scratch = null) {
  if (M >= 4 && N >= 4) {
    const bt = scratch && scratch.length >= K * N ? scratch : new Float64Array(K * N);
    transposeInto(B, bOff, K, N, N, bt);
    gemmNT(M, N, K, A, aOff, K, bt, 0, K, C, cOff, N);
    return;
  }
  const acc = new Float64Array(N);
  for (let i = 0; i < M; i++) {
    acc.fill(0);
    for (let k = 0; k < K; k++) {
      const x = A[aOff + i * K + k];
      if (x === 0) continue;
      const b = bOff + k * N;
      for (let j = 0; j < N; j++) acc[j] += x * B[b + j];
    }
    C.set(acc, cOff + i * N);
  }
}

/** A BigInt tensor's data as a Float64Array (other dtypes returned as is). */
function numericData(t) {
  return isBigInt(t.dtype) ? Float64Array.from(t.data, Number) : t.data;
}

/** Store numbers from `src` into tensor `out` (converting to BigInt where needed). */
function storeNumbers(out, src) {
  if (isBigInt(out.dtype)) for (let i = 0; i < src.length; i++) out.data[i] = BigInt(Math.round(src[i]));
  else out.data.set(src);
}

// ---------------------------------------------------------------------------------------------
// MatMul

/**
 * Batched numpy matmul of numeric arrays `a` (shape aShape) and `b` (shape bShape).
 * Returns { shape, data } with data a Float64Array when `exact` (ints) else a Float32Array-compatible
 * array of type OutCtor.
 */
function batchedMatMul(a, aShape, b, bShape, OutCtor) {
  if (aShape.length === 0 || bShape.length === 0) throw new Error('MatMul: scalar operands are not allowed');
  const aVec = aShape.length === 1, bVec = bShape.length === 1;
  const a2 = aVec ? [1, aShape[0]] : aShape;
  const b2 = bVec ? [bShape[0], 1] : bShape;
  const M = a2[a2.length - 2], K = a2[a2.length - 1];
  const K2 = b2[b2.length - 2], N = b2[b2.length - 1];
  if (K !== K2) throw new Error(`MatMul: inner dimensions differ ([${aShape}] x [${bShape}])`);
  const aBatch = a2.slice(0, -2), bBatch = b2.slice(0, -2);
  const batch = broadcastShapes(aBatch, bBatch);
  const nb = sizeOf(batch);
  const out = new OutCtor(nb * M * N);
  const aMap = broadcastIndex(aBatch, batch), bMap = broadcastIndex(bBatch, batch);
  const scratch = M >= 4 && N >= 4 ? new Float64Array(K * N) : null;
  for (let t = 0; t < nb; t++) {
    gemmNN(M, N, K, a, aMap[t] * M * K, b, bMap[t] * N * K, out, t * M * N, scratch);
  }
  const shape = [...batch];
  if (!aVec) shape.push(M);
  if (!bVec) shape.push(N);
  return { shape, data: out };
}

function MatMul([A, B], attrs, ctx) {
  if (A.dtype !== B.dtype) throw new Error(`MatMul: dtype mismatch ${A.dtype} vs ${B.dtype}`);
  const big = isBigInt(A.dtype);
  const Ctor = big || A.dtype === 'float64' || A.dtype.includes('int') ? Float64Array : Float32Array;
  const r = batchedMatMul(numericData(A), A.shape, numericData(B), B.shape, Ctor);
  const y = ctx.output(0, r.shape, A.dtype);
  storeNumbers(y, r.data);
  return [roundToDtype(y)];
}

// ---------------------------------------------------------------------------------------------
// Gemm

function Gemm([A, B, C], attrs, ctx) {
  const { transA, transB, alpha, beta } = attrs;
  if (A.shape.length !== 2 || B.shape.length !== 2) throw new Error('Gemm: A and B must be 2-D');
  const [M, K] = transA ? [A.shape[1], A.shape[0]] : A.shape;
  const [K2, N] = transB ? [B.shape[1], B.shape[0]] : B.shape;
  if (K !== K2) throw new Error(`Gemm: inner dimensions differ (${K} vs ${K2})`);
  const a = numericData(A), b = numericData(B);
  // Bring A to M×K and B to N×K (k contiguous) for the NT kernel.
  const at = transA ? transposeInto(a, 0, K, M, M, new Float64Array(M * K)) : a;
  const acc = new Float64Array(M * N);
  if (transB) gemmNT(M, N, K, at, 0, K, b, 0, K, acc, 0, N);
  else gemmNN(M, N, K, at, 0, b, 0, acc, 0);
  if (alpha !== 1) for (let i = 0; i < acc.length; i++) acc[i] *= alpha;
  if (C && beta !== 0) {
    const c = numericData(C);
    const map = C.shape.length === 2 && C.shape[0] === M && C.shape[1] === N ? null
      : broadcastIndex(C.shape, [M, N]);
    for (let i = 0; i < acc.length; i++) acc[i] += beta * c[map ? map[i] : i];
  }
  const y = ctx.output(0, [M, N], A.dtype);
  storeNumbers(y, acc);
  return [roundToDtype(y)];
}

// ---------------------------------------------------------------------------------------------
// MatMulInteger

function MatMulInteger([A, B, aZero, bZero], attrs, ctx) {
  // Subtract zero points: a_zero_point is a scalar or per-row (length M), b_zero_point scalar or per-column (N).
  const a = Float64Array.from(A.data);
  const b = Float64Array.from(B.data);
  if (aZero) {
    const z = toNumbers(aZero), K = A.shape[A.shape.length - 1];
    const M = A.shape.length > 1 ? A.shape[A.shape.length - 2] : 1;
    for (let i = 0; i < a.length; i++) a[i] -= z.length === 1 ? z[0] : z[Math.floor(i / K) % M];
  }
  if (bZero) {
    const z = toNumbers(bZero), N = B.shape.length > 1 ? B.shape[B.shape.length - 1] : 1;
    for (let i = 0; i < b.length; i++) b[i] -= z.length === 1 ? z[0] : z[i % N];
  }
  const r = batchedMatMul(a, A.shape, b, B.shape, Float64Array);
  const y = ctx.output(0, r.shape, 'int32');
  y.data.set(r.data);
  return [y];
}

// ---------------------------------------------------------------------------------------------
// Einsum

/**
 * Parse an einsum equation into per-operand label lists and the output label list. Labels are
 * letters; the dims covered by an ellipsis get synthetic labels '0', '1', ... (right-aligned, so
 * they broadcast numpy-style).
 */
function parseEinsum(equation, inputs) {
  const eq = equation.replace(/\s+/g, '');
  const [lhs, rhs] = eq.split('->');
  const terms = lhs.split(',');
  if (terms.length !== inputs.length) throw new Error(`Einsum: equation has ${terms.length} operands, got ${inputs.length}`);
  let ellRank = 0;
  const operands = terms.map((term, n) => {
    const rank = inputs[n].shape.length;
    const parts = term.split('...');
    if (parts.length > 2) throw new Error(`Einsum: more than one ellipsis in "${term}"`);
    const letters = parts.join('').length;
    if (parts.length === 1) {
      if (letters !== rank) throw new Error(`Einsum: term "${term}" does not match rank ${rank}`);
      return [...term];
    }
    const er = rank - letters;
    if (er < 0) throw new Error(`Einsum: term "${term}" does not match rank ${rank}`);
    ellRank = Math.max(ellRank, er);
    return { parts, er };
  });
  const ellLabels = (er) => Array.from({ length: er }, (_, i) => String(ellRank - er + i));
  const labels = operands.map((o) => (Array.isArray(o) ? o : [...o.parts[0], ...ellLabels(o.er), ...o.parts[1]]));
  let out;
  if (rhs !== undefined) {
    const parts = rhs.split('...');
    out = parts.length === 1 ? [...rhs] : [...parts[0], ...ellLabels(ellRank), ...parts[1]];
  } else {
    // Implicit output: ellipsis dims, then the letters that occur once, alphabetically.
    const count = new Map();
    for (const l of labels.flat()) if (/[a-zA-Z]/.test(l)) count.set(l, (count.get(l) ?? 0) + 1);
    out = [...ellLabels(ellRank), ...[...count.keys()].filter((l) => count.get(l) === 1).sort()];
  }
  return { labels, out };
}

function Einsum(inputs, attrs, ctx) {
  const { labels, out } = parseEinsum(attrs.equation, inputs);
  const size = new Map(); // label -> dim size (1 only if every occurrence is 1)
  inputs.forEach((t, n) => labels[n].forEach((l, i) => {
    const d = t.shape[i], prev = size.get(l);
    if (prev === undefined || prev === 1) size.set(l, d);
    else if (d !== 1 && d !== prev) throw new Error(`Einsum: label ${l} has sizes ${prev} and ${d}`);
  }));
  const summed = [...size.keys()].filter((l) => !out.includes(l));
  const all = [...out, ...summed];
  const dims = all.map((l) => size.get(l));
  // Per operand, the element stride of each label (summed over repeats -> diagonals; 0 where broadcast).
  const strides = inputs.map((t, n) => {
    const s = stridesOf(t.shape);
    const st = new Array(all.length).fill(0);
    labels[n].forEach((l, i) => { if (t.shape[i] !== 1) st[all.indexOf(l)] += s[i]; });
    return st;
  });
  const datas = inputs.map(numericData);
  const nOut = sizeOf(out.map((l) => size.get(l)));
  const nSum = sizeOf(summed.map((l) => size.get(l)));
  const result = new Float64Array(nOut);
  const rank = all.length, nIn = inputs.length;
  const idx = new Int32Array(rank);
  const offs = new Float64Array(nIn);
  // Walk all (output, summed) index combinations in order, tracking each operand's flat offset.
  for (let o = 0; o < nOut; o++) {
    let acc = 0;
    for (let s = 0; s < nSum; s++) {
      let p = 1;
      for (let n = 0; n < nIn; n++) p *= datas[n][offs[n]];
      acc += p;
      for (let a = rank - 1; a >= 0; a--) {
        idx[a]++;
        for (let n = 0; n < nIn; n++) offs[n] += strides[n][a];
        if (idx[a] < dims[a]) break;
        for (let n = 0; n < nIn; n++) offs[n] -= strides[n][a] * dims[a];
        idx[a] = 0;
      }
    }
    result[o] = acc;
  }
  const y = ctx.output(0, out.map((l) => size.get(l)), inputs[0].dtype);
  storeNumbers(y, result);
  return [roundToDtype(y)];
}

export const kernels = { MatMul, Gemm, MatMulInteger, Einsum };
