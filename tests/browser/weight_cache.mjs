// Weight shards in headless Chromium (driven by tests/browser/test_weight_cache.py): a cold load
// (progress), a reload (served from the Cache API: no shard request reaches the server), a second
// bundle with the same weights (no shard request either), and, in a fresh profile, a bundle with
// one flipped byte in a shard (refused, naming the shard). Prints one JSON line.
//
//   node tests/browser/weight_cache.mjs --root REPO --good DIR --twin DIR --bad DIR --inputs FILE --backends wasm

import { serve, launchChromium, runPage } from './harness.mjs';

const args = {};
for (let i = 2; i < process.argv.length; i += 2) args[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];

const server = await serve({ '/': args.root, '/good/': args.good, '/twin/': args.twin, '/bad/': args.bad, '/inputs/': args.inputs });
const shardRequests = (prefix) => server.requests.filter((p) => p.startsWith(`${prefix}weights/`)).length;
const page = (bundle, extra = '') => `${server.url}/tests/browser/pages/load-weights.html?bundle=${bundle}&inputs=/inputs/inputs.json&backends=${args.backends}${extra}`;
const out = {};
let context;
try {
  context = await launchChromium({ webgpu: false });
  const cold = await runPage(context, page('/good/'));
  out.cold = { ...cold.result, shardRequests: shardRequests('/good/'), console: cold.console };
  const reload = await runPage(context, page('/good/'));
  out.reload = { ...reload.result, shardRequests: shardRequests('/good/') - out.cold.shardRequests, console: reload.console };
  const twin = await runPage(context, page('/twin/'));
  out.twin = { ...twin.result, shardRequests: shardRequests('/twin/') };
  const uncached = await runPage(context, page('/good/', '&cache=0'));
  out.uncached = { ...uncached.result, shardRequests: shardRequests('/good/') - out.cold.shardRequests };
  out.cacheKeys = await (async () => {
    const p = await context.newPage();
    await p.goto(`${server.url}/tests/browser/pages/load-weights.html`); // (same origin; the page itself fails without params)
    const keys = await p.evaluate(async () => (await (await caches.open('webdnn-weights-v1')).keys()).map((r) => r.url));
    await p.close();
    return keys;
  })();
  await context.close();
  context = await launchChromium({ webgpu: false }); // a fresh profile: nothing cached
  const bad = await runPage(context, page('/bad/'));
  out.bad = { ...bad.result, shardRequests: shardRequests('/bad/') };
} finally {
  await context?.close().catch(() => {});
  await server.close();
}
console.log(JSON.stringify(out));
