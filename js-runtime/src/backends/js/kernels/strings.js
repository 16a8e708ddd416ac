// Kernels: string tensors (StringConcat, StringSplit, StringNormalizer, RegexFullMatch).
// String tensors hold plain JS Arrays of strings.
import { broadcastIndex, broadcastShapes, sizeOf } from './util.js';

function requireString(op, t) {
  if (t.dtype !== 'string') throw new Error(`${op}: input must be a string tensor, got ${t.dtype}`);
}

function StringConcat([x, y], _attrs, ctx) {
  requireString('StringConcat', x);
  requireString('StringConcat', y);
  const shape = broadcastShapes(x.shape, y.shape);
  const out = ctx.output(0, shape, 'string');
  const xi = broadcastIndex(x.shape, shape), yi = broadcastIndex(y.shape, shape);
  for (let i = 0; i < out.data.length; i++) out.data[i] = x.data[xi[i]] + y.data[yi[i]];
  return [out];
}

const WHITESPACE = /\s/;

/**
 * Python's str.split(None, maxsplit): runs of whitespace separate, leading / trailing whitespace
 * is dropped; after `maxsplit` splits the rest (left-trimmed only) is the last piece.
 */
function splitWhitespace(s, maxsplit) {
  const parts = [];
  let i = 0;
  const n = s.length;
  while (i < n) {
    while (i < n && WHITESPACE.test(s[i])) i++;
    if (i >= n) break;
    if (parts.length === maxsplit) {
      parts.push(s.slice(i)); // trailing whitespace stays, as in Python
      break;
    }
    let j = i;
    while (j < n && !WHITESPACE.test(s[j])) j++;
    parts.push(s.slice(i, j));
    i = j;
  }
  return parts;
}

/** Python's str.split(sep, maxsplit): every occurrence separates (empty pieces kept). */
function splitSeparator(s, sep, maxsplit) {
  const parts = [];
  let start = 0;
  while (parts.length !== maxsplit) {
    const k = s.indexOf(sep, start);
    if (k < 0) break;
    parts.push(s.slice(start, k));
    start = k + sep.length;
  }
  parts.push(s.slice(start));
  return parts;
}

/** StringSplit: Y [..., max pieces] padded with '', Z (int64) the piece count of each element. */
function StringSplit([x], attrs, ctx) {
  requireString('StringSplit', x);
  const sep = attrs.delimiter ? attrs.delimiter : null; // absent or '' -> whitespace runs
  const maxsplit = attrs.maxsplit ?? -1; // -1: no limit (never equals a parts count)
  const pieces = x.data.map((s) => (sep === null ? splitWhitespace(s, maxsplit) : splitSeparator(s, sep, maxsplit)));
  const width = pieces.reduce((m, p) => Math.max(m, p.length), 0);
  const Y = ctx.output(0, [...x.shape, width], 'string');
  const Z = ctx.output(1, x.shape, 'int64');
  pieces.forEach((p, i) => {
    for (let k = 0; k < width; k++) Y.data[i * width + k] = k < p.length ? p[k] : '';
    Z.data[i] = BigInt(p.length);
  });
  return [Y, Z];
}

/**
 * StringNormalizer: drops the elements equal to a stopword (case-insensitively unless
 * is_case_sensitive), then changes case. Input [C] or [1, C]; when everything is dropped the
 * output is [''] (shape [1] or [1, 1]). `locale` is ignored (JS default case mapping).
 */
function StringNormalizer([x], attrs, ctx) {
  requireString('StringNormalizer', x);
  const rank = x.shape.length;
  if (!(rank === 1 || (rank === 2 && x.shape[0] === 1))) {
    throw new Error(`StringNormalizer: input must be [C] or [1, C], got [${x.shape}]`);
  }
  const action = attrs.case_change_action;
  if (!['NONE', 'LOWER', 'UPPER'].includes(action)) throw new Error(`StringNormalizer: case_change_action=${action} is not supported`);
  const caseSensitive = !!attrs.is_case_sensitive;
  const key = caseSensitive ? (s) => s : (s) => s.toLowerCase();
  const stops = new Set((attrs.stopwords ?? []).map(key));
  let kept = x.data.filter((s) => !stops.has(key(s)));
  if (action === 'LOWER') kept = kept.map((s) => s.toLowerCase());
  else if (action === 'UPPER') kept = kept.map((s) => s.toUpperCase());
  if (kept.length === 0) kept = [''];
  const out = ctx.output(0, rank === 1 ? [kept.length] : [1, kept.length], 'string');
  kept.forEach((s, i) => { out.data[i] = s; });
  return [out];
}

/**
 * An RE2 pattern as an anchored JS RegExp. Handles the RE2 spellings JS lacks: (?P<name>…),
 * \A, \z and leading flag groups like (?i).
 */
function compileRE2(pattern) {
  let flags = '';
  let body = pattern.replace(/^\(\?([imsU]+)\)/, (_, f) => {
    if (f.includes('U')) throw new Error('RegexFullMatch: the U (ungreedy) flag is not supported');
    flags += f;
    return '';
  });
  body = body.replace(/\(\?P</g, '(?<').replace(/\\A/g, '^').replace(/\\z/g, '$');
  const source = `^(?:${body})$`;
  try {
    return new RegExp(source, `${flags}u`); // code points, like RE2's UTF-8 matching
  } catch {
    try {
      return new RegExp(source, flags); // patterns with escapes the u flag rejects (e.g. \-)
    } catch (e) {
      throw new Error(`RegexFullMatch: invalid pattern ${JSON.stringify(pattern)}: ${e.message}`);
    }
  }
}

function RegexFullMatch([x], attrs, ctx) {
  requireString('RegexFullMatch', x);
  if (attrs.pattern === undefined) throw new Error('RegexFullMatch: the pattern attribute is required');
  const re = compileRE2(attrs.pattern);
  const out = ctx.output(0, x.shape, 'bool');
  for (let i = 0; i < sizeOf(x.shape); i++) out.data[i] = re.test(x.data[i]) ? 1 : 0;
  return [out];
}

export const kernels = { StringConcat, StringSplit, StringNormalizer, RegexFullMatch };
