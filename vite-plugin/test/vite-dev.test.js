// The Vite dev server: bundle files (every weight shard) served from the cache, the size table once
// per compiled bundle, a model edit (or its external data)
// rebuilds and reaches the client as an HMR update, a broken model reaches the error overlay
// (file, node, op) while the server keeps serving, and the app runs in headless Chromium with
// cross-origin isolation from the `crossOriginIsolation` option.
import test from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createLogger, createServer } from 'vite';
import webdnn from 'vite-plugin-webdnn';
import { load } from 'webdnn-runtime';
import { assertClose, harness, models, project, replaceModels, skipReason, until } from './helpers.js';

const opts = { skip: skipReason ?? false };

/** A dev server on 127.0.0.1 recording what it sends to clients (HMR updates, errors). */
async function devServer(dir, pluginOptions, extra = {}) {
  const plugin = webdnn(pluginOptions);
  const server = await createServer({
    root: dir, configFile: false, logLevel: 'silent', plugins: [plugin],
    server: { host: '127.0.0.1', port: 0, strictPort: false },
    ...extra,
  });
  const sent = [];
  const hot = server.environments?.client?.hot ?? server.ws;
  const send = hot.send.bind(hot);
  hot.send = (...args) => {
    sent.push(typeof args[0] === 'string' ? { type: 'custom', event: args[0], data: args[1] } : args[0]);
    return send(...args);
  };
  await server.listen();
  const url = server.resolvedUrls.local[0].replace(/\/$/, '');
  return { server, plugin, sent, url, core: () => plugin.api.core };
}

const keyOf = (code) => /@webdnn\/([0-9a-f]+)\//.exec(code)?.[1];

test('dev: files come from the cache; editing the model rebuilds and sends an HMR update', opts, async () => {
  const p = project();
  const dev = await devServer(p.dir, { compiler: p.compiler, backends: ['js'] });
  try {
    await dev.server.transformRequest('/main.js');
    const res = await fetch(`${dev.url}/models/classifier.onnx?import`);
    assert.equal(res.status, 200);
    const code = await res.text();
    const key = keyOf(code);
    assert.ok(key, code);
    const weights = await fetch(`${dev.url}/@webdnn/${key}/weights/000.bin`);
    assert.equal(weights.status, 200);
    assert.ok((await weights.arrayBuffer()).byteLength > 0);
    assert.notEqual((await fetch(`${dev.url}/@webdnn/${key}/%2e%2e/%2e%2e/package.json`)).headers.get('content-type'), 'application/octet-stream');
    assert.notEqual((await fetch(`${dev.url}/@webdnn/${'0'.repeat(32)}/weights/000.bin`)).headers.get('content-type'), 'application/octet-stream');
    assert.equal(p.builds().length, 1);

    const mod = await dev.server.moduleGraph.getModuleByUrl('/models/classifier.onnx');
    assert.ok(mod?.importers.size, 'main.js imports the model');
    replaceModels(p.dir, 1);
    const update = await until(() => dev.sent.find((m) => m.type === 'update' || m.type === 'full-reload'), 15000, 'an HMR message');
    if (update.type === 'update') assert.ok(update.updates.length > 0);
    const changed = await until(() => dev.server.transformRequest('/models/classifier.onnx?import')
      .then((r) => keyOf(r.code) !== key && r.code), 15000, 'a rebuilt module');
    assert.ok(keyOf(changed));
    assert.equal(p.builds().length, 2, 'the edit ran the compiler once more');
  } finally {
    await dev.server.close();
    p.cleanup();
  }
});

test('dev: editing a model\'s external data rebuilds the model', opts, async () => {
  const p = project();
  writeFileSync(`${p.dir}/main.js`, "import m from './models/external.onnx';\nconsole.log(m);\n");
  const dev = await devServer(p.dir, { compiler: p.compiler, backends: ['js'] });
  try {
    await dev.server.transformRequest('/main.js');
    const first = keyOf((await dev.server.transformRequest('/models/external.onnx')).code);
    assert.ok(first);
    cpSync(path.join(models(1), 'external.onnx.data'), path.join(p.dir, 'models', 'external.onnx.data'));
    await until(() => dev.sent.find((m) => m.type === 'update' || m.type === 'full-reload'), 15000, 'an HMR message');
    const second = await until(async () => {
      const k = keyOf((await dev.server.transformRequest('/models/external.onnx')).code);
      return k !== first && k;
    }, 15000, 'a rebuilt module');
    assert.notEqual(second, first);
    assert.equal(p.builds().length, 2);
  } finally {
    await dev.server.close();
    p.cleanup();
  }
});

test('dev: a broken model is an overlay error naming file, node and op; the server keeps running', opts, async () => {
  const p = project();
  const dev = await devServer(p.dir, { compiler: p.compiler, backends: ['js'] });
  try {
    const res = await fetch(`${dev.url}/models/broken.onnx?import`);
    assert.equal(res.status, 500);
    const error = await until(() => dev.sent.find((m) => m.type === 'error'), 5000, 'an error payload');
    assert.match(error.err.message, /broken\.onnx/);
    assert.match(error.err.message, /ONNX node 'weird_node', op com\.example\.FancyOp/);
    assert.match(error.err.id, /broken\.onnx$/);
    assert.match(error.err.frame, /node:\s+'weird_node'/);
    assert.equal(error.err.plugin, 'vite-plugin-webdnn');
    // still serving
    assert.equal((await fetch(`${dev.url}/models/classifier.onnx?import`)).status, 200);
    // fixing the model (same path) rebuilds it
    cpSync(path.join(p.dir, 'models', 'classifier.onnx'), path.join(p.dir, 'models', 'broken.onnx'));
    await until(async () => (await fetch(`${dev.url}/models/broken.onnx?import`)).status === 200, 15000, 'the fixed model');
  } finally {
    await dev.server.close();
    p.cleanup();
  }
});

test('dev: the app runs in headless Chromium, cross-origin isolated with crossOriginIsolation: true', opts, async (t) => {
  const h = await harness();
  if (h.reason) return t.skip(h.reason);
  const p = project();
  const dev = await devServer(p.dir, { compiler: p.compiler, backends: ['js'], crossOriginIsolation: true });
  const browser = await h.launchChromium({ webgpu: false });
  try {
    const { result, pageErrors } = await h.runPage(browser, `${dev.url}/index.html`, { timeoutMs: 60000 });
    assert.equal(result.error, undefined, `${result.error}\n${pageErrors.join('\n')}`);
    assert.equal(result.backend, 'js');
    assert.equal(result.crossOriginIsolated, true);
    assertClose(assert, result.scores, result.expected);

    // the overlay shows a broken model's node and op
    writeFileSync(path.join(p.dir, 'broken.html'), '<!doctype html><script type="module">import m from "./models/broken.onnx"; console.log(m);</script>');
    const page = await browser.newPage();
    await page.goto(`${dev.url}/broken.html`);
    const overlay = await page.waitForFunction(() => {
      const el = document.querySelector('vite-error-overlay');
      return el && el.shadowRoot && el.shadowRoot.textContent;
    }, null, { timeout: 30000 });
    const text = await overlay.jsonValue();
    assert.match(text, /weird_node/);
    assert.match(text, /com\.example\.FancyOp/);
    assert.match(text, /broken\.onnx/);
    await page.close();
  } finally {
    await browser.close();
    await dev.server.close();
    p.cleanup();
  }
});

test('dev: every weight shard is served from the cache, the model loads over HTTP; the size table once per compiled bundle', opts, async () => {
  const p = project();
  writeFileSync(path.join(p.dir, 'main.js'), "import m from './models/wide.onnx';\nconsole.log(m);\n");
  const logger = createLogger('info');
  const lines = [];
  for (const level of ['info', 'warn', 'warnOnce', 'error']) logger[level] = (msg) => lines.push(String(msg));
  const dev = await devServer(p.dir, { compiler: p.compiler, backends: ['js'], shardSize: '4KiB', deflate: false }, { customLogger: logger });
  try {
    const code = (await dev.server.transformRequest('/models/wide.onnx')).code;
    const key = keyOf(code);
    const dir = path.join(p.dir, 'node_modules', '.vite', 'webdnn', key);
    const manifest = JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
    const shards = manifest.weights.shards;
    assert.ok(shards.length >= 3, `${shards.length} shards`);
    assert.ok(shards.every((s) => s.encoding === undefined), 'deflate: false');
    const files = {};
    for (const rel of [...shards.map((s) => s.file), 'js/program.json']) {
      const url = `/@webdnn/${key}/${rel}`;
      assert.ok(code.includes(`${JSON.stringify(rel)}: ${JSON.stringify(url)}`), `the module maps ${rel} to ${url}`);
      files[rel] = `${dev.url}${url}`;
    }
    for (const { file } of shards) {
      const res = await fetch(files[file]);
      assert.equal(res.status, 200, file);
      assert.equal(res.headers.get('content-type'), 'application/octet-stream');
      assert.deepEqual(Buffer.from(await res.arrayBuffer()), readFileSync(path.join(dir, file)), file);
    }
    const expected = JSON.parse(readFileSync(path.join(p.dir, 'models', 'wide.json'), 'utf8'));
    const runner = await load({ manifest, files }, { backends: ['js'] });
    try {
      assertClose(assert, Array.from((await runner.run({ pixels: new Float32Array(expected.pixels) })).scores.data), expected.scores);
    } finally {
      runner.dispose();
    }

    const tables = () => lines.filter((l) => l.includes('[webdnn] models/wide.onnx: '));
    assert.equal(tables().length, 1, lines.join('\n'));
    assert.match(tables()[0], new RegExp(`wide\\.onnx: ${shards.length} weight shards\\n {2}part +float32 +stored`));
    // the module requested again (a page reload): the same bundle, quiet
    dev.server.moduleGraph.invalidateAll();
    assert.equal(keyOf((await dev.server.transformRequest('/models/wide.onnx')).code), key);
    assert.equal(tables().length, 1);
    assert.equal(p.builds().length, 1);
  } finally {
    await dev.server.close();
    p.cleanup();
  }
});
