/* ggml's K-quant and 5-bit blocks with AVX-512: the range searches of quant_kq_lanes.h in 16 lanes. */
#include <immintrin.h>

#define LB_KQ_W 16
#define lb_kq_vsqrt(v) ((lbv_f) _mm512_sqrt_ps((__m512) (v)))

#include "quant_kq_lanes.h"

#include "quant_kq_impl.h"
