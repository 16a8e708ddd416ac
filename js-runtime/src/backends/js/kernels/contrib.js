// Kernels: onnxruntime's com.microsoft contrib ops that transformer exports contain (Optimum,
// onnxruntime.transformers.optimizer, the matmul_nbits quantizer). These are the reference kernels:
// the build's lower_contrib_ops pass rewrites the covered forms into standard ops before codegen, so
// these run when it is off or for the forms it leaves (past key/values, 1-D mask lengths, 4-bit MatMul).
// Semantics follow onnxruntime's CPU kernels (docs/ContribOperators.md of onnxruntime); the tests
// compare each one with onnxruntime (tests/test_contrib_ops.py).
import { FLOAT_ACTIVATIONS } from './activation.js';
import { kernels as attentionKernels } from './attention.js';
import { makeTensor, requireFloat, rounderFor, sizeOf } from './util.js';

const gelu = FLOAT_ACTIVATIONS.Gelu({ approximate: 'none' });
const geluTanh = FLOAT_ACTIVATIONS.Gelu({ approximate: 'tanh' });

/** out[i] = fn(x[i] + bias[i % bias.length]) (bias along the last axis, or none). */
function biasedUnary(op, fn) {
  return ([x, bias], attrs, ctx) => {
    requireFloat(op, x);
    const out = ctx.output(0, x.shape, x.dtype);
    const round = rounderFor(x.dtype);
    const n = x.data.length, m = bias ? bias.data.length : 0;
    for (let i = 0; i < n; i++) {
      const v = fn(m ? x.data[i] + bias.data[i % m] : x.data[i], attrs);
      out.data[i] = round ? round(v) : v;
    }
    return [out];
  };
}

/** Element i of `t` broadcast (right-aligned) to `n` elements: `t` repeats every t.length elements. */
const cyc = (t, i) => t.data[i % t.data.length];

/**
 * Shared by the skip norms: sum = input + skip (+ bias), then normalise each row of the hidden size
 * (LayerNorm, or RMS when `simplified`). Outputs: output, mean, inv_std_var, input_skip_bias_sum.
 */
function skipNorm(op, simplified) {
  return ([x, skip, gamma, beta, bias], attrs, ctx) => {
    if (simplified) { bias = beta; beta = null; }
    requireFloat(op, x);
    const eps = attrs.epsilon;
    const H = x.shape[x.shape.length - 1];
    const rows = x.data.length / H;
    const y = ctx.output(0, x.shape, x.dtype);
    const statShape = [...x.shape.slice(0, -1), 1];
    const wants = (k) => k < (ctx.numOutputs ?? 0);
    const mean = wants(1) ? ctx.output(1, statShape, 'float32') : null;
    const inv = wants(2) ? ctx.output(2, statShape, 'float32') : null;
    const sum = wants(3) ? ctx.output(3, x.shape, x.dtype) : makeTensor('float32', x.shape);
    const round = rounderFor(x.dtype);
    for (let r = 0; r < rows; r++) {
      const o = r * H;
      let s1 = 0, s2 = 0;
      for (let c = 0; c < H; c++) {
        const v = x.data[o + c] + cyc(skip, o + c) + (bias ? bias.data[c] : 0);
        sum.data[o + c] = v;
        s1 += v; s2 += v * v;
      }
      const mu = simplified ? 0 : s1 / H;
      const variance = simplified ? s2 / H : Math.max(0, s2 / H - mu * mu);
      const is = 1 / Math.sqrt(variance + eps);
      if (mean) mean.data[r] = mu;
      if (inv) inv.data[r] = is;
      for (let c = 0; c < H; c++) {
        const v = (sum.data[o + c] - mu) * is * gamma.data[c] + (beta ? beta.data[c] : 0);
        y.data[o + c] = round ? round(v) : v;
      }
    }
    return [y, mean, inv, wants(3) ? sum : null];
  };
}

/** SimplifiedLayerNormalization (RMSNorm over the axes from `axis`): outputs Y and inv_std_var. */
function simplifiedLayerNorm([x, scale], attrs, ctx) {
  requireFloat('SimplifiedLayerNormalization', x);
  const rank = x.shape.length;
  const axis = attrs.axis < 0 ? attrs.axis + rank : attrs.axis;
  const cols = sizeOf(x.shape.slice(axis)), rows = x.data.length / cols;
  const eps = attrs.epsilon;
  const y = ctx.output(0, x.shape, x.dtype);
  const inv = 1 < (ctx.numOutputs ?? 0) ? ctx.output(1, x.shape.map((d, i) => (i < axis ? d : 1)), 'float32') : null;
  const round = rounderFor(x.dtype);
  for (let r = 0; r < rows; r++) {
    let q = 0;
    for (let c = 0; c < cols; c++) q += x.data[r * cols + c] ** 2;
    const is = 1 / Math.sqrt(q / cols + eps);
    if (inv) inv.data[r] = is;
    for (let c = 0; c < cols; c++) {
      const v = x.data[r * cols + c] * is * scale.data[c % scale.data.length];
      y.data[r * cols + c] = round ? round(v) : v;
    }
  }
  return [y, inv];
}

/** BiasAdd: X + bias + skip (bias along the channel axis C of [N, S, C]). */
function biasAdd([x, bias, skip], attrs, ctx) {
  requireFloat('BiasAdd', x);
  const y = ctx.output(0, x.shape, x.dtype);
  const round = rounderFor(x.dtype);
  for (let i = 0; i < x.data.length; i++) {
    const v = x.data[i] + cyc(bias, i) + skip.data[i];
    y.data[i] = round ? round(v) : v;
  }
  return [y];
}

// ---------------------------------------------------------------------------------------------
// attention

/**
 * softmax(Q K^T * scale + bias) V for one batch entry and head. q(i, d), k(j, d), v(j, d) read the
 * operands; bias(i, j) is the additive mask (may return -Infinity); write(i, d, value) stores.
 */
function attendHead(Sq, L, Dk, Dv, scale, q, k, v, bias, write) {
  const scores = new Float64Array(L);
  for (let i = 0; i < Sq; i++) {
    let max = -Infinity;
    for (let j = 0; j < L; j++) {
      let acc = 0;
      for (let d = 0; d < Dk; d++) acc += q(i, d) * k(j, d);
      const s = acc * scale + bias(i, j);
      scores[j] = s;
      if (s > max) max = s;
    }
    let sum = 0;
    for (let j = 0; j < L; j++) {
      const e = max === -Infinity ? 0 : Math.exp(scores[j] - max);
      scores[j] = e; sum += e;
    }
    for (let d = 0; d < Dv; d++) {
      let acc = 0;
      for (let j = 0; j < L; j++) acc += scores[j] * v(j, d);
      write(i, d, sum ? acc / sum : 0);
    }
  }
}

/**
 * The additive key mask of com.microsoft.Attention's mask_index for batch entry b, query i, key j:
 * absent; [B] end positions (keys >= end masked); [2B] end then start positions; [B, T] 0/1 mask;
 * [B, S, T] 0/1 mask per query. Masked keys get mask_filter_value (onnxruntime adds it, no -inf).
 */
function attentionMask(mask, B, S, T, filter) {
  if (!mask) return () => 0;
  const m = mask.data, sh = mask.shape;
  const num = (x) => Number(x);
  if (sh.length === 1 && sh[0] === B) return (b, i, j) => (j >= num(m[b]) ? filter : 0);
  if (sh.length === 1 && sh[0] === 2 * B) return (b, i, j) => (j >= num(m[b]) || j < num(m[B + b]) ? filter : 0);
  if (sh.length === 2) return (b, i, j) => (num(m[b * T + j]) === 0 ? filter : 0);
  if (sh.length === 3) return (b, i, j) => (num(m[(b * S + i) * T + j]) === 0 ? filter : 0);
  throw new Error(`Attention: mask_index of shape [${sh}] is not supported`);
}

/** attention_bias [B|1, N|1, S, T] as a function of (b, h, i, j); zero when absent. */
function biasOf(t, B, N, S, T) {
  if (!t) return () => 0;
  const [b0, h0] = t.shape;
  if (t.shape.length !== 4 || t.shape[2] !== S || t.shape[3] !== T) {
    throw new Error(`attention_bias must be [${B} or 1, ${N} or 1, ${S}, ${T}], got [${t.shape}]`);
  }
  return (b, h, i, j) => t.data[((((b0 === 1 ? 0 : b) * h0 + (h0 === 1 ? 0 : h)) * S + i) * T) + j];
}

/**
 * com.microsoft.Attention: packed projection input [B, S, D_in] @ weights [D_in, Dq + Dk + Dv] + bias,
 * num_heads heads, optional past [2, B, N, P, Hk] -> present [2, B, N, P + S, Hk], unidirectional.
 */
function msAttention([x, w, bias, mask, past, attnBias], attrs, ctx) {
  requireFloat('Attention', x);
  const [B, S, Din] = x.shape;
  const N = attrs.num_heads;
  const total = w.shape[1];
  const [Dq, Dk, Dv] = attrs.qkv_hidden_sizes?.length ? attrs.qkv_hidden_sizes : [total / 3, total / 3, total / 3];
  if (Dq !== Dk || Dq + Dk + Dv !== total || Dq % N || Dv % N) throw new Error(`Attention: bad qkv_hidden_sizes ${[Dq, Dk, Dv]}`);
  const Hk = Dq / N, Hv = Dv / N;
  // projection: proj[b, s, :] = x[b, s, :] @ w + bias
  const proj = new Float64Array(B * S * total);
  for (let r = 0; r < B * S; r++) {
    for (let c = 0; c < total; c++) {
      let acc = bias ? bias.data[c] : 0;
      for (let kk = 0; kk < Din; kk++) acc += x.data[r * Din + kk] * w.data[kk * total + c];
      proj[r * total + c] = acc;
    }
  }
  const P = past ? past.shape[3] : 0, T = P + S;
  const present = 1 < (ctx.numOutputs ?? 0) ? ctx.output(1, [2, B, N, T, Hk], x.dtype) : null;
  const keyAt = (b, h, j, d) => (j < P ? past.data[(((0 * B + b) * N + h) * P + j) * Hk + d]
    : proj[(b * S + j - P) * total + Dq + h * Hk + d]);
  const valAt = (b, h, j, d) => (j < P ? past.data[(((1 * B + b) * N + h) * P + j) * Hv + d]
    : proj[(b * S + j - P) * total + Dq + Dk + h * Hv + d]);
  if (present) {
    for (let b = 0; b < B; b++) for (let h = 0; h < N; h++) for (let j = 0; j < T; j++) for (let d = 0; d < Hk; d++) {
      present.data[(((0 * B + b) * N + h) * T + j) * Hk + d] = keyAt(b, h, j, d);
      present.data[(((1 * B + b) * N + h) * T + j) * Hk + d] = valAt(b, h, j, d);
    }
  }
  const filter = attrs.mask_filter_value;
  const maskAt = attentionMask(mask, B, S, T, filter);
  const biasAt = biasOf(attnBias, B, N, S, T);
  const causal = !!attrs.unidirectional;
  const scale = attrs.scale || 1 / Math.sqrt(Hk);
  const y = ctx.output(0, [B, S, Dv], x.dtype);
  const round = rounderFor(x.dtype);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < N; h++) {
      attendHead(S, T, Hk, Hv, scale,
        (i, d) => proj[(b * S + i) * total + h * Hk + d],
        (j, d) => keyAt(b, h, j, d), (j, d) => valAt(b, h, j, d),
        (i, j) => (causal && j > i + P ? filter : 0) + maskAt(b, i, j) + biasAt(b, h, i, j),
        (i, d, v) => { y.data[(b * S + i) * Dv + h * Hv + d] = round ? round(v) : v; });
    }
  }
  return [y, present];
}

/**
 * com.microsoft.MultiHeadAttention with separate query [B, S, D], key/value [B, L, D] (or already split
 * into heads, [B, N, L, H]), optional bias [D + D + Dv], key_padding_mask [B] (lengths) or [B, L],
 * attention_bias, past_key/past_value [B, N, P, H] -> present_key/present_value [B, N, P + L, H].
 */
function msMultiHeadAttention([q, k, v, bias, kpm, attnBias, pastK, pastV], attrs, ctx) {
  requireFloat('MultiHeadAttention', q);
  if (!k || !v || q.shape.length !== 3) throw new Error('MultiHeadAttention: packed QKV / packed KV forms are not supported');
  const [B, S, D] = q.shape;
  const N = attrs.num_heads, Hq = D / N;
  const split = k.shape.length === 4; // [B, N, L, H]: no bias applies
  const L = split ? k.shape[2] : k.shape[1];
  const Dv = split ? v.shape[1] * v.shape[3] : v.shape[2], Hv = Dv / N;
  const kAt = split ? (b, h, j, d) => k.data[((b * N + h) * L + j) * Hq + d]
    : (b, h, j, d) => k.data[(b * L + j) * D + h * Hq + d] + (bias ? bias.data[D + h * Hq + d] : 0);
  const vAt = split ? (b, h, j, d) => v.data[((b * N + h) * L + j) * Hv + d]
    : (b, h, j, d) => v.data[(b * L + j) * Dv + h * Hv + d] + (bias ? bias.data[2 * D + h * Hv + d] : 0);
  const P = pastK ? pastK.shape[2] : 0, T = P + L;
  const keyAt = (b, h, j, d) => (j < P ? pastK.data[((b * N + h) * P + j) * Hq + d] : kAt(b, h, j - P, d));
  const valAt = (b, h, j, d) => (j < P ? pastV.data[((b * N + h) * P + j) * Hv + d] : vAt(b, h, j - P, d));
  const wants = (i) => i < (ctx.numOutputs ?? 0);
  const presentK = wants(1) ? ctx.output(1, [B, N, T, Hq], q.dtype) : null;
  const presentV = wants(2) ? ctx.output(2, [B, N, T, Hv], q.dtype) : null;
  for (let b = 0; b < B; b++) for (let h = 0; h < N; h++) for (let j = 0; j < T; j++) {
    for (let d = 0; d < Hq && presentK; d++) presentK.data[((b * N + h) * T + j) * Hq + d] = keyAt(b, h, j, d);
    for (let d = 0; d < Hv && presentV; d++) presentV.data[((b * N + h) * T + j) * Hv + d] = valAt(b, h, j, d);
  }
  const filter = attrs.mask_filter_value;
  const maskAt = kpm ? attentionMask(kpm, B, S, T, filter) : () => 0;
  const biasAt = biasOf(attnBias, B, N, S, T);
  const causal = !!attrs.unidirectional;
  const scale = attrs.scale || 1 / Math.sqrt(Hq);
  const y = ctx.output(0, [B, S, Dv], q.dtype);
  const round = rounderFor(q.dtype);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < N; h++) {
      attendHead(S, T, Hq, Hv, scale,
        (i, d) => q.data[(b * S + i) * D + h * Hq + d] + (bias && !split ? bias.data[h * Hq + d] : 0),
        (j, d) => keyAt(b, h, j, d), (j, d) => valAt(b, h, j, d),
        (i, j) => (causal && j > i + (T - S) ? filter : 0) + maskAt(b, i, j) + biasAt(b, h, i, j),
        (i, d, val) => { y.data[(b * S + i) * Dv + h * Hv + d] = round ? round(val) : val; });
    }
  }
  return [y, presentK, presentV];
}

/**
 * EmbedLayerNormalization: LayerNorm(word[ids] + position[pos] + segment[seg]); mask_index = number of
 * ones per row of mask (int32, [B]); embedding_sum = the sum before normalisation.
 */
function embedLayerNorm([ids, segIds, word, pos, seg, gamma, beta, mask, posIds], attrs, ctx) {
  const [B, S] = ids.shape;
  const H = word.shape[1];
  const eps = attrs.epsilon;
  const y = ctx.output(0, [B, S, H], word.dtype);
  const wants = (i) => i < (ctx.numOutputs ?? 0);
  const maskIndex = wants(1) ? ctx.output(1, [B], 'int32') : null;
  const embSum = wants(2) ? ctx.output(2, [B, S, H], word.dtype) : null;
  const row = new Float64Array(H);
  const idx = (t, i, limit, what) => {
    const n = Number(t.data[i]);
    if (!(n >= 0 && n < limit)) throw new Error(`EmbedLayerNormalization: ${what} ${n} is out of range [0, ${limit})`);
    return n;
  };
  for (let b = 0; b < B; b++) {
    for (let s = 0; s < S; s++) {
      const wi = idx(ids, b * S + s, word.shape[0], 'input id');
      const pi = posIds ? idx(posIds, posIds.data.length === S ? s : b * S + s, pos.shape[0], 'position id') : s;
      const si = seg && segIds ? idx(segIds, b * S + s, seg.shape[0], 'segment id') : -1;
      let s1 = 0;
      for (let c = 0; c < H; c++) {
        const v = word.data[wi * H + c] + pos.data[pi * H + c] + (si >= 0 ? seg.data[si * H + c] : 0);
        row[c] = v; s1 += v;
      }
      const mu = s1 / H;
      let s2 = 0;
      for (let c = 0; c < H; c++) s2 += (row[c] - mu) ** 2;
      const is = 1 / Math.sqrt(s2 / H + eps);
      const o = (b * S + s) * H;
      for (let c = 0; c < H; c++) {
        y.data[o + c] = (row[c] - mu) * is * gamma.data[c] + (beta ? beta.data[c] : 0);
        if (embSum) embSum.data[o + c] = row[c];
      }
    }
    if (maskIndex) {
      let n = 0;
      for (let s = 0; s < S; s++) n += mask ? (Number(mask.data[b * S + s]) !== 0 ? 1 : 0) : 1;
      maskIndex.data[b] = n;
    }
  }
  return [y, maskIndex, embSum];
}

/**
 * com.microsoft.RotaryEmbedding: input [B, S, N*H] or [B, N, S, H], position_ids [B, S] (or [1]: an
 * offset, positions offset + s), cos_cache/sin_cache [maxPos, rd / 2]. Same rotation as the ONNX op
 * (attention.js); only the input order and the offset form differ.
 */
function msRotaryEmbedding([x, positionIds, cosCache, sinCache], attrs, ctx) {
  const S = x.shape.length === 4 ? x.shape[2] : x.shape[1];
  const B = x.shape[0];
  let ids = positionIds;
  if (positionIds && positionIds.data.length === 1) {
    const offset = Number(positionIds.data[0]);
    ids = makeTensor('int32', [B, S]);
    for (let i = 0; i < B * S; i++) ids.data[i] = offset + (i % S);
  }
  const numHeads = attrs.num_heads || (x.shape.length === 3 ? x.shape[2] / (2 * cosCache.shape[1]) : 0);
  return attentionKernels.RotaryEmbedding([x, cosCache, sinCache, ids],
    { interleaved: attrs.interleaved, num_heads: numHeads, rotary_embedding_dim: attrs.rotary_embedding_dim }, ctx);
}

// ---------------------------------------------------------------------------------------------
// quantized weights

/** Unsigned `bits`-bit element `i` of packed bytes (little end first within a byte). */
function unpack(bytes, base, i, bits) {
  const perByte = 8 / bits;
  const byte = bytes[base + Math.floor(i / perByte)];
  return (byte >> ((i % perByte) * bits)) & ((1 << bits) - 1);
}

/**
 * MatMulNBits: Y = A @ dequant(B)^T + bias, B [N, blocks, blob] of `bits`-bit values (blocks of
 * block_size along K), scales [N * blocks], zero_points packed like B ([N, ceil(blocks * bits / 8)])
 * or of A's float type ([N * blocks], used as is); value = (code - zero_point) * scale, default zero
 * point 2^(bits - 1). g_idx is not supported.
 */
function matMulNBits([a, b, scales, zeroPoints, gIdx, bias], attrs, ctx) {
  requireFloat('MatMulNBits', a);
  if (gIdx) throw new Error('MatMulNBits: g_idx (act-order) is not supported');
  const K = attrs.K, N = attrs.N, bits = attrs.bits, block = attrs.block_size;
  if (![2, 4, 8].includes(bits)) throw new Error(`MatMulNBits: bits=${bits} is not supported`);
  if (a.shape[a.shape.length - 1] !== K) throw new Error(`MatMulNBits: A's last dimension ${a.shape.at(-1)} is not K=${K}`);
  const blocks = Math.ceil(K / block), blob = (block * bits) / 8;
  const zpPacked = zeroPoints && !(zeroPoints.dtype.startsWith('float'));
  const zpStride = zpPacked ? Math.ceil((blocks * bits) / 8) : 0;
  const w = new Float32Array(N * K); // dequantised once per run, [N, K]
  for (let n = 0; n < N; n++) {
    for (let kb = 0; kb < blocks; kb++) {
      const s = scales.data[n * blocks + kb];
      const zp = !zeroPoints ? 2 ** (bits - 1)
        : zpPacked ? unpack(zeroPoints.data, n * zpStride, kb, bits) : zeroPoints.data[n * blocks + kb];
      for (let i = 0; i < block && kb * block + i < K; i++) {
        const q = unpack(b.data, (n * blocks + kb) * blob, i, bits);
        w[n * K + kb * block + i] = (q - zp) * s;
      }
    }
  }
  const M = a.data.length / K;
  const y = ctx.output(0, [...a.shape.slice(0, -1), N], a.dtype);
  const round = rounderFor(a.dtype);
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      let acc = bias ? bias.data[n] : 0;
      for (let k = 0; k < K; k++) acc += a.data[m * K + k] * w[n * K + k];
      y.data[m * N + n] = round ? round(acc) : acc;
    }
  }
  return [y];
}

/** com.microsoft kernels by op type (looked up for domain "com.microsoft"). */
export const msKernels = {
  SkipLayerNormalization: skipNorm('SkipLayerNormalization', false),
  SkipSimplifiedLayerNormalization: skipNorm('SkipSimplifiedLayerNormalization', true),
  SimplifiedLayerNormalization: simplifiedLayerNorm,
  Gelu: biasedUnary('Gelu', gelu),
  BiasGelu: biasedUnary('BiasGelu', gelu),
  FastGelu: biasedUnary('FastGelu', geluTanh),
  QuickGelu: biasedUnary('QuickGelu', (x, attrs) => x / (1 + Math.exp(-attrs.alpha * x))),
  BiasAdd: biasAdd,
  Attention: msAttention,
  MultiHeadAttention: msMultiHeadAttention,
  EmbedLayerNormalization: embedLayerNorm,
  RotaryEmbedding: msRotaryEmbedding,
  MatMulNBits: matMulNBits,
};

/** onnxruntime registers SimplifiedLayerNormalization in the ONNX domain too. */
export const kernels = {
  SimplifiedLayerNormalization: simplifiedLayerNorm,
};
