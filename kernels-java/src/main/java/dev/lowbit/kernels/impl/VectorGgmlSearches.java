package dev.lowbit.kernels.impl;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;

import static dev.lowbit.kernels.impl.VectorGgmlBlocks.*;

/**
 * ggml's range searches for {@link VectorGgmlBlocks}, one independent sub-block (or block) per lane: {@code
 * make_qkx2_quants}, {@code make_qx_quants}, {@code make_q3_quants} and IQ4_NL's search over its trial scales, each
 * lane performing exactly ggml's fp32 operations for its sub-block, a lane's early exit a mask.
 */
final class VectorGgmlSearches {
    private VectorGgmlSearches() {
    }

    /**
     * {@code make_qkx2_quants} of the {@code n}-element sub-blocks in {@code s.x} with weights {@code s.w}: the
     * scale into {@code s.laneScale}, {@code the_min} (minus the minimum) into {@code s.laneMin}, the codes into
     * {@code s.best}.
     */
    static void qkx2(Scratch s, int n, int nmax, float rmin, float rdelta, int nstep, boolean mad) {
        float[] xs = s.x;
        float[] ws = s.w;
        float[] best = s.best;
        float[] trial = s.trial;
        FloatVector zero = FloatVector.zero(FS);
        FloatVector x0 = load(xs, 0);
        FloatVector w0 = load(ws, 0);
        FloatVector min = x0;
        FloatVector max = x0;
        FloatVector sumW = w0;
        FloatVector sumX = w0.mul(x0);
        for (int i = 1; i < n; i++) {
            FloatVector x = load(xs, i);
            FloatVector w = load(ws, i);
            min = min.blend(x, x.lt(min));
            max = max.blend(x, x.compare(VectorOperators.GT, max));
            sumW = sumW.add(w);
            sumX = sumX.add(w.mul(x));
        }
        min = min.blend(zero, min.compare(VectorOperators.GT, 0f));
        VectorMask<Float> flat = max.compare(VectorOperators.EQ, min);
        FloatVector min0 = min;
        FloatVector iscale = FloatVector.broadcast(FS, (float) nmax).div(max.sub(min));
        FloatVector scale = FloatVector.broadcast(FS, 1f).div(iscale);
        FloatVector bestError = zero;
        for (int i = 0; i < n; i++) {
            FloatVector x = load(xs, i);
            FloatVector l = level(iscale.mul(x.sub(min)), 0, nmax);
            l.intoArray(best, i * LANES);
            FloatVector diff = scale.mul(l).add(min).sub(x);
            diff = mad ? diff.abs() : diff.mul(diff);
            bestError = bestError.add(load(ws, i).mul(diff));
        }
        for (int is = 0; is <= nstep; is++) {
            // as in ggml, a better fit moves the minimum that the next trials start from
            iscale = FloatVector.broadcast(FS, rmin + rdelta * is + nmax).div(max.sub(min));
            FloatVector sumL = zero;
            FloatVector sumL2 = zero;
            FloatVector sumXL = zero;
            for (int i = 0; i < n; i++) {
                FloatVector x = load(xs, i);
                FloatVector l = level(iscale.mul(x.sub(min)), 0, nmax);
                l.intoArray(trial, i * LANES);
                FloatVector wl = load(ws, i).mul(l);
                sumL = sumL.add(wl);
                sumL2 = sumL2.add(wl.mul(l));
                sumXL = sumXL.add(wl.mul(x));
            }
            FloatVector det = sumW.mul(sumL2).sub(sumL.mul(sumL));
            VectorMask<Float> positive = det.compare(VectorOperators.GT, 0f);
            if (!positive.anyTrue()) {
                continue;
            }
            FloatVector thisScale = sumW.mul(sumXL).sub(sumX.mul(sumL)).div(det);
            FloatVector thisMin = sumL2.mul(sumX).sub(sumL.mul(sumXL)).div(det);
            VectorMask<Float> above = thisMin.compare(VectorOperators.GT, 0f);
            thisMin = thisMin.blend(zero, above);
            thisScale = thisScale.blend(sumXL.div(sumL2), above);
            FloatVector error = zero;
            for (int i = 0; i < n; i++) {
                FloatVector diff = thisScale.mul(load(trial, i)).add(thisMin).sub(load(xs, i));
                diff = mad ? diff.abs() : diff.mul(diff);
                error = error.add(load(ws, i).mul(diff));
            }
            VectorMask<Float> better = positive.and(error.compare(VectorOperators.LT, bestError));
            if (better.anyTrue()) {
                for (int i = 0; i < n; i++) {
                    load(best, i).blend(load(trial, i), better).intoArray(best, i * LANES);
                }
                bestError = bestError.blend(error, better);
                scale = scale.blend(thisScale, better);
                min = min.blend(thisMin, better);
            }
        }
        // A flat sub-block (max == min) returns at once: codes 0, scale 0, the_min = -min.
        for (int i = 0; i < n; i++) {
            load(best, i).blend(zero, flat).intoArray(best, i * LANES);
        }
        scale.blend(zero, flat).intoArray(s.laneScale, 0);
        min.blend(min0, flat).neg().intoArray(s.laneMin, 0);
    }

    /**
     * {@code make_qx_quants} with {@code rmse_type} 1 and no weights (Q6_K) of the {@code n}-element sub-blocks in
     * {@code s.x}: the scale into {@code s.laneScale}, the codes {@code l + nmax} (0 for an all-zero sub-block) into
     * {@code s.best}.
     */
    static void qx(Scratch s, int n, int nmax) {
        float[] xs = s.x;
        float[] best = s.best;
        float[] trial = s.trial;
        FloatVector zero = FloatVector.zero(FS);
        FloatVector amax = zero;
        FloatVector max = zero;
        for (int i = 0; i < n; i++) {
            FloatVector x = load(xs, i);
            FloatVector ax = x.abs();
            VectorMask<Float> m = ax.compare(VectorOperators.GT, amax);
            amax = amax.blend(ax, m);
            max = max.blend(x, m);
        }
        VectorMask<Float> allZero = amax.compare(VectorOperators.LT, EPS);
        FloatVector iscale = FloatVector.broadcast(FS, (float) -nmax).div(max);
        FloatVector sumLX = zero;
        FloatVector sumL2 = zero;
        for (int i = 0; i < n; i++) {
            FloatVector x = load(xs, i);
            FloatVector l = level(iscale.mul(x), -nmax, nmax - 1);
            l.intoArray(best, i * LANES);
            FloatVector w = x.mul(x);
            sumLX = sumLX.add(w.mul(x).mul(l));
            sumL2 = sumL2.add(w.mul(l).mul(l));
        }
        FloatVector scale = sumLX.div(sumL2).blend(zero, sumL2.compare(VectorOperators.EQ, 0f));
        FloatVector bestValue = scale.mul(sumLX);
        for (int is = -9; is <= 9; is++) {
            if (is == 0) {
                continue;
            }
            iscale = FloatVector.broadcast(FS, -(nmax + 0.1f * is)).div(max);
            sumLX = zero;
            sumL2 = zero;
            for (int i = 0; i < n; i++) {
                FloatVector x = load(xs, i);
                FloatVector l = level(iscale.mul(x), -nmax, nmax - 1);
                l.intoArray(trial, i * LANES);
                FloatVector w = x.mul(x);
                sumLX = sumLX.add(w.mul(x).mul(l));
                sumL2 = sumL2.add(w.mul(l).mul(l));
            }
            VectorMask<Float> better = sumL2.compare(VectorOperators.GT, 0f)
                    .and(sumLX.mul(sumLX).compare(VectorOperators.GT, bestValue.mul(sumL2)));
            if (better.anyTrue()) {
                for (int i = 0; i < n; i++) {
                    load(best, i).blend(load(trial, i), better).intoArray(best, i * LANES);
                }
                scale = scale.blend(sumLX.div(sumL2), better);
                bestValue = bestValue.blend(scale.mul(sumLX), better);
            }
        }
        for (int i = 0; i < n; i++) {
            load(best, i).add((float) nmax).blend(zero, allZero).intoArray(best, i * LANES);
        }
        scale.blend(zero, allZero).intoArray(s.laneScale, 0);
    }

    /**
     * {@code make_q3_quants} with {@code do_rmse} (Q3_K) of the {@code n}-element sub-blocks in {@code s.x}: the
     * scale into {@code s.laneScale}, the codes {@code l + nmax} (0 for an all-zero sub-block) into {@code s.best}.
     * A lane whose pass changes nothing would stop; another pass leaves it as it is, so the passes go on while any
     * lane changes.
     */
    static void q3(Scratch s, int n, int nmax) {
        float[] xs = s.x;
        float[] ls = s.best;
        FloatVector zero = FloatVector.zero(FS);
        FloatVector amax = zero;
        FloatVector max = zero;
        for (int i = 0; i < n; i++) {
            FloatVector x = load(xs, i);
            FloatVector ax = x.abs();
            VectorMask<Float> m = ax.compare(VectorOperators.GT, amax);
            amax = amax.blend(ax, m);
            max = max.blend(x, m);
        }
        VectorMask<Float> allZero = amax.compare(VectorOperators.LT, EPS);
        FloatVector iscale = FloatVector.broadcast(FS, (float) -nmax).div(max);
        FloatVector sumLX = zero;
        FloatVector sumL2 = zero;
        for (int i = 0; i < n; i++) {
            FloatVector x = load(xs, i);
            FloatVector l = level(iscale.mul(x), -nmax, nmax - 1);
            l.intoArray(ls, i * LANES);
            FloatVector w = x.mul(x);
            sumLX = sumLX.add(w.mul(x).mul(l));
            sumL2 = sumL2.add(w.mul(l).mul(l));
        }
        for (int pass = 0; pass < 5; pass++) {
            VectorMask<Float> changed = FS.maskAll(false);
            for (int i = 0; i < n; i++) {
                FloatVector x = load(xs, i);
                FloatVector l = load(ls, i);
                FloatVector w = x.mul(x);
                FloatVector slx = sumLX.sub(w.mul(x).mul(l));
                VectorMask<Float> positive = slx.compare(VectorOperators.GT, 0f);
                if (!positive.anyTrue()) {
                    continue;
                }
                FloatVector sl2 = sumL2.sub(w.mul(l).mul(l));
                FloatVector next = level(x.mul(sl2).div(slx), -nmax, nmax - 1);
                VectorMask<Float> moved = positive.and(next.compare(VectorOperators.NE, l));
                slx = slx.add(w.mul(x).mul(next));
                sl2 = sl2.add(w.mul(next).mul(next));
                VectorMask<Float> take = moved.and(sl2.compare(VectorOperators.GT, 0f))
                        .and(slx.mul(slx).mul(sumL2).compare(VectorOperators.GT, sumLX.mul(sumLX).mul(sl2)));
                l.blend(next, take).intoArray(ls, i * LANES);
                sumLX = sumLX.blend(slx, take);
                sumL2 = sumL2.blend(sl2, take);
                changed = changed.or(take);
            }
            if (!changed.anyTrue()) {
                break;
            }
        }
        for (int i = 0; i < n; i++) {
            load(ls, i).add((float) nmax).blend(zero, allZero).intoArray(ls, i * LANES);
        }
        sumLX.div(sumL2).blend(zero, sumL2.compare(VectorOperators.GT, 0f).not()).blend(zero, allZero)
                .intoArray(s.laneScale, 0);
    }

    /**
     * ggml's {@code best_index_int8} over IQ4_NL's levels in lanes: 0 at or below the lowest level, 15 at or above
     * the highest (and for NaN), else the nearer of the two levels around {@code x} by
     * {@code x − lo < hi − x}, the upper one on a tie.
     */
    static FloatVector bestIndex(FloatVector x) {
        FloatVector idx = FloatVector.broadcast(FS, 1f);
        FloatVector lo = FloatVector.broadcast(FS, (float) KV[0]);
        FloatVector hi = FloatVector.broadcast(FS, (float) KV[1]);
        for (int k = 1; k < 15; k++) {
            VectorMask<Float> m = x.compare(VectorOperators.GE, (float) KV[k]);
            idx = put(idx, k + 1, m);
            lo = put(lo, KV[k], m);
            hi = put(hi, KV[k + 1], m);
        }
        idx = idx.sub(1f, x.sub(lo).compare(VectorOperators.LT, hi.sub(x)));
        idx = put(idx, 0, x.compare(VectorOperators.LE, (float) KV[0]));
        return put(idx, 15, x.compare(VectorOperators.GE, (float) KV[15]).or(x.test(VectorOperators.IS_NAN)));
    }

    /** {@code v} with {@code e} in the lanes of {@code m}. */
    static FloatVector put(FloatVector v, float e, VectorMask<Float> m) {
        return v.blend(FloatVector.broadcast(FS, e), m);
    }

    /** IQ4_NL's levels at the indices {@code idx} (0..15). */
    static FloatVector levelAt(FloatVector idx) {
        FloatVector q = FloatVector.broadcast(FS, (float) KV[0]);
        for (int k = 1; k < 16; k++) {
            q = put(q, KV[k], idx.compare(VectorOperators.EQ, (float) k));
        }
        return q;
    }

    /** One trial of IQ4_NL's search: {@code sumqx} and {@code sumq2} for the inverse scale {@code id}. */
    static FloatVector[] iq4Sums(float[] xs, FloatVector id) {
        FloatVector sumQX = FloatVector.zero(FS);
        FloatVector sumQ2 = FloatVector.zero(FS);
        for (int i = 0; i < 32; i++) {
            FloatVector x = load(xs, i);
            FloatVector q = levelAt(bestIndex(id.mul(x)));
            FloatVector wq = x.mul(x).mul(q);
            sumQX = sumQX.add(wq.mul(x));
            sumQ2 = sumQ2.add(wq.mul(q));
        }
        return new FloatVector[] {sumQX, sumQ2};
    }
}
