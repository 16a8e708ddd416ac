// Options of the Vite plugin and the webpack loader (one set, validated strictly), per-model
// options from import queries, and how they merge.

export class PluginError extends Error {
  constructor(message, extra = {}) {
    super(message);
    this.name = 'WebdnnPluginError';
    Object.assign(this, extra);
  }
}

const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof RegExp);

export const check = {
  stringList(v, where) {
    if (!Array.isArray(v) || v.length === 0 || !v.every((x) => typeof x === 'string' && x.length)) {
      throw new PluginError(`${where} must be a non-empty array of strings`);
    }
  },
  passes(v, where) {
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'string' && x.length && !x.includes(','))) {
      throw new PluginError(`${where} must be an array of pass ids ([] for no passes), e.g. ['fold_constants', 'fuse_activation']`);
    }
  },
  shapes(v, where) {
    if (!isObject(v)) throw new PluginError(`${where} must be an object mapping input names to shapes, e.g. { input: [1, 3, 224, 224] }`);
    for (const [name, dims] of Object.entries(v)) {
      if (!Array.isArray(dims) || !dims.every(isDim)) {
        throw new PluginError(`${where}.${name} must be an array of dims: positive integers, or strings for dims left open ("?", "1..512", "seq:?", "seq:1..512")`);
      }
    }
  },
  quantize(v, where) {
    // a mode, a list of MODE / PATTERN=MODE, or { pattern: mode } ('*': the default), as the config's quantize key
    // (int4:B: B a power of two from 16 to 1024, webdnn_build/compress.py INT4_BLOCK_RANGE)
    const ok = (x) => typeof x === 'string' && /^(?:[^=]+=)?(?:none|fp16|int8|int4|int4:(?:16|32|64|128|256|512|1024)|eightbit)$/.test(x);
    if (ok(v) || (Array.isArray(v) && v.every(ok))) return;
    if (isObject(v) && Object.values(v).every((m) => ok(m) && !m.includes('='))) return;
    throw new PluginError(`${where} must be 'fp16', 'int8', 'int4' or 'none' (or 'int4:B', B a power of two from 16 to 1024, or 'eightbit'), a list of MODE / PATTERN=MODE strings, or { pattern: mode }`);
  },
  shardSize(v, where) {
    shardSizeBytes(v, where);
  },
  deflate(v, where) {
    if (typeof v !== 'boolean') throw new PluginError(`${where} must be true or false`);
  },
  backendOptions(v, where) {
    if (!isObject(v)) throw new PluginError(`${where} must be an object like { wasm: { threads: false } }`);
    for (const [backend, table] of Object.entries(v)) {
      if (!isObject(table)) throw new PluginError(`${where}.${backend} must be an object of option values`);
      for (const [k, x] of Object.entries(table)) {
        if (!['string', 'number', 'boolean'].includes(typeof x)) throw new PluginError(`${where}.${backend}.${k} must be a string, number or boolean`);
      }
    }
  },
};

/** Options that may be given per model (plugin option `models`, and in part the import query). */
/**
 * One dim of an input shape: a positive integer, or a string the compiler reads as a dim left open at build time
 * (sized by the feeds at run time; docs/dynamic-shapes.md): `?`, `LO..HI` (either end may be left out), `NAME:?`,
 * `NAME:LO..HI`. The compiler checks the rest (ranges, names against the model).
 */
export function isDim(d) {
  if (typeof d === 'number') return Number.isInteger(d) && d > 0;
  return typeof d === 'string' && /^(?:[A-Za-z_][A-Za-z0-9_.-]{0,63}:)?(?:\?|(?:\d+|\?)?\.\.(?:\d+)?)$/.test(d);
}

const MODEL_OPTIONS = {
  backends: check.stringList,
  passes: check.passes,
  inputShapes: check.shapes,
  backendOptions: check.backendOptions,
  quantize: check.quantize,
  shardSize: check.shardSize,
  deflate: check.deflate,
};

/** Weight shard sizes the compiler accepts (webdnn_build/weights.py MIN_SHARD_SIZE, MAX_SHARD_SIZE, ALIGN). */
export const MIN_SHARD_SIZE = 1 << 10;
export const MAX_SHARD_SIZE = 1 << 30;
const SHARD_ALIGN = 16;
const SIZE_UNITS = { '': 1, b: 1, k: 1 << 10, kib: 1 << 10, m: 1 << 20, mib: 1 << 20, g: 1 << 30, gib: 1 << 30 };

/**
 * A weight shard size (`shardSize` option, `shard-size` config key; webdnn_build/config.py parse_shard_size) in
 * bytes: an integer, or a string such as "4MiB", "512KiB", "1048576" (units B, K/KiB, M/MiB, G/GiB, any case, binary);
 * a multiple of 16 from 1 KiB to 1 GiB. Throws a PluginError naming `where` otherwise.
 */
export function shardSizeBytes(v, where) {
  if (typeof v === 'bigint') v = Number(v); // (a TOML integer beyond 2^53: refused by the range below)
  let size = null;
  if (typeof v === 'number' && Number.isInteger(v)) {
    size = v;
  } else if (typeof v === 'string') {
    const m = /^(\d+)([a-z]*)$/.exec(v.trim().toLowerCase().replaceAll(' ', ''));
    if (m && Object.hasOwn(SIZE_UNITS, m[2])) size = Number(m[1]) * SIZE_UNITS[m[2]];
  }
  if (size === null) {
    throw new PluginError(`${where} must be a number of bytes or a size such as "4MiB" or "512KiB", got ${typeof v === 'string' ? JSON.stringify(v) : String(v)}`);
  }
  if (!(size >= MIN_SHARD_SIZE && size <= MAX_SHARD_SIZE) || size % SHARD_ALIGN) {
    throw new PluginError(`${where}: shard size ${size} must be a multiple of ${SHARD_ALIGN} from ${MIN_SHARD_SIZE} (1 KiB) to ${MAX_SHARD_SIZE} (1 GiB) bytes`);
  }
  return size;
}

/** A `quantize` value (option or config key) as the compiler's --quantize arguments. */
export function quantizeArgs(v) {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string') return [v];
  if (Array.isArray(v)) return [...v];
  return Object.entries(v).map(([pattern, mode]) => (pattern === '*' ? mode : `${pattern}=${mode}`));
}

const OPTIONS = {
  ...MODEL_OPTIONS,
  compiler(v, where) {
    if (typeof v === 'string' && v.length) return;
    if (Array.isArray(v) && v.length && v.every((x) => typeof x === 'string' && x.length)) return;
    throw new PluginError(`${where} must be a path (or command name) of webdnn-build, or an argv prefix like ['python3', '-m', 'webdnn_build']`);
  },
  models(v, where) {
    if (!isObject(v)) throw new PluginError(`${where} must be an object mapping model paths to options`);
    for (const [file, opts] of Object.entries(v)) validate(opts, MODEL_OPTIONS, `${where}['${file}']`);
  },
  config(v, where) {
    if (v !== false && !(typeof v === 'string' && v.length)) throw new PluginError(`${where} must be a config file path, or false`);
  },
  cacheDir(v, where) {
    if (!(typeof v === 'string' && v.length)) throw new PluginError(`${where} must be a folder path`);
  },
  dts(v, where) {
    if (typeof v !== 'boolean') throw new PluginError(`${where} must be true or false`);
  },
  crossOriginIsolation(v, where) {
    if (typeof v !== 'boolean') throw new PluginError(`${where} must be true or false`);
  },
};

function validate(options, schema, where) {
  if (!isObject(options)) throw new PluginError(`${where}: options must be an object`);
  for (const [key, value] of Object.entries(options)) {
    if (!Object.hasOwn(schema, key)) {
      throw new PluginError(`${where}: the \`${key}\` option does not exist (options: ${Object.keys(schema).join(', ')})`);
    }
    if (value !== undefined) schema[key](value, `${where}: \`${key}\``);
  }
}

/**
 * Validates the options of the plugin / loader; throws a PluginError naming the first bad one.
 * @param {object} [options]
 * @param {string} who 'vite-plugin-webdnn' or 'vite-plugin-webdnn/webpack'
 */
export function validateOptions(options = {}, who = 'vite-plugin-webdnn') {
  validate(options ?? {}, OPTIONS, who);
  return { ...options };
}

/** Query parameters that Vite adds or handles itself: ignored when reading per-model options. */
const BUNDLER_PARAMS = new Set(['import', 't', 'v', 'used', 'direct']);
/** Query parameters that mean "not a model import" (Vite's own asset handling). */
export const FOREIGN_PARAMS = ['url', 'raw', 'inline', 'no-inline', 'worker', 'sharedworker'];
const QUERY_PARAMS = ['backends', 'shape'];

/**
 * Per-model options from an import query: `backends=wasm,js` and `shape=NAME:D1,D2,...`
 * (repeatable, or several separated by `;`).
 *
 * @param {string} query the part after `?` (with or without the `?`)
 * @param {string} file the model, for error messages
 * @returns {{ backends?: string[], inputShapes?: Record<string, number[]> }}
 */
export function parseQuery(query, file) {
  const params = new URLSearchParams(query.replace(/^\?/, ''));
  const out = {};
  for (const [key, value] of params) {
    if (BUNDLER_PARAMS.has(key)) continue;
    if (!QUERY_PARAMS.includes(key)) {
      throw new PluginError(`${file}: the \`${key}\` query parameter does not exist (parameters: ${QUERY_PARAMS.join(', ')})`);
    }
    if (key === 'backends') {
      const list = value.split(',').map((s) => s.trim()).filter(Boolean);
      if (!list.length) throw new PluginError(`${file}: ?backends= needs a comma-separated list, e.g. ?backends=wasm,js`);
      out.backends = list;
    } else {
      for (const spec of value.split(';').filter(Boolean)) {
        const at = spec.lastIndexOf(':');
        const name = spec.slice(0, at);
        // sizes, or ? / LO..HI for dims left open (named open dims need the config: ':' separates the name here)
        const dims = spec.slice(at + 1).split(',').map((d) => (/^\d+$/.test(d) ? Number(d) : d));
        if (at <= 0 || !dims.every((d) => isDim(d) && !String(d).includes(':'))) {
          throw new PluginError(`${file}: ?shape=${spec}: expected NAME:D1,D2,... with positive integers (or ? / LO..HI for dims left open)`);
        }
        (out.inputShapes ??= {})[name] = dims;
      }
    }
  }
  return out;
}

/**
 * Merges per-model option layers, lowest precedence first: `backends`, `passes`, `quantize`, `shardSize` and
 * `deflate` are replaced (`passes: []` included: no passes), `inputShapes` and `backendOptions` are merged per key.
 * `shardSize` comes out in bytes.
 */
export function mergeModelOptions(...layers) {
  const out = {
    backends: undefined, passes: undefined, inputShapes: {}, backendOptions: {}, quantize: undefined,
    shardSize: undefined, deflate: undefined,
  };
  for (const layer of layers) {
    if (!layer) continue;
    if (layer.backends) out.backends = [...layer.backends];
    if (layer.passes) out.passes = [...layer.passes];
    if (layer.quantize !== undefined) out.quantize = quantizeArgs(layer.quantize);
    if (layer.shardSize !== undefined) out.shardSize = shardSizeBytes(layer.shardSize, 'shardSize');
    if (layer.deflate !== undefined) out.deflate = layer.deflate;
    Object.assign(out.inputShapes, layer.inputShapes);
    for (const [b, table] of Object.entries(layer.backendOptions ?? {})) out.backendOptions[b] = { ...out.backendOptions[b], ...table };
  }
  return out;
}
