package dev.lowbit.cli;

import dev.lowbit.algorithms.Nupes;
import dev.lowbit.algorithms.QuantResult;
import dev.lowbit.algorithms.QuantSpec;
import dev.lowbit.format.QuantFormat;
import dev.lowbit.format.QuantizedTensor;
import dev.lowbit.format.ScaleType;
import dev.lowbit.kernels.QuantOps;
import dev.lowbit.models.BuiltinModels;
import dev.lowbit.models.DenseTensor;
import dev.lowbit.models.GgmlType;
import dev.lowbit.models.GgufFile;
import dev.lowbit.models.GgufTensor;
import dev.lowbit.models.Safetensors;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Files that {@code lowbit quantize} writes from the real model, read back. */
class RealModelFilesTest {
    @TempDir
    static Path dir;
    private static Path onnx;
    private static Weights model;

    @BeforeAll
    static void extract() throws Exception {
        onnx = dir.resolve("all-minilm-l6-v2.onnx");
        Files.write(onnx, BuiltinModels.miniLmOnnx());
        model = Weights.miniLm(null);
    }

    /**
     * The GGUF file holds every MatMul weight as the blocks that quantizing its [out, in] rows in memory
     * gives, byte for byte, and every other initializer as stored; written again from what was read, it is
     * the same file.
     */
    @ParameterizedTest
    @CsvSource({"q4_1, 4, Q4_1", "q4_0, 4, Q4_0", "q8_0, 8, Q8_0"})
    void ggufReadsBackBitIdentical(String method, int bits, GgmlType type) throws Exception {
        Path out = dir.resolve(method + bits + ".gguf");
        CommandsTest.Ran r = CommandsTest.lowbit("quantize", "--model", onnx.toString(), "--method", method,
                "--bits", Integer.toString(bits), "--out", out.toString());
        assertEquals(0, r.status(), r.err());
        try (Arena arena = Arena.ofConfined()) {
            GgufFile.Contents c = GgufFile.read(out, arena);
            assertEquals(model.others().size() + 36, c.tensors().size());
            for (Weights.Matrix m : model.matrices()) {
                GgufTensor t = c.tensors().get(m.name());
                assertEquals(type, t.type(), m.name());
                assertArrayEquals(new long[]{m.cols(), m.rows()}, t.dims(), m.name());
                QuantizedTensor want = QuantOps.get().quantize(type.format(), m.values(), m.rows(), m.cols(), arena);
                assertEquals(-1, want.data().mismatch(t.data()), m.name());
            }
            for (DenseTensor d : model.others().values()) {
                DenseTensor back = c.tensors().get(d.name()).toDense();
                assertArrayEquals(d.shape(), back.shape(), d.name());
                assertEquals(-1, d.bytes().mismatch(back.bytes()), d.name());
            }
            Path again = dir.resolve(method + bits + "-again.gguf");
            GgufFile.write(again, c.metadata(), List.copyOf(c.tensors().values()));
            assertEquals(-1, Files.mismatch(out, again), "written from what was read: the same bytes");
        }
        CommandsTest.Ran i = CommandsTest.lowbit("inspect", out.toString());
        assertEquals(0, i.status(), i.err());
        assertTrue(i.out().contains(type.name()), i.out());
    }

    /**
     * NUPES at 3 bits stores codes and scales; the exponent goes to the safetensors metadata, and with it
     * the file decodes to the error that the quantizer measured.
     */
    @Test
    void nupesExponentTravelsInSafetensorsMetadata() throws Exception {
        Path out = dir.resolve("nupes3.safetensors");
        String layers = "MatMul_(812|864)$";
        CommandsTest.Ran r = CommandsTest.lowbit("quantize", "--model", onnx.toString(), "--method", "nupes",
                "--bits", "3", "--layers", layers, "--out", out.toString());
        assertEquals(0, r.status(), r.err());
        Weights two = Weights.miniLm(Pattern.compile(layers));
        assertEquals(2, two.matrices().size());
        Nupes nupes = new Nupes(new QuantSpec(3, 64, ScaleType.F16), null);
        try (Arena arena = Arena.ofConfined()) {
            Safetensors.Contents c = Safetensors.read(out, arena);
            assertEquals(2, c.quantized().size());
            for (Weights.Matrix m : two.matrices()) {
                QuantizedTensor t = c.quantized().get(m.name());
                assertEquals(QuantFormat.grouped(3, 64, true, ScaleType.F16), t.format());
                String e = c.metadata().get(QuantizeCommand.EXPONENTS_KEY + m.name());
                assertNotNull(e, m.name() + " has its exponent in the metadata: " + c.metadata());
                float[] exps = QuantizeCommand.parseExponents(e);
                QuantResult fresh = nupes.quantize(m.values(), m.rows(), m.cols(), arena);
                assertArrayEquals(fresh.exponents(), exps, m.name());
                assertTrue(exps[0] != 1f, m.name() + ": the exponent matters here");
                float[] back = new float[m.values().length];
                Nupes.dequantize(new QuantResult("nupes", t, 0, 0, null, 0, exps, false, null, null), back);
                double err = 0;
                for (int i = 0; i < back.length; i++) {
                    double d = (double) m.values()[i] - back[i];
                    err += d * d;
                }
                assertEquals(fresh.squaredError(), err, 1e-9 * fresh.squaredError(), m.name());
                assertEquals(-1, fresh.tensor().data().mismatch(t.data()), m.name());
            }
        }
        CommandsTest.Ran i = CommandsTest.lowbit("inspect", out.toString());
        assertTrue(i.out().contains(QuantizeCommand.EXPONENTS_KEY), i.out());
        assertTrue(Arrays.stream(i.out().split("\n")).anyMatch(l -> l.contains("int3_sym_g64_f16")), i.out());
    }
}
