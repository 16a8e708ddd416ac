// The built app on every backend in headless Chromium, and the fallback chain: fixture projects
// (fixtures/backends) built for ['webgpu', 'wasm', 'js'] with Vite build(), served by Vite's
// createServer(), and bundled by webpack 5, then loaded in Debian's Chromium (playwright-core,
// tests/browser/harness.mjs; --enable-unsafe-webgpu, WebGPU on SwiftShader):
//
//   - as is                                  -> webgpu, fallbackLog []
//   - navigator.gpu removed                  -> wasm, fallbackLog names webgpu and why
//   - navigator.gpu and WebAssembly removed  -> js, fallbackLog names webgpu and wasm and why
//
// Outputs are compared with onnxruntime's (fixtures/make_models.py writes expected.json): float32
// softmax scores, |actual - expected| <= atol + rtol * |expected| with atol 1e-6, rtol 1e-5 on wasm
// and js, and atol 1e-5, rtol 1e-4 on webgpu (GPU exp/accumulation order differ from the CPU's).
// Skips with the reason when the compiler, Chromium or playwright-core is missing, or when
// Chromium gives no WebGPU adapter (only the webgpu case then).
import test from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { build, createServer } from 'vite';
import webpack from 'webpack';
import webdnn from 'vite-plugin-webdnn';
import { harness, project, skipOrFail, skipReason } from './helpers.js';

const opts = { skip: skipReason ?? false };
const BACKENDS = ['webgpu', 'wasm', 'js'];
const TOLERANCE = {
  webgpu: { atol: 1e-5, rtol: 1e-4 },
  wasm: { atol: 1e-6, rtol: 1e-5 },
  js: { atol: 1e-6, rtol: 1e-5 },
};

function assertMatches(actual, expected, backend) {
  const { atol, rtol } = TOLERANCE[backend];
  assert.equal(actual.length, expected.length);
  let worst = 0;
  actual.forEach((a, i) => {
    const err = Math.abs(a - expected[i]);
    worst = Math.max(worst, err);
    assert.ok(err <= atol + rtol * Math.abs(expected[i]),
      `${backend}: scores[${i}] = ${a}, onnxruntime gives ${expected[i]} (atol ${atol}, rtol ${rtol})`);
  });
  return worst;
}

/** Loads `url` three times (as is, without WebGPU, without WebGPU and WebAssembly) and checks each. */
async function fallbackChain(t, h, url) {
  const browser = await h.launchChromium({ webgpu: true });
  const open = async (disable) => {
    const q = disable ? `${url.includes('?') ? '&' : '?'}disable=${disable}` : '';
    const { result, pageErrors, console: lines } = await h.runPage(browser, `${url}${q}`, { timeoutMs: 90000 });
    assert.equal(result.error, undefined,
      `${result.error}\nfallbackLog: ${JSON.stringify(result.fallbackLog)}\n${pageErrors.join('\n')}\n${lines.join('\n')}`);
    assert.deepEqual(result.backends, BACKENDS, 'the default preference is the plugin\'s backends option');
    return result;
  };
  try {
    await t.test('WebGPU available -> webgpu', async (st) => {
      const r = await open('');
      const webgpuReason = r.fallbackLog.find((f) => f.backend === 'webgpu')?.reason ?? '';
      if (r.backend !== 'webgpu' && /no adapter/.test(webgpuReason)) {
        return skipOrFail(st, `Chromium gives no WebGPU adapter here: ${webgpuReason}`);
      }
      assert.equal(r.backend, 'webgpu', JSON.stringify(r.fallbackLog));
      assert.deepEqual(r.fallbackLog, []);
      assert.equal(r.hasGPU, true);
      st.diagnostic(`webgpu max |err| ${assertMatches(r.scores, r.expected, 'webgpu')}`);
    });
    await t.test('navigator.gpu removed -> wasm, webgpu in fallbackLog', async (st) => {
      const r = await open('webgpu');
      assert.equal(r.hasGPU, false);
      assert.equal(r.backend, 'wasm');
      assert.deepEqual(r.fallbackLog.map((f) => f.backend), ['webgpu']);
      assert.match(r.fallbackLog[0].reason, /^no WebGPU in this environment \(navigator\.gpu is undefined/);
      st.diagnostic(`wasm max |err| ${assertMatches(r.scores, r.expected, 'wasm')}`);
    });
    await t.test('navigator.gpu and WebAssembly removed -> js, webgpu and wasm in fallbackLog', async (st) => {
      const r = await open('webgpu,wasm');
      assert.equal(r.hasGPU, false);
      assert.equal(r.hasWasm, false);
      assert.equal(r.backend, 'js');
      const reasons = Object.fromEntries(r.fallbackLog.map((f) => [f.backend, f.reason]));
      assert.deepEqual(Object.keys(reasons), ['webgpu', 'wasm']);
      assert.match(reasons.webgpu, /^no WebGPU in this environment/);
      assert.equal(reasons.wasm, 'WebAssembly is not available in this environment');
      st.diagnostic(`js max |err| ${assertMatches(r.scores, r.expected, 'js')}`);
    });
  } finally {
    await browser.close();
  }
}

async function browserHarness(t) {
  const h = await harness();
  if (h.reason) t.skip(h.reason);
  return h.reason ? null : h;
}

test('vite build(): the app runs on webgpu, then wasm, then js in Chromium, matching onnxruntime', opts, async (t) => {
  const h = await browserHarness(t);
  if (!h) return;
  const p = project('backends');
  try {
    const plugin = webdnn({ compiler: p.compiler, backends: BACKENDS });
    await build({ root: p.dir, configFile: false, logLevel: 'silent', plugins: [plugin] });
    assert.deepEqual(p.builds()[0].slice(p.builds()[0].indexOf('--backends'), p.builds()[0].indexOf('--backends') + 2),
      ['--backends', BACKENDS.join(',')]);
    const server = await h.serve({ '/': path.join(p.dir, 'dist') }, { isolate: true });
    try {
      await fallbackChain(t, h, `${server.url}/index.html`);
      assert.ok(server.requests.some((r) => /\/assets\/classifier\.webgpu\.plan-[\w-]+\.json$/.test(r)),
        `the webgpu plan is a hashed asset: ${server.requests.join(' ')}`);
    } finally {
      await server.close();
    }
  } finally {
    p.cleanup();
  }
});

test('vite createServer(): the dev app runs on webgpu, then wasm, then js in Chromium', opts, async (t) => {
  const h = await browserHarness(t);
  if (!h) return;
  const p = project('backends');
  const server = await createServer({
    root: p.dir, configFile: false, logLevel: 'silent',
    plugins: [webdnn({ compiler: p.compiler, backends: BACKENDS, crossOriginIsolation: true })],
    server: { host: '127.0.0.1', port: 0, strictPort: false },
  });
  try {
    await server.listen();
    const url = server.resolvedUrls.local[0].replace(/\/$/, '');
    await fallbackChain(t, h, `${url}/index.html`);
    assert.equal(p.builds().length, 1, 'one compiler run for the three page loads');
  } finally {
    await server.close();
    p.cleanup();
  }
});

test('webpack 5: the bundled app runs on webgpu, then wasm, then js in Chromium', opts, async (t) => {
  const h = await browserHarness(t);
  if (!h) return;
  const p = project('backends');
  try {
    const compiler = webpack({
      mode: 'production',
      context: p.dir,
      entry: './main.js',
      output: { path: path.join(p.dir, 'dist'), clean: true },
      module: { rules: [{ test: /\.onnx$/, loader: 'vite-plugin-webdnn/webpack', options: { compiler: p.compiler, backends: BACKENDS } }] },
      infrastructureLogging: { level: 'none' },
      performance: { hints: false },
    });
    const stats = await new Promise((resolve, reject) => compiler.run((err, s) => {
      compiler.close(() => {});
      if (err) reject(err); else resolve(s);
    }));
    assert.equal(stats.hasErrors(), false, stats.toString('errors-only'));
    writeFileSync(path.join(p.dir, 'dist', 'index.html'),
      readFileSync(path.join(p.dir, 'index.html'), 'utf8').replace('type="module" src="./main.js"', 'src="./main.js"'));
    const server = await h.serve({ '/': path.join(p.dir, 'dist') }, { isolate: true });
    try {
      await fallbackChain(t, h, `${server.url}/index.html`);
      assert.ok(server.requests.some((r) => /\/webdnn\/classifier\.webgpu\.plan\.[0-9a-f]{16}\.json$/.test(r)),
        `the webgpu plan is a hashed asset: ${server.requests.join(' ')}`);
    } finally {
      await server.close();
    }
  } finally {
    p.cleanup();
  }
});
