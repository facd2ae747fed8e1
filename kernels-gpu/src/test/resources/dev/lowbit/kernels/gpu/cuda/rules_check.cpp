// Host build of lowbit_common.cuh's scalar rules (group parameters, codes, values; ggml's blocks by
// lb_ggml_params and lb_ggml_code), driven by HostRulesTest.
// Input, one group per line: kind bits symmetric f16 n then n float bit patterns (hex). The codebook is NF4's
// levels, midpoints and reach, given on the first line as 32 float bit patterns (hex).
// Output, one line per group: bad d-bits zero-bits, n codes, n dequantized value bit patterns (hex), then the
// group's stored bytes as the quantize kernel writes them (hex), the ggml block header included.
#include <math.h>
#include <stdio.h>
#include <string.h>
#define LOWBIT_HOST_CHECK 1
#include "lowbit_common.cuh"

static float read_float() {
    unsigned int u;
    if (scanf("%x", &u) != 1) {
        return 0.0f;
    }
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static unsigned int bits(float f) {
    unsigned int u;
    memcpy(&u, &f, 4);
    return u;
}

int main() {
    float table[32];
    for (int i = 0; i < 32; i++) {
        table[i] = read_float();
    }
    int kind, nbits, sym, f16, n;
    static float x[4096];
    static int codes[4096];
    static u8 packed[4096];
    while (scanf("%d %d %d %d %d", &kind, &nbits, &sym, &f16, &n) == 5) {
        float mn = __int_as_float(0x7f800000);
        float mx = -mn;
        for (int i = 0; i < n; i++) {
            x[i] = read_float();
            mn = lb_jmin(mn, x[i]);
            mx = lb_jmax(mx, x[i]);
        }
        bool bad = false;
        LbParams p = {};
        LbGgml gp = {};
        if (kind <= 2) { // ggml's blocks: the stored (fp16) scale and minimum are what the reference reports
            gp = lb_ggml_params(kind, x, n, &bad);
            p.d = lb_h2f(lb_f2h(gp.d));
            p.zero = kind == 2 ? lb_h2f(lb_f2h(gp.sub)) : 0.0f;
        } else {
            p = lb_params(kind, nbits, sym != 0, f16 != 0, table[31], mn, mx, &bad);
        }
        printf("%d %08x %08x", bad ? 1 : 0, bits(p.d), bits(p.zero));
        for (int i = 0; i < n; i++) {
            if (bad) {
                codes[i] = 0;
            } else if (kind <= 2) {
                u8 c = lb_ggml_code(kind, gp, x[i]);
                codes[i] = kind == 0 ? (int) (i8) c : (int) c;
            } else {
                codes[i] = lb_code(kind, p, table + 16, x[i]);
            }
            printf(" %d", codes[i]);
        }
        // Dequantize with the parameters as the planes store them (fp16 rounding of d and the zero point).
        float d = kind <= 2 || f16 ? lb_h2f(lb_f2h(p.d)) : p.d;
        float z = kind == 2 || (kind == 3 && !sym && f16) ? lb_h2f(lb_f2h(p.zero)) : p.zero;
        for (int i = 0; i < n; i++) {
            printf(" %08x", bits(bad ? 0.0f : lb_value(kind, codes[i], d, z, table)));
        }
        memset(packed, 0, sizeof(packed));
        for (int i = 0; i < n; i++) {
            packed[i] = (u8) codes[i];
        }
        // The stored row: a ggml block (header, payload) or the packed fields.
        static u8 row[4096];
        int rowBytes = 0;
        if (kind <= 2) {
            int payload = kind == 0 ? 32 : 16;
            u16 hd = lb_f2h(p.d);
            u16 hm = lb_f2h(p.zero);
            row[rowBytes++] = (u8) hd;
            row[rowBytes++] = (u8) (hd >> 8);
            if (kind == 2) {
                row[rowBytes++] = (u8) hm;
                row[rowBytes++] = (u8) (hm >> 8);
            }
            for (int j = 0; j < payload; j++) {
                row[rowBytes++] = lb_group_byte(kind, nbits, packed, n, j);
            }
        } else {
            int nbytes = (n * nbits + 7) / 8;
            for (int j = 0; j < nbytes; j++) {
                row[rowBytes++] = lb_group_byte(kind, nbits, packed, n, j);
            }
        }
        for (int j = 0; j < rowBytes; j++) {
            printf(" %02x", row[j]);
        }
        // What the dequantize kernel reads back from the stored planes (lb_dequantize_one), as fp32 bit patterns.
        u8 scalePlane[4];
        u8 zeroPlane[4];
        lb_store_param(scalePlane, 0, f16 != 0, p.d);
        lb_store_param(zeroPlane, 0, f16 != 0, p.zero);
        printf(" |");
        for (int c = 0; c < n; c++) {
            float back = bad ? 0.0f : lb_dequantize_one(row, scalePlane, zeroPlane, table, n, kind <= 2 ? 32 : n,
                                                        kind, nbits, sym, f16, 0, c);
            printf(" %08x", bits(back));
        }
        // The four-at-a-time path of the dequantize kernel, for rows whose length is a multiple of 4.
        printf(" |");
        if (n % 4 == 0) {
            int gl = kind <= 2 ? 32 : n;
            for (int c = 0; c < n; c += 4) {
                float four[4] = {0.0f, 0.0f, 0.0f, 0.0f};
                if (!bad) {
                    lb_dequantize4(row, scalePlane, zeroPlane, table, n, gl, (n + gl - 1) / gl, kind, nbits, sym, f16,
                                   0, c, four);
                }
                for (int i = 0; i < 4; i++) {
                    printf(" %08x", bits(four[i]));
                }
            }
        }
        printf("\n");
    }
    return 0;
}
