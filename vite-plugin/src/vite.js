// vite-plugin-webdnn: `import model from './resnet50.onnx'` compiles the model with webdnn-build
// (cached by content hash) and yields a ready runner object (see ./model.js).
//
//   import webdnn from 'vite-plugin-webdnn';
//   export default { plugins: [webdnn({ backends: ['wasm', 'js'] })] };
//
// build: every bundle file but manifest.json becomes a hashed asset (this.emitFile) that the module
// refers to by import.meta.ROLLUP_FILE_URL_*; dev: the files are served from the cache under
// <base>@webdnn/<key>/. The model, its external data and the config are watched. After compiling a
// model, its size table (weights as float32 / stored / gzip / brotli, each backend's files) goes to
// Vite's logger.

import path from 'node:path';
import { WebdnnCore, MODEL_HELPER, bundlerError, isModelFile, moduleCode, readBundleFile } from './core.js';
import { FOREIGN_PARAMS, validateOptions } from './options.js';
import { jsLiteral } from './escape.js';

const NAME = 'vite-plugin-webdnn';
const HELPER_ID = 'vite-plugin-webdnn/model';
const DEV_PREFIX = '@webdnn/';

/** The headers that make a page cross-origin isolated (needed for wasm threads). */
export const CROSS_ORIGIN_ISOLATION_HEADERS = Object.freeze({
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
});

const CONTENT_TYPES = { '.json': 'application/json', '.wasm': 'application/wasm', '.bin': 'application/octet-stream' };

function splitId(id) {
  const q = id.indexOf('?');
  return q < 0 ? [id, ''] : [id.slice(0, q), id.slice(q + 1)];
}

/** The model file of a module id, or null when the id is not a model import of ours. */
function modelOf(id) {
  if (id.startsWith('\0')) return null;
  const [file, query] = splitId(id);
  if (!isModelFile(file)) return null;
  const params = new URLSearchParams(query);
  if (FOREIGN_PARAMS.some((p) => params.has(p))) return null; // ?url, ?raw, ...: Vite's own handling
  return { file: path.resolve(file), query };
}

function setHeaders(res, headers) {
  for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
}

/**
 * @param {import('./vite.d.ts').WebdnnPluginOptions} [options]
 * @returns {import('vite').Plugin}
 */
export default function webdnn(options = {}) {
  const opts = validateOptions(options, NAME);
  let config;
  let core;
  /** Dev builds by key, for the middleware. */
  const served = new Map();
  const isolation = opts.crossOriginIsolation ? { ...CROSS_ORIGIN_ISOLATION_HEADERS } : null;

  const isolate = (server) => {
    if (!isolation) return;
    server.middlewares.use((req, res, next) => {
      setHeaders(res, isolation);
      next();
    });
  };

  return {
    name: NAME,
    enforce: 'pre',
    /** For tests and other plugins: the core (stats: { builds, cacheHits }). */
    api: {
      get core() {
        return core;
      },
    },

    config(user) {
      return {
        // the runtime finds its worker with new URL(..., import.meta.url): keep it out of pre-bundling
        optimizeDeps: { exclude: ['webdnn-runtime', 'vite-plugin-webdnn'] },
        // the runtime's wasm worker is an ES module (top-level await); Vite's default worker format is iife
        ...(user.worker?.format ? {} : { worker: { format: 'es' } }),
        ...(isolation ? { server: { headers: isolation }, preview: { headers: isolation } } : {}),
      };
    },

    configResolved(resolved) {
      config = resolved;
      core = new WebdnnCore(opts, {
        root: resolved.root,
        cacheDir: path.join(resolved.cacheDir, 'webdnn'),
        log: (msg) => resolved.logger.info(`[webdnn] ${msg}`, { timestamp: true }),
      });
    },

    configureServer(server) {
      isolate(server);
      server.middlewares.use(async (req, res, next) => {
        const url = req.url ?? '';
        const at = url.indexOf(`/${DEV_PREFIX}`);
        if (at < 0) return next();
        const [key, ...rest] = decodeURIComponent(url.slice(at + DEV_PREFIX.length + 1).split('?')[0]).split('/');
        const build = served.get(key);
        const bytes = build ? await readBundleFile(build, rest.join('/')).catch(() => null) : null;
        if (!bytes) return next();
        res.setHeader('Content-Type', CONTENT_TYPES[path.extname(rest.at(-1))] ?? 'application/octet-stream');
        res.setHeader('Content-Length', bytes.byteLength);
        res.setHeader('Cache-Control', 'no-cache');
        if (isolation) setHeaders(res, isolation);
        res.end(bytes);
      });
    },

    configurePreviewServer(server) {
      isolate(server);
    },

    resolveId(id) {
      if (id === HELPER_ID) return MODEL_HELPER;
      return null;
    },

    async load(id) {
      const model = modelOf(id);
      if (!model) return null;
      let build;
      try {
        build = await core.build(model.file, model.query);
      } catch (e) {
        const err = bundlerError(e, model.file, config.root);
        err.plugin ??= NAME;
        throw err;
      } finally {
        // watch even a model that failed: fixing it must rebuild
        this.addWatchFile(model.file);
      }
      for (const f of build.watchFiles) this.addWatchFile(f);
      // the bundle's sizes, once per compiled bundle (quiet when the cache had it): src/sizes.js
      if (build.sizeTable) config.logger.info(`[webdnn] ${build.sizeTable}`, { timestamp: true });

      let url;
      if (config.command === 'build') {
        const stem = path.basename(model.file).replace(/\.onnx$/i, '');
        const refs = {};
        for (const rel of build.files) {
          refs[rel] = this.emitFile({
            type: 'asset',
            name: `${stem}.${rel.replaceAll('/', '.')}`,
            source: await readBundleFile(build, rel),
          });
        }
        url = (rel) => `import.meta.ROLLUP_FILE_URL_${refs[rel]}`;
      } else {
        served.set(build.key, build);
        const base = config.base.startsWith('/') ? config.base : '/';
        url = (rel) => jsLiteral(`${base}${DEV_PREFIX}${build.key}/${rel.split('/').map(encodeURIComponent).join('/')}`);
      }
      return {
        code: moduleCode(build, { helper: HELPER_ID, url, hot: config.command !== 'build' }),
        map: { mappings: '' },
        moduleType: 'js',
      };
    },

    handleHotUpdate(ctx) {
      // the generated .d.ts files are ours: never reload for them
      if (ctx.file.endsWith('.onnx.d.ts')) return [];
      const models = core.dependentsOf(ctx.file);
      if (!models.length) return undefined;
      // external data or config changed: the models that read it are stale
      const mods = new Set(ctx.modules);
      for (const m of models) for (const mod of ctx.server.moduleGraph.getModulesByFile(m) ?? []) mods.add(mod);
      return [...mods];
    },
  };
}

export { webdnn };
