// What a page downloads to run a bundle, weights excluded: the runtime's JS modules that actually
// load (recorded by a module hook while the bundle runs once) plus the bundle's code files for the
// backend (wasm module, plan/program JSON, manifest). Sizes raw and gzip -9.
//   node bench/code-size/measure.mjs BUNDLE_DIR [backend]
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import path from 'node:path';

const [dir, backend = 'wasm'] = process.argv.slice(2);
if (!dir) {
  console.error('usage: node bench/code-size/measure.mjs BUNDLE_DIR [backend]');
  process.exit(2);
}
const here = path.dirname(fileURLToPath(import.meta.url));
const child = spawnSync(process.execPath, ['--import', path.join(here, 'register.mjs'), path.join(here, 'run-once.mjs'), dir, backend],
  { encoding: 'utf8' });
if (child.status !== 0) {
  console.error(child.stderr);
  process.exit(1);
}
const runtimeRoot = path.resolve(here, '../../js-runtime/src');
const runtimeFiles = [...new Set(child.stderr.split('\n').filter((l) => l.startsWith('@@loaded ')).map((l) => fileURLToPath(l.slice(9))))]
  .filter((f) => f.startsWith(runtimeRoot));
const manifest = JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
const entry = manifest.backends[backend] ?? {};
const bundleFiles = ['manifest.json'];
if (backend === 'wasm') {
  const plan = JSON.parse(readFileSync(path.join(dir, entry.plan), 'utf8'));
  bundleFiles.push(entry.plan, plan.module); // the single-threaded module (a page loads one of the two)
} else if (entry.program) bundleFiles.push(entry.program);

const size = (files, root) => files.reduce((acc, f) => {
  const data = readFileSync(path.resolve(root, f));
  return { raw: acc.raw + data.length, gz: acc.gz + gzipSync(data, { level: 9 }).length };
}, { raw: 0, gz: 0 });
const rt = size(runtimeFiles, '/');
const bd = size(bundleFiles, dir);
console.log(JSON.stringify({
  backend,
  runtimeModules: runtimeFiles.map((f) => path.relative(runtimeRoot, f)),
  runtime: rt,
  bundleCode: bd,
  totalGzipBytes: rt.gz + bd.gz,
}, null, 1));
