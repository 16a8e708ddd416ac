// Kernels: spectral transforms (DFT, STFT).
//
// Complex tensors have a trailing dimension of 2 (real, imaginary); real ones a trailing 1. The
// transforms are direct O(n²) sums over a table of twiddle factors (any length, no power-of-two
// requirement), accumulated in float64.
import { normalizeAxis, requireFloat, roundToDtype, scalarOf, sizeOf } from './util.js';

/** cos / sin of 2πj/n for j in [0, n). */
function twiddles(n) {
  const cos = new Float64Array(n), sin = new Float64Array(n);
  for (let j = 0; j < n; j++) {
    const a = (2 * Math.PI * j) / n;
    cos[j] = Math.cos(a);
    sin[j] = Math.sin(a);
  }
  return { cos, sin };
}

/**
 * One transform of length n: out[k] = sum_t in[t] · e^(∓2πi·kt/n) for k < bins, where in has
 * `len` samples (zero beyond, truncated to n). Inverse uses e^(+…) and divides by n.
 */
function dft1d(re, im, len, n, bins, inverse, tw, outRe, outIm) {
  const m = Math.min(len, n);
  const sign = inverse ? 1 : -1;
  const scale = inverse ? 1 / n : 1;
  for (let k = 0; k < bins; k++) {
    let sr = 0, si = 0, j = 0;
    for (let t = 0; t < m; t++) {
      const c = tw.cos[j], s = sign * tw.sin[j];
      sr += re[t] * c - im[t] * s;
      si += re[t] * s + im[t] * c;
      j += k;
      if (j >= n) j -= n;
    }
    outRe[k] = sr * scale;
    outIm[k] = si * scale;
  }
}

/**
 * Inverse of a one-sided (Hermitian) spectrum of `len` bins to n real samples, like numpy's irfft:
 * bins beyond n/2 are implied by symmetry and the imaginary parts of DC / Nyquist are ignored.
 */
function irfft1d(re, im, len, n, tw, out) {
  const half = Math.floor(n / 2);
  const m = Math.min(len, half + 1);
  for (let t = 0; t < n; t++) {
    let s = m > 0 ? re[0] : 0;
    let j = t % n;
    for (let k = 1; k < m; k++) {
      const c = tw.cos[j], sn = tw.sin[j];
      const v = re[k] * c - im[k] * sn;
      s += n % 2 === 0 && k === half ? v : 2 * v; // the Nyquist bin has no mirror
      j += t;
      if (j >= n) j -= n;
    }
    out[t] = s / n;
  }
}

/**
 * Transforms X ([..., L, ..., 1 or 2]) along `axis`; returns the output tensor.
 *   onesided && !inverse: keep n/2+1 bins;  onesided && inverse: irfft to n real samples.
 */
function transform(op, X, axis, n, inverse, onesided, ctx) {
  const rank = X.shape.length;
  const comps = X.shape[rank - 1];
  if (comps !== 1 && comps !== 2) throw new Error(`${op}: last dimension must be 1 (real) or 2 (complex), got [${X.shape}]`);
  if (axis === rank - 1) throw new Error(`${op}: axis must not be the last (real/imaginary) dimension`);
  const L = X.shape[axis];
  const irfft = inverse && onesided;
  const bins = irfft ? n : onesided ? Math.floor(n / 2) + 1 : n;
  const outShape = [...X.shape];
  outShape[axis] = bins;
  outShape[rank - 1] = irfft ? 1 : 2;
  const Y = ctx.output(0, outShape, X.dtype);
  const outer = sizeOf(X.shape.slice(0, axis)), inner = sizeOf(X.shape.slice(axis + 1, rank - 1));
  const oc = outShape[rank - 1];
  const tw = twiddles(n);
  const re = new Float64Array(L), im = new Float64Array(L);
  const outRe = new Float64Array(bins), outIm = new Float64Array(bins);
  const x = X.data, y = Y.data;
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      for (let t = 0; t < L; t++) {
        const src = ((o * L + t) * inner + i) * comps;
        re[t] = x[src];
        im[t] = comps === 2 ? x[src + 1] : 0;
      }
      if (irfft) irfft1d(re, im, L, n, tw, outRe);
      else dft1d(re, im, L, n, bins, inverse, tw, outRe, outIm);
      for (let k = 0; k < bins; k++) {
        const dst = ((o * bins + k) * inner + i) * oc;
        y[dst] = outRe[k];
        if (oc === 2) y[dst + 1] = outIm[k];
      }
    }
  }
  return roundToDtype(Y);
}

/** DFT: axis is an attribute (default 1) up to opset 19, an optional input (default -2) from 20. */
function DFT([X, dftLength, axisT], attrs, ctx) {
  requireFloat('DFT', X);
  const rank = X.shape.length;
  const rawAxis = ctx.opset >= 20 ? (axisT ? scalarOf(axisT) : -2) : attrs.axis;
  const axis = normalizeAxis(rawAxis, rank);
  const inverse = !!attrs.inverse;
  const onesided = !!attrs.onesided;
  let n;
  if (dftLength) n = scalarOf(dftLength);
  else n = inverse && onesided ? 2 * (X.shape[axis] - 1) : X.shape[axis];
  if (!(n > 0)) throw new Error(`DFT: dft_length must be positive, got ${n}`);
  return [transform('DFT', X, axis, n, inverse, onesided, ctx)];
}

/** STFT: signal [batch, length, 1 or 2] -> [batch, frames, bins, 2]. */
function STFT([signal, frameStepT, window, frameLengthT], attrs, ctx) {
  requireFloat('STFT', signal);
  const onesided = attrs.onesided !== 0;
  const [batch, len, comps] = signal.shape;
  if (signal.shape.length !== 3 || (comps !== 1 && comps !== 2)) throw new Error(`STFT: signal must be [batch, length, 1 or 2], got [${signal.shape}]`);
  const step = scalarOf(frameStepT);
  const frameLength = frameLengthT ? scalarOf(frameLengthT) : window ? window.shape[0] : len;
  if (window && window.shape[0] !== frameLength) throw new Error(`STFT: window length ${window.shape[0]} != frame_length ${frameLength}`);
  const frames = Math.floor((len - frameLength) / step) + 1;
  const bins = onesided ? Math.floor(frameLength / 2) + 1 : frameLength;
  const Y = ctx.output(0, [batch, frames, bins, 2], signal.dtype);
  const tw = twiddles(frameLength);
  const re = new Float64Array(frameLength), im = new Float64Array(frameLength);
  const outRe = new Float64Array(bins), outIm = new Float64Array(bins);
  const x = signal.data, y = Y.data;
  for (let b = 0; b < batch; b++) {
    for (let f = 0; f < frames; f++) {
      for (let t = 0; t < frameLength; t++) {
        const w = window ? window.data[t] : 1;
        const src = (b * len + f * step + t) * comps;
        re[t] = x[src] * w;
        im[t] = comps === 2 ? x[src + 1] * w : 0;
      }
      dft1d(re, im, frameLength, frameLength, bins, false, tw, outRe, outIm);
      for (let k = 0; k < bins; k++) {
        const dst = ((b * frames + f) * bins + k) * 2;
        y[dst] = outRe[k];
        y[dst + 1] = outIm[k];
      }
    }
  }
  return [roundToDtype(Y)];
}

export const kernels = { DFT, STFT };
