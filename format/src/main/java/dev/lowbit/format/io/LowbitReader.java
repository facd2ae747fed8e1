package dev.lowbit.format.io;

import dev.lowbit.format.QuantizedTensor;
import dev.lowbit.format.io.internal.ContainerReader;
import dev.lowbit.format.io.internal.MappedInput;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Map;

/**
 * Reads one lowbit file through {@link ContainerReader}, which trusts nothing in it: every length, offset,
 * shape and checksum is checked before a tensor is built.
 */
final class LowbitReader {
    /** The largest header accepted, so that a damaged length cannot make the reader allocate gigabytes. */
    static final long MAX_HEADER = ContainerReader.MAX_HEADER;

    private LowbitReader() {
    }

    static LowbitFile.Contents open(Path path, Arena arena) throws IOException {
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            ContainerReader r = ContainerReader.read(ch, path, true);
            // Checksums and CSR checks run over a private mapping, so that a corrupt file leaves no
            // mapping behind in the caller's arena (which might be the global one).
            try (Arena scratch = Arena.ofConfined()) {
                r.tensors(MappedInput.map(ch, path, r.size(), scratch), true);
            }
            Map<String, QuantizedTensor> tensors = r.tensors(MappedInput.map(ch, path, r.size(), arena), false);
            return new LowbitFile.Contents(tensors, r.userMetadata());
        }
    }
}
