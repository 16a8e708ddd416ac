// vite build(): hashed assets (each weight shard its own), cache hits, per-model options, file names
// a shell would mangle, errors, the size table in the log, and the built app in headless Chromium and
// in Node (outputs compared with onnxruntime).
import test from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync, cpSync, renameSync } from 'node:fs';
import path from 'node:path';
import { build, createLogger } from 'vite';
import webdnn from 'vite-plugin-webdnn';
import { load } from 'webdnn-runtime';
import { assertClose, harness, project, skipOrFail, skipReason } from './helpers.js';

const opts = { skip: skipReason ?? false };

/** A Vite logger that keeps what it is given (`lines`) and prints nothing. */
function recordingLogger() {
  const logger = createLogger('info');
  const lines = [];
  for (const level of ['info', 'warn', 'warnOnce', 'error']) logger[level] = (msg) => lines.push(String(msg));
  return { logger, lines };
}

async function viteBuild(dir, pluginOptions, extra = {}) {
  const plugin = webdnn(pluginOptions);
  await build({ root: dir, configFile: false, logLevel: 'silent', plugins: [plugin], ...extra });
  return plugin;
}

const jsOf = (dist) => readdirSync(path.join(dist, 'assets')).filter((f) => f.endsWith('.js'))
  .map((f) => readFileSync(path.join(dist, 'assets', f), 'utf8')).join('\n');

test('build emits the bundle files as hashed assets that the JS refers to; a second build is a cache hit', opts, async () => {
  const p = project();
  try {
    const plugin = await viteBuild(p.dir, { compiler: p.compiler, backends: ['js'] });
    assert.deepEqual(plugin.api.core.stats, { builds: 1, cacheHits: 0 });
    assert.equal(p.builds().length, 1);
    const dist = path.join(p.dir, 'dist');
    const assets = readdirSync(path.join(dist, 'assets'));
    const weights = assets.find((f) => /^classifier\.weights\.000-[\w-]{8}\.bin$/.test(f));
    const program = assets.find((f) => /^classifier\.js\.program-[\w-]{8}\.json$/.test(f));
    assert.ok(weights && program, `assets: ${assets.join(', ')}`);
    const js = jsOf(dist);
    assert.ok(js.includes(`/assets/${weights}`), 'the JS names the hashed weights URL');
    assert.ok(js.includes(`/assets/${program}`), 'the JS names the hashed program URL');
    assert.ok(!js.includes('node_modules/.vite'), 'no cache path leaks into the build');
    // the weights are the compiler's, byte for byte
    const cached = path.join(p.dir, 'node_modules', '.vite', 'webdnn');
    const [key] = readdirSync(cached);
    assert.deepEqual(readFileSync(path.join(dist, 'assets', weights)), readFileSync(path.join(cached, key, 'weights', '000.bin')));
    // the .d.ts next to the model
    const dts = readFileSync(path.join(p.dir, 'models', 'classifier.onnx.d.ts'), 'utf8');
    assert.match(dts, /"pixels": "float32"/);
    assert.match(dts, /"scores": "float32"/);

    // unchanged inputs, a new plugin instance (nothing in memory): no compiler run
    const again = await viteBuild(p.dir, { compiler: p.compiler, backends: ['js'] });
    assert.deepEqual(again.api.core.stats, { builds: 0, cacheHits: 1 });
    assert.equal(p.builds().length, 1);
    // other options are another cache entry
    const other = await viteBuild(p.dir, { compiler: p.compiler, backends: ['js'], inputShapes: { pixels: [1, 1, 4, 4] } });
    assert.deepEqual(other.api.core.stats, { builds: 1, cacheHits: 0 });
    assert.deepEqual(p.builds()[1].slice(-2), ['--input-shape', 'pixels=1,1,4,4']);
  } finally {
    p.cleanup();
  }
});

test('the built app runs in headless Chromium and matches onnxruntime', opts, async (t) => {
  const h = await harness();
  if (h.reason) return t.skip(h.reason);
  const p = project();
  try {
    await viteBuild(p.dir, { compiler: p.compiler, backends: ['js'] });
    const server = await h.serve({ '/': path.join(p.dir, 'dist') });
    const browser = await h.launchChromium({ webgpu: false });
    try {
      const { result, pageErrors } = await h.runPage(browser, `${server.url}/index.html`, { timeoutMs: 60000 });
      assert.equal(result.error, undefined, `${result.error}\n${pageErrors.join('\n')}`);
      assert.equal(result.before.backend, null, 'model.backend is null before loading');
      assert.deepEqual(result.before.inputs, [{ name: 'pixels', shape: [1, 1, 4, 4], dtype: 'float32' }]);
      assert.equal(result.backend, 'js');
      assertClose(assert, result.scores, result.expected);
      assert.ok(result.progress.length >= 1);
      const last = result.progress.at(-1);
      assert.equal(last.loaded, last.total);
      assert.ok(last.total > 0);
      // only hashed files were fetched for the model
      assert.ok(server.requests.some((r) => /\/assets\/classifier\.weights\.000-[\w-]+\.bin$/.test(r)), server.requests.join(' '));
    } finally {
      await browser.close();
      await server.close();
    }
  } finally {
    p.cleanup();
  }
});

test('per-model options: import query over plugin `models` over config', opts, async () => {
  const p = project();
  try {
    writeFileSync(path.join(p.dir, 'webdnn.toml'), '[[models]]\npath = "models/classifier.onnx"\nbackends = ["nope"]\n');
    writeFileSync(path.join(p.dir, 'main.js'), "import a from './models/classifier.onnx?backends=js&shape=pixels:1,1,4,4';\nconsole.log(a);\n");
    await viteBuild(p.dir, { compiler: p.compiler, models: { 'models/classifier.onnx': { backends: ['wasm'] } } });
    const [args] = p.builds();
    assert.deepEqual(args.slice(args.indexOf('--backends'), args.indexOf('--backends') + 2), ['--backends', 'js']);
    assert.deepEqual(args.slice(-2), ['--input-shape', 'pixels=1,1,4,4']);

    // without the query, the plugin's `models` entry wins over the config
    writeFileSync(path.join(p.dir, 'main.js'), "import a from './models/classifier.onnx';\nconsole.log(a);\n");
    await viteBuild(p.dir, { compiler: p.compiler, models: { 'models/classifier.onnx': { backends: ['js'] } } });
    const second = p.builds()[1];
    assert.deepEqual(second.slice(second.indexOf('--backends')), ['--backends', 'js']);
    // and the config applies when nothing overrides it (its backend does not exist: the compiler says so)
    await assert.rejects(viteBuild(p.dir, { compiler: p.compiler }), /unknown backend\(s\) nope/);
  } finally {
    p.cleanup();
  }
});

test("a model file named with spaces, quotes and $(…) compiles (no shell anywhere)", opts, async () => {
  const p = project();
  try {
    const name = `it's a "model" $(touch PWNED) \`touch PWNED2\`.onnx`;
    renameSync(path.join(p.dir, 'models', 'classifier.onnx'), path.join(p.dir, 'models', name));
    writeFileSync(path.join(p.dir, 'main.js'), `import m from ${JSON.stringify(`./models/${name}`)};\nconsole.log(m.inputs);\n`);
    await viteBuild(p.dir, { compiler: p.compiler, backends: ['js'] });
    const [args] = p.builds();
    assert.equal(args[1], path.join(p.dir, 'models', name));
    for (const dir of [p.dir, path.join(p.dir, 'models'), process.cwd()]) {
      assert.ok(!existsSync(path.join(dir, 'PWNED')) && !existsSync(path.join(dir, 'PWNED2')), `a shell ran in ${dir}`);
    }
    assert.ok(existsSync(path.join(p.dir, 'models', `${name}.d.ts`)));
    assert.ok(readdirSync(path.join(p.dir, 'dist', 'assets')).some((f) => f.endsWith('.bin')));
  } finally {
    p.cleanup();
  }
});

test('a broken model fails the build naming the file, the ONNX node and its op', opts, async () => {
  const p = project();
  try {
    writeFileSync(path.join(p.dir, 'main.js'), "import m from './models/broken.onnx';\nconsole.log(m);\n");
    await assert.rejects(viteBuild(p.dir, { compiler: p.compiler, backends: ['js'] }), (e) => {
      const text = String(e.message) + JSON.stringify(e.errors ?? '');
      assert.match(text, /broken\.onnx/);
      assert.match(text, /weird_node/);
      assert.match(text, /com\.example\.FancyOp/);
      return true;
    });
  } finally {
    p.cleanup();
  }
});

test('strict options: an unknown option or query parameter is refused by name', opts, () => {
  assert.throws(() => webdnn({ backend: ['js'] }), /the `backend` option does not exist/);
  assert.throws(() => webdnn({ backends: 'js' }), /`backends` must be a non-empty array of strings/);
  assert.throws(() => webdnn({ models: { 'a.onnx': { shape: [1] } } }), /the `shape` option does not exist/);
});

test('wasm assets are emitted too when the wasm backend builds', opts, async (t) => {
  const p = project();
  try {
    let plugin;
    try {
      plugin = await viteBuild(p.dir, { compiler: p.compiler, backends: ['wasm', 'js'] });
    } catch (e) {
      return skipOrFail(t, `the wasm backend does not build here: ${String(e.message).split('\n')[0]}`);
    }
    assert.equal(plugin.api.core.stats.builds, 1);
    const assets = readdirSync(path.join(p.dir, 'dist', 'assets'));
    const wasm = assets.filter((f) => f.endsWith('.wasm'));
    assert.ok(wasm.length >= 1, assets.join(', '));
    const js = jsOf(path.join(p.dir, 'dist'));
    for (const f of wasm) assert.ok(js.includes(`/assets/${f}`), `${f} is referenced`);

    // in Chromium, cross-origin isolated: wasm with threads (the runtime's worker survives bundling)
    const h = await harness();
    if (h.reason) return t.skip(h.reason);
    const server = await h.serve({ '/': path.join(p.dir, 'dist') }, { isolate: true });
    const browser = await h.launchChromium({ webgpu: false });
    try {
      const { result, pageErrors } = await h.runPage(browser, `${server.url}/index.html`, { timeoutMs: 60000 });
      assert.equal(result.error, undefined, `${result.error}\n${pageErrors.join('\n')}`);
      assert.equal(result.backend, 'wasm');
      assert.equal(result.crossOriginIsolated, true);
      assertClose(assert, result.scores, result.expected);
    } finally {
      await browser.close();
      await server.close();
    }
  } finally {
    p.cleanup();
  }
});

/** The wide model's app: fixtures/app/main.js on models/wide.onnx and its onnxruntime outputs. */
function wideApp(dir) {
  const main = readFileSync(path.join(dir, 'main.js'), 'utf8')
    .replace("'./models/classifier.onnx'", "'./models/wide.onnx'").replace("'./models/expected.json'", "'./models/wide.json'");
  writeFileSync(path.join(dir, 'main.js'), main);
}

/** bundle-relative path -> the URL the built JS gives it, for each of `rels` (the generated module's file map). */
function fileMap(js, rels) {
  const out = {};
  for (const rel of rels) {
    // (minifiers quote with " or `; the inlined manifest names the files too, with their digests)
    const m = new RegExp(`["\`]${rel.replaceAll('.', '\\.')}["\`]\\s*:[^,}]*?["\`]([^"\`]*/assets/[^"\`]+)["\`]`).exec(js);
    assert.ok(m, `the module's file map lists ${rel}`);
    out[rel] = m[1];
  }
  return out;
}

test('weights in shards: each shard its own hashed asset, all in the file map; right outputs in Node and Chromium; the size table', opts, async (t) => {
  const p = project();
  try {
    wideApp(p.dir);
    const { logger, lines } = recordingLogger();
    const plugin = await viteBuild(p.dir, { compiler: p.compiler, backends: ['js'], shardSize: '4KiB', deflate: true }, { customLogger: logger });
    assert.deepEqual(plugin.api.core.stats, { builds: 1, cacheHits: 0 });
    const args = p.builds()[0];
    assert.deepEqual(args.slice(args.indexOf('--shard-size'), args.indexOf('--shard-size') + 3), ['--shard-size', '4096', '--deflate']);

    const cached = path.join(p.dir, 'node_modules', '.vite', 'webdnn');
    const [key] = readdirSync(cached);
    const manifest = JSON.parse(readFileSync(path.join(cached, key, 'manifest.json'), 'utf8'));
    const shards = manifest.weights.shards;
    assert.ok(shards.length >= 3, `${shards.length} shards`);
    assert.ok(shards.some((s) => s.encoding === 'deflate'), 'some shards are stored deflated');

    const dist = path.join(p.dir, 'dist');
    const assets = readdirSync(path.join(dist, 'assets'));
    const js = jsOf(dist);
    const urls = fileMap(js, [...shards.map((s) => s.file), 'js/program.json']);
    for (const { file } of shards) {
      const n = file.slice('weights/'.length, -'.bin'.length);
      const emitted = assets.filter((f) => new RegExp(`^wide\\.weights\\.${n}-[\\w-]{8}\\.bin$`).test(f));
      assert.equal(emitted.length, 1, `${file} emitted once under a hashed name: ${assets.join(', ')}`);
      assert.ok(urls[file].endsWith(`/assets/${emitted[0]}`), `${file} -> ${urls[file]}`);
      assert.deepEqual(readFileSync(path.join(dist, 'assets', emitted[0])), readFileSync(path.join(cached, key, file)), file);
    }
    assert.equal(assets.filter((f) => f.endsWith('.bin')).length, shards.length, 'no other weight files');

    // the emitted files, as the module maps them, load in Node and give onnxruntime's outputs (every shard's digest checked)
    const expected = JSON.parse(readFileSync(path.join(p.dir, 'models', 'wide.json'), 'utf8'));
    const files = Object.fromEntries(Object.entries(urls).map(([rel, url]) => [rel, path.join(dist, url.replace(/^.*\/assets\//, 'assets/'))]));
    const runner = await load({ manifest, files }, { backends: ['js'] });
    try {
      const out = await runner.run({ pixels: new Float32Array(expected.pixels) });
      assertClose(assert, Array.from(out.scores.data), expected.scores);
    } finally {
      runner.dispose();
    }

    // the size table, once, through Vite's logger
    const tables = lines.filter((l) => l.includes('[webdnn] models/wide.onnx:'));
    assert.equal(tables.length, 1, lines.join('\n'));
    const deflated = shards.filter((s) => s.encoding === 'deflate').length;
    assert.match(tables[0], new RegExp(`models/wide\\.onnx: ${shards.length} weight shards \\(${deflated} deflated\\)\\n`));
    assert.match(tables[0], /\n {2}part +float32 +stored +gzip +brotli +files\n {2}weights +12\.48 kB +[\d.]+ kB +[\d.]+ kB +[\d.]+ kB +\d+\n {2}js +- +/);
    const stored = shards.reduce((n, s) => n + (s.storedLength ?? s.byteLength), 0);
    assert.ok(tables[0].includes(` ${(stored / 1000).toFixed(2)} kB `), `stored ${stored} in ${tables[0]}`);

    // a cache hit: quiet
    const again = recordingLogger();
    await viteBuild(p.dir, { compiler: p.compiler, backends: ['js'], shardSize: 4096, deflate: true }, { customLogger: again.logger });
    assert.equal(p.builds().length, 1);
    assert.deepEqual(again.lines.filter((l) => l.includes('[webdnn]')), []);

    const h = await harness();
    if (h.reason) return t.skip(h.reason);
    const server = await h.serve({ '/': dist });
    const browser = await h.launchChromium({ webgpu: false });
    try {
      const { result, pageErrors } = await h.runPage(browser, `${server.url}/index.html`, { timeoutMs: 60000 });
      assert.equal(result.error, undefined, `${result.error}\n${pageErrors.join('\n')}`);
      assert.equal(result.backend, 'js');
      assertClose(assert, result.scores, result.expected);
      for (const { file } of shards) {
        const n = file.slice('weights/'.length, -'.bin'.length);
        assert.ok(server.requests.some((r) => new RegExp(`/assets/wide\\.weights\\.${n}-[\\w-]{8}\\.bin$`).test(r)), `${file} fetched: ${server.requests.join(' ')}`);
      }
    } finally {
      await browser.close();
      await server.close();
    }
  } finally {
    p.cleanup();
  }
});
