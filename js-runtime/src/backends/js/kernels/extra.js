// Kernels: assorted newer or specialised ops — BitCast, TensorScatter, DeformConv, QLinearConv,
// CausalConvWithState, LinearAttention.
import {
  makeTensor, normalizeAxis, sizeOf, precisionOf, roundToDtype, rint, requireFloat, dtypeFromOnnx,
  numberToFloat16Bits, float16BitsToNumber, numberToBFloat16Bits, bfloat16BitsToNumber,
} from './util.js';
import { gemmNT } from './matmul.js';
import { kernels as convKernels, spatialAttrs, windowGeometry } from './conv.js';

// ---------------------------------------------------------------------------------------------
// BitCast

const BYTE_WIDTH = {
  float32: 4, float64: 8, float16: 2, bfloat16: 2, int8: 1, uint8: 1, int16: 2, uint16: 2,
  int32: 4, uint32: 4, int64: 8, uint64: 8, bool: 1,
};

/** The little-endian bytes of a tensor's elements (float16 / bfloat16 as their 16-bit patterns). */
function tensorBytes(t) {
  if (t.dtype === 'float16' || t.dtype === 'bfloat16') {
    const toBits = t.dtype === 'float16' ? numberToFloat16Bits : numberToBFloat16Bits;
    return new Uint8Array(Uint16Array.from(t.data, toBits).buffer);
  }
  return new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
}

function BitCast([x], attrs, ctx) {
  const to = dtypeFromOnnx(attrs.to, 'BitCast');
  if (x.dtype === 'string' || to === 'string') throw new Error('BitCast: string tensors are not supported');
  if (BYTE_WIDTH[x.dtype] !== BYTE_WIDTH[to]) {
    throw new Error(`BitCast: ${x.dtype} and ${to} have different bit widths`);
  }
  const bytes = tensorBytes(x);
  const out = ctx.output(0, x.shape, to);
  if (to === 'float16' || to === 'bfloat16') {
    const fromBits = to === 'float16' ? float16BitsToNumber : bfloat16BitsToNumber;
    const bits = new Uint16Array(bytes.slice().buffer);
    for (let i = 0; i < bits.length; i++) out.data[i] = fromBits(bits[i]);
  } else if (to === 'bool') {
    for (let i = 0; i < bytes.length; i++) out.data[i] = bytes[i] ? 1 : 0; // bool storage is 0/1
  } else {
    new Uint8Array(out.data.buffer, out.data.byteOffset, out.data.byteLength).set(bytes);
  }
  return [out];
}

// ---------------------------------------------------------------------------------------------
// TensorScatter

/**
 * present = past with `update` written along `axis` at write_indices[batch] (+ sequence offset,
 * modulo the cache length in circular mode).
 */
function TensorScatter([past, update, writeIndices], attrs, ctx) {
  const rank = past.shape.length;
  const axis = normalizeAxis(attrs.axis, rank);
  const mode = attrs.mode;
  if (mode !== 'linear' && mode !== 'circular') throw new Error(`TensorScatter: mode=${mode} is not supported`);
  if (axis === 0) throw new Error('TensorScatter: axis must not be the batch dimension');
  if (update.shape.length !== rank || update.shape.some((d, i) => (i === axis ? d > past.shape[i] : d !== past.shape[i]))) {
    throw new Error(`TensorScatter: update [${update.shape}] does not fit past_cache [${past.shape}] along axis ${axis}`);
  }
  const out = ctx.output(0, past.shape, past.dtype);
  if (past.dtype === 'string') for (let i = 0; i < past.data.length; i++) out.data[i] = past.data[i];
  else out.data.set(past.data);
  const maxLen = past.shape[axis], seqLen = update.shape[axis];
  const inner = sizeOf(past.shape.slice(axis + 1));
  const prefix = sizeOf(past.shape.slice(0, axis));
  const perBatch = prefix / past.shape[0]; // prefix rows per batch element
  for (let p = 0; p < prefix; p++) {
    const b = Math.floor(p / perBatch);
    const start = writeIndices ? Number(writeIndices.data[b]) : 0;
    for (let s = 0; s < seqLen; s++) {
      let pos = start + s;
      if (mode === 'circular') pos %= maxLen;
      if (pos < 0 || pos >= maxLen) throw new Error(`TensorScatter: write index ${pos} out of range [0, ${maxLen})`);
      const src = (p * seqLen + s) * inner, dst = (p * maxLen + pos) * inner;
      for (let i = 0; i < inner; i++) out.data[dst + i] = update.data[src + i];
    }
  }
  return [out];
}

// ---------------------------------------------------------------------------------------------
// DeformConv (2-D)

/** Bilinear sample of plane x (H×W at off) at (h, w); 0 outside, like GridSample's zeros padding. */
function bilinear(x, off, H, W, h, w) {
  const h0 = Math.floor(h), w0 = Math.floor(w);
  const dh = h - h0, dw = w - w0;
  let v = 0;
  if (h0 >= 0 && h0 < H) {
    if (w0 >= 0 && w0 < W) v += (1 - dh) * (1 - dw) * x[off + h0 * W + w0];
    if (w0 + 1 >= 0 && w0 + 1 < W) v += (1 - dh) * dw * x[off + h0 * W + w0 + 1];
  }
  if (h0 + 1 >= 0 && h0 + 1 < H) {
    if (w0 >= 0 && w0 < W) v += dh * (1 - dw) * x[off + (h0 + 1) * W + w0];
    if (w0 + 1 >= 0 && w0 + 1 < W) v += dh * dw * x[off + (h0 + 1) * W + w0 + 1];
  }
  return v;
}

/**
 * DeformConv: each kernel tap samples the input at its regular position plus a learned offset
 * (bilinear), optionally scaled by a mask; the sampled columns are then multiplied with the
 * weights (im2col + gemmNT per group).
 */
function DeformConv([X, Wt, offset, B, mask], attrs, ctx) {
  requireFloat('DeformConv', X);
  if (X.shape.length !== 4) throw new Error(`DeformConv: only 2-D convolution is supported, got input [${X.shape}]`);
  const [N, C, H, W] = X.shape;
  const M = Wt.shape[0];
  const kernel = attrs.kernel_shape ?? Wt.shape.slice(2);
  const [kh, kw] = kernel;
  const { strides, dilations, pads } = spatialAttrs(attrs, 2, kernel);
  const group = attrs.group, offsetGroup = attrs.offset_group;
  const geom = windowGeometry([H, W], { kernel, strides, dilations, pads, autoPad: 'NOTSET' }, 'DeformConv');
  const [oh, ow] = geom.out;
  const P = oh * ow, KK = kh * kw;
  const Cg = C / group, Mg = M / group, Kg = Cg * KK, Cog = C / offsetGroup;
  if (Wt.shape[1] !== Cg || !Number.isInteger(Mg) || !Number.isInteger(Cog)) {
    throw new Error(`DeformConv: shapes X [${X.shape}], W [${Wt.shape}] do not match group ${group} / offset_group ${offsetGroup}`);
  }
  if (offset.shape[1] !== offsetGroup * KK * 2 || offset.shape[2] !== oh || offset.shape[3] !== ow) {
    throw new Error(`DeformConv: offset [${offset.shape}] does not match output [${oh}, ${ow}] / offset_group ${offsetGroup}`);
  }
  const Y = ctx.output(0, [N, M, oh, ow], X.dtype);
  const x = X.data, off = offset.data;
  const col = new Float64Array(P * C * KK); // col[p, c * KK + kk]
  const K = C * KK;
  for (let n = 0; n < N; n++) {
    for (let c = 0; c < C; c++) {
      const og = Math.floor(c / Cog);
      const xOff = (n * C + c) * H * W;
      for (let i = 0; i < kh; i++) {
        for (let j = 0; j < kw; j++) {
          const kk = i * kw + j;
          // offset channels of this tap: (og, kk, {h, w}); mask channel (og, kk)
          const oH = ((n * offsetGroup + og) * KK + kk) * 2 * P, oW = oH + P;
          const mOff = mask ? ((n * offsetGroup + og) * KK + kk) * P : -1;
          for (let y = 0; y < oh; y++) {
            for (let z = 0; z < ow; z++) {
              const p = y * ow + z;
              const h = y * strides[0] - geom.begin[0] + i * dilations[0] + off[oH + p];
              const w = z * strides[1] - geom.begin[1] + j * dilations[1] + off[oW + p];
              let v = bilinear(x, xOff, H, W, h, w);
              if (mask) v *= mask.data[mOff + p];
              col[p * K + c * KK + kk] = v;
            }
          }
        }
      }
    }
    for (let g = 0; g < group; g++) {
      gemmNT(Mg, P, Kg, Wt.data, g * Mg * Kg, Kg, col, g * Kg, K, Y.data, (n * M + g * Mg) * P, P);
    }
    if (B) for (let m = 0; m < M; m++) for (let p = 0; p < P; p++) Y.data[(n * M + m) * P + p] += B.data[m];
  }
  return [roundToDtype(Y)];
}

// ---------------------------------------------------------------------------------------------
// QLinearConv

const QRANGE = { uint8: [0, 255], int8: [-128, 127] };

/**
 * QLinearConv = ConvInteger (conv.js) on the zero-point-shifted integers, plus bias, then
 * requantization: y = saturate(rint(acc · x_scale·w_scale/y_scale) + y_zero_point).
 * w_scale / w_zero_point may be per output channel.
 */
function QLinearConv([x, xScale, xZero, w, wScale, wZero, yScale, yZero, B], attrs, ctx) {
  const scratch = { ...ctx, output: (_i, shape, dtype) => makeTensor(dtype, shape) };
  const [acc] = convKernels.ConvInteger([x, w, xZero, wZero], attrs, scratch);
  const outType = yZero ? yZero.dtype : x.dtype;
  const range = QRANGE[outType];
  if (!range) throw new Error(`QLinearConv: output type ${outType} is not supported`);
  const M = acc.shape[1], P = sizeOf(acc.shape.slice(2));
  const xs = Math.fround(xScale.data[0]), ys = Math.fround(yScale.data[0]);
  // The combined scale per output channel, in float32 like the scales themselves.
  const factors = new Float64Array(M);
  for (let m = 0; m < M; m++) factors[m] = Math.fround(Math.fround(xs * wScale.data[wScale.data.length > 1 ? m : 0]) / ys);
  const zp = yZero ? Number(yZero.data[0]) : 0;
  const y = ctx.output(0, acc.shape, outType);
  for (let i = 0; i < acc.data.length; i++) {
    const m = Math.floor(i / P) % M;
    const v = (acc.data[i] + (B ? B.data[m] : 0)) * factors[m] + zp;
    y.data[i] = Math.min(range[1], Math.max(range[0], rint(v)));
  }
  return [y];
}

// ---------------------------------------------------------------------------------------------
// CausalConvWithState

/**
 * Depthwise causal 1-D convolution over [past_state (or zeros), input]; the last k-1 positions of
 * that padded sequence become present_state. activation silu / swish: x·sigmoid(x).
 */
function CausalConvWithState([input, weight, bias, pastState], attrs, ctx) {
  requireFloat('CausalConvWithState', input);
  const activation = attrs.activation;
  if (!['none', 'silu', 'swish'].includes(activation)) throw new Error(`CausalConvWithState: activation=${activation} is not supported`);
  if (input.shape.length !== 3) throw new Error(`CausalConvWithState: input must be rank 3, got [${input.shape}]`);
  const [N, C, L] = input.shape;
  const k = weight.shape[2], S = k - 1, PL = L + S;
  const round = precisionOf(input.dtype, 'CausalConvWithState');
  const out = ctx.output(0, input.shape, input.dtype);
  const present = ctx.output(1, [N, C, S], input.dtype);
  const padded = new Float64Array(PL);
  for (let n = 0; n < N; n++) {
    for (let c = 0; c < C; c++) {
      const row = n * C + c;
      for (let t = 0; t < S; t++) padded[t] = pastState ? pastState.data[row * S + t] : 0;
      for (let t = 0; t < L; t++) padded[S + t] = input.data[row * L + t];
      const b = bias ? bias.data[c] : 0;
      for (let t = 0; t < L; t++) {
        let s = b;
        for (let j = 0; j < k; j++) s += weight.data[c * k + j] * padded[t + j];
        s = round(s); // the convolution's result is in the input dtype before the activation
        if (activation !== 'none') s = s / (1 + Math.exp(-s));
        out.data[row * L + t] = s;
      }
      for (let t = 0; t < S; t++) present.data[row * S + t] = padded[L + t];
    }
  }
  return [roundToDtype(out), present];
}

// ---------------------------------------------------------------------------------------------
// LinearAttention

/**
 * Recurrent linear attention over a state S (d_k × d_v) per batch and KV head. Per time step:
 * gated rules decay S by exp(decay); delta rules write beta·(v - Sᵀk) instead of v; then
 * S += k ⊗ v and the output is scale · qᵀS (query heads share KV heads in groups, GQA).
 */
function LinearAttention([query, key, value, pastState, decay, beta], attrs, ctx) {
  requireFloat('LinearAttention', query);
  const rule = attrs.update_rule;
  if (!['linear', 'gated', 'delta', 'gated_delta'].includes(rule)) throw new Error(`LinearAttention: update_rule=${rule} is not supported`);
  const gated = rule === 'gated' || rule === 'gated_delta';
  const delta = rule === 'delta' || rule === 'gated_delta';
  if (gated !== Boolean(decay)) throw new Error(`LinearAttention: update_rule '${rule}' ${gated ? 'requires' : 'forbids'} the decay input`);
  if (delta !== Boolean(beta)) throw new Error(`LinearAttention: update_rule '${rule}' ${delta ? 'requires' : 'forbids'} the beta input`);
  const Hq = attrs.q_num_heads, Hk = attrs.kv_num_heads;
  if (!(Hq > 0 && Hk > 0 && Hq % Hk === 0)) throw new Error(`LinearAttention: q_num_heads ${Hq} must be a positive multiple of kv_num_heads ${Hk}`);
  const [Bn, T] = query.shape;
  const dk = query.shape[2] / Hq, dv = value.shape[2] / Hk, group = Hq / Hk;
  const scale = attrs.scale ? attrs.scale : 1 / Math.sqrt(dk);
  const decayPerKey = decay ? decay.shape[2] === Hk * dk : false;
  if (decay && !decayPerKey && decay.shape[2] !== Hk) throw new Error(`LinearAttention: decay [${decay.shape}] must end in kv_num_heads or kv_num_heads*d_k`);
  const betaWidth = beta ? beta.shape[2] : 0;
  const stateDtype = pastState ? pastState.dtype : query.dtype;
  const out = ctx.output(0, [Bn, T, Hq * dv], query.dtype);
  const present = ctx.output(1, [Bn, Hk, dk, dv], stateDtype);
  const q = query.data, kd = key.data, vd = value.data;
  const S = new Float64Array(dk * dv), v = new Float64Array(dv);
  for (let b = 0; b < Bn; b++) {
    for (let h = 0; h < Hk; h++) {
      const sOff = (b * Hk + h) * dk * dv;
      if (pastState) for (let i = 0; i < dk * dv; i++) S[i] = pastState.data[sOff + i];
      else S.fill(0);
      for (let t = 0; t < T; t++) {
        const bt = b * T + t;
        const kOff = (bt * Hk + h) * dk, vOff = (bt * Hk + h) * dv;
        if (gated) {
          for (let i = 0; i < dk; i++) {
            const g = Math.exp(decayPerKey ? decay.data[kOff + i] : decay.data[bt * Hk + h]);
            for (let j = 0; j < dv; j++) S[i * dv + j] *= g;
          }
        }
        for (let j = 0; j < dv; j++) v[j] = vd[vOff + j];
        if (delta) {
          const bv = beta.data[bt * betaWidth + (betaWidth === 1 ? 0 : h)];
          for (let j = 0; j < dv; j++) {
            let r = 0;
            for (let i = 0; i < dk; i++) r += S[i * dv + j] * kd[kOff + i];
            v[j] = bv * (v[j] - r);
          }
        }
        for (let i = 0; i < dk; i++) {
          const ki = kd[kOff + i];
          for (let j = 0; j < dv; j++) S[i * dv + j] += ki * v[j];
        }
        for (let hq = h * group; hq < (h + 1) * group; hq++) {
          const qOff = (bt * Hq + hq) * dk, oOff = (bt * Hq + hq) * dv;
          for (let j = 0; j < dv; j++) {
            let s = 0;
            for (let i = 0; i < dk; i++) s += q[qOff + i] * S[i * dv + j];
            out.data[oOff + j] = scale * s;
          }
        }
      }
      present.data.set(S, sOff);
    }
  }
  return [roundToDtype(out), roundToDtype(present)];
}

export const kernels = { BitCast, TensorScatter, DeformConv, QLinearConv, CausalConvWithState, LinearAttention };
