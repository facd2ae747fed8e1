package dev.lowbit.training;

import dev.lowbit.format.Int8RowTensor;
import dev.lowbit.format.QuantFormat;
import dev.lowbit.format.QuantizedTensor;
import dev.lowbit.format.Reference;
import dev.lowbit.format.io.CorruptFileException;

import java.lang.foreign.Arena;
import java.nio.file.Path;

/**
 * The weights of an {@link IntegerExport} file as {@link IntegerNetwork} runs them: their codes checked against each
 * layer's true width, a convolution's columns reordered for im2col, and the int8 rows of the dot-product kernels.
 */
final class IntegerWeights {
    private IntegerWeights() {
    }

    /**
     * A convolution's codes with each row's columns from the file's {@code [in][kh][kw]} order into
     * {@code [kh][kw][in]}, the order of the im2col rows ({@code IntegerNetwork.convBnRelu}), where each tap copies the {@code in}
     * contiguous codes of one input position.
     */
    static int[] tapsMajor(int[] codes, Layer l) {
        int in = l.in();
        int taps = l.kernel() * l.kernel();
        int cols = l.cols();
        int[] out = new int[codes.length];
        for (int r = 0; r < l.out(); r++) {
            for (int ci = 0; ci < in; ci++) {
                for (int tap = 0; tap < taps; tap++) {
                    out[r * cols + tap * in + ci] = codes[r * cols + ci * taps + tap];
                }
            }
        }
        return out;
    }

    /**
     * The weights as signed int8 rows with one fp32 scale each ({@code i8_rowx16}, the integer dot-product kernels):
     * LSQ's {@code q = code − 2^(B−1)} with its scale, DoReFa's {@code (i − n/2)·d = (2i − n)·(d/2)}, whose odd codes
     * {@code 2i − n} fit int8 up to 7 bits. The same values, summed in int32 over the whole row before one fp32 step.
     */
    static Int8RowTensor int8Rows(QuantizedTensor w, int[] unpacked, Reference.Unpacked u, int bits,
                                          Arena arena) {
        int rows = w.rows();
        int cols = w.cols();
        byte[] codes = new byte[rows * cols];
        float[] scales = new float[rows];
        boolean symmetric = w.format().symmetric();
        int center = 1 << (w.format().bits() - 1);
        int n = (1 << bits) - 1;
        for (int r = 0; r < rows; r++) {
            scales[r] = symmetric ? u.scales()[r] : u.scales()[r] / 2f;
            for (int j = r * cols; j < (r + 1) * cols; j++) {
                codes[j] = (byte) (symmetric ? unpacked[j] - center : 2 * unpacked[j] - n);
            }
        }
        return Int8RowTensor.of(codes, scales, rows, cols, arena);
    }

    /** The codes must lie in the layer's true width (a 5-bit layer stored in 8 bits keeps 5-bit codes). */
    static void checkCodes(Path file, String where, LayerQuantizer.Method method, int bits, QuantFormat f,
                                   Reference.Unpacked u) throws CorruptFileException {
        int lo;
        int hi;
        if (method == LayerQuantizer.Method.LSQ) {
            int center = 1 << (f.bits() - 1);
            lo = center - (1 << (bits - 1));
            hi = center + (1 << (bits - 1)) - 1;
        } else {
            lo = 0;
            hi = (1 << bits) - 1;
            for (int r = 0; r < u.scales().length; r++) {
                if (u.scales()[r] != u.scales()[0] || !(u.scales()[r] > 0f) || u.zeros()[r] != hi / 2f) {
                    throw new CorruptFileException(file, where + ": row " + r + " has scale " + u.scales()[r] + " and zero "
                            + u.zeros()[r] + ", DoReFa weights at " + bits + " bits have one positive scale per tensor and"
                            + " the zero " + hi / 2f);
                }
            }
        }
        for (int i = 0; i < u.codes().length; i++) {
            if (u.codes()[i] < lo || u.codes()[i] > hi) {
                throw new CorruptFileException(file, where + ": code " + u.codes()[i] + " at " + i + " lies outside "
                        + lo + ".." + hi + " of its " + bits + "-bit weights");
            }
        }
        if (method == LayerQuantizer.Method.LSQ) {
            for (float s : u.scales()) {
                if (!(s > 0f) || !Float.isFinite(s)) {
                    throw new CorruptFileException(file, where + ": weight scale " + s + " is not a positive number");
                }
            }
        }
    }
}
