package dev.lowbit.models;

import dev.lowbit.format.Layouts;

import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.Objects;

/**
 * An unquantized tensor: a name, an element type, a shape (slowest-varying dimension first, as in ONNX
 * and safetensors) and its little-endian bytes, held as a read-only view. Keeping the bytes rather than
 * fp32 values lets an F16 or BF16 tensor be written back bit for bit.
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
        long n = elements(this.shape);
        if (n < 0 || n > Long.MAX_VALUE / dtype.bytes()) {
            throw new IllegalArgumentException("tensor '" + name + "' shape " + Arrays.toString(shape)
                    + " has a negative dimension or too many elements");
        }
        Objects.requireNonNull(bytes, "bytes");
        if (bytes.byteSize() != n * dtype.bytes()) {
            throw new IllegalArgumentException("tensor '" + name + "' is " + dtype + " " + Arrays.toString(shape)
                    + ", which needs " + n * dtype.bytes() + " bytes, got " + bytes.byteSize());
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
        for (long d : shape) {
            if (d < 0 || (d != 0 && n > Long.MAX_VALUE / d)) {
                return -1;
            }
            n *= d;
        }
        return n;
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
     * The values as fp32, row-major.
     *
     * @throws IllegalStateException if the tensor has more elements than a Java array holds
     */
    public float[] toFloats() {
        long n = elements();
        if (n > Integer.MAX_VALUE - 8) {
            throw new IllegalStateException("tensor '" + name + "' has " + n + " elements, too many for a float[]");
        }
        float[] out = new float[(int) n];
        if (dtype == DType.F32) {
            MemorySegment.copy(bytes, Layouts.F32, 0, out, 0, out.length);
        } else {
            for (int i = 0; i < out.length; i++) {
                out[i] = dtype.get(bytes, i);
            }
        }
        return out;
    }

    @Override
    public String toString() {
        return "DenseTensor[" + name + ", " + dtype + " " + Arrays.toString(shape) + "]";
    }
}
