// Test helpers: hand-made bundles in temporary folders, and test kernels in a custom domain
// (so that these tests do not depend on the built-in kernel families).

import { createHash } from 'node:crypto';
import { mkdtempSync, mkdirSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { deflateSync } from 'node:zlib';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { registerKernel } from '../src/index.js';

export const DOMAIN = 'test.domain';

/** Kernel calls recorded by the test kernels: { op, name, arena } (arena: output was an arena view). */
export const calls = [];

function sameShape(a, b) {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

registerKernel('TestAdd', ([a, b], attrs, ctx) => {
  if (!sameShape(a.shape, b.shape)) throw new Error(`TestAdd: shapes [${a.shape}] and [${b.shape}] differ`);
  const out = ctx.output(0, a.shape, a.dtype);
  for (let i = 0; i < out.data.length; i++) out.data[i] = a.data[i] + b.data[i];
  calls.push({ op: ctx.opType, name: ctx.name, arena: out.data.buffer.byteLength !== out.data.byteLength });
  return [out];
}, DOMAIN);

registerKernel('TestCopy', ([a], attrs, ctx) => {
  const out = ctx.output(0, a.shape, a.dtype);
  for (let i = 0; i < out.data.length; i++) out.data[i] = a.data[i];
  return [out];
}, DOMAIN);

registerKernel('TestIdentity', ([a]) => [a], DOMAIN); // returns its input (aliasing)

registerKernel('TestFail', () => { throw new Error('deliberate failure'); }, DOMAIN);

registerKernel('TestCtx', (inputs, attrs, ctx) => {
  const out = ctx.output(0, [2], 'int32');
  out.data[0] = ctx.opset;
  out.data[1] = attrs.t ? attrs.t.data.length : -1;
  return [out];
}, DOMAIN);

/** A temporary folder, removed by the returned cleanup function. */
export function tempDir(prefix = 'webdnn-rt-') {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * Writes a bundle into `dir`. `program` is the js program (values, inputs, outputs, ops, arena);
 * manifest inputs/outputs are derived from it unless given.
 */
export function writeBundle(dir, program, { weights = new Uint8Array(0), manifest = {}, backends } = {}) {
  mkdirSync(join(dir, 'js'), { recursive: true });
  const full = { opsets: { '': 17, [DOMAIN]: 1 }, arena: { byteLength: 0 }, ...program };
  const spec = (vi) => {
    const v = full.values[vi];
    return { name: v.name, shape: v.shape, dtype: v.dtype };
  };
  const m = {
    format: 'webdnn-bundle',
    formatVersion: 3,
    name: 'test',
    source: { file: 'test.onnx', sha256: '0' },
    compiler: { version: '0.1.0', plugins: {} },
    inputs: full.inputs.map(spec),
    outputs: full.outputs.map(spec),
    weights: { file: 'weights.bin', byteLength: weights.byteLength },
    backends: backends ?? { js: { program: 'js/program.json' } },
    ...manifest,
  };
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify(m, null, 2));
  writeFileSync(join(dir, 'js', 'program.json'), JSON.stringify(full, null, 2));
  writeFileSync(join(dir, 'weights.bin'), weights);
  return dir;
}

/** Packs typed arrays into a weights.bin image, 16-byte aligned; returns { bytes, refs: [{offset, byteLength}] }. */
export function packWeights(...arrays) {
  const refs = [];
  let size = 0;
  for (const a of arrays) {
    refs.push({ offset: size, byteLength: a.byteLength });
    size += Math.ceil(a.byteLength / 16) * 16;
  }
  const bytes = new Uint8Array(size);
  arrays.forEach((a, i) => bytes.set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength), refs[i].offset));
  return { bytes, refs };
}

/**
 * A small bundle: y = ((x + c) + c) + x with c = [1,2,3,4] (raw constant); intermediates in the arena,
 * `a` and `c2` share offset 0. Shape [2,2] float32.
 */
export function addChainProgram() {
  const c = new Float32Array([1, 2, 3, 4]);
  const { bytes, refs } = packWeights(c);
  const program = {
    values: [
      { name: 'x', dtype: 'float32', shape: [2, 2] },
      { name: 'c', dtype: 'float32', shape: [2, 2],
        const: { encoding: 'raw', ...refs[0], dtype: 'float32', shape: [2, 2] } },
      { name: 'a', dtype: 'float32', shape: [2, 2], arena: { offset: 0, byteLength: 16 } },
      { name: 'b', dtype: 'float32', shape: [2, 2], arena: { offset: 16, byteLength: 16 } },
      { name: 'c2', dtype: 'float32', shape: [2, 2], arena: { offset: 0, byteLength: 16 } },
      { name: 'y', dtype: 'float32', shape: [2, 2] },
    ],
    inputs: [0],
    outputs: [5],
    arena: { byteLength: 32 },
    ops: [
      { op: 'TestAdd', domain: DOMAIN, name: 'add_a', inputs: [0, 1], outputs: [2], attrs: {} },
      { op: 'TestAdd', domain: DOMAIN, name: 'add_b', inputs: [2, 1], outputs: [3], attrs: {} },
      { op: 'TestAdd', domain: DOMAIN, name: 'add_c2', inputs: [3, 1], outputs: [4], attrs: {} },
      { op: 'TestAdd', domain: DOMAIN, name: 'add_y', inputs: [4, 0], outputs: [5], attrs: {} },
    ],
  };
  return { program, weights: bytes };
}

/**
 * Rewrites the single weights.bin of a bundle in `dir` as shards of `shardSize` bytes (as the
 * compiler writes them: weights/000.bin, ... with their SHA-256 in manifest.json); `deflate`: store
 * each shard zlib-compressed. Returns the manifest's new "weights" object.
 */
export function shardBundle(dir, shardSize, { deflate = false } = {}) {
  const bytes = readFileSync(join(dir, 'weights.bin'));
  rmSync(join(dir, 'weights.bin'));
  mkdirSync(join(dir, 'weights'), { recursive: true });
  const shards = [];
  for (let at = 0, i = 0; at < bytes.byteLength; at += shardSize, i++) {
    const raw = bytes.subarray(at, at + shardSize);
    const stored = deflate ? deflateSync(raw) : raw;
    const file = `weights/${String(i).padStart(3, '0')}.bin`;
    writeFileSync(join(dir, file), stored);
    shards.push({
      file, byteLength: raw.byteLength, sha256: createHash('sha256').update(stored).digest('hex'),
      ...(deflate ? { encoding: 'deflate', storedLength: stored.byteLength } : {}),
    });
  }
  const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
  manifest.weights = { byteLength: bytes.byteLength, shardSize, shards };
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify(manifest, null, 2));
  return manifest.weights;
}
