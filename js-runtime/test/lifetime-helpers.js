// A small real bundle for the load/lifetime and device-loss tests and bench/reliability.mjs:
// MatMul(x[4,16], W[16,8]) + B, Relu, built by `webdnn-build build --backends webgpu,wasm,js`
// (the repository's .venv, or WEBDNN_PYTHON), with 64 inputs and onnxruntime's outputs for them
// (expected.json), computed when the fixture is built. Built once per process, in a temporary folder.

import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir } from './helpers.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));

/** Inputs in expected.json. */
export const CASES = 64;

const SCRIPT = String.raw`
import json, sys
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
out = sys.argv[1]
rng = np.random.default_rng(8)
W = rng.standard_normal((16, 8)).astype(np.float32)
B = rng.standard_normal((8,)).astype(np.float32)
nodes = [helper.make_node('MatMul', ['x', 'W'], ['m']), helper.make_node('Add', ['m', 'B'], ['a']),
         helper.make_node('Relu', ['a'], ['y'])]
graph = helper.make_graph(nodes, 'lifetime', [helper.make_tensor_value_info('x', TensorProto.FLOAT, [4, 16])],
                          [helper.make_tensor_value_info('y', TensorProto.FLOAT, [4, 8])],
                          [numpy_helper.from_array(W, 'W'), numpy_helper.from_array(B, 'B')])
model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', 17)])
model.ir_version = 8
onnx.save(model, out + '/model.onnx')
xs = [rng.standard_normal((4, 16)).astype(np.float32) for _ in range(${CASES})]
try:
    import onnxruntime as ort
    sess = ort.InferenceSession(out + '/model.onnx', providers=['CPUExecutionProvider'])
    ys = [sess.run(None, {'x': x})[0] for x in xs]
    ref = 'onnxruntime ' + ort.__version__
except ImportError:
    ys = [np.maximum(x @ W + B, 0) for x in xs]
    ref = 'numpy'
json.dump({'reference': ref, 'inputs': [x.ravel().tolist() for x in xs], 'outputs': [y.ravel().tolist() for y in ys]},
          open(out + '/expected.json', 'w'))
`;

function findPython() {
  const candidates = process.env.WEBDNN_PYTHON ? [process.env.WEBDNN_PYTHON]
    : [join(REPO, '.venv', 'bin', 'python'), join(REPO, '.venv', 'Scripts', 'python.exe')];
  return candidates.find((p) => existsSync(p)) ?? null;
}

let fixture; // undefined: not built yet; else { dir, inputs, outputs, reference } or { reason }

/**
 * Builds the fixture bundle once per process: { dir (the bundle), inputs: Float32Array[],
 * outputs: Float32Array[] (expected), reference } or { reason } when it cannot be built.
 */
export function lifetimeFixture() {
  if (fixture) return fixture;
  const python = findPython();
  if (!python) {
    fixture = { reason: 'no python with webdnn-build (the repository .venv, or WEBDNN_PYTHON)' };
    return fixture;
  }
  const { dir, cleanup } = tempDir('webdnn-lifetime-');
  process.on('exit', cleanup);
  const gen = spawnSync(python, ['-c', SCRIPT.replace('${CASES}', String(CASES)), dir], { encoding: 'utf8', timeout: 120000 });
  if (gen.status !== 0) {
    fixture = { reason: `the fixture model could not be written: ${gen.stderr || gen.error}` };
    return fixture;
  }
  const bundle = join(dir, 'bundle');
  const build = spawnSync(python, ['-m', 'webdnn_build.cli', 'build', join(dir, 'model.onnx'), '-o', bundle,
    '--backends', 'webgpu,wasm,js'], { encoding: 'utf8', timeout: 300000, cwd: REPO });
  if (build.status !== 0) throw new Error(`webdnn-build failed (${build.status}):\n${build.stderr}${build.stdout}`);
  const expected = JSON.parse(readFileSync(join(dir, 'expected.json'), 'utf8'));
  fixture = {
    dir: bundle,
    reference: expected.reference,
    inputs: expected.inputs.map((a) => Float32Array.from(a)),
    outputs: expected.outputs.map((a) => Float32Array.from(a)),
  };
  return fixture;
}

/** Largest |actual - expected| / (1 + |expected|) over the elements (Infinity on a length mismatch, NaN on a NaN). */
export function maxError(actual, expected) {
  if (actual.length !== expected.length) return Infinity;
  let worst = 0;
  for (let i = 0; i < expected.length; i++) {
    const e = Math.abs(actual[i] - expected[i]) / (1 + Math.abs(expected[i]));
    if (Number.isNaN(e)) return NaN; // fails every `< tolerance` check
    if (e > worst) worst = e;
  }
  return worst;
}
