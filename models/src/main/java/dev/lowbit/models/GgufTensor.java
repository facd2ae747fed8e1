package dev.lowbit.models;

import dev.lowbit.format.QuantFormat;
import dev.lowbit.format.QuantizedTensor;

import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.Objects;

/**
 * A tensor of a GGUF file: name, ggml type, dimensions in ggml order ({@code ne[0]}, the fastest-varying,
 * first: a {@code rows x cols} matrix has dims {@code [cols, rows]}) and its bytes, held read-only.
 */
public final class GgufTensor {
    /** ggml's GGML_MAX_DIMS. */
    public static final int MAX_DIMS = 4;
    /** ggml's GGML_MAX_NAME includes the terminating NUL, so a name has at most 63 bytes. */
    public static final int MAX_NAME_BYTES = 63;

    private final String name;
    private final GgmlType type;
    private final long[] dims;
    private final MemorySegment data;

    /**
     * @throws IllegalArgumentException if the name is empty or longer than 63 UTF-8 bytes, there are more
     *                                  than 4 dims, {@code dims[0]} is not a whole number of blocks, or
     *                                  {@code data} does not have exactly the bytes the type and dims need
     */
    public GgufTensor(String name, GgmlType type, long[] dims, MemorySegment data) {
        this.name = Objects.requireNonNull(name, "name");
        this.type = Objects.requireNonNull(type, "type");
        this.dims = Objects.requireNonNull(dims, "dims").clone();
        String problem = check(name, type, this.dims);
        if (problem != null) {
            throw new IllegalArgumentException(problem);
        }
        long want = bytes(type, this.dims);
        if (Objects.requireNonNull(data, "data").byteSize() != want) {
            throw new IllegalArgumentException("tensor '" + name + "' is " + type + " " + Arrays.toString(dims)
                    + ", which needs " + want + " bytes, got " + data.byteSize());
        }
        this.data = data.asReadOnly();
    }

    /** Why these would not make a GGUF tensor that ggml loads, or null if they would. */
    static String check(String name, GgmlType type, long[] dims) {
        int nameBytes = name.getBytes(java.nio.charset.StandardCharsets.UTF_8).length;
        if (nameBytes == 0 || nameBytes > MAX_NAME_BYTES) {
            return "tensor name '" + name + "' has " + nameBytes + " UTF-8 bytes; ggml takes 1 to " + MAX_NAME_BYTES;
        }
        if (dims.length == 0 || dims.length > MAX_DIMS) {
            return "tensor '" + name + "' has " + dims.length + " dims; ggml takes 1 to " + MAX_DIMS;
        }
        if (DenseTensor.elements(dims) < 0 || bytes(type, dims) < 0) {
            return "tensor '" + name + "' dims " + Arrays.toString(dims) + " of " + type
                    + " have a negative entry or overflow a 64-bit byte count";
        }
        if (dims[0] % type.blockElements() != 0) {
            return "tensor '" + name + "' is " + type + " with rows of " + dims[0] + " elements, not a multiple of the "
                    + type.blockElements() + "-element block (GGUF has no partial blocks)";
        }
        return null;
    }

    /** Bytes of a tensor (whole blocks per row), or -1 if a dim is negative or the count overflows. */
    static long bytes(GgmlType type, long[] dims) {
        try {
            if (dims[0] < 0) {
                return -1;
            }
            long n = Math.multiplyExact(dims[0] / type.blockElements(), type.blockBytes());
            for (int i = 1; i < dims.length; i++) {
                if (dims[i] < 0) {
                    return -1;
                }
                n = Math.multiplyExact(n, dims[i]);
            }
            return n;
        } catch (ArithmeticException e) {
            return -1;
        }
    }

    /**
     * A Q8_0, Q4_0 or Q4_1 tensor as GGUF holds it: dims {@code [cols, rows]}, the same blocks.
     *
     * @throws IllegalArgumentException for other formats, rows that end in a partial block, or outliers
     */
    public static GgufTensor of(String name, QuantizedTensor q) {
        GgmlType type = GgmlType.of(q.format());
        if (type == null) {
            throw new IllegalArgumentException("tensor '" + name + "' is " + q.format()
                    + ", which GGUF cannot hold: lowbit writes q8_0, q4_0 and q4_1 to GGUF");
        }
        if (q.outliers() != null) {
            throw new IllegalArgumentException("tensor '" + name + "' has sparse outliers, which GGUF cannot hold");
        }
        return new GgufTensor(name, type, new long[]{q.cols(), q.rows()}, q.data());
    }

    /**
     * A dense tensor of a type GGUF holds (F64, F32, F16, BF16, I64, I32, I16, I8), its bytes unchanged;
     * its shape is reversed into ggml order.
     *
     * @throws IllegalArgumentException for the types GGUF has no plain type for (unsigned integers, BOOL,
     *                                  FP8), or more than 4 dims
     */
    public static GgufTensor of(DenseTensor t) {
        GgmlType type = GgmlType.of(t.dtype());
        if (type == null) {
            throw new IllegalArgumentException("tensor '" + t.name() + "' is " + t.dtype() + ", which GGUF cannot hold:"
                    + " its plain types are F64, F32, F16, BF16, I64, I32, I16 and I8");
        }
        long[] shape = t.shape();
        long[] dims = new long[Math.max(shape.length, 1)];
        Arrays.fill(dims, 1);
        for (int i = 0; i < shape.length; i++) {
            dims[i] = shape[shape.length - 1 - i];
        }
        return new GgufTensor(t.name(), type, dims, t.bytes());
    }

    /**
     * The tensor as a lowbit quantized matrix: {@code cols = dims[0]}, rows the product of the others.
     *
     * @throws IllegalStateException for the plain types, or more rows than an int holds
     */
    public QuantizedTensor toQuantized() {
        QuantFormat f = type.format();
        if (f == null) {
            throw new IllegalStateException("tensor '" + name + "' is " + type + ", not a quantized type; use toDense()");
        }
        long rows = DenseTensor.elements(Arrays.copyOfRange(dims, 1, dims.length));
        if (rows > Integer.MAX_VALUE || dims[0] > Integer.MAX_VALUE) {
            throw new IllegalStateException("tensor '" + name + "' " + Arrays.toString(dims) + " is too large for a QuantizedTensor");
        }
        return QuantizedTensor.of(f, (int) rows, (int) dims[0], data, null, null, null);
    }

    /**
     * A tensor of a plain type as a dense tensor over the same bytes, its shape in row-major order (dims
     * reversed). Integer types come back as I8 to I64 tensors, which {@link DenseTensor#toFloats} refuses.
     *
     * @throws IllegalStateException for quantized types
     */
    public DenseTensor toDense() {
        DType d = type.dtype();
        if (d == null) {
            throw new IllegalStateException("tensor '" + name + "' is " + type + ", a quantized type; use toQuantized()");
        }
        long[] shape = new long[dims.length];
        for (int i = 0; i < dims.length; i++) {
            shape[i] = dims[dims.length - 1 - i];
        }
        return new DenseTensor(name, d, shape, data);
    }

    public String name() {
        return name;
    }

    public GgmlType type() {
        return type;
    }

    /** A copy of the dims, {@code ne[0]} first. */
    public long[] dims() {
        return dims.clone();
    }

    /** The tensor's bytes (read-only). */
    public MemorySegment data() {
        return data;
    }

    @Override
    public String toString() {
        return "GgufTensor[" + name + ", " + type + " " + Arrays.toString(dims) + "]";
    }
}
