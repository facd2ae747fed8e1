package dev.lowbit.training;

import dev.lowbit.format.ScaleType;
import dev.lowbit.kernels.ScaleRule;

/**
 * The fp32 scales and zero points of lowbit's symmetric and asymmetric grouped formats, from a group's
 * statistics, by the rule of lowbit's quantizers ({@link ScaleRule#round}, {@link ScaleRule#widen}, {@link
 * ScaleRule#widenToFit}) ({@code docs/formats.md}, "How lowbit quantizes"): the ideal
 * scale, floored to the smallest step when it rounds to 0, widened by ulps where the extreme element would
 * otherwise be clamped.
 */
public final class Scales {
    private Scales() {
    }

    /** Symmetric: {@code absmax/qp}, widened (subnormal scales only) until {@code absmax/Δ <= qp + 0.5}. */
    public static float symmetric(float absmax, int qp) {
        check(absmax);
        return ScaleRule.widen(ScaleRule.round(absmax / qp, absmax > 0f, ScaleType.F32), absmax, qp, ScaleType.F32);
    }

    /**
     * Asymmetric: {@code {Δ, z}} for the range {@code [min(min,0), max(max,0)]} in {@code qmax} steps, Δ widened
     * until the range fits, {@code z = round(−lo/Δ)}.
     */
    public static float[] asymmetric(float min, float max, int qmax) {
        check(min);
        check(max);
        float lo = Math.min(min, 0f);
        float hi = Math.max(max, 0f);
        float range = hi - lo;
        if (!Float.isFinite(range)) {
            throw new IllegalArgumentException("the values " + min + " and " + max
                    + " lie further apart than the largest float");
        }
        float d = ScaleRule.widenToFit(ScaleRule.round(range / qmax, range > 0f, ScaleType.F32), range, qmax, ScaleType.F32);
        float z = d == 0f ? 0f : (float) Math.rint(-lo / d) + 0f;
        return new float[] {d, z};
    }

    private static void check(float v) {
        if (!Float.isFinite(v)) {
            throw new IllegalArgumentException("cannot quantize a non-finite value: " + v);
        }
    }
}
