// vite-plugin-webdnn/webpack: the webpack 5 loader. Same core as the Vite plugin.
//
//   module: { rules: [{ test: /\.onnx$/, loader: 'vite-plugin-webdnn/webpack', options: { backends: ['wasm', 'js'] } }] }
//
// Every bundle file but manifest.json is emitted as a hashed asset (this.emitFile) under
// webdnn/, referred to through __webpack_public_path__; the model, its external data and the
// config are build dependencies (watched). The cache lives in webpack's filesystem cache folder
// when there is one, else in node_modules/.cache/webdnn. After compiling a model, its size table
// goes to the loader's logger (the stats' "LOG from" section).

import { createHash } from 'node:crypto';
import path from 'node:path';
import { WebdnnCore, MODEL_HELPER, bundlerError, moduleCode, readBundleFile } from './core.js';
import { PluginError, validateOptions } from './options.js';
import { jsLiteral } from './escape.js';

const NAME = 'vite-plugin-webdnn/webpack';

/** One core per webpack compiler and option set (so concurrent imports of a model compile once). */
const cores = new WeakMap();

function coreFor(loader, options) {
  const compiler = loader._compiler ?? loader;
  let byOptions = cores.get(compiler);
  if (!byOptions) cores.set(compiler, (byOptions = new Map()));
  const id = JSON.stringify(options);
  let core = byOptions.get(id);
  if (!core) {
    const root = loader.rootContext ?? compiler.context ?? process.cwd();
    const cache = compiler.options?.cache;
    const cacheDir = cache && cache.type === 'filesystem' && cache.cacheDirectory
      ? path.join(cache.cacheDirectory, 'webdnn')
      : path.join(root, 'node_modules', '.cache', 'webdnn');
    const logger = loader.getLogger ? loader.getLogger('webdnn') : null;
    core = new WebdnnCore(options, { root, cacheDir, log: (msg) => logger?.info(msg) });
    byOptions.set(id, core);
  }
  return core;
}

/** The webpack loader. */
export default function webdnnLoader() {
  const callback = this.async();
  const file = this.resourcePath;
  let options;
  let core;
  try {
    options = validateOptions(this.getOptions(), NAME);
    if (options.crossOriginIsolation !== undefined) {
      throw new PluginError(`${NAME}: the \`crossOriginIsolation\` option applies to the Vite dev server only; ` +
        "for webpack-dev-server set devServer.headers (see the plugin's README)");
    }
    core = coreFor(this, options);
  } catch (e) {
    callback(e);
    return;
  }
  this.addDependency(file);
  core.build(file, this.resourceQuery ?? '').then(async (build) => {
    for (const f of build.watchFiles) this.addDependency(f);
    // the bundle's sizes, once per compiled bundle (quiet when the cache had it): in the stats' log
    if (build.sizeTable) this.getLogger?.('webdnn').info(build.sizeTable);
    const stem = path.basename(file).replace(/\.onnx$/i, '');
    const names = {};
    for (const rel of build.files) {
      const bytes = await readBundleFile(build, rel);
      const hash = createHash('sha256').update(bytes).digest('hex').slice(0, 16);
      const ext = path.extname(rel);
      const name = `webdnn/${stem}.${rel.slice(0, rel.length - ext.length).replaceAll('/', '.')}.${hash}${ext}`;
      this.emitFile(name, bytes, undefined, { immutable: true, sourceFilename: path.relative(this.rootContext, file) });
      names[rel] = name;
    }
    const code = moduleCode(build, {
      helper: MODEL_HELPER,
      url: (rel) => `__webpack_public_path__ + ${jsLiteral(names[rel])}`,
      hot: false,
    });
    callback(null, code);
  }, (e) => callback(bundlerError(e, file, this.rootContext ?? process.cwd())));
}

/** The loader reads the model as bytes (it passes the path to the compiler; the bytes are not decoded). */
export const raw = true;
