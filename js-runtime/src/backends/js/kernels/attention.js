// Kernels: attention (Attention, RotaryEmbedding, SwiGLU).
import { dtypeFromOnnx, makeTensor, precisionOf, requireFloat, rounderFor, sizeOf } from './util.js';

/**
 * Q / K / V as a 4-D [batch, heads, seq, headSize] view: returns { B, H, S, D, at(b, h, s) } where
 * `at` gives the flat offset of element d=0. 3-D inputs are [batch, seq, heads * headSize].
 */
function headView(op, t, numHeads) {
  if (t.shape.length === 4) {
    const [B, H, S, D] = t.shape;
    return { B, H, S, D, at: (b, h, s) => ((b * H + h) * S + s) * D };
  }
  if (t.shape.length === 3) {
    const [B, S, hidden] = t.shape;
    if (!numHeads || hidden % numHeads) throw new Error(`${op}: hidden size ${hidden} is not divisible by num heads ${numHeads}`);
    const H = numHeads, D = hidden / numHeads;
    return { B, H, S, D, at: (b, h, s) => (b * S + s) * hidden + h * D };
  }
  throw new Error(`${op}: inputs must be 3-D or 4-D, got [${t.shape}]`);
}

/** Output `index` when the node has it, else a scratch tensor (ctx.numOutputs counts omitted ones too). */
function outputOrScratch(ctx, index, shape, dtype) {
  return index < (ctx.numOutputs ?? Infinity) ? ctx.output(index, shape, dtype) : makeTensor(dtype, shape);
}

/** Concatenates an optional 4-D past cache and the new K or V (any layout) into the 4-D present tensor `out`. */
function presentCache(past, cur, view, out) {
  const P = past ? past.shape[2] : 0;
  const { B, H, S, D } = view;
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const dst = (b * H + h) * (P + S) * D;
      if (past) out.data.set(past.data.subarray((b * H + h) * P * D, (b * H + h + 1) * P * D), dst);
      for (let s = 0; s < S; s++) {
        const src = view.at(b, h, s);
        for (let d = 0; d < D; d++) out.data[dst + (P + s) * D + d] = cur.data[src + d];
      }
    }
  }
  return out;
}

/**
 * Additive attention bias for one query row: fills `row` (length kvLen) with 0 / -inf / mask values
 * combining attn_mask (bool or additive, right-aligned broadcast to [B, H, q, kv], padded with -inf
 * past its last dimension), the causal mask, the sliding window (opset 25) and nonpad_kv_seqlen.
 * Causal and window masks are aligned bottom-right: query i sits at absolute position i + offset.
 */
function makeBias(mask, attrs, { B, Hq, Sq, kvLen, pastLen, nonpad }) {
  let maskAt = null;
  let maskLen = 0;
  if (mask) {
    const r = mask.shape.length;
    if (r < 1 || r > 4) throw new Error(`Attention: attn_mask must have rank 1 to 4, got [${mask.shape}]`);
    const shape4 = [...new Array(4 - r).fill(1), ...mask.shape];
    const [mb, mh, mq] = shape4;
    maskLen = shape4[3];
    maskAt = (b, h, i) => (((mb === 1 ? 0 : b) * mh + (mh === 1 ? 0 : h)) * mq + (mq === 1 ? 0 : i)) * maskLen;
  }
  const isBool = mask && mask.dtype === 'bool';
  const causal = !!attrs.is_causal;
  const left = attrs.left_window_size ?? -1; // opset 25+
  const right = attrs.right_window_size ?? -1;
  const offsetOf = (b) => (pastLen ? pastLen : nonpad ? Number(nonpad.data[b]) - Sq : 0);

  return (row, b, h, i) => {
    const base = maskAt ? maskAt(b, h, i) : 0;
    const pos = i + offsetOf(b);
    const valid = nonpad && !pastLen ? Number(nonpad.data[b]) : kvLen;
    for (let j = 0; j < kvLen; j++) {
      let v = 0;
      if (mask) {
        if (j >= maskLen) v = -Infinity;
        else if (isBool) v = mask.data[base + j] ? 0 : -Infinity;
        else v = mask.data[base + j];
      }
      if (causal && j > pos) v = -Infinity;
      if (left >= 0 && pos - j > left) v = -Infinity;
      if (right >= 0 && j - pos > right) v = -Infinity;
      if (j >= valid) v = -Infinity;
      row[j] = v;
    }
  };
}

/** A 4-D [B, H, S, D] Float64Array copy of Q or K multiplied by `factor`, rounded by `prec`. */
function scaledHeads(t, view, factor, prec) {
  const { B, H, S, D } = view;
  const out = new Float64Array(B * H * S * D);
  let n = 0;
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      for (let s = 0; s < S; s++) {
        const o = view.at(b, h, s);
        for (let d = 0; d < D; d++) out[n++] = prec(t.data[o + d] * factor);
      }
    }
  }
  return out;
}

/**
 * Attention (opset 23+): Y = softmax(softcap(Q K^T * scale) + bias) V, per head, with grouped-query
 * heads (each KV head serves Hq / Hkv consecutive query heads). Outputs Y, present_key,
 * present_value and the qk_matmul_output selected by qk_matmul_output_mode.
 */
function attention(inputs, attrs, ctx) {
  const [q, k, v, mask, pastKey, pastValue, nonpad] = inputs;
  for (const t of [q, k, v]) requireFloat('Attention', t);
  if (q.shape.length !== k.shape.length || q.shape.length !== v.shape.length) {
    throw new Error('Attention: Q, K and V must have the same rank');
  }
  if (!pastKey !== !pastValue) throw new Error('Attention: past_key and past_value must be given together');
  const qv = headView('Attention', q, attrs.q_num_heads);
  const kv = headView('Attention', k, attrs.kv_num_heads);
  const vv = headView('Attention', v, attrs.kv_num_heads);
  const { B, H: Hq, S: Sq, D } = qv;
  const Hkv = kv.H, Dv = vv.D;
  if (Hq % Hkv) throw new Error(`Attention: q heads ${Hq} are not a multiple of kv heads ${Hkv}`);
  const reps = Hq / Hkv;

  const pastLen = pastKey ? pastKey.shape[2] : 0;
  const L = pastLen + kv.S; // total kv length
  const presentK = presentCache(pastKey, k, kv, outputOrScratch(ctx, 1, [B, Hkv, L, kv.D], k.dtype));
  const presentV = presentCache(pastValue, v, vv, outputOrScratch(ctx, 2, [B, Hkv, L, Dv], v.dtype));
  const scale = attrs.scale ?? 1 / Math.sqrt(D);
  const softcap = attrs.softcap;
  const mode = attrs.qk_matmul_output_mode;
  const round = rounderFor(q.dtype);

  const bias = makeBias(mask, attrs, { B, Hq, Sq, kvLen: L, pastLen, nonpad });
  const yShape = q.shape.length === 3 ? [B, Sq, Hq * Dv] : [B, Hq, Sq, Dv];
  const y = ctx.output(0, yShape, q.dtype);
  const qkOut = (ctx.numOutputs ?? 4) > 3 ? ctx.output(3, [B, Hq, Sq, L], q.dtype) : null;
  const qk = qkOut ? qkOut.data : null;
  const yAt = q.shape.length === 3
    ? (b, h, s) => (b * Sq + s) * Hq * Dv + h * Dv
    : (b, h, s) => ((b * Hq + h) * Sq + s) * Dv;

  // Like the reference, sqrt(scale) is applied to Q and to K, in the input precision; QK^T and the
  // softcap steps are rounded to that precision too (this matters for float16 inputs).
  const prec = precisionOf(q.dtype, 'Attention');
  const rootScale = prec(Math.sqrt(scale));
  const sp = attrs.softmax_precision ? precisionOf(dtypeFromOnnx(attrs.softmax_precision, 'Attention'), 'Attention') : prec;
  const qs = scaledHeads(q, qv, rootScale, prec);
  const ks = scaledHeads(presentK, { ...kv, S: L, at: (b, h, s) => ((b * Hkv + h) * L + s) * D }, rootScale, prec);
  const biasRow = new Float64Array(L);
  const scores = new Float64Array(L);
  const V = presentV.data;
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < Hq; h++) {
      const kvBase = (b * Hkv + Math.floor(h / reps)) * L;
      for (let i = 0; i < Sq; i++) {
        const qo = ((b * Hq + h) * Sq + i) * D;
        const qkRow = ((b * Hq + h) * Sq + i) * L;
        bias(biasRow, b, h, i);
        let biasMax = -Infinity;
        for (let j = 0; j < L; j++) {
          const ko = (kvBase + j) * D;
          let s = 0;
          for (let d = 0; d < D; d++) s += qs[qo + d] * ks[ko + d];
          s = prec(s);
          if (softcap > 0) s = prec(softcap * prec(Math.tanh(prec(s / softcap))));
          if (qk && mode <= 1) qk[qkRow + j] = s;
          s = prec(s + biasRow[j]);
          if (qk && mode === 2) qk[qkRow + j] = s;
          s = sp(s);
          scores[j] = s;
          if (biasRow[j] > biasMax) biasMax = biasRow[j];
        }
        // Softmax in softmax_precision (default: the input type); a row whose bias is entirely -inf
        // has no attendable key and gets all-zero weights.
        const masked = biasMax === -Infinity;
        let max = -Infinity;
        for (let j = 0; j < L; j++) if (scores[j] > max) max = scores[j];
        if (max === -Infinity) max = 0;
        let sum = 0;
        for (let j = 0; j < L; j++) {
          scores[j] = sp(Math.exp(sp(scores[j] - max)));
          sum += scores[j];
        }
        sum = sp(sum);
        if (sum === 0) sum = 1;
        for (let j = 0; j < L; j++) {
          const p = masked ? 0 : prec(sp(scores[j] / sum)); // cast back to the input type
          scores[j] = p;
          if (qk && mode === 3) qk[qkRow + j] = p;
        }
        const yo = yAt(b, h, i);
        for (let d = 0; d < Dv; d++) {
          let acc = 0;
          for (let j = 0; j < L; j++) acc += scores[j] * V[(kvBase + j) * Dv + d];
          y.data[yo + d] = acc;
        }
      }
    }
  }
  if (round) {
    for (const t of [y, qkOut]) if (t) for (let i = 0; i < t.data.length; i++) t.data[i] = round(t.data[i]);
  }
  return [y, presentK, presentV, qkOut];
}

/**
 * RotaryEmbedding (opset 23): rotates the first rotary_embedding_dim features of each head by the
 * cached angles. input is [B, H, S, D] or [B, S, H*D] (with num_heads); caches are [maxPos, rd/2]
 * indexed by position_ids [B, S], or [B, S, rd/2] when position_ids is omitted.
 */
function rotaryEmbedding([x, cosCache, sinCache, positionIds], attrs, ctx) {
  requireFloat('RotaryEmbedding', x);
  const view = headView('RotaryEmbedding', x, attrs.num_heads);
  const { B, H, S, D } = view;
  const rd = attrs.rotary_embedding_dim || D;
  const half = rd / 2;
  if (cosCache.shape[cosCache.shape.length - 1] !== half || sinCache.shape[sinCache.shape.length - 1] !== half) {
    throw new Error(`RotaryEmbedding: cache last dimension must be rotary_embedding_dim / 2 = ${half}`);
  }
  const interleaved = !!attrs.interleaved;
  const out = ctx.output(0, x.shape, x.dtype);
  out.data.set(x.data);
  const round = rounderFor(x.dtype);
  for (let b = 0; b < B; b++) {
    for (let s = 0; s < S; s++) {
      const row = positionIds ? Number(positionIds.data[b * S + s]) : b * S + s;
      const c = row * half;
      for (let h = 0; h < H; h++) {
        const o = view.at(b, h, s);
        for (let m = 0; m < half; m++) {
          const i1 = o + (interleaved ? 2 * m : m);
          const i2 = o + (interleaved ? 2 * m + 1 : m + half);
          const x1 = x.data[i1], x2 = x.data[i2];
          const cos = cosCache.data[c + m], sin = sinCache.data[c + m];
          const re = cos * x1 - sin * x2;
          const im = sin * x1 + cos * x2;
          out.data[i1] = round ? round(re) : re;
          out.data[i2] = round ? round(im) : im;
        }
      }
    }
  }
  return [out];
}

/** SwiGLU (opset 28): a * sigmoid(alpha * a) * b, with a and b of identical shape. */
function swiglu([a, b], attrs, ctx) {
  requireFloat('SwiGLU', a);
  if (a.shape.length !== b.shape.length || a.shape.some((d, i) => d !== b.shape[i])) {
    throw new Error(`SwiGLU: inputs must have identical shapes, got [${a.shape}] and [${b.shape}]`);
  }
  const alpha = attrs.alpha;
  const out = ctx.output(0, a.shape, a.dtype);
  const round = rounderFor(a.dtype);
  for (let i = 0; i < sizeOf(a.shape); i++) {
    const x = a.data[i];
    const r = (x / (1 + Math.exp(-alpha * x))) * b.data[i];
    out.data[i] = round ? round(r) : r;
  }
  return [out];
}

export const kernels = {
  Attention: attention,
  RotaryEmbedding: rotaryEmbedding,
  SwiGLU: swiglu,
};
