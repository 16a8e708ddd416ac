// Which files an ONNX model reads besides itself: the external-data files its tensors name
// (TensorProto.external_data "location", relative to the model's folder). A minimal protobuf walk:
// ModelProto.graph -> GraphProto.{initializer, sparse_initializer, node.attribute.{t, g, tensors, graphs}}.

import { realpathSync } from 'node:fs';
import path from 'node:path';

const WIRE_VARINT = 0;
const WIRE_I64 = 1;
const WIRE_LEN = 2;
const WIRE_I32 = 5;

function varint(buf, pos) {
  let value = 0;
  let scale = 1;
  for (;;) {
    if (pos >= buf.length) throw new Error('truncated varint');
    const b = buf[pos++];
    value += (b & 0x7f) * scale;
    if (b < 0x80) return [value, pos];
    scale *= 128;
  }
}

/** Fields of the message in buf[start, end): { field, start, end } for length-delimited ones. */
function* fields(buf, start, end) {
  let pos = start;
  while (pos < end) {
    const [key, p] = varint(buf, pos);
    pos = p;
    const field = Math.floor(key / 8);
    const wire = key % 8;
    if (wire === WIRE_VARINT) {
      const [value, q] = varint(buf, pos);
      pos = q;
      yield { field, wire, value };
    } else if (wire === WIRE_LEN) {
      const [len, q] = varint(buf, pos);
      pos = q + len;
      if (pos > end) throw new Error('truncated field');
      yield { field, wire, start: q, end: pos };
    } else if (wire === WIRE_I64) {
      pos += 8;
    } else if (wire === WIRE_I32) {
      pos += 4;
    } else {
      throw new Error(`unsupported wire type ${wire}`);
    }
  }
  if (pos !== end) throw new Error('truncated message');
}

const decoder = new TextDecoder();

function tensor(buf, f, out) {
  for (const t of fields(buf, f.start, f.end)) {
    if (t.field !== 13 || t.wire !== WIRE_LEN) continue; // external_data: StringStringEntryProto
    let key = '';
    let value = '';
    for (const e of fields(buf, t.start, t.end)) {
      if (e.wire !== WIRE_LEN) continue;
      if (e.field === 1) key = decoder.decode(buf.subarray(e.start, e.end));
      if (e.field === 2) value = decoder.decode(buf.subarray(e.start, e.end));
    }
    if (key === 'location' && value) out.add(value);
  }
}

function sparseTensor(buf, f, out) {
  for (const s of fields(buf, f.start, f.end)) if (s.wire === WIRE_LEN && (s.field === 1 || s.field === 2)) tensor(buf, s, out);
}

function graph(buf, f, out) {
  for (const g of fields(buf, f.start, f.end)) {
    if (g.wire !== WIRE_LEN) continue;
    if (g.field === 5) tensor(buf, g, out); // initializer
    else if (g.field === 15) sparseTensor(buf, g, out); // sparse_initializer
    else if (g.field === 1) { // node
      for (const n of fields(buf, g.start, g.end)) {
        if (n.field !== 5 || n.wire !== WIRE_LEN) continue; // attribute
        for (const a of fields(buf, n.start, n.end)) {
          if (a.wire !== WIRE_LEN) continue;
          if (a.field === 5 || a.field === 10) tensor(buf, a, out); // t, tensors
          else if (a.field === 6 || a.field === 11) graph(buf, a, out); // g, graphs
          else if (a.field === 22 || a.field === 23) sparseTensor(buf, a, out); // sparse_tensor(s)
        }
      }
    }
  }
}

/**
 * External-data locations named by an ONNX model (as written in the file, relative to its folder).
 * Returns [] for bytes that do not parse: the compiler reports those.
 *
 * @param {Uint8Array} bytes the .onnx file
 * @returns {string[]}
 */
export function externalDataLocations(bytes) {
  const out = new Set();
  try {
    for (const f of fields(bytes, 0, bytes.length)) if (f.field === 7 && f.wire === WIRE_LEN) graph(bytes, f, out);
  } catch {
    return [];
  }
  return [...out];
}

/**
 * The file an external-data location names, checked to stay inside the model's folder (as the
 * compiler checks it): relative, no `..` segment, no NUL, and not a symlink resolving outside.
 * Throws an Error naming the location when it leaves the folder; a missing file is returned
 * as is (the compiler reports it).
 *
 * @param {string} modelFile absolute path of the .onnx file
 * @param {string} location the tensor's `location` entry
 * @returns {string} absolute path of the data file
 */
export function externalDataPath(modelFile, location) {
  const folder = path.dirname(modelFile);
  const parts = location.split(/[\\/]/);
  if (location.includes('\0') || path.isAbsolute(location) || /^[A-Za-z]:/.test(location) || parts.includes('..')) {
    throw new Error(`external-data location ${JSON.stringify(location)} leaves the model's folder`);
  }
  const file = path.resolve(folder, location);
  let real;
  try {
    real = realpathSync(file);
  } catch {
    return file; // missing: the compiler reports it
  }
  const realFolder = realpathSync(folder);
  if (real !== realFolder && !real.startsWith(realFolder + path.sep)) {
    throw new Error(`external-data location ${JSON.stringify(location)} resolves outside the model's folder (${real})`);
  }
  return file;
}
