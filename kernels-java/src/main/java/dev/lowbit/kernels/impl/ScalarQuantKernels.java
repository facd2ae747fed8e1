package dev.lowbit.kernels.impl;

import dev.lowbit.format.QuantFormat;
import dev.lowbit.format.QuantizedTensor;
import dev.lowbit.format.Reference;
import dev.lowbit.kernels.Codebook;
import dev.lowbit.kernels.QuantKernels;

/**
 * The scalar reference: plain loops that define every kernel's result. Other implementations
 * are tested against this one, bit for bit.
 */
public final class ScalarQuantKernels implements QuantKernels {

    public static final ScalarQuantKernels INSTANCE = new ScalarQuantKernels();

    private final ThreadLocal<byte[]> codeScratch = ThreadLocal.withInitial(() -> new byte[0]);

    private ScalarQuantKernels() {
    }

    @Override
    public String name() {
        return "scalar";
    }

    @Override
    public boolean quantizeRow(QuantFormat f, Codebook cb, float[] src, int off, int cols, byte[] rowBytes,
                            float[] scales, float[] zeros) {
        if (f.isGgml() && !f.kind().plain()) {
            return GgmlQuants.quantizeRow(f.kind(), src, off, cols, rowBytes);
        }
        byte[] codes = scratch(cols);
        int gl = f.groupLength(cols);
        float[] p = new float[4];
        if (f.isGgml()) {
            for (int b = 0, start = 0; start < cols; b++, start += 32) {
                int len = Math.min(32, cols - start);
                if (firstNonFinite(src, off + start, len) >= 0) {
                    return false;
                }
                GgmlBlocks.block(f.kind(), src, off + start, len, codes, start, p);
                scales[b] = p[0];
                if (zeros != null) {
                    zeros[b] = p[2];
                }
            }
            RowPacker.pack(f, codes, cols, scales, zeros, rowBytes);
            return true;
        }
        boolean codebook = f.hasLevels();
        for (int g = 0, start = 0; start < cols; g++, start += gl) {
            int end = Math.min(cols, start + gl);
            float min = Float.POSITIVE_INFINITY;
            float max = Float.NEGATIVE_INFINITY;
            for (int i = start; i < end; i++) {
                min = Math.min(min, src[off + i]);
                max = Math.max(max, src[off + i]);
            }
            if (!Float.isFinite(min) || !Float.isFinite(max)) {
                return false;
            }
            float absmax = Math.max(Math.abs(min), Math.abs(max));
            if (codebook) {
                float d = GroupParams.codebookScale(absmax, cb.reach(), f.scaleType());
                scales[g] = d;
                for (int i = start; i < end; i++) {
                    codes[i] = (byte) cb.index(d == 0f ? 0f : src[off + i] / d);
                }
                continue;
            }
            GroupParams.uniform(f, min, max, absmax, p);
            float d = p[0];
            float sub = p[1];
            float add = p[2];
            scales[g] = d;
            if (zeros != null) {
                zeros[g] = p[3];
            }
            int lo = GroupParams.lo(f);
            int hi = GroupParams.hi(f);
            for (int i = start; i < end; i++) {
                float q = d == 0f ? add : (float) Math.rint((src[off + i] - sub) / d) + add;
                codes[i] = (byte) Math.max(lo, Math.min(hi, (int) q));
            }
        }
        RowPacker.pack(f, codes, cols, scales, zeros, rowBytes);
        return true;
    }

    @Override
    public void dequantizeRow(QuantizedTensor t, int row, float[] dst, int off) {
        QuantFormat f = t.format();
        int cols = t.cols();
        int gl = f.scaleGroupLength(cols);
        float[] levels = t.levels();
        for (int g = 0, start = 0; start < cols; g++, start += gl) {
            float d = Reference.scale(t, row, g);
            float z = Reference.zero(t, row, g);
            int end = Math.min(cols, start + gl);
            for (int c = start; c < end; c++) {
                dst[off + c] = Reference.value(f, Reference.code(t, row, c), d, z, levels);
            }
        }
    }

    @Override
    public void groupStats(float[] src, int off, int len, int groupLen, float[] min, float[] max, float[] absmax,
                           int outOff) {
        for (int g = 0, start = 0; start < len; g++, start += groupLen) {
            int end = Math.min(len, start + groupLen);
            float lo = Float.POSITIVE_INFINITY;
            float hi = Float.NEGATIVE_INFINITY;
            for (int i = start; i < end; i++) {
                lo = Math.min(lo, src[off + i]);
                hi = Math.max(hi, src[off + i]);
            }
            min[outOff + g] = lo;
            max[outOff + g] = hi;
            absmax[outOff + g] = Math.max(Math.abs(lo), Math.abs(hi));
        }
    }

    @Override
    public int firstNonFinite(float[] src, int off, int len) {
        for (int i = 0; i < len; i++) {
            if (!Float.isFinite(src[off + i])) {
                return i;
            }
        }
        return -1;
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
