// Runs lowbit's CUDA kernels, unchanged, on the host (cuda_host_emu.h) for KernelEmulationTest. Commands on stdin,
// results on stdout, all numbers as hex bit patterns. The first line is the 32-float codebook table.
//   Q path kind bits sym f16 groupLen rows cols <floats>          -> status0 status1 | data | scales | zeros
//   D kind bits sym f16 groupLen rows cols <data> <scales> <zeros>  -> dequantized floats
//   W bf16 rows k groupLen n <words> <scales> <zeros> <x halves>     -> y (n x rows) floats
//   A q8 n k <floats>                                               -> status0 status1 | codes | scales
//   M path kind bits sym f16 groupLen rows k n nd ns nz <data> <scales> <zeros> <x floats>  -> y (fp32 path)
//   I kind bits sym f16 groupLen rows k n pk spt nd ns nz <data> <scales> <zeros> <codes> <x scales> -> y
//   O rows cols nnz <rowPtr> <colIdx> <values> <dense floats>        -> dense plus outliers
//   G rows n k spt nnz <rowPtr> <colIdx> <values> <x floats> <x scales (spt > 0)> <y floats> -> y plus outliers
//   E rows n <C ints> <dw floats> <dx floats>                        -> y (int8 epilogue)
// path: groups, vec4, fused, twopass for Q; f32, lut for M (the launch shapes are those of CudaQuant, CudaMatmul).
#include "cuda_host_emu.h"
#include "quantize.cu"
#include "dequantize.cu"
#include "w4a16.cu"
#include "activations.cu"
#include "gemm_f32.cu"
#include "gemv_codebook.cu"
#include "gemm_int8.cu"
#include "outliers.cu"
#include "int8_epilogue.cu"

static float bf16_to_float(u16 h) {
    unsigned u = (unsigned) h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static u16 float_to_bf16(float f) {
    unsigned u;
    memcpy(&u, &f, 4);
    return (u16) ((u + 0x7FFF + ((u >> 16) & 1)) >> 16);
}

static float half_value(bool bf16, u16 h) { return bf16 ? bf16_to_float(h) : lb_h2f(h); }
static u16 half_bits(bool bf16, float f) { return bf16 ? float_to_bf16(f) : lb_f2h(f); }

u32 lb_host_fma2(bool bf16, u32 a, u32 b, u32 c) {
    u32 out = 0;
    for (int h = 0; h < 2; h++) {
        double r = (double) half_value(bf16, (u16) (a >> (16 * h))) * half_value(bf16, (u16) (b >> (16 * h)))
                 + half_value(bf16, (u16) (c >> (16 * h)));
        out |= (u32) half_bits(bf16, (float) r) << (16 * h);
    }
    return out;
}

u32 lb_host_neg_magic_zero(bool bf16, float z) {
    u16 h = half_bits(bf16, -((bf16 ? 128.0f : 1024.0f) + z));
    return (u32) h | ((u32) h << 16);
}

// mma.m16n8k16 with the PTX fragment layouts: A element (row, k) is in lane (row % 8) * 4 + (k % 8) / 2, register
// (row / 8) + 2 * (k / 8), half k % 2; B element (k, n) in lane n * 4 + (k % 8) / 2, register k / 8, half k % 2;
// C element i of a lane is row g + 8 * (i / 2), column 2q + i % 2.
void lb_host_mma(bool bf16, float* c, u32 a0, u32 a1, u32 a2, u32 a3, u32 b0, u32 b1) {
    EmuWarp& w = emu_warp();
    int lane = emu_lane();
    w.wide[lane][0] = a0 | ((unsigned long long) a1 << 32);
    w.wide[lane][1] = a2 | ((unsigned long long) a3 << 32);
    w.wide[lane][2] = b0 | ((unsigned long long) b1 << 32);
    w.bar->arrive_and_wait();
    auto reg = [&](int l, int r) { return (u32) (w.wide[l][r / 2] >> (32 * (r % 2))); };
    int g = lane >> 2;
    int q = lane & 3;
    for (int i = 0; i < 4; i++) {
        int row = g + 8 * (i / 2);
        int col = 2 * q + i % 2;
        double s = 0;
        for (int k = 0; k < 16; k++) {
            u32 ar = reg((row % 8) * 4 + (k % 8) / 2, (row / 8) + 2 * (k / 8));
            u32 br = reg(col * 4 + (k % 8) / 2, 4 + k / 8);
            s += (double) half_value(bf16, (u16) (ar >> (16 * (k % 2)))) * half_value(bf16, (u16) (br >> (16 * (k % 2))));
        }
        c[i] += (float) s;
    }
    w.bar->arrive_and_wait();
}

// The command interpreter (fake_cuda.cpp includes this file for the kernels and the w4a16 stand-ins only).
#ifndef LOWBIT_EMU_NO_MAIN
static unsigned read_hex() {
    unsigned u = 0;
    if (scanf("%x", &u) != 1) {
        fprintf(stderr, "input ended early\n");
        exit(2);
    }
    return u;
}

static float read_float() {
    unsigned u = read_hex();
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static void print_floats(const std::vector<float>& v, size_t n) {
    for (size_t i = 0; i < n; i++) {
        unsigned u;
        memcpy(&u, &v[i], 4);
        printf("%s%08x", i ? " " : "", u);
    }
    printf("\n");
}

template <class T> static std::vector<T> read_words(long long n) {
    std::vector<T> v(n + 16);
    for (long long i = 0; i < n; i++) {
        unsigned u = read_hex();
        memcpy(&v[i], &u, sizeof(T) < 4 ? sizeof(T) : 4);
    }
    return v;
}

static void print_bytes(const std::vector<u8>& b) {
    for (u8 v : b) {
        printf(" %02x", v);
    }
}

int main() {
    std::vector<float> table(32);
    for (float& t : table) {
        t = read_float();
    }
    char cmd[16];
    while (scanf("%15s", cmd) == 1) {
        if (cmd[0] == 'Q') {
            char path[16];
            int kind, bits, sym, f16, gl, rows, cols;
            if (scanf("%15s %d %d %d %d %d %d %d", path, &kind, &bits, &sym, &f16, &gl, &rows, &cols) != 8) {
                return 2;
            }
            std::vector<float> x((size_t) rows * cols);
            for (float& v : x) {
                v = read_float();
            }
            bool ggml = kind <= 2;
            int gpr = (cols + gl - 1) / gl;
            long long rowBytes = ggml ? (long long) gpr * (kind == 0 ? 34 : kind == 1 ? 18 : 20)
                                      : ((long long) cols * bits + 7) / 8;
            int sb = f16 ? 2 : 4;
            std::vector<u8> data(rows * rowBytes + 16), scales(ggml ? 16 : (size_t) rows * gpr * sb + 16),
                zeros((size_t) rows * gpr * sb + 16);
            unsigned long long status[2] = {~0ull, ~0ull};
            long long groups = (long long) rows * gpr;
            if (!strcmp(path, "groups")) {
                emu_launch(dim3{(unsigned) ((groups + 7) / 8), 1, 1}, 256, lb_quantize_groups, (const float*) x.data(),
                           rows, cols, gl, kind, bits, sym, f16, (const float*) table.data(), data.data(),
                           scales.data(), zeros.data(), status);
            } else if (!strcmp(path, "vec4")) {
                long long threads = groups * (gl / 4);
                emu_launch(dim3{(unsigned) ((threads + 255) / 256), 1, 1}, 256, lb_quantize_groups_vec4,
                           (const float*) x.data(), rows, cols, gl, kind, bits, sym, f16, (const float*) table.data(),
                           data.data(), scales.data(), zeros.data(), status);
            } else if (!strcmp(path, "fused")) {
                emu_launch(dim3{(unsigned) rows, 1, 1}, 1024, lb_quantize_rows_fused, (const float*) x.data(), rows,
                           cols, kind, bits, sym, f16, (const float*) table.data(), data.data(), scales.data(),
                           zeros.data(), status);
            } else {
                std::vector<float4> params(rows);
                emu_launch(dim3{(unsigned) rows, 1, 1}, 256, lb_row_params, (const float*) x.data(), rows, cols, kind,
                           bits, sym, f16, (const float*) table.data(), scales.data(), zeros.data(), params.data(),
                           status);
                long long bytes = rows * rowBytes;
                emu_launch(dim3{(unsigned) ((bytes + 255) / 256), 1, 1}, 256, lb_quantize_row_encode,
                           (const float*) x.data(), rows, cols, kind, bits, (const float*) table.data(),
                           (const float4*) params.data(), data.data());
            }
            printf("%llx %llx |", status[0], status[1]);
            data.resize(rows * rowBytes);
            print_bytes(data);
            printf(" |");
            scales.resize(ggml ? 0 : (size_t) rows * gpr * sb);
            print_bytes(scales);
            printf(" |");
            zeros.resize(kind == 3 && !sym ? (size_t) rows * gpr * sb : 0);
            print_bytes(zeros);
            printf("\n");
        } else if (cmd[0] == 'D') {
            int kind, bits, sym, f16, gl, rows, cols;
            long long nd, ns, nz;
            if (scanf("%d %d %d %d %d %d %d %lld %lld %lld", &kind, &bits, &sym, &f16, &gl, &rows, &cols, &nd, &ns,
                      &nz) != 10) {
                return 2;
            }
            std::vector<u8> data(nd + 16), scales(ns + 16), zeros(nz + 16);
            for (long long i = 0; i < nd; i++) data[i] = (u8) read_hex();
            for (long long i = 0; i < ns; i++) scales[i] = (u8) read_hex();
            for (long long i = 0; i < nz; i++) zeros[i] = (u8) read_hex();
            std::vector<float> out((size_t) rows * cols + 4);
            unsigned gx = (unsigned) ((((cols + 3) / 4) + 255) / 256);
            emu_launch(dim3{gx, (unsigned) (rows < 65535 ? rows : 65535), 1}, 256, lb_dequantize,
                       (const u8*) data.data(), (const u8*) scales.data(), (const u8*) zeros.data(),
                       (const float*) table.data(), rows, cols, gl, kind, bits, sym, f16, out.data());
            for (long long i = 0; i < (long long) rows * cols; i++) {
                unsigned u;
                memcpy(&u, &out[i], 4);
                printf("%s%08x", i ? " " : "", u);
            }
            printf("\n");
        } else if (cmd[0] == 'W') {
            int bf16, rows, k, gl, n;
            if (scanf("%d %d %d %d %d", &bf16, &rows, &k, &gl, &n) != 5) {
                return 2;
            }
            std::vector<u32> words((size_t) rows * k / 8);
            for (u32& v : words) v = read_hex();
            int groups = k / gl;
            std::vector<float> scales((size_t) groups * rows), zeros((size_t) groups * rows);
            for (float& v : scales) v = read_float();
            for (float& v : zeros) v = read_float();
            std::vector<u16> x((size_t) n * k);
            for (u16& v : x) v = (u16) read_hex();
            std::vector<float> y((size_t) n * rows);
            int tile = n <= 8 ? 8 : n <= 16 ? 16 : 32;
            dim3 grid{(unsigned) (rows / 16), (unsigned) ((n + tile - 1) / tile), 1};
            const uint4* qw = (const uint4*) words.data();
            if (bf16) {
                auto kern = tile == 8 ? lb_w4a16_bf16_t8 : tile == 16 ? lb_w4a16_bf16_t16 : lb_w4a16_bf16_t32;
                emu_launch(grid, 256, kern, qw, (const float*) scales.data(), (const float*) zeros.data(), rows, k, gl,
                           (const u16*) x.data(), n, y.data(), rows);
            } else {
                auto kern = tile == 8 ? lb_w4a16_f16_t8 : tile == 16 ? lb_w4a16_f16_t16 : lb_w4a16_f16_t32;
                emu_launch(grid, 256, kern, qw, (const float*) scales.data(), (const float*) zeros.data(), rows, k, gl,
                           (const u16*) x.data(), n, y.data(), rows);
            }
            for (size_t i = 0; i < y.size(); i++) {
                unsigned u;
                memcpy(&u, &y[i], 4);
                printf("%s%08x", i ? " " : "", u);
            }
            printf("\n");
        } else if (cmd[0] == 'A') {
            int q8, n, k;
            if (scanf("%d %d %d", &q8, &n, &k) != 3) {
                return 2;
            }
            std::vector<float> x = read_words<float>((long long) n * k);
            int pk = (k + 31) & ~31;
            int spt = q8 ? pk / 32 : 1;
            std::vector<u8> codes((size_t) n * pk + 16);
            std::vector<float> scales((size_t) n * spt + 16);
            unsigned long long status[2] = {~0ull, ~0ull};
            if (q8) {
                long long blocks = (long long) n * spt;
                emu_launch(dim3{(unsigned) ((blocks + 7) / 8), 1, 1}, 256, lb_quantize_act_q8_0, (const float*) x.data(),
                           n, k, pk, (i8*) codes.data(), scales.data(), status);
            } else {
                emu_launch(dim3{(unsigned) n, 1, 1}, 256, lb_quantize_act_per_token, (const float*) x.data(), n, k, pk,
                           (i8*) codes.data(), scales.data(), status);
            }
            printf("%llx %llx |", status[0], status[1]);
            codes.resize((size_t) n * pk);
            print_bytes(codes);
            printf(" |");
            for (int i = 0; i < n * spt; i++) {
                unsigned u;
                memcpy(&u, &scales[i], 4);
                printf(" %08x", u);
            }
            printf("\n");
        } else if (cmd[0] == 'M' || cmd[0] == 'I') {
            char path[16] = "int8";
            int kind, bits, sym, f16, gl, rows, k, n, pk = 0, spt = 0;
            long long nd, ns, nz;
            if (cmd[0] == 'M') {
                if (scanf("%15s %d %d %d %d %d %d %d %d %lld %lld %lld", path, &kind, &bits, &sym, &f16, &gl, &rows, &k,
                          &n, &nd, &ns, &nz) != 12) {
                    return 2;
                }
            } else if (scanf("%d %d %d %d %d %d %d %d %d %d %lld %lld %lld", &kind, &bits, &sym, &f16, &gl, &rows, &k,
                             &n, &pk, &spt, &nd, &ns, &nz) != 13) {
                return 2;
            }
            std::vector<u8> data = read_words<u8>(nd), scales = read_words<u8>(ns), zeros = read_words<u8>(nz);
            std::vector<float> y((size_t) n * rows + 16);
            dim3 grid{(unsigned) ((rows + 7) / 8), (unsigned) ((n + 3) / 4), 1};
            if (cmd[0] == 'M') {
                std::vector<float> x = read_words<float>((long long) n * k);
                if (!strcmp(path, "lut")) {
                    emu_launch(grid, 256, lb_gemv_codebook, (const u32*) data.data(), (const u8*) scales.data(), f16,
                               (const float*) table.data(), rows, k, gl, (const float*) x.data(), n, y.data(), rows);
                } else {
                    emu_launch(grid, 256, lb_gemm_f32, (const u8*) data.data(), (const u8*) scales.data(),
                               (const u8*) zeros.data(), (const float*) table.data(), rows, k, gl, kind, bits, sym, f16,
                               (const float*) x.data(), n, y.data(), rows);
                }
            } else {
                std::vector<u8> codes = read_words<u8>((long long) n * pk);
                std::vector<float> xs = read_words<float>((long long) n * spt);
                emu_launch(grid, 256, lb_gemm_int8, (const u8*) data.data(), (const u8*) scales.data(),
                           (const u8*) zeros.data(), rows, k, gl, kind, bits, sym, f16, (const i8*) codes.data(), pk,
                           (const float*) xs.data(), spt, n, y.data(), rows);
            }
            print_floats(y, (size_t) n * rows);
        } else if (cmd[0] == 'O') {
            int rows, cols, nnz;
            if (scanf("%d %d %d", &rows, &cols, &nnz) != 3) {
                return 2;
            }
            std::vector<int> ptr = read_words<int>(rows + 1), col = read_words<int>(nnz);
            std::vector<float> val = read_words<float>(nnz), dense = read_words<float>((long long) rows * cols);
            emu_launch(dim3{(unsigned) ((rows + 255) / 256), 1, 1}, 256, lb_outlier_add, dense.data(), (long long) cols,
                       (const int*) ptr.data(), (const int*) col.data(), (const float*) val.data(), rows);
            print_floats(dense, (size_t) rows * cols);
        } else if (cmd[0] == 'G') {
            int rows, n, k, spt, nnz;
            if (scanf("%d %d %d %d %d", &rows, &n, &k, &spt, &nnz) != 5) {
                return 2;
            }
            std::vector<int> ptr = read_words<int>(rows + 1), col = read_words<int>(nnz);
            std::vector<float> val = read_words<float>(nnz), x = read_words<float>((long long) n * k);
            std::vector<float> xs = read_words<float>((long long) n * spt), y = read_words<float>((long long) n * rows);
            emu_launch(dim3{(unsigned) ((rows + 255) / 256), (unsigned) n, 1}, 256, lb_outlier_gemm_add, y.data(), rows,
                       (const int*) ptr.data(), (const int*) col.data(), (const float*) val.data(),
                       (const float*) x.data(), k, spt > 0 ? (const float*) xs.data() : (const float*) 0,
                       spt > 0 ? spt : 1, rows, n);
            print_floats(y, (size_t) n * rows);
        } else if (cmd[0] == 'E') {
            int rows, n;
            if (scanf("%d %d", &rows, &n) != 2) {
                return 2;
            }
            std::vector<int> c = read_words<int>((long long) n * rows);
            std::vector<float> dw = read_words<float>(rows), dx = read_words<float>(n), y((size_t) n * rows + 16);
            emu_launch(dim3{(unsigned) ((rows + 255) / 256), (unsigned) n, 1}, 256, lb_int8_dequant_epilogue,
                       (const int*) c.data(), (long long) rows, (const float*) dw.data(), (const float*) dx.data(),
                       rows, n, y.data(), (long long) rows);
            print_floats(y, (size_t) n * rows);
        } else {
            fprintf(stderr, "unknown command %s\n", cmd);
            return 2;
        }
        fflush(stdout);
    }
    return 0;
}
#endif
