// load() from a file map ({ files, manifest }: each bundle file at a URL of its own, as bundlers emit
// them) and the onProgress option.
import test from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { load } from '../src/index.js';
import { addChainProgram, tempDir, writeBundle } from './helpers.js';

async function withChainBundle(fn) {
  const { dir, cleanup } = tempDir();
  try {
    const { program, weights } = addChainProgram();
    writeBundle(dir, program, { weights });
    return await fn(dir);
  } finally {
    cleanup();
  }
}

test('a file map with hashed URLs loads over http, streaming weights with progress', async () => {
  await withChainBundle(async (dir) => {
    const names = { '/a/w-1f2e.bin': 'weights.bin', '/b/p-9c8d.json': 'js/program.json' };
    const requested = [];
    const server = createServer(async (req, res) => {
      requested.push(req.url);
      const rel = names[req.url];
      if (!rel) { res.statusCode = 404; res.end(); return; }
      const bytes = await readFile(join(dir, rel));
      // two chunks, so that progress is reported more than once
      res.write(bytes.subarray(0, 8));
      setTimeout(() => res.end(bytes.subarray(8)), 5);
    });
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const base = `http://127.0.0.1:${server.address().port}`;
      const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8'));
      const progress = [];
      const runner = await load(
        { manifest, files: { 'weights.bin': `${base}/a/w-1f2e.bin`, 'js/program.json': new URL('/b/p-9c8d.json', base) } },
        { backends: ['js'], onProgress: (p) => progress.push(p) },
      );
      const out = await runner.run({ x: new Float32Array([1, 1, 1, 1]) });
      assert.deepEqual([...out.y.data], [5, 8, 11, 14]);
      assert.deepEqual(requested.sort(), ['/a/w-1f2e.bin', '/b/p-9c8d.json']); // the manifest was given
      assert.ok(progress.length >= 2, JSON.stringify(progress));
      assert.deepEqual(progress.at(-1), { file: 'weights.bin', loaded: 16, total: 16 });
      assert.ok(progress.every((p, i) => i === 0 || p.loaded >= progress[i - 1].loaded));
    } finally {
      server.close();
    }
  });
});

test('a file map of paths / file: URLs loads in Node; a missing entry names the file', async () => {
  await withChainBundle(async (dir) => {
    const progress = [];
    const runner = await load({
      files: {
        'manifest.json': join(dir, 'manifest.json'),
        'weights.bin': pathToFileURL(join(dir, 'weights.bin')).href,
        'js/program.json': pathToFileURL(join(dir, 'js', 'program.json')),
      },
    }, { backends: ['js'], onProgress: (p) => progress.push(p) });
    assert.deepEqual([...(await runner.run({ x: new Float32Array(4) })).y.data], [3, 6, 9, 12]);
    assert.deepEqual(progress, [{ file: 'weights.bin', loaded: 16, total: 16 }]);

    const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8'));
    await assert.rejects(load({ manifest, files: {}, label: 'my-model' }, { backends: ['js'] }),
      (e) => /js\/program\.json/.test(e.message) && /my-model/.test(e.message));
    await assert.rejects(load({ files: {} }, { onProgress: 3 }), /onProgress must be a function/);
  });
});
