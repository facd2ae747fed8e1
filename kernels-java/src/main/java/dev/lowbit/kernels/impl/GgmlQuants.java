package dev.lowbit.kernels.impl;

import dev.lowbit.format.QuantFormat;

/**
 * The scalar reference quantizers of the ggml blocks beyond Q8_0, Q4_0 and Q4_1: Q5_0, Q5_1, IQ4_NL, the K-quants
 * Q2_K to Q6_K and Q8_K, each writing the bytes ggml's {@code ggml_quantize_chunk} writes without an importance
 * matrix (for Q8_K, which is no {@code ggml_quantize_chunk} type, the bytes of {@code quantize_row_q8_K_ref}).
 * Every other implementation is held to these methods.
 *
 * <p>The bytes are ggml's because every step is ggml's float operation in ggml's order, in fp32, each product and
 * sum rounded on its own (no fused multiply-add), and the integer conversions are ggml's:
 * <ul>
 *   <li>{@link GgmlSearches#nearestInt} is ggml's {@code nearest_int}: the float plus {@code 1.5·2^23}, whose low 23
 *       bits then
 *       hold the integer; round half to even for {@code |x| < 2^22}, and for larger values or a NaN whatever those
 *       bits hold (0 for a NaN, {@code −2^22} for an infinity).</li>
 *   <li>A C cast from float to an integer truncates toward zero ({@link GgmlBlocks#truncate}); a cast to a byte
 *       keeps the low 8 bits.</li>
 *   <li>Scales are found in fp32 and rounded to fp16 to nearest even only to be stored; where a later step reads a
 *       scale back, it reads the stored fp16 value.</li>
 *   <li>"The first element of largest magnitude" is found by {@code |x| > amax} in element order from 0, so the
 *       first of equal magnitudes wins and a block of zeros has none (its {@code max} stays 0).</li>
 * </ul>
 * The rules of each kind are written on its method ({@link #q5_0}, {@link #q5_1}, {@link #iq4nl}, {@link #q2K},
 * {@link #q3K}, {@link #q4K}, {@link #q5K}, {@link #q6K}, {@link #q8K}) and on the three searches they share
 * ({@link GgmlSearches#makeQxQuants}, {@link GgmlSearches#makeQkx2Quants}, {@link GgmlSearches#makeQ3Quants}) and
 * IQ4_NL's ({@link #bestIndexIq4nl}).
 *
 * <p>Where ggml would store an fp16 {@code d} or {@code dmin} (or Q5_1's minimum) that is not finite, lowbit refuses
 * the row instead: the quantizer throws {@link GroupParams.ScaleRangeException}, naming the scale ({@code "scale"})
 * or the minimum ({@code "minimum"}) and its fp32 value.
 */
public final class GgmlQuants {
    private static final int QK_K = 256;

    /** IQ4_NL's levels, ggml's {@code kvalues_iq4nl}, ascending. */
    private static final int[] IQ4NL = QuantFormat.iq4nlLevels();

    private GgmlQuants() {
    }

    /**
     * Quantizes {@code src[off, off + cols)} ({@code cols} a multiple of the block length) into {@code out}.
     *
     * @return false when the row holds a NaN or an infinity (nothing is then written)
     * @throws GroupParams.ScaleRangeException where ggml would store a scale or minimum beyond fp16
     */
    public static boolean quantizeRow(QuantFormat.Kind kind, float[] src, int off, int cols, byte[] out) {
        int n = kind.blockElements();
        if (n == 0 || kind.plain()) {
            throw new IllegalArgumentException(kind + " is not one of the block kinds GgmlQuants writes");
        }
        if (cols % n != 0) {
            throw new IllegalArgumentException(kind + " holds whole blocks of " + n + " values, got " + cols);
        }
        for (int i = off; i < off + cols; i++) {
            if (!Float.isFinite(src[i])) {
                return false;
            }
        }
        int bytes = kind.blockBytes();
        for (int b = 0; b < cols / n; b++) {
            block(kind, src, off + b * n, out, b * bytes);
        }
        return true;
    }

    /**
     * Quantizes the one block {@code x[from, from + blockElements)} (every value finite) into
     * {@code y[at, at + blockBytes)}.
     *
     * @throws GroupParams.ScaleRangeException where ggml would store a scale or minimum beyond fp16
     */
    static void block(QuantFormat.Kind kind, float[] x, int from, byte[] y, int at) {
        switch (kind) {
            case Q5_0 -> q5_0(x, from, y, at);
            case Q5_1 -> q5_1(x, from, y, at);
            case IQ4_NL -> iq4nl(x, from, y, at);
            case Q2_K -> q2K(x, from, y, at);
            case Q3_K -> q3K(x, from, y, at);
            case Q4_K -> q4K(x, from, y, at);
            case Q5_K -> q5K(x, from, y, at);
            case Q6_K -> q6K(x, from, y, at);
            case Q8_K -> q8K(x, from, y, at);
            default -> throw new IllegalArgumentException(kind + " is not one of the block kinds GgmlQuants writes");
        }
    }

    // ------------------------------------------------------------------------------------------------ blocks of 32

    /**
     * Q5_0 ({@code quantize_row_q5_0_ref}): {@code max} is the first element of largest magnitude, {@code d = max/−16}
     * and {@code id = 1/d} (0 when {@code d} is 0); each code is {@code min(31, trunc(x·id + 16.5))} kept to its low 8
     * bits. The block stores {@code fp16(d)}, the fifth bits of the codes in a little-endian u32 (bit {@code j} for
     * element {@code j}) and the low nibbles split as Q4_0's: element {@code j < 16} in the low nibble of byte
     * {@code j}, element {@code j + 16} in its high nibble.
     */
    static void q5_0(float[] x, int from, byte[] y, int at) {
        float amax = 0f;
        float max = 0f;
        for (int j = 0; j < 32; j++) {
            float v = x[from + j];
            if (amax < Math.abs(v)) {
                amax = Math.abs(v);
                max = v;
            }
        }
        float d = max / -16f;
        float id = d != 0f ? 1f / d : 0f;
        putF16(y, at, fp16(d, "scale"));
        int qh = 0;
        for (int j = 0; j < 16; j++) {
            int q0 = Math.min(31, (byte) GgmlBlocks.truncate(x[from + j] * id + 16.5f)) & 0xFF;
            int q1 = Math.min(31, (byte) GgmlBlocks.truncate(x[from + 16 + j] * id + 16.5f)) & 0xFF;
            y[at + 6 + j] = (byte) ((q0 & 0x0F) | (q1 & 0x0F) << 4);
            qh |= ((q0 & 0x10) >>> 4) << j;
            qh |= ((q1 & 0x10) >>> 4) << (j + 16);
        }
        putU32(y, at + 2, qh);
    }

    /**
     * Q5_1 ({@code quantize_row_q5_1_ref}): {@code min} and {@code max} by strict comparisons in element order from
     * {@code ±FLT_MAX}, {@code d = (max − min)/31}, {@code id = 1/d} (0 when {@code d} is 0), each code
     * {@code trunc((x − min)·id + 0.5)} kept to its low 8 bits. The block stores {@code fp16(d)}, {@code fp16(min)},
     * then the fifth bits and nibbles as Q5_0.
     */
    static void q5_1(float[] x, int from, byte[] y, int at) {
        float min = Float.MAX_VALUE;
        float max = -Float.MAX_VALUE;
        for (int j = 0; j < 32; j++) {
            float v = x[from + j];
            if (v < min) {
                min = v;
            }
            if (v > max) {
                max = v;
            }
        }
        float d = (max - min) / 31f;
        float id = d != 0f ? 1f / d : 0f;
        putF16(y, at, fp16(d, "scale"));
        putF16(y, at + 2, fp16(min, "minimum"));
        int qh = 0;
        for (int j = 0; j < 16; j++) {
            int q0 = GgmlBlocks.truncate((x[from + j] - min) * id + 0.5f) & 0xFF;
            int q1 = GgmlBlocks.truncate((x[from + 16 + j] - min) * id + 0.5f) & 0xFF;
            y[at + 8 + j] = (byte) ((q0 & 0x0F) | (q1 & 0x0F) << 4);
            qh |= ((q0 & 0x10) >>> 4) << j;
            qh |= ((q1 & 0x10) >>> 4) << (j + 16);
        }
        putU32(y, at + 4, qh);
    }

    /**
     * IQ4_NL ({@code quantize_row_iq4_nl_impl} of {@code quantize_iq4_nl}, without weights, {@code ntry = 7}): each
     * element weighs {@code w = x²}. A block whose largest magnitude is below {@link GgmlSearches#GROUP_MAX_EPS} has
     * scale 0.
     * Otherwise, with {@code max} the first element of largest magnitude:
     * <ol>
     *   <li>{@code d = −max/−127}, {@code id = 1/d}; each element takes the level {@link #bestIndexIq4nl} picks for
     *       {@code id·x}, and {@code d = Σwqx/Σwq²} (0 when {@code Σwq² = 0}) with {@code best = d·Σwqx}.</li>
     *   <li>For {@code t = −7..7}: {@code id = (t − 127)/max}, levels again by {@link #bestIndexIq4nl}; where
     *       {@code Σwq² > 0} and {@code (Σwqx)² > best·Σwq²}, {@code d = Σwqx/Σwq²} and {@code best = d·Σwqx}.</li>
     * </ol>
     * The block stores {@code fp16(d)}; every element then takes the level of {@code x/d} in fp32 ({@code x·(1/d)},
     * {@code 0·x} for {@code d = 0}, so a block of zeros stores level 8, the value 1), in Q4_0's nibble order.
     */
    static void iq4nl(float[] x, int from, byte[] y, int at) {
        float amax = 0f;
        float max = 0f;
        for (int j = 0; j < 32; j++) {
            float ax = Math.abs(x[from + j]);
            if (ax > amax) {
                amax = ax;
                max = x[from + j];
            }
        }
        float d = 0f;
        if (amax >= GgmlSearches.GROUP_MAX_EPS) {
            d = -max / IQ4NL[0];
            float id = 1f / d;
            float sumqx = 0f;
            float sumq2 = 0f;
            for (int j = 0; j < 32; j++) {
                float v = x[from + j];
                float w = v * v;
                float q = IQ4NL[bestIndexIq4nl(id * v)];
                sumqx += w * q * v;
                sumq2 += w * q * q;
            }
            d = sumq2 > 0f ? sumqx / sumq2 : 0f;
            float best = d * sumqx;
            for (int t = -7; t <= 7; t++) {
                id = (t + IQ4NL[0]) / max;
                sumqx = 0f;
                sumq2 = 0f;
                for (int j = 0; j < 32; j++) {
                    float v = x[from + j];
                    float w = v * v;
                    float q = IQ4NL[bestIndexIq4nl(id * v)];
                    sumqx += w * q * v;
                    sumq2 += w * q * q;
                }
                if (sumq2 > 0f && sumqx * sumqx > best * sumq2) {
                    d = sumqx / sumq2;
                    best = d * sumqx;
                }
            }
        }
        putF16(y, at, fp16(d, "scale"));
        float id = d != 0f ? 1f / d : 0f;
        for (int j = 0; j < 16; j++) {
            int l0 = bestIndexIq4nl(id * x[from + j]);
            int l1 = bestIndexIq4nl(id * x[from + 16 + j]);
            y[at + 2 + j] = (byte) (l0 | l1 << 4);
        }
    }

    /**
     * ggml's {@code best_index_int8} over IQ4_NL's 16 ascending levels: the level {@code i} that {@code v} reaches
     * once {@code 2v ≥ levels[i−1] + levels[i]} (the midpoint, compared exactly), by a binary search of four halving
     * steps; a tie goes to the upper level. A NaN takes level 0.
     */
    static int bestIndexIq4nl(float v) {
        float v2 = v + v;
        int idx = 0;
        for (int step = 8; step > 0; step >>= 1) {
            int j = idx + step;
            idx = v2 >= (float) (IQ4NL[j - 1] + IQ4NL[j]) ? j : idx;
        }
        return idx;
    }

    // ------------------------------------------------------------------------------------------ K-quants, QK_K = 256

    /**
     * Q2_K ({@code quantize_row_q2_K_ref}): 16 sub-blocks of 16.
     * <ol>
     *   <li>Each sub-block runs {@link GgmlSearches#makeQkx2Quants} with {@code nmax = 3}, weights {@code |x|},
     *       {@code rmin = −0.5},
     *       {@code rdelta = 0.1}, 16 steps ({@code nstep = 15}) and absolute errors, giving a scale, a minimum
     *       {@code m ≥ 0} (the value of code 0 is {@code −m}) and codes.</li>
     *   <li>{@code maxScale} and {@code maxMin} are the largest scale and minimum (from 0). Where {@code maxScale > 0},
     *       each scale is stored as {@code nearestInt(15/maxScale · scale)} (its low 8 bits) and
     *       {@code d = fp16(maxScale/15)}; else the scales are 0 and {@code d = 0}. Where {@code maxMin > 0}, each
     *       minimum's {@code nearestInt(15/maxMin · m)} is or-ed in above bit 4 and {@code dmin = fp16(maxMin/15)};
     *       else {@code dmin = 0}.</li>
     *   <li>For each sub-block whose {@code D = d·(scale & 15)} (stored {@code d}) is not 0, every code becomes
     *       {@code clamp(nearestInt((x + dmin·(scale >> 4))/D), 0, 3)}; other sub-blocks keep the search's codes.</li>
     * </ol>
     * Codes are packed four to a byte: byte {@code l} of each 32-byte half {@code h} holds elements
     * {@code 128h + l + 32k} in bits {@code 2k..2k+1}.
     */
    static void q2K(float[] x, int from, byte[] y, int at) {
        int[] codes = new int[QK_K];
        int[] aux = new int[16];
        float[] weights = new float[16];
        float[] mins = new float[16];
        float[] scales = new float[16];
        float maxScale = 0f;
        float maxMin = 0f;
        for (int j = 0; j < 16; j++) {
            for (int l = 0; l < 16; l++) {
                weights[l] = Math.abs(x[from + 16 * j + l]);
            }
            scales[j] = GgmlSearches.makeQkx2Quants(16, 3, x, from + 16 * j, weights, codes, 16 * j, mins, j, aux, -0.5f, 0.1f,
                    15, true);
            if (scales[j] > maxScale) {
                maxScale = scales[j];
            }
            if (mins[j] > maxMin) {
                maxMin = mins[j];
            }
        }
        int[] sc = new int[16];
        short d = 0;
        short dmin = 0;
        if (maxScale > 0f) {
            float iscale = 15f / maxScale;
            for (int j = 0; j < 16; j++) {
                sc[j] = GgmlSearches.nearestInt(iscale * scales[j]) & 0xFF;
            }
            d = fp16(maxScale / 15f, "scale");
        }
        if (maxMin > 0f) {
            float iscale = 15f / maxMin;
            for (int j = 0; j < 16; j++) {
                sc[j] = (sc[j] | GgmlSearches.nearestInt(iscale * mins[j]) << 4) & 0xFF;
            }
            dmin = fp16(maxMin / 15f, "minimum");
        }
        for (int j = 0; j < 16; j++) {
            float dl = Float.float16ToFloat(d) * (sc[j] & 0xF);
            if (dl == 0f) {
                continue;
            }
            float ml = Float.float16ToFloat(dmin) * (sc[j] >> 4);
            for (int i = 0; i < 16; i++) {
                codes[16 * j + i] = Math.max(0, Math.min(3, GgmlSearches.nearestInt((x[from + 16 * j + i] + ml) / dl)));
            }
        }
        for (int j = 0; j < 16; j++) {
            y[at + j] = (byte) sc[j];
        }
        pack2(codes, y, at + 16);
        putF16(y, at + 80, d);
        putF16(y, at + 82, dmin);
    }

    /**
     * Q3_K ({@code quantize_row_q3_K_ref}): 16 sub-blocks of 16.
     * <ol>
     *   <li>Each sub-block runs {@link GgmlSearches#makeQ3Quants} ({@code nmax = 4}), giving a signed scale and codes
     *       0..7.</li>
     *   <li>{@code maxScale} is the first scale of largest magnitude. Where it is not 0, {@code iscale = −32/maxScale},
     *       each scale is stored as {@code clamp((int8) nearestInt(iscale·scale), −32, 31) + 32} in 6 bits (low nibbles
     *       of scales 0..7 in bytes 0..7, of scales 8..15 in their high nibbles, the top two bits of scale {@code j} in
     *       byte {@code 8 + j%4} at bit {@code 2(j/4)}) and {@code d = fp16(1/iscale)}; else the scales and
     *       {@code d} are 0.</li>
     *   <li>For each sub-block whose {@code D = d·(scale − 32)} (stored values) is not 0, every code becomes
     *       {@code clamp(nearestInt(x/D), −4, 3) + 4}; other sub-blocks keep the search's codes.</li>
     * </ol>
     * The third bit of element {@code j} goes to bit {@code j/32} of {@code hmask[j%32]}; the low two bits are packed
     * as
     * Q2_K's.
     */
    static void q3K(float[] x, int from, byte[] y, int at) {
        int[] codes = new int[QK_K];
        float[] scales = new float[16];
        float amax = 0f;
        float maxScale = 0f;
        for (int j = 0; j < 16; j++) {
            scales[j] = GgmlSearches.makeQ3Quants(16, 4, x, from + 16 * j, codes, 16 * j);
            float a = Math.abs(scales[j]);
            if (a > amax) {
                amax = a;
                maxScale = scales[j];
            }
        }
        int[] sc = new int[12];
        short d = 0;
        if (maxScale != 0f) {
            float iscale = -32f / maxScale;
            for (int j = 0; j < 16; j++) {
                int l = Math.max(-32, Math.min(31, (byte) GgmlSearches.nearestInt(iscale * scales[j]))) + 32;
                if (j < 8) {
                    sc[j] = l & 0xF;
                } else {
                    sc[j - 8] |= (l & 0xF) << 4;
                }
                sc[j % 4 + 8] |= (l >> 4) << (2 * (j / 4));
            }
            d = fp16(1f / iscale, "scale");
        }
        for (int j = 0; j < 16; j++) {
            int s = j < 8 ? sc[j] & 0xF : sc[j - 8] >> 4;
            s = (s | ((sc[8 + j % 4] >> (2 * (j / 4))) & 3) << 4) - 32;
            float dl = Float.float16ToFloat(d) * s;
            if (dl == 0f) {
                continue;
            }
            for (int i = 0; i < 16; i++) {
                codes[16 * j + i] = Math.max(-4, Math.min(3, GgmlSearches.nearestInt(x[from + 16 * j + i] / dl))) + 4;
            }
        }
        for (int j = 0; j < 32; j++) {
            y[at + j] = 0;
        }
        for (int j = 0; j < QK_K; j++) {
            if (codes[j] > 3) {
                y[at + j % 32] |= (byte) (1 << (j / 32));
                codes[j] -= 4;
            }
        }
        pack2(codes, y, at + 32);
        for (int j = 0; j < 12; j++) {
            y[at + 96 + j] = (byte) sc[j];
        }
        putF16(y, at + 108, d);
    }

    /**
     * Q4_K ({@code quantize_row_q4_K_ref}): 8 sub-blocks of 32, each with a 6-bit scale and a 6-bit minimum
     * ({@link #kScales}). Each sub-block's weights are {@code sqrt(Σx²/32) + |x|}, and {@link
     * GgmlSearches#makeQkx2Quants} runs with
     * {@code nmax = 15}, {@code rmin = −1}, {@code rdelta = 0.1}, 21 steps ({@code nstep = 20}) and squared errors;
     * codes are requantized from the stored scales as in {@link #kScales}, and element {@code 64h + l + 32k} is nibble
     * {@code k} of byte {@code 32h + l}.
     */
    static void q4K(float[] x, int from, byte[] y, int at) {
        int[] codes = new int[QK_K];
        kScales(x, from, y, at, codes, 15, -1f, 20);
        for (int h = 0; h < 4; h++) {
            for (int l = 0; l < 32; l++) {
                y[at + 16 + 32 * h + l] = (byte) (codes[64 * h + l] | codes[64 * h + l + 32] << 4);
            }
        }
    }

    /**
     * Q5_K ({@code quantize_row_q5_K_ref}): Q4_K's rules with {@code nmax = 31}, {@code rmin = −0.5}, 16 steps
     * ({@code nstep = 15}). Element {@code 64h + l + 32k} keeps its low nibble in nibble {@code k} of {@code qs[32h +
     * l]}
     * and its fifth bit in bit {@code 2h + k} of {@code qh[l]}.
     */
    static void q5K(float[] x, int from, byte[] y, int at) {
        int[] codes = new int[QK_K];
        kScales(x, from, y, at, codes, 31, -0.5f, 15);
        for (int l = 0; l < 32; l++) {
            y[at + 16 + l] = 0;
        }
        for (int h = 0; h < 4; h++) {
            for (int l = 0; l < 32; l++) {
                int l1 = codes[64 * h + l];
                int l2 = codes[64 * h + l + 32];
                if (l1 > 15) {
                    l1 -= 16;
                    y[at + 16 + l] |= (byte) (1 << (2 * h));
                }
                if (l2 > 15) {
                    l2 -= 16;
                    y[at + 16 + l] |= (byte) (2 << (2 * h));
                }
                y[at + 48 + 32 * h + l] = (byte) (l1 | l2 << 4);
            }
        }
    }

    /**
     * The scales, minima and codes of Q4_K and Q5_K (the first 16 bytes of the block: {@code d}, {@code dmin} and the
     * 12 bytes of scales), codes into {@code codes}:
     * <ol>
     *   <li>Each sub-block of 32 weighs its elements by {@code sqrt(Σx²/32) + |x|} and runs {@link
     *       GgmlSearches#makeQkx2Quants}
     *       ({@code nmax}, {@code rmin}, {@code rdelta = 0.1}, {@code nstep}, squared errors).</li>
     *   <li>{@code maxScale} and {@code maxMin} are the largest scale and minimum (from 0); each scale is stored as
     *       {@code min(63, nearestInt(63/maxScale · scale) & 255)} (the factor 0 when {@code maxScale} is not
     *       positive), each minimum likewise; {@code d = fp16(maxScale/63)}, {@code dmin = fp16(maxMin/63)}.</li>
     *   <li>Sub-blocks 0..3 keep scale and minimum in bytes {@code j} and {@code j + 4}; sub-blocks 4..7 keep their low
     *       nibbles in byte {@code j + 4} (scale low, minimum high) and their top two bits in bits 6..7 of bytes
     *       {@code j − 4} (scale) and {@code j} (minimum): ggml's {@code get_scale_min_k4}.</li>
     *   <li>For each sub-block whose {@code D = d·scale} (stored values) is not 0, every code becomes
     *       {@code clamp(nearestInt((x + dmin·min)/D), 0, nmax)}; other sub-blocks keep the search's codes.</li>
     * </ol>
     */
    private static void kScales(float[] x, int from, byte[] y, int at, int[] codes, int nmax, float rmin, int nstep) {
        int[] aux = new int[32];
        float[] weights = new float[32];
        float[] mins = new float[8];
        float[] scales = new float[8];
        float maxScale = 0f;
        float maxMin = 0f;
        for (int j = 0; j < 8; j++) {
            float sumX2 = 0f;
            for (int l = 0; l < 32; l++) {
                float v = x[from + 32 * j + l];
                sumX2 += v * v;
            }
            float avX = (float) Math.sqrt(sumX2 / 32f);
            for (int l = 0; l < 32; l++) {
                weights[l] = avX + Math.abs(x[from + 32 * j + l]);
            }
            scales[j] = GgmlSearches.makeQkx2Quants(32, nmax, x, from + 32 * j, weights, codes, 32 * j, mins, j, aux, rmin, 0.1f,
                    nstep, false);
            if (scales[j] > maxScale) {
                maxScale = scales[j];
            }
            if (mins[j] > maxMin) {
                maxMin = mins[j];
            }
        }
        float invScale = maxScale > 0f ? 63f / maxScale : 0f;
        float invMin = maxMin > 0f ? 63f / maxMin : 0f;
        int[] sc = new int[12];
        for (int j = 0; j < 8; j++) {
            int ls = Math.min(63, GgmlSearches.nearestInt(invScale * scales[j]) & 0xFF);
            int lm = Math.min(63, GgmlSearches.nearestInt(invMin * mins[j]) & 0xFF);
            if (j < 4) {
                sc[j] = ls;
                sc[j + 4] = lm;
            } else {
                sc[j + 4] = (ls & 0xF) | (lm & 0xF) << 4;
                sc[j - 4] |= (ls >> 4) << 6;
                sc[j] |= (lm >> 4) << 6;
            }
        }
        short d = fp16(maxScale / 63f, "scale");
        short dmin = fp16(maxMin / 63f, "minimum");
        for (int j = 0; j < 8; j++) {
            float dl = Float.float16ToFloat(d) * scaleK4(sc, j);
            if (dl == 0f) {
                continue;
            }
            float ml = Float.float16ToFloat(dmin) * minK4(sc, j);
            for (int i = 0; i < 32; i++) {
                codes[32 * j + i] = Math.max(0, Math.min(nmax, GgmlSearches.nearestInt((x[from + 32 * j + i] + ml) / dl)));
            }
        }
        putF16(y, at, d);
        putF16(y, at + 2, dmin);
        for (int j = 0; j < 12; j++) {
            y[at + 4 + j] = (byte) sc[j];
        }
    }

    /** The 6-bit scale of sub-block {@code j} of a Q4_K/Q5_K block's 12 scale bytes (ggml's {@code get_scale_min_k4}). */
    private static int scaleK4(int[] sc, int j) {
        return j < 4 ? sc[j] & 63 : (sc[j + 4] & 0xF) | (sc[j - 4] >> 6) << 4;
    }

    /** The 6-bit minimum of sub-block {@code j}. */
    private static int minK4(int[] sc, int j) {
        return j < 4 ? sc[j + 4] & 63 : (sc[j + 4] >> 4) | (sc[j] >> 6) << 4;
    }

    /**
     * Q6_K ({@code quantize_row_q6_K_ref}): 16 sub-blocks of 16.
     * <ol>
     *   <li>Each sub-block runs {@link GgmlSearches#makeQxQuants} with {@code nmax = 32}, giving a signed scale and
     *       codes 0..63.</li>
     *   <li>{@code maxScale} is the first scale of largest magnitude. Below {@link GgmlSearches#GROUP_MAX_EPS} the
     *       whole block is
     *       zeros. Otherwise {@code iscale = −128/maxScale}, {@code d = fp16(1/iscale)}, and each scale is stored as
     *       the int8 {@code min(127, nearestInt(iscale·scale))} (its low 8 bits).</li>
     *   <li>For each sub-block whose {@code D = d·scale} (stored values) is not 0, every code becomes
     *       {@code clamp(nearestInt(x/D), −32, 31) + 32}; other sub-blocks keep the search's codes.</li>
     * </ol>
     * Element {@code 128h + l + 32k} keeps its low nibble in nibble {@code k/2} of {@code ql[64h + l + 32(k%2)]} and
     * its
     * top two bits in bits {@code 2k..2k+1} of {@code qh[32h + l]}.
     */
    static void q6K(float[] x, int from, byte[] y, int at) {
        int[] codes = new int[QK_K];
        float[] scales = new float[16];
        float maxScale = 0f;
        float maxAbsScale = 0f;
        for (int j = 0; j < 16; j++) {
            scales[j] = GgmlSearches.makeQxQuants(16, 32, x, from + 16 * j, codes, 16 * j);
            float a = Math.abs(scales[j]);
            if (a > maxAbsScale) {
                maxAbsScale = a;
                maxScale = scales[j];
            }
        }
        if (maxAbsScale < GgmlSearches.GROUP_MAX_EPS) {
            java.util.Arrays.fill(y, at, at + 210, (byte) 0);
            return;
        }
        float iscale = -128f / maxScale;
        short d = fp16(1f / iscale, "scale");
        byte[] sc = new byte[16];
        for (int j = 0; j < 16; j++) {
            sc[j] = (byte) Math.min(127, GgmlSearches.nearestInt(iscale * scales[j]));
        }
        for (int j = 0; j < 16; j++) {
            float dl = Float.float16ToFloat(d) * sc[j];
            if (dl == 0f) {
                continue;
            }
            for (int i = 0; i < 16; i++) {
                codes[16 * j + i] = Math.max(-32, Math.min(31, GgmlSearches.nearestInt(x[from + 16 * j + i] / dl))) + 32;
            }
        }
        for (int h = 0; h < 2; h++) {
            for (int l = 0; l < 32; l++) {
                int c0 = codes[128 * h + l];
                int c1 = codes[128 * h + l + 32];
                int c2 = codes[128 * h + l + 64];
                int c3 = codes[128 * h + l + 96];
                y[at + 64 * h + l] = (byte) ((c0 & 0xF) | (c2 & 0xF) << 4);
                y[at + 64 * h + l + 32] = (byte) ((c1 & 0xF) | (c3 & 0xF) << 4);
                y[at + 128 + 32 * h + l] = (byte) (c0 >> 4 | (c1 >> 4) << 2 | (c2 >> 4) << 4 | (c3 >> 4) << 6);
            }
        }
        System.arraycopy(sc, 0, y, at + 192, 16);
        putF16(y, at + 208, d);
    }

    /**
     * Q8_K ({@code quantize_row_q8_K_ref}): {@code max} is the first element of largest magnitude; a block without
     * one (all zeros) stores {@code d = 0} and zero codes, and here zero sums (ggml leaves its sums as the memory
     * held them). Otherwise {@code iscale = −127/max}, each code is
     * the int8 {@code min(127, nearestInt(iscale·x))} (its low 8 bits), each of the 16 {@code bsums} the int16 sum of
     * a run of 16 codes, and {@code d = 1/iscale} is stored as fp32.
     */
    static void q8K(float[] x, int from, byte[] y, int at) {
        float amax = 0f;
        float max = 0f;
        for (int j = 0; j < QK_K; j++) {
            float ax = Math.abs(x[from + j]);
            if (ax > amax) {
                amax = ax;
                max = x[from + j];
            }
        }
        if (amax == 0f) {
            java.util.Arrays.fill(y, at, at + 292, (byte) 0);
            return;
        }
        float iscale = -127f / max;
        for (int j = 0; j < QK_K; j++) {
            y[at + 4 + j] = (byte) Math.min(127, GgmlSearches.nearestInt(iscale * x[from + j]));
        }
        for (int j = 0; j < 16; j++) {
            int sum = 0;
            for (int i = 0; i < 16; i++) {
                sum += y[at + 4 + 16 * j + i];
            }
            y[at + 260 + 2 * j] = (byte) sum;
            y[at + 261 + 2 * j] = (byte) (sum >> 8);
        }
        putU32(y, at, Float.floatToRawIntBits(1f / iscale));
    }

    // ------------------------------------------------------------------------------------------------------ helpers

    /** Codes 0..3 four to a byte, as Q2_K and Q3_K pack them, into {@code y[at, at + 64)}. */
    private static void pack2(int[] codes, byte[] y, int at) {
        for (int h = 0; h < 2; h++) {
            for (int l = 0; l < 32; l++) {
                int j = 128 * h + l;
                y[at + 32 * h + l] = (byte) (codes[j] | codes[j + 32] << 2 | codes[j + 64] << 4 | codes[j + 96] << 6);
            }
        }
    }

    /** {@code v} rounded to fp16 (to nearest even) for storage; a value that does not fit refuses the block. */
    private static short fp16(float v, String what) {
        short h = Float.floatToFloat16(v);
        if (!Float.isFinite(Float.float16ToFloat(h))) {
            throw new GroupParams.ScaleRangeException(what, v);
        }
        return h;
    }

    private static void putF16(byte[] y, int at, short h) {
        y[at] = (byte) h;
        y[at + 1] = (byte) (h >> 8);
    }

    private static void putU32(byte[] y, int at, int v) {
        y[at] = (byte) v;
        y[at + 1] = (byte) (v >> 8);
        y[at + 2] = (byte) (v >> 16);
        y[at + 3] = (byte) (v >> 24);
    }
}
