package dev.lowbit.bindings.nativelib;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.util.ArrayList;
import java.util.List;

/**
 * Memory placed against an inaccessible page, for tests of native kernels: {@link #endingAtGuard} returns a
 * segment whose last byte is followed by a {@code PROT_NONE} page, {@link #startingAfterGuard} one whose first
 * byte is preceded by one. A kernel that reads or writes one byte outside such a segment crashes the JVM instead
 * of passing by luck. Mapped with mmap and protected with mprotect from libc; {@link #close} unmaps all.
 * Not thread-safe; Linux only.
 */
public final class GuardPages implements AutoCloseable {
    private static final int PROT_NONE = 0;
    private static final int PROT_READ = 1;
    private static final int PROT_WRITE = 2;
    private static final int MAP_PRIVATE = 0x02;
    private static final int MAP_ANONYMOUS = 0x20;

    private static final Linker LINKER = Linker.nativeLinker();
    private static final MethodHandle MMAP = libc("mmap", FunctionDescriptor.of(ValueLayout.ADDRESS, ValueLayout.ADDRESS,
            ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG));
    private static final MethodHandle MPROTECT = libc("mprotect", FunctionDescriptor.of(ValueLayout.JAVA_INT,
            ValueLayout.ADDRESS, ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT));
    private static final MethodHandle MUNMAP = libc("munmap", FunctionDescriptor.of(ValueLayout.JAVA_INT,
            ValueLayout.ADDRESS, ValueLayout.JAVA_LONG));
    private static final MethodHandle GETPAGESIZE = libc("getpagesize", FunctionDescriptor.of(ValueLayout.JAVA_INT));

    private record Mapping(MemorySegment base, long size) {
    }

    private final List<Mapping> mappings = new ArrayList<>();
    private final long page;

    public GuardPages() {
        try {
            page = (int) GETPAGESIZE.invokeExact();
        } catch (Throwable e) {
            throw new IllegalStateException("getpagesize failed", e);
        }
    }

    /** {@code bytes} of zeroed memory whose end touches a PROT_NONE page (an empty segment sits right at it). */
    public MemorySegment endingAtGuard(long bytes) {
        MemorySegment data = map(bytes);
        long dataPages = pages(bytes);
        return data.asSlice(dataPages * page - bytes, bytes);
    }

    /** {@code bytes} of zeroed memory right after a PROT_NONE page. */
    public MemorySegment startingAfterGuard(long bytes) {
        return map(bytes).asSlice(0, bytes);
    }

    /** A copy of {@code src} in memory that ends at a guard page. */
    public MemorySegment copyEndingAtGuard(MemorySegment src) {
        MemorySegment s = endingAtGuard(src.byteSize());
        s.copyFrom(src);
        return s;
    }

    private long pages(long bytes) {
        if (bytes < 0) {
            throw new IllegalArgumentException("bytes must be non-negative, got " + bytes);
        }
        return Math.max(1, (bytes + page - 1) / page);
    }

    /** Maps guard | data pages | guard and returns the data pages. */
    private MemorySegment map(long bytes) {
        long dataPages = pages(bytes);
        long size = (dataPages + 2) * page;
        try {
            MemorySegment base = (MemorySegment) MMAP.invokeExact(MemorySegment.NULL, size, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0L);
            if (base.address() == -1L || base.equals(MemorySegment.NULL)) {
                throw new IllegalStateException("mmap of " + size + " bytes failed");
            }
            base = base.reinterpret(size);
            mappings.add(new Mapping(base, size));
            protect(base.asSlice(0, page));
            protect(base.asSlice((dataPages + 1) * page, page));
            return base.asSlice(page, dataPages * page);
        } catch (RuntimeException e) {
            throw e;
        } catch (Throwable e) {
            throw new IllegalStateException("mmap failed", e);
        }
    }

    private static void protect(MemorySegment s) throws Throwable {
        int rc = (int) MPROTECT.invokeExact(s, s.byteSize(), PROT_NONE);
        if (rc != 0) {
            throw new IllegalStateException("mprotect failed");
        }
    }

    @Override
    public void close() {
        for (Mapping m : mappings) {
            try {
                int rc = (int) MUNMAP.invokeExact(m.base(), m.size());
                if (rc != 0) {
                    throw new IllegalStateException("munmap failed");
                }
            } catch (RuntimeException e) {
                throw e;
            } catch (Throwable e) {
                throw new IllegalStateException("munmap failed", e);
            }
        }
        mappings.clear();
    }

    private static MethodHandle libc(String name, FunctionDescriptor fd) {
        MemorySegment f = LINKER.defaultLookup().find(name)
                .orElseThrow(() -> new IllegalStateException("libc has no " + name));
        return LINKER.downcallHandle(f, fd);
    }
}
