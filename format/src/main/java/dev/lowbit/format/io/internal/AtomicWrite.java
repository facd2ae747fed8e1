package dev.lowbit.format.io.internal;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.FileAttribute;
import java.nio.file.attribute.PosixFileAttributeView;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Writes that replace a file all at once: a temporary file {@code <name><digits>.tmp} in the same directory,
 * synced, then renamed, so that an interrupted write leaves no half file. While it is written, the temporary
 * file is listed in one JVM-wide set, and a shutdown hook (installed with the first write) deletes whatever
 * is listed, so that SIGINT and SIGTERM leave no {@code .tmp} behind either. Errors name the file the caller
 * asked for, never the temporary one. Shared by the lowbit container and the models module.
 */
public final class AtomicWrite {
    private AtomicWrite() {
    }

    public interface Body {
        void write(FileChannel ch) throws IOException;
    }

    /** Temporary files being written now, deleted by the shutdown hook if the JVM exits first. */
    private static final Set<Path> PENDING = ConcurrentHashMap.newKeySet();
    private static boolean hooked;

    private static synchronized void hook() throws IOException {
        if (hooked) {
            return;
        }
        try {
            Runtime.getRuntime().addShutdownHook(new Thread(AtomicWrite::deletePending, "lowbit-delete-temporary-files"));
        } catch (IllegalStateException e) {
            throw new IOException("not starting a write: the JVM is shutting down", e);
        }
        hooked = true;
    }

    private static void deletePending() {
        for (Path p : PENDING) {
            try {
                Files.deleteIfExists(p);
            } catch (IOException | RuntimeException e) {
                // Best effort while the JVM exits: nothing is left to report to.
            }
        }
    }

    /** The temporary files being written at this moment (for tests). */
    static Set<Path> pending() {
        return Set.copyOf(PENDING);
    }

    /**
     * Runs {@code body} on a fresh temporary file and renames it over {@code target}; on failure, or if the
     * JVM is stopped by a signal that runs shutdown hooks, no temporary file is left.
     *
     * @throws IOException naming {@code target} as given: {@code <target> is a directory}, or the file-system
     *                     error with {@code target} as its file; errors of {@code body} that name another
     *                     file (an input, say) pass unchanged
     */
    public static void write(Path target, Body body) throws IOException {
        Path abs = target.toAbsolutePath();
        if (Files.isDirectory(abs)) {
            throw new IOException(target + " is a directory");
        }
        Path parent = abs.getParent();
        if (parent == null || !Files.isDirectory(parent)) {
            throw new NoSuchFileException(target.toString(), null, "its directory does not exist");
        }
        hook();
        Path tmp = null;
        try {
            tmp = create(parent, abs.getFileName().toString());
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE)) {
                body.write(ch);
                ch.force(true);
            }
            permissions(tmp, abs);
            Files.move(tmp, abs, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (Throwable t) {
            if (tmp != null) {
                try {
                    Files.deleteIfExists(tmp);
                } catch (IOException e) {
                    t.addSuppressed(e);
                }
            }
            if (t instanceof IOException e) {
                throw named(e, tmp, abs, target);
            }
            throw t;
        } finally {
            if (tmp != null) {
                PENDING.remove(tmp);
            }
        }
        try (FileChannel dir = FileChannel.open(parent, StandardOpenOption.READ)) {
            dir.force(true);
        } catch (IOException e) {
            // The file is complete and synced; only the rename's durability is left to the OS.
        }
    }

    /**
     * Creates {@code <name><digits>.tmp} in {@code dir}, readable by its owner only, listed in
     * {@link #PENDING} before it exists so that no moment is left when a signal could orphan it.
     */
    private static Path create(Path dir, String name) throws IOException {
        // Keep the name short enough that the digits and suffix still fit a 255-byte file name.
        int cps = name.codePointCount(0, name.length());
        String prefix = cps <= 48 ? name : name.substring(0, name.offsetByCodePoints(0, 48));
        boolean posix = Files.getFileStore(dir).supportsFileAttributeView(PosixFileAttributeView.class);
        FileAttribute<?>[] attrs = posix
                ? new FileAttribute<?>[] {PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------"))}
                : new FileAttribute<?>[0];
        for (int attempt = 0; ; attempt++) {
            Path tmp = dir.resolve(prefix + Long.toUnsignedString(ThreadLocalRandom.current().nextLong()) + ".tmp");
            PENDING.add(tmp);
            try {
                return Files.createFile(tmp, attrs);
            } catch (FileAlreadyExistsException e) {
                PENDING.remove(tmp);
                if (attempt == 100) {
                    throw e;
                }
            } catch (IOException | RuntimeException e) {
                PENDING.remove(tmp);
                throw e;
            }
        }
    }

    /**
     * {@code e} with {@code target} in place of the temporary file (or the absolute target) it names; a
     * bare I/O error (a full disk, say) gets {@code target} in front; others pass unchanged.
     */
    private static IOException named(IOException e, Path tmp, Path abs, Path target) {
        if (e instanceof FileSystemException f) {
            boolean ours = names(f.getFile(), tmp, abs) || names(f.getOtherFile(), tmp, abs);
            if (!ours) {
                return e;
            }
            String t = target.toString();
            FileSystemException out = switch (f) {
                case NoSuchFileException x -> new NoSuchFileException(t, null, f.getReason());
                case AccessDeniedException x -> new AccessDeniedException(t, null, f.getReason());
                case FileAlreadyExistsException x -> new FileAlreadyExistsException(t, null, f.getReason());
                default -> new FileSystemException(t, null, f.getReason());
            };
            out.initCause(e);
            return out;
        }
        if (e.getClass() == IOException.class) {
            return new IOException(target + ": " + e.getMessage(), e);
        }
        return e;
    }

    private static boolean names(String file, Path tmp, Path abs) {
        return file != null && ((tmp != null && file.equals(tmp.toString())) || file.equals(abs.toString()));
    }

    /**
     * A temporary file is created readable by its owner only; the result gets the permissions of the file
     * it replaces, or {@code rw-r--r--} when it is new, like a file written in place.
     */
    private static void permissions(Path tmp, Path target) throws IOException {
        if (!Files.getFileStore(tmp).supportsFileAttributeView(PosixFileAttributeView.class)) {
            return;
        }
        Set<PosixFilePermission> p = Files.exists(target)
                ? Files.getPosixFilePermissions(target)
                : PosixFilePermissions.fromString("rw-r--r--");
        Files.setPosixFilePermissions(tmp, p);
    }

    /**
     * Appends {@code seg} (native or heap, any element type), staged through a heap buffer by
     * {@link MappedInput#read}, so that a mapped input that shrinks underneath is a
     * {@link dev.lowbit.format.io.MappedInputException} and not a crash.
     */
    public static void append(FileChannel ch, MemorySegment seg) throws IOException {
        MappedInput.read(seg, (buf, n) -> {
            ByteBuffer b = ByteBuffer.wrap(buf, 0, n);
            while (b.hasRemaining()) {
                ch.write(b);
            }
        });
    }

    /** Appends {@code n} zero bytes. */
    public static void zeros(FileChannel ch, long n) throws IOException {
        ByteBuffer b = ByteBuffer.allocate((int) n);
        while (b.hasRemaining()) {
            ch.write(b);
        }
    }
}
