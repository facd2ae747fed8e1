package dev.lowbit.kernels;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** The Vector API fp32 kernels against the scalar ones, which define the results: equal up to rounding. */
class Fp32KernelsTest {
    private static final Fp32Kernels SCALAR = KernelProvider.scalarFp32();

    private static Fp32Kernels vectorOrSkip() {
        Fp32Kernels v = KernelProvider.vectorFp32();
        Assumptions.assumeTrue(v != null, "skipped: the Vector API cannot run here");
        return v;
    }

    private static float[] values(long seed, int n) {
        SplittableRandom rnd = new SplittableRandom(seed);
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) (rnd.nextDouble() * 4 - 2);
        }
        return a;
    }

    private static void assertClose(float[] want, float[] got, float tol, String what) {
        assertEquals(want.length, got.length, what);
        for (int i = 0; i < want.length; i++) {
            assertEquals(want[i], got[i], tol * Math.max(1f, Math.abs(want[i])), what + " at " + i);
        }
    }

    @Test
    void packPutsEachColumnInItsPanel() {
        for (Fp32Kernels f : new Fp32Kernels[] {SCALAR, KernelProvider.vectorFp32()}) {
            if (f == null) {
                continue;
            }
            int p = f.panel();
            int k = 5;
            int m = 2 * p;
            float[] w = values(1, k * m);
            float[] packed = f.pack(w, k, m);
            for (int c = 0; c < k; c++) {
                for (int j = 0; j < m; j++) {
                    assertEquals(w[c * m + j], packed[((j / p) * k + c) * p + j % p], f.name());
                }
            }
            assertThrows(IllegalArgumentException.class, () -> f.pack(new float[k * (p + 1)], k, p + 1));
        }
    }

    @Test
    void gemmMatchesScalar() {
        Fp32Kernels v = vectorOrSkip();
        int p = v.panel();
        int k = 37;
        int m = 2 * p;
        for (int n : new int[] {1, 3, 4, 7, 9}) {
            float[] x = values(n, n * k);
            float[] w = values(100 + n, k * m);
            float[] bias = values(200 + n, m);
            float[] want = new float[n * m];
            float[] got = new float[n * m];
            SCALAR.gemm(x, k, SCALAR.pack(w, k, m), m, bias, want, 0, n, 0, m);
            v.gemm(x, k, v.pack(w, k, m), m, bias, got, 0, n, 0, m);
            assertClose(want, got, 1e-5f, "gemm of " + n + " tokens");
        }
    }

    @Test
    void elementwiseKernelsMatchScalar() {
        Fp32Kernels v = vectorOrSkip();
        for (int n : new int[] {1, 15, 16, 17, 64, 100}) {
            float[] a = values(n, n);
            float[] want = a.clone();
            float[] got = a.clone();
            SCALAR.gelu(want, 0, n);
            v.gelu(got, 0, n);
            assertClose(want, got, 1e-6f, "gelu");

            want = a.clone();
            got = a.clone();
            SCALAR.softmax(want, 0, n);
            v.softmax(got, 0, n);
            assertClose(want, got, 1e-6f, "softmax");

            float[] b = values(n + 1, n + 3);
            float[] sw = new float[n];
            float[] sg = new float[n];
            SCALAR.add(a, 0, b, 3, sw, n);
            v.add(a, 0, b, 3, sg, n);
            assertArrayEquals(sw, sg, "add");
        }
        for (int d : new int[] {16, 64, 384, 30}) {
            float[] row = values(d, d);
            float[] gamma = values(d + 1, d);
            float[] beta = values(d + 2, d);
            float[] want = new float[d + 2];
            float[] got = new float[d + 2];
            SCALAR.layerNorm(row.clone(), want, 2, gamma, beta, 1e-12f);
            v.layerNorm(row.clone(), got, 2, gamma, beta, 1e-12f);
            assertClose(want, got, 1e-5f, "layerNorm of " + d);
        }
    }

    /** Random values with the edge cases of the activation codes: NaN, infinities, −0, ties, the clip itself. */
    private static float[] edgy(long seed, int n, float step, int levels) {
        float[] a = values(seed, n);
        float[] special = {Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, -0f, 0f, 0.5f * step,
            1.5f * step, 2.5f * step, levels * step, (levels + 0.5f) * step, -step, 1e30f};
        SplittableRandom rnd = new SplittableRandom(seed + 7);
        for (int i = 0; i < n; i++) {
            a[i] *= levels * step / 2;
            if (rnd.nextInt(4) == 0) {
                a[i] = special[rnd.nextInt(special.length)];
            }
        }
        return a;
    }

    @Test
    void cnnStepsMatchScalarBitForBit() {
        Fp32Kernels v = vectorOrSkip();
        for (int m : new int[] {16, 32, 64, 24}) {
            int rows = 13;
            float[] a = edgy(m, rows * m + 5, 0.1f, 15);
            float[] scale = values(m + 1, m);
            float[] shift = values(m + 2, m);
            for (boolean relu : new boolean[] {false, true}) {
                float[] want = a.clone();
                float[] got = a.clone();
                SCALAR.scaleShift(want, 5, 5 + rows * m, scale, shift, relu);
                v.scaleShift(got, 5, 5 + rows * m, scale, shift, relu);
                assertArrayEquals(want, got, "scaleShift of rows of " + m + (relu ? " with ReLU" : ""));
            }
        }
        for (int n : new int[] {1, 15, 16, 17, 100}) {
            float[] b = edgy(n + 3, n + 2, 0.1f, 15);
            float[] want = edgy(n, n + 2, 0.1f, 15);
            float[] got = want.clone();
            SCALAR.addRelu(want, b, 2, n + 2);
            v.addRelu(got, b, 2, n + 2);
            assertArrayEquals(want, got, "addRelu of " + n);
        }
        for (int levels : new int[] {3, 15, 31, 255}) {
            for (int shift : new int[] {0, 128}) {
                for (int n : new int[] {1, 16, 33, 200}) {
                    float p = 0.37f;
                    float[] x = edgy(levels * 1000L + n, n + 3, p / levels, levels);
                    for (boolean clip : new boolean[] {false, true}) {
                        byte[] cw = new byte[n + 3];
                        byte[] cg = new byte[n + 3];
                        float[] vw = new float[n + 3];
                        float[] vg = new float[n + 3];
                        String what = (clip ? "codesByClip" : "codesByStep") + " of " + n + " at " + levels
                                + " levels, shift " + shift;
                        if (clip) {
                            SCALAR.codesByClip(x, 3, n + 3, p, levels, shift, cw, vw);
                            v.codesByClip(x, 3, n + 3, p, levels, shift, cg, vg);
                        } else {
                            SCALAR.codesByStep(x, 3, n + 3, p / levels, levels, shift, cw, vw);
                            v.codesByStep(x, 3, n + 3, p / levels, levels, shift, cg, vg);
                        }
                        assertArrayEquals(cw, cg, what);
                        assertArrayEquals(vw, vg, what + ": values");
                        byte[] only = new byte[n + 3];
                        if (clip) {
                            v.codesByClip(x, 3, n + 3, p, levels, shift, only, null);
                        } else {
                            v.codesByStep(x, 3, n + 3, p / levels, levels, shift, only, null);
                        }
                        assertArrayEquals(cw, only, what + " without values");
                    }
                }
            }
        }
    }

    @Test
    void activationCodesRoundHalfToEvenAndClamp() {
        // step 0.5: x/step = -2, 0.5, 1.5, 2.5, 3.25, 100, NaN, -0
        float[] x = {-1f, 0.25f, 0.75f, 1.25f, 1.625f, 50f, Float.NaN, -0f};
        byte[] codes = new byte[x.length];
        float[] values = new float[x.length];
        for (Fp32Kernels k : new Fp32Kernels[] {SCALAR, KernelProvider.fp32()}) {
            k.codesByStep(x, 0, x.length, 0.5f, 7, 0, codes, values);
            assertArrayEquals(new byte[] {0, 0, 2, 2, 3, 7, 0, 0}, codes, k.name());
            assertArrayEquals(new float[] {0f, 0f, 1f, 1f, 1.5f, 3.5f, 0f, 0f}, values, k.name());
            // 8-bit codes 0..255 stored minus 128
            k.codesByClip(new float[] {-3f, 0f, 1f, 2f, 0.5f / 255}, 0, 5, 2f, 255, 128, codes, null);
            assertArrayEquals(new byte[] {-128, -128, 0, 127, -128}, java.util.Arrays.copyOf(codes, 5), k.name());
        }
        // the affine is a product and then a sum, not a fused multiply-add
        float a = 1.0000001f;
        float[] y = {a};
        SCALAR.scaleShift(y, 0, 1, new float[] {a}, new float[] {-1f}, false);
        assertEquals(a * a - 1f, y[0]);
    }

    @Test
    void attentionMatchesScalar() {
        Fp32Kernels v = vectorOrSkip();
        int hd = 32;
        int stride = 3 * hd * 2;
        for (int len : new int[] {1, 3, 4, 9, 21}) {
            int t0 = 2;
            float[] qkv = values(len, (t0 + len) * stride);
            int ldp = (len + 63) / 64 * 64;
            float[] kt = new float[hd * ldp];
            float[] pw = new float[len * ldp];
            float[] pg = new float[len * ldp];
            SCALAR.scores(qkv, stride, t0, 0, hd, len, hd, 5.6f, kt, pw, ldp);
            v.scores(qkv, stride, t0, 0, hd, len, hd, 5.6f, kt, pg, ldp);
            for (int i = 0; i < len; i++) {
                for (int j = 0; j < len; j++) {
                    assertEquals(pw[i * ldp + j], pg[i * ldp + j], 1e-5f * Math.max(1f, Math.abs(pw[i * ldp + j])),
                            "score " + i + ", " + j + " of " + len);
                }
                SCALAR.softmax(pw, i * ldp, i * ldp + len);
                System.arraycopy(pw, i * ldp, pg, i * ldp, len);
            }
            int cs = 2 * hd;
            float[] want = new float[(t0 + len) * cs];
            float[] got = new float[(t0 + len) * cs];
            SCALAR.weightedSum(pw, ldp, len, qkv, stride, t0, 2 * hd, hd, want, cs, hd);
            v.weightedSum(pg, ldp, len, qkv, stride, t0, 2 * hd, hd, got, cs, hd);
            assertClose(want, got, 1e-5f, "weighted sum of " + len);
        }
    }
}
