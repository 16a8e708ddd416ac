/* webdnn-build wasm thread runtime (see docs/wasm-backend.md, "Generated module ABI").
 *
 * Both builds: the run-time error word (wdn_set_error; exports wdn_error, wdn_error_reset; kernels.h).
 * Single-threaded build (WDN_THREADS undefined): wdn_barrier is a no-op; nothing else is exported.
 * Threaded build (-DWDN_THREADS=1, -matomics -mbulk-memory, shared memory):
 *   wdn_thread_stack_top(tid)   top of worker tid's stack (tid >= 1; the main thread keeps its own)
 *   wdn_worker_loop(tid)        worker: waits for a dispatch, runs its share, never returns
 *   wdn_run_segment_mt(seg,nth) main thread: dispatches seg to workers 1..nth-1, runs share 0,
 *                               (on the main thread alone when the generated wdn_segment_threads says 1),
 *                               returns when all are done; it only spins (never atomic.wait).
 *   wdn_barrier(nth)            sense-reversing (generation) barrier for the nth threads of a
 *                               segment. Workers spin a while, then atomic.wait; the main thread
 *                               (recognised by its stack pointer lying outside the worker stacks)
 *                               only spins, because browsers forbid blocking the main thread.
 * A dispatch is one 32-bit word (generation | nth | seg), so a worker reads a consistent triple.
 */
#include "kernels.h"

#ifndef WDN_MAX_THREADS
#define WDN_MAX_THREADS 8
#endif
#ifndef WDN_THREAD_STACK_BYTES
#define WDN_THREAD_STACK_BYTES (128 * 1024)
#endif
#ifndef WDN_SPIN_COUNT
/* Iterations a worker spins (on the dispatch word, or in a barrier) before it sleeps in atomic.wait: about
 * 8 ms on a 2-core x86 VM. Waking a sleeping worker cost 0.5-0.7 ms there (a halted vCPU), more than a
 * 1 ms transformer run gains from the second thread; spinning through short gaps between runs (a GC, the
 * application's pre/post-processing) keeps the split worth it down to small models. OpenMP runtimes spin
 * far longer by default (KMP_BLOCKTIME / GOMP_SPINCOUNT: ~200 ms). */
#define WDN_SPIN_COUNT 10000000
#endif

#if WDN_MAX_THREADS > 15
#error "WDN_MAX_THREADS must be <= 15"
#endif

#define WDN_EXPORT(name) __attribute__((export_name(#name)))

/* run-time error word (kernels.h): 0, or (op + 1) * 16 + kind of the first error of the run */
static int wdn_error_word;

void wdn_set_error(int kind, int op) {
  int expected = 0;
  __atomic_compare_exchange_n(&wdn_error_word, &expected, (op + 1) * 16 + (kind & 15), 0, __ATOMIC_SEQ_CST,
                              __ATOMIC_SEQ_CST);
}
WDN_EXPORT(wdn_error) int wdn_error(void) { return __atomic_load_n(&wdn_error_word, __ATOMIC_SEQ_CST); }
WDN_EXPORT(wdn_error_reset) void wdn_error_reset(void) { __atomic_store_n(&wdn_error_word, 0, __ATOMIC_SEQ_CST); }

#ifndef WDN_THREADS

void wdn_barrier(int nth) { (void)nth; }

#else

extern void wdn_run_segment(int seg, int tid, int nth);
/* the generated module defines it (1 for a segment too small to split); this weak default keeps every
 * thread for programs without one (the kernel test drivers) */
__attribute__((weak)) int wdn_segment_threads(int seg, int nth) {
  (void)seg;
  return nth;
}

static unsigned char wdn_stacks[WDN_MAX_THREADS - 1][WDN_THREAD_STACK_BYTES] __attribute__((aligned(16)));

static int bar_count;   /* threads arrived in the current barrier generation */
static int bar_gen;     /* barrier generation */
static int bar_sleepers;
static int disp_word;   /* dispatch: (gen << 18) | (nth << 14) | seg; seg < 16384, nth <= 15 */
static int disp_sleepers;

static int on_worker_stack(void) {
  volatile int probe = 0;
  unsigned long a = (unsigned long)&probe, lo = (unsigned long)&wdn_stacks[0][0];
  return a - lo < sizeof(wdn_stacks);
}

WDN_EXPORT(wdn_thread_stack_top) int wdn_thread_stack_top(int tid) {
  if (tid < 1 || tid >= WDN_MAX_THREADS) return 0;
  return (int)(unsigned long)&wdn_stacks[tid - 1][WDN_THREAD_STACK_BYTES];
}

/* wait until *addr != old; sleep after spinning when allowed */
static void wait_change(int* addr, int old, int* sleepers, int may_sleep) {
  for (int i = 0; i < WDN_SPIN_COUNT || !may_sleep; i++)
    if (__atomic_load_n(addr, __ATOMIC_ACQUIRE) != old) return;
  while (__atomic_load_n(addr, __ATOMIC_ACQUIRE) == old) {
    __atomic_fetch_add(sleepers, 1, __ATOMIC_SEQ_CST);
    __builtin_wasm_memory_atomic_wait32(addr, old, -1);
    __atomic_fetch_sub(sleepers, 1, __ATOMIC_SEQ_CST);
  }
}

static void wake_all(int* addr, int* sleepers) {
  if (__atomic_load_n(sleepers, __ATOMIC_SEQ_CST) > 0) __builtin_wasm_memory_atomic_notify(addr, 0xffffffffu);
}

void wdn_barrier(int nth) {
  if (nth <= 1) return;
  int gen = __atomic_load_n(&bar_gen, __ATOMIC_ACQUIRE);
  if (__atomic_add_fetch(&bar_count, 1, __ATOMIC_ACQ_REL) == nth) {
    __atomic_store_n(&bar_count, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&bar_gen, gen + 1, __ATOMIC_SEQ_CST);
    wake_all(&bar_gen, &bar_sleepers);
  } else {
    wait_change(&bar_gen, gen, &bar_sleepers, on_worker_stack());
  }
}

WDN_EXPORT(wdn_worker_loop) void wdn_worker_loop(int tid) {
  /* start from the initial word (0), not the current one: a dispatch that needs this worker cannot
   * complete without it, so a late-starting worker must still run the pending dispatch */
  int seen = 0;
  for (;;) {
    wait_change(&disp_word, seen, &disp_sleepers, 1);
    int w = __atomic_load_n(&disp_word, __ATOMIC_ACQUIRE);
    seen = w;
    int nth = (w >> 14) & 15, seg = w & 0x3fff;
    if (tid < nth) {
      wdn_run_segment(seg, tid, nth);
      wdn_barrier(nth);
    }
  }
}

WDN_EXPORT(wdn_run_segment_mt) void wdn_run_segment_mt(int seg, int nth) {
  nth = wdn_segment_threads(seg, nth);
  if (nth > WDN_MAX_THREADS) nth = WDN_MAX_THREADS;
  if (nth <= 1) { wdn_run_segment(seg, 0, 1); return; }
  int w = __atomic_load_n(&disp_word, __ATOMIC_RELAXED);
  unsigned gen = ((unsigned)w >> 18) + 1;
  __atomic_store_n(&disp_word, (int)((gen << 18) | ((unsigned)nth << 14) | (unsigned)(seg & 0x3fff)),
                   __ATOMIC_SEQ_CST);
  wake_all(&disp_word, &disp_sleepers);
  wdn_run_segment(seg, 0, nth);
  wdn_barrier(nth);
}

#endif
