package dev.lowbit.format.io.internal;

import dev.lowbit.format.io.MappedInputException;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.ref.WeakReference;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The one guarded path from a memory-mapped input file to the heap. If another process truncates a file
 * while it is mapped, touching a page past the new end raises SIGBUS. The JVM turns that fault into an
 * {@link InternalError} inside {@link MemorySegment#copy} (it guards its copy routines), but not inside
 * intrinsics such as CRC32C, where it kills the process. So every write or checksum of mapped bytes first
 * copies them here, chunk by chunk, into a heap buffer, and a fault becomes a {@link MappedInputException}
 * naming the file.
 *
 * <p>The readers map their input through {@link #map}, which remembers which file each mapping shows for as
 * long as its arena is alive, so that a fault anywhere in a view of the mapping names the right file.
 */
public final class MappedInput {
    private MappedInput() {
    }

    /** Bytes copied from a mapping at a time. */
    public static final int CHUNK = 1 << 20;

    private record Mapping(Path file, long address, long size, WeakReference<MemorySegment.Scope> scope) {
        boolean alive() {
            MemorySegment.Scope s = scope.get();
            return s != null && s.isAlive();
        }
    }

    private static final List<Mapping> MAPPINGS = new ArrayList<>();

    /** Maps the first {@code size} bytes of {@code ch} (the file {@code file}) read-only into {@code arena}. */
    public static MemorySegment map(FileChannel ch, Path file, long size, Arena arena) throws IOException {
        MemorySegment m = ch.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
        if (size > 0) {
            synchronized (MAPPINGS) {
                MAPPINGS.removeIf(x -> !x.alive());
                MAPPINGS.add(new Mapping(file, m.address(), size, new WeakReference<>(m.scope())));
            }
        }
        return m;
    }

    /** The live mapping made by {@link #map} that holds {@code address}, or null. */
    private static Mapping find(long address) {
        synchronized (MAPPINGS) {
            for (int i = MAPPINGS.size() - 1; i >= 0; i--) {
                Mapping m = MAPPINGS.get(i);
                if (address - m.address >= 0 && address - m.address < m.size && m.alive()) {
                    return m;
                }
            }
            return null;
        }
    }

    /** Whether {@code e} is the JVM's report of a fault in a guarded memory access (a vanished mapped page). */
    public static boolean isFault(Throwable e) {
        return e instanceof InternalError && e.getMessage() != null && e.getMessage().contains("unsafe memory access");
    }

    /** The exception for a fault while reading {@code file}, mapped when it had {@code was} bytes. */
    public static MappedInputException changed(Path file, long was, Throwable cause) {
        long now;
        try {
            now = Files.size(file);
        } catch (IOException e) {
            now = -1;
        }
        return new MappedInputException(file, now, was, cause);
    }

    /**
     * The exception for {@code e}, a fault while reading the byte at {@code address}; {@code e} itself is
     * rethrown when it is not a fault.
     */
    public static MappedInputException fault(InternalError e, long address) {
        if (!isFault(e)) {
            throw e;
        }
        Mapping m = find(address);
        return m == null ? new MappedInputException(null, -1, -1, e) : changed(m.file, m.size, e);
    }

    /** {@link MemorySegment#copy(MemorySegment, long, MemorySegment, long, long)}, a fault in {@code src} reported. */
    public static void copy(MemorySegment src, long srcOffset, MemorySegment dst, long dstOffset, long bytes)
            throws MappedInputException {
        for (long done = 0; done < bytes; done += CHUNK) {
            long n = Math.min(CHUNK, bytes - done);
            try {
                MemorySegment.copy(src, srcOffset + done, dst, dstOffset + done, n);
            } catch (InternalError e) {
                throw fault(e, src.address() + srcOffset + done);
            }
        }
    }

    /** Receives one chunk of a segment's bytes: {@code buf[0, n)}, valid until the call returns. */
    public interface Chunk {
        void accept(byte[] buf, int n) throws IOException;
    }

    /** Hands {@code src}'s bytes to {@code sink} in heap chunks of at most {@link #CHUNK} bytes, in order. */
    public static void read(MemorySegment src, Chunk sink) throws IOException {
        byte[] stage = new byte[(int) Math.min(src.byteSize(), CHUNK)];
        MemorySegment st = MemorySegment.ofArray(stage);
        for (long off = 0; off < src.byteSize(); off += stage.length) {
            int n = (int) Math.min(stage.length, src.byteSize() - off);
            copy(src, off, st, 0, n);
            sink.accept(stage, n);
        }
    }

    /**
     * A heap copy of {@code src}.
     *
     * @throws IllegalArgumentException if it has more bytes than a Java array holds
     */
    public static byte[] toArray(MemorySegment src) throws MappedInputException {
        if (src.byteSize() > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException(src.byteSize() + " bytes are too many for one array");
        }
        byte[] out = new byte[(int) src.byteSize()];
        copy(src, 0, MemorySegment.ofArray(out), 0, out.length);
        return out;
    }
}
