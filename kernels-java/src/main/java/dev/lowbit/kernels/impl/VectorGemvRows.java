package dev.lowbit.kernels.impl;

import dev.lowbit.format.Int8RowTensor;
import dev.lowbit.format.Layouts;
import dev.lowbit.format.QuantFormat;
import dev.lowbit.format.QuantizedTensor;
import dev.lowbit.format.ScaleType;
import dev.lowbit.kernels.QuantizedActivations;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;

import static dev.lowbit.kernels.impl.VectorRowDecode.floats;
import static dev.lowbit.kernels.impl.VectorRowDecode.hiNibble;
import static dev.lowbit.kernels.impl.VectorRowDecode.ints;
import static dev.lowbit.kernels.impl.VectorRowDecode.loNibble;
import static dev.lowbit.kernels.impl.VectorRowDecode.outliers;
import static dev.lowbit.kernels.impl.VectorRowDecode.rowCodes;
import static dev.lowbit.kernels.impl.VectorRowDecode.sum;

/**
 * The integer path's row kernels of {@link VectorMatmulKernels}: {@code i8_rowx16} rows, and the GEMV rows (fewer
 * tokens than a vector of tokens, or codes with a zero point) straight from the blocks or from decoded rows.
 */
final class VectorGemvRows {
    private static final int BITS = VectorWidth.BITS;
    private static final VectorSpecies<Float> F = BITS >= 512 ? FloatVector.SPECIES_512 : FloatVector.SPECIES_256;
    private static final VectorSpecies<Byte> B = BITS >= 512 ? ByteVector.SPECIES_128 : ByteVector.SPECIES_64;
    private static final VectorSpecies<Integer> I = BITS >= 512 ? IntVector.SPECIES_512 : IntVector.SPECIES_256;
    /** One short lane per float lane: the GEMV rows' int16 products. */
    private static final VectorSpecies<Short> S = BITS >= 512 ? ShortVector.SPECIES_256 : ShortVector.SPECIES_128;
    /** Elements per step: one byte lane and one float lane each. */
    private static final int L = F.length();

    private VectorGemvRows() {
    }

    /**
     * {@code i8_rowx16}: codes widened to int lanes ({@code L} codes per load: {@code L / 4} rows by 4 columns), times
     * the token's 4 activation codes repeated over the lanes, summed exactly in int lanes over the row; a row's 4
     * lanes are added at the end, then the reference's fp32 step. The same bits as the reference.
     */
    static void int8Rows(Int8RowTensor w, QuantizedActivations x, int r0, int r1, int t0, int t1, float[] y, int ldy) {
        Int8RowReference.requirePerToken(x);
        int k = w.cols();
        int kc = Int8RowTensor.chunks(k);
        long gb = Int8RowTensor.groupBytes(k);
        int pk = x.paddedK();
        byte[] xc = x.codes();
        MemorySegment d = w.data();
        int[] lanes = new int[4 * L];
        int[] sums = new int[2 * Int8RowTensor.ROWS];
        for (int r = r0; r < r1; r += Int8RowTensor.ROWS) {
            long base = (long) (r / Int8RowTensor.ROWS) * gb;
            int rows = Math.min(Int8RowTensor.ROWS, r1 - r);
            for (int t = t0; t < t1; t += 2) {
                boolean two = t + 1 < t1;
                int xa = t * pk;
                int xb = two ? xa + pk : xa;
                for (int h = 0; h < Int8RowTensor.ROWS; h += L) { // L rows: 4 loads of L codes per chunk
                    IntVector a0 = IntVector.zero(I), a1 = a0, a2 = a0, a3 = a0;
                    IntVector b0 = a0, b1 = a0, b2 = a0, b3 = a0;
                    long q = base + Int8RowTensor.HEADER_BYTES + 4L * h;
                    for (int c = 0; c < kc; c++, q += 64) {
                        IntVector w0 = ints8(d, q);
                        IntVector w1 = ints8(d, q + L);
                        IntVector w2 = ints8(d, q + 2L * L);
                        IntVector w3 = ints8(d, q + 3L * L);
                        IntVector xv = pattern(xc, xa + 4 * c);
                        a0 = a0.add(w0.mul(xv));
                        a1 = a1.add(w1.mul(xv));
                        a2 = a2.add(w2.mul(xv));
                        a3 = a3.add(w3.mul(xv));
                        IntVector yv = pattern(xc, xb + 4 * c);
                        b0 = b0.add(w0.mul(yv));
                        b1 = b1.add(w1.mul(yv));
                        b2 = b2.add(w2.mul(yv));
                        b3 = b3.add(w3.mul(yv));
                    }
                    a0.intoArray(lanes, 0);
                    a1.intoArray(lanes, L);
                    a2.intoArray(lanes, 2 * L);
                    a3.intoArray(lanes, 3 * L);
                    rowSums(lanes, sums, h);
                    b0.intoArray(lanes, 0);
                    b1.intoArray(lanes, L);
                    b2.intoArray(lanes, 2 * L);
                    b3.intoArray(lanes, 3 * L);
                    rowSums(lanes, sums, Int8RowTensor.ROWS + h);
                }
                for (int i = 0; i < rows; i++) {
                    float dw = d.get(Layouts.F32, base + 4L * i);
                    y[t * ldy + r + i] = (dw * x.scale(t, 0)) * sums[i];
                    if (two) {
                        y[(t + 1) * ldy + r + i] = (dw * x.scale(t + 1, 0)) * sums[Int8RowTensor.ROWS + i];
                    }
                }
            }
        }
    }

    /** {@code L} codes at {@code p}, sign-extended to int lanes. */
    private static IntVector ints8(MemorySegment d, long p) {
        return (IntVector) ByteVector.fromMemorySegment(B, d, p, ByteOrder.LITTLE_ENDIAN).convertShape(VectorOperators.B2I,
                I, 0);
    }

    /** The 4 activation codes at {@code xc[o]}, repeated over {@code L} int lanes. */
    private static IntVector pattern(byte[] xc, int o) {
        int v = (xc[o] & 0xFF) | (xc[o + 1] & 0xFF) << 8 | (xc[o + 2] & 0xFF) << 16 | xc[o + 3] << 24;
        return (IntVector) IntVector.broadcast(I, v).reinterpretAsBytes().convertShape(VectorOperators.B2I, I, 0);
    }

    /** Lanes {@code 4i .. 4i + 3} of {@code lanes} (rows by 4 columns) added into {@code sums[at + i]}. */
    private static void rowSums(int[] lanes, int[] sums, int at) {
        for (int i = 0; i < L; i++) {
            sums[at + i] = lanes[4 * i] + lanes[4 * i + 1] + lanes[4 * i + 2] + lanes[4 * i + 3];
        }
    }

    /** Q4_1, and asymmetric grouped 4- and 8-bit rows of whole blocks: GEMV rows straight from memory. */
    static boolean directAsymmetric(QuantFormat f, int k) {
        return f.hasMinimum() || (f.hasZeroPlane()
                && (f.bits() == 4 || f.bits() == 8) && k % 32 == 0);
    }

    /**
     * Few tokens on Q4_1 and asymmetric grouped 4/8-bit rows: {@link #asymmetric}'s arithmetic (per block
     * {@code A * sum(q x)} then {@code B * sum(x)} into the same lanes), read straight from memory, 4-bit codes
     * times activations in int16 lanes. Byte j of a Q4_1 block holds elements j and j + 16, as the lanes of
     * {@link #asymmetric} pair them, so Q4_1 gives its bits; a grouped 4-bit row's byte j holds elements 2j and
     * 2j + 1, another pairing, within the same bound.
     */
    static void gemvAsymmetric(QuantizedTensor w, QuantizedActivations x, float[] xf, float[] dx, int r0, int r1,
                                       int t0, int t1, float[] y, int ldy) {
        QuantFormat f = w.format();
        int k = w.cols();
        int pk = x.paddedK();
        int nb = pk / 32;
        int nt = t1 - t0;
        boolean q41 = f.hasMinimum();
        boolean four = q41 || f.bits() == 4;
        boolean pairs = four && !q41;
        int off = WeightRows.codeOffset(f);
        // The activation codes each code byte meets (4-bit only), and per token and block the exact sums of x
        // that meet each lane.
        short[] xs = four ? nibbleActivations(x, t0, t1, pairs, false) : null;
        float[] xsum = new float[nt * nb * L];
        byte[] xc = x.codes();
        for (int t = 0; t < nt; t++) {
            for (int b = 0; b < nb; b++) {
                int src = (t0 + t) * pk + b * 32;
                for (int j = 0; j < 16; j++) {
                    xsum[(t * nb + b) * L + j % L] += xc[src + (pairs ? 2 * j : j)] + xc[src + (pairs ? 2 * j + 1 : j + 16)];
                }
            }
        }
        MemorySegment data = w.data();
        long rowBytes = f.rowBytes(k);
        int shift = groupShift(f, k);
        boolean f32 = f.scaleType() == ScaleType.F32;
        int gpr = f.groupsPerRow(k);
        for (int r = r0; r < r1; r++) {
            long row = r * rowBytes;
            for (int t = 0; t < nt; t++) {
                FloatVector acc = FloatVector.zero(F);
                int xo = t * nb * 32;
                for (int b = 0; b < nb; b++, xo += 32) {
                    float c = dx[t * nb + b];
                    FloatVector s;
                    float a;
                    float z;
                    if (q41) {
                        long base = row + b * 20L;
                        s = q4Pairs(data, base + 4, xs, xo, 0);
                        for (int j = L; j < 16; j += L) {
                            s = s.add(q4Pairs(data, base + 4 + j, xs, xo, j));
                        }
                        a = Float.float16ToFloat(data.get(Layouts.F16, base));
                        z = Float.float16ToFloat(data.get(Layouts.F16, base + 2));
                    } else {
                        long g = (long) r * gpr + (b >> shift);
                        a = planeScale(w.scales(), f32, g);
                        z = -a * (planeScale(w.zeros(), f32, g) - off);
                        if (four) {
                            s = q4Pairs(data, row + b * 16L, xs, xo, 0);
                            for (int j = L; j < 16; j += L) {
                                s = s.add(q4Pairs(data, row + b * 16L + j, xs, xo, j));
                            }
                        } else {
                            s = FloatVector.zero(F);
                            for (int j = 0; j < 32; j += L) {
                                ByteVector q = ByteVector.fromMemorySegment(B, data, row + b * 32L + j, ByteOrder.LITTLE_ENDIAN)
                                        .lanewise(VectorOperators.XOR, (byte) 0x80); // u - 128
                                s = floats(q).fma(FloatVector.fromArray(F, xf, t * pk + b * 32 + j), s);
                            }
                        }
                    }
                    acc = s.fma(FloatVector.broadcast(F, a * c), acc);
                    acc = FloatVector.fromArray(F, xsum, (t * nb + b) * L).fma(FloatVector.broadcast(F, z * c), acc);
                }
                y[(t0 + t) * ldy + r] = outliers(w, r, x, t0 + t, sum(acc));
            }
        }
    }

    /** Lanes j .. j + L of a 4-bit block's sum of u x: byte i's nibbles meet the shorts at i and 16 + i. */
    private static FloatVector q4Pairs(MemorySegment data, long p, short[] xs, int xo, int j) {
        ShortVector q = (ShortVector) ByteVector.fromMemorySegment(B, data, p, ByteOrder.LITTLE_ENDIAN)
                .convertShape(VectorOperators.ZERO_EXTEND_B2S, S, 0);
        ShortVector sum = q.and((short) 15).mul(ShortVector.fromArray(S, xs, xo + j))
                .add(q.lanewise(VectorOperators.LSHR, 4).mul(ShortVector.fromArray(S, xs, xo + 16 + j)));
        return (FloatVector) sum.convertShape(VectorOperators.S2F, F, 0);
    }

    /**
     * Few tokens on Q8_0 and Q4_0, a row at a time straight from the blocks: each block's exact integer sum in
     * lanes, scaled in the lanes by {@code d_w * d_x}, the lanes added first to last at the end. That is another
     * fp32 order than the reference's (within the bound that reordering allows): scaling each block's reduced
     * sum in the reference's order costs a lane reduction per block, which halves GEMV speed. A method of its
     * own so that it compiles alone.
     */
    static void gemvBlocks(QuantizedTensor w, QuantizedActivations x, float[] xf, float[] dx, int r0, int r1,
                                   int t0, int t1, float[] y, int ldy) {
        boolean q8 = w.format().kind() == QuantFormat.Kind.Q8_0;
        long rowBytes = w.format().rowBytes(w.cols());
        MemorySegment data = w.data();
        int pk = x.paddedK();
        int nb = pk / 32;
        int nt = t1 - t0;
        short[] xs = q8 ? null : nibbleActivations(x, t0, t1, false, true);
        if (q8 && L == 16 && !hasMinus128(x.codes(), t0 * pk, t1 * pk)) {
            // Q8_0 against activation codes in [-127, 127] (as lowbit's quantizers make them): a code pair's
            // two products, at most 2 * 128 * 127 in magnitude, fit an int16 lane.
            xs = new short[nt * pk];
            byte[] xc = x.codes();
            for (int i = 0; i < xs.length; i++) {
                xs[i] = xc[t0 * pk + i];
            }
            for (int r = r0; r < r1; r++) {
                for (int t = 0; t < nt; t++) {
                    float acc = rowQ8_0Shorts(data, r * rowBytes, nb, xs, t * pk, dx, t * nb);
                    y[(t0 + t) * ldy + r] = outliers(w, r, x, t0 + t, acc);
                }
            }
            return;
        }
        for (int r = r0; r < r1; r++) {
            for (int t = 0; t < nt; t++) {
                float acc = q8 ? rowQ8_0(data, r * rowBytes, nb, xf, t * pk, dx, t * nb)
                        : rowQ4_0(data, r * rowBytes, nb, xs, t * nb * 48, dx, t * nb);
                y[(t0 + t) * ldy + r] = outliers(w, r, x, t0 + t, acc);
            }
        }
    }

    /**
     * Few tokens on symmetric grouped codes: each row's centered codes in one bulk decode, then the same lane
     * arithmetic as {@link #rowQ8_0} (exact block sums in lanes, scaled in the lanes by {@code d_w * d_x}).
     */
    static void gemvDecoded(QuantizedTensor w, QuantizedActivations x, float[] xf, float[] dx, int r0, int r1,
                                    int t0, int t1, float[] y, int ldy) {
        QuantFormat f = w.format();
        int k = w.cols();
        int pk = x.paddedK();
        int nb = pk / 32;
        int nt = t1 - t0;
        // 8- and 4-bit rows of whole blocks are read straight from memory; other rows are decoded first.
        boolean direct = k % 32 == 0 && (f.bits() == 8 || f.bits() == 4);
        MemorySegment data = w.data();
        long rowBytes = f.rowBytes(k);
        short[] xs = direct && f.bits() == 4 ? nibbleActivations(x, t0, t1, true, true) : null;
        byte[] wc = direct ? null : new byte[pk];
        float[] dw = new float[nb];
        // Direct rows read each block's scale from the plane.
        int shift = groupShift(f, k);
        boolean f32 = f.scaleType() == ScaleType.F32;
        int gpr = f.groupsPerRow(k);
        for (int r = r0; r < r1; r++) {
            if (!direct) {
                WeightRows.blockScales(w, r, dw, 0);
                rowCodes(w, r, wc);
            } else if (xs == null) {
                for (int b = 0; b < nb; b++) {
                    dw[b] = planeScale(w.scales(), f32, (long) r * gpr + (b >> shift));
                }
            }
            for (int t = 0; t < nt; t++) {
                float acc;
                if (xs != null) {
                    acc = rowInt4(data, r * rowBytes, nb, xs, t * nb * 48, w.scales(), f32, (long) r * gpr, shift,
                            dx, t * nb);
                } else {
                    FloatVector lanes = FloatVector.zero(F);
                    int xo = t * pk;
                    for (int b = 0; b < nb; b++) {
                        FloatVector s = FloatVector.zero(F);
                        for (int j = 0; j < 32; j += L) {
                            // symmetric 8-bit: u - 128 is u with its top bit flipped, as a signed byte
                            ByteVector q = direct
                                    ? ByteVector.fromMemorySegment(B, data, r * rowBytes + b * 32 + j, ByteOrder.LITTLE_ENDIAN)
                                            .lanewise(VectorOperators.XOR, (byte) 0x80)
                                    : ByteVector.fromArray(B, wc, b * 32 + j);
                            s = floats(q).fma(FloatVector.fromArray(F, xf, xo + b * 32 + j), s);
                        }
                        lanes = s.fma(FloatVector.broadcast(F, dw[b] * dx[t * nb + b]), lanes);
                    }
                    acc = sum(lanes);
                }
                y[(t0 + t) * ldy + r] = outliers(w, r, x, t0 + t, acc);
            }
        }
    }

    /**
     * Activation codes laid out for the 4-bit int16 kernels, per token and block: the 16 codes that meet the code
     * bytes' low nibbles, the 16 that meet their high nibbles, and with {@code bias} (48 shorts a block, else 32)
     * per lane j the bias {@code 8 (x_lo + x_hi)} that turns {@code sum(u x)} into {@code sum((u - 8) x)}. Byte j
     * holds elements j and j + 16 in ggml blocks ({@code adjacent} false), 2j and 2j + 1 in grouped rows.
     */
    private static short[] nibbleActivations(QuantizedActivations x, int t0, int t1, boolean adjacent, boolean bias) {
        int pk = x.paddedK();
        int nb = pk / 32;
        int stride = bias ? 48 : 32;
        byte[] xc = x.codes();
        short[] xs = new short[(t1 - t0) * nb * stride];
        for (int t = 0; t < t1 - t0; t++) {
            for (int b = 0; b < nb; b++) {
                int o = (t * nb + b) * stride;
                int src = (t0 + t) * pk + b * 32;
                for (int j = 0; j < 16; j++) {
                    int lo = xc[src + (adjacent ? 2 * j : j)];
                    int hi = xc[src + (adjacent ? 2 * j + 1 : j + 16)];
                    xs[o + j] = (short) lo;
                    xs[o + 16 + j] = (short) hi;
                    if (bias) {
                        xs[o + 32 + j] = (short) (8 * (lo + hi));
                    }
                }
            }
        }
        return xs;
    }

    /** Block b of a row of whole blocks lies in group {@code b >> groupShift} (one group per row: shift 31). */
    private static int groupShift(QuantFormat f, int k) {
        int gl = f.groupLength(k);
        return gl >= k ? 31 : Integer.numberOfTrailingZeros(gl / 32); // groups of 32, 64 or 128 columns
    }

    /** The scale at index {@code i} of a parameter plane. */
    private static float planeScale(MemorySegment plane, boolean f32, long i) {
        return f32 ? plane.get(Layouts.F32, i * 4) : Float.float16ToFloat(plane.get(Layouts.F16, i * 2));
    }

    /**
     * Symmetric 4-bit rows of whole blocks, 16 bytes a block, as {@link #rowQ4_0}, block b's scale at
     * {@code g0 + (b >> shift)} of the scale plane.
     */
    private static float rowInt4(MemorySegment data, long base, int nb, short[] xs, int xo, MemorySegment scales,
                                 boolean f32, long g0, int shift, float[] dx, int dxo) {
        FloatVector acc = FloatVector.zero(F);
        int b = 0;
        if (L == 16) {
            for (; b + 1 < nb; b += 2, base += 32, xo += 96) {
                FloatVector s0 = q4Lanes(data, base, xs, xo, 0);
                FloatVector s1 = q4Lanes(data, base + 16, xs, xo + 48, 0);
                float c0 = planeScale(scales, f32, g0 + (b >> shift)) * dx[dxo + b];
                float c1 = planeScale(scales, f32, g0 + ((b + 1) >> shift)) * dx[dxo + b + 1];
                acc = s0.fma(FloatVector.broadcast(F, c0), acc);
                acc = s1.fma(FloatVector.broadcast(F, c1), acc);
            }
        }
        for (; b < nb; b++, base += 16, xo += 48) {
            FloatVector s = q4Lanes(data, base, xs, xo, 0);
            for (int j = L; j < 16; j += L) {
                s = s.add(q4Lanes(data, base + j, xs, xo, j));
            }
            acc = s.fma(FloatVector.broadcast(F, planeScale(scales, f32, g0 + (b >> shift)) * dx[dxo + b]), acc);
        }
        return sum(acc);
    }

    /** Q8_0 weights straight from their blocks. */
    static float rowQ8_0(MemorySegment data, long base, int nb, float[] xf, int xo, float[] dx, int dxo) {
        FloatVector acc = FloatVector.zero(F);
        for (int b = 0; b < nb; b++, base += 34) {
            FloatVector s = FloatVector.zero(F);
            for (int j = 0; j < 32; j += L) {
                s = floats(ByteVector.fromMemorySegment(B, data, base + 2 + j, ByteOrder.LITTLE_ENDIAN))
                        .fma(FloatVector.fromArray(F, xf, xo + b * 32 + j), s);
            }
            float c = Float.float16ToFloat(data.get(Layouts.F16, base)) * dx[dxo + b];
            acc = s.fma(FloatVector.broadcast(F, c), acc);
        }
        return sum(acc);
    }

    private static boolean hasMinus128(byte[] codes, int from, int to) {
        for (int i = from; i < to; i++) {
            if (codes[i] == Byte.MIN_VALUE) {
                return true;
            }
        }
        return false;
    }

    /**
     * {@link #rowQ8_0} with each lane's two products ({@code w_j x_j + w_{j+16} x_{j+16}}) formed in int16 lanes
     * and converted to float once: the same integers in the same lanes, so the same bits. Activation codes
     * must lie in [-127, 127].
     */
    private static float rowQ8_0Shorts(MemorySegment data, long base, int nb, short[] xs, int xo, float[] dx, int dxo) {
        FloatVector acc = FloatVector.zero(F);
        for (int b = 0; b < nb; b++, base += 34, xo += 32) {
            ShortVector lo = (ShortVector) ByteVector.fromMemorySegment(B, data, base + 2, ByteOrder.LITTLE_ENDIAN)
                    .convertShape(VectorOperators.B2S, S, 0);
            ShortVector hi = (ShortVector) ByteVector.fromMemorySegment(B, data, base + 18, ByteOrder.LITTLE_ENDIAN)
                    .convertShape(VectorOperators.B2S, S, 0);
            ShortVector pair = lo.mul(ShortVector.fromArray(S, xs, xo)).add(hi.mul(ShortVector.fromArray(S, xs, xo + 16)));
            float c = Float.float16ToFloat(data.get(Layouts.F16, base)) * dx[dxo + b];
            acc = ((FloatVector) pair.convertShape(VectorOperators.S2F, F, 0)).fma(FloatVector.broadcast(F, c), acc);
        }
        return sum(acc);
    }

    /**
     * Q4_0 weights straight from their blocks: low nibbles are elements 0..15, high nibbles 16..31. Lane j
     * of a block forms {@code q_j x_j + q_{j+16} x_{j+16} - 8 (x_j + x_{j+16})} in int16 lanes (at most
     * 2 · 15 · 128 + 2048 in magnitude, so exact), half the float work of widening every nibble to a float
     * lane; the lane's exact sum then converts to float and scales as before.
     */
    private static float rowQ4_0(MemorySegment data, long base, int nb, short[] xs, int xo, float[] dx, int dxo) {
        FloatVector acc = FloatVector.zero(F);
        int b = 0;
        if (L == 16) { // two blocks per step, scaled and added in block order as below
            for (; b + 1 < nb; b += 2, base += 36, xo += 96) {
                FloatVector s0 = q4Lanes(data, base + 2, xs, xo, 0);
                FloatVector s1 = q4Lanes(data, base + 20, xs, xo + 48, 0);
                float c0 = Float.float16ToFloat(data.get(Layouts.F16, base)) * dx[dxo + b];
                float c1 = Float.float16ToFloat(data.get(Layouts.F16, base + 18)) * dx[dxo + b + 1];
                acc = s0.fma(FloatVector.broadcast(F, c0), acc);
                acc = s1.fma(FloatVector.broadcast(F, c1), acc);
            }
        }
        for (; b < nb; b++, base += 18, xo += 48) {
            FloatVector s = q4Lanes(data, base + 2, xs, xo, 0);
            for (int j = L; j < 16; j += L) { // narrower vectors: the block in 16 / L steps
                s = s.add(q4Lanes(data, base + 2 + j, xs, xo, j));
            }
            float c = Float.float16ToFloat(data.get(Layouts.F16, base)) * dx[dxo + b];
            acc = s.fma(FloatVector.broadcast(F, c), acc);
        }
        return sum(acc);
    }

    /** Lanes j .. j + L of a Q4_0 block's exact sum of (q - 8) x, as floats. */
    private static FloatVector q4Lanes(MemorySegment data, long p, short[] xs, int xo, int j) {
        ShortVector q = (ShortVector) ByteVector.fromMemorySegment(B, data, p, ByteOrder.LITTLE_ENDIAN)
                .convertShape(VectorOperators.ZERO_EXTEND_B2S, S, 0);
        ShortVector sum = q.and((short) 15).mul(ShortVector.fromArray(S, xs, xo + j))
                .add(q.lanewise(VectorOperators.LSHR, 4).mul(ShortVector.fromArray(S, xs, xo + 16 + j)))
                .sub(ShortVector.fromArray(S, xs, xo + 32 + j));
        return (FloatVector) sum.convertShape(VectorOperators.S2F, F, 0);
    }

    /** Q4_0 times fp32 activations (the weight-only path), nibbles widened to float lanes. */
    static float rowQ4_0F(MemorySegment data, long base, int nb, float[] xf, int xo, float[] dx, int dxo) {
        FloatVector acc = FloatVector.zero(F);
        for (int b = 0; b < nb; b++, base += 18) {
            FloatVector s = FloatVector.zero(F);
            int o = xo + b * 32;
            if (L == 16) { // one 16-byte load holds the block's 32 codes, split in int lanes
                IntVector q = ints(data, base + 2);
                s = loNibble(q).fma(FloatVector.fromArray(F, xf, o), s);
                s = hiNibble(q).fma(FloatVector.fromArray(F, xf, o + 16), s);
            } else { // element order, as a decoded row runs
                for (int j = 0; j < 16; j += L) {
                    ByteVector q = ByteVector.fromMemorySegment(B, data, base + 2 + j, ByteOrder.LITTLE_ENDIAN);
                    s = floats(q.and((byte) 15).sub((byte) 8)).fma(FloatVector.fromArray(F, xf, o + j), s);
                }
                for (int j = 0; j < 16; j += L) {
                    ByteVector q = ByteVector.fromMemorySegment(B, data, base + 2 + j, ByteOrder.LITTLE_ENDIAN);
                    s = floats(q.lanewise(VectorOperators.LSHR, 4).and((byte) 15).sub((byte) 8))
                            .fma(FloatVector.fromArray(F, xf, o + 16 + j), s);
                }
            }
            float c = Float.float16ToFloat(data.get(Layouts.F16, base)) * dx[dxo + b];
            acc = s.fma(FloatVector.broadcast(F, c), acc);
        }
        return sum(acc);
    }

    /**
     * Q4_1 and asymmetric grouped codes: per block, {@code A * sum(q x) + B * sum(x)} with
     * {@code A = d_w d_x} and {@code B = -d_w d_x (z - o)} (Q4_1: {@code A = d_w d_x}, {@code B = m d_x}),
     * both parts in lanes.
     */
    static void asymmetric(QuantizedTensor w, QuantizedActivations x, float[] xf, float[] dx, int r0, int r1,
                                   int t0, int t1, float[] y, int ldy) {
        QuantFormat f = w.format();
        int k = w.cols();
        int pk = x.paddedK();
        int nb = pk / 32;
        int gl = f.groupLength(k);
        boolean q41 = f.hasMinimum();
        int off = WeightRows.codeOffset(f);
        byte[] wc = new byte[pk];
        float[] wf = new float[pk];
        float[] dw = new float[nb];
        float[] zw = new float[nb];
        float[] gs = new float[f.groupsPerRow(w.cols())];
        float[] gz = new float[gs.length];
        for (int r = r0; r < r1; r++) {
            rowCodes(w, r, wc);
            WeightRows.params(w, r, gs, gz);
            for (int i = 0; i < pk; i += L) {
                floats(ByteVector.fromArray(B, wc, i)).intoArray(wf, i);
            }
            for (int b = 0; b < nb; b++) {
                dw[b] = gs[b * 32 / gl];
                zw[b] = q41 ? gz[b * 32 / gl] : -dw[b] * (gz[b * 32 / gl] - off);
            }
            for (int t = 0; t < t1 - t0; t++) {
                int xo = t * pk;
                FloatVector acc = FloatVector.zero(F);
                for (int b = 0; b < nb; b++) {
                    FloatVector s = FloatVector.zero(F);
                    FloatVector xs = FloatVector.zero(F);
                    for (int j = b * 32; j < b * 32 + 32; j += L) {
                        FloatVector xv = FloatVector.fromArray(F, xf, xo + j);
                        s = FloatVector.fromArray(F, wf, j).fma(xv, s);
                        xs = xs.add(xv);
                    }
                    float c = dx[t * nb + b];
                    acc = s.fma(FloatVector.broadcast(F, dw[b] * c), acc);
                    acc = xs.fma(FloatVector.broadcast(F, zw[b] * c), acc);
                }
                y[(t0 + t) * ldy + r] = outliers(w, r, x, t0 + t, sum(acc));
            }
        }
    }
}
