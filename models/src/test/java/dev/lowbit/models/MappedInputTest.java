package dev.lowbit.models;

import dev.lowbit.format.QuantFormat;
import dev.lowbit.format.QuantizedTensor;
import dev.lowbit.format.io.MappedInputException;
import dev.lowbit.kernels.QuantOps;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * Files that another process truncates while lowbit holds them mapped (the test truncates from this process,
 * which has the same effect on Linux). Writing or converting a tensor that is a view of the mapping ends in
 * one line naming the input; before, the CRC-32C of a quantized pass-through tensor killed the JVM with
 * SIGBUS and a dense one escaped as a raw {@code InternalError}.
 */
class MappedInputTest {
    @TempDir
    Path dir;

    private static void truncate(Path p, long size) throws IOException {
        try (FileChannel ch = FileChannel.open(p, StandardOpenOption.WRITE)) {
            ch.truncate(size);
        }
    }

    private static String changed(Path p, long now, long was) {
        return p + ": the file changed while being read (it is now " + now + " bytes, was " + was + ")";
    }

    private void assertOnlyInput(Path in) throws IOException {
        try (var files = Files.list(dir)) {
            assertEquals(List.of(in), files.toList(), "no output and no temporary file is left");
        }
    }

    @Test
    void safetensorsPassThroughOfAFileThatShrank() throws IOException {
        Path in = dir.resolve("in.safetensors");
        Random r = new Random(1);
        try (Arena arena = Arena.ofConfined()) {
            QuantizedTensor q = QuantOps.get().quantize(QuantFormat.Q8_0, TestData.gaussian(r, 64 * 4096), 64, 4096, arena);
            Safetensors.write(in, Map.of("d", DenseTensor.ofFloats("d", new long[]{256, 1024},
                    TestData.gaussian(r, 256 * 1024))), Map.of("w", q), Map.of());
        }
        long was = Files.size(in);
        Path out = dir.resolve("out.safetensors");
        try (Arena arena = Arena.ofConfined()) {
            Safetensors.Contents c = Safetensors.read(in, arena);
            truncate(in, 64);
            // The quantized planes' checksums were taken over the mapping by the CRC-32C intrinsic.
            MappedInputException e = assertThrows(MappedInputException.class,
                    () -> Safetensors.write(out, Map.of(), c.quantized(), Map.of()));
            assertEquals(changed(in, 64, was), e.getMessage());
            // Dense tensors are copied to the file.
            e = assertThrows(MappedInputException.class, () -> Safetensors.write(out, c.dense(), Map.of(), Map.of()));
            assertEquals(changed(in, 64, was), e.getMessage());
            // And converted to floats.
            UncheckedIOException u = assertThrows(UncheckedIOException.class, () -> c.dense().get("d").toFloats());
            assertEquals(changed(in, 64, was), assertInstanceOf(MappedInputException.class, u.getCause()).getMessage());
        }
        assertOnlyInput(in);
    }

    @Test
    void ggufPassThroughOfAFileThatShrank() throws IOException {
        Path in = dir.resolve("in.gguf");
        Random r = new Random(2);
        try (Arena arena = Arena.ofConfined()) {
            QuantizedTensor q = QuantOps.get().quantize(QuantFormat.Q4_0, TestData.gaussian(r, 64 * 4096), 64, 4096, arena);
            GgufFile.write(in, Map.of(), List.of(GgufTensor.of("w", q),
                    GgufTensor.of(DenseTensor.ofFloats("d", new long[]{256, 1024}, TestData.gaussian(r, 256 * 1024)))));
        }
        long was = Files.size(in);
        Path out = dir.resolve("out.gguf");
        try (Arena arena = Arena.ofConfined()) {
            GgufFile.Contents c = GgufFile.read(in, arena);
            truncate(in, 4096);
            MappedInputException e = assertThrows(MappedInputException.class,
                    () -> GgufFile.write(out, c.metadata(), List.copyOf(c.tensors().values())));
            assertEquals(changed(in, 4096, was), e.getMessage());
            // The same through a safetensors output, which checksums the quantized tensor.
            e = assertThrows(MappedInputException.class, () -> Safetensors.write(dir.resolve("out.safetensors"),
                    Map.of(), Map.of("w", c.tensors().get("w").toQuantized()), Map.of()));
            assertEquals(changed(in, 4096, was), e.getMessage());
            UncheckedIOException u = assertThrows(UncheckedIOException.class,
                    () -> c.tensors().get("d").toDense().toFloats());
            assertEquals(changed(in, 4096, was), u.getCause().getMessage());
        }
        assertOnlyInput(in);
    }
}
