package dev.lowbit.models;

import dev.lowbit.format.Layouts;
import dev.lowbit.format.io.internal.MappedInput;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.Objects;

/**
 * An unquantized tensor: a name, an element type, a shape (slowest-varying dimension first, as in ONNX
 * and safetensors) and its little-endian bytes, held as a read-only view. Keeping the bytes rather than
 * fp32 values lets a tensor of any {@link DType} be written back bit for bit; only the float types convert
 * to fp32 ({@link #toFloats}).
 */
public final class DenseTensor {
    private final String name;
    private final DType dtype;
    private final long[] shape;
    private final MemorySegment bytes;

    /**
     * @throws IllegalArgumentException if a dimension is negative or {@code bytes} is not
     *                                  {@code elements * dtype.bytes()} long
     */
    public DenseTensor(String name, DType dtype, long[] shape, MemorySegment bytes) {
        this.name = Objects.requireNonNull(name, "name");
        this.dtype = Objects.requireNonNull(dtype, "dtype");
        this.shape = Objects.requireNonNull(shape, "shape").clone();
        long want = byteSize(dtype, this.shape);
        if (want < 0) {
            throw new IllegalArgumentException("tensor '" + name + "' shape " + Arrays.toString(shape)
                    + " has a negative dimension or a byte count of " + dtype + " that overflows 64 bits");
        }
        Objects.requireNonNull(bytes, "bytes");
        if (bytes.byteSize() != want) {
            throw new IllegalArgumentException("tensor '" + name + "' is " + dtype + " " + Arrays.toString(shape)
                    + ", which needs " + want + " bytes, got " + bytes.byteSize());
        }
        this.bytes = bytes.asReadOnly();
    }

    /** An F32 tensor holding a copy of {@code values}. */
    public static DenseTensor ofFloats(String name, long[] shape, float[] values) {
        MemorySegment seg = MemorySegment.ofArray(new byte[Math.multiplyExact(values.length, 4)]);
        MemorySegment.copy(values, 0, seg, Layouts.F32, 0, values.length);
        return new DenseTensor(name, DType.F32, shape, seg);
    }

    /** The product of the dimensions, or -1 if one is negative or the product overflows. */
    static long elements(long[] shape) {
        long n = 1;
        try {
            for (long d : shape) {
                if (d < 0) {
                    return -1;
                }
                n = Math.multiplyExact(n, d);
            }
        } catch (ArithmeticException e) {
            return -1;
        }
        return n;
    }

    /** The bytes of a tensor of this type and shape, or -1 if a dimension is negative or the count overflows. */
    static long byteSize(DType dtype, long[] shape) {
        long n = elements(shape);
        if (n < 0) {
            return -1;
        }
        try {
            return Math.multiplyExact(n, dtype.bytes());
        } catch (ArithmeticException e) {
            return -1;
        }
    }

    public String name() {
        return name;
    }

    public DType dtype() {
        return dtype;
    }

    /** A copy of the shape, slowest-varying dimension first. */
    public long[] shape() {
        return shape.clone();
    }

    public int rank() {
        return shape.length;
    }

    public long elements() {
        return elements(shape);
    }

    /** The little-endian element bytes (read-only). */
    public MemorySegment bytes() {
        return bytes;
    }

    /**
     * The values as fp32, row-major. The bytes are copied to the heap first, through the guarded path that
     * turns a mapped file shrinking underneath into an exception rather than a crash.
     *
     * @throws IllegalStateException if the type is not F32, F16 or BF16 ({@link DType#quantizable()}), or
     *                               the tensor has more elements than a Java array holds
     * @throws UncheckedIOException  with a {@link dev.lowbit.format.io.MappedInputException} if the tensor is a
     *                               view of a file that changed while mapped
     */
    public float[] toFloats() {
        if (!dtype.quantizable()) {
            throw new IllegalStateException("tensor '" + name + "' is " + dtype + ", which does not convert to floats:"
                    + " only F32, F16 and BF16 tensors do (the others are kept as they are)");
        }
        long n = elements();
        if (n > Integer.MAX_VALUE - 8) {
            throw new IllegalStateException("tensor '" + name + "' has " + n + " elements, too many for a float[]");
        }
        return toFloats(new float[(int) n]);
    }

    /**
     * {@link #toFloats()} into the first {@link #elements()} entries of {@code out}, which a caller reuses for
     * tensor after tensor (a band of rows of a large matrix, say).
     *
     * @return {@code out}
     * @throws IllegalArgumentException if {@code out} is shorter than the tensor
     */
    public float[] toFloats(float[] out) {
        if (!dtype.quantizable()) {
            throw new IllegalStateException("tensor '" + name + "' is " + dtype + ", which does not convert to floats:"
                    + " only F32, F16 and BF16 tensors do (the others are kept as they are)");
        }
        if (out.length < elements()) {
            throw new IllegalArgumentException("tensor '" + name + "' has " + elements() + " elements, more than the "
                    + out.length + " of the array");
        }
        int[] at = {0};
        try {
            MappedInput.read(bytes, (buf, len) -> {
                MemorySegment chunk = MemorySegment.ofArray(buf).asSlice(0, len);
                int count = len / dtype.bytes();
                if (dtype == DType.F32) {
                    MemorySegment.copy(chunk, Layouts.F32, 0, out, at[0], count);
                } else {
                    for (int i = 0; i < count; i++) {
                        out[at[0] + i] = dtype.get(chunk, i);
                    }
                }
                at[0] += count;
            });
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out;
    }

    @Override
    public String toString() {
        return "DenseTensor[" + name + ", " + dtype + " " + Arrays.toString(shape) + "]";
    }
}
