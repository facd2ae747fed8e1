/*
 * i8_rowx16 in portable C (also built for the avx2 tier, where the compiler vectorizes the 16 rows' sums):
 * per group of 16 rows and token, 16 int32 sums of w * x over the chunks of 4 columns, then the fp32 step.
 */
#include "matmul_i8row.h"

int32_t LB_FN(gemm_i8_rowx16_i8)(const uint8_t *w, const int8_t *xc, const float *xs, int32_t k, int32_t pk,
                                 int32_t xs_tok, int32_t r0, int32_t r1, int32_t t0, int32_t t1, float *y,
                                 int64_t ldy) {
    const int32_t kc = (k + 3) / 4;
    const int64_t gb = i8r_group_bytes(k);
    for (int32_t r = r0; r < r1; r += I8R_ROWS) {
        const uint8_t *g = w + (int64_t) (r / I8R_ROWS) * gb;
        float dw[I8R_ROWS];
        memcpy(dw, g, sizeof dw);
        const int8_t *codes = (const int8_t *) (g + I8R_HEADER);
        const int32_t n = r1 - r < I8R_ROWS ? r1 - r : I8R_ROWS;
        for (int32_t t = t0; t < t1; t++) {
            const int8_t *x = xc + (int64_t) t * pk;
            int32_t acc[I8R_ROWS] = {0};
            for (int32_t c = 0; c < kc; c++) {
                const int8_t *q = codes + (int64_t) c * 64;
                const int32_t x0 = x[4 * c], x1 = x[4 * c + 1], x2 = x[4 * c + 2], x3 = x[4 * c + 3];
                for (int i = 0; i < I8R_ROWS; i++) {
                    acc[i] += q[4 * i] * x0 + q[4 * i + 1] * x1 + q[4 * i + 2] * x2 + q[4 * i + 3] * x3;
                }
            }
            const float dx = xs[(int64_t) t * xs_tok];
            float *yt = y + (int64_t) t * ldy + r;
            for (int i = 0; i < n; i++) {
                yt[i] = i8r_scale(dw[i], dx, acc[i]);
            }
        }
    }
    return 0;
}
