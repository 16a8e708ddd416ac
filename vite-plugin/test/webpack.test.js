// The webpack 5 loader (node API): hashed assets referenced through the public path (each weight
// shard its own), the cache (a second compiler run does not invoke the compiler), errors naming
// file/node/op, the size table in the stats' log, and the built app in headless Chromium and Node.
import test from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import webpack from 'webpack';
import { load } from 'webdnn-runtime';
import { assertClose, harness, project, skipReason } from './helpers.js';

const opts = { skip: skipReason ?? false };

function run(dir, loaderOptions, { entry = './main.js' } = {}) {
  const compiler = webpack({
    mode: 'production',
    context: dir,
    entry,
    output: { path: path.join(dir, 'dist'), clean: true },
    module: { rules: [{ test: /\.onnx$/, loader: 'vite-plugin-webdnn/webpack', options: loaderOptions }] },
    infrastructureLogging: { level: 'none' },
    performance: { hints: false },
  });
  return new Promise((resolve, reject) => {
    compiler.run((err, stats) => {
      compiler.close(() => {});
      if (err) reject(err);
      else resolve(stats);
    });
  });
}

test('webpack: hashed assets under webdnn/, referenced by the public path; a second run is a cache hit', opts, async () => {
  const p = project();
  try {
    const stats = await run(p.dir, { compiler: p.compiler, backends: ['js'] });
    assert.equal(stats.hasErrors(), false, stats.toString('errors-only'));
    // (the webgpu backend's optional `import('webgpu')` lacks a webpackIgnore comment: its warning is not ours)
    const warnings = stats.compilation.warnings.filter((w) => !/[\\/]backends[\\/]webgpu[\\/]/.test(w.module?.resource ?? ''));
    assert.deepEqual(warnings.map((w) => w.message), []);
    const dist = path.join(p.dir, 'dist');
    const assets = readdirSync(path.join(dist, 'webdnn'));
    const weights = assets.find((f) => /^classifier\.weights\.000\.[0-9a-f]{16}\.bin$/.test(f));
    const program = assets.find((f) => /^classifier\.js\.program\.[0-9a-f]{16}\.json$/.test(f));
    assert.ok(weights && program, assets.join(', '));
    const main = readFileSync(path.join(dist, 'main.js'), 'utf8');
    assert.ok(main.includes(`webdnn/${weights}`) && main.includes(`webdnn/${program}`));
    assert.equal(p.builds().length, 1);
    // cache in node_modules/.cache/webdnn (no webpack filesystem cache configured)
    assert.equal(readdirSync(path.join(p.dir, 'node_modules', '.cache', 'webdnn')).length, 1);

    const again = await run(p.dir, { compiler: p.compiler, backends: ['js'] });
    assert.equal(again.hasErrors(), false);
    assert.equal(p.builds().length, 1, 'no compiler run for unchanged inputs');
    assert.deepEqual(readdirSync(path.join(dist, 'webdnn')).sort(), assets.sort());
  } finally {
    p.cleanup();
  }
});

test('webpack: the built app runs in headless Chromium and matches onnxruntime', opts, async (t) => {
  const h = await harness();
  if (h.reason) return t.skip(h.reason);
  const p = project();
  try {
    const stats = await run(p.dir, { compiler: p.compiler, backends: ['js'] });
    assert.equal(stats.hasErrors(), false, stats.toString('errors-only'));
    writeFileSync(path.join(p.dir, 'dist', 'index.html'),
      readFileSync(path.join(p.dir, 'index.html'), 'utf8').replace('type="module" src="./main.js"', 'src="./main.js"'));
    const server = await h.serve({ '/': path.join(p.dir, 'dist') });
    const browser = await h.launchChromium({ webgpu: false });
    try {
      const { result, pageErrors } = await h.runPage(browser, `${server.url}/index.html`, { timeoutMs: 60000 });
      assert.equal(result.error, undefined, `${result.error}\n${pageErrors.join('\n')}`);
      assert.equal(result.backend, 'js');
      assertClose(assert, result.scores, result.expected);
      assert.equal(result.progress.at(-1).loaded, result.progress.at(-1).total);
    } finally {
      await browser.close();
      await server.close();
    }
  } finally {
    p.cleanup();
  }
});

test('webpack: a broken model is a module build error naming file, node and op; bad options are refused', opts, async () => {
  const p = project();
  try {
    writeFileSync(path.join(p.dir, 'main.js'), "import m from './models/broken.onnx';\nconsole.log(m);\n");
    const stats = await run(p.dir, { compiler: p.compiler, backends: ['js'] });
    assert.equal(stats.hasErrors(), true);
    const text = stats.toString('errors-only');
    assert.match(text, /broken\.onnx/);
    assert.match(text, /ONNX node 'weird_node', op com\.example\.FancyOp/);
    assert.doesNotMatch(text, /at WebdnnCore/, 'no plugin stack trace');

    const bad = await run(p.dir, { compiler: p.compiler, backend: ['js'] });
    assert.match(bad.toString('errors-only'), /the `backend` option does not exist/);
  } finally {
    p.cleanup();
  }
});

test('webpack: a file name with spaces, quotes and $(…) compiles', opts, async () => {
  const p = project();
  try {
    const name = `it's a "model" $(touch PWNED).onnx`;
    const { renameSync, existsSync } = await import('node:fs');
    renameSync(path.join(p.dir, 'models', 'classifier.onnx'), path.join(p.dir, 'models', name));
    writeFileSync(path.join(p.dir, 'main.js'), `import m from ${JSON.stringify(`./models/${name}`)};\nconsole.log(m.inputs);\n`);
    const stats = await run(p.dir, { compiler: p.compiler, backends: ['js'] });
    assert.equal(stats.hasErrors(), false, stats.toString('errors-only'));
    assert.equal(p.builds()[0][1], path.join(p.dir, 'models', name));
    assert.ok(!existsSync(path.join(p.dir, 'PWNED')) && !existsSync(path.join(p.dir, 'models', 'PWNED')));
  } finally {
    p.cleanup();
  }
});

test('webpack: weights in shards, each its own hashed asset in the file map; right outputs in Node and Chromium; the size table in the log', opts, async (t) => {
  const p = project();
  try {
    const main = readFileSync(path.join(p.dir, 'main.js'), 'utf8')
      .replace("'./models/classifier.onnx'", "'./models/wide.onnx'").replace("'./models/expected.json'", "'./models/wide.json'");
    writeFileSync(path.join(p.dir, 'main.js'), main);
    const stats = await run(p.dir, { compiler: p.compiler, backends: ['js'], shardSize: 4096 });
    assert.equal(stats.hasErrors(), false, stats.toString('errors-only'));
    const args = p.builds()[0];
    assert.deepEqual(args.slice(args.indexOf('--shard-size'), args.indexOf('--shard-size') + 2), ['--shard-size', '4096']);
    assert.ok(!args.includes('--deflate') && !args.includes('--no-deflate'));

    const cache = path.join(p.dir, 'node_modules', '.cache', 'webdnn');
    const [key] = readdirSync(cache);
    const manifest = JSON.parse(readFileSync(path.join(cache, key, 'manifest.json'), 'utf8'));
    const shards = manifest.weights.shards;
    assert.ok(shards.length >= 3, `${shards.length} shards`);
    const dist = path.join(p.dir, 'dist');
    const assets = readdirSync(path.join(dist, 'webdnn'));
    const out = readFileSync(path.join(dist, 'main.js'), 'utf8');
    const files = {};
    for (const rel of [...shards.map((s) => s.file), 'js/program.json']) {
      const m = new RegExp(`"${rel.replaceAll('.', '\\.')}"\\s*:[^,}]*?"(webdnn/[^"]+)"`).exec(out);
      assert.ok(m, `the module's file map lists ${rel}`);
      files[rel] = path.join(dist, m[1]);
    }
    for (const { file } of shards) {
      const n = file.slice('weights/'.length, -'.bin'.length);
      const emitted = assets.filter((f) => new RegExp(`^wide\\.weights\\.${n}\\.[0-9a-f]{16}\\.bin$`).test(f));
      assert.equal(emitted.length, 1, `${file} emitted once under a hashed name: ${assets.join(', ')}`);
      assert.equal(files[file], path.join(dist, 'webdnn', emitted[0]));
      assert.deepEqual(readFileSync(files[file]), readFileSync(path.join(cache, key, file)), file);
    }
    assert.equal(assets.filter((f) => f.endsWith('.bin')).length, shards.length);

    const expected = JSON.parse(readFileSync(path.join(p.dir, 'models', 'wide.json'), 'utf8'));
    const runner = await load({ manifest, files }, { backends: ['js'] });
    try {
      assertClose(assert, Array.from((await runner.run({ pixels: new Float32Array(expected.pixels) })).scores.data), expected.scores);
    } finally {
      runner.dispose();
    }

    // the size table: in the stats' log (what webpack-cli prints), once
    const log = stats.toString({ all: false, logging: 'info' });
    assert.equal(log.split('models/wide.onnx: ').length - 1, 1, log);
    assert.match(log, new RegExp(`models/wide\\.onnx: ${shards.length} weight shards\\n`));
    assert.match(log, /part +float32 +stored +gzip +brotli +files\n.*weights +12\.48 kB +12\.48 kB +[\d.]+ kB +[\d.]+ kB +\d+\n.*js +- +/);
    // a cache hit: quiet
    const again = await run(p.dir, { compiler: p.compiler, backends: ['js'], shardSize: '4KiB' });
    assert.equal(p.builds().length, 1);
    assert.doesNotMatch(again.toString({ all: false, logging: 'info' }), /weight shard/);

    const h = await harness();
    if (h.reason) return t.skip(h.reason);
    writeFileSync(path.join(dist, 'index.html'),
      readFileSync(path.join(p.dir, 'index.html'), 'utf8').replace('type="module" src="./main.js"', 'src="./main.js"'));
    const server = await h.serve({ '/': dist });
    const browser = await h.launchChromium({ webgpu: false });
    try {
      const { result, pageErrors } = await h.runPage(browser, `${server.url}/index.html`, { timeoutMs: 60000 });
      assert.equal(result.error, undefined, `${result.error}\n${pageErrors.join('\n')}`);
      assert.equal(result.backend, 'js');
      assertClose(assert, result.scores, result.expected);
      for (const { file } of shards) {
        assert.ok(server.requests.some((r) => r.endsWith(`/${path.relative(dist, files[file])}`)), `${file} fetched: ${server.requests.join(' ')}`);
      }
    } finally {
      await browser.close();
      await server.close();
    }
  } finally {
    p.cleanup();
  }
});
