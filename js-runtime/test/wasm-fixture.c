/* Test fixture for the wasm backend (js-runtime/test/wasm*.test.js): a hand-written module with the
 * generated-module ABI of docs/wasm-backend.md, compiled at test time with the Zig toolchain.
 *
 * Arena: four float[N] slots. Segment 0 reads slot 0 and writes slot 1, segment 1 reads slot 2 and
 * writes slot 3:  out[i] = 2 * in[N - 1 - i] + w[i], where w is the weight region (float[N]) as
 * copied by wdn_prepare() (so a missing wdn_prepare() call gives out = 2 * reversed(in)).
 * The reversal makes each thread's share depend on the others' (a barrier separates the phases).
 * Built with -DWDN_THREADS=1 for the threaded variant (own barrier and worker loop, atomics).
 */
#ifndef N
#define N 1000
#endif
#ifndef MAXT
#define MAXT 8
#endif
#define EXPORT(name) __attribute__((export_name(#name)))

static float arena[4][N] __attribute__((aligned(16)));
static float weights[N] __attribute__((aligned(16)));
static float packed[N];
static float tmp[N];

EXPORT(wdn_arena) int wdn_arena(void) { return (int)(long)arena; }
EXPORT(wdn_weights) int wdn_weights(void) { return (int)(long)weights; }
EXPORT(wdn_prepare) void wdn_prepare(void) { for (int i = 0; i < N; i++) packed[i] = weights[i]; }

#ifdef WDN_THREADS
static volatile int bar_count, bar_gen;
/* Spin briefly, then (workers only: the main thread must not block in browsers) wait. */
static void barrier(int tid, int nth) {
  if (nth <= 1) return;
  int gen = __atomic_load_n(&bar_gen, __ATOMIC_SEQ_CST);
  if (__atomic_add_fetch(&bar_count, 1, __ATOMIC_SEQ_CST) == nth) {
    __atomic_store_n(&bar_count, 0, __ATOMIC_SEQ_CST);
    __atomic_add_fetch(&bar_gen, 1, __ATOMIC_SEQ_CST);
    __builtin_wasm_memory_atomic_notify((int*)&bar_gen, (unsigned)-1);
    return;
  }
  for (int spin = 0; __atomic_load_n(&bar_gen, __ATOMIC_SEQ_CST) == gen; spin++) {
    if (tid != 0 && spin > 1000) __builtin_wasm_memory_atomic_wait32((int*)&bar_gen, gen, -1);
  }
}
#else
static void barrier(int tid, int nth) { (void)tid; (void)nth; }
#endif

EXPORT(wdn_run_segment) void wdn_run_segment(int seg, int tid, int nth) {
  const float* x = arena[seg == 0 ? 0 : 2];
  float* y = arena[seg == 0 ? 1 : 3];
  int lo = (int)((long long)N * tid / nth), hi = (int)((long long)N * (tid + 1) / nth);
  for (int i = lo; i < hi; i++) tmp[i] = 2.0f * x[i];
  barrier(tid, nth);
  for (int i = lo; i < hi; i++) y[i] = tmp[N - 1 - i] + packed[i];
  barrier(tid, nth);
}

#ifdef WDN_THREADS
static char stacks[MAXT][16384] __attribute__((aligned(16)));
static volatile int job_gen, job_seg, job_nth, job_done;

EXPORT(wdn_thread_stack_top) int wdn_thread_stack_top(int tid) { return (int)(long)(stacks[tid] + sizeof stacks[tid]); }

EXPORT(wdn_worker_loop) void wdn_worker_loop(int tid) {
  /* Start from generation 0, not the current value: the runtime posts 'ready' before calling this
   * loop, so the first segment may be dispatched before the worker gets here. */
  int seen = 0;
  for (;;) {
    int g;
    while ((g = __atomic_load_n(&job_gen, __ATOMIC_SEQ_CST)) == seen)
      __builtin_wasm_memory_atomic_wait32((int*)&job_gen, seen, -1);
    seen = g;
    int nth = __atomic_load_n(&job_nth, __ATOMIC_SEQ_CST), seg = __atomic_load_n(&job_seg, __ATOMIC_SEQ_CST);
    if (tid < nth) {
      wdn_run_segment(seg, tid, nth);
      __atomic_add_fetch(&job_done, 1, __ATOMIC_SEQ_CST);
    }
  }
}

EXPORT(wdn_run_segment_mt) void wdn_run_segment_mt(int seg, int nth) {
  if (nth <= 1) { wdn_run_segment(seg, 0, 1); return; }
  __atomic_store_n(&job_seg, seg, __ATOMIC_SEQ_CST);
  __atomic_store_n(&job_nth, nth, __ATOMIC_SEQ_CST);
  __atomic_store_n(&job_done, 0, __ATOMIC_SEQ_CST);
  __atomic_add_fetch(&job_gen, 1, __ATOMIC_SEQ_CST);
  __builtin_wasm_memory_atomic_notify((int*)&job_gen, (unsigned)-1);
  wdn_run_segment(seg, 0, nth);
  while (__atomic_load_n(&job_done, __ATOMIC_SEQ_CST) < nth - 1) {} /* spin: no blocking on the main thread */
}
#endif
