// What the Vite plugin and the webpack loader share: per-model options, the content-hash cache,
// compiling (deduplicated), the generated module and the per-model .d.ts.

import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Compiler } from './compiler.js';
import { configOptionsFor, findConfig } from './config.js';
import { listFiles } from './files.js';
import { commentText, jsLiteral } from './escape.js';
import { externalDataLocations, externalDataPath } from './onnx-deps.js';
import { PluginError, mergeModelOptions, parseQuery } from './options.js';
import { bundleSizes, formatSizeTable } from './sizes.js';

const here = path.dirname(fileURLToPath(import.meta.url));
export const PLUGIN_VERSION = JSON.parse(readFileSync(path.join(here, '..', 'package.json'), 'utf8')).version;
/** The browser-side helper that generated modules import. */
export const MODEL_HELPER = path.join(here, 'model.js');
/** The runtime's backends, in its default preference order. */
const DEFAULT_ORDER = ['webgpu', 'wasm', 'js'];

/** True for paths this plugin compiles. */
export const isModelFile = (file) => /\.onnx$/i.test(file);

const sha256 = () => createHash('sha256');

/**
 * One compiled model.
 * @typedef {object} ModelBuild
 * @property {string} file the model (absolute)
 * @property {string} key content hash: model bytes + external data + options + versions
 * @property {string} dir the bundle folder in the cache
 * @property {object} manifest manifest.json
 * @property {string[]} files bundle files other than manifest.json (paths relative to dir)
 * @property {string[]} watchFiles files whose change must rebuild (model, external data, config)
 * @property {string[]} backends backend preference for load(): the requested order, else the runtime's, built ones only
 * @property {boolean} cached true when no compiler run was needed
 * @property {import('./sizes.js').SizeRow[] | null} sizes the bundle's size rows when this core compiled it (null on
 *   a cache hit, or when they could not be read)
 * @property {string | null} sizeTable the size table to print: set on the first build() result of a model this core
 *   compiled, null on later results for the same bundle (dev reloads, webpack watch rebuilds) and on cache hits
 */

export class WebdnnCore {
  /**
   * @param {object} options validated plugin options
   * @param {{ root: string, cacheDir: string, log?: (msg: string) => void }} env
   */
  constructor(options, { root, cacheDir, log }) {
    this.options = options;
    this.root = root;
    this.cacheDir = path.resolve(root, options.cacheDir ?? cacheDir);
    this.log = log ?? (() => {});
    this.compiler = new Compiler({ command: options.compiler, root });
    this.stats = { builds: 0, cacheHits: 0 };
    /** In-flight and finished builds by key (dedupes concurrent requests of one model). */
    this._builds = new Map();
    /** dependency file -> model files that read it (external data, config) */
    this.dependents = new Map();
    /** Keys whose size table was handed out (printed once per compiled bundle). */
    this._reported = new Set();
  }

  /** Per-model options: config < plugin options < plugin `models` entry < import query. */
  async modelOptions(file, query) {
    const fromQuery = parseQuery(query ?? '', file);
    let configFile = null;
    let fromConfig = null;
    if (this.options.config !== false) {
      configFile = this.options.config ? path.resolve(this.root, this.options.config) : await findConfig(path.dirname(file));
      if (configFile) {
        if (!existsSync(configFile)) throw new PluginError(`the \`config\` option names ${configFile}, which does not exist`);
        fromConfig = await configOptionsFor(configFile, file);
      }
    }
    let fromModels = null;
    for (const [p, opts] of Object.entries(this.options.models ?? {})) {
      if (path.resolve(this.root, p) === file) fromModels = opts;
    }
    const { models, compiler, config, cacheDir, dts, crossOriginIsolation, ...global } = this.options;
    const merged = mergeModelOptions(fromConfig, global, fromModels, fromQuery);
    return { options: merged, configFile };
  }

  /**
   * Compiles a model (or finds it in the cache).
   * @param {string} file absolute path of the model
   * @param {string} [query] the import's query string (per-model options)
   * @returns {Promise<ModelBuild>}
   */
  async build(file, query = '') {
    file = path.resolve(file);
    const { options, configFile } = await this.modelOptions(file, query);
    let bytes;
    try {
      bytes = await readFile(file);
    } catch (e) {
      throw new PluginError(`cannot read the model: ${e.message}`, { file });
    }
    const watchFiles = [file];
    if (configFile) watchFiles.push(configFile);
    const hash = sha256();
    const versions = await this.compiler.versions();
    hash.update(JSON.stringify({
      plugin: PLUGIN_VERSION, compiler: versions.compiler, plugins: versions.plugins,
      name: path.basename(file),
      // every option that changes the bundle (what Compiler.build passes to webdnn-build)
      backends: options.backends ?? null,
      passes: options.passes ?? null,
      inputShapes: Object.entries(options.inputShapes).sort(),
      backendOptions: Object.entries(options.backendOptions).sort().map(([b, t]) => [b, Object.entries(t).map(([k, v]) => [k, String(v)]).sort()]),
      quantize: options.quantize ?? null,
      shardSize: options.shardSize ?? null,
      deflate: options.deflate ?? null,
    }));
    hash.update(bytes);
    for (const loc of externalDataLocations(bytes)) {
      let dep;
      try {
        dep = externalDataPath(file, loc);
      } catch (e) {
        throw new PluginError(e.message, { file });
      }
      watchFiles.push(dep);
      hash.update(`\0${loc}\0`);
      try {
        hash.update(await readFile(dep));
      } catch {
        hash.update('\0missing'); // the compiler reports it
      }
    }
    for (const dep of watchFiles.slice(1)) {
      if (!this.dependents.has(dep)) this.dependents.set(dep, new Set());
      this.dependents.get(dep).add(file);
    }
    const key = hash.digest('hex').slice(0, 32);

    let pending = this._builds.get(key);
    if (!pending) {
      pending = this._compile(file, key, options);
      this._builds.set(key, pending);
      pending.catch(() => this._builds.delete(key));
    }
    const result = await pending;
    const build = { ...result, watchFiles, sizeTable: null };
    if (result.sizes && !this._reported.has(key)) {
      this._reported.add(key);
      build.sizeTable = formatSizeTable(result.sizes, path.relative(this.root, file) || file);
    }
    if (this.options.dts !== false) await this.writeDts(build);
    return build;
  }

  async _compile(file, key, options) {
    const dir = path.join(this.cacheDir, key);
    let cached = existsSync(path.join(dir, 'manifest.json'));
    const rel = path.relative(this.root, file) || file;
    let sizes = null;
    if (cached) {
      this.stats.cacheHits++;
    } else {
      await mkdir(this.cacheDir, { recursive: true });
      const t0 = performance.now();
      this.stats.builds++;
      await this.compiler.build(file, dir, options);
      this.log(`compiled ${rel} in ${((performance.now() - t0) / 1000).toFixed(2)} s`);
      try {
        sizes = await bundleSizes(dir);
      } catch (e) {
        this.log(`no size table for ${rel}: ${e.message}`); // (a bundle the runtime reads is not at stake)
      }
    }
    const manifest = JSON.parse(await readFile(path.join(dir, 'manifest.json'), 'utf8'));
    const files = (await listFiles(dir)).filter((f) => f !== 'manifest.json');
    const built = Object.keys(manifest.backends ?? {});
    const order = options.backends ?? [...DEFAULT_ORDER, ...built.filter((b) => !DEFAULT_ORDER.includes(b))];
    return { file, key, dir, manifest, files, backends: order.filter((b) => built.includes(b)), cached, sizes };
  }

  /** Writes `<model>.d.ts` next to the model (only when its text changes). */
  async writeDts(build) {
    const target = `${build.file}.d.ts`;
    const text = dtsFor(build);
    let old = null;
    try {
      old = await readFile(target, 'utf8');
    } catch {
      // first time
    }
    if (old !== text) await writeFile(target, text);
  }

  /** The model files that depend on `file` (an external-data or config file), if any. */
  dependentsOf(file) {
    return [...(this.dependents.get(path.resolve(file)) ?? [])];
  }
}

/** Reads a bundle file from the cache (validated: only files of that build). */
export async function readBundleFile(build, rel) {
  if (!build.files.includes(rel)) return null;
  return readFile(path.join(build.dir, ...rel.split('/')));
}

const specEntries = (specs) => specs.map((s) => {
  const doc = commentText(`${s.dtype} [${(s.shape ?? []).map((d) => d ?? '?').join(', ')}]`);
  return `  /** ${doc} */\n  ${jsLiteral(String(s.name))}: ${jsLiteral(String(s.dtype))};`;
}).join('\n');

/** The TypeScript declaration of a model module: run() typed with its input and output names. */
export function dtsFor(build) {
  const m = build.manifest;
  return `// Generated by vite-plugin-webdnn from ${commentText(path.basename(build.file))}; rewritten when the model changes.
import type { WebdnnModel } from 'vite-plugin-webdnn/model';

declare const model: WebdnnModel<{
${specEntries(m.inputs)}
}, {
${specEntries(m.outputs)}
}>;
export default model;
`;
}

/**
 * The JS module an import of the model turns into.
 * @param {ModelBuild} build
 * @param {{ helper: string, url: (rel: string) => string, hot?: boolean }} how `helper`: import specifier of
 *   the model helper; `url(rel)`: a JS expression for the URL of a bundle file
 */
export function moduleCode(build, { helper, url, hot = false }) {
  const m = build.manifest;
  const files = build.files.map((rel) => `    ${jsLiteral(rel)}: ${url(rel)},`).join('\n');
  return `import { createModel } from ${jsLiteral(helper)};

const model = createModel({
  name: ${jsLiteral(m.name)},
  manifest: ${jsLiteral(m)},
  files: {
${files}
  },
  backends: ${jsLiteral(build.backends)},
});
export default model;
${hot ? '\nif (import.meta.hot) import.meta.hot.dispose(() => model.dispose());\n' : ''}`;
}

/**
 * An Error for the bundler: the model path, the ONNX node and op where the compiler names them.
 * `id`/`loc`/`frame` are what Vite's error overlay shows.
 */
export function bundlerError(e, file, root) {
  if (!(e instanceof PluginError)) return e;
  const rel = path.relative(root, file) || file;
  let message = e.message;
  if (e.compilerOutput !== undefined) {
    message = `webdnn-build failed on ${rel}${e.node ? ` (ONNX node '${e.node}', op ${e.opType})` : ''}: ${e.message}`;
  } else if (e.file) {
    message = `${rel}: ${e.message}`;
  }
  const err = new Error(message);
  err.id = file;
  err.file = file;
  if (e.node) {
    err.node = e.node;
    err.opType = e.opType;
  }
  err.frame = [
    `model: ${file}`,
    ...(e.node ? [`node:  '${e.node}'`, `op:    ${e.opType}`] : []),
    `error: ${e.message}`,
  ].join('\n');
  err.stack = `${err.message}\n    at ${file}`;
  err.hideStack = true; // webpack: the message says it all
  return err;
}
