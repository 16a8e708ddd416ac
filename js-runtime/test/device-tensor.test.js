// run(feeds, { keep }): outputs kept on the backend's device as DeviceTensors, fed back to later runs (issue 10;
// the webgpu path, where they stay in GPU buffers, is tested with the decoder in tests/test_decoder_lm.py).
import test from 'node:test';
import assert from 'node:assert/strict';
import { DeviceTensor, load } from '../src/index.js';
import { addChainProgram, tempDir, writeBundle } from './helpers.js';

async function withRunner(fn) {
  const { dir, cleanup } = tempDir();
  const { program, weights } = addChainProgram(); // y = ((x + c) + c) + c + x, c = [1, 2, 3, 4]
  writeBundle(dir, program, { weights });
  const runner = await load(dir, { backends: ['js'] });
  try {
    await fn(runner, dir);
  } finally {
    await runner.dispose();
    cleanup();
  }
}

test('a kept output is a DeviceTensor that feeds the next run and reads back the same data', async () => {
  await withRunner(async (runner) => {
    const first = await runner.run({ x: new Float32Array([1, 1, 1, 1]) }, { keep: ['y'] });
    assert.ok(first.y instanceof DeviceTensor);
    assert.equal(first.y.location, 'cpu');
    assert.deepEqual(first.y.shape, [2, 2]);
    assert.deepEqual([...(await first.y.read()).data], [5, 8, 11, 14]);
    // fed back: y2 = y + 3c + y
    const second = await runner.run({ x: first.y });
    assert.deepEqual([...second.y.data], [13, 22, 31, 40]);
    first.y.dispose();
    assert.equal(first.y.disposed, true);
    await assert.rejects(first.y.read(), /DeviceTensor 'y' has been disposed/);
    await assert.rejects(runner.run({ x: first.y }), /DeviceTensor 'y' has been disposed/);
  });
});

test('keep names tensor outputs only; a DeviceTensor feeds only the runner that made it', async () => {
  await withRunner(async (runner, dir) => {
    await assert.rejects(runner.run({ x: new Float32Array(4) }, { keep: ['x'] }), /'x' is not a tensor output \(the model's outputs are 'y'\)/);
    await assert.rejects(runner.run({ x: new Float32Array(4) }, { keep: 'y' }), /keep must be an array of output names/);
    const { y } = await runner.run({ x: new Float32Array(4) }, { keep: ['y'] });
    const other = await load(dir, { backends: ['js'] });
    try {
      await assert.rejects(other.run({ x: y }), /DeviceTensor 'y' belongs to another runner/);
    } finally {
      await other.dispose();
    }
  });
});
