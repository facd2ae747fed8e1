package dev.lowbit.models;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.Map;
import java.util.TreeMap;

import static org.junit.jupiter.api.Assertions.assertEquals;
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
        return ts.values().stream().mapToLong(DenseTensor::elements).sum();
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
    void positionIdsAreListedButRefused() {
        assertEquals(Map.of("embeddings.position_ids", "INT64 (7)"), model.unsupported());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> model.initializer("embeddings.position_ids"));
        assertTrue(e.getMessage().contains("embeddings.position_ids") && e.getMessage().contains("INT64"), e.getMessage());
    }
}
