// Paths read from a bundle stay inside it (issue 8, item 2): a manifest or plan that names a file
// outside the bundle (../, absolute, a URL, a symlink out) is refused at load(), naming the field,
// for the folder reader, the URL reader and the file map alike; constants and arenas are bounded.
import test from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { readFile, writeFile, symlink, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { load } from '../src/index.js';
import { bundlePath } from '../src/bundle.js';
import { decodeConstant } from '../src/constants.js';
import { addChainProgram, tempDir, writeBundle } from './helpers.js';

const BAD_PATHS = ['../outside-weights.bin', '/etc/passwd', 'http://evil.example/w.bin', 'wasm/../../x'];

/** Fields that name files, and how to set each in a manifest. */
const FIELDS = {
  'weights.file': (m, p) => { m.weights.file = p; },
  'backends.js.program': (m, p) => { m.backends.js.program = p; },
  'backends.wasm.plan': (m, p) => { m.backends.wasm = { plan: p }; },
  'backends.webgpu.plan': (m, p) => { m.backends.webgpu = { plan: p }; },
};

/** Every (field, bad path, manifest with that field set to the path) to try. */
function* badManifests(manifest, paths = BAD_PATHS) {
  for (const [field, set] of Object.entries(FIELDS)) {
    for (const p of paths) {
      const m = structuredClone(manifest);
      set(m, p);
      yield [field, p, m];
    }
  }
}

async function withBundle(fn) {
  const { dir, cleanup } = tempDir();
  try {
    const { program, weights } = addChainProgram();
    writeBundle(dir, program, { weights });
    // a file just outside the bundle that a "../" path would reach
    await writeFile(join(dir, '..', 'outside-weights.bin'), new Uint8Array(16)).catch(() => {});
    const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8'));
    return await fn(dir, manifest);
  } finally {
    cleanup();
  }
}

/** The message load() must give: the field and the path, quoted. */
function refusal(field, path) {
  const quoted = JSON.stringify(path).replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  return new RegExp(`"${field.replace(/\./g, '\\.')}" \\(${quoted}\\) leaves the bundle`);
}

function fileMapOf(dir) {
  return {
    'weights.bin': join(dir, 'weights.bin'),
    'js/program.json': pathToFileURL(join(dir, 'js', 'program.json')),
  };
}

test('bundlePath() refuses every way out of the bundle and accepts plain relative paths', () => {
  for (const ok of ['weights.bin', 'wasm/plan.json', 'wasm/model-mt.wasm', 'a/b/c.d', '..foo/x']) {
    assert.equal(bundlePath('f', ok), ok);
  }
  const refused = [
    ...BAD_PATHS, '', '..', '.', './weights.bin', 'a//b', 'a/', 'a\\b', '..\\x', 'a\0b', 'C:/x', 'c:x',
    '%2e%2e/x', 'a/%2E%2E/b', '%2fetc', 'file:///etc/passwd', '//evil.example/w.bin', 'data:,x', 'a?b', 'a#b',
    'x'.repeat(2000), 42, null, undefined, ['a'], { file: 'a' },
  ];
  for (const bad of refused) {
    assert.throws(() => bundlePath('manifest.json "weights.file"', bad),
      (e) => e instanceof Error && /manifest\.json "weights\.file" \(.*\) leaves the bundle/.test(e.message),
      JSON.stringify(bad));
  }
});

test('the folder reader refuses manifest paths outside the bundle, naming the field', async () => {
  await withBundle(async (dir, manifest) => {
    for (const [field, p, m] of badManifests(manifest)) {
      await writeFile(join(dir, 'manifest.json'), JSON.stringify(m));
      await assert.rejects(load(dir, { backends: ['js'] }), (e) => {
        assert.match(e.message, refusal(field, p));
        assert.ok(e.message.includes(dir), e.message); // names the bundle
        return true;
      }, `${field} = ${p}`);
    }
  });
});

test('the folder reader refuses a symlink that leads out of the bundle', async () => {
  await withBundle(async (dir) => {
    const { dir: outside, cleanup } = tempDir('webdnn-outside-');
    try {
      await writeFile(join(outside, 'w.bin'), await readFile(join(dir, 'weights.bin')));
      await writeFile(join(dir, 'real.bin'), await readFile(join(dir, 'weights.bin')));
      // a link inside the bundle is fine
      const m = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8'));
      await symlink(join(dir, 'real.bin'), join(dir, 'inside.bin'));
      m.weights.file = 'inside.bin';
      await writeFile(join(dir, 'manifest.json'), JSON.stringify(m));
      const runner = await load(dir, { backends: ['js'] });
      assert.deepEqual([...(await runner.run({ x: new Float32Array(4) })).y.data], [3, 6, 9, 12]);
      runner.dispose();
      // a link out is not, nor a link to a folder outside
      await symlink(join(outside, 'w.bin'), join(dir, 'out.bin'));
      await mkdir(join(dir, 'sub'));
      await symlink(outside, join(dir, 'sub', 'd'));
      for (const file of ['out.bin', 'sub/d/w.bin']) {
        m.weights.file = file;
        await writeFile(join(dir, 'manifest.json'), JSON.stringify(m));
        await assert.rejects(load(dir, { backends: ['js'] }),
          (e) => e.message.includes('outside the bundle folder') && e.message.includes(file), file);
      }
    } finally {
      cleanup();
    }
  });
});

test('the URL reader refuses manifest paths outside the bundle before fetching them', async () => {
  await withBundle(async (dir, manifest) => {
    const requested = [];
    let served = manifest;
    const server = createServer(async (req, res) => {
      requested.push(req.url);
      if (req.url === '/b/manifest.json') { res.end(JSON.stringify(served)); return; }
      if (req.url.startsWith('/b/')) {
        try { res.end(await readFile(join(dir, req.url.slice(3)))); } catch { res.statusCode = 404; res.end(); }
        return;
      }
      res.end('outside'); // anything outside /b/ must never be asked for
    });
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const base = `http://127.0.0.1:${server.address().port}/b/`;
      const runner = await load(base, { backends: ['js'] });
      assert.deepEqual([...(await runner.run({ x: new Float32Array(4) })).y.data], [3, 6, 9, 12]);
      runner.dispose();
      for (const [field, p, m] of badManifests(manifest, [...BAD_PATHS, '%2e%2e/w.bin', '//evil.example/w.bin'])) {
        served = m;
        await assert.rejects(load(base, { backends: ['js'] }), (e) => {
          assert.match(e.message, refusal(field, p));
          assert.ok(e.message.includes(base), e.message);
          return true;
        }, `${field} = ${p}`);
      }
      assert.ok(requested.every((u) => u.startsWith('/b/')), JSON.stringify(requested));
    } finally {
      server.close();
    }
  });
});

test('the file map refuses manifest paths outside the bundle, even when the map has them', async () => {
  await withBundle(async (dir, manifest) => {
    for (const [field, p, m] of badManifests(manifest)) {
      const files = { ...fileMapOf(dir), [p]: join(dir, 'weights.bin') };
      await assert.rejects(load({ manifest: m, files, label: 'mapped' }, { backends: ['js'] }), (e) => {
        assert.match(e.message, refusal(field, p));
        assert.ok(e.message.includes('mapped'), e.message);
        return true;
      }, `${field} = ${p}`);
    }
  });
});

test('wasm plan module paths outside the bundle are refused, naming the plan field', async () => {
  await withBundle(async (dir, manifest) => {
    await mkdir(join(dir, 'wasm'));
    const m = structuredClone(manifest);
    m.backends = { wasm: { plan: 'wasm/plan.json' } };
    await writeFile(join(dir, 'manifest.json'), JSON.stringify(m));
    const plan = { memoryPages: { initial: 1, maximum: 1 }, values: [], inputs: [], outputs: [], steps: [] };
    for (const [key, p] of [['module', '../outside.wasm'], ['module', '/etc/passwd'], ['moduleThreads', 'http://evil.example/m.wasm']]) {
      await writeFile(join(dir, 'wasm', 'plan.json'), JSON.stringify({ module: 'wasm/model.wasm', ...plan, [key]: p }));
      await assert.rejects(load(dir, { backends: ['wasm'] }), (e) => {
        assert.ok(e.message.includes(`wasm/plan.json "${key}" (${JSON.stringify(p)}) leaves the bundle`), e.message);
        return true;
      }, `${key} = ${p}`);
    }
    // memory over what wasm32 can hold
    await writeFile(join(dir, 'wasm', 'plan.json'), JSON.stringify({ module: 'wasm/model.wasm', ...plan, memoryPages: { initial: 70000 } }));
    await assert.rejects(load(dir, { backends: ['wasm'] }), /"memoryPages\.initial" is 70000, over the limit of 65536/);
  });
});

test('constants with bad shapes, sizes or offsets are refused with an Error naming the value', () => {
  const w = new Uint8Array(16);
  const cases = [
    [{ encoding: 'fill', dtype: 'float32', shape: [-1], value: 0 }, /dim -1/],
    [{ encoding: 'fill', dtype: 'float32', shape: [1.5], value: 0 }, /dim 1\.5/],
    [{ encoding: 'fill', dtype: 'float32', shape: [NaN], value: 0 }, /dim NaN/],
    [{ encoding: 'fill', dtype: 'float32', shape: ['3'], value: 0 }, /dim "3"/],
    [{ encoding: 'fill', dtype: 'float32', shape: [2 ** 20, 2 ** 20], value: 1 }, /over the limit of 2147483648 bytes/],
    [{ encoding: 'fill', dtype: 'string', shape: [2 ** 30], value: 'a' }, /over the limit/],
    [{ encoding: 'fill', dtype: 'float32', shape: 7, value: 0 }, /"shape" must be a list/],
    [{ encoding: 'fill', dtype: 'int64', shape: [1], value: 'x' }, /bad int64 value "x"/],
    [{ encoding: 'fill', dtype: 'int64', shape: [1], value: NaN }, /bad int64 value NaN/],
    [{ encoding: 'raw', dtype: 'float32', shape: [4], offset: -4, byteLength: 16 }, /"offset" must be a non-negative integer, got -4/],
    [{ encoding: 'raw', dtype: 'float32', shape: [4], offset: 0 }, /"byteLength" must be a non-negative integer, got nothing/],
    [{ encoding: 'raw', dtype: 'float32', shape: [4], offset: 8, byteLength: 16 }, /lies outside the weights/],
    [{ encoding: 'raw', dtype: 'float32', shape: [4], offset: 0, byteLength: 12 }, /needs 16 bytes, has 12/],
    [{ encoding: 'raw', dtype: 'float32', shape: [2 ** 40], offset: 0, byteLength: 16 }, /over the limit/],
    [{ encoding: 'json', dtype: 'float32', shape: [3], value: [1, 2] }, /has 2 elements/],
    [{ encoding: 'zip', dtype: 'float32', shape: [1] }, /unknown encoding "zip"/],
    [{ encoding: 'fill', dtype: 'complex64', shape: [1] }, /unsupported dtype "complex64"/],
    [{ encoding: 'fill', dtype: 'toString', shape: [1] }, /unsupported dtype "toString"/],
  ];
  for (const [desc, re] of cases) {
    assert.throws(() => decodeConstant(desc, w), (e) => e.constructor === Error && re.test(e.message), JSON.stringify(desc));
  }
  assert.deepEqual([...decodeConstant({ encoding: 'fill', dtype: 'int64', shape: [2], value: '7' }, w).data], [7n, 7n]);
});

test('a js program with a bad arena or value indices is refused at load, not with a RangeError', async () => {
  await withBundle(async (dir) => {
    const { program } = addChainProgram();
    for (const [edit, re] of [
      [(p) => { p.arena.byteLength = -1; }, /"arena\.byteLength" must be a non-negative integer, got -1/],
      [(p) => { p.arena.byteLength = 2 ** 40; }, /"arena\.byteLength" is 1099511627776, over the limit/],
      [(p) => { p.ops[0].inputs = [0, 99]; }, /refers to value 99/],
      [(p) => { p.outputs = [-3]; }, /"outputs" refers to value -3/],
      [(p) => { p.values[2].arena = { offset: '0', byteLength: 16 }; }, /"offset" must be a non-negative integer/],
    ]) {
      const p = structuredClone(program);
      edit(p);
      await writeFile(join(dir, 'js', 'program.json'), JSON.stringify({ opsets: { '': 17, 'test.domain': 1 }, ...p }));
      await assert.rejects(load(dir, { backends: ['js'] }), (e) => e.constructor === Error && re.test(e.message), re.source);
    }
  });
});
