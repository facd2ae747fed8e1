package dev.lowbit.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.List;

/**
 * Where a command writes its result, checked before any work starts: files are compared by identity
 * (the real path, then the file key, which is the device and inode on Linux), never by the path as
 * written, so that a symbolic link, {@code /proc/self/cwd/...} or a linked folder that leads to an input
 * is refused as that input.
 *
 * <ul>
 *   <li>the output must not be any file the run reads;</li>
 *   <li>an existing output must be a regular file (never a folder, FIFO, socket or device) and is replaced
 *       only with {@code --force};</li>
 *   <li>its folder must exist and take a new file: a file is created there and deleted again, so that a
 *       read-only folder is found before the work, not after it.</li>
 * </ul>
 *
 * The result is written through {@code dev.lowbit.format.io.internal.AtomicWrite}: a temporary file in the same
 * folder, renamed over {@link #target()} when complete and deleted on failure or on SIGINT/SIGTERM.
 *
 * @param asked  the path as the user gave it, for messages
 * @param target the path written: the real path of the folder joined with the file's name, or the real
 *               path of the file a symbolic link leads to (the link itself is kept)
 */
record OutputFile(Path asked, Path target) {

    /**
     * Checks {@code out} against {@code inputs} (the files the run reads; a null entry is skipped, as is an
     * input that is not a file, such as the built-in model).
     *
     * @throws IllegalArgumentException with one line naming {@code out} when it must not be written
     */
    static OutputFile check(Path out, boolean force, List<Path> inputs) throws IOException {
        Path target = resolve(out);
        if (Files.exists(target, LinkOption.NOFOLLOW_LINKS)) {
            BasicFileAttributes a = Files.readAttributes(target, BasicFileAttributes.class);
            if (!a.isRegularFile()) {
                throw new IllegalArgumentException(out + " is " + kind(target, a) + ", not a regular file: give --out a file name");
            }
            for (Path in : inputs) {
                if (in != null && Files.exists(in) && Files.isSameFile(target, in)) {
                    throw new IllegalArgumentException(out + " is the same file as the input " + in
                            + ": writing it would destroy the input; choose another --out");
                }
            }
            if (!force) {
                throw new IllegalArgumentException(out + " exists; pass --force to replace it");
            }
            if (!Files.isWritable(target)) {
                throw new IllegalArgumentException(out + " exists and is not writable");
            }
        } else {
            for (Path in : inputs) {
                if (in != null && Files.exists(in) && in.toRealPath().equals(target)) {
                    throw new IllegalArgumentException(out + " is the same file as the input " + in
                            + "; choose another --out");
                }
            }
        }
        probe(out, target.getParent());
        return new OutputFile(out, target);
    }

    /** The real folder joined with the name; through a symbolic link, the real file it leads to. */
    private static Path resolve(Path out) throws IOException {
        Path abs = out.toAbsolutePath();
        if (abs.getFileName() == null) {
            throw new IllegalArgumentException("--out '" + out + "' names no file");
        }
        if (Files.isSymbolicLink(abs) && Files.exists(abs)) {
            return abs.toRealPath();
        }
        if (Files.isSymbolicLink(abs)) {
            throw new IllegalArgumentException(out + " is a symbolic link to a missing file; give --out a file name");
        }
        Path parent = abs.getParent();
        if (!Files.isDirectory(parent)) {
            throw new IllegalArgumentException("the folder of --out does not exist: " + parent);
        }
        return parent.toRealPath().resolve(abs.getFileName());
    }

    private static String kind(Path p, BasicFileAttributes a) throws IOException {
        if (a.isDirectory()) {
            return "a folder";
        }
        if (a.isSymbolicLink()) {
            return "a symbolic link";
        }
        Object mode = null;
        try {
            mode = Files.getAttribute(p, "unix:mode");
        } catch (UnsupportedOperationException | IllegalArgumentException e) {
            // not a Unix file system: "a special file" below
        }
        if (mode instanceof Integer m) {
            switch (m & 0170000) {
                case 0010000:
                    return "a FIFO";
                case 0020000:
                    return "a character device";
                case 0060000:
                    return "a block device";
                case 0140000:
                    return "a socket";
                default:
                    break;
            }
        }
        return "a special file";
    }

    /** Creates and deletes a file in {@code folder}, so that a folder that takes none is found now. */
    private static void probe(Path out, Path folder) throws IOException {
        Path probe;
        try {
            probe = Files.createTempFile(folder, ".lowbit-probe-", ".tmp");
        } catch (NoSuchFileException e) {
            if (!Files.isDirectory(folder)) {
                throw new IllegalArgumentException("the folder of --out does not exist: " + folder);
            }
            throw new IllegalArgumentException("cannot write " + out + ": its folder " + folder + " does not take new files");
        } catch (IOException e) {
            String why = e instanceof java.nio.file.AccessDeniedException ? "permission denied"
                    : e instanceof java.nio.file.FileSystemException f && f.getReason() != null ? f.getReason()
                    : e.getClass().getSimpleName();
            throw new IllegalArgumentException("cannot write " + out + ": its folder " + folder
                    + " does not take new files (" + why + ")");
        }
        Files.deleteIfExists(probe);
    }
}
