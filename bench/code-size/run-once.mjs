// Loads a bundle on one backend and runs it once (measure.mjs records which runtime files load).
import { load } from 'webdnn-runtime';

const [dir, backend] = process.argv.slice(2);
const runner = await load(dir, { backends: [backend], threads: 1 });
const feeds = {};
for (const input of runner.inputs) feeds[input.name] = new Float32Array(input.shape.reduce((a, b) => a * b, 1));
await runner.run(feeds);
runner.dispose();
