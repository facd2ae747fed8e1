package dev.lowbit.kernels;

import dev.lowbit.format.Layouts;
import dev.lowbit.format.QuantFormat;
import dev.lowbit.format.QuantizedTensor;
import dev.lowbit.format.Reference;
import dev.lowbit.format.SparseOutliers;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;

/**
 * Vector API matmuls.
 *
 * <p>Integer path: each block's int32 sums are formed in vectors (bytes widened to shorts, multiplied,
 * widened to ints: |w·x| ≤ 128·128 fits a short, and 32 of them fit an int easily), reduced exactly, and
 * then scaled and accumulated in the reference's order, so the result equals the scalar reference bit
 * for bit. The Vector API has no unsigned-by-signed byte multiply-add (x86 {@code vpmaddubsw},
 * {@code vpdpbusd}), which is why the widening takes three steps here; the native tier takes it up.
 *
 * <p>fp32 path: per block (Q8_0, Q4_0) or per group, products are summed in lanes and reduced once per
 * row and token, so sums run in another order than the reference's and agree within the bound
 * that reordering allows.
 */
final class VectorMatmulKernels implements MatmulKernels {
    private static final int BITS = VectorQuantKernels.BITS;
    private static final VectorSpecies<Float> F = BITS >= 512 ? FloatVector.SPECIES_512 : FloatVector.SPECIES_256;
    private static final VectorSpecies<Integer> I = BITS >= 512 ? IntVector.SPECIES_512 : IntVector.SPECIES_256;
    private static final VectorSpecies<Short> S = BITS >= 512 ? ShortVector.SPECIES_256 : ShortVector.SPECIES_128;
    private static final VectorSpecies<Byte> B = BITS >= 512 ? ByteVector.SPECIES_128 : ByteVector.SPECIES_64;
    /** Elements per step: one byte, short, int and float lane each. */
    private static final int L = F.length();

    static final VectorMatmulKernels INSTANCE = BITS >= 256 ? new VectorMatmulKernels() : null;

    private VectorMatmulKernels() {
    }

    @Override
    public String name() {
        return "vector-" + F.vectorBitSize();
    }

    /** Lane-wise int products of two byte vectors. */
    private static IntVector mul(ByteVector a, ByteVector b) {
        ShortVector p = ((ShortVector) a.convertShape(VectorOperators.B2S, S, 0))
                .mul((ShortVector) b.convertShape(VectorOperators.B2S, S, 0));
        return (IntVector) p.convertShape(VectorOperators.S2I, I, 0);
    }

    // ---------------------------------------------------------------- integer path

    @Override
    public void gemmInt8(QuantizedTensor w, QuantizedActivations x, int r0, int r1, int t0, int t1, float[] y, int ldy) {
        QuantFormat f = w.format();
        boolean direct = (f.kind() == QuantFormat.Kind.Q8_0 || f.kind() == QuantFormat.Kind.Q4_0) && t1 - t0 < 4;
        byte[] wc = direct ? null : new byte[x.paddedK()];
        for (int r = r0; r < r1; r++) {
            if (!direct) {
                WeightRows.codes(w, r, wc);
            }
            for (int t = t0; t < t1; t++) {
                float acc = direct ? (f.kind() == QuantFormat.Kind.Q8_0 ? rowQ8_0(w, r, x, t) : rowQ4_0(w, r, x, t))
                        : rowCodes(w, r, wc, x, t);
                SparseOutliers o = w.outliers();
                if (o != null) { // in the reference's order, continuing its running sum
                    int xo = t * x.paddedK();
                    for (int e = o.rowPtr(r); e < o.rowPtr(r + 1); e++) {
                        int c = o.col(e);
                        acc += o.value(e) * (x.codes()[xo + c] * x.scale(t, c / 32));
                    }
                }
                y[t * ldy + r] = acc;
            }
        }
    }

    /** Q8_0 weights straight from their blocks. */
    private static float rowQ8_0(QuantizedTensor w, int r, QuantizedActivations x, int t) {
        MemorySegment data = w.data();
        int nb = x.paddedK() / 32;
        long base = r * w.format().rowBytes(w.cols());
        int xo = t * x.paddedK();
        byte[] xc = x.codes();
        float acc = 0f;
        for (int b = 0; b < nb; b++, base += 34) {
            IntVector s = IntVector.zero(I);
            for (int j = 0; j < 32; j += L) {
                s = s.add(mul(ByteVector.fromMemorySegment(B, data, base + 2 + j, ByteOrder.LITTLE_ENDIAN),
                        ByteVector.fromArray(B, xc, xo + b * 32 + j)));
            }
            float dw = Float.float16ToFloat(data.get(Layouts.F16, base));
            acc += (dw * x.scale(t, b)) * s.reduceLanes(VectorOperators.ADD);
        }
        return acc;
    }

    /** Q4_0 weights straight from their blocks: nibbles split into elements j and j + 16. */
    private static float rowQ4_0(QuantizedTensor w, int r, QuantizedActivations x, int t) {
        MemorySegment data = w.data();
        int nb = x.paddedK() / 32;
        long base = r * w.format().rowBytes(w.cols());
        int xo = t * x.paddedK();
        byte[] xc = x.codes();
        float acc = 0f;
        for (int b = 0; b < nb; b++, base += 18) {
            IntVector s = IntVector.zero(I);
            for (int j = 0; j < 16; j += L) {
                ByteVector q = ByteVector.fromMemorySegment(B, data, base + 2 + j, ByteOrder.LITTLE_ENDIAN);
                ByteVector lo = q.and((byte) 15).sub((byte) 8);
                ByteVector hi = q.lanewise(VectorOperators.LSHR, 4).and((byte) 15).sub((byte) 8);
                s = s.add(mul(lo, ByteVector.fromArray(B, xc, xo + b * 32 + j)))
                        .add(mul(hi, ByteVector.fromArray(B, xc, xo + b * 32 + 16 + j)));
            }
            float dw = Float.float16ToFloat(data.get(Layouts.F16, base));
            acc += (dw * x.scale(t, b)) * s.reduceLanes(VectorOperators.ADD);
        }
        return acc;
    }

    /** Any integer-path format from its decoded codes (see {@link WeightRows#codes}). */
    private static float rowCodes(QuantizedTensor w, int r, byte[] wc, QuantizedActivations x, int t) {
        QuantFormat f = w.format();
        int k = w.cols();
        int gl = f.groupLength(k);
        boolean centered = WeightRows.centered(f);
        boolean q41 = f.kind() == QuantFormat.Kind.Q4_1;
        int xo = t * x.paddedK();
        byte[] xc = x.codes();
        float acc = 0f;
        for (int b = 0; b * 32 < k; b++) {
            int g = b * 32 / gl;
            IntVector s = IntVector.zero(I);
            IntVector xs = IntVector.zero(I);
            for (int j = b * 32; j < b * 32 + 32; j += L) {
                ByteVector xv = ByteVector.fromArray(B, xc, xo + j);
                s = s.add(mul(ByteVector.fromArray(B, wc, j), xv));
                if (!centered) {
                    xs = xs.add((IntVector) xv.convertShape(VectorOperators.B2I, I, 0));
                }
            }
            int isum = s.reduceLanes(VectorOperators.ADD);
            float dw = Reference.scale(w, r, g);
            float dx = x.scale(t, b);
            if (centered) {
                acc += (dw * dx) * isum;
            } else {
                int xsum = xs.reduceLanes(VectorOperators.ADD);
                float z = Reference.zero(w, r, g) - WeightRows.codeOffset(f);
                acc += q41 ? dx * (dw * isum + z * xsum) : (dw * dx) * (isum - z * xsum);
            }
        }
        return acc;
    }

    // ---------------------------------------------------------------- fp32 path

    @Override
    public void gemmF32(QuantizedTensor w, float[] x, int r0, int r1, int t0, int t1, float[] y, int ldy) {
        QuantFormat f = w.format();
        int k = w.cols();
        boolean direct = f.kind() == QuantFormat.Kind.Q8_0 || f.kind() == QuantFormat.Kind.Q4_0;
        float[] wv = direct ? null : new float[k];
        for (int r = r0; r < r1; r++) {
            if (!direct) {
                decodeRow(w, r, wv);
            }
            for (int t = t0; t < t1; t++) {
                float acc = direct ? rowF32Blocks(w, r, x, t * k) : rowF32Groups(w, r, wv, x, t * k);
                SparseOutliers o = w.outliers();
                if (o != null) {
                    for (int e = o.rowPtr(r); e < o.rowPtr(r + 1); e++) {
                        acc += o.value(e) * x[t * k + o.col(e)];
                    }
                }
                y[t * ldy + r] = acc;
            }
        }
    }

    /** Q8_0 and Q4_0 from their blocks: products in lanes, scaled per block, one reduction at the end. */
    private static float rowF32Blocks(QuantizedTensor w, int r, float[] x, int xo) {
        MemorySegment data = w.data();
        boolean q8 = w.format().kind() == QuantFormat.Kind.Q8_0;
        int k = w.cols();
        int full = k / 32;
        int bb = w.format().blockBytes();
        long base = r * w.format().rowBytes(k);
        FloatVector acc = FloatVector.zero(F);
        for (int b = 0; b < full; b++, base += bb) {
            float d = Float.float16ToFloat(data.get(Layouts.F16, base));
            FloatVector s = FloatVector.zero(F);
            int o = xo + b * 32;
            if (q8) {
                for (int j = 0; j < 32; j += L) {
                    ByteVector q = ByteVector.fromMemorySegment(B, data, base + 2 + j, ByteOrder.LITTLE_ENDIAN);
                    s = ((FloatVector) q.convertShape(VectorOperators.B2F, F, 0)).fma(FloatVector.fromArray(F, x, o + j), s);
                }
            } else {
                for (int j = 0; j < 16; j += L) {
                    ByteVector q = ByteVector.fromMemorySegment(B, data, base + 2 + j, ByteOrder.LITTLE_ENDIAN);
                    ByteVector lo = q.and((byte) 15).sub((byte) 8);
                    ByteVector hi = q.lanewise(VectorOperators.LSHR, 4).and((byte) 15).sub((byte) 8);
                    s = ((FloatVector) lo.convertShape(VectorOperators.B2F, F, 0)).fma(FloatVector.fromArray(F, x, o + j), s);
                    s = ((FloatVector) hi.convertShape(VectorOperators.B2F, F, 0))
                            .fma(FloatVector.fromArray(F, x, o + 16 + j), s);
                }
            }
            acc = s.fma(FloatVector.broadcast(F, d), acc);
        }
        float sum = sum(acc);
        if (full * 32 < k) { // the partial last block, as the reference does it
            float d = Reference.scale(w, r, full);
            float s = 0f;
            for (int c = full * 32; c < k; c++) {
                s += ScalarMatmulKernels.value(w.format(), Reference.code(w, r, c), 0f, null) * x[xo + c];
            }
            sum += d * s;
        }
        return sum;
    }

    /** Every other format from a decoded row of scale multipliers (codes minus zero point, or levels). */
    private static float rowF32Groups(QuantizedTensor w, int r, float[] wv, float[] x, int xo) {
        QuantFormat f = w.format();
        int k = w.cols();
        int gl = f.groupLength(k);
        boolean q41 = f.kind() == QuantFormat.Kind.Q4_1;
        float acc = 0f;
        for (int g = 0; g * gl < k; g++) {
            int start = g * gl;
            int end = Math.min(k, start + gl);
            FloatVector s = FloatVector.zero(F);
            FloatVector sx = FloatVector.zero(F);
            int c = start;
            for (; c + L <= end; c += L) {
                FloatVector xv = FloatVector.fromArray(F, x, xo + c);
                s = FloatVector.fromArray(F, wv, c).fma(xv, s);
                if (q41) {
                    sx = sx.add(xv);
                }
            }
            float ss = sum(s);
            float sxs = q41 ? sum(sx) : 0f;
            for (; c < end; c++) {
                ss += wv[c] * x[xo + c];
                sxs += x[xo + c];
            }
            float d = Reference.scale(w, r, g);
            acc += q41 ? d * ss + Reference.zero(w, r, g) * sxs : d * ss;
        }
        return acc;
    }

    /**
     * Lanes summed first to last. {@code reduceLanes(ADD)} may add in another order once compiled than
     * when interpreted, which would make a result depend on the JIT's timing.
     */
    private static float sum(FloatVector v) {
        float[] lanes = new float[L];
        v.intoArray(lanes, 0);
        float s = 0f;
        for (float x : lanes) {
            s += x;
        }
        return s;
    }

    /** Scale multipliers of row {@code r}: code minus zero point, the codebook level, or the raw Q4_1 code. */
    private static void decodeRow(QuantizedTensor w, int r, float[] wv) {
        QuantFormat f = w.format();
        int gl = f.groupLength(w.cols());
        float[] levels = w.levels();
        for (int c = 0; c < w.cols(); c++) {
            int code = Reference.code(w, r, c);
            wv[c] = f.kind() == QuantFormat.Kind.Q4_1 ? code
                    : ScalarMatmulKernels.value(f, code, Reference.zero(w, r, c / gl), levels);
        }
    }
}
