package dev.lowbit.models.fuzz;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Replays, in every build, each saved fuzz input ({@code src/test/resources/fuzz/<reader>/}: inputs that
 * once broke a reader) under the contract of {@link FuzzHarness}, checks that every seed the fuzzer starts
 * from reads without error, and checks that the harness itself reports what it must.
 */
class ReaderCorpusTest {
    @TempDir
    Path dir;

    /** Every file under {@code fuzz/<reader>/} of the test resources, as (reader folder, file name). */
    static Stream<Arguments> corpus() throws IOException, URISyntaxException {
        Path root = Path.of(ReaderCorpusTest.class.getProtectionDomain().getCodeSource().getLocation().toURI()).resolve("fuzz");
        List<Arguments> out = new ArrayList<>();
        for (FuzzHarness.Reader r : FuzzHarness.Reader.values()) {
            Path folder = root.resolve(r.folder);
            if (!Files.isDirectory(folder)) {
                continue;
            }
            try (Stream<Path> files = Files.list(folder)) {
                files.filter(Files::isRegularFile).sorted().forEach(f -> out.add(Arguments.of(r.folder, f.getFileName().toString(), f)));
            }
        }
        return out.stream();
    }

    @ParameterizedTest(name = "{0}/{1}")
    @MethodSource("corpus")
    void savedInputMeetsTheContract(String folder, String name, Path file) throws IOException {
        FuzzHarness.Reader r = FuzzHarness.BY_FOLDER.get(folder);
        FuzzHarness.check(r, Files.readAllBytes(file), dir.resolve("input" + r.suffix));
    }

    @ParameterizedTest
    @EnumSource(FuzzHarness.Reader.class)
    void everySeedReads(FuzzHarness.Reader r) throws Exception {
        List<Seeds.Seed> seeds = Seeds.of(r, dir);
        assertTrue(seeds.size() >= 2, r + " has " + seeds.size() + " seeds");
        for (Seeds.Seed s : seeds) {
            assertTrue(s.bytes().length < 8192, s + " is " + s.bytes().length + " bytes");
            // Not just the contract: a seed must read, or the fuzzer starts from a refused file.
            r.readAndTouch(s.bytes(), dir.resolve("seed" + r.suffix));
        }
    }

    @Test
    void randomLowbitRecipesBuildAndMeetTheContract() {
        long seed = 20261207L;
        java.util.SplittableRandom random = new java.util.SplittableRandom(seed);
        int read = 0;
        for (int i = 0; i < 300; i++) {
            byte[] recipe = java.util.Arrays.copyOf(StructuredLowbit.MAGIC, 4 + random.nextInt(200));
            for (int j = 4; j < recipe.length; j++) {
                recipe[j] = (byte) random.nextInt(256);
            }
            FuzzHarness.check(FuzzHarness.Reader.LOWBIT, recipe, dir.resolve("recipe.lowbit"));
            try {
                FuzzHarness.Reader.LOWBIT.readAndTouch(recipe, dir.resolve("recipe.lowbit"));
                read++;
            } catch (Exception refused) {
                // The contract allows a refusal; the count below checks that recipes are not all refused.
            }
        }
        assertTrue(read >= 30, "only " + read + " of 300 recipes (seed " + seed + ") made a file the reader accepts");
    }

    // ---------------------------------------------------------------- the harness itself

    @Test
    void aOneLineIoExceptionOrIllegalArgumentMeetsTheContract() {
        FuzzHarness.check("test", (in, p) -> {
            throw new IOException("x.gguf: tensor 'w' is truncated");
        }, new byte[]{1}, dir.resolve("x"), 1000);
        FuzzHarness.check("test", (in, p) -> {
            throw new IllegalArgumentException("bad dims [1, -2]");
        }, new byte[]{1}, dir.resolve("x"), 1000);
        FuzzHarness.check("test", (in, p) -> 7L, new byte[0], dir.resolve("x"), 1000);
    }

    @Test
    void anyOtherExceptionIsAFindingWithTheInputInBase64() {
        AssertionError e = assertThrows(AssertionError.class, () -> FuzzHarness.check("test", (in, p) -> {
            throw new ArrayIndexOutOfBoundsException("Index 9 out of bounds for length 4");
        }, new byte[]{1, 2, 3}, dir.resolve("x"), 1000));
        assertEquals("fuzz finding in the test reader: java.lang.ArrayIndexOutOfBoundsException: Index 9 out of bounds"
                + " for length 4 on a 3-byte input, base64 AQID", e.getMessage());
        assertTrue(e.getCause() instanceof ArrayIndexOutOfBoundsException);
        AssertionError npe = assertThrows(AssertionError.class, () -> FuzzHarness.check("test", (in, p) -> {
            throw new NullPointerException();
        }, new byte[0], dir.resolve("x"), 1000));
        assertEquals("fuzz finding in the test reader: java.lang.NullPointerException on a 0-byte input, base64 ",
                npe.getMessage());
        AssertionError oom = assertThrows(AssertionError.class, () -> FuzzHarness.check("test", (in, p) -> {
            throw new OutOfMemoryError("Java heap space");
        }, new byte[]{0}, dir.resolve("x"), 1000));
        assertTrue(oom.getMessage().startsWith("fuzz finding in the test reader: java.lang.OutOfMemoryError: Java heap space"),
                oom.getMessage());
    }

    @Test
    void aMessageThatIsMissingOrLongerThanOneLineIsAFinding() {
        AssertionError two = assertThrows(AssertionError.class, () -> FuzzHarness.check("test", (in, p) -> {
            throw new IOException("x: name 'a\nb' appears twice");
        }, new byte[]{0}, dir.resolve("x"), 1000));
        assertEquals("fuzz finding in the test reader: java.io.IOException with a message of more than one line on a"
                + " 1-byte input, base64 AA==", two.getMessage());
        AssertionError none = assertThrows(AssertionError.class, () -> FuzzHarness.check("test", (in, p) -> {
            throw new IllegalArgumentException();
        }, new byte[]{0}, dir.resolve("x"), 1000));
        assertEquals("fuzz finding in the test reader: java.lang.IllegalArgumentException with no message on a"
                + " 1-byte input, base64 AA==", none.getMessage());
    }

    @Test
    void aReadThatOutlivesTheLimitIsAHangAndLaterInputsStillRun() {
        // Warm the harness first, so that the short limit applies and not the first input's grace.
        FuzzHarness.check("test", (in, p) -> 0L, new byte[0], dir.resolve("x"), 1000);
        AssertionError e = assertThrows(AssertionError.class, () -> FuzzHarness.check("test", (in, p) -> {
            while (true) {
                Thread.sleep(10_000);
            }
        }, new byte[]{5}, dir.resolve("x"), 200));
        assertEquals("fuzz finding in the test reader: no result after 200 ms (a hang) on a 1-byte input, base64 BQ==",
                e.getMessage());
        FuzzHarness.check("test", (in, p) -> 1L, new byte[0], dir.resolve("x"), 1000);
    }

    @Test
    void theCorpusFolderIsFoundWhenItExists() throws Exception {
        // The replay above is parameterized by what it finds: an empty list would make it pass vacuously.
        assertFalse(corpus().toList().isEmpty(), "no saved inputs found under fuzz/ in the test resources");
    }
}
