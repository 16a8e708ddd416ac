// Kernels: Cast and CastLike between all dtypes of the js backend (no float8 / 4-bit / 2-bit types).

import { dtypeFromOnnx, floatToBigInt, isBigInt, isFloat, roundBFloat16, roundFloat16 } from './util.js';

// ---------------------------------------------------------------------------------------------
// Strings

/** Parses a numeric string per the ONNX Cast spec ("INF", "+inf", "-INF", "NaN" case-insensitive). */
function parseNumber(s) {
  const t = s.trim();
  const u = t.toUpperCase();
  if (u === 'INF' || u === '+INF' || u === 'INFINITY' || u === '+INFINITY') return Infinity;
  if (u === '-INF' || u === '-INFINITY') return -Infinity;
  if (u === 'NAN' || u === '+NAN' || u === '-NAN') return NaN;
  return Number(t); // handles "1e-5", "1E8", "0x10"; "" -> 0, garbage -> NaN
}

/** A string -> int64/uint64 BigInt, exactly for integer literals. */
function parseBigInt(s) {
  const t = s.trim();
  if (/^[+-]?\d+$/.test(t)) return BigInt(t);
  return floatToBigInt(parseNumber(t));
}

/**
 * Shortest decimal (exponential notation) that round-trips through `round` (the dtype's rounding).
 * On an exact tie between two shortest candidates, picks the even last digit, as numpy does.
 */
function shortestDigits(x, round) {
  for (let p = 0; p < 16; p++) {
    const s = x.toExponential(p); // p + 1 significant digits, ties rounded away from zero
    if (round(Number(s)) !== x) continue;
    const longer = x.toExponential(p + 1);
    const [mant, exp] = longer.split('e');
    if (mant.endsWith('5') && Number(longer) === x) {
      const truncated = `${mant.slice(0, p === 0 ? -2 : -1)}e${exp}`; // drop the 5 (and a bare '.')
      const lastDigit = Number(truncated.split('e')[0].slice(-1));
      if (lastDigit % 2 === 0 && round(Number(truncated)) === x) return truncated;
    }
    return s;
  }
  return x.toExponential(16);
}

/**
 * Formats a float like numpy's str(): shortest round-trip digits for the source precision,
 * positional for 1e-4 <= |x| < maxPositional ("0.5", "100.0"), scientific otherwise ("1e-05",
 * "1.5e+16"). Special values use the ONNX spellings "NaN", "INF", "-INF".
 */
function formatFloat(x, round, maxPositional) {
  if (Number.isNaN(x)) return 'NaN';
  if (x === Infinity) return 'INF';
  if (x === -Infinity) return '-INF';
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  const digits = Number(shortestDigits(x, round)).toExponential(); // e.g. "1.5e+16", "-2e-5"
  let [mant, exp] = digits.split('e');
  const e = Number(exp);
  if (Math.abs(x) >= 1e-4 && Math.abs(x) < maxPositional) {
    const neg = mant.startsWith('-');
    const ds = mant.replace('-', '').replace('.', '');
    let s;
    if (e >= ds.length - 1) s = `${ds}${'0'.repeat(e - ds.length + 1)}.0`;
    else if (e >= 0) s = `${ds.slice(0, e + 1)}.${ds.slice(e + 1)}`;
    else s = `0.${'0'.repeat(-e - 1)}${ds}`;
    return neg ? `-${s}` : s;
  }
  const sign = e < 0 ? '-' : '+';
  return `${mant}e${sign}${String(Math.abs(e)).padStart(2, '0')}`;
}

// Per source float type: its rounding, and the magnitude from which numpy switches to scientific.
const FLOAT_FORMAT = {
  float64: { round: (v) => v, maxPositional: 1e16 },
  float32: { round: Math.fround, maxPositional: 1e6 },
  float16: { round: roundFloat16, maxPositional: 1e3 },
  bfloat16: { round: roundBFloat16, maxPositional: 1e3 },
};

function toStringFn(from) {
  if (isFloat(from)) {
    const { round, maxPositional } = FLOAT_FORMAT[from];
    return (v) => formatFloat(v, round, maxPositional);
  }
  if (from === 'bool') return (v) => (v ? 'True' : 'False');
  return (v) => String(v);
}

// ---------------------------------------------------------------------------------------------
// Numeric conversions

/** Element conversion function from dtype `from` to dtype `to`, or null for a plain copy. */
function converter(from, to) {
  if (to === 'string') return toStringFn(from);
  if (from === 'string') {
    if (to === 'bool') {
      return (s) => {
        const u = s.trim().toUpperCase();
        if (u === 'TRUE') return 1;
        if (u === 'FALSE') return 0;
        const n = parseNumber(s);
        return n !== 0 ? 1 : 0;
      };
    }
    if (isBigInt(to)) return parseBigInt;
    const num = converter('float64', to);
    return num ? (s) => num(parseNumber(s)) : parseNumber;
  }
  if (to === 'bool') {
    if (isBigInt(from)) return (v) => (v !== 0n ? 1 : 0);
    return (v) => (v !== 0 ? 1 : 0); // NaN -> true, as in C/numpy
  }
  if (to === 'float16') return (v) => roundFloat16(Number(v));
  if (to === 'bfloat16') return (v) => roundBFloat16(Number(v));
  if (isFloat(to)) return isBigInt(from) ? Number : null; // the typed array store rounds to float32/64
  if (isBigInt(to)) {
    if (isBigInt(from)) return null; // BigInt64Array <-> BigUint64Array stores wrap modulo 2^64
    if (isFloat(from)) return floatToBigInt;
    return BigInt;
  }
  // to a <= 32-bit integer type: the typed array store truncates floats toward zero and wraps
  // integers modulo 2^bits (NaN/Inf become 0).
  if (isBigInt(from)) return (v) => Number(BigInt.asIntN(32, v));
  return null;
}

function castTo(x, to, ctx) {
  const out = ctx.output(0, x.shape, to);
  const fn = converter(x.dtype, to);
  const X = x.data, O = out.data;
  if (fn) for (let i = 0; i < X.length; i++) O[i] = fn(X[i]);
  else if (Array.isArray(X) || Array.isArray(O)) for (let i = 0; i < X.length; i++) O[i] = X[i];
  else O.set(X);
  return [out];
}

function cast([x], attrs, ctx) {
  if (attrs.to === undefined) throw new Error('Cast: attribute "to" is required');
  return castTo(x, dtypeFromOnnx(attrs.to, 'Cast'), ctx);
}

function castLike([x, like], _attrs, ctx) {
  return castTo(x, like.dtype, ctx);
}

export const kernels = { Cast: cast, CastLike: castLike };
