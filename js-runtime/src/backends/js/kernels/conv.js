// Kernels: convolutions (Conv, ConvTranspose, ConvInteger).
//
// Conv is im2col + GEMM: for each image and group, output positions are processed in chunks; each
// chunk's receptive fields are gathered into a scratch matrix (one row per output position, k
// contiguous) and multiplied with the weights by gemmNT (matmul.js). ConvTranspose is the reverse:
// a GEMM gives every input position's contribution per (output channel, kernel offset), which is
// then scatter-added into the output (col2im).
import { newScratch, roundToDtype, sizeOf, stridesOf, toNumbers } from './util.js';
import { gemmNT, transposeInto } from './matmul.js';

/** Spatial attributes shared by convolutions and pools (no declared default: 1s and 0s by rank). */
export function spatialAttrs(attrs, rank, kernel) {
  return {
    kernel,
    strides: attrs.strides ?? new Array(rank).fill(1),
    dilations: attrs.dilations ?? new Array(rank).fill(1),
    pads: attrs.pads ?? new Array(2 * rank).fill(0),
    autoPad: attrs.auto_pad,
  };
}

/**
 * Output spatial shape and begin/end pads of a sliding window (Conv, pools).
 * `ceil` selects pool ceil_mode rounding (the last window must still start inside input + begin pad).
 */
export function windowGeometry(inShape, { kernel, strides, dilations, pads, autoPad }, op, ceil = false) {
  const rank = inShape.length;
  const out = new Array(rank), begin = new Array(rank), end = new Array(rank);
  for (let i = 0; i < rank; i++) {
    const ek = (kernel[i] - 1) * dilations[i] + 1; // effective window extent
    const n = inShape[i], s = strides[i];
    if (autoPad === 'NOTSET') {
      begin[i] = pads[i];
      end[i] = pads[i + rank];
      const span = n + begin[i] + end[i] - ek;
      if (ceil) {
        out[i] = Math.ceil(span / s) + 1;
        if ((out[i] - 1) * s >= n + begin[i]) out[i]--;
      } else {
        out[i] = Math.floor(span / s) + 1;
      }
    } else if (autoPad === 'VALID') {
      begin[i] = end[i] = 0;
      out[i] = (ceil ? Math.ceil((n - ek) / s) : Math.floor((n - ek) / s)) + 1;
    } else if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') {
      out[i] = Math.ceil(n / s);
      const total = Math.max(0, (out[i] - 1) * s + ek - n);
      const small = Math.floor(total / 2);
      begin[i] = autoPad === 'SAME_UPPER' ? small : total - small;
      end[i] = total - begin[i];
    } else {
      throw new Error(`${op}: auto_pad=${autoPad} is not supported`);
    }
    if (out[i] < 0) out[i] = 0;
  }
  return { out, begin, end };
}

/**
 * Index table for a sliding window: for window position p (row-major over `posShape`) and kernel
 * offset kk (row-major over `kernel`), table[p * KK + kk] is the flat offset of
 * `pos * stride - begin + kk * dilation` in `targetShape`, or -1 when that falls outside.
 * Conv reads its input through it; ConvTranspose scatters into its output through it.
 */
export function windowTable(posShape, targetShape, kernel, strides, dilations, begin, p0 = 0, p1 = sizeOf(posShape)) {
  const rank = posShape.length;
  const KK = sizeOf(kernel);
  const tStrides = stridesOf(targetShape);
  const table = newScratch(Int32Array, (p1 - p0) * KK, 'a window index table');
  // Per axis: for each (position, kernel index) the coordinate, kept in small arrays.
  const pos = new Array(rank).fill(0);
  let rem = p0;
  for (let a = rank - 1; a >= 0; a--) { pos[a] = rem % posShape[a]; rem = Math.floor(rem / posShape[a]); }
  const kidx = new Array(rank).fill(0);
  let t = 0;
  for (let p = p0; p < p1; p++) {
    kidx.fill(0);
    for (let kk = 0; kk < KK; kk++) {
      let off = 0;
      for (let a = 0; a < rank; a++) {
        const c = pos[a] * strides[a] - begin[a] + kidx[a] * dilations[a];
        if (c < 0 || c >= targetShape[a]) { off = -1; break; }
        off += c * tStrides[a];
      }
      table[t++] = off;
      for (let a = rank - 1; a >= 0; a--) {
        if (++kidx[a] < kernel[a]) break;
        kidx[a] = 0;
      }
    }
    for (let a = rank - 1; a >= 0; a--) {
      if (++pos[a] < posShape[a]) break;
      pos[a] = 0;
    }
  }
  return table;
}

const CHUNK_ELEMS = 1 << 17; // im2col scratch budget per chunk (elements)

/**
 * Core convolution on raw arrays. x: [N, C, ...inSp], w: [M, C/group, ...kernel], bias: [M] or null.
 * Writes y ([N, M, ...outSp], zero-initialized or not) and returns it.
 */
function convolve(x, xShape, w, wShape, bias, group, geom, sp, y) {
  const [N, C] = xShape;
  const M = wShape[0];
  const inSp = xShape.slice(2), outSp = geom.out, kernel = wShape.slice(2);
  const Cg = C / group, Mg = M / group;
  if (!Number.isInteger(Cg) || !Number.isInteger(Mg) || wShape[1] !== Cg) {
    throw new Error(`Conv: channels ${C} / weight [${wShape}] do not match group ${group}`);
  }
  const S = sizeOf(inSp), P = sizeOf(outSp), KK = sizeOf(kernel), Kg = Cg * KK;
  if (P === 0) return y;
  const pointwise = KK === 1 && sp.strides.every((s) => s === 1) && geom.begin.every((b) => b === 0) && P === S;
  let pc = Math.max(4, Math.floor(CHUNK_ELEMS / Kg / 4) * 4);
  if (pc > P) pc = P;
  const col = new (x instanceof Float32Array ? Float32Array : Float64Array)(pc * Kg);
  for (let p0 = 0; p0 < P; p0 += pc) {
    const p1 = Math.min(P, p0 + pc), np = p1 - p0;
    const table = pointwise ? null : windowTable(outSp, inSp, kernel, sp.strides, sp.dilations, geom.begin, p0, p1);
    for (let n = 0; n < N; n++) {
      for (let g = 0; g < group; g++) {
        const xOff = (n * C + g * Cg) * S;
        if (pointwise) {
          transposeInto(x, xOff + p0, Cg, np, S, col);
        } else {
          // col[p, c * KK + kk] = x[c, table[p, kk]] (0 in the padding)
          let t = 0;
          for (let p = 0; p < np; p++) {
            const tRow = p * KK;
            for (let c = 0; c < Cg; c++) {
              const xc = xOff + c * S;
              for (let kk = 0; kk < KK; kk++) {
                const src = table[tRow + kk];
                col[t++] = src < 0 ? 0 : x[xc + src];
              }
            }
          }
        }
        gemmNT(Mg, np, Kg, w, g * Mg * Kg, Kg, col, 0, Kg, y, (n * M + g * Mg) * P + p0, P);
      }
    }
  }
  if (bias) {
    for (let n = 0; n < N; n++) {
      for (let m = 0; m < M; m++) {
        const b = bias[m], o = (n * M + m) * P;
        for (let p = 0; p < P; p++) y[o + p] += b;
      }
    }
  }
  return y;
}

function convSetup(X, W, attrs, op) {
  if (X.shape.length < 3) throw new Error(`${op}: input must have rank >= 3, got [${X.shape}]`);
  const rank = X.shape.length - 2;
  const kernel = attrs.kernel_shape ?? W.shape.slice(2);
  const sp = spatialAttrs(attrs, rank, kernel);
  const geom = windowGeometry(X.shape.slice(2), sp, op);
  return { sp, geom, group: attrs.group };
}

function Conv([X, W, B], attrs, ctx) {
  const { sp, geom, group } = convSetup(X, W, attrs, 'Conv');
  const y = ctx.output(0, [X.shape[0], W.shape[0], ...geom.out], X.dtype);
  if (!(y.data instanceof Float32Array || y.data instanceof Float64Array)) {
    throw new Error(`Conv: dtype ${X.dtype} is not supported`);
  }
  convolve(X.data, X.shape, W.data, W.shape, B ? B.data : null, group, geom, sp, y.data);
  return [roundToDtype(y)];
}

/** Values minus a zero point (scalar, or per `axisLen`-sized block of `inner` elements) as Float64Array. */
function minusZeroPoint(t, zp, inner = 1) {
  const out = Float64Array.from(t.data);
  if (!zp) return out;
  const z = toNumbers(zp);
  if (z.length === 1) { for (let i = 0; i < out.length; i++) out[i] -= z[0]; return out; }
  for (let i = 0; i < out.length; i++) out[i] -= z[Math.floor(i / inner) % z.length];
  return out;
}

function ConvInteger([X, W, xZero, wZero], attrs, ctx) {
  const { sp, geom, group } = convSetup(X, W, attrs, 'ConvInteger');
  // Padding is with the zero point, i.e. 0 after subtracting it; w_zero_point may be per output channel.
  const x = minusZeroPoint(X, xZero);
  const w = minusZeroPoint(W, wZero, sizeOf(W.shape.slice(1)));
  const shape = [X.shape[0], W.shape[0], ...geom.out];
  const acc = convolve(x, X.shape, w, W.shape, null, group, geom, sp, new Float64Array(sizeOf(shape)));
  const y = ctx.output(0, shape, 'int32');
  y.data.set(acc);
  return [y];
}

function ConvTranspose([X, W, B], attrs, ctx) {
  if (X.shape.length < 3) throw new Error(`ConvTranspose: input must have rank >= 3, got [${X.shape}]`);
  const rank = X.shape.length - 2;
  const [N, C] = X.shape;
  const inSp = X.shape.slice(2);
  const kernel = attrs.kernel_shape ?? W.shape.slice(2);
  const group = attrs.group;
  const { strides, dilations, autoPad } = spatialAttrs(attrs, rank, kernel);
  const outPad = attrs.output_padding ?? new Array(rank).fill(0);
  const Cg = C / group, Mg = W.shape[1], M = Mg * group;
  if (W.shape[0] !== C || !Number.isInteger(Cg)) throw new Error(`ConvTranspose: weight [${W.shape}] does not match input [${X.shape}]`);
  const full = inSp.map((n, i) => strides[i] * (n - 1) + outPad[i] + (kernel[i] - 1) * dilations[i] + 1);
  let outSp, begin;
  if (attrs.output_shape || autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') {
    const os = attrs.output_shape;
    outSp = os ? os.slice(os.length - rank) : inSp.map((n, i) => n * strides[i]);
    begin = outSp.map((o, i) => {
      const total = full[i] - o, small = Math.floor(total / 2);
      return autoPad === 'SAME_UPPER' ? small : total - small;
    });
  } else if (autoPad === 'NOTSET' || autoPad === 'VALID') {
    const pads = autoPad === 'VALID' ? new Array(2 * rank).fill(0) : attrs.pads ?? new Array(2 * rank).fill(0);
    begin = pads.slice(0, rank);
    outSp = full.map((f, i) => f - pads[i] - pads[i + rank]);
  } else {
    throw new Error(`ConvTranspose: auto_pad=${autoPad} is not supported`);
  }
  const y = ctx.output(0, [N, M, ...outSp], X.dtype);
  if (!(y.data instanceof Float32Array || y.data instanceof Float64Array)) {
    throw new Error(`ConvTranspose: dtype ${X.dtype} is not supported`);
  }
  const S = sizeOf(inSp), P = sizeOf(outSp), KK = sizeOf(kernel), R = Mg * KK;
  // contributions[(m, kk), s] = sum_c W[c, m, kk] * X[c, s]; A = Wᵀ (R×Cg), B = Xᵀ (S×Cg).
  const wt = new Float64Array(R * Cg), xt = new Float64Array(S * Cg), contrib = new Float64Array(R * S);
  const table = windowTable(inSp, outSp, kernel, strides, dilations, begin);
  for (let n = 0; n < N; n++) {
    for (let g = 0; g < group; g++) {
      transposeInto(W.data, g * Cg * R, Cg, R, R, wt);
      transposeInto(X.data, (n * C + g * Cg) * S, Cg, S, S, xt);
      gemmNT(R, S, Cg, wt, 0, Cg, xt, 0, Cg, contrib, 0, S);
      for (let m = 0; m < Mg; m++) {
        const yOff = (n * M + g * Mg + m) * P;
        for (let kk = 0; kk < KK; kk++) {
          const cRow = (m * KK + kk) * S;
          for (let s = 0; s < S; s++) {
            const dst = table[s * KK + kk];
            if (dst >= 0) y.data[yOff + dst] += contrib[cRow + s];
          }
        }
      }
    }
  }
  if (B) {
    for (let n = 0; n < N; n++) {
      for (let m = 0; m < M; m++) {
        const o = (n * M + m) * P;
        for (let p = 0; p < P; p++) y.data[o + p] += B.data[m];
      }
    }
  }
  return [roundToDtype(y)];
}

export const kernels = { Conv, ConvTranspose, ConvInteger };
