/* ggml's K-quant and 5-bit blocks with AVX2: the range searches of quant_kq_lanes.h in 8 lanes. */
#include <immintrin.h>

#define LB_KQ_W 8
#define lb_kq_vsqrt(v) ((lbv_f) _mm256_sqrt_ps((__m256) (v)))

#include "quant_kq_lanes.h"

#include "quant_kq_impl.h"
