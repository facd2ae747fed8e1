package dev.lowbit.models.bert;

/**
 * The non-linear ops in integer arithmetic, after I-BERT (Kim et al., 2021): GELU through a second-order integer
 * polynomial for erf, softmax through an integer exponential (a shift for the power of two and a polynomial for
 * the rest), and LayerNorm through an integer square root (Newton's iteration). Each op takes fp32 values, which
 * stand for the int32 results of the integer matmuls, and quantizes them to integers with a dynamic scale per
 * token (absmax over {@code 2^15 - 1}, or the fixed step of the softmax input); everything between that and the
 * final rescale is integer arithmetic, with the polynomial constants turned into integers at the input's scale
 * as I-BERT does. LayerNorm's {@code gamma} and {@code beta} are integers too: gamma at a 16-bit scale of its own,
 * beta at the scale of the products.
 */
final class IntegerOps {
    private static final int LEVELS = (1 << 15) - 1;
    // erf(x) ~ sign(x) (a (min(|x|, -b) + b)^2 + 1), I-BERT's fit on [0, -b].
    private static final double ERF_A = -0.2888;
    private static final double ERF_B = -1.769;
    // exp(p) ~ a (p + b)^2 + c on p in (-ln 2, 0].
    private static final double EXP_A = 0.3585;
    private static final double EXP_B = 1.353;
    private static final double EXP_C = 0.344;
    /** Fixed-point bits of the softmax output and of the normalized LayerNorm values. */
    private static final int OUT_BITS = 15;
    /** Step of the softmax input: logits are quantized to multiples of it. */
    private static final double SOFTMAX_STEP = 1.0 / 64;

    /** GELU in place on {@code a[from, to)} (one token's values), with one scale for them all. */
    void gelu(float[] a, int from, int to) {
        float absmax = 0;
        for (int i = from; i < to; i++) {
            absmax = Math.max(absmax, Math.abs(a[i]));
        }
        if (absmax == 0) {
            return;
        }
        double s = absmax / LEVELS;
        // erf is taken of x / sqrt 2: the same integers at the scale s / sqrt 2.
        double se = s / Math.sqrt(2);
        long qb = (long) Math.floor(ERF_B / se);
        long qc = (long) Math.floor(1 / (ERF_A * se * se));
        double sErf = ERF_A * se * se;
        long q1 = (long) Math.floor(1 / sErf);
        for (int i = from; i < to; i++) {
            long q = Math.round(a[i] / s);
            long sign = Long.signum(q);
            long m = Math.min(Math.abs(q), -qb);
            long erf = sign * ((m + qb) * (m + qb) + qc);
            // q * (erf + 1) with erf + 1 at scale sErf: the value is q * s * (erf + q1) * sErf / 2.
            long out = q * (erf + q1);
            a[i] = (float) (out * (s * sErf / 2));
        }
    }

    /** Softmax in place on {@code a[from, to)}. */
    void softmax(float[] a, int from, int to) {
        long[] q = new long[to - from];
        long max = Long.MIN_VALUE;
        for (int i = from; i < to; i++) {
            q[i - from] = Math.round(a[i] / SOFTMAX_STEP);
            max = Math.max(max, q[i - from]);
        }
        double s = SOFTMAX_STEP;
        long qLn2 = (long) Math.floor(Math.log(2) / s);
        long qb = (long) Math.floor(EXP_B / s);
        long qc = (long) Math.floor(EXP_C / (EXP_A * s * s));
        long sum = 0;
        for (int i = 0; i < q.length; i++) {
            long x = q[i] - max;
            long z = Math.min(-x / qLn2, 62);
            long p = x + z * qLn2;
            long poly = (p + qb) * (p + qb) + qc;
            q[i] = poly >> z;
            sum += q[i];
        }
        // Probabilities as OUT_BITS-bit fixed point: floor(q * 2^OUT_BITS / sum).
        for (int i = from; i < to; i++) {
            long pr = (q[i - from] << OUT_BITS) / sum;
            a[i] = pr / (float) (1 << OUT_BITS);
        }
    }

    /** LayerNorm of one token's {@code row} in place: integer mean, variance, square root and affine step. */
    void layerNorm(float[] row, float[] gamma, float[] beta, float eps) {
        float absmax = 0;
        for (float v : row) {
            absmax = Math.max(absmax, Math.abs(v));
        }
        int d = row.length;
        if (absmax == 0) {
            for (int j = 0; j < d; j++) {
                row[j] = beta[j];
            }
            return;
        }
        double s = absmax / LEVELS;
        long[] q = new long[d];
        long sum = 0;
        for (int j = 0; j < d; j++) {
            q[j] = Math.round(row[j] / s);
            sum += q[j];
        }
        long mean = Math.floorDiv(sum, d);
        long var = 0;
        for (int j = 0; j < d; j++) {
            q[j] -= mean;
            var += q[j] * q[j];
        }
        long epsQ = (long) Math.floor(eps / (s * s));
        long std = isqrt(var / d + epsQ);
        if (std == 0) {
            std = 1;
        }
        // The affine step in integers too: gamma as 16-bit integers at one scale sg, beta at the scale of the
        // products (sg / 2^OUT_BITS), as I-BERT quantizes them; the result is rescaled once, as the other ops are.
        float gmax = 0;
        for (float g : gamma) {
            gmax = Math.max(gmax, Math.abs(g));
        }
        double sg = gmax == 0 ? 1 : gmax / LEVELS;
        double sOut = sg / (1 << OUT_BITS);
        for (int j = 0; j < d; j++) {
            long norm = (q[j] << OUT_BITS) / std;
            long out = norm * Math.round(gamma[j] / sg) + Math.round(beta[j] / sOut);
            row[j] = (float) (out * sOut);
        }
    }

    /** floor(sqrt(n)) by Newton's iteration on integers (I-BERT's Algorithm 4). */
    static long isqrt(long n) {
        if (n <= 0) {
            return 0;
        }
        long x = 1L << ((64 - Long.numberOfLeadingZeros(n) + 1) / 2);
        while (true) {
            long y = (x + n / x) >> 1;
            if (y >= x) {
                return x;
            }
            x = y;
        }
    }
}
