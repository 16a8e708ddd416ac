// Kernels: pooling (MaxPool, AveragePool, LpPool, their Global forms, MaxUnpool).
//
// Windowed pools walk a precomputed window table (conv.js windowTable): for each output position
// and kernel offset, the flat spatial input offset or -1 in the padding.
import { roundToDtype, sizeOf, stridesOf, toNumbers } from './util.js';
import { spatialAttrs, windowGeometry, windowTable } from './conv.js';

/** Shared setup of a windowed pool: geometry, table, and the per-(n, c) plane sizes. */
function poolSetup(X, attrs, op) {
  if (X.shape.length < 3) throw new Error(`${op}: input must have rank >= 3, got [${X.shape}]`);
  const rank = X.shape.length - 2;
  const kernel = attrs.kernel_shape;
  if (!kernel) throw new Error(`${op}: kernel_shape is required`);
  const sp = spatialAttrs(attrs, rank, kernel);
  const inSp = X.shape.slice(2);
  const geom = windowGeometry(inSp, sp, op, !!attrs.ceil_mode);
  const table = windowTable(geom.out, inSp, kernel, sp.strides, sp.dilations, geom.begin);
  return {
    sp, geom, table, inSp,
    planes: X.shape[0] * X.shape[1], S: sizeOf(inSp), P: sizeOf(geom.out), KK: sizeOf(kernel),
    outShape: [X.shape[0], X.shape[1], ...geom.out],
  };
}

/**
 * Per output position, the number of window elements inside input + explicit padding
 * (the AveragePool divisor with count_include_pad=1; ceil_mode overhang is not counted).
 */
function paddedCounts(geom, sp, inSp) {
  const rank = inSp.length;
  const perAxis = inSp.map((n, a) => {
    const counts = new Array(geom.out[a]);
    for (let o = 0; o < geom.out[a]; o++) {
      let c = 0;
      for (let k = 0; k < sp.kernel[a]; k++) {
        const x = o * sp.strides[a] - geom.begin[a] + k * sp.dilations[a];
        if (x >= -geom.begin[a] && x < n + geom.end[a]) c++;
      }
      counts[o] = c;
    }
    return counts;
  });
  const P = sizeOf(geom.out);
  const out = new Float64Array(P);
  const idx = new Array(rank).fill(0);
  for (let p = 0; p < P; p++) {
    let c = 1;
    for (let a = 0; a < rank; a++) c *= perAxis[a][idx[a]];
    out[p] = c;
    for (let a = rank - 1; a >= 0; a--) {
      if (++idx[a] < geom.out[a]) break;
      idx[a] = 0;
    }
  }
  return out;
}

/** Row-major spatial offset -> column-major offset (MaxPool storage_order=1 indices). */
function toColumnMajor(off, shape) {
  const rs = stridesOf(shape);
  let cm = 0, mul = 1;
  for (let a = 0; a < shape.length; a++) {
    cm += Math.floor(off / rs[a]) % shape[a] * mul;
    mul *= shape[a];
  }
  return cm;
}

function MaxPool([X], attrs, ctx) {
  const { table, planes, S, P, KK, outShape, inSp } = poolSetup(X, attrs, 'MaxPool');
  const y = ctx.output(0, outShape, X.dtype);
  const ind = ctx.output(1, outShape, 'int64');
  const x = X.data, yd = y.data, id = ind.data;
  const colMajor = attrs.storage_order === 1; // opset 8+
  for (let pl = 0; pl < planes; pl++) {
    const xOff = pl * S, yOff = pl * P;
    for (let p = 0; p < P; p++) {
      let best = -Infinity, arg = -1;
      for (let kk = p * KK, end = kk + KK; kk < end; kk++) {
        const src = table[kk];
        if (src >= 0 && (x[xOff + src] > best || arg < 0)) { best = x[xOff + src]; arg = src; }
      }
      yd[yOff + p] = best;
      if (arg >= 0) id[yOff + p] = BigInt(xOff + (colMajor ? toColumnMajor(arg, inSp) : arg));
    }
  }
  return [y, ind];
}

/**
 * AveragePool and LpPool: a sum of f(x) over the window, then a per-position finish. The result is
 * built in float64 and copied into ctx.output by `finish`.
 */
function sumPool(X, attrs, op, p) {
  const { table, planes, S, P, KK, outShape, geom, sp, inSp } = poolSetup(X, attrs, op);
  const y = { shape: outShape, dtype: X.dtype, data: new Float64Array(sizeOf(outShape)) };
  const includePad = attrs.count_include_pad === 1; // (AveragePool's)
  const divisor = op === 'AveragePool' && includePad ? paddedCounts(geom, sp, inSp) : null;
  const x = X.data, yd = y.data;
  // A float32 AveragePool sums in float32 in onnxruntime's order (webdnn_build/numerics.py
  // avgpool_column_first): a quantized model re-quantizes after the pool, and a last-bit difference
  // grows layer by layer. Other pools sum in float64, window row by row.
  const f32 = op === 'AveragePool' && X.dtype === 'float32';
  const columns = f32 && avgpoolColumnFirst(sp.kernel, sp.strides) ? sp.kernel[1] : 0;
  const rows = columns ? sp.kernel[0] : 0;
  for (let pl = 0; pl < planes; pl++) {
    const xOff = pl * S, yOff = pl * P;
    for (let q = 0; q < P; q++) {
      let s = 0, n = 0;
      const base = q * KK;
      if (columns) {
        // each window column top to bottom, then the columns left to right
        for (let kx = 0; kx < columns; kx++) {
          let c = 0;
          for (let ky = 0; ky < rows; ky++) {
            const src = table[base + ky * columns + kx];
            if (src < 0) continue;
            c = Math.fround(c + x[xOff + src]);
            n++;
          }
          s = Math.fround(s + c);
        }
      } else {
        for (let kk = base, end = base + KK; kk < end; kk++) {
          const src = table[kk];
          if (src < 0) continue;
          const v = x[xOff + src];
          if (op !== 'AveragePool') s += p === 2 ? v * v : Math.abs(v) ** p; // LpPool: |x|^p, also for p = 1
          else s = f32 ? Math.fround(s + v) : s + v;
          n++;
        }
      }
      if (op === 'AveragePool') yd[yOff + q] = s / (divisor ? divisor[q] : n);
      else yd[yOff + q] = p === 2 ? Math.sqrt(s) : s ** (1 / p);
    }
  }
  return y;
}

/**
 * Whether onnxruntime's CPU AveragePool sums a window column by column (2-D, horizontal stride <= 2:
 * its vector kernel) rather than row by row. Mirrors webdnn_build/numerics.py avgpool_column_first.
 */
function avgpoolColumnFirst(kernel, strides) {
  return kernel.length === 2 && strides[1] <= 2;
}

function finish(r, ctx) {
  const y = ctx.output(0, r.shape, r.dtype);
  y.data.set(r.data);
  return [roundToDtype(y)];
}

function AveragePool([X], attrs, ctx) {
  return finish(sumPool(X, attrs, 'AveragePool', 1), ctx);
}

function LpPool([X], attrs, ctx) {
  return finish(sumPool(X, attrs, 'LpPool', attrs.p), ctx);
}

/** Global pools: reduce each (n, c) plane with `reduce(data, offset, length)`. */
function globalPool(X, ctx, reduce) {
  if (X.shape.length < 2) throw new Error(`global pool: input must have rank >= 2, got [${X.shape}]`);
  const [N, C] = X.shape;
  const S = sizeOf(X.shape.slice(2));
  const y = ctx.output(0, [N, C, ...X.shape.slice(2).map(() => 1)], X.dtype);
  for (let pl = 0; pl < N * C; pl++) y.data[pl] = reduce(X.data, pl * S, S);
  return [roundToDtype(y)];
}

function GlobalAveragePool([X], attrs, ctx) {
  if (X.dtype === 'float32') return globalPool(X, ctx, globalSumFloat32Order);
  return globalPool(X, ctx, (d, o, n) => {
    let s = 0;
    for (let i = o; i < o + n; i++) s += d[i];
    return s / n;
  });
}

/**
 * The float32 mean of d[o .. o+n) in onnxruntime's CPU order (its 4-lane vector sum): four running
 * sums over elements i % 4, combined as (s0 + s2) + (s1 + s3), then the tail one by one, then the
 * division. The wasm kernel (pool.c wdn_global_avgpool_f32) sums the same way.
 */
function globalSumFloat32Order(d, o, n) {
  const f = Math.fround;
  let s0 = 0, s1 = 0, s2 = 0, s3 = 0, i = o;
  for (; i + 4 <= o + n; i += 4) {
    s0 = f(s0 + d[i]); s1 = f(s1 + d[i + 1]); s2 = f(s2 + d[i + 2]); s3 = f(s3 + d[i + 3]);
  }
  let s = f(f(s0 + s2) + f(s1 + s3));
  for (; i < o + n; i++) s = f(s + d[i]);
  return s / n;
}

function GlobalMaxPool([X], attrs, ctx) {
  return globalPool(X, ctx, (d, o, n) => {
    let m = -Infinity;
    for (let i = o; i < o + n; i++) if (d[i] > m || Number.isNaN(d[i])) m = d[i];
    return m;
  });
}

function GlobalLpPool([X], attrs, ctx) {
  const p = attrs.p;
  return globalPool(X, ctx, (d, o, n) => {
    let s = 0;
    for (let i = o; i < o + n; i++) s += Math.abs(d[i]) ** p;
    return s ** (1 / p);
  });
}

function MaxUnpool([X, I, outputShape], attrs, ctx) {
  const rank = X.shape.length - 2;
  const kernel = attrs.kernel_shape;
  if (!kernel) throw new Error('MaxUnpool: kernel_shape is required');
  const strides = attrs.strides ?? new Array(rank).fill(1);
  const pads = attrs.pads ?? new Array(2 * rank).fill(0);
  const inferred = [X.shape[0], X.shape[1],
    ...X.shape.slice(2).map((n, i) => (n - 1) * strides[i] - pads[i] - pads[i + rank] + kernel[i])];
  const shape = outputShape ? toNumbers(outputShape) : inferred;
  const y = ctx.output(0, shape, X.dtype);
  // Indices are flat offsets into the inferred unpooled shape (as MaxPool's Indices); an explicit
  // output_shape only pads that result at the end of each axis (onnx reference semantics).
  const same = shape.every((d, i) => d === inferred[i]);
  const tmp = same ? y.data : new y.data.constructor(sizeOf(inferred));
  for (let i = 0; i < X.data.length; i++) tmp[Number(I.data[i])] = X.data[i];
  if (!same) {
    const os = stridesOf(shape);
    const idx = new Array(inferred.length).fill(0);
    for (let k = 0; k < tmp.length; k++) {
      let o = 0, inside = true;
      for (let a = 0; a < idx.length; a++) { if (idx[a] >= shape[a]) inside = false; o += idx[a] * os[a]; }
      if (inside) y.data[o] = tmp[k];
      for (let a = idx.length - 1; a >= 0; a--) {
        if (++idx[a] < inferred[a]) break;
        idx[a] = 0;
      }
    }
  }
  return [y];
}

export const kernels = { MaxPool, AveragePool, LpPool, GlobalAveragePool, GlobalMaxPool, GlobalLpPool, MaxUnpool };
