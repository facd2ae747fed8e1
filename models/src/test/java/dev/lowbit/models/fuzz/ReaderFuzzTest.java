package dev.lowbit.models.fuzz;

import com.code_intelligence.jazzer.junit.DictionaryEntries;
import com.code_intelligence.jazzer.junit.FuzzTest;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.nio.file.Path;
import java.util.stream.Stream;

/**
 * Coverage-guided fuzzing of the four file readers with Jazzer, from the seeds of {@link Seeds}, under the
 * contract of {@link FuzzHarness}. Plain {@code mvn test} leaves this class out (the {@code fuzz} profile
 * runs it, one reader per JVM, as Jazzer requires); {@code ReaderCorpusTest} replays the seeds and the
 * saved findings in every build. See {@code docs/robustness.md}.
 */
class ReaderFuzzTest {
    @TempDir(factory = MemoryTempDir.class)
    static Path dir;

    private static Stream<Arguments> seeds(FuzzHarness.Reader r) {
        return Seeds.of(r, dir).stream().map(s -> Arguments.of((Object) s.bytes()));
    }

    static Stream<Arguments> ggufSeeds() {
        return seeds(FuzzHarness.Reader.GGUF);
    }

    static Stream<Arguments> safetensorsSeeds() {
        return seeds(FuzzHarness.Reader.SAFETENSORS);
    }

    static Stream<Arguments> onnxSeeds() {
        return seeds(FuzzHarness.Reader.ONNX);
    }

    static Stream<Arguments> lowbitSeeds() {
        return seeds(FuzzHarness.Reader.LOWBIT);
    }

    @MethodSource("ggufSeeds")
    @DictionaryEntries({"GGUF", "general.alignment", "general.architecture"})
    @FuzzTest(maxDuration = "30s")
    void gguf(byte[] input) {
        FuzzHarness.check(FuzzHarness.Reader.GGUF, input, dir.resolve("input.gguf"));
    }

    @MethodSource("safetensorsSeeds")
    @DictionaryEntries({"\"__metadata__\"", "\"dtype\"", "\"shape\"", "\"data_offsets\"", "\"F32\"", "\"F16\"",
            "\"BF16\"", "\"U8\"", "\"I32\"", "\"I64\"", "\"lowbit.version\"", "\"lowbit.metadata_crc32c\"", "\"crc32c\"",
            "\"format\"", "\"rows\"", "\"cols\"", "\"nnz\"", "\\\"", "\\u0000", "1e999", "-0", "18446744073709551615"})
    @FuzzTest(maxDuration = "30s")
    void safetensors(byte[] input) {
        FuzzHarness.check(FuzzHarness.Reader.SAFETENSORS, input, dir.resolve("input.safetensors"));
    }

    @MethodSource("onnxSeeds")
    @FuzzTest(maxDuration = "30s")
    void onnx(byte[] input) {
        FuzzHarness.check(FuzzHarness.Reader.ONNX, input, dir.resolve("input.onnx"));
    }

    @MethodSource("lowbitSeeds")
    @DictionaryEntries({"\"__metadata__\"", "\"dtype\"", "\"shape\"", "\"data_offsets\"", "\"F32\"", "\"F16\"",
            "\"U8\"", "\"I32\"", "\"lowbit.version\"", "\"lowbit.metadata_crc32c\"", "\"crc32c\"", "\"format\"",
            "LBFZ", "\"rows\"", "\"cols\"", "\"nnz\"", "q4_0", "q8_0", "q4_1", "int4_asym_g32_f16", "int3_sym_row_f32", "cb4_g32_f16",
            ".outliers.row_ptr", ".outliers.col_idx", ".outliers.values", ".levels", ".zeros", ".scales", ".data"})
    @FuzzTest(maxDuration = "30s")
    void lowbit(byte[] input) {
        FuzzHarness.check(FuzzHarness.Reader.LOWBIT, input, dir.resolve("input.lowbit"));
    }
}
