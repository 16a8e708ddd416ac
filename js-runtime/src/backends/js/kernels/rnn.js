// Kernels: recurrent layers (RNN, GRU, LSTM).
//
// All three share one driver (runRecurrent): per direction, the input projection X·Wᵀ (+ W bias)
// of every time step is one GEMM up front; each step then multiplies the batch's hidden state by Rᵀ
// (gemmNT) and lets the op's cell function update the state of every batch row that is still
// inside its sequence length. State and accumulation are float64; outputs are rounded to the
// input dtype at the end.
import { requireFloat, roundToDtype } from './util.js';
import { gemmNT } from './matmul.js';

function sigmoid(x) {
  if (x >= 0) return 1 / (1 + Math.exp(-x));
  const e = Math.exp(x);
  return e / (1 + e);
}

// Activation functions of the recurrent ops: lower-case name -> [uses alpha, uses beta, default
// alpha, default beta, (alpha, beta) -> fn].
// The first four fields are webdnn_build/opdecl.py's RNN_ACTIVATION_PARAMS (tests/test_opdecl.py checks).
const ACTIVATIONS = {
  relu: [false, false, 0, 0, () => (x) => (x < 0 ? 0 : x)],
  tanh: [false, false, 0, 0, () => Math.tanh],
  sigmoid: [false, false, 0, 0, () => sigmoid],
  affine: [true, true, 1, 0, (a, b) => (x) => a * x + b],
  leakyrelu: [true, false, 0.01, 0, (a) => (x) => (x < 0 ? a * x : x)],
  thresholdedrelu: [true, false, 1, 0, (a) => (x) => (x > a ? x : 0)],
  scaledtanh: [true, true, 1, 1, (a, b) => (x) => a * Math.tanh(b * x)],
  hardsigmoid: [true, true, 0.2, 0.5, (a, b) => (x) => Math.max(0, Math.min(1, a * x + b))],
  elu: [true, false, 1, 0, (a) => (x) => (x < 0 ? a * (Math.exp(x) - 1) : x)],
  softsign: [false, false, 0, 0, () => (x) => x / (1 + Math.abs(x))],
  softplus: [false, false, 0, 0, () => (x) => (x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x)))],
};

/**
 * The activation functions of every direction: an array (per direction) of arrays of `perDir`
 * functions. activation_alpha / activation_beta are consumed in order by the functions that take them.
 */
function activationFns(op, attrs, defaults, numDir) {
  const names = attrs.activations ?? Array.from({ length: numDir }, () => defaults).flat();
  if (names.length !== defaults.length * numDir) {
    throw new Error(`${op}: expected ${defaults.length * numDir} activations, got ${names.length}`);
  }
  const alphas = attrs.activation_alpha ?? [], betas = attrs.activation_beta ?? [];
  let ai = 0, bi = 0;
  const fns = names.map((name) => {
    const entry = ACTIVATIONS[name.toLowerCase()];
    if (!entry) throw new Error(`${op}: activation ${name} is not supported`);
    const [usesAlpha, usesBeta, da, db, make] = entry;
    const a = usesAlpha && ai < alphas.length ? alphas[ai++] : da;
    const b = usesBeta && bi < betas.length ? betas[bi++] : db;
    return make(a, b);
  });
  return Array.from({ length: numDir }, (_, d) => fns.slice(d * defaults.length, (d + 1) * defaults.length));
}

/**
 * Shared driver. `spec` describes the op:
 *   gates        number of gate blocks G (W is [numDir, G*H, I], R is [numDir, G*H, H])
 *   defaults     default activation names per direction
 *   hasCell      LSTM: a cell state (initial_c input 6, Y_c output 2)
 *   step(s)      the cell update, see below
 * Inputs: X, W, R, B, sequence_lens, initial_h (and for LSTM initial_c, P).
 */
function runRecurrent(op, spec, inputs, attrs, ctx) {
  const [X, W, R, B, seqLensT, initialH] = inputs;
  const initialC = spec.hasCell ? inputs[6] ?? null : null;
  const layout = attrs.layout ?? 0; // opset 14+
  const direction = attrs.direction;
  if (!['forward', 'reverse', 'bidirectional'].includes(direction)) throw new Error(`${op}: direction=${direction} is not supported`);
  const numDir = direction === 'bidirectional' ? 2 : 1;
  const G = spec.gates;
  const H = attrs.hidden_size ?? R.shape[2];
  const [T, N] = layout === 0 ? X.shape : [X.shape[1], X.shape[0]];
  const I = X.shape[2];
  if (W.shape[1] !== G * H || W.shape[2] !== I) throw new Error(`${op}: W [${W.shape}] does not match X [${X.shape}] / hidden_size ${H}`);
  const clip = attrs.clip;
  const clipFn = clip === undefined ? null : (x) => (x < -clip ? -clip : x > clip ? clip : x);
  const acts = activationFns(op, attrs, spec.defaults, numDir);
  const seqLens = seqLensT ? Array.from(seqLensT.data, Number) : new Array(N).fill(T);

  const dtype = X.dtype;
  const yShape = layout === 0 ? [T, numDir, N, H] : [N, T, numDir, H];
  const stateShape = layout === 0 ? [numDir, N, H] : [N, numDir, H];
  const Y = ctx.output(0, yShape, dtype);
  const Yh = ctx.output(1, stateShape, dtype);
  const Yc = spec.hasCell ? ctx.output(2, stateShape, dtype) : null;
  // Flat offsets of rows (t, d, b) of Y and (d, b) of the states / initial states.
  const yRow = layout === 0 ? (t, d, b) => ((t * numDir + d) * N + b) * H : (t, d, b) => ((b * T + t) * numDir + d) * H;
  const stateRow = layout === 0 ? (d, b) => (d * N + b) * H : (d, b) => (b * numDir + d) * H;
  const xRow = layout === 0 ? (t, b) => t * N + b : (t, b) => b * T + t;

  const GH = G * H;
  const xw = new Float64Array(T * N * GH); // X·Wᵀ + Wb, rows in X's order
  const hr = new Float64Array(N * GH); // h·Rᵀ of the current step
  const h = new Float64Array(N * H), c = new Float64Array(N * H);
  for (let d = 0; d < numDir; d++) {
    const reverse = direction === 'reverse' || d === 1;
    gemmNT(T * N, GH, I, X.data, 0, I, W.data, d * GH * I, I, xw, 0, GH);
    const wb = B ? B.data.subarray(d * 2 * GH, d * 2 * GH + GH) : null;
    const rb = B ? B.data.subarray(d * 2 * GH + GH, (d + 1) * 2 * GH) : null;
    if (wb) for (let r = 0; r < T * N; r++) for (let j = 0; j < GH; j++) xw[r * GH + j] += wb[j];
    for (let b = 0; b < N; b++) {
      const o = stateRow(d, b);
      for (let j = 0; j < H; j++) {
        h[b * H + j] = initialH ? initialH.data[o + j] : 0;
        c[b * H + j] = initialC ? initialC.data[o + j] : 0;
      }
    }
    const dirState = {
      d, H, N, GH, xw, hr, h, c, rb, act: acts[d], clip: clipFn, R: R.data, rOff: d * GH * H, attrs, inputs,
    };
    for (let s = 0; s < T; s++) {
      // Rows still inside their sequence and the time step each one is at.
      const active = [];
      for (let b = 0; b < N; b++) {
        if (s >= seqLens[b]) continue;
        const t = reverse ? seqLens[b] - 1 - s : s;
        active.push([b, t, xRow(t, b) * GH]);
      }
      if (active.length === 0) break;
      spec.step(dirState, active);
      for (const [b, t] of active) {
        const y = yRow(t, d, b);
        for (let j = 0; j < H; j++) Y.data[y + j] = h[b * H + j];
      }
    }
    for (let b = 0; b < N; b++) {
      const o = stateRow(d, b);
      for (let j = 0; j < H; j++) {
        Yh.data[o + j] = h[b * H + j];
        if (Yc) Yc.data[o + j] = c[b * H + j];
      }
    }
  }
  const outs = [roundToDtype(Y), roundToDtype(Yh)];
  if (Yc) outs.push(roundToDtype(Yc));
  return outs;
}

/** hr[b, 0:rows] = h[b]·R[rOff + rowsFrom ..]ᵀ + rb (all batch rows; inactive ones are ignored). */
function projectState(st, src, rowsFrom, rows) {
  const { N, H, GH, hr, R, rOff, rb } = st;
  gemmNT(N, rows, H, src, 0, H, R, rOff + rowsFrom * H, H, hr, rowsFrom, GH);
  if (rb) for (let b = 0; b < N; b++) for (let j = rowsFrom; j < rowsFrom + rows; j++) hr[b * GH + j] += rb[j];
}

/** Ht = f(Xt·Wᵀ + Ht-1·Rᵀ + Wb + Rb). */
function rnnStep(st, active) {
  const { H, xw, hr, h, clip } = st;
  const [f] = st.act;
  projectState(st, h, 0, H);
  for (const [b, , x] of active) {
    for (let j = 0; j < H; j++) {
      let v = xw[x + j] + hr[b * H + j];
      if (clip) v = clip(v);
      h[b * H + j] = f(v);
    }
  }
}

/** GRU, gates z, r, h. linear_before_reset selects where the reset gate applies. */
function gruStep(st, active) {
  const { H, N, GH, xw, hr, h, clip, attrs } = st;
  const [f, g] = st.act;
  const linearBeforeReset = !!attrs.linear_before_reset;
  const z = st.z ??= new Float64Array(N * H);
  if (linearBeforeReset) {
    projectState(st, h, 0, GH); // r ⊙ (Ht-1·Rhᵀ + Rbh)
  } else {
    projectState(st, h, 0, 2 * H);
  }
  const rh = st.rh ??= new Float64Array(N * H); // reset gate values, then r ⊙ Ht-1
  for (const [b, , x] of active) {
    for (let j = 0; j < H; j++) {
      let zv = xw[x + j] + hr[b * GH + j];
      let rv = xw[x + H + j] + hr[b * GH + H + j];
      if (clip) { zv = clip(zv); rv = clip(rv); }
      z[b * H + j] = f(zv);
      rh[b * H + j] = f(rv);
    }
  }
  if (!linearBeforeReset) {
    for (let i = 0; i < N * H; i++) rh[i] *= h[i];
    projectState(st, rh, 2 * H, H); // (r ⊙ Ht-1)·Rhᵀ + Rbh
  }
  for (const [b, , x] of active) {
    for (let j = 0; j < H; j++) {
      const k = b * H + j;
      const rec = hr[b * GH + 2 * H + j];
      let v = xw[x + 2 * H + j] + (linearBeforeReset ? rh[k] * rec : rec);
      if (clip) v = clip(v);
      const hh = g(v);
      h[k] = (1 - z[k]) * hh + z[k] * h[k];
    }
  }
}

/** LSTM, gates i, o, f, c; peepholes P = [Pi, Po, Pf]; input_forget couples f = 1 - i. */
function lstmStep(st, active) {
  const { H, GH, xw, hr, h, c, clip, attrs, inputs, d } = st;
  const [f, g, hAct] = st.act;
  const P = inputs[7] ? inputs[7].data : null;
  const pOff = d * 3 * H;
  const inputForget = !!attrs.input_forget;
  projectState(st, h, 0, GH);
  for (const [b, , x] of active) {
    const a = b * GH;
    for (let j = 0; j < H; j++) {
      const k = b * H + j;
      const cPrev = c[k];
      let iv = xw[x + j] + hr[a + j];
      let ov = xw[x + H + j] + hr[a + H + j];
      let fv = xw[x + 2 * H + j] + hr[a + 2 * H + j];
      let cv = xw[x + 3 * H + j] + hr[a + 3 * H + j];
      if (P) { iv += P[pOff + j] * cPrev; fv += P[pOff + 2 * H + j] * cPrev; }
      if (clip) { iv = clip(iv); fv = clip(fv); cv = clip(cv); }
      const it = f(iv);
      const ft = inputForget ? 1 - it : f(fv);
      const ct = ft * cPrev + it * g(cv);
      if (P) ov += P[pOff + H + j] * ct;
      if (clip) ov = clip(ov);
      c[k] = ct;
      h[k] = f(ov) * hAct(ct);
    }
  }
}

const RNN_SPEC = { gates: 1, defaults: ['Tanh'], hasCell: false, step: rnnStep };
const GRU_SPEC = { gates: 3, defaults: ['Sigmoid', 'Tanh'], hasCell: false, step: gruStep };
const LSTM_SPEC = { gates: 4, defaults: ['Sigmoid', 'Tanh', 'Tanh'], hasCell: true, step: lstmStep };

function checkFloat(op, X) {
  requireFloat(op, X);
  if (X.shape.length !== 3) throw new Error(`${op}: X must have rank 3, got [${X.shape}]`);
}

export const kernels = {
  RNN: (inputs, attrs, ctx) => { checkFloat('RNN', inputs[0]); return runRecurrent('RNN', RNN_SPEC, inputs, attrs, ctx); },
  GRU: (inputs, attrs, ctx) => { checkFloat('GRU', inputs[0]); return runRecurrent('GRU', GRU_SPEC, inputs, attrs, ctx); },
  LSTM: (inputs, attrs, ctx) => { checkFloat('LSTM', inputs[0]); return runRecurrent('LSTM', LSTM_SPEC, inputs, attrs, ctx); },
};
