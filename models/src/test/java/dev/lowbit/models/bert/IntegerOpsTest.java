package dev.lowbit.models.bert;

import dev.lowbit.kernels.KernelProvider;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The I-BERT integer ops against their fp32 definitions, on seeded data in the ranges BERT's activations take. */
class IntegerOpsTest {
    private final IntegerOps ops = new IntegerOps();

    @Test
    void isqrtIsTheFloorOfTheSquareRoot() {
        for (long n : new long[]{0, 1, 2, 3, 4, 15, 16, 17, 99, 100, 101, 1L << 40, (1L << 40) + 1, 4_000_000_000_000L}) {
            long r = IntegerOps.isqrt(n);
            assertTrue(r * r <= n && (r + 1) * (r + 1) > n, n + " -> " + r);
        }
    }

    @Test
    void geluIsCloseToFp32() {
        Random rnd = new Random(7);
        float[] a = new float[1536];
        for (int i = 0; i < a.length; i++) {
            a[i] = (float) (rnd.nextGaussian() * 2);
        }
        float[] want = a.clone();
        KernelProvider.scalarFp32().gelu(want, 0, want.length);
        ops.gelu(a, 0, a.length);
        double max = 0;
        for (int i = 0; i < a.length; i++) {
            max = Math.max(max, Math.abs(a[i] - want[i]));
        }
        // I-BERT's second-order erf is within about 0.02 of erf; GELU multiplies that by x / 2.
        assertTrue(max < 0.1, "max |i-GELU - GELU| = " + max);
    }

    @Test
    void softmaxIsCloseToFp32AndSumsToOne() {
        Random rnd = new Random(11);
        float[] a = new float[50];
        for (int i = 0; i < a.length; i++) {
            a[i] = (float) (rnd.nextGaussian() * 4);
        }
        float[] want = a.clone();
        KernelProvider.scalarFp32().softmax(want, 0, want.length);
        ops.softmax(a, 0, a.length);
        double sum = 0;
        double max = 0;
        for (int i = 0; i < a.length; i++) {
            sum += a[i];
            max = Math.max(max, Math.abs(a[i] - want[i]));
        }
        assertEquals(1, sum, 1e-3);
        assertTrue(max < 0.01, "max |i-softmax - softmax| = " + max);
    }

    @Test
    void layerNormIsCloseToFp32() {
        Random rnd = new Random(13);
        float[] row = new float[384];
        float[] gamma = new float[384];
        float[] beta = new float[384];
        for (int i = 0; i < row.length; i++) {
            row[i] = (float) (rnd.nextGaussian() * 3 + 0.5);
            gamma[i] = (float) (1 + 0.1 * rnd.nextGaussian());
            beta[i] = (float) (0.1 * rnd.nextGaussian());
        }
        float[] want = new float[384];
        KernelProvider.scalarFp32().layerNorm(row.clone(), want, 0, gamma, beta, 1e-12f);
        ops.layerNorm(row, gamma, beta, 1e-12f);
        for (int i = 0; i < row.length; i++) {
            assertEquals(want[i], row[i], 2e-3, "element " + i);
        }
    }
}
