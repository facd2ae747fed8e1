package dev.lowbit.kernels.impl;

import dev.lowbit.format.Layouts;
import dev.lowbit.format.QuantFormat;
import dev.lowbit.format.QuantizedTensor;
import dev.lowbit.format.Reference;
import dev.lowbit.kernels.Codebook;
import dev.lowbit.kernels.QuantKernels;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;

/**
 * Vector API kernels. Per-group parameters come from the same scalar {@link GroupParams} as the
 * reference, and the element arithmetic is the same IEEE operations in the same order, so results
 * are bit-identical: division stays a division, and {@code rint} is {@code (t + 1.5*2^23) - 1.5*2^23},
 * which rounds ties to even for every {@code |t| < 2^22} (codes never exceed 255 in magnitude).
 * Group tails shorter than a vector run the scalar loop. The ggml blocks beyond Q8_0, Q4_0 and Q4_1 (Q5_0, Q5_1,
 * IQ4_NL, the K-quants and Q8_K) are {@link VectorGgmlBlocks}'.
 */
final class VectorQuantKernels implements QuantKernels {
    private static final float RINT_MAGIC = 12582912f; // 1.5 * 2^23

    // The width of every Vector API kernel (VectorWidth): species must be compile-time constants for C2.
    private static final int BITS = VectorWidth.BITS;
    private static final VectorSpecies<Float> fs = BITS >= 512 ? FloatVector.SPECIES_512 : FloatVector.SPECIES_256;
    private static final VectorSpecies<Integer> is = BITS >= 512 ? IntVector.SPECIES_512 : IntVector.SPECIES_256;
    // One byte per float lane: 16 bytes for 512-bit floats, 8 for 256-bit.
    private static final VectorSpecies<Byte> bs = BITS >= 512 ? ByteVector.SPECIES_128 : ByteVector.SPECIES_64;
    private static final int lanes = fs.length();

    static final VectorQuantKernels INSTANCE = BITS >= 256 ? new VectorQuantKernels() : null;

    private final ThreadLocal<byte[]> codeScratch = ThreadLocal.withInitial(() -> new byte[0]);

    private VectorQuantKernels() {
    }

    @Override
    public String name() {
        return "vector-" + fs.vectorBitSize();
    }

    // ---------------------------------------------------------------- quantize

    @Override
    public boolean quantizeRow(QuantFormat f, Codebook cb, float[] src, int off, int cols, byte[] rowBytes,
                            float[] scales, float[] zeros) {
        if (f.isGgml() && !f.kind().plain()) {
            return VectorGgmlBlocks.quantizeRow(f.kind(), src, off, cols, rowBytes);
        }
        if (f.isGgml()) {
            return quantizeGgml(f, src, off, cols, rowBytes);
        }
        byte[] codes = scratch(cols);
        int gl = f.groupLength(cols);
        float[] p = new float[4];
        float[] stats = new float[2];
        int lo = GroupParams.lo(f);
        int hi = GroupParams.hi(f);
        boolean codebook = f.hasLevels();
        for (int g = 0, start = 0; start < cols; g++, start += gl) {
            int end = Math.min(cols, start + gl);
            minMax(src, off + start, end - start, stats);
            float min = stats[0];
            float max = stats[1];
            if (!Float.isFinite(min) || !Float.isFinite(max)) {
                return false;
            }
            float absmax = Math.max(Math.abs(min), Math.abs(max));
            if (codebook) {
                float d = GroupParams.codebookScale(absmax, cb.reach(), f.scaleType());
                scales[g] = d;
                codebookCodes(cb, d, src, off, start, end, codes);
                continue;
            }
            GroupParams.uniform(f, min, max, absmax, p);
            scales[g] = p[0];
            if (zeros != null) {
                zeros[g] = p[3];
            }
            uniformCodes(p[0], p[1], p[2], lo, hi, src, off, start, end, codes);
        }
        RowPacker.pack(f, codes, cols, scales, zeros, rowBytes);
        return true;
    }

    /**
     * ggml blocks by {@link GgmlBlocks}' rules, written straight into the row: the statistics in lanes, the block's
     * parameters, then codes (for Q4_0 and Q4_1, elements j and j+16 share a byte). A partial last block takes the
     * scalar rule.
     */
    private boolean quantizeGgml(QuantFormat f, float[] src, int off, int cols, byte[] out) {
        QuantFormat.Kind kind = f.kind();
        boolean q8 = kind == QuantFormat.Kind.Q8_0;
        boolean q41 = f.hasMinimum();
        int bb = f.blockBytes();
        int full = cols / 32;
        if (q8 && !quantizeQ8(src, off, full, out)) {
            return false;
        }
        for (int b = 0; b < full && !q8; b++) {
            int x = off + b * 32;
            int base = b * bb;
            float d;
            float sub = 0f;
            float add;
            int qo = base + 2;
            if (q41) {
                IntVector v = sortableBits(src, x);
                IntVector vmin = v;
                IntVector vmax = v;
                for (int j = lanes; j < 32; j += lanes) {
                    v = sortableBits(src, x + j);
                    vmin = vmin.min(v);
                    vmax = vmax.max(v);
                }
                float min = fromSortable(vmin.reduceLanes(VectorOperators.MIN));
                float max = fromSortable(vmax.reduceLanes(VectorOperators.MAX));
                if (!Float.isFinite(min) || !Float.isFinite(max)) {
                    return false;
                }
                if (min == 0f) {
                    min = firstZero(src, x); // ggml's strict comparisons keep the first zero's sign
                }
                d = (max - min) / 15f;
                sub = min;
                add = 0.5f;
                if (Float.isInfinite(Float.float16ToFloat(Float.floatToFloat16(min)))) {
                    throw new GroupParams.ScaleRangeException("minimum", min);
                }
                RowPacker.putF16(out, base + 2, min);
                qo += 2;
            } else {
                int a = blockAbsBits(src, x).reduceLanes(VectorOperators.MAX);
                if (a >= INFINITY_BITS) {
                    return false;
                }
                float m = 0f;
                for (int j = 0; a != 0 && j < 32; j += lanes) { // the first element of largest magnitude
                    VectorMask<Integer> hit = absBits(src, x + j).compare(VectorOperators.EQ, a);
                    if (hit.anyTrue()) {
                        m = src[x + j + hit.firstTrue()];
                        break;
                    }
                }
                d = m / -8f;
                add = 8.5f;
            }
            checkScale(d);
            float id = d != 0f ? 1f / d : 0f;
            RowPacker.putF16(out, base, d);
            for (int j = 0; j < 16; j += lanes) {
                IntVector lo = codesQ4(src, x + j, id, sub, add);
                IntVector hi = codesQ4(src, x + 16 + j, id, sub, add);
                IntVector q = lo.or(hi.lanewise(VectorOperators.LSHL, 4));
                ((ByteVector) q.convertShape(VectorOperators.I2B, bs, 0)).intoArray(out, qo + j);
            }
        }
        if (full * 32 < cols) {
            int start = full * 32;
            if (firstNonFinite(src, off + start, cols - start) >= 0) {
                return false;
            }
            float[] p = new float[4];
            byte[] codes = scratch(cols);
            GgmlBlocks.block(kind, src, off + start, cols - start, codes, start, p);
            RowPacker.packBlock(f, codes, start, cols - start, p[0], p[2], out, full * bb);
        }
        return true;
    }

    /** The first element of block {@code src[x, x + 32)} equal to zero, with its sign (the block holds one). */
    private static float firstZero(float[] src, int x) {
        int j = x;
        while (src[j] != 0f) {
            j++;
        }
        return src[j];
    }

    /** A scale fp16 cannot hold is refused, as {@link GgmlBlocks#params} refuses it. */
    private static void checkScale(float d) {
        if (Float.isInfinite(Float.float16ToFloat(Float.floatToFloat16(d)))) {
            throw new GroupParams.ScaleRangeException("scale", d);
        }
    }

    /** Q4 codes of one vector at {@code src[at]}: {@code min(15, trunc((x − sub)·id + add))}. */
    private static IntVector codesQ4(float[] src, int at, float id, float sub, float add) {
        FloatVector t = FloatVector.fromArray(fs, src, at).sub(sub).mul(id).add(add);
        return truncate(t).min(15).and(15);
    }

    /** {@link GgmlBlocks#truncate} in lanes: Java's conversion, but {@code MIN_VALUE} for NaN and beyond ±2^31. */
    private static IntVector truncate(FloatVector t) {
        IntVector c = (IntVector) t.convertShape(VectorOperators.F2I, is, 0);
        return c.blend(Integer.MIN_VALUE, t.abs().compare(VectorOperators.LT, 0x1p31f).not().cast(is));
    }

    /** Q8_0 codes of one vector at {@code src[at]}: {@code roundf(x·id)}, half away from zero. */
    private static IntVector codesQ8(float[] src, int at, float id) {
        FloatVector t = FloatVector.fromArray(fs, src, at).mul(id);
        FloatVector half = FloatVector.broadcast(fs, GgmlBlocks.HALF_BELOW)
                .blend(-GgmlBlocks.HALF_BELOW, t.lt(0f));
        return truncate(t.add(half));
    }

    /**
     * The bits of {@code |x|} as ints. Non-negative finite floats order like their bit patterns, and an
     * integer max has none of the NaN and signed-zero handling that a float max must compile to.
     */
    private static IntVector absBits(float[] src, int at) {
        return (IntVector) FloatVector.fromArray(fs, src, at).abs().viewAsIntegralLanes();
    }

    private static final int INFINITY_BITS = 0x7F800000;

    /** Q8_0 blocks per chunk (2 KiB of input). */
    private static final int Q8_CHUNK = 16;

    /**
     * Full Q8_0 blocks of a row, software-pipelined by chunks: the absmax of chunk k+1 is taken while the
     * codes of chunk k are computed, so that loads from DRAM overlap arithmetic instead of alternating
     * with it; and a chunk's scales are all computed before its codes, so that the scalar scale rule
     * does not stall the code loop.
     */
    private boolean quantizeQ8(float[] src, int off, int full, byte[] out) {
        float[] cur = dScratch(2 * Q8_CHUNK);
        if (full > 0 && !absmaxQ8(src, off, 0, Math.min(full, Q8_CHUNK), cur, 0)) {
            return false;
        }
        for (int c0 = 0; c0 < full; c0 += Q8_CHUNK) {
            int c1 = Math.min(full, c0 + Q8_CHUNK);
            int here = (c0 / Q8_CHUNK & 1) * Q8_CHUNK;
            int next = Q8_CHUNK - here;
            for (int b = c0; b < c1; b++) {
                float d = cur[here + b - c0] / 127f;
                checkScale(d);
                cur[here + b - c0] = d;
            }
            int n1 = Math.min(full, c1 + Q8_CHUNK);
            IntVector all = IntVector.zero(is);
            for (int b = c0; b < c1; b++) {
                float db = cur[here + b - c0];
                float id = db != 0f ? 1f / db : 0f;
                int x = off + b * 32;
                int base = b * 34;
                RowPacker.putF16(out, base, db);
                for (int j = 0; j < 32; j += lanes) {
                    IntVector q = codesQ8(src, x + j, id);
                    ((ByteVector) q.convertShape(VectorOperators.I2B, bs, 0)).intoArray(out, base + 2 + j);
                }
                int nb = b + Q8_CHUNK;
                if (nb < n1) {
                    IntVector a = blockAbsBits(src, off + nb * 32);
                    all = all.max(a);
                    cur[next + b - c0] = Float.intBitsToFloat(a.reduceLanes(VectorOperators.MAX));
                }
            }
            if (all.reduceLanes(VectorOperators.MAX) >= INFINITY_BITS) {
                return false;
            }
        }
        return true;
    }

    /** Absmax of Q8_0 blocks {@code [from, to)} into {@code d[at..]}; false if any is NaN or infinite. */
    private boolean absmaxQ8(float[] src, int off, int from, int to, float[] d, int at) {
        IntVector all = IntVector.zero(is);
        for (int b = from; b < to; b++) {
            IntVector a = blockAbsBits(src, off + b * 32);
            all = all.max(a);
            d[at + b - from] = Float.intBitsToFloat(a.reduceLanes(VectorOperators.MAX));
        }
        return all.reduceLanes(VectorOperators.MAX) < INFINITY_BITS; // |NaN| and |inf| have the largest bits
    }

    /** Lane-wise maximum of |x| bits over one block of 32. */
    private static IntVector blockAbsBits(float[] src, int x) {
        IntVector a = absBits(src, x);
        for (int j = lanes; j < 32; j += lanes) {
            a = a.max(absBits(src, x + j));
        }
        return a;
    }

    /**
     * Float bits mapped to ints that order like the floats ({@code -0 < +0}, as {@link Math#min} has it);
     * the map is its own inverse. A NaN maps beyond both infinities and so survives a min or a max.
     */
    private static IntVector sortableBits(float[] src, int at) {
        IntVector i = (IntVector) FloatVector.fromArray(fs, src, at).viewAsIntegralLanes();
        return i.lanewise(VectorOperators.XOR, i.lanewise(VectorOperators.ASHR, 31).and(0x7FFFFFFF));
    }

    private static float fromSortable(int s) {
        return Float.intBitsToFloat(s ^ ((s >> 31) & 0x7FFFFFFF));
    }

    /** {@code clamp(rint((x - sub) / d) + add, lo, hi)} for one vector of elements at {@code src[at]}. */
    private static IntVector codes(float[] src, int at, float sub, float d, float add, int lo, int hi) {
        FloatVector t = FloatVector.fromArray(fs, src, at).sub(sub).div(d);
        FloatVector r = t.add(RINT_MAGIC).sub(RINT_MAGIC).add(add);
        return ((IntVector) r.convertShape(VectorOperators.F2I, is, 0)).max(lo).min(hi);
    }

    private void uniformCodes(float d, float sub, float add, int lo, int hi, float[] src, int off, int start, int end,
                              byte[] codes) {
        if (d == 0f) {
            java.util.Arrays.fill(codes, start, end, (byte) Math.max(lo, Math.min(hi, (int) add)));
            return;
        }
        int i = start;
        for (; i + lanes <= end; i += lanes) {
            IntVector q = codes(src, off + i, sub, d, add, lo, hi);
            ((ByteVector) q.convertShape(VectorOperators.I2B, bs, 0)).intoArray(codes, i);
        }
        for (; i < end; i++) {
            float q = (float) Math.rint((src[off + i] - sub) / d) + add;
            codes[i] = (byte) Math.max(lo, Math.min(hi, (int) q));
        }
    }

    private void codebookCodes(Codebook cb, float d, float[] src, int off, int start, int end, byte[] codes) {
        if (d == 0f) {
            java.util.Arrays.fill(codes, start, end, (byte) cb.index(0f));
            return;
        }
        float[] mid = cb.midpoints();
        FloatVector one = FloatVector.broadcast(fs, 1f);
        int i = start;
        for (; i + lanes <= end; i += lanes) {
            FloatVector t = FloatVector.fromArray(fs, src, off + i).div(d);
            FloatVector n = FloatVector.zero(fs);
            for (float m : mid) {
                n = n.add(one, t.compare(VectorOperators.GT, m));
            }
            ((ByteVector) n.convertShape(VectorOperators.F2I, is, 0).convertShape(VectorOperators.I2B, bs, 0))
                    .intoArray(codes, i);
        }
        for (; i < end; i++) {
            codes[i] = (byte) cb.index(src[off + i] / d);
        }
    }

    /** Writes {min, max} of {@code a[off, off + len)} into {@code out}. */
    private void minMax(float[] a, int off, int len, float[] out) {
        float min = Float.POSITIVE_INFINITY;
        float max = Float.NEGATIVE_INFINITY;
        int i = 0;
        if (len >= lanes) {
            FloatVector vmin = FloatVector.broadcast(fs, Float.POSITIVE_INFINITY);
            FloatVector vmax = FloatVector.broadcast(fs, Float.NEGATIVE_INFINITY);
            for (; i + lanes <= len; i += lanes) {
                FloatVector v = FloatVector.fromArray(fs, a, off + i);
                vmin = vmin.min(v);
                vmax = vmax.max(v);
            }
            min = vmin.reduceLanes(VectorOperators.MIN);
            max = vmax.reduceLanes(VectorOperators.MAX);
        }
        for (; i < len; i++) {
            min = Math.min(min, a[off + i]);
            max = Math.max(max, a[off + i]);
        }
        out[0] = min;
        out[1] = max;
    }

    // ---------------------------------------------------------------- dequantize

    @Override
    public void dequantizeRow(QuantizedTensor t, int row, float[] dst, int off) {
        QuantFormat f = t.format();
        switch (f.kind()) {
            case Q8_0 -> dequantQ8_0(t, row, dst, off);
            case Q4_0, Q4_1 -> dequantQ4(t, row, dst, off);
            case GROUPED, CODEBOOK4 -> dequantPlanes(t, row, dst, off);
            case Q5_0, Q5_1, IQ4_NL, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, Q8_K -> VectorGgmlDequant.dequantizeRow(t, row, dst, off);
        }
    }

    private void dequantQ8_0(QuantizedTensor t, int row, float[] dst, int off) {
        MemorySegment data = t.data();
        int cols = t.cols();
        int full = cols / 32;
        long base = row * t.format().rowBytes(cols);
        for (int b = 0; b < full; b++, base += 34) {
            float d = Float.float16ToFloat(data.get(Layouts.F16, base));
            for (int j = 0; j < 32; j += lanes) {
                ByteVector q = ByteVector.fromMemorySegment(bs, data, base + 2 + j, ByteOrder.LITTLE_ENDIAN);
                ((FloatVector) q.convertShape(VectorOperators.B2F, fs, 0)).mul(d).intoArray(dst, off + b * 32 + j);
            }
        }
        scalarTail(t, row, full, dst, off);
    }

    private void dequantQ4(QuantizedTensor t, int row, float[] dst, int off) {
        MemorySegment data = t.data();
        int cols = t.cols();
        int full = cols / 32;
        boolean q41 = t.format().hasMinimum();
        int bb = t.format().blockBytes();
        long base = row * t.format().rowBytes(cols);
        for (int b = 0; b < full; b++, base += bb) {
            float d = Float.float16ToFloat(data.get(Layouts.F16, base));
            float m = q41 ? Float.float16ToFloat(data.get(Layouts.F16, base + 2)) : 0f;
            long codes = base + (q41 ? 4 : 2);
            int o = off + b * 32;
            for (int j = 0; j < 16; j += lanes) {
                ByteVector q = ByteVector.fromMemorySegment(bs, data, codes + j, ByteOrder.LITTLE_ENDIAN);
                FloatVector lo = (FloatVector) q.and((byte) 0x0F).convertShape(VectorOperators.B2F, fs, 0);
                FloatVector hi = (FloatVector) q.lanewise(VectorOperators.LSHR, 4).and((byte) 0x0F)
                        .convertShape(VectorOperators.B2F, fs, 0);
                if (q41) {
                    lo.mul(d).add(m).intoArray(dst, o + j);
                    hi.mul(d).add(m).intoArray(dst, o + 16 + j);
                } else {
                    lo.sub(8f).mul(d).intoArray(dst, o + j);
                    hi.sub(8f).mul(d).intoArray(dst, o + 16 + j);
                }
            }
        }
        scalarTail(t, row, full, dst, off);
    }

    /** Codes are unpacked one by one; scaling runs in vectors. */
    private void dequantPlanes(QuantizedTensor t, int row, float[] dst, int off) {
        QuantFormat f = t.format();
        int cols = t.cols();
        int gl = f.groupLength(cols);
        RowPacker.unpackBits(t.data(), row * f.rowBytes(cols), f.bits(), cols, dst, off);
        float[] levels = f.hasLevels() ? t.levels() : null;
        for (int g = 0, start = 0; start < cols; g++, start += gl) {
            int end = Math.min(cols, start + gl);
            float d = Reference.scale(t, row, g);
            if (levels != null) {
                for (int i = start; i < end; i++) {
                    dst[off + i] = levels[(int) dst[off + i]] * d;
                }
                continue;
            }
            float z = Reference.zero(t, row, g);
            int i = start;
            for (; i + lanes <= end; i += lanes) {
                FloatVector.fromArray(fs, dst, off + i).sub(z).mul(d).intoArray(dst, off + i);
            }
            for (; i < end; i++) {
                dst[off + i] = (dst[off + i] - z) * d;
            }
        }
    }

    /** The partial last ggml block, by the reference. */
    private static void scalarTail(QuantizedTensor t, int row, int fullBlocks, float[] dst, int off) {
        int cols = t.cols();
        if (fullBlocks * 32 == cols) {
            return;
        }
        QuantFormat f = t.format();
        float d = Reference.scale(t, row, fullBlocks);
        float z = Reference.zero(t, row, fullBlocks);
        for (int c = fullBlocks * 32; c < cols; c++) {
            dst[off + c] = Reference.value(f, Reference.code(t, row, c), d, z, null);
        }
    }

    // ---------------------------------------------------------------- statistics

    @Override
    public void groupStats(float[] src, int off, int len, int groupLen, float[] min, float[] max, float[] absmax,
                           int outOff) {
        float[] mm = new float[2];
        for (int g = 0, start = 0; start < len; g++, start += groupLen) {
            minMax(src, off + start, Math.min(len, start + groupLen) - start, mm);
            min[outOff + g] = mm[0];
            max[outOff + g] = mm[1];
            absmax[outOff + g] = Math.max(Math.abs(mm[0]), Math.abs(mm[1]));
        }
    }

    @Override
    public int firstNonFinite(float[] src, int off, int len) {
        int i = 0;
        for (; i + lanes <= len; i += lanes) {
            FloatVector v = FloatVector.fromArray(fs, src, off + i);
            if (!v.test(VectorOperators.IS_FINITE).allTrue()) {
                break;
            }
        }
        for (; i < len; i++) {
            if (!Float.isFinite(src[off + i])) {
                return i;
            }
        }
        return -1;
    }

    private final ThreadLocal<float[]> floatScratch = ThreadLocal.withInitial(() -> new float[0]);

    private float[] dScratch(int n) {
        float[] b = floatScratch.get();
        if (b.length < n) {
            b = new float[n];
            floatScratch.set(b);
        }
        return b;
    }

    private byte[] scratch(int n) {
        byte[] b = codeScratch.get();
        if (b.length < n) {
            b = new byte[n];
            codeScratch.set(b);
        }
        return b;
    }
}
