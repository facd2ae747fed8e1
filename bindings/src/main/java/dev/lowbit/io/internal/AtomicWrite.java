package dev.lowbit.io.internal;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;

/**
 * Writes that replace a file all at once: a temporary file in the same directory, synced, then renamed, so
 * that an interrupted write leaves no half file. Shared by the lowbit container and the models module.
 */
public final class AtomicWrite {
    private AtomicWrite() {
    }

    public interface Body {
        void write(FileChannel ch) throws IOException;
    }

    /** Runs {@code body} on a fresh temporary file and renames it over {@code target}; on failure no file is left. */
    public static void write(Path target, Body body) throws IOException {
        Path abs = target.toAbsolutePath();
        Path tmp = Files.createTempFile(abs.getParent(), abs.getFileName().toString(), ".tmp");
        try {
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE)) {
                body.write(ch);
                ch.force(true);
            }
            permissions(tmp, abs);
            Files.move(tmp, abs, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (Throwable t) {
            try {
                Files.deleteIfExists(tmp);
            } catch (IOException e) {
                t.addSuppressed(e);
            }
            throw t;
        }
        try (FileChannel dir = FileChannel.open(abs.getParent(), StandardOpenOption.READ)) {
            dir.force(true);
        } catch (IOException e) {
            // The file is complete and synced; only the rename's durability is left to the OS.
        }
    }

    /**
     * A temporary file is created readable by its owner only; the result gets the permissions of the file
     * it replaces, or {@code rw-r--r--} when it is new, like a file written in place.
     */
    private static void permissions(Path tmp, Path target) throws IOException {
        if (!Files.getFileStore(tmp).supportsFileAttributeView(java.nio.file.attribute.PosixFileAttributeView.class)) {
            return;
        }
        java.util.Set<java.nio.file.attribute.PosixFilePermission> p = Files.exists(target)
                ? Files.getPosixFilePermissions(target)
                : java.nio.file.attribute.PosixFilePermissions.fromString("rw-r--r--");
        Files.setPosixFilePermissions(tmp, p);
    }

    /** Appends {@code seg} (native or heap, any element type) through a 1 MiB staging buffer. */
    public static void append(FileChannel ch, MemorySegment seg) throws IOException {
        byte[] stage = new byte[(int) Math.min(seg.byteSize(), 1 << 20)];
        MemorySegment st = MemorySegment.ofArray(stage);
        for (long off = 0; off < seg.byteSize(); off += stage.length) {
            int n = (int) Math.min(stage.length, seg.byteSize() - off);
            MemorySegment.copy(seg, off, st, 0, n);
            ByteBuffer b = ByteBuffer.wrap(stage, 0, n);
            while (b.hasRemaining()) {
                ch.write(b);
            }
        }
    }

    /** Appends {@code n} zero bytes. */
    public static void zeros(FileChannel ch, long n) throws IOException {
        ByteBuffer b = ByteBuffer.allocate((int) n);
        while (b.hasRemaining()) {
            ch.write(b);
        }
    }
}
