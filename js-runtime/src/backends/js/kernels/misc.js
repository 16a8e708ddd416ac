// Kernels: miscellaneous ops (window functions, MelWeightMatrix, Det, AffineGrid, GridSample, Col2Im,
// RoiAlign, NonMaxSuppression, TfIdfVectorizer).
import { dtypeFromOnnx, requireFloat, rint, rounderFor, scalarOf, sizeOf, stridesOf, toNumbers } from './util.js';

/** Writes computed values into a tensor, rounding to float16 / bfloat16 where needed. */
function fill(out, fn) {
  const round = rounderFor(out.dtype);
  for (let i = 0; i < out.data.length; i++) {
    const v = fn(i);
    out.data[i] = typeof out.data[i] === 'bigint' ? BigInt(Math.trunc(v)) : round ? round(v) : v;
  }
  return out;
}

function outputDtype(op, attrs) {
  const dtype = dtypeFromOnnx(attrs.output_datatype, op);
  if (dtype === 'string' || dtype === 'bool') throw new Error(`${op}: output_datatype ${attrs.output_datatype} is not supported`);
  return dtype;
}

// ---------------------------------------------------------------------------------------------
// Window functions: w[n] for n in [0, size), with period N = size (periodic) or size - 1 (symmetric).

function windowKernel(op, formula) {
  return ([size], attrs, ctx) => {
    const n = scalarOf(size);
    const N = attrs.periodic !== 0 ? n : n - 1;
    return [fill(ctx.output(0, [n], outputDtype(op, attrs)), (i) => formula(i, N))];
  };
}

const hann = (i, N) => Math.sin((Math.PI * i) / N) ** 2;
const hamming = (i, N) => 25 / 46 - (21 / 46) * Math.cos((2 * Math.PI * i) / N);
const blackman = (i, N) => 0.42 - 0.5 * Math.cos((2 * Math.PI * i) / N) + 0.08 * Math.cos((4 * Math.PI * i) / N);

/**
 * MelWeightMatrix: [dft_length / 2 + 1, num_mel_bins] triangular filters, with the mel band edges
 * spaced as in the ONNX reference (range split into num_mel_bins + 2 steps).
 */
function melWeightMatrix([numMel, dftLen, sampleRate, lowerHz, upperHz], attrs, ctx) {
  const bins = scalarOf(numMel), dft = scalarOf(dftLen), rate = scalarOf(sampleRate);
  const toMel = (hz) => (2595 * Math.log1p(hz / 700)) / Math.LN10;
  const lowMel = toMel(scalarOf(lowerHz));
  const step = (toMel(scalarOf(upperHz)) - lowMel) / (bins + 2);
  const edges = [];
  for (let i = 0; i < bins + 2; i++) {
    const hz = 700 * Math.expm1(((i * step + lowMel) / 2595) * Math.LN10);
    edges.push(Math.floor(((dft + 1) * hz) / rate));
  }
  const spectro = Math.floor(dft / 2) + 1;
  const w = new Float64Array(spectro * bins);
  for (let i = 0; i < bins; i++) {
    const [lo, center, hi] = [edges[i], edges[i + 1], edges[i + 2]];
    if (center === lo) w[center * bins + i] = 1;
    else for (let j = lo; j <= center; j++) w[j * bins + i] = (j - lo) / (center - lo);
    for (let j = center; j < hi; j++) w[j * bins + i] = (hi - j) / (hi - center);
  }
  return [fill(ctx.output(0, [spectro, bins], outputDtype('MelWeightMatrix', attrs)), (i) => w[i])];
}

// ---------------------------------------------------------------------------------------------
// Det: determinant of each trailing [M, M] matrix, by LU decomposition with partial pivoting.

function det([x], attrs, ctx) {
  requireFloat('Det', x);
  const r = x.shape.length;
  if (r < 2 || x.shape[r - 1] !== x.shape[r - 2]) throw new Error(`Det: input must be [..., M, M], got [${x.shape}]`);
  const M = x.shape[r - 1];
  const batch = x.shape.slice(0, -2);
  const a = new Float64Array(M * M);
  const out = ctx.output(0, batch, x.dtype);
  return [fill(out, (b) => {
    a.set(x.data.subarray(b * M * M, (b + 1) * M * M));
    let d = 1;
    for (let c = 0; c < M; c++) {
      let p = c;
      for (let i = c + 1; i < M; i++) if (Math.abs(a[i * M + c]) > Math.abs(a[p * M + c])) p = i;
      if (a[p * M + c] === 0) return 0;
      if (p !== c) {
        for (let j = 0; j < M; j++) [a[c * M + j], a[p * M + j]] = [a[p * M + j], a[c * M + j]];
        d = -d;
      }
      const pivot = a[c * M + c];
      d *= pivot;
      for (let i = c + 1; i < M; i++) {
        const f = a[i * M + c] / pivot;
        for (let j = c + 1; j < M; j++) a[i * M + j] -= f * a[c * M + j];
      }
    }
    return d;
  })];
}

// ---------------------------------------------------------------------------------------------
// AffineGrid and GridSample. Normalised coordinates span [-1, 1] over a dimension of n samples:
// align_corners maps -1 / 1 to the centres of the first / last sample, otherwise to their outer edges.

function normalizedCoord(i, n, alignCorners) {
  if (alignCorners) return n === 1 ? -1 : -1 + (2 * i) / (n - 1);
  return -1 + (2 * i + 1) / n;
}

/** AffineGrid: theta [N, 2, 3] (2-D) or [N, 3, 4] (3-D) applied to the normalised sampling grid. */
function affineGrid([theta, size], attrs, ctx) {
  requireFloat('AffineGrid', theta);
  const dims = toNumbers(size);
  const [N, , ...spatial] = dims;
  const r = spatial.length;
  if (r !== 2 && r !== 3) throw new Error(`AffineGrid: size must have 4 or 5 elements, got [${dims}]`);
  const align = !!attrs.align_corners;
  const out = ctx.output(0, [N, ...spatial, r], theta.dtype);
  const round = rounderFor(theta.dtype);
  const count = sizeOf(spatial);
  const idx = new Array(r).fill(0);
  const base = new Float64Array(r + 1); // homogeneous point (x, y[, z], 1): x runs along the last dim
  base[r] = 1;
  let o = 0;
  for (let n = 0; n < N; n++) {
    const t = n * r * (r + 1);
    idx.fill(0);
    for (let k = 0; k < count; k++) {
      for (let d = 0; d < r; d++) base[d] = normalizedCoord(idx[r - 1 - d], spatial[r - 1 - d], align);
      for (let row = 0; row < r; row++) {
        let v = 0;
        for (let c = 0; c <= r; c++) v += theta.data[t + row * (r + 1) + c] * base[c];
        out.data[o++] = round ? round(v) : v;
      }
      for (let d = r - 1; d >= 0; d--) {
        if (++idx[d] < spatial[d]) break;
        idx[d] = 0;
      }
    }
  }
  return [out];
}

/** Reflects x into [lo, hi] (repeatedly, as a mirror at each border). */
function reflect(x, lo, hi) {
  const range = hi - lo;
  if (x < lo) {
    const dx = lo - x;
    const n = Math.trunc(dx / range);
    const r = dx - n * range;
    return n % 2 === 0 ? lo + r : hi - r;
  }
  if (x > hi) {
    const dx = x - hi;
    const n = Math.trunc(dx / range);
    const r = dx - n * range;
    return n % 2 === 0 ? hi - r : lo + r;
  }
  return x;
}

/** Keys cubic convolution weights (alpha = -0.75) for the 4 taps around fractional offset t. */
function cubicWeights(t, w) {
  const A = -0.75;
  const k1 = (x) => ((A + 2) * x - (A + 3)) * x * x + 1; // |x| <= 1
  const k2 = (x) => ((A * x - 5 * A) * x + 8 * A) * x - 4 * A; // 1 < |x| < 2
  w[0] = k2(t + 1);
  w[1] = k1(t);
  w[2] = k1(1 - t);
  w[3] = k2(2 - t);
}

/**
 * GridSample (opset 16+; N-D from 20): samples X [N, C, *spatial] at the normalised locations of
 * grid [N, *outSpatial, r] (grid[..., 0] indexes the last spatial dim) with nearest / linear /
 * cubic interpolation and zeros / border / reflection padding.
 */
function gridSample([x, grid], attrs, ctx) {
  requireFloat('GridSample', x);
  let mode = attrs.mode;
  mode = { bilinear: 'linear', bicubic: 'cubic' }[mode] ?? mode;
  if (!['nearest', 'linear', 'cubic'].includes(mode)) throw new Error(`GridSample: mode=${mode} is not supported`);
  const padding = attrs.padding_mode;
  if (!['zeros', 'border', 'reflection'].includes(padding)) throw new Error(`GridSample: padding_mode=${padding} is not supported`);
  const align = !!attrs.align_corners;
  const [N, C, ...dims] = x.shape;
  const r = dims.length;
  const outSpatial = grid.shape.slice(1, -1);
  if (grid.shape[grid.shape.length - 1] !== r || outSpatial.length !== r) {
    throw new Error(`GridSample: grid [${grid.shape}] does not match input [${x.shape}]`);
  }
  const out = ctx.output(0, [N, C, ...outSpatial], x.dtype);
  const round = rounderFor(x.dtype);
  const f32 = Math.fround; // the reference computes coordinates in float32
  const lo = dims.map(() => (align ? 0 : -0.5));
  const hi = dims.map((d) => (align ? d - 1 : d - 0.5));
  const taps = mode === 'nearest' ? 1 : mode === 'linear' ? 2 : 4;
  const strides = stridesOf(dims);
  const plane = sizeOf(dims);
  const points = sizeOf(outSpatial);
  // Per output point: for each dim, `taps` source indices (-1 = outside, reads zero) and weights.
  const tapIdx = new Int32Array(r * taps);
  const tapW = new Float64Array(r * taps);
  const cw = new Float64Array(4);
  const combos = taps ** r;

  /** Source index along dim d for integer position i under the padding mode (-1 = zero padding). */
  const pixelIndex = (i, d) => {
    if (i >= 0 && i < dims[d]) return i;
    if (padding === 'zeros') return -1;
    if (padding === 'border') return Math.min(Math.max(i, 0), dims[d] - 1);
    return Math.trunc(reflect(i, lo[d], hi[d]));
  };

  for (let n = 0; n < N; n++) {
    for (let p = 0; p < points; p++) {
      const g = (n * points + p) * r;
      for (let d = 0; d < r; d++) {
        const v = grid.data[g + r - 1 - d];
        let c = f32(align ? ((v + 1) / 2) * (dims[d] - 1) : ((v + 1) * dims[d] - 1) / 2);
        if (mode === 'nearest') c = rint(c);
        if (c < lo[d] || c > hi[d]) {
          if (padding === 'border') c = Math.min(Math.max(c, 0), dims[d] - 1);
          else if (padding === 'reflection') c = f32(reflect(c, lo[d], hi[d]));
        }
        const k = d * taps;
        if (mode === 'nearest') {
          tapIdx[k] = pixelIndex(Math.trunc(c), d);
          tapW[k] = 1;
          continue;
        }
        const c0 = Math.floor(c);
        const t = c - c0;
        if (mode === 'linear') {
          tapIdx[k] = pixelIndex(c0, d); tapW[k] = 1 - t;
          tapIdx[k + 1] = pixelIndex(c0 + 1, d); tapW[k + 1] = t;
        } else {
          cubicWeights(t, cw);
          for (let j = 0; j < 4; j++) { tapIdx[k + j] = pixelIndex(c0 - 1 + j, d); tapW[k + j] = cw[j]; }
        }
      }
      for (let ch = 0; ch < C; ch++) {
        const src = (n * C + ch) * plane;
        let acc = 0;
        for (let m = 0; m < combos; m++) {
          let w = 1, off = 0, rest = m;
          for (let d = r - 1; d >= 0; d--) {
            const k = d * taps + (rest % taps);
            rest = Math.floor(rest / taps);
            if (tapIdx[k] < 0) { w = 0; break; }
            w *= tapW[k];
            off += tapIdx[k] * strides[d];
          }
          if (w !== 0) acc += w * x.data[src + off];
        }
        const o = (n * C + ch) * points + p;
        out.data[o] = round ? round(acc) : acc;
      }
    }
  }
  return [out];
}

// ---------------------------------------------------------------------------------------------
// Col2Im: sums columns [N, C * prod(block), L] back into images [N, C, *image_shape].

function col2im([input, imageShape, blockShape], attrs, ctx) {
  requireFloat('Col2Im', input);
  const image = toNumbers(imageShape);
  const block = toNumbers(blockShape);
  const r = image.length;
  const dil = attrs.dilations ?? new Array(r).fill(1);
  const strides = attrs.strides ?? new Array(r).fill(1);
  const pads = attrs.pads ?? new Array(2 * r).fill(0);
  const [N, CK, L] = input.shape;
  const K = sizeOf(block);
  if (CK % K) throw new Error(`Col2Im: input dimension 1 (${CK}) is not a multiple of the block size ${K}`);
  const C = CK / K;
  const cols = image.map((d, i) => Math.floor((d + pads[i] + pads[i + r] - (dil[i] * (block[i] - 1) + 1)) / strides[i]) + 1);
  if (sizeOf(cols) !== L) throw new Error(`Col2Im: input has ${L} blocks, expected ${sizeOf(cols)} ([${cols}])`);
  const out = ctx.output(0, [N, C, ...image], input.dtype);
  const acc = new Float64Array(out.data.length);
  const imgStrides = stridesOf(image);
  const plane = sizeOf(image);
  const kIdx = new Array(r), lIdx = new Array(r);
  for (let k = 0; k < K; k++) {
    for (let d = r - 1, rest = k; d >= 0; d--) { kIdx[d] = rest % block[d]; rest = Math.floor(rest / block[d]); }
    for (let l = 0; l < L; l++) {
      for (let d = r - 1, rest = l; d >= 0; d--) { lIdx[d] = rest % cols[d]; rest = Math.floor(rest / cols[d]); }
      let off = 0;
      let inside = true;
      for (let d = 0; d < r; d++) {
        const pos = lIdx[d] * strides[d] - pads[d] + kIdx[d] * dil[d];
        if (pos < 0 || pos >= image[d]) { inside = false; break; }
        off += pos * imgStrides[d];
      }
      if (!inside) continue;
      for (let n = 0; n < N; n++) {
        for (let c = 0; c < C; c++) {
          acc[(n * C + c) * plane + off] += input.data[((n * C + c) * K + k) * L + l];
        }
      }
    }
  }
  return [fill(out, (i) => acc[i])];
}

// ---------------------------------------------------------------------------------------------
// RoiAlign: average / max of bilinear samples over each output bin of each region of interest.

function roiAlign([x, rois, batchIndices], attrs, ctx) {
  requireFloat('RoiAlign', x);
  // coordinate_transformation_mode: opset 16+; RoiAlign 10 samples as output_half_pixel
  const halfPixel = attrs.coordinate_transformation_mode === 'half_pixel';
  const mode = attrs.mode;
  if (mode !== 'avg' && mode !== 'max') throw new Error(`RoiAlign: mode=${mode} is not supported`);
  const outH = attrs.output_height, outW = attrs.output_width;
  const ratio = attrs.sampling_ratio;
  const scale = attrs.spatial_scale;
  const [, C, H, W] = x.shape;
  const R = rois.shape[0];
  const out = ctx.output(0, [R, C, outH, outW], x.dtype);
  const round = rounderFor(x.dtype);
  const offset = halfPixel ? 0.5 : 0;

  for (let n = 0; n < R; n++) {
    const b = Number(batchIndices.data[n]);
    const [x0, y0, x1, y1] = [0, 1, 2, 3].map((i) => rois.data[n * 4 + i] * scale - offset);
    let roiW = x1 - x0, roiH = y1 - y0;
    if (!halfPixel) { roiW = Math.max(roiW, 1); roiH = Math.max(roiH, 1); }
    const binH = roiH / outH, binW = roiW / outW;
    const gridH = ratio > 0 ? ratio : Math.ceil(roiH / outH);
    const gridW = ratio > 0 ? ratio : Math.ceil(roiW / outW);
    const count = Math.max(gridH * gridW, 1);
    // Bilinear sample positions / weights of every sampling point of every bin, shared by all channels.
    const samples = [];
    for (let ph = 0; ph < outH; ph++) {
      for (let pw = 0; pw < outW; pw++) {
        for (let iy = 0; iy < gridH; iy++) {
          const yy = y0 + ph * binH + ((iy + 0.5) * binH) / gridH;
          for (let ix = 0; ix < gridW; ix++) {
            const xx = x0 + pw * binW + ((ix + 0.5) * binW) / gridW;
            samples.push(bilinearSample(yy, xx, H, W));
          }
        }
      }
    }
    for (let c = 0; c < C; c++) {
      const src = (b * C + c) * H * W;
      let s = 0;
      for (let bin = 0; bin < outH * outW; bin++) {
        let v = mode === 'avg' ? 0 : -Infinity;
        for (let k = 0; k < gridH * gridW; k++, s++) {
          const [p1, p2, p3, p4, w1, w2, w3, w4] = samples[s];
          const d = x.data;
          if (mode === 'avg') v += w1 * d[src + p1] + w2 * d[src + p2] + w3 * d[src + p3] + w4 * d[src + p4];
          else v = Math.max(v, w1 * d[src + p1], w2 * d[src + p2], w3 * d[src + p3], w4 * d[src + p4]);
        }
        if (mode === 'avg') v /= count;
        else if (gridH * gridW === 0) v = 0;
        const o = ((n * C + c) * outH * outW) + bin;
        out.data[o] = round ? round(v) : v;
      }
    }
  }
  return [out];
}

/** [pos1..pos4, w1..w4] of a bilinear sample at (y, x) in an H x W plane (zero outside [-1, H] x [-1, W]). */
function bilinearSample(y, x, H, W) {
  if (y < -1 || y > H || x < -1 || x > W) return [0, 0, 0, 0, 0, 0, 0, 0];
  y = Math.max(y, 0);
  x = Math.max(x, 0);
  let yLow = Math.trunc(y), xLow = Math.trunc(x), yHigh, xHigh;
  if (yLow >= H - 1) { yHigh = yLow = H - 1; y = yLow; } else yHigh = yLow + 1;
  if (xLow >= W - 1) { xHigh = xLow = W - 1; x = xLow; } else xHigh = xLow + 1;
  const ly = y - yLow, lx = x - xLow, hy = 1 - ly, hx = 1 - lx;
  return [yLow * W + xLow, yLow * W + xHigh, yHigh * W + xLow, yHigh * W + xHigh, hy * hx, hy * lx, ly * hx, ly * lx];
}

// ---------------------------------------------------------------------------------------------
// NonMaxSuppression: greedy per (batch, class) selection by descending score, dropping boxes whose
// IoU with an already selected box exceeds iou_threshold. Output [num_selected, 3] int64.

/** [xMin, yMin, xMax, yMax] of box i (corners in either order, or center / size when centerPoint). */
function boxExtent(d, i, centerPoint) {
  const [a, b, c, e] = [d[i * 4], d[i * 4 + 1], d[i * 4 + 2], d[i * 4 + 3]];
  if (centerPoint) return [a - c / 2, b - e / 2, a + c / 2, b + e / 2];
  return [Math.min(b, e), Math.min(a, c), Math.max(b, e), Math.max(a, c)];
}

function iou(p, q) {
  const ix = Math.min(p[2], q[2]) - Math.max(p[0], q[0]);
  const iy = Math.min(p[3], q[3]) - Math.max(p[1], q[1]);
  if (ix <= 0 || iy <= 0) return 0;
  const inter = ix * iy;
  const a1 = (p[2] - p[0]) * (p[3] - p[1]);
  const a2 = (q[2] - q[0]) * (q[3] - q[1]);
  const union = a1 + a2 - inter;
  if (a1 <= 0 || a2 <= 0 || union <= 0) return 0;
  return inter / union;
}

function nonMaxSuppression([boxes, scores, maxOut, iouThr, scoreThr], attrs, ctx) {
  const maxPerClass = maxOut && maxOut.data.length ? Math.max(Number(maxOut.data[0]), 0) : 0;
  const iouThreshold = iouThr && iouThr.data.length ? Number(iouThr.data[0]) : 0;
  const scoreThreshold = scoreThr && scoreThr.data.length ? Number(scoreThr.data[0]) : null;
  const centerPoint = !!attrs.center_point_box;
  const [B, nBoxes] = boxes.shape;
  const nClasses = scores.shape[1];
  const selected = [];
  for (let b = 0; b < B; b++) {
    const bd = boxes.data.subarray(b * nBoxes * 4, (b + 1) * nBoxes * 4);
    const extents = Array.from({ length: nBoxes }, (_, i) => boxExtent(bd, i, centerPoint));
    for (let c = 0; c < nClasses; c++) {
      const s = scores.data.subarray((b * nClasses + c) * nBoxes, (b * nClasses + c + 1) * nBoxes);
      const candidates = [];
      for (let i = 0; i < nBoxes; i++) if (scoreThreshold === null || s[i] > scoreThreshold) candidates.push(i);
      candidates.sort((i, j) => s[j] - s[i] || i - j); // stable: equal scores keep the lower index first
      const kept = [];
      for (const i of candidates) {
        if (kept.length >= maxPerClass) break;
        if (kept.every((j) => !(iou(extents[i], extents[j]) > iouThreshold))) {
          kept.push(i);
          selected.push(b, c, i);
        }
      }
    }
  }
  const out = ctx.output(0, [selected.length / 3, 3], 'int64');
  for (let i = 0; i < selected.length; i++) out.data[i] = BigInt(selected[i]);
  return [out];
}

// ---------------------------------------------------------------------------------------------
// TfIdfVectorizer: counts the n-grams of the pool (a trie keyed by token) in each row, with skips.

/** Builds the n-gram trie: nodes { id, leaves: Map }, id = 1-based n-gram number (0: prefix only). */
function buildNgramTrie(pool, counts, minLen, maxLen) {
  const root = { id: 0, leaves: new Map() };
  let id = 1;
  for (let i = 0; i < counts.length; i++) {
    const n = i + 1; // counts[i] starts the n-grams of length i + 1
    const start = counts[i];
    const end = i + 1 < counts.length ? counts[i + 1] : pool.length;
    const ngrams = Math.floor((end - start) / n);
    if (n < minLen || n > maxLen) {
      id += ngrams;
      continue;
    }
    for (let g = 0; g < ngrams; g++) {
      let node = root;
      for (let k = 0; k < n; k++) {
        const key = pool[start + g * n + k];
        if (!node.leaves.has(key)) node.leaves.set(key, { id: 0, leaves: new Map() });
        node = node.leaves.get(key);
      }
      node.id = id++;
    }
  }
  return root;
}

function tfIdfVectorizer([x], attrs, ctx) {
  const mode = attrs.mode;
  if (!['TF', 'IDF', 'TFIDF'].includes(mode)) throw new Error(`TfIdfVectorizer: mode=${mode} is not supported`);
  const minLen = attrs.min_gram_length, maxLen = attrs.max_gram_length;
  const maxSkip = attrs.max_skip_count ?? 0;
  const indexes = attrs.ngram_indexes;
  const weights = attrs.weights ?? [];
  const pool = attrs.pool_strings ?? (attrs.pool_int64s ?? []).map(Number);
  const trie = buildNgramTrie(pool, attrs.ngram_counts, minLen, maxLen);
  const outSize = Math.max(...indexes) + 1;
  const rows = x.shape.length === 2 ? x.shape[0] : 1;
  const C = x.shape.length === 2 ? x.shape[1] : x.data.length;
  const token = (i) => (typeof x.data[i] === 'string' ? x.data[i] : Number(x.data[i]));
  const freq = new Float64Array(rows * outSize);
  for (let row = 0; row < rows; row++) {
    let startLen = minLen; // unigrams are only counted once (at skip distance 1)
    for (let skip = 1; skip <= maxSkip + 1; skip++) {
      for (let start = 0; start + skip * (startLen - 1) < C; start++) {
        let node = trie;
        for (let n = 1, i = start; n <= maxLen && i < C && node.leaves.size; n++, i += skip) {
          node = node.leaves.get(token(row * C + i));
          if (!node) break;
          if (n >= startLen && node.id) freq[row * outSize + indexes[node.id - 1]]++;
        }
      }
      if (startLen === 1) {
        startLen = 2;
        if (startLen > maxLen) break;
      }
    }
  }
  const shape = x.shape.length === 2 ? [rows, outSize] : [outSize];
  const out = ctx.output(0, shape, 'float32');
  for (let p = 0; p < freq.length; p++) {
    const f = freq[p], w = weights.length ? weights[p % outSize] : 1;
    out.data[p] = mode === 'TF' ? f : mode === 'IDF' ? (f > 0 ? w : 0) : w * f;
  }
  return [out];
}

export const kernels = {
  TfIdfVectorizer: tfIdfVectorizer,
  HannWindow: windowKernel('HannWindow', hann),
  HammingWindow: windowKernel('HammingWindow', hamming),
  BlackmanWindow: windowKernel('BlackmanWindow', blackman),
  MelWeightMatrix: melWeightMatrix,
  Det: det,
  AffineGrid: affineGrid,
  GridSample: gridSample,
  Col2Im: col2im,
  RoiAlign: roiAlign,
  NonMaxSuppression: nonMaxSuppression,
};
