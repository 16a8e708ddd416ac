// The project configuration the compiler reads: [tool.webdnn-build] in pyproject.toml, or a
// webdnn.toml (same keys at the top level). See webdnn_build/config.py; this reads the per-model
// options (backends, passes, input-shapes, backend-options, quantize, shard-size, deflate) for one model file.

import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { parse } from 'smol-toml';
import { check, isDim, PluginError, quantizeArgs, shardSizeBytes } from './options.js';

const ALLOWED_TOP = new Set(['out-dir', 'backends', 'passes', 'models', 'input-shapes', 'backend-options', 'quantize',
  'shard-size', 'deflate']);
const ALLOWED_MODEL = new Set(['path', 'out', 'backends', 'passes', 'input-shapes', 'backend-options', 'quantize',
  'shard-size', 'deflate']);

async function isFile(p) {
  try {
    return (await stat(p)).isFile();
  } catch {
    return false;
  }
}

/** Parsed TOML by path, valid while the file's mtime and size are unchanged. */
const parsed = new Map();

async function readToml(file) {
  const st = await stat(file);
  const hit = parsed.get(file);
  if (hit && hit.mtimeMs === st.mtimeMs && hit.size === st.size) return hit.data;
  let data;
  try {
    data = parse(await readFile(file, 'utf8'));
  } catch (e) {
    throw new PluginError(`${file}: invalid TOML: ${e.message}`);
  }
  parsed.set(file, { mtimeMs: st.mtimeMs, size: st.size, data });
  return data;
}

/** The nearest webdnn.toml, or pyproject.toml with a [tool.webdnn-build] table, at or above `dir`. */
export async function findConfig(dir) {
  for (let d = path.resolve(dir); ; d = path.dirname(d)) {
    const toml = path.join(d, 'webdnn.toml');
    if (await isFile(toml)) return toml;
    const pyproject = path.join(d, 'pyproject.toml');
    if (await isFile(pyproject)) {
      try {
        if ((await readToml(pyproject)).tool?.['webdnn-build']) return pyproject;
      } catch {
        // an unrelated broken pyproject.toml: keep looking, as the compiler does
      }
    }
    if (path.dirname(d) === d) return null;
  }
}

function checkKeys(table, allowed, where) {
  const unknown = Object.keys(table).filter((k) => !allowed.has(k)).sort();
  if (unknown.length) throw new PluginError(`${where}: unknown key(s) ${unknown.join(', ')}; allowed: ${[...allowed].sort().join(', ')}`);
}

function strList(value, where) {
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || !value.every((x) => typeof x === 'string')) throw new PluginError(`${where} must be a list of strings`);
  return [...value];
}

function backendList(value, where) {
  const list = strList(value, where);
  if (list && !list.length) throw new PluginError(`${where} is empty; name at least one backend, or leave the key out to build every installed one`);
  return list;
}

const isTable = (v) => v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Date);

/** `{ wasm = { threads = false } }` -> { wasm: { threads: 'false' } }: values as the compiler's CLI takes them. */
function backendOptionsTable(value, where) {
  if (value === undefined) return {};
  if (!isTable(value)) throw new PluginError(`${where}: backend-options must be a table of backend = { key = value }`);
  const out = {};
  for (const [backend, table] of Object.entries(value)) {
    if (!isTable(table)) throw new PluginError(`${where}: backend-options.${backend} must be a table of key = value`);
    out[backend] = {};
    for (const [k, v] of Object.entries(table)) {
      if (typeof v === 'boolean' || typeof v === 'string' || typeof v === 'bigint' || Number.isInteger(v)) {
        out[backend][k] = String(v);
      } else {
        throw new PluginError(`${where}: backend-options.${backend}.${k} must be a boolean, an integer or a string`);
      }
    }
  }
  return out;
}

function shapeTable(value, where) {
  if (value === undefined) return {};
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new PluginError(`${where}: input-shapes must be a table of name = [dims]`);
  }
  const out = {};
  for (const [name, dims] of Object.entries(value)) {
    if (!Array.isArray(dims) || !dims.every((d) => isDim(typeof d === 'bigint' ? Number(d) : d))) {
      throw new PluginError(`${where}: input-shapes.${name} must be a list of dims: positive integers, or strings for dims left open ("?", "1..512", "seq:1..512")`);
    }
    out[name] = dims.map((d) => (typeof d === 'string' ? d : Number(d)));
  }
  return out;
}

/** The `quantize` key (webdnn_build/config.py parse_quantize_key): the compiler's --quantize arguments. */
function quantizeKey(value, where) {
  check.quantize(value, where); // (a PluginError naming `where`)
  return quantizeArgs(value);
}

/** The `deflate` key: true or false. */
function deflateKey(value, where) {
  if (typeof value !== 'boolean') throw new PluginError(`${where} must be true or false, got ${JSON.stringify(value)}`);
  return value;
}

/** The keys that only replace: `quantize`, `shard-size` (in bytes) and `deflate`, where present in `table`. */
function replacedKeys(table, where, into) {
  if (table.quantize !== undefined) into.quantize = quantizeKey(table.quantize, `${where}: quantize`);
  if (table['shard-size'] !== undefined) into.shardSize = shardSizeBytes(table['shard-size'], `${where}: shard-size`);
  if (table.deflate !== undefined) into.deflate = deflateKey(table.deflate, `${where}: deflate`);
}

/**
 * The config's options for one model: the top-level defaults, overridden by the `models` entry
 * whose path is the model. `{}` when the config does not mention anything relevant.
 *
 * @param {string} file config file (webdnn.toml or pyproject.toml)
 * @param {string} model absolute path of the model
 * @returns {Promise<{ backends?: string[], passes?: string[], inputShapes: Record<string, number[]>,
 *   backendOptions: Record<string, Record<string, string>>, quantize?: string[], shardSize?: number, deflate?: boolean }>}
 */
export async function configOptionsFor(file, model) {
  const data = await readToml(file);
  const isPyproject = path.basename(file) === 'pyproject.toml';
  const table = isPyproject ? data.tool?.['webdnn-build'] ?? {} : data;
  const where = isPyproject ? `${file} [tool.webdnn-build]` : file;
  checkKeys(table, ALLOWED_TOP, where);
  const result = {
    backends: backendList(table.backends, `${where}: backends`),
    passes: strList(table.passes, `${where}: passes`),
    inputShapes: shapeTable(table['input-shapes'], where),
    backendOptions: backendOptionsTable(table['backend-options'], where),
  };
  replacedKeys(table, where, result);
  const models = table.models ?? [];
  if (!Array.isArray(models)) throw new PluginError(`${where}: models must be an array of tables ([[...models]])`);
  const root = path.dirname(file);
  models.forEach((m, i) => {
    const mw = `${where}: models[${i}]`;
    if (m === null || typeof m !== 'object' || typeof m.path !== 'string') throw new PluginError(`${mw}: each model needs a path`);
    checkKeys(m, ALLOWED_MODEL, mw);
    if (path.resolve(root, m.path) !== model) return;
    // present keys replace the top-level value, an empty list included (passes = [] means none)
    result.backends = backendList(m.backends, `${mw}: backends`) ?? result.backends;
    result.passes = strList(m.passes, `${mw}: passes`) ?? result.passes;
    result.inputShapes = { ...result.inputShapes, ...shapeTable(m['input-shapes'], mw) };
    replacedKeys(m, mw, result);
    for (const [b, t] of Object.entries(backendOptionsTable(m['backend-options'], mw))) {
      result.backendOptions[b] = { ...result.backendOptions[b], ...t };
    }
  });
  return result;
}
