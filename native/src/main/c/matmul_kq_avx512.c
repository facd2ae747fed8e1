/*
 * The ggml blocks beyond Q8_0, Q4_0 and Q4_1 on the integer path with AVX-512 VNNI on 256-bit vectors
 * (matmul_kq_impl.h): vpdpwssd scales and adds the pair sums, vpdpbusd sums the blocks of 32.
 */
#define KQ_VNNI 1
#include "matmul_kq_impl.h"
