package dev.lowbit.training;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.lowbit.format.ScaleType;
import dev.lowbit.kernels.ScaleRule;

/**
 * Fake-quant operators on DJL NDArrays (float32): each returns the dequantized value {@code x̂} in the
 * forward pass, and DJL's autograd gives the backward pass. Rounding is PyTorch's {@code round} (ties to
 * even, as {@link Math#rint}); the straight-through estimator is written as
 * {@code stopGradient(q) + (v - stopGradient(v))}, whose forward value is exactly {@code q}, so that every
 * forward pass is bit for bit the quantizer's (see {@code docs/methods.md} and the shared conventions:
 * {@code d round(u)/du := 1}, and the gradient of a clipped element is 0).
 *
 * <p>Per-output-channel operators treat the first dimension as the output channels and the rest of each
 * channel as one row ({@code W[out][in]} or {@code W[out][in][kh][kw]}).
 */
public final class FakeQuant {
    private FakeQuant() {
    }

    // ------------------------------------------------------------------ the straight-through pieces

    /**
     * A 0-dimensional constant on {@code like}'s manager, for arithmetic that autograd records. DJL's operators that
     * take a {@code Number} ({@code mul(2f)}, {@code maximum(0f)}, ...) wrap it in a temporary array whose memory is
     * a direct buffer, and close it as soon as the operation returns; autograd keeps the operand for the backward
     * pass, which then reads memory the garbage collector may already have given back (the gradients change with
     * the heap, and a run can end in NaN). A constant on the step's manager lives until the step ends.
     */
    static NDArray constant(NDArray like, float v) {
        return like.getManager().create(v);
    }

    /** {@code round(v)} forward, identity backward. */
    public static NDArray roundSte(NDArray v) {
        return v.round().stopGradient().add(v.sub(v.stopGradient()));
    }

    /**
     * {@code forward} in the forward pass; in the backward pass the gradient of {@code x} where {@code mask} is 1
     * and 0 where it is 0 (the STE with clip mask).
     */
    public static NDArray steMasked(NDArray x, NDArray forward, NDArray mask) {
        NDArray xm = x.mul(mask);
        return forward.stopGradient().add(xm.sub(xm.stopGradient()));
    }

    /** {@code v} forward, {@code g · ∂L/∂v} backward: LSQ's gradient scale. */
    public static NDArray scaleGradient(NDArray v, float g) {
        NDArray vg = v.mul(constant(v, g));
        return v.stopGradient().add(vg.sub(vg.stopGradient()));
    }

    private static NDArray between(NDArray v, Number lo, Number hi) {
        return v.gte(lo).logicalAnd(v.lte(hi)).toType(DataType.FLOAT32, false);
    }

    // ------------------------------------------------------------------ symmetric and asymmetric uniform

    /** Signed range of a {@code bits}-wide code: {@code Qn = 2^(bits−1)}. */
    public static int qn(int bits) {
        checkBits(bits);
        return 1 << (bits - 1);
    }

    /** {@code Qp = 2^(bits−1) − 1}. */
    public static int qp(int bits) {
        checkBits(bits);
        return (1 << (bits - 1)) - 1;
    }

    private static void checkBits(int bits) {
        if (bits < 2 || bits > 16) {
            throw new IllegalArgumentException("bits must be 2..16, got " + bits);
        }
    }

    /**
     * Symmetric uniform fake-quant with scales from the data, per tensor or per output channel: {@code Δ = absmax/Qp}
     * rounded to fp32 as lowbit's quantizers round a scale ({@link ScaleRule}), {@code q = clamp(round(x/Δ), −Qn, Qp)},
     * {@code x̂ = Δ·q}. This is lowbit's symmetric grouped format with one group per row ({@code
     * QuantFormat.grouped(bits, ROW, true, F32)}) float for float. The scale is a constant of the backward
     * pass; {@code x} gets the STE with clip mask.
     */
    public static NDArray symmetric(NDArray x, int bits, boolean perChannel) {
        int qn = qn(bits);
        int qp = qp(bits);
        float[] absmax = rowStat(x, perChannel, Stat.ABSMAX);
        float[] d = new float[absmax.length];
        for (int r = 0; r < d.length; r++) {
            d[r] = Scales.symmetric(absmax[r], qp);
        }
        NDManager m = x.getManager();
        Shape ps = paramShape(x, perChannel);
        NDArray scale = m.create(d, ps);
        NDArray divisor = m.create(nonZero(d), ps);
        NDArray q = x.div(divisor).round();
        NDArray mask = between(q, -qn, qp);
        NDArray xhat = q.clip(-qn, qp).mul(scale);
        return steMasked(x, xhat, mask);
    }

    /**
     * Asymmetric uniform fake-quant with parameters from the data, per tensor or per output channel: the range
     * {@code [min(min,0), max(max,0)]}, {@code Δ = range/(2^b−1)} (fp32, widened by ulps until the range fits, as
     * lowbit does), {@code z = round(−lo/Δ)}, {@code q = clamp(round(x/Δ)+z, 0, 2^b−1)}, {@code x̂ = Δ·(q−z)}:
     * lowbit's asymmetric grouped format with one group per row, float for float. Δ and z are constants of the
     * backward pass; {@code x} gets the STE with clip mask.
     */
    public static NDArray asymmetric(NDArray x, int bits, boolean perChannel) {
        checkBits(bits);
        int qmax = (1 << bits) - 1;
        float[] min = rowStat(x, perChannel, Stat.MIN);
        float[] max = rowStat(x, perChannel, Stat.MAX);
        float[] d = new float[min.length];
        float[] z = new float[min.length];
        for (int r = 0; r < d.length; r++) {
            float[] p = Scales.asymmetric(min[r], max[r], qmax);
            d[r] = p[0];
            z[r] = p[1];
        }
        NDManager m = x.getManager();
        Shape ps = paramShape(x, perChannel);
        NDArray scale = m.create(d, ps);
        NDArray zero = m.create(z, ps);
        NDArray q = x.div(m.create(nonZero(d), ps)).round().add(zero);
        NDArray mask = between(q, 0, qmax);
        NDArray xhat = q.clip(0, qmax).sub(zero).mul(scale);
        return steMasked(x, xhat, mask);
    }

    // ------------------------------------------------------------------ learnable scales

    /**
     * LSQ (Esser et al., 2020): {@code x̂ = s·round(clamp(x/s, −Qn, Qp))} with a learnable step {@code s} (a
     * scalar, or one per output channel shaped {@code [out, 1, ...]}), signed ({@code Qn = 2^(b−1)},
     * {@code Qp = 2^(b−1)−1}) or unsigned ({@code 0..2^b−1}). Backward: {@code ∂x̂/∂x} is the clip mask;
     * {@code ∂x̂/∂s} is {@code round(x/s) − x/s} inside the range, {@code −Qn} below, {@code Qp} above, times the
     * gradient scale {@code g} (LSQ's {@code 1/sqrt(N·Qp)}).
     */
    public static NDArray lsq(NDArray x, NDArray s, int bits, boolean signed, float g) {
        checkBits(bits);
        int lo = signed ? -qn(bits) : 0;
        int hi = signed ? qp(bits) : (1 << bits) - 1;
        NDArray sg = scaleGradient(s, g);
        NDArray v = x.div(sg);
        NDArray clipped = clampSte(v, lo, hi);
        return roundSte(clipped).mul(sg);
    }

    /** LSQ's gradient scale {@code 1/sqrt(n·Qp)} for a tensor of {@code n} elements (per step). */
    public static float lsqGradScale(long n, int bits, boolean signed) {
        int hi = signed ? qp(bits) : (1 << bits) - 1;
        return (float) (1.0 / Math.sqrt((double) n * hi));
    }

    /**
     * {@code clamp(v, lo, hi)} whose gradient is 1 inside {@code [lo, hi]} and 0 outside, forward exactly the
     * clamp: PyTorch's {@code clamp}, whose backward is that mask (one operation, where a mask would take a dozen).
     */
    public static NDArray clampSte(NDArray v, float lo, float hi) {
        return v.clip(lo, hi);
    }

    /**
     * Learnable affine fake-quant: {@code q = clamp(round(x/Δ) + round(z), 0, 2^b−1)}, {@code x̂ = Δ·(q − round(z))}
     * with learnable step Δ and zero point z (scalars, or per output channel). Backward (STE through both
     * roundings): {@code ∂x̂/∂x} is the clip mask; {@code ∂x̂/∂Δ} is {@code round(x/Δ) − x/Δ} inside, {@code −round(z)}
     * below and {@code 2^b−1−round(z)} above; {@code ∂x̂/∂z} is 0 inside and {@code −Δ} where clipped. With Δ and
     * z set to {@link #asymmetric}'s, the forward pass is the same.
     */
    public static NDArray affine(NDArray x, NDArray delta, NDArray zero, int bits) {
        checkBits(bits);
        int qmax = (1 << bits) - 1;
        NDArray zr = roundSte(zero);
        NDArray v = roundSte(x.div(delta)).add(zr);
        NDArray c = clampSte(v, 0, qmax);
        return c.sub(zr).mul(delta);
    }

    // ------------------------------------------------------------------ AdaQAT's quantizers

    /** DoReFa's {@code q_k(u) = round((2^k−1)·u)/(2^k−1)} for {@code u} in [0, 1], STE backward. */
    public static NDArray quantizeUnit(NDArray u, int bits) {
        checkBits(bits);
        int n = (1 << bits) - 1;
        return roundSte(u.mul(constant(u, n))).div(constant(u, n));
    }

    /**
     * DoReFa weights, per tensor: {@code w̃ = tanh(w)/(2·max|tanh(w)|) + 1/2}, {@code w_q = 2·q_k(w̃) − 1}, in
     * [−1, 1]. Backward: STE through the rounding, and the exact gradient of {@code w̃} (through the maximum too).
     */
    public static NDArray dorefaWeights(NDArray w, int bits) {
        NDArray t = w.tanh();
        NDArray max = t.abs().max().maximum(constant(t, Float.MIN_NORMAL));
        NDArray u = t.div(max.mul(constant(t, 2f))).add(constant(t, 0.5f));
        return quantizeUnit(u, bits).mul(constant(t, 2f)).sub(constant(t, 1f));
    }

    /**
     * The scale that gives DoReFa weights the magnitude of the weights they stand for: {@code max|tanh(w)|}, a
     * constant of the backward pass. {@code scale·dorefaWeights(w)} approximates {@code tanh(w) ≈ w}; a layer that
     * a batch norm follows does not see it, a layer without one (a classifier) needs it.
     */
    public static NDArray dorefaScale(NDArray w) {
        return w.tanh().abs().max().maximum(constant(w, Float.MIN_NORMAL)).stopGradient();
    }

    /**
     * PACT activations: {@code y = clip(x, 0, α)}, {@code c = round(y·(n/α))}, {@code y_q = c·(α/n)} with
     * {@code n = 2^bits − 1} and a learnable clip level α (a positive scalar): {@code α·q_k(y/α)} with the two
     * scalars {@code n/α} and {@code α/n} computed once, so that the tensor sees two multiplications (integer-only
     * inference computes the codes by the same float operations). Backward: {@code ∂y_q/∂x} is 1 on {@code (0, α)}
     * and 0 below 0 and above α; {@code ∂y_q/∂α} is 1 where {@code x > α}, {@code (y_q − y)/α} on {@code (0, α)}
     * (STE), 0 below 0. (At the measure-zero points {@code x = 0} and {@code x = α} PyTorch's
     * {@code maximum}/{@code minimum} split the gradient in halves.)
     */
    public static NDArray pact(NDArray x, NDArray alpha, int bits) {
        checkBits(bits);
        float n = (1 << bits) - 1;
        NDArray y = x.maximum(constant(x, 0f)).minimum(alpha);
        NDArray toCode = constant(alpha, n).div(alpha);
        return roundSte(y.mul(toCode)).mul(alpha.div(constant(alpha, n)));
    }

    // ------------------------------------------------------------------ level table

    /**
     * Nearest-level fake-quant with a table of strictly increasing levels and a scale per tensor or per output
     * channel: {@code Δ = absmax/reach} ({@code reach} the outermost level's magnitude; fp32 as {@link ScaleRule}
     * rounds it), {@code x̂ = Δ·levels[i]} with {@code i} the number of midpoints {@code (l[j]+l[j+1])/2} below
     * {@code x/Δ} (a tie goes to the lower level): lowbit's codebook format (NF4 with {@link
     * dev.lowbit.format.Codebooks#nf4()}) with one group per row, float for float. Backward: the STE, 0 where
     * {@code x/Δ} lies outside {@code [levels[0], levels[last]]}.
     */
    public static NDArray levels(NDArray x, float[] levels, boolean perChannel) {
        if (levels == null || levels.length < 2) {
            throw new IllegalArgumentException("a level table needs at least 2 levels");
        }
        float[] mid = new float[levels.length - 1];
        for (int i = 0; i < mid.length; i++) {
            if (!(levels[i + 1] > levels[i]) || !Float.isFinite(levels[i]) || !Float.isFinite(levels[i + 1])) {
                throw new IllegalArgumentException("levels must be finite and increase strictly: level " + (i + 1)
                        + " = " + levels[i + 1] + " after " + levels[i]);
            }
            mid[i] = (levels[i] + levels[i + 1]) * 0.5f;
        }
        float reach = Math.max(Math.abs(levels[0]), Math.abs(levels[levels.length - 1]));
        float[] absmax = rowStat(x, perChannel, Stat.ABSMAX);
        float[] d = new float[absmax.length];
        for (int r = 0; r < d.length; r++) {
            d[r] = ScaleRule.round(absmax[r] / reach, absmax[r] > 0f, ScaleType.F32);
        }
        NDManager m = x.getManager();
        Shape ps = paramShape(x, perChannel);
        NDArray scale = m.create(d, ps);
        NDArray v = x.div(m.create(nonZero(d), ps));
        NDArray index = v.expandDims(-1).gt(m.create(mid)).toType(DataType.INT64, false).sum(new int[] {-1});
        NDArray level = m.create(levels).take(index);
        NDArray xhat = level.mul(scale);
        NDArray mask = between(v, levels[0], levels[levels.length - 1]);
        return steMasked(x, xhat, mask);
    }

    // ------------------------------------------------------------------ helpers

    private enum Stat { MIN, MAX, ABSMAX }

    /** One statistic per output channel (or one for the tensor), read back as floats. */
    private static float[] rowStat(NDArray x, boolean perChannel, Stat stat) {
        NDArray v = x.stopGradient();
        NDArray rows = perChannel ? v.reshape(x.getShape().get(0), -1) : v.reshape(1, -1);
        NDArray s = switch (stat) {
            case MIN -> rows.min(new int[] {1});
            case MAX -> rows.max(new int[] {1});
            case ABSMAX -> rows.abs().max(new int[] {1});
        };
        return s.toFloatArray();
    }

    /** The shape of one parameter per output channel ({@code [out, 1, ...]}) or per tensor ({@code []}). */
    private static Shape paramShape(NDArray x, boolean perChannel) {
        if (!perChannel) {
            return new Shape();
        }
        long[] dims = new long[x.getShape().dimension()];
        java.util.Arrays.fill(dims, 1);
        dims[0] = x.getShape().get(0);
        return new Shape(dims);
    }

    /** Divisors: the scales, with 1 for a zero scale (its group is all zero and quantizes to 0). */
    private static float[] nonZero(float[] d) {
        float[] out = d.clone();
        for (int i = 0; i < out.length; i++) {
            if (out[i] == 0f) {
                out[i] = 1f;
            }
        }
        return out;
    }
}
