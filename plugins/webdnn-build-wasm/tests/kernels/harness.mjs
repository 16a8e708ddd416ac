// Loads the kernel test module (kernels-st.wasm or kernels-mt.wasm built by build.py) in Node.
// Threaded: one shared WebAssembly.Memory; workers 1..nth-1 set __stack_pointer to
// wdn_thread_stack_top(tid) and call wdn_worker_loop(tid) (never returns; terminated on close()).
import { Worker, isMainThread, workerData } from 'node:worker_threads';
import fs from 'node:fs';
import path from 'node:path';

const PAGE = 65536;
const MEM_BYTES = 512 * 1024 * 1024;

if (!isMainThread && workerData && workerData.wdnWorker) {
  const { module, memory, tid } = workerData;
  const inst = new WebAssembly.Instance(module, { env: { memory } });
  inst.exports.__stack_pointer.value = inst.exports.wdn_thread_stack_top(tid);
  inst.exports.wdn_worker_loop(tid);
}

export async function createRunner(wasmDir, nth) {
  const threaded = nth > 1;
  const bytes = fs.readFileSync(path.join(wasmDir, threaded ? 'kernels-mt.wasm' : 'kernels-st.wasm'));
  const module = await WebAssembly.compile(bytes);
  const memory = new WebAssembly.Memory({ initial: MEM_BYTES / PAGE, maximum: MEM_BYTES / PAGE, shared: threaded });
  const inst = await WebAssembly.instantiate(module, { env: { memory } });
  const ex = inst.exports;
  const workers = [];
  for (let tid = 1; tid < nth; tid++) {
    workers.push(new Worker(new URL(import.meta.url), { workerData: { wdnWorker: true, module, memory, tid } }));
  }
  let heap = (ex.t_heap_base() + 63) & ~63;
  const r = {
    ex, memory, nth,
    alloc(bytes) { const p = heap; heap = (heap + bytes + 63) & ~63; if (heap > MEM_BYTES) throw new Error('oom'); return p; },
    reset() { heap = (ex.t_heap_base() + 63) & ~63; },
    f32(ptr, n) { return new Float32Array(memory.buffer, ptr, n); },
    put(arr) { const p = r.alloc(arr.length * 4); r.f32(p, arr.length).set(arr); return p; },
    args() { const p = ex.t_args(); return { i: new Int32Array(memory.buffer, p, 64), f: new Float32Array(memory.buffer, p, 64) }; },
    run() { if (threaded) ex.wdn_run_segment_mt(0, nth); else ex.t_run(); },
    async close() { await Promise.all(workers.map((w) => w.terminate())); },
  };
  return r;
}

// Args layouts (see driver.c). Floats go to the f view.
export function setGemm(r, o) {
  const { i, f } = r.args();
  i.fill(0);
  i[0] = o.m; i[1] = o.n; i[2] = o.k; i[3] = o.ta; i[4] = o.tb; i[5] = o.a; i[6] = o.b; i[7] = o.bias;
  i[8] = o.biasKind; f[9] = o.alpha; f[10] = o.beta; i[11] = o.residual; i[12] = o.y; i[13] = o.scratch;
  i[14] = o.stride; i[15] = o.act; f[16] = o.actA; f[17] = o.actB;
  r.ex.t_set_gemm();
}

export function setConv(r, o) {
  const { i, f } = r.args();
  i.fill(0);
  const ints = [o.n, o.cin, o.h, o.w, o.cout, o.oh, o.ow, o.kh, o.kw, o.sh, o.sw, o.dh, o.dw,
    o.pads[0], o.pads[1], o.pads[2], o.pads[3], o.group, o.x, o.weight, o.bias, o.residual, o.y,
    o.scratch, o.stride, o.act];
  ints.forEach((v, k) => { i[k] = v; });
  f[26] = o.actA; f[27] = o.actB;
  r.ex.t_set_conv();
}
