// Loads a bundle on one backend and runs it once (measure.mjs records which runtime files load).
import { load } from 'webdnn-runtime';

const [dir, backend] = process.argv.slice(2);
const runner = await load(dir, { backends: [backend], threads: 1 });
const feeds = {};
// zeros of each input's dtype (token ids, masks: int64)
const ARRAYS = { float32: Float32Array, int64: BigInt64Array, int32: Int32Array, bool: Uint8Array, uint8: Uint8Array, int8: Int8Array };
for (const input of runner.inputs) {
  const n = input.shape.reduce((a, b) => a * b, 1);
  feeds[input.name] = { data: new (ARRAYS[input.dtype] ?? Float32Array)(n), shape: input.shape, dtype: input.dtype };
}
await runner.run(feeds);
runner.dispose();
