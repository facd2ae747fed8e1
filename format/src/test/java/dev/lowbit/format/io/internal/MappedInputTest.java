package dev.lowbit.format.io.internal;

import dev.lowbit.format.io.MappedInputException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.SplittableRandom;
import java.util.zip.CRC32C;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * A mapped input file that another process truncates: every copy, checksum and write of its mapped bytes
 * ends in a one-line {@link MappedInputException} naming the file (the test truncates from this process,
 * which has the same effect on Linux). Without the guarded path the CRC-32C intrinsic dies of SIGBUS.
 */
class MappedInputTest {
    @TempDir
    Path dir;

    private static final int SIZE = 1 << 20;

    private Path file(String name) throws IOException {
        byte[] b = new byte[SIZE];
        new SplittableRandom(7).nextBytes(b);
        Path p = dir.resolve(name);
        Files.write(p, b);
        return p;
    }

    private static void truncate(Path p, long size) throws IOException {
        try (FileChannel ch = FileChannel.open(p, StandardOpenOption.WRITE)) {
            ch.truncate(size);
        }
    }

    private static String changed(Path p, long now, long was) {
        return p + ": the file changed while being read (it is now " + now + " bytes, was " + was + ")";
    }

    @Test
    void copiesChecksumsAndWritesOfATruncatedMappingNameTheFile() throws IOException {
        Path in = file("in.bin");
        try (Arena arena = Arena.ofConfined(); FileChannel ch = FileChannel.open(in, StandardOpenOption.READ)) {
            MemorySegment m = MappedInput.map(ch, in, SIZE, arena);
            MemorySegment view = m.asSlice(1000, SIZE - 2000).asReadOnly();
            // Before the file changes, the guarded checksum is the checksum of the bytes.
            CRC32C direct = new CRC32C();
            direct.update(Files.readAllBytes(in), 1000, SIZE - 2000);
            assertEquals(ContainerPlanes.hex(direct), ContainerPlanes.crc32c(view));
            truncate(in, 4096);
            String want = changed(in, 4096, SIZE);

            MappedInputException e = assertThrows(MappedInputException.class,
                    () -> MappedInput.copy(view, 0, MemorySegment.ofArray(new byte[SIZE]), 0, view.byteSize()));
            assertEquals(want, e.getMessage());
            assertEquals(in, e.file());
            // The first pages are still backed: a copy of them goes through.
            byte[] head = MappedInput.toArray(view.asSlice(0, 3000));
            assertEquals(view.get(java.lang.foreign.ValueLayout.JAVA_BYTE, 5), head[5]);

            assertEquals(want, assertThrows(MappedInputException.class, () -> ContainerPlanes.crc32c(view)).getMessage());
            assertEquals(want, assertThrows(MappedInputException.class, () -> MappedInput.toArray(view)).getMessage());
            Path out = dir.resolve("out.bin");
            assertEquals(want, assertThrows(MappedInputException.class,
                    () -> AtomicWrite.write(out, c -> AtomicWrite.append(c, view))).getMessage());
            assertEquals(want, assertThrows(MappedInputException.class,
                    () -> AtomicWrite.write(out, c -> ContainerPlanes.write(c, 0, view, new CRC32C(), ContainerPlanes.CHUNK)))
                    .getMessage());
            assertFalse(Files.exists(out));
            assertEquals(List.of("in.bin"), Files.list(dir).map(p -> p.getFileName().toString()).toList());
        }
    }

    @Test
    void aMappingLowbitDidNotMakeIsStillOneLine() throws IOException {
        Path in = file("theirs.bin");
        try (Arena arena = Arena.ofConfined(); FileChannel ch = FileChannel.open(in, StandardOpenOption.READ)) {
            MemorySegment m = ch.map(FileChannel.MapMode.READ_ONLY, 0, SIZE, arena);
            truncate(in, 0);
            MappedInputException e = assertThrows(MappedInputException.class, () -> ContainerPlanes.crc32c(m));
            assertNull(e.file());
            assertEquals("a memory-mapped input file changed while being read (part of its mapping is no longer"
                    + " backed by the file); read it again once nothing else writes to it", e.getMessage());
        }
    }

    @Test
    void errorsOtherThanFaultsPassThrough() {
        InternalError other = new InternalError("something else");
        assertEquals(other, assertThrows(InternalError.class, () -> {
            throw MappedInput.fault(other, 0);
        }));
    }
}
