// Dim expressions of bundles with dims left open at build time (docs/dynamic-shapes.md): the text form that
// webdnn_build/symshape.py writes (to_json), read without eval. Grammar (as in Python, unary minus binding
// tighter than * // %, which bind tighter than + -):
//   sum     := product (('+' | '-') product)*
//   product := unary (('*' | '//' | '%') unary)*        (the right side of // and % a positive integer)
//   unary   := '-'* primary
//   primary := INT | NAME | ('max' | 'min') '(' sum ',' sum ')' | '(' sum ')'
// Names are read greedily ([A-Za-z_][A-Za-z0-9_.-]*): `seq-1` is one name, `seq - 1` a difference.

const TOKEN = /\s*(?:(\d+)|([A-Za-z_][A-Za-z0-9_.-]*)|(\/\/|[-+*%(),]))/y;
const MAX_PARENS = 66; // symshape.MAX_PARENS
const MAX_LENGTH = 4096;

/**
 * Parses a dim expression into a function of the open dims' sizes (name -> integer) returning its value.
 * @param {string|number} text
 * @returns {(sizes: Map<string, number>) => number}
 */
export function parseDimExpr(text) {
  if (typeof text === 'number' && Number.isInteger(text)) return () => text;
  if (typeof text !== 'string' || text.length > MAX_LENGTH) throw new Error(`bad dim expression ${String(text).slice(0, 80)}`);
  const tokens = [];
  TOKEN.lastIndex = 0;
  while (TOKEN.lastIndex < text.length) {
    if (/^\s*$/.test(text.slice(TOKEN.lastIndex))) break;
    const at = TOKEN.lastIndex;
    const m = TOKEN.exec(text);
    if (!m) throw new Error(`bad dim expression '${text.slice(0, 80)}' at offset ${at}`);
    tokens.push(m[1] !== undefined ? { kind: 'int', value: Number(m[1]) } : m[2] !== undefined ? { kind: 'name', text: m[2] } : { kind: 'op', text: m[3] });
  }
  let i = 0, parens = 0;
  const fail = (why) => { throw new Error(`bad dim expression '${text.slice(0, 80)}': ${why}`); };
  const peek = () => (i < tokens.length ? (tokens[i].text ?? null) : null);
  const take = (want) => {
    if (i >= tokens.length) fail(want ? `expected '${want}'` : 'unexpected end');
    const t = tokens[i++];
    if (want !== undefined && t.text !== want) fail(`expected '${want}'`);
    return t;
  };
  const open = () => { take('('); if (++parens > MAX_PARENS) fail('nested too deeply'); };
  const close = () => { take(')'); parens--; };

  function sum() {
    let e = product();
    while (peek() === '+' || peek() === '-') {
      const op = take().text, a = e, b = product();
      e = op === '+' ? (s) => a(s) + b(s) : (s) => a(s) - b(s);
    }
    return e;
  }
  function product() {
    let e = unary();
    while (peek() === '*' || peek() === '//' || peek() === '%') {
      const op = take().text, a = e, b = unary();
      if (op === '*') { e = (s) => a(s) * b(s); continue; }
      const k = b(new Map());
      if (!(Number.isInteger(k) && k > 0)) fail(`the right side of ${op} must be a positive integer`);
      e = op === '//' ? (s) => Math.floor(a(s) / k) : (s) => ((a(s) % k) + k) % k;
    }
    return e;
  }
  function unary() {
    let negate = false;
    while (peek() === '-') { take(); negate = !negate; }
    const e = primary();
    return negate ? (s) => -e(s) : e;
  }
  function primary() {
    const t = take();
    if (t.kind === 'int') return () => t.value;
    if (t.kind === 'name' && (t.text === 'max' || t.text === 'min') && peek() === '(') {
      open();
      const a = sum();
      take(',');
      const b = sum();
      close();
      return t.text === 'max' ? (s) => Math.max(a(s), b(s)) : (s) => Math.min(a(s), b(s));
    }
    if (t.kind === 'name') {
      const name = t.text;
      return (s) => {
        const v = s.get(name);
        if (v === undefined) throw new Error(`dim '${name}' has no size`);
        return v;
      };
    }
    if (t.text === '(') {
      i--;
      open();
      const e = sum();
      close();
      return e;
    }
    return fail(`unexpected '${t.text}'`);
  }
  const e = sum();
  if (i < tokens.length) fail(`unexpected '${peek() ?? tokens[i].value}'`);
  return e;
}
