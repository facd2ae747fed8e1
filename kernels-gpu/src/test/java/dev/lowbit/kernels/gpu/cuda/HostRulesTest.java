package dev.lowbit.kernels.gpu.cuda;

import dev.lowbit.format.Codebooks;
import dev.lowbit.format.QuantFormat;
import dev.lowbit.format.QuantizedTensor;
import dev.lowbit.format.Reference;
import dev.lowbit.format.ScaleType;
import dev.lowbit.kernels.KernelProvider;
import dev.lowbit.kernels.QuantOps;
import dev.lowbit.kernels.ThreadPool;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The scalar rules of {@code lowbit_common.cuh} (group parameters, codes, values, the stored bytes of a group),
 * built for the host with g++ and
 * compared with the Java reference over many groups of every format: the CUDA kernels' bit-exactness, checked
 * without a GPU. Skipped with the reason when there is no g++.
 */
class HostRulesTest {
    @TempDir
    static Path dir;
    private static Path binary;
    private static String skipReason;

    private static final QuantOps SCALAR = new QuantOps(KernelProvider.scalar(), ThreadPool.callerThread());

    @BeforeAll
    static void build() throws Exception {
        Path gxx = findGxx();
        if (gxx == null) {
            skipReason = "g++ is not installed (not on PATH nor at /usr/bin/g++)";
            return;
        }
        Files.writeString(dir.resolve(KernelSources.HEADER), KernelSources.read(KernelSources.HEADER));
        Path src = dir.resolve("rules_check.cpp");
        try (InputStream in = HostRulesTest.class.getResourceAsStream("rules_check.cpp")) {
            Files.write(src, in.readAllBytes());
        }
        binary = dir.resolve("rules_check");
        Process p = new ProcessBuilder(gxx.toString(), "-std=c++17", "-O2", "-ffp-contract=off", "-Wall", "-Wextra",
                "-Werror", "-Wno-unknown-pragmas", "-I" + dir, "-o", binary.toString(), src.toString())
                .redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(120, TimeUnit.SECONDS) || p.exitValue() != 0) {
            fail("g++ could not build the host check of lowbit_common.cuh:\n" + out);
        }
    }

    private static Path findGxx() {
        String path = System.getenv("PATH");
        if (path != null) {
            for (String d : path.split(java.io.File.pathSeparator)) {
                Path p = Path.of(d, "g++");
                if (Files.isExecutable(p)) {
                    return p;
                }
            }
        }
        Path usr = Path.of("/usr/bin/g++");
        return Files.isExecutable(usr) ? usr : null;
    }

    /** Groups that reach the rules' corners: zeros of both signs, ties, subnormal fp16 scales, fp16 overflow. */
    private static List<float[]> groups(QuantFormat f, long seed) {
        Random rnd = new Random(seed);
        List<float[]> out = new ArrayList<>();
        int full = f.isGgml() ? 32 : f.groupSize() == QuantFormat.ROW ? 300 : f.groupSize();
        int[] lengths = {full, 1, 5, full - 1};
        float[] mags = {0f, 1e-7f, 1e-5f, 3e-3f, 0.5f, 1f, 7f, 300f, 6e4f, 1e7f};
        for (int len : lengths) {
            for (float mag : mags) {
                for (int variant = 0; variant < 6; variant++) {
                    float[] g = new float[len];
                    for (int i = 0; i < len; i++) {
                        g[i] = switch (variant) {
                            case 0 -> mag * (float) rnd.nextGaussian();
                            case 1 -> mag * (rnd.nextInt(33) - 16) * 0.5f; // ties to even
                            case 2 -> i == len / 2 ? mag : 0f;               // one spike
                            case 3 -> i == len / 2 ? -mag : -0f;             // negative zeros and one spike
                            case 4 -> mag * (float) Math.abs(rnd.nextGaussian()) + mag;
                            default -> -mag * (float) Math.abs(rnd.nextGaussian());
                        };
                    }
                    out.add(g);
                }
            }
        }
        return out;
    }

    @Test
    void everyFormatAgreesWithTheReference() throws Exception {
        assumeTrue(skipReason == null, () -> skipReason);
        float[] nf4 = Codebooks.nf4();
        StringBuilder in = new StringBuilder();
        for (float v : DeviceTensor.codebookTable(nf4)) {
            in.append(Integer.toHexString(Float.floatToRawIntBits(v))).append(' ');
        }
        in.append('\n');
        List<QuantFormat> formats = TestData.allFormats();
        List<QuantFormat> caseFormat = new ArrayList<>();
        List<float[]> caseValues = new ArrayList<>();
        for (QuantFormat f : formats) {
            for (float[] g : groups(f, f.name().hashCode())) {
                caseFormat.add(f);
                caseValues.add(g);
                in.append(DeviceTensor.kindCode(f)).append(' ').append(f.bits()).append(' ')
                        .append(f.symmetric() ? 1 : 0).append(' ').append(f.scaleType() == ScaleType.F16 ? 1 : 0)
                        .append(' ').append(g.length);
                for (float v : g) {
                    in.append(' ').append(Integer.toHexString(Float.floatToRawIntBits(v)));
                }
                in.append('\n');
            }
        }
        List<String> lines = run(in.toString());
        assertEquals(caseValues.size(), lines.size(), "one output line per group");
        int checked = 0;
        for (int i = 0; i < lines.size(); i++) {
            QuantFormat f = caseFormat.get(i);
            float[] g = caseValues.get(i);
            String[] tok = lines.get(i).trim().split(" ");
            String where = f + " group " + i + " (length " + g.length + ", first " + g[0] + ")";
            try (Arena arena = Arena.ofConfined()) {
                QuantizedTensor t;
                try {
                    t = SCALAR.quantize(f, g, 1, g.length, arena);
                } catch (IllegalArgumentException e) {
                    assertEquals("1", tok[0], where + ": the reference refuses it (" + e.getMessage()
                            + ") but the CUDA rules do not");
                    continue;
                }
                assertEquals("0", tok[0], where + ": the CUDA rules refuse a group the reference takes");
                assertEquals(Float.floatToRawIntBits(Reference.scale(t, 0, 0)), (int) Long.parseLong(tok[1], 16),
                        where + ": scale");
                assertEquals(Float.floatToRawIntBits(Reference.zero(t, 0, 0)), (int) Long.parseLong(tok[2], 16),
                        where + ": zero point");
                float[] values = new float[g.length];
                SCALAR.dequantize(t, values);
                for (int c = 0; c < g.length; c++) {
                    assertEquals(Reference.code(t, 0, c), Integer.parseInt(tok[3 + c]), where + ": code " + c);
                    assertEquals(Float.floatToRawIntBits(values[c]),
                            (int) Long.parseLong(tok[3 + g.length + c], 16), where + ": value " + c);
                }
                byte[] want = t.data().toArray(java.lang.foreign.ValueLayout.JAVA_BYTE);
                int bar = 3 + 2 * g.length + want.length;
                int bar2 = bar + 1 + g.length;
                assertEquals(bar2 + 1 + (g.length % 4 == 0 ? g.length : 0), tok.length, where + ": stored bytes");
                assertEquals("|", tok[bar]);
                assertEquals("|", tok[bar2]);
                for (int c = 0; g.length % 4 == 0 && c < g.length; c++) {
                    assertEquals(Float.floatToRawIntBits(values[c]), (int) Long.parseLong(tok[bar2 + 1 + c], 16),
                            where + ": dequantized four at a time, element " + c);
                }
                for (int b = 0; b < want.length; b++) {
                    assertEquals(want[b] & 0xFF, Integer.parseInt(tok[3 + 2 * g.length + b], 16), where + ": byte " + b);
                }
                for (int c = 0; c < g.length; c++) {
                    assertEquals(Float.floatToRawIntBits(values[c]), (int) Long.parseLong(tok[bar + 1 + c], 16),
                            where + ": dequantized from the planes, element " + c);
                }
                checked++;
            }
        }
        assertTrue(checked > lines.size() / 2, "most groups are quantizable: " + checked + " of " + lines.size());
    }

    private static void assertTrue(boolean b, String message) {
        org.junit.jupiter.api.Assertions.assertTrue(b, message);
    }

    private static List<String> run(String input) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(binary.toString()).redirectErrorStream(false).start();
        Thread writer = Thread.ofVirtual().start(() -> {
            try (var os = p.getOutputStream()) {
                os.write(input.getBytes(StandardCharsets.US_ASCII));
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        });
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.US_ASCII);
        writer.join();
        if (!p.waitFor(120, TimeUnit.SECONDS) || p.exitValue() != 0) {
            fail("the host check failed: " + new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8));
        }
        return out.lines().toList();
    }
}
