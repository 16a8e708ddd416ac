// TypeScript: the generated <model>.onnx.d.ts types run() with the model's real input and output
// names (tsc --noEmit fails on a wrong name, passes on the right one); client.d.ts covers any .onnx.
import test from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { WebdnnCore } from '../src/core.js';
import { models, project, skipReason } from './helpers.js';

const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');

function typecheck(dir, file) {
  const res = spawnSync(process.execPath, [tsc, '--noEmit', '-p', path.join(dir, 'tsconfig.json')], { encoding: 'utf8' });
  return { ok: res.status === 0, out: `${res.stdout}${res.stderr}`, file };
}

function withFiles(dir, files) {
  writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify({
    extends: './tsconfig.base.json', files,
  }));
}

test('tsc: the generated .d.ts accepts the right input name and rejects wrong input/output names', { skip: skipReason ?? false }, async () => {
  const p = project('ts');
  try {
    cpSync(path.join(models(), 'classifier.onnx'), path.join(p.dir, 'classifier.onnx'));
    cpSync(path.join(p.dir, 'tsconfig.json'), path.join(p.dir, 'tsconfig.base.json'));
    const core = new WebdnnCore({ compiler: p.compiler, backends: ['js'] }, { root: p.dir, cacheDir: path.join(p.dir, '.cache') });
    await core.build(path.join(p.dir, 'classifier.onnx'));

    withFiles(p.dir, ['good.ts']);
    const good = typecheck(p.dir);
    assert.ok(good.ok, good.out);

    withFiles(p.dir, ['bad.ts']);
    const bad = typecheck(p.dir);
    assert.ok(!bad.ok);
    assert.match(bad.out, /bad\.ts.*'pixel' does not exist|Property 'pixels' is missing/s);

    withFiles(p.dir, ['bad-output.ts']);
    const badOut = typecheck(p.dir);
    assert.ok(!badOut.ok);
    assert.match(badOut.out, /Property 'probabilities' does not exist/);
  } finally {
    p.cleanup();
  }
});

test('tsc: client.d.ts types any .onnx import before its .d.ts exists', async () => {
  const p = project('ts');
  try {
    cpSync(path.join(p.dir, 'tsconfig.json'), path.join(p.dir, 'tsconfig.base.json'));
    writeFileSync(path.join(p.dir, 'generic.ts'), [
      '/// <reference types="vite-plugin-webdnn/client" />',
      "import model from './not-built-yet.onnx';",
      'const out = await model.run({ anything: new Float32Array(4) });',
      'console.log(out, model.inputs.map((i) => i.name));',
      'export {};',
    ].join('\n'));
    withFiles(p.dir, ['generic.ts']);
    const res = typecheck(p.dir);
    assert.ok(res.ok, res.out);
  } finally {
    p.cleanup();
  }
});

test('tsc: the plugin and loader options type shardSize (bytes or a size string) and deflate', async () => {
  const p = project('ts');
  try {
    cpSync(path.join(p.dir, 'tsconfig.json'), path.join(p.dir, 'tsconfig.base.json'));
    writeFileSync(path.join(p.dir, 'options.ts'), [
      "import webdnn from 'vite-plugin-webdnn';",
      "import type { WebdnnLoaderOptions } from 'vite-plugin-webdnn/webpack';",
      "webdnn({ shardSize: '4MiB', deflate: true, models: { 'a.onnx': { shardSize: 1 << 20, deflate: false } } });",
      "webdnn({ shardSize: '512KiB', quantize: 'eightbit' });",
      "const loader: WebdnnLoaderOptions = { shardSize: '64KiB', deflate: false };",
      'console.log(loader);',
      'export {};',
    ].join('\n'));
    withFiles(p.dir, ['options.ts']);
    const good = typecheck(p.dir);
    assert.ok(good.ok, good.out);
    writeFileSync(path.join(p.dir, 'bad-options.ts'), [
      "import webdnn from 'vite-plugin-webdnn';",
      "webdnn({ shardSize: '4MB' });",
      "webdnn({ deflate: 'yes' });",
      'export {};',
    ].join('\n'));
    withFiles(p.dir, ['bad-options.ts']);
    const bad = typecheck(p.dir);
    assert.ok(!bad.ok);
    assert.match(bad.out, /bad-options\.ts\(2,.*Type '"4MB"' is not assignable to type 'number \| ShardSize/s);
    assert.match(bad.out, /bad-options\.ts\(3,.*'string' is not assignable to type 'boolean/s);
  } finally {
    p.cleanup();
  }
});
