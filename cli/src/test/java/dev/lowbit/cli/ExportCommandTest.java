package dev.lowbit.cli;

import dev.lowbit.models.BuiltinModels;
import dev.lowbit.models.DenseTensor;
import dev.lowbit.models.OnnxModel;
import dev.lowbit.models.Safetensors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static dev.lowbit.cli.CommandsTest.lowbit;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code lowbit export --model minilm}: the built-in model as files that quantize and inspect read; minilm elsewhere. */
class ExportCommandTest {
    @TempDir
    Path dir;

    @Test
    void onnxExportIsTheBuiltInFileAndQuantizeAndInspectReadIt() throws Exception {
        Path onnx = dir.resolve("model.onnx");
        CommandsTest.Ran e = lowbit("export", "--model", "minilm", "--out", onnx.toString());
        assertEquals(0, e.status(), e.err());
        assertTrue(e.out().startsWith(onnx + ": all-MiniLM-L6-v2, ONNX, "), e.out());
        assertArrayEquals(BuiltinModels.miniLmOnnx(), Files.readAllBytes(onnx), "the built-in model file, byte for byte");
        assertEquals(List.of("model.onnx"), listing(), "no temporary file is left beside it");

        CommandsTest.Ran i = lowbit("inspect", onnx.toString());
        assertEquals(0, i.status(), i.err());
        assertTrue(i.out().contains("36 MatMul/Gemm weights"), i.out());

        Path q = dir.resolve("q.safetensors");
        CommandsTest.Ran r = lowbit("quantize", "--model", onnx.toString(), "--method", "rtn", "--bits", "4",
                "--out", q.toString());
        assertEquals(0, r.status(), r.err());
        assertTrue(r.out().contains("quantized 36, kept as they were 66"), r.out());
        assertEquals(0, lowbit("inspect", q.toString()).status());
    }

    @Test
    void safetensorsExportHoldsTheInitializersBitForBit() throws Exception {
        Path st = dir.resolve("model.safetensors");
        CommandsTest.Ran e = lowbit("export", "--model", "minilm", "--out", st.toString());
        assertEquals(0, e.status(), e.err());
        OnnxModel m = BuiltinModels.miniLm();
        try (Arena arena = Arena.ofConfined()) {
            Safetensors.Contents c = Safetensors.read(st, arena);
            assertEquals(new ArrayList<>(m.initializers().keySet()), new ArrayList<>(c.dense().keySet()),
                    "every initializer, in ONNX order, under its ONNX name");
            assertTrue(c.quantized().isEmpty());
            for (DenseTensor want : m.initializers().values()) {
                DenseTensor got = c.dense().get(want.name());
                assertEquals(want.dtype(), got.dtype(), want.name());
                assertArrayEquals(want.shape(), got.shape(), want.name());
                assertEquals(-1, want.bytes().mismatch(got.bytes()), want.name() + ": bytes differ");
            }
            assertTrue(c.metadata().get("layout").contains("[in, out]"), c.metadata().toString());
        }

        CommandsTest.Ran i = lowbit("inspect", st.toString());
        assertEquals(0, i.status(), i.err());
        assertTrue(i.out().contains("embeddings.word_embeddings.weight"), i.out());

        Path q = dir.resolve("q.safetensors");
        CommandsTest.Ran r = lowbit("quantize", "--model", st.toString(), "--method", "rtn-sym", "--bits", "8",
                "--layers", "MatMul_(812|864)$", "--out", q.toString());
        assertEquals(0, r.status(), r.err());
        assertTrue(r.out().startsWith(q + ": rtn-sym, 8 bits, group 64 (int8_sym_g64_f16): quantized 2,"), r.out());
        assertEquals(0, lowbit("inspect", q.toString()).status());
    }

    @Test
    void anExistingOutIsReplacedOnlyWithForce() throws Exception {
        Path onnx = dir.resolve("model.onnx");
        Files.writeString(onnx, "keep me");
        CommandsTest.Ran e = lowbit("export", "--model", "minilm", "--out", onnx.toString());
        assertEquals(1, e.status(), e.err());
        assertEquals("lowbit export: " + onnx + " exists; add --force to replace it\n", e.err());
        assertEquals("keep me", Files.readString(onnx));
        assertEquals(0, lowbit("export", "--model", "minilm", "--out", onnx.toString(), "--force").status());
        assertArrayEquals(BuiltinModels.miniLmOnnx(), Files.readAllBytes(onnx));
    }

    @Test
    void inspectAndReportTakeMinilm() {
        CommandsTest.Ran a = lowbit("inspect", "minilm");
        assertEquals(0, a.status(), a.err());
        assertTrue(a.out().contains("36 MatMul/Gemm weights"), a.out());
        assertTrue(a.out().contains("minilm (the built-in all-MiniLM-L6-v2, all-minilm-l6-v2.onnx): "
                + BuiltinModels.miniLmOnnx().length + " bytes"), a.out());
        CommandsTest.Ran b = lowbit("inspect", "--model", "minilm");
        assertEquals(a, b, "inspect --model minilm is inspect minilm");

        CommandsTest.Ran r = lowbit("report", "--model", "minilm", "--methods", "rtn", "--bits", "4", "--layers",
                "MatMul_812$", "--html", dir.resolve("r.html").toString());
        assertEquals(0, r.status(), r.err());
        assertTrue(r.out().contains("onnx::MatMul_812"), r.out());
    }

    private List<String> listing() throws Exception {
        try (var s = Files.list(dir)) {
            String[] names = s.map(p -> p.getFileName().toString()).toArray(String[]::new);
            Arrays.sort(names);
            return List.of(names);
        }
    }
}
