// Builds the example with webpack's node API (no webpack-cli needed) into dist/, copies
// index.html, and with --serve serves dist/ on http://127.0.0.1:8080 with COOP/COEP headers
// (cross-origin isolation, so that the wasm backend can use threads).
import { copyFileSync, createReadStream, existsSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import path from 'node:path';
import webpack from 'webpack';
import config from './webpack.config.js';

const stats = await new Promise((resolve, reject) => {
  const compiler = webpack(config);
  compiler.run((err, s) => compiler.close(() => (err ? reject(err) : resolve(s))));
});
console.log(stats.toString({ colors: process.stdout.isTTY, modules: false, children: false }));
if (stats.hasErrors()) process.exit(1);
const dist = config.output.path;
copyFileSync(new URL('./index.html', import.meta.url), path.join(dist, 'index.html'));

if (process.argv.includes('--serve')) {
  const types = { '.html': 'text/html', '.js': 'text/javascript', '.wasm': 'application/wasm', '.json': 'application/json' };
  createServer((req, res) => {
    const rel = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    let file = path.join(dist, path.normalize(rel));
    if (!file.startsWith(dist)) return res.writeHead(403).end();
    if (existsSync(file) && statSync(file).isDirectory()) file = path.join(file, 'index.html');
    if (!existsSync(file)) return res.writeHead(404).end();
    res.writeHead(200, {
      'Content-Type': types[path.extname(file)] ?? 'application/octet-stream',
      'Cross-Origin-Opener-Policy': 'same-origin',
      'Cross-Origin-Embedder-Policy': 'require-corp',
    });
    createReadStream(file).pipe(res);
  }).listen(8080, '127.0.0.1', () => console.log('serving dist/ on http://127.0.0.1:8080'));
}
