/* webdnn-build wasm kernel: LSTM and GRU (wdn_rnn_f32, kernels.h), as ONNX defines them with the default
 * activations (f = sigmoid, g = h = tanh).
 *
 * Each (direction, batch row) sequence is one unit of work: per time step the gate pre-activations are
 * f32x4 dot products of the W rows with x_t and of the R rows with h_{t-1} (plus both biases), then the
 * cell update. The state lives in the thread's scratch; outputs are written as they are produced.
 */
#include "kernels.h"
#include "internal.h"
#include "mathfn.h"

static inline float dot(const float* a, const float* b, int n) {
  v128_t s = wasm_f32x4_splat(0.0f);
  int i = 0;
  for (; i + 4 <= n; i += 4) s = wasm_f32x4_add(s, wasm_f32x4_mul(wasm_v128_load(a + i), wasm_v128_load(b + i)));
  float t = (wasm_f32x4_extract_lane(s, 0) + wasm_f32x4_extract_lane(s, 1)) +
            (wasm_f32x4_extract_lane(s, 2) + wasm_f32x4_extract_lane(s, 3));
  for (; i < n; i++) t += a[i] * b[i];
  return t;
}

/* act[j] for j < n: 0 sigmoid, 1 tanh, in place */
static inline void act_inplace(float* v, int n, int is_tanh) {
  int i = 0;
  for (; i + 4 <= n; i += 4) {
    v128_t a = wasm_v128_load(v + i);
    wasm_v128_store(v + i, is_tanh ? wdn_math_tanh_v(a) : wdn_math_sigmoid_v(a));
  }
  for (; i < n; i++) v[i] = is_tanh ? wdn_math_tanh_s(v[i]) : wdn_math_sigmoid_s(v[i]);
}

void wdn_rnn_f32(const wdn_rnn_params* p, int tid, int nth) {
  const int T = p->seq, N = p->batch, I = p->input, H = p->hidden, D = p->num_dir;
  const int G = p->kind == 0 ? 4 : 3;
  int u0, u1;
  wdn_split(D * N, tid, nth, &u0, &u1);
  float* g = wdn_scratch_f32(p->scratch, p->scratch_stride, tid);  /* [G*H] pre-activations */
  const int hs = (H + 3) & ~3;
  float* h = g + G * hs;  /* (G*H rounded per gate: h starts 16-byte aligned) */
  float* c = h + hs;
  float* tmp = c + hs;
  for (int u = u0; u < u1; u++) {
    const int d = u / N, n = u % N;
    const int backward = d == 1 || p->reverse;
    const float* w = p->w + (ptrdiff_t)d * G * H * I;
    const float* r = p->r + (ptrdiff_t)d * G * H * H;
    const float* wb = p->b ? p->b + (ptrdiff_t)d * 2 * G * H : 0;
    const float* rb = wb ? wb + G * H : 0;
    const float* peep = p->p ? p->p + (ptrdiff_t)d * 3 * H : 0;
    for (int j = 0; j < H; j++) {
      h[j] = p->h0 ? p->h0[((ptrdiff_t)d * N + n) * H + j] : 0.0f;
      c[j] = p->c0 ? p->c0[((ptrdiff_t)d * N + n) * H + j] : 0.0f;
    }
    for (int s = 0; s < T; s++) {
      const int t = backward ? T - 1 - s : s;
      const float* xt = p->x + ((ptrdiff_t)t * N + n) * I;
      if (p->kind == 0) {
        /* LSTM: gates i, o, f, c */
        for (int k = 0; k < 4; k++)
          for (int j = 0; j < H; j++) {
            const int row = k * H + j;
            float v = dot(w + (ptrdiff_t)row * I, xt, I) + dot(r + (ptrdiff_t)row * H, h, H);
            if (wb) v += wb[row] + rb[row];
            g[k * hs + j] = v;
          }
        float* gi = g;
        float* go = g + hs;
        float* gf = g + 2 * hs;
        float* gc = g + 3 * hs;
        if (peep)
          for (int j = 0; j < H; j++) {
            gi[j] += peep[j] * c[j];
            gf[j] += peep[2 * H + j] * c[j];
          }
        act_inplace(gi, H, 0);
        act_inplace(gf, H, 0);
        act_inplace(gc, H, 1);
        for (int j = 0; j < H; j++) c[j] = gf[j] * c[j] + gi[j] * gc[j];
        if (peep)
          for (int j = 0; j < H; j++) go[j] += peep[H + j] * c[j];
        act_inplace(go, H, 0);
        for (int j = 0; j < H; j++) tmp[j] = c[j];
        act_inplace(tmp, H, 1);
        for (int j = 0; j < H; j++) h[j] = go[j] * tmp[j];
      } else {
        /* GRU: gates z, r, h */
        float* gz = g;
        float* gr = g + hs;
        float* gh = g + 2 * hs;
        for (int k = 0; k < 2; k++)
          for (int j = 0; j < H; j++) {
            const int row = k * H + j;
            float v = dot(w + (ptrdiff_t)row * I, xt, I) + dot(r + (ptrdiff_t)row * H, h, H);
            if (wb) v += wb[row] + rb[row];
            g[k * hs + j] = v;
          }
        act_inplace(gz, H, 0);
        act_inplace(gr, H, 0);
        if (p->lbr) {
          for (int j = 0; j < H; j++) {
            const int row = 2 * H + j;
            float rh = dot(r + (ptrdiff_t)row * H, h, H) + (rb ? rb[row] : 0.0f);
            gh[j] = dot(w + (ptrdiff_t)row * I, xt, I) + (wb ? wb[row] : 0.0f) + gr[j] * rh;
          }
        } else {
          for (int j = 0; j < H; j++) tmp[j] = gr[j] * h[j];
          for (int j = 0; j < H; j++) {
            const int row = 2 * H + j;
            gh[j] = dot(w + (ptrdiff_t)row * I, xt, I) + dot(r + (ptrdiff_t)row * H, tmp, H) +
                    (wb ? wb[row] + rb[row] : 0.0f);
          }
        }
        act_inplace(gh, H, 1);
        for (int j = 0; j < H; j++) h[j] = (1.0f - gz[j]) * gh[j] + gz[j] * h[j];
      }
      if (p->y) {
        float* yt = p->y + (((ptrdiff_t)t * D + d) * N + n) * H;
        for (int j = 0; j < H; j++) yt[j] = h[j];
      }
    }
    if (p->yh)
      for (int j = 0; j < H; j++) p->yh[((ptrdiff_t)d * N + n) * H + j] = h[j];
    if (p->yc && p->kind == 0)
      for (int j = 0; j < H; j++) p->yc[((ptrdiff_t)d * N + n) * H + j] = c[j];
  }
}
