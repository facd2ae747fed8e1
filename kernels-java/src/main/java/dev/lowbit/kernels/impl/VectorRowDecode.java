package dev.lowbit.kernels.impl;

import dev.lowbit.format.Layouts;
import dev.lowbit.format.QuantFormat;
import dev.lowbit.format.QuantizedTensor;
import dev.lowbit.format.SparseOutliers;
import dev.lowbit.kernels.QuantizedActivations;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;

/**
 * Weight rows decoded in vectors, for the vector matmuls ({@link VectorMatmulKernels}, {@link VectorGemvRows},
 * {@link VectorF32Rows}) and {@link TokenLaneGemm}: bytes and nibbles widened to float lanes, a row's codes and
 * centered floats, its outliers in the reference's order, and lanes summed in order.
 */
final class VectorRowDecode {
    private static final int BITS = VectorWidth.BITS;
    private static final VectorSpecies<Float> F = BITS >= 512 ? FloatVector.SPECIES_512 : FloatVector.SPECIES_256;
    private static final VectorSpecies<Byte> B = BITS >= 512 ? ByteVector.SPECIES_128 : ByteVector.SPECIES_64;
    private static final VectorSpecies<Integer> I = BITS >= 512 ? IntVector.SPECIES_512 : IntVector.SPECIES_256;
    /** Elements per step: one byte lane and one float lane each. */
    private static final int L = F.length();

    private VectorRowDecode() {
    }

    /** Bytes widened to float lanes (exact). */
    static FloatVector floats(ByteVector b) {
        return (FloatVector) b.convertShape(VectorOperators.B2F, F, 0);
    }

    /** 16 code bytes sign-extended to int lanes. */
    static IntVector ints(MemorySegment data, long p) {
        return (IntVector) ByteVector.fromMemorySegment(B, data, p, ByteOrder.LITTLE_ENDIAN)
                .convertShape(VectorOperators.B2I, I, 0);
    }

    /** Low nibbles minus 8, as floats: split in int lanes, since x86 has no byte shift. */
    static FloatVector loNibble(IntVector q) {
        return (FloatVector) q.and(15).sub(8).convert(VectorOperators.I2F, 0);
    }

    /** High nibbles minus 8, as floats. */
    static FloatVector hiNibble(IntVector q) {
        return (FloatVector) q.lanewise(VectorOperators.ASHR, 4).and(15).sub(8).convert(VectorOperators.I2F, 0);
    }

    /**
     * {@link WeightRows#codes}, with 4-bit grouped and codebook rows of whole blocks unpacked in vectors: each
     * code byte zero-extended to a short lane {@code lo | hi << 8}, whose two bytes are then elements 2j and
     * 2j + 1 in order.
     */
    static void rowCodes(QuantizedTensor w, int r, byte[] out) {
        QuantFormat f = w.format();
        int k = w.cols();
        boolean packed4 = !f.isGgml() && f.bits() == 4;
        if (!packed4 || k % 32 != 0) {
            WeightRows.codes(w, r, out);
            return;
        }
        MemorySegment data = w.data();
        long base = r * f.rowBytes(k);
        byte sub = (byte) WeightRows.codeSub(f);
        for (int c = 0; c < k; c += 32) {
            ShortVector q = (ShortVector) ByteVector.fromMemorySegment(ByteVector.SPECIES_128, data, base + c / 2,
                    ByteOrder.LITTLE_ENDIAN).convertShape(VectorOperators.ZERO_EXTEND_B2S, ShortVector.SPECIES_256, 0);
            ShortVector pair = q.and((short) 0x0F).or(q.and((short) 0xF0).lanewise(VectorOperators.LSHL, 4));
            pair.reinterpretAsBytes().sub(sub).intoArray(out, c);
        }
    }

    /** The row's outliers, in the reference's order, continuing the row's sum. */
    static float outliers(QuantizedTensor w, int r, QuantizedActivations x, int t, float acc) {
        SparseOutliers o = w.outliers();
        if (o != null) {
            int pk = x.paddedK();
            for (int e = o.rowPtr(r); e < o.rowPtr(r + 1); e++) {
                int c = o.col(e);
                acc += o.value(e) * (x.codes()[t * pk + c] * x.scale(t, c / 32));
            }
        }
        return acc;
    }

    /**
     * Centered codes of row {@code r} as floats at {@code wf[wo ..]} (padded to a multiple of 32) and the
     * row's scale for each block of 32 at {@code dw[dwo ..]}.
     */
    static void decodeCentered(QuantizedTensor w, int r, byte[] wc, float[] wf, int wo, float[] dw, int dwo) {
        QuantFormat f = w.format();
        int pk = QuantizedActivations.paddedK(w.cols());
        int nb = pk / 32;
        if (f.kind() == QuantFormat.Kind.Q8_0 || f.kind() == QuantFormat.Kind.Q4_0) {
            // Straight from the blocks, in vector loads. Codes past k in the last block meet zero
            // activations, whatever their value, and add an exact zero.
            MemorySegment data = w.data();
            boolean q8 = f.kind() == QuantFormat.Kind.Q8_0;
            int bb = f.blockBytes();
            long base = r * f.rowBytes(w.cols());
            for (int b = 0; b < nb; b++, base += bb) {
                dw[dwo + b] = Float.float16ToFloat(data.get(Layouts.F16, base));
                int o = wo + b * 32;
                if (q8) {
                    for (int j = 0; j < 32; j += L) {
                        floats(ByteVector.fromMemorySegment(B, data, base + 2 + j, ByteOrder.LITTLE_ENDIAN))
                                .intoArray(wf, o + j);
                    }
                } else if (L == 16) {
                    IntVector q = ints(data, base + 2);
                    loNibble(q).intoArray(wf, o);
                    hiNibble(q).intoArray(wf, o + 16);
                } else {
                    for (int j = 0; j < 16; j += L) {
                        ByteVector q = ByteVector.fromMemorySegment(B, data, base + 2 + j, ByteOrder.LITTLE_ENDIAN);
                        floats(q.and((byte) 15).sub((byte) 8)).intoArray(wf, o + j);
                        floats(q.lanewise(VectorOperators.LSHR, 4).and((byte) 15).sub((byte) 8)).intoArray(wf, o + 16 + j);
                    }
                }
            }
            return;
        }
        rowCodes(w, r, wc);
        for (int i = 0; i < pk; i += L) {
            floats(ByteVector.fromArray(B, wc, i)).intoArray(wf, wo + i);
        }
        WeightRows.blockScales(w, r, dw, dwo);
    }

    /**
     * Lanes summed first to last. {@code reduceLanes(ADD)} may add in another order once compiled than
     * when interpreted, which would make a result depend on the JIT's timing.
     */
    static float sum(FloatVector v) {
        float s = 0f;
        for (int i = 0; i < L; i++) {
            s += v.lane(i);
        }
        return s;
    }
}
