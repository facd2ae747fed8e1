package dev.lowbit.algorithms;

import dev.lowbit.testkit.Matrices;
import dev.lowbit.format.QuantFormat;
import dev.lowbit.format.ScaleType;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Every method name: its widths, its quantizer, what it needs, what the integer kernels and GGUF take of it. */
class MethodRegistryTest {

    @Test
    void reportOrder() {
        assertEquals(List.of("rtn", "rtn-sym", "mse", "hqq", "easyquant", "nupes", "nf4", "q4_0", "q4_1", "q8_0", "q5_0", "q5_1",
                        "iq4_nl", "q2_k", "q3_k", "q4_k", "q5_k", "q6_k", "q4_k_m", "q5_k_m", "gptq"),
                MethodRegistry.names());
        assertEquals(List.of("rtn", "rtn-sym", "mse", "hqq", "easyquant", "nupes", "nf4"), MethodRegistry.planes());
        assertEquals(List.of("rtn", "mse", "hqq", "easyquant", "nupes", "nf4"), Quantizers.NAMES);
        assertEquals(List.of("rtn", "rtn-sym", "mse", "hqq", "easyquant", "gptq"),
                MethodRegistry.names(MethodRegistry.Method::integerKernel));
        assertEquals(List.of("gptq"), MethodRegistry.names(m -> !m.dataFree()));
    }

    @Test
    void widths() {
        for (MethodRegistry.Method m : MethodRegistry.all()) {
            List<Integer> expected = switch (m.name()) {
                case "nf4", "q4_0", "q4_1" -> List.of(4);
                case "q8_0" -> List.of(8);
                default -> m.kind() == MethodRegistry.Kind.GGML ? List.of(m.ggml().bits()) : List.of(2, 3, 4, 8);
            };
            assertEquals(expected, m.widths(), m.name());
            assertEquals(expected.size() == 1, m.widthSentence() != null, m.name());
            assertEquals(m.integerKernel() ? List.of(8, 4) : List.of(), m.integerWidths(), m.name());
        }
        assertEquals("nf4 is a 4-bit codebook", MethodRegistry.get("nf4").widthSentence());
        assertEquals("q8_0 is 8-bit", MethodRegistry.get("q8_0").widthSentence());
        assertEquals("q4_1 is 4-bit", MethodRegistry.get("q4_1").widthSentence());
        assertEquals("q6_k is 6-bit", MethodRegistry.get("q6_k").widthSentence());
        assertEquals("q4_k_m is a mixture based on 4-bit q4_k", MethodRegistry.get("q4_k_m").widthSentence());
        assertTrue(MethodRegistry.get("q4_k_m").mixture());
        assertFalse(MethodRegistry.get("q4_k").mixture());
        assertFalse(MethodRegistry.get("q6_k").mixture(), "q6_k is the single format (llama.cpp's Q6_K file is the same)");
    }

    @Test
    void everyDataFreeNameBuildsAQuantizerAtEachOfItsWidths() {
        float[] w = Matrices.draw(Matrices.Law.GAUSSIAN, 7, 4 * 64);
        try (Arena arena = Arena.ofConfined()) {
            for (MethodRegistry.Method m : MethodRegistry.all()) {
                if (!m.dataFree()) {
                    continue;
                }
                if (m.kind() == MethodRegistry.Kind.GGML) {
                    // The ggml rules take no spec; 256 columns are whole blocks of every ggml format.
                    float[] w256 = Matrices.draw(Matrices.Law.GAUSSIAN, 7, 4 * 256);
                    QuantResult r = m.ggmlQuantizer(null).quantize(w256, 4, 256, arena);
                    assertTrue(r.relativeError() < 0.5, m.name() + ": relative error " + r.relativeError());
                    assertEquals(m.ggml(), r.tensor().format(), m.name());
                    assertEquals(m.widths().getFirst(), r.tensor().format().bits(), m.name());
                }
                for (int bits : m.widths()) {
                    if (!List.of(2, 3, 4, 8).contains(bits) || m.kind() == MethodRegistry.Kind.GGML && !m.ggml().kind().plain()) {
                        continue; // no QuantSpec of this width, or blocks wider than the 64 columns: checked above
                    }
                    QuantSpec spec = new QuantSpec(bits, 32, ScaleType.F16);
                    Quantizer q = m.quantizer(spec, null);
                    QuantResult r = q.quantize(w, 4, 64, arena);
                    String what = m.name() + " " + bits + "-bit";
                    assertTrue(r.relativeError() < 0.5, what + ": relative error " + r.relativeError());
                    QuantFormat f = r.tensor().format();
                    assertEquals(bits, f.bits(), what);
                    switch (m.name()) {
                        case "rtn" -> assertEquals(spec.grouped(false), f, what);
                        case "rtn-sym" -> assertEquals(spec.grouped(true), f, what);
                        case "nf4" -> assertEquals(spec.codebook(), f, what);
                        case "q4_0", "q4_1", "q8_0" -> assertEquals(m.ggml(), f, what);
                        default -> { }
                    }
                }
            }
        }
    }

    @Test
    void aWidthItDoesNotTakeIsRefusedInOneLine() {
        for (MethodRegistry.Method m : MethodRegistry.all()) {
            for (int bits : List.of(2, 3, 4, 8)) {
                if (m.takes(bits)) {
                    m.checkWidth(bits);
                    continue;
                }
                QuantSpec spec = new QuantSpec(bits, 32, ScaleType.F16);
                IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> m.quantizer(spec, null),
                        m.name() + " " + bits);
                assertEquals(m.name() + " takes " + m.widths().getFirst() + " bits, not " + bits, e.getMessage());
                assertFalse(e.getMessage().contains("\n"));
            }
        }
    }

    @Test
    void gptqNeedsCalibrationData() {
        MethodRegistry.Method gptq = MethodRegistry.get("gptq");
        assertFalse(gptq.dataFree());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> gptq.quantizer(new QuantSpec(4, 32, ScaleType.F16), null));
        assertEquals("gptq needs calibration data (a Hessian): it has no data-free quantizer", e.getMessage());
    }

    @Test
    void unknownNamesAreRefusedWithEveryName() {
        assertTrue(MethodRegistry.find("q7_0").isEmpty());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> MethodRegistry.get("q7_0"));
        assertEquals("method must be one of rtn, rtn-sym, mse, hqq, easyquant, nupes, nf4, q4_0, q4_1, q8_0, q5_0, "
                + "q5_1, iq4_nl, q2_k, q3_k, q4_k, q5_k, q6_k, q4_k_m, q5_k_m, gptq, got 'q7_0'", e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> Quantizers.byName("rtn-sym", new QuantSpec(4, 32, ScaleType.F16), null));
    }

    @Test
    void ggufForms() {
        QuantSpec g32 = new QuantSpec(4, 32, ScaleType.F16);
        MethodRegistry.Method rtnSym = MethodRegistry.get("rtn-sym");
        assertEquals(QuantFormat.Q4_0, rtnSym.gguf(g32));
        assertEquals(QuantFormat.Q8_0, rtnSym.gguf(new QuantSpec(8, 32, ScaleType.F16)));
        assertTrue(rtnSym.ggufRepacked());
        assertNull(rtnSym.gguf(new QuantSpec(3, 32, ScaleType.F16)));
        assertNull(rtnSym.gguf(new QuantSpec(4, 64, ScaleType.F16)));
        assertNull(rtnSym.gguf(new QuantSpec(4, 32, ScaleType.F32)));
        for (String name : List.of("q4_0", "q4_1", "q8_0")) {
            MethodRegistry.Method m = MethodRegistry.get(name);
            assertEquals(QuantFormat.parse(name), m.gguf(new QuantSpec(m.widths().getFirst(), 32, ScaleType.F16)), name);
            assertFalse(m.ggufRepacked(), name);
        }
        for (String name : List.of("q5_0", "q5_1", "iq4_nl", "q2_k", "q3_k", "q4_k", "q5_k", "q6_k")) {
            MethodRegistry.Method m = MethodRegistry.get(name);
            assertEquals(QuantFormat.parse(name), m.ggml(), name);
            assertEquals(QuantFormat.parse(name), m.gguf(g32), name);
            assertFalse(m.ggufRepacked() || m.mixture(), name);
        }
        assertEquals(QuantFormat.Q4_K, MethodRegistry.get("q4_k_m").ggml());
        assertEquals(QuantFormat.Q5_K, MethodRegistry.get("q5_k_m").ggml());
        for (String name : List.of("rtn", "mse", "hqq", "easyquant", "nupes", "nf4", "gptq")) {
            assertNull(MethodRegistry.get(name).gguf(g32), name);
        }
    }
}
