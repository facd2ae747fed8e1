package dev.lowbit.kernels.impl;

import dev.lowbit.format.QuantFormat;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import static dev.lowbit.kernels.impl.VectorGgmlSearches.*;

/**
 * The Vector API quantizers of the ggml blocks Q5_0, Q5_1, IQ4_NL, Q2_K to Q6_K and Q8_K, writing the bytes of
 * ggml's reference quantizers ({@code quantize_row_*_ref}, and {@code quantize_row_iq4_nl_impl} with its 7-step
 * search); the searches they share are {@link VectorGgmlSearches}, the dequantizers {@link VectorGgmlDequant}.
 *
 * <p>ggml's range searches ({@code make_qkx2_quants} of Q2_K, Q4_K and Q5_K, {@code make_qx_quants} of Q6_K,
 * {@code make_q3_quants} of Q3_K, IQ4_NL's search over 15 trial scales) run with one independent sub-block (or
 * block) per lane: the sub-blocks are first transposed so that element {@code i} of every lane's sub-block is one
 * vector, and each lane then performs exactly ggml's sequence of fp32 operations for its sub-block: its sums in
 * element order, products and sums rounded separately (no fused multiply-add), divisions as divisions, ggml's
 * {@code nearest_int} as its bit trick. A lane's early exit becomes a mask: results are blended only into the lanes
 * that take the branch. The super-block's scales are then quantized per super-block, the codes are recomputed from
 * the stored scales along the elements, and a block is packed 32 codes at a time.
 *
 * <p>A scale (or minimum) that fp16 cannot hold is refused ({@link GroupParams.ScaleRangeException}) where ggml
 * would store an infinity. Rows hold whole blocks; a row with a NaN or an infinity is reported as false.
 */
final class VectorGgmlBlocks {
    // The width of every Vector API kernel (VectorWidth): species must be compile-time constants for C2.
    static final int BITS = VectorWidth.BITS;
    static final VectorSpecies<Float> FS = BITS >= 512 ? FloatVector.SPECIES_512 : FloatVector.SPECIES_256;
    static final VectorSpecies<Integer> IS = BITS >= 512 ? IntVector.SPECIES_512 : IntVector.SPECIES_256;
    /** One byte per float lane: 16 bytes for 512-bit floats, 8 for 256-bit. */
    static final VectorSpecies<Byte> BS = BITS >= 512 ? ByteVector.SPECIES_128 : ByteVector.SPECIES_64;
    /** 32 bytes: one run of 32 codes when a block is packed. */
    static final VectorSpecies<Byte> B32 = ByteVector.SPECIES_256;
    static final int LANES = FS.length();

    /** ggml's {@code nearest_int}: the float plus 1.5·2^23, whose low mantissa bits are the rounded value. */
    static final float MAGIC = 12582912f;
    /** ggml's {@code GROUP_MAX_EPS}: a (sub-)block whose largest magnitude is below it is all zeros. */
    static final float EPS = 1e-15f;

    /** IQ4_NL's levels, ggml's {@code kvalues_iq4nl}. */
    static final int[] KV = QuantFormat.iq4nlLevels();

    static final ThreadLocal<Scratch> SCRATCH = ThreadLocal.withInitial(Scratch::new);

    private VectorGgmlBlocks() {
    }

    /** Per-thread work arrays: transposed sub-blocks, their weights and codes, and a row's scales and codes. */
    static final class Scratch {
        final float[] x = new float[32 * LANES];
        final float[] w = new float[32 * LANES];
        final float[] best = new float[32 * LANES];
        final float[] trial = new float[32 * LANES];
        final float[] laneScale = new float[LANES];
        final float[] laneMin = new float[LANES];
        final int[] lane = new int[LANES];
        float[] scales = new float[0];
        float[] mins = new float[0];
        byte[] codes = new byte[0];

        void ensure(int cols) {
            if (codes.length < cols) {
                codes = new byte[cols];
                scales = new float[cols / 16];
                mins = new float[cols / 16];
            }
        }
    }

    // ---------------------------------------------------------------- quantize

    /**
     * Quantizes {@code src[off, off + cols)} ({@code cols} a multiple of the kind's block) into {@code out}.
     *
     * @return false when the row holds a NaN or an infinity
     * @throws GroupParams.ScaleRangeException when a block's fp16 scale or minimum would overflow
     */
    static boolean quantizeRow(QuantFormat.Kind kind, float[] src, int off, int cols, byte[] out) {
        if (!finite(src, off, cols)) {
            return false;
        }
        Scratch s = SCRATCH.get();
        s.ensure(cols);
        switch (kind) {
            case Q5_0 -> q5(src, off, cols, out, false);
            case Q5_1 -> q5(src, off, cols, out, true);
            case IQ4_NL -> iq4nl(s, src, off, cols, out);
            case Q2_K -> q2k(s, src, off, cols, out);
            case Q3_K -> q3k(s, src, off, cols, out);
            case Q4_K -> q45k(s, src, off, cols, out, false);
            case Q5_K -> q45k(s, src, off, cols, out, true);
            case Q6_K -> q6k(s, src, off, cols, out);
            case Q8_K -> q8k(src, off, cols, out);
            default -> throw new IllegalArgumentException(kind + " is not one of the blocks of this class");
        }
        return true;
    }

    static boolean finite(float[] src, int off, int cols) {
        int i = 0;
        for (; i + LANES <= cols; i += LANES) {
            if (!FloatVector.fromArray(FS, src, off + i).test(VectorOperators.IS_FINITE).allTrue()) {
                return false;
            }
        }
        for (; i < cols; i++) {
            if (!Float.isFinite(src[off + i])) {
                return false;
            }
        }
        return true;
    }

    /** ggml's {@code nearest_int} in lanes: exact rounding to nearest even for |t| < 2^22, ggml's bits beyond. */
    static IntVector nearest(FloatVector t) {
        return ((IntVector) t.add(MAGIC).viewAsIntegralLanes()).and(0x7FFFFF).sub(0x400000);
    }

    static int nearest(float t) {
        return (Float.floatToRawIntBits(t + MAGIC) & 0x7FFFFF) - 0x400000;
    }

    /** {@code clamp(nearest_int(t), lo, hi)} as floats. */
    static FloatVector level(FloatVector t, int lo, int hi) {
        return (FloatVector) nearest(t).max(lo).min(hi).convert(VectorOperators.I2F, 0);
    }

    static FloatVector load(float[] a, int i) {
        return FloatVector.fromArray(FS, a, i * LANES);
    }

    /**
     * Copies sub-blocks {@code g0 .. g0 + count} of {@code n} elements at {@code src[off..]} into {@code x} with
     * element {@code i} of sub-block {@code g0 + k} at {@code x[i * LANES + k]}; lanes past {@code count} hold zeros.
     */
    static void transpose(float[] src, int off, int n, int g0, int count, float[] x) {
        for (int k = 0; k < LANES; k++) {
            int base = off + (g0 + k) * n;
            for (int i = 0; i < n; i++) {
                x[i * LANES + k] = k < count ? src[base + i] : 0f;
            }
        }
    }

    /** Writes the codes of lanes {@code 0 .. count} (as floats in {@code q}) to {@code codes} in element order. */
    static void untranspose(float[] q, int n, int g0, int count, byte[] codes) {
        for (int k = 0; k < count; k++) {
            int base = (g0 + k) * n;
            for (int i = 0; i < n; i++) {
                codes[base + i] = (byte) (int) q[i * LANES + k];
            }
        }
    }

    static void checkF16(String what, float v) {
        if (Float.isInfinite(Float.float16ToFloat(Float.floatToFloat16(v)))) {
            throw new GroupParams.ScaleRangeException(what, v);
        }
    }

    static float f16(float v) {
        return Float.float16ToFloat(Float.floatToFloat16(v));
    }

    static void putF16(byte[] out, int at, float v) {
        short h = Float.floatToFloat16(v);
        out[at] = (byte) h;
        out[at + 1] = (byte) (h >> 8);
    }

    // ---------------------------------------------------------------- the kinds

    static void q5(float[] src, int off, int cols, byte[] out, boolean q51) {
        int bb = q51 ? 24 : 22;
        for (int b = 0; b < cols / 32; b++) {
            int x = off + b * 32;
            int base = b * bb;
            float d;
            float sub = 0f;
            float add;
            if (q51) {
                IntVector v = sortableBits(src, x);
                IntVector vmin = v;
                IntVector vmax = v;
                for (int j = LANES; j < 32; j += LANES) {
                    v = sortableBits(src, x + j);
                    vmin = vmin.min(v);
                    vmax = vmax.max(v);
                }
                float min = fromSortable(vmin.reduceLanes(VectorOperators.MIN));
                float max = fromSortable(vmax.reduceLanes(VectorOperators.MAX));
                if (min == 0f) {
                    min = firstZero(src, x); // ggml's strict comparisons keep the first zero's sign
                }
                d = (max - min) / 31f;
                sub = min;
                add = 0.5f;
                checkF16("minimum", min);
                putF16(out, base + 2, min);
            } else {
                int a = blockAbsBits(src, x).reduceLanes(VectorOperators.MAX);
                float m = 0f;
                for (int j = 0; a != 0 && j < 32; j += LANES) { // the first element of largest magnitude
                    VectorMask<Integer> hit = absBits(src, x + j).compare(VectorOperators.EQ, a);
                    if (hit.anyTrue()) {
                        m = src[x + j + hit.firstTrue()];
                        break;
                    }
                }
                d = m / -16f;
                add = 16.5f;
            }
            checkF16("scale", d);
            float id = d != 0f ? 1f / d : 0f;
            putF16(out, base, d);
            int qh = 0;
            int qs = base + (q51 ? 8 : 6);
            for (int j = 0; j < 16; j += LANES) {
                IntVector lo = codesQ5(src, x + j, id, sub, add, q51);
                IntVector hi = codesQ5(src, x + 16 + j, id, sub, add, q51);
                IntVector q = lo.and(15).or(hi.and(15).lanewise(VectorOperators.LSHL, 4));
                ((ByteVector) q.convertShape(VectorOperators.I2B, BS, 0)).intoArray(out, qs + j);
                long loBits = lo.and(0x10).compare(VectorOperators.NE, 0).toLong();
                long hiBits = hi.and(0x10).compare(VectorOperators.NE, 0).toLong();
                qh |= (int) (loBits << j) | (int) (hiBits << (16 + j));
            }
            int at = base + (q51 ? 4 : 2);
            out[at] = (byte) qh;
            out[at + 1] = (byte) (qh >>> 8);
            out[at + 2] = (byte) (qh >>> 16);
            out[at + 3] = (byte) (qh >>> 24);
        }
    }

    /**
     * Q5 codes of one vector: Q5_0's {@code MIN(31, (int8_t)(x·id + 16.5))} or Q5_1's
     * {@code (uint8_t)((x − min)·id + 0.5)}, with x86's truncation ({@link #truncate}); as bytes 0..255.
     */
    static IntVector codesQ5(float[] src, int at, float id, float sub, float add, boolean q51) {
        FloatVector x = FloatVector.fromArray(FS, src, at);
        FloatVector t = (q51 ? x.sub(sub) : x).mul(id).add(add);
        IntVector c = truncate(t);
        if (q51) {
            return c.and(0xFF);
        }
        return c.lanewise(VectorOperators.LSHL, 24).lanewise(VectorOperators.ASHR, 24).min(31).and(0xFF);
    }

    /** x86's float-to-int truncation in lanes: Java's conversion, but {@code MIN_VALUE} for NaN and beyond ±2^31. */
    static IntVector truncate(FloatVector t) {
        IntVector c = (IntVector) t.convertShape(VectorOperators.F2I, IS, 0);
        return c.blend(Integer.MIN_VALUE, t.abs().compare(VectorOperators.LT, 0x1p31f).not().cast(IS));
    }

    static IntVector absBits(float[] src, int at) {
        return (IntVector) FloatVector.fromArray(FS, src, at).abs().viewAsIntegralLanes();
    }

    static IntVector blockAbsBits(float[] src, int x) {
        IntVector a = absBits(src, x);
        for (int j = LANES; j < 32; j += LANES) {
            a = a.max(absBits(src, x + j));
        }
        return a;
    }

    /** Float bits as ints that order like the floats ({@code -0 < +0}); the map is its own inverse. */
    static IntVector sortableBits(float[] src, int at) {
        IntVector i = (IntVector) FloatVector.fromArray(FS, src, at).viewAsIntegralLanes();
        return i.lanewise(VectorOperators.XOR, i.lanewise(VectorOperators.ASHR, 31).and(0x7FFFFFFF));
    }

    static float fromSortable(int s) {
        return Float.intBitsToFloat(s ^ ((s >> 31) & 0x7FFFFFFF));
    }

    static float firstZero(float[] src, int x) {
        int j = x;
        while (src[j] != 0f) {
            j++;
        }
        return src[j];
    }

    /** IQ4_NL: blocks of 32 in lanes, ggml's search over the 15 trial scales, then the codes with the block scale. */
    static void iq4nl(Scratch s, float[] src, int off, int cols, byte[] out) {
        int blocks = cols / 32;
        float[] xs = s.x;
        FloatVector zero = FloatVector.zero(FS);
        for (int g0 = 0; g0 < blocks; g0 += LANES) {
            int count = Math.min(LANES, blocks - g0);
            transpose(src, off, 32, g0, count, xs);
            FloatVector amax = zero;
            FloatVector max = zero;
            for (int i = 0; i < 32; i++) {
                FloatVector x = load(xs, i);
                FloatVector ax = x.abs();
                VectorMask<Float> m = ax.compare(VectorOperators.GT, amax);
                amax = amax.blend(ax, m);
                max = max.blend(x, m);
            }
            VectorMask<Float> allZero = amax.compare(VectorOperators.LT, EPS);
            FloatVector d = max.neg().div((float) KV[0]);
            FloatVector[] sums = iq4Sums(xs, FloatVector.broadcast(FS, 1f).div(d));
            d = sums[0].div(sums[1]);
            FloatVector bestValue = d.mul(sums[0]);
            for (int t = -7; t <= 7; t++) {
                sums = iq4Sums(xs, FloatVector.broadcast(FS, (float) (t + KV[0])).div(max));
                VectorMask<Float> better = sums[1].compare(VectorOperators.GT, 0f)
                        .and(sums[0].mul(sums[0]).compare(VectorOperators.GT, bestValue.mul(sums[1])));
                d = d.blend(sums[0].div(sums[1]), better);
                bestValue = bestValue.blend(d.mul(sums[0]), better);
            }
            d = d.blend(zero, allZero);
            d.intoArray(s.laneScale, 0);
            for (int k = 0; k < count; k++) {
                float dk = s.laneScale[k];
                checkF16("scale", dk);
                putF16(out, (g0 + k) * 18, dk);
            }
            FloatVector id = FloatVector.broadcast(FS, 1f).div(d).blend(zero, d.compare(VectorOperators.EQ, 0f));
            for (int i = 0; i < 32; i++) {
                bestIndex(id.mul(load(xs, i))).intoArray(s.best, i * LANES);
            }
            float[] l = s.best;
            for (int j = 0; j < 16; j++) {
                IntVector lo = (IntVector) load(l, j).convert(VectorOperators.F2I, 0);
                IntVector hi = (IntVector) load(l, j + 16).convert(VectorOperators.F2I, 0);
                lo.or(hi.lanewise(VectorOperators.LSHL, 4)).intoArray(s.lane, 0);
                for (int k = 0; k < count; k++) {
                    out[(g0 + k) * 18 + 2 + j] = (byte) s.lane[k];
                }
            }
        }
    }

    /** Q4_K and Q5_K: {@code make_qkx2_quants} over sub-blocks of 32 in lanes, 6-bit scales and minima. */
    static void q45k(Scratch s, float[] src, int off, int cols, byte[] out, boolean q5) {
        int nmax = q5 ? 31 : 15;
        int groups = cols / 32;
        float[] xs = s.x;
        float[] ws = s.w;
        for (int g0 = 0; g0 < groups; g0 += LANES) {
            int count = Math.min(LANES, groups - g0);
            transpose(src, off, 32, g0, count, xs);
            FloatVector sumX2 = FloatVector.zero(FS);
            for (int i = 0; i < 32; i++) {
                FloatVector x = load(xs, i);
                sumX2 = sumX2.add(x.mul(x));
            }
            FloatVector avX = sumX2.div(32f).lanewise(VectorOperators.SQRT);
            for (int i = 0; i < 32; i++) {
                avX.add(load(xs, i).abs()).intoArray(ws, i * LANES);
            }
            if (q5) {
                qkx2(s, 32, nmax, -0.5f, 0.1f, 15, false);
            } else {
                qkx2(s, 32, nmax, -1f, 0.1f, 20, false);
            }
            keep(s, 32, g0, count);
        }
        int bb = q5 ? 176 : 144;
        int qo = q5 ? 48 : 16;
        int[] ls = new int[8];
        int[] lm = new int[8];
        for (int sb = 0; sb < cols / 256; sb++) {
            int base = sb * bb;
            float maxScale = 0f;
            float maxMin = 0f;
            for (int j = 0; j < 8; j++) {
                float sc = s.scales[sb * 8 + j];
                if (sc > maxScale) {
                    maxScale = sc;
                }
                float mn = s.mins[sb * 8 + j];
                if (mn > maxMin) {
                    maxMin = mn;
                }
            }
            float invScale = maxScale > 0 ? 63f / maxScale : 0f;
            float invMin = maxMin > 0 ? 63f / maxMin : 0f;
            for (int j = 0; j < 8; j++) {
                ls[j] = Math.min(63, nearest(invScale * s.scales[sb * 8 + j]) & 0xFF);
                lm[j] = Math.min(63, nearest(invMin * s.mins[sb * 8 + j]) & 0xFF);
            }
            for (int j = 0; j < 4; j++) {
                out[base + 4 + j] = (byte) (ls[j] | (ls[j + 4] >> 4) << 6);
                out[base + 8 + j] = (byte) (lm[j] | (lm[j + 4] >> 4) << 6);
                out[base + 12 + j] = (byte) ((ls[j + 4] & 0xF) | (lm[j + 4] & 0xF) << 4);
            }
            float d = maxScale / 63f;
            float dmin = maxMin / 63f;
            checkF16("scale", d);
            checkF16("minimum", dmin);
            putF16(out, base, d);
            putF16(out, base + 2, dmin);
            float dh = f16(d);
            float mh = f16(dmin);
            for (int j = 0; j < 8; j++) {
                float dq = dh * ls[j];
                if (dq == 0f) {
                    continue;
                }
                requantize(src, off + sb * 256 + 32 * j, 32, mh * lm[j], dq, 0, nmax, 0, s.codes, sb * 256 + 32 * j);
            }
            int c = sb * 256;
            if (q5) {
                ByteVector qh = ByteVector.zero(B32);
                for (int n = 0; n < 4; n++) {
                    ByteVector l1 = ByteVector.fromArray(B32, s.codes, c + 64 * n);
                    ByteVector l2 = ByteVector.fromArray(B32, s.codes, c + 64 * n + 32);
                    qh = qh.or(l1.lanewise(VectorOperators.LSHR, 4).and((byte) 1).lanewise(VectorOperators.LSHL, 2 * n))
                            .or(l2.lanewise(VectorOperators.LSHR, 4).and((byte) 1)
                                    .lanewise(VectorOperators.LSHL, 2 * n + 1));
                    l1.and((byte) 15).or(l2.and((byte) 15).lanewise(VectorOperators.LSHL, 4))
                            .intoArray(out, base + qo + 32 * n);
                }
                qh.intoArray(out, base + 16);
            } else {
                for (int n = 0; n < 4; n++) {
                    ByteVector l1 = ByteVector.fromArray(B32, s.codes, c + 64 * n);
                    ByteVector l2 = ByteVector.fromArray(B32, s.codes, c + 64 * n + 32);
                    l1.or(l2.lanewise(VectorOperators.LSHL, 4)).intoArray(out, base + qo + 32 * n);
                }
            }
        }
    }

    /** Keeps the scales, minima and codes of the {@code count} lanes of sub-blocks {@code g0..} in row order. */
    static void keep(Scratch s, int n, int g0, int count) {
        for (int k = 0; k < count; k++) {
            s.scales[g0 + k] = s.laneScale[k];
            s.mins[g0 + k] = s.laneMin[k];
        }
        untranspose(s.best, n, g0, count, s.codes);
    }

    /**
     * The codes of {@code x[from, from + n)} with a stored scale: {@code clamp(nearest_int((x + dm)/d), lo, hi) + add}
     * into {@code codes[at..]}; without a minimum ({@code dm} NaN), {@code clamp(nearest_int(x/d), lo, hi) + add}.
     */
    static void requantize(float[] x, int from, int n, float dm, float d, int lo, int hi, int add,
                                   byte[] codes, int at) {
        boolean shift = !Float.isNaN(dm);
        for (int i = 0; i < n; i += LANES) {
            FloatVector v = FloatVector.fromArray(FS, x, from + i);
            if (shift) {
                v = v.add(dm);
            }
            IntVector l = nearest(v.div(d)).max(lo).min(hi).add(add);
            ((ByteVector) l.convertShape(VectorOperators.I2B, BS, 0)).intoArray(codes, at + i);
        }
    }

    /** Q2_K: {@code make_qkx2_quants} over sub-blocks of 16 in lanes, 4-bit scales and minima. */
    static void q2k(Scratch s, float[] src, int off, int cols, byte[] out) {
        int groups = cols / 16;
        for (int g0 = 0; g0 < groups; g0 += LANES) {
            int count = Math.min(LANES, groups - g0);
            transpose(src, off, 16, g0, count, s.x);
            for (int i = 0; i < 16; i++) {
                load(s.x, i).abs().intoArray(s.w, i * LANES);
            }
            qkx2(s, 16, 3, -0.5f, 0.1f, 15, true);
            keep(s, 16, g0, count);
        }
        int[] sc = new int[16];
        for (int sb = 0; sb < cols / 256; sb++) {
            int base = sb * 84;
            float maxScale = 0f;
            float maxMin = 0f;
            for (int j = 0; j < 16; j++) {
                float scale = s.scales[sb * 16 + j];
                if (scale > maxScale) {
                    maxScale = scale;
                }
                float mn = s.mins[sb * 16 + j];
                if (mn > maxMin) {
                    maxMin = mn;
                }
            }
            float d = 0f;
            if (maxScale > 0) {
                float iscale = 15f / maxScale;
                for (int j = 0; j < 16; j++) {
                    sc[j] = nearest(iscale * s.scales[sb * 16 + j]) & 0xFF;
                }
                d = maxScale / 15f;
                checkF16("scale", d);
            } else {
                java.util.Arrays.fill(sc, 0);
            }
            float dmin = 0f;
            if (maxMin > 0) {
                float iscale = 15f / maxMin;
                for (int j = 0; j < 16; j++) {
                    sc[j] = (sc[j] | nearest(iscale * s.mins[sb * 16 + j]) << 4) & 0xFF;
                }
                dmin = maxMin / 15f;
                checkF16("minimum", dmin);
            }
            putF16(out, base + 80, d);
            putF16(out, base + 82, dmin);
            float dh = f16(d);
            float mh = f16(dmin);
            for (int j = 0; j < 16; j++) {
                out[base + j] = (byte) sc[j];
                float dq = dh * (sc[j] & 0xF);
                if (dq == 0f) {
                    continue;
                }
                requantize(src, off + sb * 256 + 16 * j, 16, mh * (sc[j] >> 4), dq, 0, 3, 0, s.codes,
                        sb * 256 + 16 * j);
            }
            packCrumbs(s.codes, sb * 256, out, base + 16);
        }
    }

    /** Codes of 2 bits, four runs of 32 to a byte per 128 elements: ggml's {@code qs} of Q2_K and Q3_K. */
    static void packCrumbs(byte[] codes, int c, byte[] out, int at) {
        for (int j = 0; j < 256; j += 128) {
            ByteVector q = ByteVector.fromArray(B32, codes, c + j);
            for (int k = 1; k < 4; k++) {
                q = q.or(ByteVector.fromArray(B32, codes, c + j + 32 * k).lanewise(VectorOperators.LSHL, 2 * k));
            }
            q.intoArray(out, at + j / 4);
        }
    }

    /** Q3_K: {@code make_q3_quants} over sub-blocks of 16 in lanes, signed 6-bit scales. */
    static void q3k(Scratch s, float[] src, int off, int cols, byte[] out) {
        int groups = cols / 16;
        for (int g0 = 0; g0 < groups; g0 += LANES) {
            int count = Math.min(LANES, groups - g0);
            transpose(src, off, 16, g0, count, s.x);
            q3(s, 16, 4);
            keep(s, 16, g0, count);
        }
        int[] l6 = new int[16];
        for (int sb = 0; sb < cols / 256; sb++) {
            int base = sb * 110;
            float amax = 0f;
            float maxScale = 0f;
            for (int j = 0; j < 16; j++) {
                float scale = s.scales[sb * 16 + j];
                if (Math.abs(scale) > amax) {
                    amax = Math.abs(scale);
                    maxScale = scale;
                }
            }
            java.util.Arrays.fill(out, base + 96, base + 108, (byte) 0);
            float d = 0f;
            if (maxScale != 0f) {
                float iscale = -32f / maxScale;
                for (int j = 0; j < 16; j++) {
                    int l = Math.max(-32, Math.min(31, (byte) nearest(iscale * s.scales[sb * 16 + j]))) + 32;
                    l6[j] = l;
                    if (j < 8) {
                        out[base + 96 + j] = (byte) (l & 0xF);
                    } else {
                        out[base + 96 + j - 8] |= (byte) ((l & 0xF) << 4);
                    }
                    out[base + 96 + 8 + j % 4] |= (byte) ((l >> 4) << (2 * (j / 4)));
                }
                d = 1 / iscale;
                checkF16("scale", d);
            } else {
                java.util.Arrays.fill(l6, 0);
            }
            putF16(out, base + 108, d);
            float dh = f16(d);
            for (int j = 0; j < 16; j++) {
                float dq = dh * (l6[j] - 32);
                if (dq == 0f) {
                    continue;
                }
                requantize(src, off + sb * 256 + 16 * j, 16, Float.NaN, dq, -4, 3, 4, s.codes, sb * 256 + 16 * j);
            }
            int c = sb * 256;
            ByteVector hm = ByteVector.zero(B32);
            for (int k = 0; k < 8; k++) {
                ByteVector l = ByteVector.fromArray(B32, s.codes, c + 32 * k);
                hm = hm.or(l.lanewise(VectorOperators.LSHR, 2).and((byte) 1).lanewise(VectorOperators.LSHL, k));
                l.and((byte) 3).intoArray(s.codes, c + 32 * k);
            }
            hm.intoArray(out, base);
            packCrumbs(s.codes, c, out, base + 32);
        }
    }

    /** Q6_K: {@code make_qx_quants} over sub-blocks of 16 in lanes, int8 scales. */
    static void q6k(Scratch s, float[] src, int off, int cols, byte[] out) {
        int groups = cols / 16;
        for (int g0 = 0; g0 < groups; g0 += LANES) {
            int count = Math.min(LANES, groups - g0);
            transpose(src, off, 16, g0, count, s.x);
            qx(s, 16, 32);
            keep(s, 16, g0, count);
        }
        for (int sb = 0; sb < cols / 256; sb++) {
            int base = sb * 210;
            float maxAbs = 0f;
            float maxScale = 0f;
            for (int j = 0; j < 16; j++) {
                float scale = s.scales[sb * 16 + j];
                if (Math.abs(scale) > maxAbs) {
                    maxAbs = Math.abs(scale);
                    maxScale = scale;
                }
            }
            if (maxAbs < EPS) {
                java.util.Arrays.fill(out, base, base + 210, (byte) 0);
                continue;
            }
            float iscale = -128f / maxScale;
            float d = 1 / iscale;
            checkF16("scale", d);
            putF16(out, base + 208, d);
            float dh = f16(d);
            for (int j = 0; j < 16; j++) {
                byte sc = (byte) Math.min(127, nearest(iscale * s.scales[sb * 16 + j]));
                out[base + 192 + j] = sc;
                float dq = dh * sc;
                if (dq == 0f) {
                    continue;
                }
                requantize(src, off + sb * 256 + 16 * j, 16, Float.NaN, dq, -32, 31, 32, s.codes, sb * 256 + 16 * j);
            }
            int c = sb * 256;
            for (int h = 0; h < 2; h++) {
                int cc = c + 128 * h;
                ByteVector q1 = ByteVector.fromArray(B32, s.codes, cc);
                ByteVector q2 = ByteVector.fromArray(B32, s.codes, cc + 32);
                ByteVector q3 = ByteVector.fromArray(B32, s.codes, cc + 64);
                ByteVector q4 = ByteVector.fromArray(B32, s.codes, cc + 96);
                q1.and((byte) 15).or(q3.and((byte) 15).lanewise(VectorOperators.LSHL, 4))
                        .intoArray(out, base + 64 * h);
                q2.and((byte) 15).or(q4.and((byte) 15).lanewise(VectorOperators.LSHL, 4))
                        .intoArray(out, base + 64 * h + 32);
                q1.lanewise(VectorOperators.LSHR, 4)
                        .or(q2.lanewise(VectorOperators.LSHR, 4).lanewise(VectorOperators.LSHL, 2))
                        .or(q3.lanewise(VectorOperators.LSHR, 4).lanewise(VectorOperators.LSHL, 4))
                        .or(q4.lanewise(VectorOperators.LSHR, 4).lanewise(VectorOperators.LSHL, 6))
                        .intoArray(out, base + 128 + 32 * h);
            }
        }
    }

    /** Q8_K: {@code quantize_row_q8_K_ref}, an fp32 scale {@code max/−127}, and the sums of each run of 16 codes. */
    static void q8k(float[] src, int off, int cols, byte[] out) {
        for (int sb = 0; sb < cols / 256; sb++) {
            int x = off + sb * 256;
            int base = sb * 292;
            IntVector a = absBits(src, x);
            for (int j = LANES; j < 256; j += LANES) {
                a = a.max(absBits(src, x + j));
            }
            int amax = a.reduceLanes(VectorOperators.MAX);
            if (amax == 0) {
                java.util.Arrays.fill(out, base, base + 292, (byte) 0);
                continue;
            }
            float max = 0f;
            for (int j = 0; j < 256; j += LANES) { // the first element of largest magnitude
                VectorMask<Integer> hit = absBits(src, x + j).compare(VectorOperators.EQ, amax);
                if (hit.anyTrue()) {
                    max = src[x + j + hit.firstTrue()];
                    break;
                }
            }
            float iscale = -127f / max;
            for (int j = 0; j < 256; j += 16) {
                int sum = 0;
                for (int i = 0; i < 16; i += LANES) {
                    IntVector q = nearest(FloatVector.fromArray(FS, src, x + j + i).mul(iscale)).min(127);
                    ((ByteVector) q.convertShape(VectorOperators.I2B, BS, 0)).intoArray(out, base + 4 + j + i);
                    sum += q.lanewise(VectorOperators.LSHL, 24).lanewise(VectorOperators.ASHR, 24)
                            .reduceLanes(VectorOperators.ADD);
                }
                out[base + 260 + j / 8] = (byte) sum;
                out[base + 261 + j / 8] = (byte) (sum >> 8);
            }
            int bits = Float.floatToRawIntBits(1 / iscale);
            out[base] = (byte) bits;
            out[base + 1] = (byte) (bits >> 8);
            out[base + 2] = (byte) (bits >> 16);
            out[base + 3] = (byte) (bits >> 24);
        }
    }
}
