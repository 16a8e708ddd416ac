// Headless Chromium harness for end-to-end browser tests (no network: pages are served from local
// folders on 127.0.0.1). Library and CLI.
//
// Library:
//   import { serve, launchChromium, runPage } from './harness.mjs';
//   const server = await serve({ '/': repoRoot, '/bundle/': bundleDir }, { isolate: true });
//   const browser = await launchChromium({ webgpu: true });
//   const result = await runPage(browser, `${server.url}/tests/browser/pages/run-bundle.html?...`);
//   await browser.close(); await server.close();
//
// A test page reports by setting `window.__result` (any JSON value; `{ error }` for a failure);
// runPage waits for it and returns it with the page's console lines and uncaught errors.
//
// CLI (what the pytest files use): prints one JSON line { result, console, pageErrors }:
//   node tests/browser/harness.mjs --mount /=REPO --mount /bundle/=DIR [--isolate] [--no-webgpu]
//        [--timeout 120] --page '/tests/browser/pages/run-bundle.html?bundle=/bundle/&...'
//   node tests/browser/harness.mjs --check     # exit 0 when chromium and playwright-core are usable
//
// Environment: CHROMIUM (default /usr/bin/chromium).

import { createServer } from 'node:http';
import { existsSync, mkdtempSync, rmSync, createReadStream, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

/** Flags of docs: headless, software WebGPU, no network side traffic. */
export const BASE_ARGS = [
  '--no-sandbox',
  '--enable-unsafe-swiftshader',
  '--disable-quic',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-default-apps',
  '--disable-extensions',
  '--no-first-run',
  '--no-default-browser-check',
  '--metrics-recording-only',
  '--password-store=basic',
];

const TYPES = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8',
  '.json': 'application/json', '.wasm': 'application/wasm', '.bin': 'application/octet-stream', '.css': 'text/css',
  '.map': 'application/json', '.txt': 'text/plain; charset=utf-8',
};

/**
 * Serves folders on 127.0.0.1 (an ephemeral port). `mounts`: URL prefix -> folder, longest prefix
 * first. `isolate`: send COOP/COEP (cross-origin isolation: SharedArrayBuffer, wasm threads).
 * @returns {Promise<{ url: string, close: () => Promise<void>, requests: string[] }>}
 */
export async function serve(mounts, { isolate = false } = {}) {
  const table = Object.entries(mounts)
    .map(([prefix, dir]) => [prefix.endsWith('/') ? prefix : `${prefix}/`, resolve(dir)])
    .sort((a, b) => b[0].length - a[0].length);
  const requests = [];
  const server = createServer((req, res) => {
    const headers = { 'Cache-Control': 'no-store' };
    if (isolate) {
      headers['Cross-Origin-Opener-Policy'] = 'same-origin';
      headers['Cross-Origin-Embedder-Policy'] = 'require-corp';
      headers['Cross-Origin-Resource-Policy'] = 'same-origin';
    }
    let path;
    try {
      path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    } catch {
      res.writeHead(400, headers).end('bad url');
      return;
    }
    requests.push(path);
    const mount = table.find(([prefix]) => path.startsWith(prefix) || `${path}/` === prefix);
    if (!mount) { res.writeHead(404, headers).end('not found'); return; }
    const [prefix, dir] = mount;
    let file = normalize(join(dir, path.slice(prefix.length)));
    if (file !== dir && !file.startsWith(dir + sep)) { res.writeHead(403, headers).end('forbidden'); return; }
    try {
      if (statSync(file).isDirectory()) file = join(file, 'index.html');
      const st = statSync(file);
      res.writeHead(200, { ...headers, 'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream', 'Content-Length': st.size });
      if (req.method === 'HEAD') { res.end(); return; }
      createReadStream(file).pipe(res);
    } catch {
      res.writeHead(404, headers).end('not found');
    }
  });
  await new Promise((ok, fail) => server.once('error', fail).listen(0, '127.0.0.1', ok));
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () => new Promise((ok) => { server.closeAllConnections?.(); server.close(() => ok()); }),
  };
}

/** Why the harness cannot run here (null when it can). */
export async function unavailableReason() {
  if (!existsSync(CHROMIUM)) return `chromium not found at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM)`;
  try {
    await import('playwright-core');
  } catch (e) {
    return `the npm package playwright-core is not installed (npm install at the repository root): ${String(e.message).split('\n')[0]}`;
  }
  return null;
}

/**
 * Launches headless Chromium with a fresh user-data-dir. `webgpu: false` leaves out
 * --enable-unsafe-webgpu (Chromium then gives no adapter on Linux). Returns a playwright Browser
 * (BrowserContext; close() also removes the profile).
 */
export async function launchChromium({ webgpu = true, args = [], headless = true } = {}) {
  const { chromium } = await import('playwright-core');
  const profile = mkdtempSync(join(tmpdir(), 'webdnn-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless,
    args: [...BASE_ARGS, ...(webgpu ? ['--enable-unsafe-webgpu'] : []), ...args],
    offline: false,
  });
  // Nothing but 127.0.0.1 is reachable from test pages.
  await context.route((url) => !/^https?:\/\/127\.0\.0\.1[:/]/.test(url.href) && !url.href.startsWith('data:') && !url.href.startsWith('blob:'),
    (route) => route.abort('blockedbyclient'));
  const close = context.close.bind(context);
  context.close = async () => {
    try { await close(); } finally { rmSync(profile, { recursive: true, force: true }); }
  };
  return context;
}

/**
 * Opens `url` in a new page and waits for `window.__result`. Returns { result, console, pageErrors }.
 * On timeout, `result` is { error: 'timeout ...' }.
 */
export async function runPage(context, url, { timeoutMs = 120000 } = {}) {
  const page = await context.newPage();
  const consoleLines = [];
  const pageErrors = [];
  page.on('console', (m) => consoleLines.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => pageErrors.push(String(e?.stack || e)));
  let result;
  try {
    await page.goto(url, { waitUntil: 'domcontentloaded', timeout: timeoutMs });
    await page.waitForFunction(() => window.__result !== undefined, null, { timeout: timeoutMs, polling: 50 });
    result = await page.evaluate(() => window.__result);
  } catch (e) {
    result = { error: `harness: ${String(e?.message || e).split('\n')[0]}` };
  } finally {
    await page.close().catch(() => {});
  }
  return { result, console: consoleLines, pageErrors };
}

async function main(argv) {
  const opts = { mounts: {}, isolate: false, webgpu: true, timeout: 120, page: null, check: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--mount') {
      const [prefix, ...dir] = argv[++i].split('=');
      opts.mounts[prefix] = dir.join('=');
    } else if (a === '--isolate') opts.isolate = true;
    else if (a === '--no-webgpu') opts.webgpu = false;
    else if (a === '--timeout') opts.timeout = Number(argv[++i]);
    else if (a === '--page') opts.page = argv[++i];
    else if (a === '--check') opts.check = true;
    else throw new Error(`harness.mjs: unknown argument ${a}`);
  }
  const reason = await unavailableReason();
  if (opts.check) {
    console.log(JSON.stringify({ ok: !reason, reason }));
    process.exit(reason ? 1 : 0);
  }
  if (reason) {
    console.log(JSON.stringify({ result: { error: reason, unavailable: true }, console: [], pageErrors: [] }));
    process.exit(3);
  }
  if (!opts.page) throw new Error('harness.mjs: --page is required');
  const server = await serve(opts.mounts, { isolate: opts.isolate });
  let context;
  let out;
  try {
    context = await launchChromium({ webgpu: opts.webgpu });
    out = await runPage(context, new URL(opts.page, server.url).href, { timeoutMs: opts.timeout * 1000 });
  } finally {
    await context?.close().catch(() => {});
    await server.close();
  }
  console.log(JSON.stringify(out));
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).catch((e) => {
    console.error(e?.stack || String(e));
    process.exit(2);
  });
}
