// vite build(): hashed assets, cache hits, per-model options, file names a shell would mangle,
// errors, and the built app in headless Chromium (outputs compared with onnxruntime).
import test from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync, cpSync, renameSync } from 'node:fs';
import path from 'node:path';
import { build } from 'vite';
import webdnn from 'vite-plugin-webdnn';
import { assertClose, harness, project, skipOrFail, skipReason } from './helpers.js';

const opts = { skip: skipReason ?? false };

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
    const weights = assets.find((f) => /^classifier\.weights-[\w-]{8}\.bin$/.test(f));
    const program = assets.find((f) => /^classifier\.js\.program-[\w-]{8}\.json$/.test(f));
    assert.ok(weights && program, `assets: ${assets.join(', ')}`);
    const js = jsOf(dist);
    assert.ok(js.includes(`/assets/${weights}`), 'the JS names the hashed weights URL');
    assert.ok(js.includes(`/assets/${program}`), 'the JS names the hashed program URL');
    assert.ok(!js.includes('node_modules/.vite'), 'no cache path leaks into the build');
    // the weights are the compiler's, byte for byte
    const cached = path.join(p.dir, 'node_modules', '.vite', 'webdnn');
    const [key] = readdirSync(cached);
    assert.deepEqual(readFileSync(path.join(dist, 'assets', weights)), readFileSync(path.join(cached, key, 'weights.bin')));
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
      assert.ok(server.requests.some((r) => /\/assets\/classifier\.weights-[\w-]+\.bin$/.test(r)), server.requests.join(' '));
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
