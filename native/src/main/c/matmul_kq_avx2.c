/* The ggml blocks beyond Q8_0, Q4_0 and Q4_1 on the integer path with AVX2 (matmul_kq_impl.h). */
#define KQ_VNNI 0
#include "matmul_kq_impl.h"
