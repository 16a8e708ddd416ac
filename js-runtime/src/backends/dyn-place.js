// Placement of the values a bundle built with open dims sizes at run time (wasm and webgpu backends;
// docs/dynamic-shapes.md): once per distinct set of input sizes, each value gets an offset in one region,
// reusing memory between values whose lives (plan steps) do not overlap.

import { parseDimExpr } from '../dim-expr.js';

/**
 * Reads a plan's dynamic-value tables: `dynValues` (value indices), `dynLive` ([first, last] step per value),
 * the values' `symShape` (ints or dim expressions) and `dims` (name -> [value index, axis] of a graph input).
 * Entries: { vi, k, form, elemBytes, first, last }; `entries.forms`: the distinct shapes' evaluators.
 * @param {object} plan wasm or webgpu plan
 * @param {(v: object) => number} elemBytes bytes per element of a value in this backend's memory
 */
export function readDynamicValues(plan, elemBytes) {
  const shapes = new Map(); // symShape text -> its index in `forms` (values of one shape share its evaluation)
  const forms = [];
  const entries = plan.dynValues.map((vi, k) => {
    const v = plan.values[vi];
    if (!v || !Array.isArray(v.symShape)) throw new Error(`dynamic value #${k}: no "symShape"`);
    const text = JSON.stringify(v.symShape);
    if (!shapes.has(text)) {
      try {
        forms.push(v.symShape.map(parseDimExpr));
      } catch (e) {
        throw new Error(`value '${v.name}': "symShape": ${e.message}`, { cause: e });
      }
      shapes.set(text, forms.length - 1);
    }
    const live = plan.dynLive?.[k];
    if (!Array.isArray(live) || live.length !== 2) throw new Error(`value '${v.name}': no "dynLive" entry`);
    return { vi, k, form: shapes.get(text), elemBytes: elemBytes(v), first: live[0], last: live[1] };
  });
  entries.forms = forms;
  const order = plan.dimOrder ?? Object.keys(plan.dims ?? {});
  const dims = order.map((name) => {
    const where = plan.dims?.[name];
    if (!Array.isArray(where) || where.length !== 2) throw new Error(`plan "dims": '${name}' is not read from an axis of a graph input`);
    return [name, ...where];
  });
  return { entries, dims };
}

/** The open dims' sizes from the feeds (name -> size) and their key (one per distinct set of sizes). */
export function dimSizes(dims, values, feeds) {
  const sizes = new Map();
  for (const [name, vi, axis] of dims) sizes.set(name, feeds.get(values[vi].name)?.shape?.[axis]);
  return { sizes, key: [...sizes.values()].join(',') };
}

/**
 * The entries' shapes for `sizes`: [{ shape, n, bytes }] by entry (bytes: rounded up to `align`, at least it).
 */
export function sizeDynamicValues(entries, sizes, align) {
  const shapes = entries.forms.map((dims) => {
    const shape = dims.map((f) => f(sizes));
    let n = 1;
    for (const d of shape) {
      if (!Number.isSafeInteger(d) || d < 0) throw new Error(`cannot size the values for dims ${[...sizes.values()].join(',')}`);
      n *= d;
    }
    if (!Number.isSafeInteger(n)) throw new Error(`cannot size the values for dims ${[...sizes.values()].join(',')}`);
    return { shape, n };
  });
  return entries.map((e) => {
    const { shape, n } = shapes[e.form];
    return { shape, n, bytes: Math.max(align, Math.ceil((n * e.elemBytes) / align) * align) };
  });
}

/**
 * The sizes a placement is made for: each dim rounded up to a power of two (0 stays 0). Values grow with the
 * dims, so a placement for these fits every smaller set of sizes in the same bucket (checked by fitsPlacement):
 * a decoding loop, whose cache grows by one position per step, places its values once per doubling.
 */
export function bucketSizes(sizes) {
  const out = new Map();
  for (const [name, v] of sizes) out.set(name, v <= 1 ? v : 2 ** Math.ceil(Math.log2(v)));
  return out;
}

/** Whether every value of `sized` fits its slot in `placed` (a placement made for other sizes). */
export function fitsPlacement(placed, sized) {
  for (let k = 0; k < sized.length; k++) if (sized[k].bytes > placed[k].bytes) return false;
  return true;
}

/**
 * Sizes and places the entries for `sizes`: greedy, largest first, each at the lowest offset free during its
 * life. Returns { placed: [{ ...entry, shape, n, bytes, rel }], end } (rel: offset from the region's start).
 * @param {number} align byte alignment of every offset (and size)
 */
export function placeDynamicValues(entries, sizes, align) {
  const shapes = sizeDynamicValues(entries, sizes, align);
  const sized = entries.map((e, k) => ({ ...e, ...shapes[k] }));
  return placeByLifetime(sized);
}

/**
 * The greedy placement itself (also the js backend's, js/backend.js): values with `bytes` and a life [first, last]
 * (plan steps), largest first, each at the lowest offset free during its life (what webdnn_build/memory.py does at
 * build time). Returns { placed: [{ ...value, rel }] in the order given, end } (rel: offset from the region's start).
 */
export function placeByLifetime(sized) {
  const order = sized.map((e, i) => ({ ...e, i })).sort((a, b) => b.bytes - a.bytes || a.first - b.first);
  const placed = [];
  let end = 0;
  for (const e of order) {
    const busy = placed.filter((p) => !(p.last < e.first || e.last < p.first)).sort((a, b) => a.rel - b.rel);
    let rel = 0;
    for (const p of busy) {
      if (rel + e.bytes <= p.rel) break;
      rel = Math.max(rel, p.rel + p.bytes);
    }
    placed.push({ ...e, rel });
    end = Math.max(end, rel + e.bytes);
  }
  placed.sort((a, b) => a.i - b.i);
  return { placed: placed.map(({ i, ...p }) => p), end };
}
