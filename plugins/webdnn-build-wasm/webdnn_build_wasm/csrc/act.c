/* webdnn-build wasm kernels: the fused activations built on exp (sigmoid, tanh, swish), out of line.
 *
 * wdn_act_v4 (internal.h) is inlined into every kernel with an epilogue (conv, GEMM, elementwise, norms...);
 * with mathfn.h's polynomials inlined there too, each of those kernels carried its own copies (ResNet-50's
 * module grew from 90 to 138 KB). One call per vector costs little next to an exp.
 */
#include "kernels.h"
#include "internal.h"
#include "mathfn.h"

__attribute__((noinline)) v128_t wdn__act_exp_v(v128_t v, int kind, v128_t a) {
  switch (kind) {
    case WDN_ACT_SIGMOID: return wdn_math_sigmoid_v(v);
    case WDN_ACT_TANH: return wdn_math_tanh_v(v);
    case WDN_ACT_SWISH: return wasm_f32x4_mul(v, wdn_math_sigmoid_v(wasm_f32x4_mul(v, a)));
    default: return v;
  }
}

