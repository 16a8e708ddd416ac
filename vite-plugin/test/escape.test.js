// Model strings in generated code (issue 8): the JS module and .d.ts made for a model whose names
// are hostile stay valid code that carries the names as data, and external-data locations that
// leave the model's folder are refused.
import test from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { dtsFor, moduleCode } from '../src/core.js';
import { commentText, jsLiteral } from '../src/escape.js';
import { externalDataPath } from '../src/onnx-deps.js';

const HOSTILE = [
  'a */\n#embed "/etc/passwd"\n/*', 'e `${process.exit(3)}` ${1+1}', 'f </script><script>alert(1)</script><!--',
  'g "quoted" \'single\' \\back\\slash\\', '../../../../etc/passwd', 'h\u0000nul', 'i \u202eevil RTL \u2028 LS \u2029 PS',
  'j'.repeat(5000), "k'); process.exit(4); ('", '\r\n// line\n*/ declare const x: number; /*',
];

const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');

function fakeBuild(dir) {
  const spec = (name, i) => ({ name, dtype: i % 2 ? 'float32' : 'int64', shape: [1, null, 3] });
  return {
    file: path.join(dir, 'evil */\n#x.onnx'),
    files: ['manifest.json', 'weights.bin'],
    backends: ['js'],
    manifest: { name: HOSTILE[5], inputs: HOSTILE.map(spec), outputs: HOSTILE.slice(0, 3).map((n, i) => spec(`${n}${i}`, i)) },
  };
}

test('jsLiteral: JSON that cannot close a <script> and round-trips', () => {
  for (const s of HOSTILE) {
    const lit = jsLiteral(s);
    assert.ok(!/[<>\u2028\u2029]/.test(lit), lit.slice(0, 40));
    assert.equal(JSON.parse(lit), s);
  }
  assert.throws(() => jsLiteral(undefined), TypeError);
});

test('commentText: no newline, no comment terminator, bounded', () => {
  for (const s of HOSTILE) {
    const c = commentText(s);
    assert.ok(!/[\n\r\u2028\u2029*/]/.test(c) && c.length <= 123, c);
  }
  assert.equal(commentText("conv1 [1, 3, 224, 224]"), 'conv1 [1, 3, 224, 224]');
});

test('moduleCode and dtsFor stay valid code for hostile names (node --check, tsc --noEmit)', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'webdnn-escape-'));
  try {
    const build = fakeBuild(dir);
    const code = moduleCode(build, { helper: 'vite-plugin-webdnn/model', url: (rel) => jsLiteral(`./${rel}`) });
    assert.ok(!code.includes('</script'));
    writeFileSync(path.join(dir, 'model.mjs'), code);
    const check = spawnSync(process.execPath, ['--check', path.join(dir, 'model.mjs')], { encoding: 'utf8' });
    assert.equal(check.status, 0, check.stderr);

    const dts = dtsFor(build);
    const model = path.join(dir, 'model.d.ts');
    writeFileSync(model, dts.replace("import type { WebdnnModel } from 'vite-plugin-webdnn/model';",
      'type WebdnnModel<I, O> = { run(feeds: Partial<I>): Promise<O> };'));
    // the declared names are exactly the hostile ones: using one type-checks, a wrong one does not
    const use = (name) => `import model from './model';\nmodel.run({ ${jsLiteral(name)}: 'int64' });\n`;
    writeFileSync(path.join(dir, 'ok.ts'), use(HOSTILE[0]));
    writeFileSync(path.join(dir, 'bad.ts'), use('not-an-input'));
    const tscRun = (file) => spawnSync(process.execPath, [tsc, '--noEmit', '--strict', '--skipLibCheck', path.join(dir, file)],
      { encoding: 'utf8' });
    const ok = tscRun('ok.ts');
    assert.equal(ok.status, 0, ok.stdout + ok.stderr);
    const bad = tscRun('bad.ts');
    assert.notEqual(bad.status, 0, 'a wrong input name must fail to type-check');
    assert.match(bad.stdout, /not-an-input/);
    assert.doesNotMatch(bad.stdout, /model\.d\.ts/, 'the declaration file itself has no errors');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('externalDataPath: locations outside the model folder (.., absolute, symlink out) are refused', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'webdnn-extdata-'));
  try {
    mkdirSync(path.join(dir, 'm'));
    writeFileSync(path.join(dir, 'outside.bin'), 'secret');
    writeFileSync(path.join(dir, 'm', 'inside.bin'), 'ok');
    symlinkSync('../outside.bin', path.join(dir, 'm', 'link.bin'));
    const model = path.join(dir, 'm', 'model.onnx');
    assert.equal(externalDataPath(model, 'inside.bin'), path.join(dir, 'm', 'inside.bin'));
    assert.equal(externalDataPath(model, 'missing.bin'), path.join(dir, 'm', 'missing.bin'));
    for (const loc of ['../outside.bin', '/etc/passwd', 'sub/../../outside.bin', 'a\\..\\..\\outside.bin', 'C:/x', 'x\0y', 'link.bin']) {
      assert.throws(() => externalDataPath(model, loc), /external-data location .* (leaves|resolves outside) the model's folder/, loc);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
