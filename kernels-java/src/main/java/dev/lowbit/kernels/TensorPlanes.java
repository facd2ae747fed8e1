package dev.lowbit.kernels;

import dev.lowbit.format.QuantFormat;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * Writable planes sized for one format and shape, for quantizing into memory the caller reuses.
 * {@code scales} and {@code zeros} are null where the format has no such plane.
 */
public record TensorPlanes(QuantFormat format, int rows, int cols, MemorySegment data, MemorySegment scales,
                           MemorySegment zeros) {

    public TensorPlanes {
        if (format == null) {
            throw new IllegalArgumentException("format must not be null");
        }
        if (rows < 0 || cols < 0) {
            throw new IllegalArgumentException("shape must be non-negative, got " + rows + "x" + cols);
        }
        if (!format.fitsRow(cols)) {
            throw new IllegalArgumentException(format + " holds whole blocks of " + format.groupSize()
                    + " elements only, but a row has " + cols);
        }
        check("data", data, (long) rows * format.rowBytes(cols));
        long params = (long) rows * format.groupsPerRow(cols) * format.scaleType().bytes();
        if (!format.isGgml()) {
            check("scales", scales, params);
        }
        if (format.hasZeroPlane()) {
            check("zeros", zeros, params);
        }
        for (MemorySegment s : new MemorySegment[] {data, scales, zeros}) {
            if (s != null && s.isReadOnly()) {
                throw new IllegalArgumentException("planes must be writable");
            }
        }
    }

    private static void check(String name, MemorySegment seg, long bytes) {
        if (seg == null || seg.byteSize() != bytes) {
            throw new IllegalArgumentException(name + " plane must be " + bytes + " bytes, got "
                    + (seg == null ? "none" : seg.byteSize()));
        }
    }

    /** Allocates planes for {@code format} at {@code rows x cols} in {@code arena}, 64-byte aligned. */
    public static TensorPlanes allocate(QuantFormat format, int rows, int cols, Arena arena) {
        long params = (long) rows * format.groupsPerRow(cols) * format.scaleType().bytes();
        MemorySegment data = alloc(arena, (long) rows * format.rowBytes(cols));
        MemorySegment scales = format.isGgml() ? null : alloc(arena, params);
        MemorySegment zeros = format.hasZeroPlane() ? alloc(arena, params) : null;
        return new TensorPlanes(format, rows, cols, data, scales, zeros);
    }

    private static MemorySegment alloc(Arena arena, long bytes) {
        return arena.allocate(Math.max(bytes, 1), 64).asSlice(0, bytes);
    }
}
