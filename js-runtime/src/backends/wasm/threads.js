// Threads for the wasm backend: how many to use, and the workers that run the threaded module.
//
// The threaded module shares one WebAssembly.Memory (shared: true) between the main thread
// (thread 0) and nth - 1 workers (threads 1..nth-1), each running wdn_worker_loop(tid) in
// ./wasm-worker.js. Node uses worker_threads (imported only there); browsers use module Workers.

/**
 * Imports a Node built-in. The computed specifier and the comments keep bundlers (webpack, Vite)
 * from resolving Node-only modules for browsers, where this is never called.
 */
const importNode = (name) => import(/* webpackIgnore: true */ /* @vite-ignore */ name);

/** The most threads the runtime ever uses. */
export const MAX_THREADS = 8;

export const isNode = typeof process !== 'undefined' && process.versions != null && process.versions.node != null &&
  typeof globalThis.window === 'undefined';

/** Available cores: Node's os.availableParallelism(), else navigator.hardwareConcurrency, else 1. */
export async function availableCores() {
  if (isNode) {
    try {
      const os = await importNode('node:os');
      return typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
    } catch {
      // fall through
    }
  }
  const n = globalThis.navigator?.hardwareConcurrency;
  return Number.isInteger(n) && n > 0 ? n : 1;
}

/**
 * Why threads cannot be used here, or null when they can: SharedArrayBuffer must exist and, in
 * browsers, the page must be cross-origin isolated; workers must exist.
 */
export function threadsUnsupportedReason() {
  if (typeof SharedArrayBuffer === 'undefined') {
    return isNode ? 'SharedArrayBuffer is not available'
      : 'SharedArrayBuffer is not available (serve the page with Cross-Origin-Opener-Policy: same-origin and ' +
        'Cross-Origin-Embedder-Policy: require-corp)';
  }
  if (!isNode && globalThis.crossOriginIsolated !== true) {
    return 'the page is not cross-origin isolated (serve it with Cross-Origin-Opener-Policy: same-origin and ' +
      'Cross-Origin-Embedder-Policy: require-corp)';
  }
  if (!isNode && typeof Worker === 'undefined') return 'Web Workers are not available';
  return null;
}

/**
 * Decides the thread count. `requested`: options.threads (undefined: available cores).
 * @returns {Promise<{ threads: number, reason: string | null }>} reason: why fewer threads than
 *   requested (or than the default) are used; null when nothing limited the choice
 */
export async function chooseThreads(plan, requested) {
  if (requested === 1) return { threads: 1, reason: 'threads: 1 was requested' };
  if (!plan.moduleThreads) return { threads: 1, reason: 'the bundle has no threaded wasm module' };
  const unsupported = threadsUnsupportedReason();
  if (unsupported) return { threads: 1, reason: unsupported };
  const cap = Math.min(MAX_THREADS, Number.isInteger(plan.maxThreads) && plan.maxThreads > 0 ? plan.maxThreads : MAX_THREADS);
  const cores = requested === undefined ? await availableCores() : null;
  const want = requested ?? cores;
  const threads = Math.max(1, Math.min(want, cap));
  let reason = null;
  if (threads < want) reason = `capped at ${cap} threads (${cap === plan.maxThreads ? "the module's maxThreads" : 'the runtime limit'})`;
  else if (threads === 1) reason = 'only 1 core is available';
  return { threads, reason };
}

/**
 * Node flags for the workers: the parent's (e.g. wasm feature flags), minus those that only apply
 * to the main script (--eval/--print and their code, --input-type) and per-process V8 flags
 * (--expose-gc, as in `node --expose-gc` leak checks), which workers reject.
 */
function workerExecArgv() {
  const out = [];
  const args = process.execArgv;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '-e' || a === '--eval' || a === '-p' || a === '--print' || a === '-pe') { i++; continue; }
    if (a.startsWith('--eval=') || a.startsWith('--print=') || a.startsWith('--input-type')) continue;
    if (a === '--expose-gc' || a === '--expose_gc') continue;
    out.push(a);
  }
  return out;
}

/** Creates one worker running ./wasm-worker.js. */
async function createWorker() {
  if (isNode) {
    const { Worker } = await importNode('node:worker_threads');
    const w = new Worker(new URL('./wasm-worker.js', import.meta.url), { execArgv: workerExecArgv() });
    const listeners = [];
    const on = (event, fn) => { w.on(event, fn); listeners.push([event, fn]); };
    return {
      raw: w,
      onMessage: (fn) => on('message', fn),
      onError: (fn) => { on('error', fn); on('exit', (code) => fn(new Error(`worker exited (code ${code})`))); },
      post: (msg) => w.postMessage(msg),
      unref: () => w.unref(),
      terminate: () => {
        for (const [event, fn] of listeners) w.off(event, fn);
        w.on('error', () => {}); // nothing to report once terminated
        w.terminate().catch(() => {});
      },
    };
  }
  const w = new Worker(new URL('./wasm-worker.js', import.meta.url), { type: 'module' });
  return {
    raw: w,
    onMessage: (fn) => w.addEventListener('message', (ev) => fn(ev.data)),
    onError: (fn) => w.addEventListener('error', (ev) => fn(new Error(ev.message || 'worker failed to start'))),
    post: (msg) => w.postMessage(msg),
    unref: () => {},
    terminate: () => w.terminate(),
  };
}

/**
 * Starts workers for threads 1..nth-1 of a threaded module over a shared memory and waits until
 * each is ready (inside wdn_worker_loop). On failure, terminates the ones started and throws.
 *
 * @param {WebAssembly.Module} module the threaded module
 * @param {WebAssembly.Memory} memory the shared memory (already initialised by the main instance)
 * @param {number} nth total thread count (the main thread included)
 * @returns {Promise<{ terminate(): void, count: number, raw: any[] }>} raw: the Worker objects
 */
export async function startWorkers(module, memory, nth, { timeoutMs = 30000 } = {}) {
  const workers = [];
  const terminate = () => { for (const w of workers.splice(0)) w.terminate(); };
  try {
    const ready = [];
    for (let tid = 1; tid < nth; tid++) {
      const w = await createWorker();
      workers.push(w);
      ready.push(new Promise((resolve, reject) => {
        let settled = false;
        const done = (err) => {
          if (settled) return;
          settled = true;
          if (err) reject(err); else resolve();
        };
        w.onMessage((m) => done(m === 'ready' ? null : new Error(m && m.error ? m.error : `unexpected message from worker ${tid}`)));
        w.onError((e) => done(new Error(`worker ${tid}: ${e && e.message ? e.message : String(e)}`)));
      }));
      w.post({ module, memory, tid });
    }
    let timer;
    const timeout = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`workers not ready after ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      await Promise.race([Promise.all(ready), timeout]);
    } finally {
      clearTimeout(timer);
    }
  } catch (e) {
    terminate();
    throw e;
  }
  // Idle workers must not keep a Node process alive (they block in wdn_worker_loop forever).
  for (const w of workers) w.unref();
  return { terminate, count: workers.length, raw: workers.map((w) => w.raw) };
}
