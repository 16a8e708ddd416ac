// The only ways a string from a model (names, dtypes, dims) or from the file system (model file
// names) reaches the JS modules and .d.ts files this plugin generates. See webdnn_build/escape.py
// for the compiler's side of the same rule.

/**
 * A JS (and TS) literal for a JSON-able value: JSON text with `<`, `>`, U+2028 and U+2029 escaped,
 * so it stays one inert expression even if a page inlines the module into a `<script>`.
 * @param {unknown} value
 * @returns {string}
 */
export function jsLiteral(value) {
  const text = JSON.stringify(value);
  if (text === undefined) throw new TypeError(`jsLiteral: ${typeof value} has no JSON form`);
  return text.replace(/[<>\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/**
 * Text that is inert inside a `//` or `/* *\/` comment: a short allow-listed subset of ASCII;
 * everything else as \xNN / \uNNNN (no newline, no comment terminator).
 * @param {unknown} text
 * @param {number} [limit]
 * @returns {string}
 */
export function commentText(text, limit = 120) {
  const out = String(text).replace(/[^A-Za-z0-9 _.,:;=+()[\]'?-]/gu, (c) => {
    const code = c.codePointAt(0);
    return code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u{${code.toString(16)}}`;
  });
  return out.length > limit ? `${out.slice(0, limit)}...` : out;
}
