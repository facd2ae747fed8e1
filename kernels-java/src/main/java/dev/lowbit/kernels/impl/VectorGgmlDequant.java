package dev.lowbit.kernels.impl;

import dev.lowbit.format.Layouts;
import dev.lowbit.format.QuantFormat;
import dev.lowbit.format.QuantizedTensor;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;

import static dev.lowbit.kernels.impl.VectorGgmlBlocks.*;
import static dev.lowbit.kernels.impl.VectorGgmlSearches.levelAt;

/** The Vector API dequantizers of Q5_0, Q5_1, IQ4_NL, Q2_K to Q6_K and Q8_K: the floats of ggml's {@code dequantize_row_*}. */
final class VectorGgmlDequant {
    private VectorGgmlDequant() {
    }

    /** ggml's {@code dequantize_row_*} of row {@code row} of {@code t} into {@code dst[off..]}. */
    static void dequantizeRow(QuantizedTensor t, int row, float[] dst, int off) {
        QuantFormat f = t.format();
        int cols = t.cols();
        MemorySegment data = t.data();
        long rowAt = row * f.rowBytes(cols);
        int bb = f.blockBytes();
        switch (f.kind()) {
            case Q5_0, Q5_1, IQ4_NL -> {
                boolean q51 = f.kind() == QuantFormat.Kind.Q5_1;
                boolean nl = f.kind() == QuantFormat.Kind.IQ4_NL;
                for (int b = 0; b < cols / 32; b++) {
                    long at = rowAt + (long) b * bb;
                    float d = f16(data, at);
                    float m = q51 ? f16(data, at + 2) : 0f;
                    int qh = nl ? 0 : data.get(Layouts.U8, at + (q51 ? 4 : 2)) & 0xFF
                            | (data.get(Layouts.U8, at + (q51 ? 5 : 3)) & 0xFF) << 8
                            | (data.get(Layouts.U8, at + (q51 ? 6 : 4)) & 0xFF) << 16
                            | (data.get(Layouts.U8, at + (q51 ? 7 : 5)) & 0xFF) << 24;
                    long qs = at + (nl ? 2 : q51 ? 8 : 6);
                    int o = off + b * 32;
                    for (int j = 0; j < 16; j += LANES) {
                        ByteVector q = ByteVector.fromMemorySegment(BS, data, qs + j, ByteOrder.LITTLE_ENDIAN);
                        IntVector lo = ((IntVector) q.convertShape(VectorOperators.B2I, IS, 0)).and(15);
                        IntVector hi = ((IntVector) q.convertShape(VectorOperators.B2I, IS, 0))
                                .lanewise(VectorOperators.LSHR, 4).and(15);
                        if (nl) {
                            FloatVector.broadcast(FS, d).mul(levelAt((FloatVector) lo.convert(VectorOperators.I2F, 0)))
                                    .intoArray(dst, o + j);
                            FloatVector.broadcast(FS, d).mul(levelAt((FloatVector) hi.convert(VectorOperators.I2F, 0)))
                                    .intoArray(dst, o + 16 + j);
                            continue;
                        }
                        IntVector lane = IntVector.zero(IS).addIndex(1);
                        IntVector loH = IntVector.broadcast(IS, qh >>> j).lanewise(VectorOperators.LSHR, lane)
                                .and(1).lanewise(VectorOperators.LSHL, 4);
                        IntVector hiH = IntVector.broadcast(IS, qh >>> (16 + j)).lanewise(VectorOperators.LSHR, lane)
                                .and(1).lanewise(VectorOperators.LSHL, 4);
                        lo = lo.or(loH);
                        hi = hi.or(hiH);
                        if (!q51) {
                            lo = lo.sub(16);
                            hi = hi.sub(16);
                        }
                        FloatVector vl = ((FloatVector) lo.convert(VectorOperators.I2F, 0)).mul(d);
                        FloatVector vh = ((FloatVector) hi.convert(VectorOperators.I2F, 0)).mul(d);
                        if (q51) {
                            vl = vl.add(m);
                            vh = vh.add(m);
                        }
                        vl.intoArray(dst, o + j);
                        vh.intoArray(dst, o + 16 + j);
                    }
                }
            }
            case Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, Q8_K -> {
                for (int sb = 0; sb < cols / 256; sb++) {
                    kBlock(f.kind(), data, rowAt + (long) sb * bb, dst, off + sb * 256);
                }
            }
            default -> throw new IllegalArgumentException(f + " is not one of the blocks of this class");
        }
    }

    static float f16(MemorySegment d, long at) {
        return Float.float16ToFloat(d.get(Layouts.F16, at));
    }

    static int u8(MemorySegment d, long at) {
        return d.get(Layouts.U8, at) & 0xFF;
    }

    /** Bytes {@code at..} as ints 0..255, one vector. */
    static IntVector bytes(MemorySegment d, long at) {
        return ((IntVector) ByteVector.fromMemorySegment(BS, d, at, ByteOrder.LITTLE_ENDIAN)
                .convertShape(VectorOperators.B2I, IS, 0)).and(0xFF);
    }

    static FloatVector floats(IntVector v) {
        return (FloatVector) v.convert(VectorOperators.I2F, 0);
    }

    /** One super-block of a K-quant at {@code b} into {@code y[o, o + 256)}. */
    static void kBlock(QuantFormat.Kind kind, MemorySegment d, long b, float[] y, int o) {
        switch (kind) {
            case Q2_K -> {
                float dd = f16(d, b + 80);
                float min = f16(d, b + 82);
                for (int e = 0; e < 256; e += 16) {
                    int sc = u8(d, b + e / 16);
                    float dl = dd * (sc & 0xF);
                    float ml = min * (sc >> 4);
                    int shift = 2 * (e % 128 / 32);
                    long q = b + 16 + 32 * (e / 128) + e % 32;
                    for (int l = 0; l < 16; l += LANES) {
                        IntVector c = bytes(d, q + l).lanewise(VectorOperators.LSHR, shift).and(3);
                        floats(c).mul(dl).sub(ml).intoArray(y, o + e + l);
                    }
                }
            }
            case Q3_K -> {
                float dAll = f16(d, b + 108);
                for (int e = 0; e < 256; e += 16) {
                    int s = e / 16;
                    int low = s < 8 ? u8(d, b + 96 + s) & 0xF : u8(d, b + 96 + s - 8) >>> 4;
                    int high = (u8(d, b + 104 + s % 4) >>> (2 * (s / 4))) & 3;
                    float dl = dAll * ((low | high << 4) - 32);
                    int k = e % 128 / 32;
                    int shift = 2 * k;
                    int hbit = 4 * (e / 128) + k;
                    long q = b + 32 + 32 * (e / 128) + e % 32;
                    long hm = b + e % 32;
                    for (int l = 0; l < 16; l += LANES) {
                        IntVector c = bytes(d, q + l).lanewise(VectorOperators.LSHR, shift).and(3);
                        IntVector h = bytes(d, hm + l).lanewise(VectorOperators.LSHR, hbit).and(1);
                        c = c.sub(IntVector.broadcast(IS, 4).sub(h.lanewise(VectorOperators.LSHL, 2)));
                        FloatVector.broadcast(FS, dl).mul(floats(c)).intoArray(y, o + e + l);
                    }
                }
            }
            case Q4_K, Q5_K -> {
                boolean q5 = kind == QuantFormat.Kind.Q5_K;
                float dd = f16(d, b);
                float min = f16(d, b + 2);
                long sc = b + 4;
                for (int e = 0; e < 256; e += 32) {
                    int j = e / 32;
                    int scale;
                    int mn;
                    if (j < 4) {
                        scale = u8(d, sc + j) & 63;
                        mn = u8(d, sc + j + 4) & 63;
                    } else {
                        scale = (u8(d, sc + j + 4) & 0xF) | ((u8(d, sc + j - 4) >>> 6) << 4);
                        mn = (u8(d, sc + j + 4) >>> 4) | ((u8(d, sc + j) >>> 6) << 4);
                    }
                    float dl = dd * scale;
                    float ml = min * mn;
                    boolean high = j % 2 == 1;
                    long q = b + (q5 ? 48 : 16) + 32 * (j / 2);
                    for (int l = 0; l < 32; l += LANES) {
                        IntVector c = bytes(d, q + l);
                        c = high ? c.lanewise(VectorOperators.LSHR, 4) : c.and(15);
                        if (q5) {
                            c = c.add(bytes(d, b + 16 + l).lanewise(VectorOperators.LSHR, j).and(1)
                                    .lanewise(VectorOperators.LSHL, 4));
                        }
                        FloatVector.broadcast(FS, dl).mul(floats(c)).sub(ml).intoArray(y, o + e + l);
                    }
                }
            }
            case Q6_K -> {
                float dd = f16(d, b + 208);
                for (int e = 0; e < 256; e += 16) {
                    int n = e / 128;
                    int k = e % 128 / 32;
                    float ds = dd * d.get(Layouts.U8, b + 192 + e / 16);
                    long ql = b + 64 * n + (k & 1) * 32 + e % 32;
                    long qh = b + 128 + 32 * n + e % 32;
                    for (int l = 0; l < 16; l += LANES) {
                        IntVector lo = bytes(d, ql + l);
                        lo = k >= 2 ? lo.lanewise(VectorOperators.LSHR, 4) : lo.and(15);
                        IntVector hi = bytes(d, qh + l).lanewise(VectorOperators.LSHR, 2 * k).and(3);
                        IntVector c = lo.or(hi.lanewise(VectorOperators.LSHL, 4)).sub(32);
                        FloatVector.broadcast(FS, ds).mul(floats(c)).intoArray(y, o + e + l);
                    }
                }
            }
            case Q8_K -> {
                float dd = d.get(Layouts.F32, b);
                for (int e = 0; e < 256; e += LANES) {
                    ByteVector q = ByteVector.fromMemorySegment(BS, d, b + 4 + e, ByteOrder.LITTLE_ENDIAN);
                    FloatVector.broadcast(FS, dd).mul((FloatVector) q.convertShape(VectorOperators.B2F, FS, 0))
                            .intoArray(y, o + e);
                }
            }
            default -> throw new AssertionError(kind);
        }
    }
}
