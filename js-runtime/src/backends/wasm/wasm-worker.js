// A thread of the wasm backend's threaded module (browsers: a module Worker; Node: worker_threads).
//
// Receives { module, memory, tid }: instantiates the module over the shared memory, points its
// stack pointer at thread tid's stack, posts 'ready', then runs wdn_worker_loop(tid), which waits
// for segments and never returns (the runtime terminates the worker on dispose).

function start(port, msg) {
  let exports;
  try {
    const { module, memory, tid } = msg;
    exports = new WebAssembly.Instance(module, { env: { memory } }).exports;
    exports.__stack_pointer.value = exports.wdn_thread_stack_top(tid);
  } catch (e) {
    port.postMessage({ error: `wasm worker: ${e && e.message ? e.message : String(e)}` });
    return;
  }
  port.postMessage('ready');
  try {
    exports.wdn_worker_loop(msg.tid);
    port.postMessage({ error: `wasm worker ${msg.tid}: wdn_worker_loop returned` });
  } catch (e) {
    port.postMessage({ error: `wasm worker ${msg.tid}: ${e && e.message ? e.message : String(e)}` });
  }
}

const isBrowserWorker = typeof WorkerGlobalScope !== 'undefined' && typeof self !== 'undefined' &&
  self instanceof WorkerGlobalScope; // eslint-disable-line no-undef

if (isBrowserWorker) {
  self.addEventListener('message', (ev) => start(self, ev.data), { once: true });
} else {
  // no top-level await and a computed specifier: bundlers copy or compile this file for browsers
  const name = 'node:worker_threads';
  import(/* webpackIgnore: true */ /* @vite-ignore */ name).then(({ parentPort }) => {
    parentPort.once('message', (msg) => start(parentPort, msg));
  });
}
