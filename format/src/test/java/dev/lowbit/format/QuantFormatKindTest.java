package dev.lowbit.format;

import dev.lowbit.format.QuantFormat.Codes;
import dev.lowbit.format.QuantFormat.Kind;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.EnumMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The table of format facts ({@link QuantFormat.Kind}) against the facts it stands for. */
class QuantFormatKindTest {

    /** What each kind is, written out independently of the table. */
    private record Facts(boolean blocks, boolean plain, Codes codes, String label, int blockElements, int scaleGroup,
                         int blockBytes, int codeOffset, int ggmlType, int ggufFileType, int[] widths) {
    }

    private static final Map<Kind, Facts> FACTS = new EnumMap<>(Kind.class);

    static {
        // ggml.c type_traits: Q4_0 = 2 (block_q4_0, 18 bytes), Q4_1 = 3 (block_q4_1, 20 bytes), Q8_0 = 8 (block_q8_0,
        // 34 bytes); llama.cpp llama_ftype: MOSTLY_Q4_0 = 2, MOSTLY_Q4_1 = 3, MOSTLY_Q8_0 = 7.
        FACTS.put(Kind.Q8_0, new Facts(true, true, Codes.SIGNED, "q8_0", 32, 32, 34, 2, 8, 7, new int[] {8}));
        FACTS.put(Kind.Q4_0, new Facts(true, true, Codes.CENTERED, "q4_0", 32, 32, 18, 2, 2, 2, new int[] {4}));
        FACTS.put(Kind.Q4_1, new Facts(true, true, Codes.MINIMUM, "q4_1", 32, 32, 20, 4, 3, 3, new int[] {4}));
        // ggml-common.h: block_q5_0 {d, qh[4], qs[16]} 22 bytes, block_q5_1 {d, m, qh[4], qs[16]} 24, block_iq4_nl
        // {d, qs[16]} 18; QK_K = 256: block_q2_K {scales[16], qs[64], d, dmin} 84, block_q3_K {hmask[32], qs[64],
        // scales[12], d} 110, block_q4_K {d, dmin, scales[12], qs[128]} 144, block_q5_K {d, dmin, scales[12],
        // qh[32], qs[128]} 176, block_q6_K {ql[128], qh[64], scales[16], d} 210, block_q8_K {float d, qs[256],
        // bsums[16]} 292. ggml_type: Q5_0 6, Q5_1 7, Q2_K 10 ... Q8_K 15, IQ4_NL 20. llama_ftype: MOSTLY_Q5_0 8,
        // Q5_1 9, Q2_K 10, Q3_K_S 11, Q4_K_S 14, Q5_K_S 16, Q6_K 18, IQ4_NL 25.
        FACTS.put(Kind.Q5_0, new Facts(true, false, Codes.CENTERED, "q5_0", 32, 32, 22, 6, 6, 8, new int[] {5}));
        FACTS.put(Kind.Q5_1, new Facts(true, false, Codes.MINIMUM, "q5_1", 32, 32, 24, 8, 7, 9, new int[] {5}));
        FACTS.put(Kind.IQ4_NL, new Facts(true, false, Codes.FIXED_LEVELS, "iq4_nl", 32, 32, 18, 2, 20, 25,
                new int[] {4}));
        FACTS.put(Kind.Q2_K, new Facts(true, false, Codes.MINIMUM, "q2_k", 256, 16, 84, 16, 10, 10, new int[] {2}));
        FACTS.put(Kind.Q3_K, new Facts(true, false, Codes.CENTERED, "q3_k", 256, 16, 110, 32, 11, 11, new int[] {3}));
        FACTS.put(Kind.Q4_K, new Facts(true, false, Codes.MINIMUM, "q4_k", 256, 32, 144, 16, 12, 14, new int[] {4}));
        FACTS.put(Kind.Q5_K, new Facts(true, false, Codes.MINIMUM, "q5_k", 256, 32, 176, 48, 13, 16, new int[] {5}));
        FACTS.put(Kind.Q6_K, new Facts(true, false, Codes.CENTERED, "q6_k", 256, 16, 210, 0, 14, 18, new int[] {6}));
        FACTS.put(Kind.Q8_K, new Facts(true, false, Codes.SIGNED, "q8_k", 256, 256, 292, 4, 15, QuantFormat.NONE,
                new int[] {8}));
        FACTS.put(Kind.GROUPED, new Facts(false, false, Codes.ZERO_POINT, "int", 0, 0, 0, 0, QuantFormat.NONE,
                QuantFormat.NONE, new int[] {2, 3, 4, 8}));
        FACTS.put(Kind.CODEBOOK4, new Facts(false, false, Codes.LEVELS, "cb4", 0, 0, 0, 0, QuantFormat.NONE,
                QuantFormat.NONE, new int[] {4}));
    }

    @Test
    void everyKindHasAnEntryAndEveryEntryIsAKind() {
        assertEquals(Kind.values().length, FACTS.size(), "a kind without written-out facts in this test");
        for (Kind k : Kind.values()) {
            assertTrue(FACTS.containsKey(k), k + " has no entry");
        }
    }

    @ParameterizedTest
    @EnumSource(Kind.class)
    void tableHoldsTheFacts(Kind k) {
        Facts f = FACTS.get(k);
        assertEquals(f.blocks(), k.blocks(), "blocks");
        assertEquals(f.plain(), k.plain(), "plain");
        assertEquals(f.blockElements(), k.blockElements(), "block elements");
        assertEquals(f.scaleGroup(), k.scaleGroup(), "scale group");
        assertEquals(f.codes(), k.codes(), "codes");
        assertEquals(f.label(), k.label(), "label");
        assertEquals(f.blockBytes(), k.blockBytes(), "block bytes");
        assertEquals(f.codeOffset(), k.codeOffset(), "code offset");
        assertEquals(f.ggmlType(), k.ggmlType(), "ggml type id");
        assertEquals(f.ggufFileType(), k.ggufFileType(), "llama_ftype");
        assertArrayEquals(f.widths(), k.widths(), "widths");
        for (int bits = 0; bits <= 16; bits++) {
            int b = bits;
            assertEquals(java.util.Arrays.stream(f.widths()).anyMatch(w -> w == b), k.allowsBits(bits), "bits " + bits);
        }
    }

    @ParameterizedTest
    @EnumSource(Kind.class)
    void blockBytesAreWhatRowBytesComputesForOneBlock(Kind k) {
        if (!k.blocks()) {
            assertThrows(IllegalArgumentException.class, () -> QuantFormat.ggml(k));
            return;
        }
        QuantFormat f = QuantFormat.ggml(k);
        int n = k.blockElements();
        assertSame(k, f.kind());
        assertEquals(k.blockBytes(), f.blockBytes());
        assertEquals(k.blockBytes(), f.rowBytes(n), "one block");
        assertEquals(3L * k.blockBytes(), f.rowBytes(3 * n));
        assertEquals(n, f.groupSize());
        assertEquals(k == Kind.Q8_K ? ScaleType.F32 : ScaleType.F16, f.scaleType());
        assertEquals(n / k.scaleGroup(), f.scaleGroupsPerRow(n), "scale groups of a block");
        assertEquals(k.plain(), f.fitsRow(n - 5), "partial blocks");
        assertTrue(f.fitsRow(7 * n));
        // Every code bit, scale and minimum has its place: the block's bits are the codes' plus the parameters'.
        int params = switch (k) {
            case Q4_1, Q5_1 -> 4; // fp16 d and m
            case Q2_K -> 16 + 4; // 16 bytes of 4-bit scales and minima, fp16 d and dmin
            case Q3_K -> 12 + 2; // 16 6-bit scales, fp16 d
            case Q4_K, Q5_K -> 4 + 12; // fp16 d and dmin, 8 6-bit scales and 8 6-bit minima
            case Q6_K -> 16 + 2; // int8 scales, fp16 d
            case Q8_K -> 4 + 32; // fp32 d, 16 int16 sums
            default -> 2; // fp16 d
        };
        assertEquals(params + n * f.bits() / 8, k.blockBytes());
        if (k.plain()) {
            assertEquals(k.blockBytes(), f.rowBytes(1), "one partial block");
            assertEquals(3L * k.blockBytes(), f.rowBytes(3 * QuantFormat.GGML_BLOCK - 5));
            assertEquals(params, f.blockCodeOffset(), "codes follow the scale (and minimum)");
        }
    }

    @Test
    void planeRowsArePackedCodes() {
        for (int bits : new int[] {2, 3, 4, 8}) {
            QuantFormat f = QuantFormat.grouped(bits, 32, true, ScaleType.F16);
            assertEquals((100L * bits + 7) / 8, f.rowBytes(100));
            assertThrows(IllegalStateException.class, f::blockBytes);
            assertThrows(IllegalStateException.class, f::blockCodeOffset);
        }
        assertEquals(16, QuantFormat.codebook4(64, ScaleType.F32).rowBytes(32));
    }

    @Test
    void ggmlIdsAreGgmlsNumbers() {
        assertEquals(2, Kind.Q4_0.ggmlType());
        assertEquals(3, Kind.Q4_1.ggmlType());
        assertEquals(8, Kind.Q8_0.ggmlType());
        assertEquals(QuantFormat.NONE, Kind.GROUPED.ggmlType());
        assertEquals(QuantFormat.NONE, Kind.CODEBOOK4.ggmlType());
        assertEquals(2, Kind.Q4_0.ggufFileType());
        assertEquals(3, Kind.Q4_1.ggufFileType());
        assertEquals(7, Kind.Q8_0.ggufFileType());
    }

    @Test
    void ggmlFormatsAreTheConstants() {
        assertSame(QuantFormat.Q8_0, QuantFormat.ggml(Kind.Q8_0));
        assertSame(QuantFormat.Q4_0, QuantFormat.ggml(Kind.Q4_0));
        assertSame(QuantFormat.Q4_1, QuantFormat.ggml(Kind.Q4_1));
        assertEquals(new QuantFormat(Kind.Q8_0, 8, 32, true, ScaleType.F16), QuantFormat.Q8_0);
        assertEquals(new QuantFormat(Kind.Q4_0, 4, 32, true, ScaleType.F16), QuantFormat.Q4_0);
        assertEquals(new QuantFormat(Kind.Q4_1, 4, 32, false, ScaleType.F16), QuantFormat.Q4_1);
        for (Kind k : Kind.values()) {
            if (k.blocks()) {
                assertSame(QuantFormat.ggml(k), QuantFormat.parse(k.label()));
                assertEquals(k.label(), QuantFormat.ggml(k).name());
            }
        }
    }

    @ParameterizedTest
    @MethodSource("dev.lowbit.format.ReferencePackTest#formats")
    void namesRoundTripAndStartWithTheLabel(QuantFormat f) {
        assertTrue(f.name().startsWith(f.kind().label()), f.name());
        assertEquals(f, QuantFormat.parse(f.name()));
    }

    @ParameterizedTest
    @MethodSource("dev.lowbit.format.ReferencePackTest#formats")
    void derivedFactsAgreeWithTheReference(QuantFormat f) {
        Kind k = f.kind();
        assertEquals(k.blocks(), f.isGgml(), "isGgml");
        assertEquals(k == Kind.GROUPED && !f.symmetric(), f.hasZeroPlane(), "zero plane");
        assertEquals(k == Kind.Q4_1, f.hasMinimum(), "minimum");
        assertEquals(k == Kind.Q4_1 || k == Kind.GROUPED && !f.symmetric(), f.hasZeros(), "zeros");
        assertEquals(k == Kind.CODEBOOK4, f.hasLevels(), "levels");
        assertEquals(k == Kind.Q8_0 ? -128 : 0, f.minStoredCode(), "lowest code");
        assertEquals(k == Kind.Q8_0 ? 127 : (1 << f.bits()) - 1, f.maxStoredCode(), "highest code");
        assertEquals(k == Kind.Q8_0 || k == Kind.Q4_0 || k == Kind.GROUPED && f.symmetric(), f.centered(), "centered");
        if (f.centered()) {
            // code minus the center is the multiplier of the scale, as the reference decodes it
            for (int q = f.minStoredCode(); q <= f.maxStoredCode(); q++) {
                float zero = k == Kind.GROUPED ? Reference.symmetricZero(f) : 0f;
                assertEquals((q - f.center()) * 0.5f, Reference.value(f, q, 0.5f, zero, null), f + " code " + q);
            }
        }
        if (k == Kind.GROUPED) {
            assertEquals(f.symmetric(), f.centered());
        }
    }

    @Test
    void refusalsKeepTheirWords() {
        assertEquals("Q8_0 is fixed (use QuantFormat.Q8_0), got bits=4, groupSize=32, symmetric=true, scaleType=F16",
                assertThrows(IllegalArgumentException.class,
                        () -> new QuantFormat(Kind.Q8_0, 4, 32, true, ScaleType.F16)).getMessage());
        assertEquals("Q4_1 is fixed (use QuantFormat.Q4_1), got bits=4, groupSize=32, symmetric=true, scaleType=F16",
                assertThrows(IllegalArgumentException.class,
                        () -> new QuantFormat(Kind.Q4_1, 4, 32, true, ScaleType.F16)).getMessage());
        assertEquals("Q4_0 is fixed (use QuantFormat.Q4_0), got bits=4, groupSize=64, symmetric=true, scaleType=F16",
                assertThrows(IllegalArgumentException.class,
                        () -> new QuantFormat(Kind.Q4_0, 4, 64, true, ScaleType.F16)).getMessage());
        assertEquals("bits must be 2, 3, 4 or 8 for grouped codes, got 5", assertThrows(IllegalArgumentException.class,
                () -> QuantFormat.grouped(5, 32, true, ScaleType.F16)).getMessage());
        assertEquals("bits must be 4 for a codebook format, got 3", assertThrows(IllegalArgumentException.class,
                () -> new QuantFormat(Kind.CODEBOOK4, 3, 32, true, ScaleType.F16)).getMessage());
        assertEquals("a codebook format has no zero points: symmetric must be true",
                assertThrows(IllegalArgumentException.class,
                        () -> new QuantFormat(Kind.CODEBOOK4, 4, 32, false, ScaleType.F16)).getMessage());
        assertEquals("groupSize must be 32, 64, 128 or ROW (0), got 16", assertThrows(IllegalArgumentException.class,
                () -> QuantFormat.grouped(4, 16, true, ScaleType.F16)).getMessage());
        assertEquals("GROUPED has no blocks", assertThrows(IllegalStateException.class,
                () -> QuantFormat.grouped(4, 32, true, ScaleType.F16).blockBytes()).getMessage());
        assertFalse(Kind.GROUPED.blocks());
    }
}
