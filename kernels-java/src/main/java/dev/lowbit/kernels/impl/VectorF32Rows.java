package dev.lowbit.kernels.impl;

import dev.lowbit.format.QuantFormat;
import dev.lowbit.format.QuantizedTensor;
import dev.lowbit.format.Reference;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;

import static dev.lowbit.kernels.impl.VectorGemvRows.rowQ4_0F;
import static dev.lowbit.kernels.impl.VectorGemvRows.rowQ8_0;
import static dev.lowbit.kernels.impl.VectorRowDecode.floats;
import static dev.lowbit.kernels.impl.VectorRowDecode.rowCodes;
import static dev.lowbit.kernels.impl.VectorRowDecode.sum;

/**
 * The fp32-activation row kernels of {@link VectorMatmulKernels} (the weight-only path): per block (Q8_0, Q4_0) or
 * per group, products summed in lanes and reduced once per row and token.
 */
final class VectorF32Rows {
    private static final int BITS = VectorWidth.BITS;
    private static final VectorSpecies<Float> F = BITS >= 512 ? FloatVector.SPECIES_512 : FloatVector.SPECIES_256;
    private static final VectorSpecies<Byte> B = BITS >= 512 ? ByteVector.SPECIES_128 : ByteVector.SPECIES_64;
    /** Elements per step: one byte lane and one float lane each. */
    private static final int L = F.length();

    private VectorF32Rows() {
    }

    /** Q8_0 and Q4_0 from their blocks: products in lanes, scaled per block, one reduction at the end. */
    static float rowF32Blocks(QuantizedTensor w, int r, float[] x, int xo, float[] ones) {
        MemorySegment data = w.data();
        boolean q8 = w.format().kind() == QuantFormat.Kind.Q8_0;
        int k = w.cols();
        int full = k / 32;
        long base = r * w.format().rowBytes(k);
        // Whole blocks through the integer path's row kernels, with unit activation scales: the same
        // lane arithmetic, on fp32 activations.
        float sum = q8 ? rowQ8_0(data, base, full, x, xo, ones, 0) : rowQ4_0F(data, base, full, x, xo, ones, 0);
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
    static float rowF32Groups(QuantizedTensor w, int r, float[] wv, float[] gs, float[] gz, float[] x, int xo) {
        QuantFormat f = w.format();
        int k = w.cols();
        int gl = f.groupLength(k);
        boolean q41 = f.hasMinimum();
        // Each group's lane sums are scaled in the lanes and the lanes reduced once at the end: a reduction
        // per group would cost more than the group's products.
        FloatVector acc = FloatVector.zero(F);
        FloatVector accx = FloatVector.zero(F);
        float tail = 0f;
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
            float d = gs[g];
            acc = s.fma(FloatVector.broadcast(F, d), acc);
            if (q41) {
                accx = sx.fma(FloatVector.broadcast(F, gz[g]), accx);
            }
            if (c < end) { // a group shorter than a vector step: its rest in scalar steps
                float ss = 0f;
                float sxs = 0f;
                for (; c < end; c++) {
                    ss += wv[c] * x[xo + c];
                    sxs += x[xo + c];
                }
                tail += q41 ? d * ss + gz[g] * sxs : d * ss;
            }
        }
        return (sum(acc) + (q41 ? sum(accx) : 0f)) + tail;
    }

    /** Scale multipliers of row {@code r}: code minus zero point, the codebook level, or the raw Q4_1 code. */
    static void decodeRow(QuantizedTensor w, int r, byte[] wc, float[] gs, float[] gz, float[] wv) {
        QuantFormat f = w.format();
        int k = w.cols();
        int gl = f.groupLength(k);
        float[] levels = w.levels();
        rowCodes(w, r, wc); // the row and its parameters in bulk reads, not element by element
        WeightRows.params(w, r, gs, gz);
        int sub = WeightRows.codeSub(f);
        boolean lanes = !f.hasLevels(); // code minus zero point (0 for Q4_1) in lanes
        boolean minimum = f.hasMinimum();
        // A 4-bit codebook's 16 levels fill one 512-bit vector: each code picks its level with a lane permute.
        FloatVector book = !lanes && L == 16 && levels.length == 16 ? FloatVector.fromArray(F, levels, 0) : null;
        for (int g = 0; g * gl < k; g++) {
            float z = minimum ? 0f : gz[g];
            int end = Math.min(k, (g + 1) * gl);
            int c = g * gl;
            for (; book != null && c + L <= end; c += L) {
                floats(ByteVector.fromArray(B, wc, c)).selectFrom(book).intoArray(wv, c);
            }
            for (; lanes && c + L <= end; c += L) {
                // (float) code is exact and (float) code - z rounds once, as the scalar code - z does
                floats(ByteVector.fromArray(B, wc, c)).add((float) sub).sub(z).intoArray(wv, c);
            }
            for (; c < end; c++) {
                int code = wc[c] + sub;
                wv[c] = minimum ? code : ScalarMatmulKernels.value(f, code, z, levels);
            }
        }
    }
}
