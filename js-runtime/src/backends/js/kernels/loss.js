// Kernels: loss functions (NegativeLogLikelihoodLoss, SoftmaxCrossEntropyLoss).
import { requireFloat, rounderFor, sizeOf } from './util.js';

/**
 * Shared NLL computation over log-probabilities `logp` laid out as [N, C, D] (D = product of the
 * spatial dims): loss[n, d] = -weight[t] * logp[n, t, d] with t = target[n, d], and zero weight
 * where t == ignore_index. 'mean' divides by the summed weights (the element count when unweighted).
 */
function nllLoss(op, logp, shape, dtype, target, weight, attrs, ctx) {
  if (shape.length < 2) throw new Error(`${op}: input must have rank >= 2, got [${shape}]`);
  const reduction = attrs.reduction;
  if (!['none', 'sum', 'mean'].includes(reduction)) throw new Error(`${op}: reduction=${reduction} is not supported`);
  const ignore = attrs.ignore_index;
  const [N, C] = shape;
  const D = sizeOf(shape.slice(2));
  const w = weight ? weight.data : null;
  const loss = new Float64Array(N * D);
  let sum = 0;
  let weightSum = 0;
  for (let n = 0; n < N; n++) {
    for (let d = 0; d < D; d++) {
      const t = Number(target.data[n * D + d]);
      if (t === ignore) continue;
      if (t < 0 || t >= C) throw new Error(`${op}: target ${t} out of range [0, ${C})`);
      const wt = w ? w[t] : 1;
      const l = -wt * logp[(n * C + t) * D + d];
      loss[n * D + d] = l;
      sum += l;
      weightSum += wt;
    }
  }
  const round = rounderFor(dtype);
  if (reduction === 'none') {
    const out = ctx.output(0, target.shape, dtype);
    for (let i = 0; i < loss.length; i++) out.data[i] = round ? round(loss[i]) : loss[i];
    return out;
  }
  const out = ctx.output(0, [], dtype);
  const v = reduction === 'sum' ? sum : sum / weightSum;
  out.data[0] = round ? round(v) : v;
  return out;
}

export const kernels = {
  NegativeLogLikelihoodLoss([x, target, weight], attrs, ctx) {
    requireFloat('NegativeLogLikelihoodLoss', x);
    return [nllLoss('NegativeLogLikelihoodLoss', x.data, x.shape, x.dtype, target, weight, attrs, ctx)];
  },

  // Loss of LogSoftmax(x) along axis 1; the optional second output is that log-probability tensor.
  SoftmaxCrossEntropyLoss([x, target, weight], attrs, ctx) {
    requireFloat('SoftmaxCrossEntropyLoss', x);
    if (x.shape.length < 2) throw new Error(`SoftmaxCrossEntropyLoss: input must have rank >= 2, got [${x.shape}]`);
    const [N, C] = x.shape;
    const D = sizeOf(x.shape.slice(2));
    const logp = new Float64Array(x.data.length);
    for (let n = 0; n < N; n++) {
      for (let d = 0; d < D; d++) {
        const base = n * C * D + d;
        let max = -Infinity;
        for (let c = 0; c < C; c++) max = Math.max(max, x.data[base + c * D]);
        let s = 0;
        for (let c = 0; c < C; c++) s += Math.exp(x.data[base + c * D] - max);
        const logSum = Math.log(s) + max;
        for (let c = 0; c < C; c++) logp[base + c * D] = x.data[base + c * D] - logSum;
      }
    }
    const loss = nllLoss('SoftmaxCrossEntropyLoss', logp, x.shape, x.dtype, target, weight, attrs, ctx);
    if ((ctx.numOutputs ?? 2) < 2) return [loss];
    const logProb = ctx.output(1, x.shape, x.dtype);
    const round = rounderFor(x.dtype);
    for (let i = 0; i < logp.length; i++) logProb.data[i] = round ? round(logp[i]) : logp[i];
    return [loss, logProb];
  },
};
