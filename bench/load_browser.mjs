// The Chromium side of bench/load_bench.py: per round, a fresh profile opens the bundle's page twice: the first
// visit downloads the weight shards from the local server (cold), the second reads them from the Cache API
// (cached). Each figure is the page's time from navigation start to the first result (runtime import, load,
// first run). Prints one JSON line: { cold: [ms], cached: [ms], cachedShardRequests: [n], backend }.
//   node bench/load_browser.mjs --bundle DIR --inputs DIR --rounds 5 --threads 1
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchChromium, runPage, serve } from '../tests/browser/harness.mjs';

const args = process.argv.slice(2);
const opt = {};
for (let i = 0; i < args.length; i += 2) opt[args[i].replace(/^--/, '')] = args[i + 1];
const root = resolve(fileURLToPath(import.meta.url), '..', '..');
const server = await serve({ '/': root, '/bundle/': opt.bundle, '/inputs/': opt.inputs }, { isolate: true });
const page = `${server.url}/tests/browser/pages/load-weights.html?bundle=/bundle/&inputs=/inputs/inputs.json&backends=wasm&outputs=0&threads=${opt.threads ?? 1}`;
const shards = () => server.requests.filter((p) => p.startsWith('/bundle/weights/')).length;
const out = { cold: [], cached: [], cachedShardRequests: [], backend: null };
try {
  for (let r = 0; r < Number(opt.rounds ?? 5); r++) {
    const context = await launchChromium({ webgpu: false });
    try {
      const cold = (await runPage(context, page, { timeoutMs: 300000 })).result;
      if (cold.error) throw new Error(`cold load: ${cold.error}`);
      const before = shards();
      const cached = (await runPage(context, page, { timeoutMs: 300000 })).result;
      if (cached.error) throw new Error(`cached load: ${cached.error}`);
      out.cold.push(cold.firstResultMs);
      out.cached.push(cached.firstResultMs);
      out.cachedShardRequests.push(shards() - before);
      out.backend = cached.backend;
      console.error(`round ${r + 1}: cold ${cold.firstResultMs.toFixed(0)} ms, cached ${cached.firstResultMs.toFixed(0)} ms`);
    } finally {
      await context.close();
    }
  }
} finally {
  await server.close();
}
console.log(JSON.stringify(out));
