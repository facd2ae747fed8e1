package dev.lowbit.models;

import dev.lowbit.format.QuantFormat;
import dev.lowbit.format.QuantizedTensor;
import dev.lowbit.kernels.QuantOps;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@link GgufFile}'s streaming writer: the bytes of the one-shot writer, and no file when a tensor goes wrong. */
class GgufStreamTest {
    @TempDir
    Path dir;

    /** Block tensors of several formats, padded and unpadded sizes, F32 and F16 tensors; seed 21. */
    private static List<GgufTensor> tensors(Arena arena) {
        Random r = new Random(21);
        List<GgufTensor> out = new ArrayList<>();
        for (QuantFormat f : List.of(QuantFormat.Q4_K, QuantFormat.Q6_K, QuantFormat.Q5_0, QuantFormat.IQ4_NL,
                QuantFormat.Q8_0)) {
            float[] w = new float[3 * 256];
            for (int i = 0; i < w.length; i++) {
                w[i] = (float) r.nextGaussian();
            }
            QuantizedTensor q = QuantOps.get().quantize(f, w, 3, 256, arena);
            out.add(GgufTensor.of("blk.0." + f.name() + ".weight", q));
        }
        out.add(GgufTensor.of(DenseTensor.ofFloats("norm.weight", new long[]{7}, new float[]{1, 2, 3, 4, 5, 6, 7})));
        return out;
    }

    private static Map<String, GgufValue> meta() {
        Map<String, GgufValue> m = new LinkedHashMap<>();
        m.put("general.architecture", GgufValue.string("llama"));
        m.put("general.file_type", GgufValue.uint32(15));
        return m;
    }

    @Test
    void streamedIsTheOneShotFile() throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            List<GgufTensor> ts = tensors(arena);
            Path a = dir.resolve("a.gguf");
            Path b = dir.resolve("b.gguf");
            GgufFile.write(a, meta(), ts);
            List<GgufFile.TensorInfo> infos = new ArrayList<>();
            ts.forEach(t -> infos.add(new GgufFile.TensorInfo(t.name(), t.type(), t.dims())));
            GgufFile.write(b, meta(), infos, w -> {
                for (GgufTensor t : ts) {
                    w.tensor(t.name(), t.data());
                }
                assertEquals(ts.size(), w.written());
            });
            assertArrayEquals(Files.readAllBytes(a), Files.readAllBytes(b));
            assertEquals(ts.size(), GgufFile.read(b, arena).tensors().size());
        }
    }

    /** Out of order, the wrong size, one left out, or the body failing: an exception, and no file at all. */
    @Test
    void aWrongOrFailedStreamLeavesNoFile() throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            List<GgufTensor> ts = tensors(arena);
            List<GgufFile.TensorInfo> infos = new ArrayList<>();
            ts.forEach(t -> infos.add(new GgufFile.TensorInfo(t.name(), t.type(), t.dims())));
            Path p = dir.resolve("x.gguf");
            IllegalArgumentException order = assertThrows(IllegalArgumentException.class,
                    () -> GgufFile.write(p, meta(), infos, w -> w.tensor(ts.get(1).name(), ts.get(1).data())));
            assertTrue(order.getMessage().contains("where the header has '" + ts.get(0).name() + "'"), order.getMessage());
            IllegalArgumentException size = assertThrows(IllegalArgumentException.class,
                    () -> GgufFile.write(p, meta(), infos, w -> w.tensor(ts.get(0).name(), ts.get(1).data().asSlice(1))));
            assertTrue(size.getMessage().contains("needs"), size.getMessage());
            IllegalStateException missing = assertThrows(IllegalStateException.class,
                    () -> GgufFile.write(p, meta(), infos, w -> w.tensor(ts.get(0).name(), ts.get(0).data())));
            assertTrue(missing.getMessage().contains("were not written, the first '" + ts.get(1).name() + "'"),
                    missing.getMessage());
            IOException failed = assertThrows(IOException.class, () -> GgufFile.write(p, meta(), infos, w -> {
                w.tensor(ts.get(0).name(), ts.get(0).data());
                throw new IOException("stopped");
            }));
            assertTrue(failed.getMessage().contains("stopped"), failed.getMessage());
            try (Stream<Path> left = Files.list(dir)) {
                assertEquals(List.of(), left.toList(), "no output and no temporary file");
            }
        }
    }
}
