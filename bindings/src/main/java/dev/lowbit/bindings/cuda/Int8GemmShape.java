package dev.lowbit.bindings.cuda;

/**
 * The shape of an int8 x int8 -> int32 product {@code C = A^T B} in cuBLASLt's column-major "TN" form, checked
 * against the cuBLASLt documentation's conditions for integer (IMMA) matmuls before any call:
 * <ul>
 *   <li>only TN: {@code A} is {@code k x m} column-major (so {@code A^T}, {@code m x k}, is row-major: each of the
 *       {@code m} weight rows holds {@code k} contiguous codes), {@code B} is {@code k x n} column-major (each of
 *       the {@code n} tokens holds {@code k} contiguous codes), {@code C} is {@code m x n} column-major int32;</li>
 *   <li>{@code m} and {@code k} multiples of 4, and the leading dimensions {@code lda}, {@code ldb}, {@code ldc}
 *       multiples of 4 and at least the rows they stride over ({@code lda, ldb >= k}, {@code ldc >= m});</li>
 *   <li>every matrix pointer 4-byte aligned (cuBLASLt runs faster at 16: {@link #preferredAlignment()});</li>
 *   <li>dimensions within int32, as cuBLASLt's layouts require.</li>
 * </ul>
 * A violation is an {@link IllegalArgumentException} naming the argument and value.
 */
public record Int8GemmShape(int m, int n, int k, long lda, long ldb, long ldc) {

    /** The pointer alignment cuBLASLt requires of IMMA operands, in bytes. */
    public static final int REQUIRED_ALIGNMENT = 4;

    public Int8GemmShape {
        positive("m", m);
        positive("n", n);
        positive("k", k);
        multipleOf4("m", m);
        multipleOf4("k", k);
        leading("lda", lda, k, "k");
        leading("ldb", ldb, k, "k");
        leading("ldc", ldc, m, "m");
    }

    /** The packed shape: {@code lda = ldb = k}, {@code ldc = m}. */
    public static Int8GemmShape packed(int m, int n, int k) {
        return new Int8GemmShape(m, n, k, k, k, m);
    }

    /** The alignment at which cuBLASLt picks its fastest kernels, 16 bytes. */
    public static int preferredAlignment() {
        return 16;
    }

    /** Bytes that {@code A} spans: {@code lda * (m - 1) + k}. */
    public long aBytes() {
        return lda * (m - 1L) + k;
    }

    /** Bytes that {@code B} spans: {@code ldb * (n - 1) + k}. */
    public long bBytes() {
        return ldb * (n - 1L) + k;
    }

    /** Bytes that {@code C} spans: {@code 4 * (ldc * (n - 1) + m)}. */
    public long cBytes() {
        return 4L * (ldc * (n - 1L) + m);
    }

    /**
     * Checks device pointers and buffer sizes for this shape.
     *
     * @throws IllegalArgumentException for a misaligned pointer or a buffer too small
     */
    public void checkBuffers(long a, long aSize, long b, long bSize, long c, long cSize) {
        aligned("A", a);
        aligned("B", b);
        aligned("C", c);
        fits("A", aSize, aBytes());
        fits("B", bSize, bBytes());
        fits("C", cSize, cBytes());
    }

    private static void positive(String name, int v) {
        if (v < 1) {
            throw new IllegalArgumentException(name + " must be at least 1, got " + v);
        }
    }

    private static void multipleOf4(String name, long v) {
        if (v % 4 != 0) {
            throw new IllegalArgumentException(name + " must be a multiple of 4 for cuBLASLt int8 matmuls, got " + v);
        }
    }

    private static void leading(String name, long ld, int min, String minName) {
        if (ld < min) {
            throw new IllegalArgumentException(name + " must be at least " + minName + " = " + min + ", got " + ld);
        }
        if (ld > Integer.MAX_VALUE) {
            throw new IllegalArgumentException(name + " must fit in int32, got " + ld);
        }
        multipleOf4(name, ld);
    }

    private static void aligned(String name, long pointer) {
        if (pointer == 0) {
            throw new IllegalArgumentException(name + " is a null device pointer");
        }
        if (pointer % REQUIRED_ALIGNMENT != 0) {
            throw new IllegalArgumentException(name + " must be " + REQUIRED_ALIGNMENT + "-byte aligned, got 0x"
                    + Long.toHexString(pointer));
        }
    }

    private static void fits(String name, long have, long need) {
        if (have < need) {
            throw new IllegalArgumentException(name + " needs " + need + " bytes, got " + have);
        }
    }
}
