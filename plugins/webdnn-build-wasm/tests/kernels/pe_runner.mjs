// Runs a batch of kernel calls for test_pool_elementwise.py:
//   node pe_runner.mjs MODULE.wasm SPEC.json IN.bin OUT.bin
// SPEC: { splits: [1, 2, 3], cases: [{ bufs: [{ nbytes, init: [off, nbytes] | null, out: bool }],
//         calls: [{ fn, args: [number | {buf: i} | 'tid' | 'nth'] }] }] }
// For each case and each nth in splits, memory is laid out afresh: every buffer gets 64-byte guards
// filled with a canary; output buffers without init data are filled with the canary too. Each call
// runs for tid = 0..nth-1 in sequence. OUT.bin gets, per case, per nth, per output buffer, its
// bytes; stdout gets JSON { guards_ok: [[bool per nth] per case] }.
import fs from 'node:fs';

const [wasmPath, specPath, inPath, outPath] = process.argv.slice(2);
const spec = JSON.parse(fs.readFileSync(specPath, 'utf8'));
const input = fs.readFileSync(inPath);
const CANARY = 0x7fa5a5a5;
const GUARD = 64;

const memory = new WebAssembly.Memory({ initial: 256 });
const { instance } = await WebAssembly.instantiate(fs.readFileSync(wasmPath), { env: { memory } });
const ex = instance.exports;
const heapBase = (ex.pe_heap_base() + 63) & ~63;

const outChunks = [];
const guardsOk = [];
for (const c of spec.cases) {
  const perCase = [];
  for (const nth of spec.splits) {
    // layout
    let p = heapBase;
    const addrs = c.bufs.map((b) => { const a = p + GUARD; p = (a + b.nbytes + GUARD + 63) & ~63; return a; });
    if (p > memory.buffer.byteLength) memory.grow(Math.ceil((p - memory.buffer.byteLength) / 65536));
    const u32 = new Uint32Array(memory.buffer);
    u32.fill(CANARY, heapBase >> 2, p >> 2);
    const u8 = new Uint8Array(memory.buffer);
    c.bufs.forEach((b, i) => {
      if (b.init) u8.set(input.subarray(b.init[0], b.init[0] + b.init[1]), addrs[i]);
    });
    for (const call of c.calls) {
      for (let tid = 0; tid < nth; tid++) {
        const args = call.args.map((a) => (a === 'tid' ? tid : a === 'nth' ? nth : typeof a === 'object' ? (a === null ? 0 : addrs[a.buf]) : a));
        ex[call.fn](...args);
      }
    }
    let ok = true;
    const v = new Uint32Array(memory.buffer);
    c.bufs.forEach((b, i) => {
      const a = addrs[i];
      for (let k = (a - GUARD) >> 2; k < a >> 2; k++) if (v[k] !== CANARY) ok = false;
      const e = (a + b.nbytes) >> 2;
      for (let k = e; k < e + (GUARD >> 2); k++) if (v[k] !== CANARY) ok = false;
      if (b.out) outChunks.push(Buffer.from(new Uint8Array(memory.buffer, a, b.nbytes)));
    });
    perCase.push(ok);
  }
  guardsOk.push(perCase);
}
fs.writeFileSync(outPath, Buffer.concat(outChunks));
process.stdout.write(JSON.stringify({ guards_ok: guardsOk }));
