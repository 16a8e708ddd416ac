// Units: locating the compiler, import queries, option merging, the config file, external data.
import test from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Compiler, nodeOf } from '../src/compiler.js';
import { configOptionsFor, findConfig } from '../src/config.js';
import { WebdnnCore } from '../src/core.js';
import { externalDataLocations } from '../src/onnx-deps.js';
import { isDim, mergeModelOptions, parseQuery, shardSizeBytes, validateOptions } from '../src/options.js';
import { models, skipReason } from './helpers.js';

function tmp() {
  const dir = mkdtempSync(path.join(tmpdir(), 'webdnn-plugin-'));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

function fakeExe(file) {
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, '#!/bin/sh\necho "webdnn-build 9.9.9"\n');
  chmodSync(file, 0o755);
}

test('compiler lookup: option, then PATH, then a .venv above the root, then python3 -m webdnn_build', async () => {
  const t = tmp();
  const savedPath = process.env.PATH;
  try {
    const root = path.join(t.dir, 'a', 'b');
    mkdirSync(root, { recursive: true });
    process.env.PATH = path.join(t.dir, 'nothing-here');
    assert.deepEqual(await new Compiler({ root }).argv(), ['python3', '-m', 'webdnn_build']);
    fakeExe(path.join(t.dir, 'a', '.venv', 'bin', 'webdnn-build'));
    assert.deepEqual(await new Compiler({ root }).argv(), [path.join(t.dir, 'a', '.venv', 'bin', 'webdnn-build')]);
    fakeExe(path.join(t.dir, 'bin', 'webdnn-build'));
    process.env.PATH = path.join(t.dir, 'bin');
    assert.deepEqual(await new Compiler({ root }).argv(), [path.join(t.dir, 'bin', 'webdnn-build')]);
    assert.deepEqual(await new Compiler({ root, command: './tools/wb' }).argv(), [path.join(root, 'tools', 'wb')]);
    assert.deepEqual(await new Compiler({ root, command: ['py', '-m', 'webdnn_build'] }).argv(), ['py', '-m', 'webdnn_build']);
  } finally {
    process.env.PATH = savedPath;
    t.cleanup();
  }
});

test('a compiler that cannot start is a clear error', async () => {
  const c = new Compiler({ root: process.cwd(), command: '/nonexistent/webdnn-build' });
  await assert.rejects(c.versions(), /cannot run the webdnn-build compiler \(\/nonexistent\/webdnn-build: not found\).*`compiler` option/);
});

test('import queries: backends and shapes; unknown parameters refused; Vite\'s own ignored', () => {
  assert.deepEqual(parseQuery('?backends=wasm,js&shape=input:1,3,224,224&import&t=123', 'x.onnx'),
    { backends: ['wasm', 'js'], inputShapes: { input: [1, 3, 224, 224] } });
  assert.deepEqual(parseQuery('shape=a:1,2;b:3&shape=c::4', 'x.onnx').inputShapes, { a: [1, 2], b: [3], 'c:': [4] });
  assert.throws(() => parseQuery('?backend=js', 'x.onnx'), /x\.onnx: the `backend` query parameter does not exist/);
  assert.throws(() => parseQuery('?shape=input:1,0', 'x.onnx'), /expected NAME:D1,D2/);
  assert.throws(() => parseQuery('?backends=', 'x.onnx'), /comma-separated/);
});

test('dims left open (docs/dynamic-shapes.md): in queries, options and the config; typos refused', async () => {
  assert.deepEqual(parseQuery('?shape=input_ids:1,1..512;x:1,3,?,?', 'x.onnx').inputShapes,
    { input_ids: [1, '1..512'], x: [1, 3, '?', '?'] });
  assert.throws(() => parseQuery('?shape=input_ids:1,seq', 'x.onnx'), /or \? \/ LO\.\.HI for dims left open/);
  for (const d of [1, '?', '1..512', '..64', '8..', 'seq:?', 'seq:1..512']) assert.ok(isDim(d), String(d));
  for (const d of [0, -1, 1.5, 'seq', '1..x', '', 'a b:?', '$(rm -rf /):?', null]) assert.ok(!isDim(d), String(d));
  assert.doesNotThrow(() => validateOptions({ inputShapes: { ids: [1, 'seq:1..512'] } }));
  assert.throws(() => validateOptions({ inputShapes: { ids: [1, 'seq'] } }), /strings for dims left open/);
  const t = tmp();
  try {
    writeFileSync(path.join(t.dir, 'webdnn.toml'), 'input-shapes = { ids = [1, "1..512"] }\n');
    assert.deepEqual((await configOptionsFor(path.join(t.dir, 'webdnn.toml'), path.join(t.dir, 'm.onnx'))).inputShapes,
      { ids: [1, '1..512'] });
    writeFileSync(path.join(t.dir, 'webdnn.toml'), 'input-shapes = { ids = [1, "seq"] }\n');
    await assert.rejects(configOptionsFor(path.join(t.dir, 'webdnn.toml'), path.join(t.dir, 'm.onnx')), /strings for dims left open/);
  } finally {
    t.cleanup();
  }
});

test('option layers merge: backends replaced, shapes and backend options merged per key', () => {
  const m = mergeModelOptions(
    { backends: ['js'], inputShapes: { a: [1] } },
    { inputShapes: { b: [2] }, backendOptions: { wasm: { threads: false, x: 1 } } },
    { backends: ['wasm'], backendOptions: { wasm: { x: 2 } } },
  );
  assert.deepEqual(m, {
    backends: ['wasm'], passes: undefined, inputShapes: { a: [1], b: [2] }, backendOptions: { wasm: { threads: false, x: 2 } },
    quantize: undefined, shardSize: undefined, deflate: undefined,
  });
  assert.deepEqual(mergeModelOptions({ passes: ['a'] }, { passes: [] }).passes, [], 'an explicit [] means no passes');
  assert.deepEqual(mergeModelOptions({ passes: ['a'] }, {}).passes, ['a']);
  assert.throws(() => validateOptions({ compiler: 3 }), /`compiler` must be a path/);
  assert.throws(() => validateOptions({ inputShapes: { a: [1, -2] } }), /inputShapes`\.a must be an array of dims: positive integers/);
  assert.throws(() => validateOptions({ dts: 'yes' }), /`dts` must be true or false/);
});

test('config: nearest webdnn.toml / pyproject.toml [tool.webdnn-build]; model entries override the defaults', async () => {
  const t = tmp();
  try {
    const sub = path.join(t.dir, 'models', 'deep');
    mkdirSync(sub, { recursive: true });
    writeFileSync(path.join(t.dir, 'pyproject.toml'), [
      '[tool.webdnn-build]', 'backends = ["js"]', 'input-shapes = { x = [1, 4] }',
      '[[tool.webdnn-build.models]]', 'path = "models/deep/m.onnx"', 'backends = ["wasm", "js"]', 'input-shapes = { y = [2] }',
    ].join('\n'));
    writeFileSync(path.join(sub, 'pyproject.toml'), '[project]\nname = "unrelated"\n');
    const found = await findConfig(sub);
    assert.equal(found, path.join(t.dir, 'pyproject.toml'));
    assert.deepEqual(await configOptionsFor(found, path.join(sub, 'm.onnx')),
      { backends: ['wasm', 'js'], passes: undefined, inputShapes: { x: [1, 4], y: [2] }, backendOptions: {} });
    assert.deepEqual((await configOptionsFor(found, path.join(sub, 'other.onnx'))).backends, ['js']);
    writeFileSync(path.join(t.dir, 'models', 'webdnn.toml'), 'backend = ["js"]\n');
    const nearer = await findConfig(sub);
    assert.equal(nearer, path.join(t.dir, 'models', 'webdnn.toml'));
    await assert.rejects(configOptionsFor(nearer, path.join(sub, 'm.onnx')), /unknown key\(s\) backend; allowed:/);
  } finally {
    t.cleanup();
  }
});

test('external data locations are read from the ONNX file', { skip: skipReason ?? false }, () => {
  const dir = models();
  assert.deepEqual(externalDataLocations(readFileSync(path.join(dir, 'external.onnx'))), ['external.onnx.data']);
  assert.deepEqual(externalDataLocations(readFileSync(path.join(dir, 'classifier.onnx'))), []);
  assert.deepEqual(externalDataLocations(new Uint8Array([0xff, 0xff, 0xff])), []);
});

test("the node and op of a compiler message", () => {
  assert.deepEqual(nodeOf("x.onnx: backend 'js' lacks op(s) a.B (first at node 'n 1' (com.example.FancyOp))"),
    { node: 'n 1', opType: 'com.example.FancyOp' });
  assert.equal(nodeOf('x.onnx: not an ONNX model'), null);
});

test('unknown options refused, naming the key; passes validated', () => {
  assert.throws(() => validateOptions({ pases: ['fold_constants'] }), /vite-plugin-webdnn: the `pases` option does not exist \(options: .*passes/);
  assert.throws(() => validateOptions({ models: { 'a.onnx': { dts: false } } }, 'vite-plugin-webdnn/webpack'),
    /vite-plugin-webdnn\/webpack: `models`\['a\.onnx'\]: the `dts` option does not exist/);
  assert.throws(() => validateOptions({ passes: 'fold_constants' }), /`passes` must be an array of pass ids \(\[\] for no passes\)/);
  assert.throws(() => validateOptions({ passes: ['a,b'] }), /`passes` must be an array of pass ids/);
  assert.deepEqual(validateOptions({ passes: [] }), { passes: [] });
  assert.deepEqual(validateOptions({ models: { 'a.onnx': { passes: ['fuse_activation'] } } }).models['a.onnx'].passes, ['fuse_activation']);
});

test('config: backend-options (normalised to strings, merged per key), passes = [] kept, backends = [] refused', async () => {
  const t = tmp();
  try {
    const cfg = path.join(t.dir, 'webdnn.toml');
    writeFileSync(cfg, [
      'passes = ["fold_constants"]', 'backend-options = { wasm = { threads = false, segment_per_op = 1 } }',
      '[[models]]', 'path = "m.onnx"', 'passes = []', 'backend-options = { wasm = { emit_c = true }, webgpu = { precision = "f16" } }',
    ].join('\n'));
    assert.deepEqual(await configOptionsFor(cfg, path.join(t.dir, 'm.onnx')), {
      backends: undefined, passes: [], inputShapes: {},
      backendOptions: { wasm: { threads: 'false', segment_per_op: '1', emit_c: 'true' }, webgpu: { precision: 'f16' } },
    });
    assert.deepEqual((await configOptionsFor(cfg, path.join(t.dir, 'other.onnx'))).passes, ['fold_constants']);
    writeFileSync(cfg, '[[models]]\npath = "m.onnx"\nbackends = []\n');
    await assert.rejects(configOptionsFor(cfg, path.join(t.dir, 'm.onnx')), /models\[0\]: backends is empty; name at least one backend/);
    writeFileSync(cfg, 'backend-options = { wasm = { threads = 0.5 } }\n');
    await assert.rejects(configOptionsFor(cfg, path.join(t.dir, 'm.onnx')), /backend-options\.wasm\.threads must be a boolean, an integer or a string/);
  } finally {
    t.cleanup();
  }
});

/** A stand-in compiler: answers --version and plugins, and for build writes a bundle recording its argv. */
function recordingCompiler(file) {
  writeFileSync(file, `#!/bin/sh
case "$1" in
  --version) echo "webdnn-build 9.9.9" ;;
  plugins) echo '[]' ;;
  build)
    out=""; prev=""
    for a in "$@"; do [ "$prev" = "-o" ] && out="$a"; prev="$a"; done
    mkdir -p "$out"
    printf '%s\\n' "$@" > "$out/argv.txt"
    echo '{"format":"webdnn-bundle","name":"m","inputs":[],"outputs":[],"backends":{"js":{}}}' > "$out/manifest.json"
    echo '{"results":[{"status":"built"}]}' ;;
esac
`);
  chmodSync(file, 0o755);
  return file;
}

test('passes are forwarded to the compiler (--passes / --no-passes) and are part of the cache key', async () => {
  const t = tmp();
  try {
    const compiler = recordingCompiler(path.join(t.dir, 'wb'));
    const model = path.join(t.dir, 'm.onnx');
    writeFileSync(model, new Uint8Array([8, 8]));
    writeFileSync(path.join(t.dir, 'webdnn.toml'), '[[models]]\npath = "m.onnx"\npasses = ["fold_constants", "fuse_activation"]\n');
    const argvOf = (build) => readFileSync(path.join(build.dir, 'argv.txt'), 'utf8').trim().split('\n');
    const env = { root: t.dir, cacheDir: path.join(t.dir, 'cache') };

    const fromConfig = await new WebdnnCore({ compiler, dts: false }, env).build(model);
    const argv = argvOf(fromConfig);
    assert.equal(argv[argv.indexOf('--passes') + 1], 'fold_constants,fuse_activation');

    const none = await new WebdnnCore({ compiler, dts: false, passes: [] }, env).build(model);
    assert.ok(argvOf(none).includes('--no-passes'));
    assert.ok(!argvOf(none).includes('--passes'));

    const defaults = await new WebdnnCore({ compiler, dts: false, config: false }, env).build(model);
    assert.ok(!argvOf(defaults).includes('--passes') && !argvOf(defaults).includes('--no-passes'));

    const perModel = await new WebdnnCore({ compiler, dts: false, config: false, models: { 'm.onnx': { passes: ['fuse_activation'] } } }, env).build(model);
    assert.equal(argvOf(perModel)[argvOf(perModel).indexOf('--passes') + 1], 'fuse_activation');

    assert.equal(new Set([fromConfig.key, none.key, defaults.key, perModel.key]).size, 4, 'each passes setting has its own cache entry');
    // the same options again: a cache hit
    const again = await new WebdnnCore({ compiler, dts: false, passes: [] }, env).build(model);
    assert.equal(again.key, none.key);
    assert.equal(again.cached, true);
  } finally {
    t.cleanup();
  }
});

test('quantize (docs/compression.md): the option and the config key become --quantize arguments; bad values refused', async () => {
  assert.deepEqual(mergeModelOptions({ quantize: 'fp16' }, { quantize: { '*': 'int8', '*emb*': 'none' } }).quantize, ['int8', '*emb*=none']);
  assert.deepEqual(mergeModelOptions({ quantize: ['int8', 'fc=fp16'] }, {}).quantize, ['int8', 'fc=fp16']);
  assert.doesNotThrow(() => validateOptions({ quantize: 'int8', models: { 'a.onnx': { quantize: { '*': 'fp16' } } } }));
  assert.throws(() => validateOptions({ quantize: 'int3' }), /must be 'fp16', 'int8', 'int4' or 'none'/);
  assert.throws(() => validateOptions({ quantize: { '*': 'a=int8' } }), /must be 'fp16', 'int8', 'int4' or 'none'/);
  const t = tmp();
  try {
    writeFileSync(path.join(t.dir, 'webdnn.toml'), 'quantize = "fp16"\n[[models]]\npath = "m.onnx"\nquantize = { "*" = "int8", "x*" = "none" }\n');
    assert.deepEqual((await configOptionsFor(path.join(t.dir, 'webdnn.toml'), path.join(t.dir, 'm.onnx'))).quantize, ['int8', 'x*=none']);
    assert.deepEqual((await configOptionsFor(path.join(t.dir, 'webdnn.toml'), path.join(t.dir, 'other.onnx'))).quantize, ['fp16']);
    writeFileSync(path.join(t.dir, 'webdnn.toml'), 'quantize = 3\n');
    await assert.rejects(configOptionsFor(path.join(t.dir, 'webdnn.toml'), path.join(t.dir, 'm.onnx')), /quantize must be/);
  } finally {
    t.cleanup();
  }
});

test('shardSize and deflate (docs/bundle-format.md): validated by name, read from the config, passed to the compiler, part of the cache key', async () => {
  // sizes as webdnn_build/config.py parse_shard_size reads them
  for (const [v, bytes] of [[4096, 4096], ['4MiB', 4 << 20], ['512KiB', 512 << 10], ['1048576', 1 << 20], [' 2 kib ', 2048],
    ['1K', 1024], ['1g', 1 << 30], ['2048b', 2048], [1024n, 1024]]) {
    assert.equal(shardSizeBytes(v, 'x'), bytes, String(v));
  }
  for (const v of ['4MB', '4.5MiB', 'MiB', '', '-1024', 1024.5, true, null, [1024], 1000, 1025, 512, 2 ** 31, '2GiB']) {
    assert.throws(() => validateOptions({ shardSize: v }), /vite-plugin-webdnn: `shardSize`(:| must)/, String(v));
  }
  assert.throws(() => validateOptions({ shardSize: '4MB' }), /`shardSize` must be a number of bytes or a size such as "4MiB" or "512KiB", got "4MB"/);
  assert.throws(() => validateOptions({ shardSize: 1000 }), /`shardSize`: shard size 1000 must be a multiple of 16 from 1024 \(1 KiB\) to 1073741824 \(1 GiB\) bytes/);
  assert.throws(() => validateOptions({ deflate: 'yes' }), /vite-plugin-webdnn: `deflate` must be true or false/);
  assert.throws(() => validateOptions({ models: { 'a.onnx': { shardSize: '1KB' } } }, 'vite-plugin-webdnn/webpack'),
    /vite-plugin-webdnn\/webpack: `models`\['a\.onnx'\]: `shardSize` must be/);
  assert.doesNotThrow(() => validateOptions({ shardSize: '4MiB', deflate: false, models: { 'a.onnx': { shardSize: 8192, deflate: true } } }));
  const merged = mergeModelOptions({ shardSize: 2048, deflate: true }, { shardSize: '1MiB' }, { deflate: false });
  assert.equal(merged.shardSize, 1 << 20);
  assert.equal(merged.deflate, false);

  const t = tmp();
  try {
    const cfg = path.join(t.dir, 'webdnn.toml');
    writeFileSync(cfg, 'shard-size = "64KiB"\ndeflate = true\n[[models]]\npath = "m.onnx"\nshard-size = 2048\ndeflate = false\n');
    const forM = await configOptionsFor(cfg, path.join(t.dir, 'm.onnx'));
    assert.equal(forM.shardSize, 2048);
    assert.equal(forM.deflate, false);
    const other = await configOptionsFor(cfg, path.join(t.dir, 'other.onnx'));
    assert.equal(other.shardSize, 64 << 10);
    assert.equal(other.deflate, true);
    assert.equal('shardSize' in await configOptionsFor(cfg, path.join(t.dir, 'm.onnx')), true);
    for (const [text, message] of [
      ['shard-size = "4MB"\n', /webdnn\.toml: shard-size must be a number of bytes or a size such as "4MiB"/],
      ['shard-size = 100\n', /webdnn\.toml: shard-size: shard size 100 must be a multiple of 16 from 1024/],
      ['deflate = "yes"\n', /webdnn\.toml: deflate must be true or false, got "yes"/],
      ['[[models]]\npath = "m.onnx"\nshard-size = 1.5\n', /models\[0\]: shard-size must be a number of bytes/],
      ['[[models]]\npath = "m.onnx"\nshard_size = 4096\n', /models\[0\]: unknown key\(s\) shard_size; allowed: .*shard-size/],
    ]) {
      writeFileSync(cfg, text);
      await assert.rejects(configOptionsFor(cfg, path.join(t.dir, 'm.onnx')), message, text);
    }

    const compiler = recordingCompiler(path.join(t.dir, 'wb'));
    const model = path.join(t.dir, 'm.onnx');
    writeFileSync(model, new Uint8Array([8, 8]));
    writeFileSync(cfg, '[[models]]\npath = "m.onnx"\nshard-size = "8KiB"\ndeflate = true\n');
    const argvOf = (build) => readFileSync(path.join(build.dir, 'argv.txt'), 'utf8').trim().split('\n');
    const env = { root: t.dir, cacheDir: path.join(t.dir, 'cache') };
    const fromConfig = await new WebdnnCore({ compiler, dts: false }, env).build(model);
    assert.deepEqual(argvOf(fromConfig).slice(-3), ['--shard-size', '8192', '--deflate']);
    const fromOption = await new WebdnnCore({ compiler, dts: false, shardSize: '4KiB', deflate: false }, env).build(model);
    assert.deepEqual(argvOf(fromOption).slice(-3), ['--shard-size', '4096', '--no-deflate']);
    const perModel = await new WebdnnCore({ compiler, dts: false, shardSize: '4KiB', models: { 'm.onnx': { shardSize: 1024 } } }, env).build(model);
    assert.deepEqual(argvOf(perModel).slice(-3), ['--shard-size', '1024', '--deflate']);
    const defaults = await new WebdnnCore({ compiler, dts: false, config: false }, env).build(model);
    assert.ok(!argvOf(defaults).some((a) => /shard-size|deflate/.test(a)));
    assert.equal(new Set([fromConfig.key, fromOption.key, perModel.key, defaults.key]).size, 4, 'each setting has its own cache entry');
    // the same size spelled otherwise is the same bundle
    const sameSize = await new WebdnnCore({ compiler, dts: false, shardSize: 4096, deflate: false }, env).build(model);
    assert.equal(sameSize.key, fromOption.key);
    assert.equal(sameSize.cached, true);
  } finally {
    t.cleanup();
  }
});
