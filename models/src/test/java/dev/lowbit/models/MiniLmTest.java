package dev.lowbit.models;

import dev.lowbit.format.QuantFormat;
import dev.lowbit.format.QuantizedTensor;
import dev.lowbit.kernels.QuantOps;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The real model: all-MiniLM-L6-v2 as ONNX, from the langchain4j jar on the test class path. Its 36
 * linear-layer weights (6 layers of query, key, value, attention output, FFN up, FFN down) hold 10.6M
 * parameters; with the three embedding tables there are 39 matrices, and the 22.6M parameters of the
 * model are those of all its initializers.
 */
class MiniLmTest {
    private static OnnxModel model;

    @BeforeAll
    static void load() {
        assertTrue(BuiltinModels.hasMiniLm(), BuiltinModels.MINILM_RESOURCE + " should be on the test class path");
        model = BuiltinModels.miniLm();
    }

    private static Map<String, Integer> shapes(Map<String, DenseTensor> ts) {
        Map<String, Integer> out = new TreeMap<>();
        ts.values().forEach(t -> out.merge(Arrays.toString(t.shape()), 1, Integer::sum));
        return out;
    }

    private static long params(Map<String, DenseTensor> ts) {
        return ts.values().stream().filter(t -> t.dtype().quantizable()).mapToLong(DenseTensor::elements).sum();
    }

    @Test
    void thirtySixLinearWeights() {
        Map<String, DenseTensor> linear = model.linearWeights();
        linear.values().forEach(t -> System.out.println("linear weight " + t.name() + " " + Arrays.toString(t.shape())
                + " used by " + model.consumers().get(t.name())));
        System.out.println(linear.size() + " linear weights, " + params(linear) + " parameters; "
                + model.matrices().size() + " matrices, " + params(model.matrices()) + " parameters; "
                + model.initializers().size() + " fp32 initializers, " + params(model.initializers())
                + " parameters; not converted: " + model.unsupported());
        assertEquals(36, linear.size(), "linear weights");
        assertEquals(Map.of("[384, 384]", 24, "[384, 1536]", 6, "[1536, 384]", 6), shapes(linear));
        assertEquals(6L * (4 * 384 * 384 + 2 * 384 * 1536), params(linear));
        Map<String, Integer> all = shapes(model.matrices());
        assertEquals(39, model.matrices().size(), "2-D initializers: the linear weights and 3 embedding tables");
        assertEquals(1, all.get("[30522, 384]"));
        assertEquals(1, all.get("[512, 384]"));
        assertEquals(1, all.get("[2, 384]"));
        assertEquals(22_565_376L, params(model.initializers()), "all fp32 parameters (22.6M)");
    }

    @Test
    void everyWeightIsFiniteFp32() {
        for (DenseTensor t : model.initializers().values()) {
            if (t.name().equals("embeddings.position_ids")) {
                continue;
            }
            assertEquals(DType.F32, t.dtype(), t.name());
            float[] v = t.toFloats();
            double sum = 0;
            for (int i = 0; i < v.length; i++) {
                assertTrue(Float.isFinite(v[i]), t.name() + "[" + i + "] is " + v[i]);
                sum += Math.abs(v[i]);
            }
            assertTrue(sum > 0, t.name() + " is all zeros");
        }
    }

    @Test
    void positionIdsAreReadAsTheirInt64Bytes() {
        assertEquals(Map.of(), model.unsupported());
        DenseTensor ids = model.initializer("embeddings.position_ids");
        assertEquals(DType.I64, ids.dtype());
        assertArrayEquals(new long[]{1, 512}, ids.shape());
        for (int i = 0; i < 512; i++) {
            assertEquals(i, ids.bytes().getAtIndex(java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED, i), "position " + i);
        }
        IllegalStateException e = assertThrows(IllegalStateException.class, ids::toFloats);
        assertTrue(e.getMessage().contains("I64"), e.getMessage());
        assertFalse(model.matrices().containsKey("embeddings.position_ids"), "not a float matrix");
    }

    /** ONNX keeps a MatMul weight as [in, out]; ggml and lowbit quantize rows of [out, in]. */
    private static float[] transpose(float[] w, int rows, int cols) {
        float[] t = new float[w.length];
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++) {
                t[c * rows + r] = w[r * cols + c];
            }
        }
        return t;
    }

    @Test
    void quantizedModelRoundTripsThroughGguf(@TempDir Path dir) throws IOException {
        List<QuantFormat> formats = List.of(QuantFormat.Q8_0, QuantFormat.Q4_0, QuantFormat.Q4_1);
        try (Arena arena = Arena.ofConfined()) {
            List<GgufTensor> tensors = new ArrayList<>();
            int i = 0;
            for (DenseTensor w : model.linearWeights().values()) {
                int in = (int) w.shape()[0];
                int out = (int) w.shape()[1];
                QuantFormat f = formats.get(i++ % formats.size());
                QuantizedTensor q = QuantOps.get().quantize(f, transpose(w.toFloats(), in, out), out, in, arena);
                tensors.add(GgufTensor.of(w.name(), q));
            }
            DenseTensor emb = model.initializer("embeddings.word_embeddings.weight");
            tensors.add(GgufTensor.of(emb));
            Map<String, GgufValue> meta = new LinkedHashMap<>();
            meta.put("general.architecture", GgufValue.string("bert"));
            meta.put("general.name", GgufValue.string("all-MiniLM-L6-v2"));
            Path a = dir.resolve("minilm.gguf");
            GgufFile.write(a, meta, tensors);
            GgufFile.Contents c = GgufFile.read(a, arena);
            assertEquals(meta, c.metadata());
            assertEquals(37, c.tensors().size());
            for (GgufTensor t : tensors) {
                GgufTensor back = c.tensors().get(t.name());
                assertEquals(t.type(), back.type(), t.name());
                assertTrue(Arrays.equals(t.dims(), back.dims()), t.name());
                assertEquals(-1, t.data().mismatch(back.data()), t.name());
            }
            Path b = dir.resolve("again.gguf");
            GgufFile.write(b, c.metadata(), List.copyOf(c.tensors().values()));
            assertEquals(-1, Files.mismatch(a, b), "written, read and written again: the same bytes");
            System.out.println("MiniLM GGUF (36 linear weights in Q8_0/Q4_0/Q4_1, word embeddings F32): "
                    + Files.size(a) + " bytes");
        }
    }
}
