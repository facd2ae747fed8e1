package dev.lowbit.models.fuzz;

import org.junit.jupiter.api.extension.AnnotatedElementContext;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.io.TempDirFactory;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * A {@code @TempDir} in {@code /dev/shm} where Linux has one, else in the default place. The fuzzer writes
 * every input to a file before a reader maps it, and on a disk-backed {@code /tmp} writing, mapping and
 * unmapping a small file costs far more than reading it.
 */
final class MemoryTempDir implements TempDirFactory {
    private static final Path SHM = Path.of("/dev/shm");

    @Override
    public Path createTempDirectory(AnnotatedElementContext element, ExtensionContext context) throws Exception {
        if (Files.isDirectory(SHM) && Files.isWritable(SHM)) {
            return Files.createTempDirectory(SHM, "lowbit-fuzz");
        }
        return Files.createTempDirectory("lowbit-fuzz");
    }
}
