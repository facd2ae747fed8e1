package dev.lowbit.gpu.cuda.kernels;

import dev.lowbit.format.Codebooks;
import dev.lowbit.format.QuantFormat;
import dev.lowbit.format.QuantizedTensor;
import dev.lowbit.format.ScaleType;
import dev.lowbit.format.SparseOutliers;
import dev.lowbit.kernels.ActivationFormat;
import dev.lowbit.kernels.KernelProvider;
import dev.lowbit.kernels.QuantizedActivations;
import dev.lowbit.kernels.MatmulOps;
import dev.lowbit.kernels.QuantOps;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The CUDA kernels themselves, unchanged, run on the CPU through a small emulation of the CUDA execution model
 * ({@code cuda_host_emu.h}: a thread per CUDA thread, barriers for warps and blocks, shuffles through shared slots,
 * {@code mma.m16n8k16} from its PTX fragment layouts), compared with the scalar reference: quantize on every path
 * (four elements per lane, one warp per group, whole rows in one pass and in two), dequantize, activation
 * quantization and the outlier adds bit for bit; W4A16, the fp32 and integer matrix products, the codebook-LUT GEMV
 * and the int8 epilogue within the reordering bound (or exactly, where the order is the reference's). This checks the kernels' indexing, packing and lane cooperation without a GPU; what it
 * cannot check is the hardware itself (timing, the real mma unit, memory ordering), which the GPU tests do.
 * Skipped with the reason when there is no g++.
 */
class KernelEmulationTest {
    @TempDir
    static Path dir;
    private static Path binary;
    private static String skipReason;

    private static final QuantOps SCALAR = new QuantOps(KernelProvider.scalar(), Runnable::run);
    private static final MatmulOps SCALAR_MM = new MatmulOps(KernelProvider.scalarMatmul(), KernelProvider.scalar(),
            Runnable::run);

    @BeforeAll
    static void build() throws Exception {
        Path gxx = null;
        for (String d : System.getenv().getOrDefault("PATH", "/usr/bin").split(java.io.File.pathSeparator)) {
            if (Files.isExecutable(Path.of(d, "g++"))) {
                gxx = Path.of(d, "g++");
                break;
            }
        }
        if (gxx == null) {
            skipReason = "g++ is not installed (not on PATH)";
            return;
        }
        Files.writeString(dir.resolve(KernelSources.HEADER), KernelSources.read(KernelSources.HEADER));
        for (String s : KernelSources.SOURCES) {
            Files.writeString(dir.resolve(s), KernelSources.read(s));
        }
        for (String r : List.of("cuda_host_emu.h", "kernels_emu.cpp")) {
            try (InputStream in = KernelEmulationTest.class.getResourceAsStream(r)) {
                Files.write(dir.resolve(r), in.readAllBytes());
            }
        }
        binary = dir.resolve("kernels_emu");
        Process p = new ProcessBuilder(gxx.toString(), "-std=c++20", "-O1", "-pthread", "-ffp-contract=off", "-Wall",
                "-Wextra", "-Werror", "-Wno-unknown-pragmas", "-Wno-unused-parameter", "-I" + dir, "-o",
                binary.toString(), dir.resolve("kernels_emu.cpp").toString()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(300, TimeUnit.SECONDS) || p.exitValue() != 0) {
            fail("g++ could not build the kernel emulation:\n" + out);
        }
    }

    private static String hex(float v) {
        return Integer.toHexString(Float.floatToRawIntBits(v));
    }

    private static String header() {
        StringBuilder sb = new StringBuilder();
        for (float v : DeviceTensor.codebookTable(Codebooks.nf4())) {
            sb.append(hex(v)).append(' ');
        }
        return sb.append('\n').toString();
    }

    private static List<String> run(String input) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(binary.toString()).start();
        Thread writer = Thread.ofVirtual().start(() -> {
            try (var os = p.getOutputStream()) {
                os.write(input.getBytes(StandardCharsets.US_ASCII));
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        });
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.US_ASCII);
        writer.join();
        if (!p.waitFor(300, TimeUnit.SECONDS) || p.exitValue() != 0) {
            fail("the kernel emulation failed: " + new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8));
        }
        return out.lines().toList();
    }

    private static int[] formatArgs(QuantFormat f, int cols) {
        return new int[] {DeviceTensor.kindCode(f), f.bits(), f.symmetric() ? 1 : 0,
            f.scaleType() == ScaleType.F16 ? 1 : 0, f.groupLength(cols)};
    }

    private static String bytesHex(MemorySegment s) {
        StringBuilder sb = new StringBuilder();
        if (s != null) {
            for (byte b : s.toArray(ValueLayout.JAVA_BYTE)) {
                sb.append(' ').append(String.format("%02x", b & 0xFF));
            }
        }
        return sb.toString();
    }

    /** The paths CudaQuant takes or could take for this shape. */
    private static List<String> paths(QuantFormat f, int cols) {
        if (f.groupSize() == QuantFormat.ROW && !f.isGgml()) {
            return List.of("fused", "twopass");
        }
        return cols % f.groupLength(cols) == 0 ? List.of("vec4", "groups") : List.of("groups");
    }

    @Test
    void quantizeKernelsMatchTheReferenceOnEveryPath() throws Exception {
        assumeTrue(skipReason == null, () -> skipReason);
        int[][] shapes = {{2, 384}, {3, 100}};
        StringBuilder in = new StringBuilder(header());
        List<String> expected = new ArrayList<>();
        List<String> what = new ArrayList<>();
        try (Arena arena = Arena.ofConfined()) {
            for (QuantFormat f : TestData.allFormats()) {
                for (int[] s : shapes) {
                    int rows = s[0];
                    int cols = s[1];
                    float[] x = TestData.matrix(rows, cols, 41L * cols + rows + f.name().hashCode());
                    QuantizedTensor t = SCALAR.quantize(f, x, rows, cols, arena);
                    String want = "ffffffffffffffff ffffffffffffffff |" + bytesHex(t.data()) + " |" + bytesHex(t.scales())
                            + " |" + bytesHex(t.zeros());
                    int[] a = formatArgs(f, cols);
                    for (String path : paths(f, cols)) {
                        in.append("Q ").append(path);
                        for (int v : a) {
                            in.append(' ').append(v);
                        }
                        in.append(' ').append(rows).append(' ').append(cols);
                        for (float v : x) {
                            in.append(' ').append(hex(v));
                        }
                        in.append('\n');
                        expected.add(want);
                        what.add(f + " " + rows + "x" + cols + " on path " + path);
                    }
                }
            }
        }
        List<String> got = run(in.toString());
        assertEquals(expected.size(), got.size());
        for (int i = 0; i < got.size(); i++) {
            assertEquals(expected.get(i), got.get(i), what.get(i));
        }
    }

    @Test
    void nonFiniteAndUnstorableScalesAreReported() throws Exception {
        assumeTrue(skipReason == null, () -> skipReason);
        float[] x = TestData.matrix(3, 128, 5);
        x[128 + 70] = Float.NaN;
        x[128 + 90] = Float.NEGATIVE_INFINITY;
        float[] big = TestData.matrix(3, 128, 6);
        big[2 * 128 + 3] = 1e9f;
        StringBuilder in = new StringBuilder(header());
        List<String> paths = List.of("vec4", "groups");
        for (float[] m : List.of(x, big)) {
            for (String path : paths) {
                in.append("Q ").append(path).append(" 0 8 1 1 32 3 128");
                for (float v : m) {
                    in.append(' ').append(hex(v));
                }
                in.append('\n');
            }
        }
        List<String> got = run(in.toString());
        for (int i = 0; i < 2; i++) {
            assertTrue(got.get(i).startsWith(Long.toHexString(128 + 70) + " "), got.get(i)); // first non-finite index
        }
        for (int i = 2; i < 4; i++) {
            assertTrue(got.get(i).startsWith("ffffffffffffffff " + Long.toHexString(2 * 4) + " "), got.get(i)); // block
        }
    }

    @Test
    void dequantizeKernelMatchesTheReference() throws Exception {
        assumeTrue(skipReason == null, () -> skipReason);
        int[][] shapes = {{3, 100}, {2, 128}, {2, 33}};
        StringBuilder in = new StringBuilder(header());
        List<float[]> expected = new ArrayList<>();
        List<String> what = new ArrayList<>();
        try (Arena arena = Arena.ofConfined()) {
            for (QuantFormat f : TestData.allFormats()) {
                for (int[] s : shapes) {
                    int rows = s[0];
                    int cols = s[1];
                    QuantizedTensor t = SCALAR.quantize(f, TestData.matrix(rows, cols, 3L * cols + rows), rows, cols,
                            arena);
                    float[] want = new float[rows * cols];
                    SCALAR.dequantize(t, want);
                    expected.add(want);
                    what.add(f + " " + rows + "x" + cols);
                    in.append("D");
                    for (int v : formatArgs(f, cols)) {
                        in.append(' ').append(v);
                    }
                    in.append(' ').append(rows).append(' ').append(cols).append(' ').append(t.data().byteSize())
                            .append(' ').append(t.scales() == null ? 0 : t.scales().byteSize()).append(' ')
                            .append(t.zeros() == null ? 0 : t.zeros().byteSize());
                    in.append(bytesHex(t.data())).append(bytesHex(t.scales())).append(bytesHex(t.zeros())).append('\n');
                }
            }
        }
        List<String> got = run(in.toString());
        assertEquals(expected.size(), got.size());
        for (int i = 0; i < got.size(); i++) {
            String[] tok = got.get(i).trim().split(" ");
            float[] want = expected.get(i);
            assertEquals(want.length, tok.length, what.get(i));
            for (int e = 0; e < want.length; e++) {
                assertEquals(Float.floatToRawIntBits(want[e]), (int) Long.parseLong(tok[e], 16),
                        what.get(i) + ", element " + e);
            }
        }
    }

    @Test
    void w4a16KernelMatchesTheReference() throws Exception {
        assumeTrue(skipReason == null, () -> skipReason);
        List<QuantFormat> formats = List.of(QuantFormat.Q4_0, QuantFormat.grouped(4, 32, true, ScaleType.F16),
                QuantFormat.grouped(4, 128, false, ScaleType.F32), QuantFormat.grouped(4, QuantFormat.ROW, false,
                        ScaleType.F16));
        int[][] shapes = {{16, 64, 1}, {32, 256, 5}, {16, 128, 16}, {48, 128, 33}, {16, 1024, 2}};
        StringBuilder in = new StringBuilder(header());
        List<float[]> expected = new ArrayList<>();
        List<double[]> magnitudes = new ArrayList<>();
        List<int[]> dims = new ArrayList<>();
        List<String> what = new ArrayList<>();
        try (Arena arena = Arena.ofConfined()) {
            for (int bf16 = 0; bf16 < 2; bf16++) {
                for (QuantFormat f : formats) {
                    for (int[] s : shapes) {
                        int rows = s[0];
                        int k = s[1];
                        int n = s[2];
                        if (k % f.groupLength(k) != 0) {
                            continue;
                        }
                        QuantizedTensor q = SCALAR.quantize(f, TestData.matrix(rows, k, rows + 7L * k), rows, k, arena);
                        float[] x = TestData.matrix(n, k, 100L + n + k);
                        short[] bits = new short[x.length];
                        float[] xr = new float[x.length];
                        for (int i = 0; i < x.length; i++) {
                            float v = Math.max(-60000f, Math.min(60000f, x[i]));
                            bits[i] = bf16 == 1 ? TestData.bf16Bits(v) : Float.floatToFloat16(v);
                            xr[i] = bf16 == 1 ? Float.intBitsToFloat((bits[i] & 0xFFFF) << 16)
                                    : Float.float16ToFloat(bits[i]);
                        }
                        float[] want = new float[n * rows];
                        SCALAR_MM.gemm(q, xr, n, want);
                        float[] dw = new float[rows * k];
                        SCALAR.dequantize(q, dw);
                        double[] mags = new double[n * rows];
                        for (int t = 0; t < n; t++) {
                            for (int r = 0; r < rows; r++) {
                                for (int c = 0; c < k; c++) {
                                    mags[t * rows + r] += Math.abs((double) dw[r * k + c] * xr[t * k + c]);
                                }
                            }
                        }
                        expected.add(want);
                        magnitudes.add(mags);
                        dims.add(new int[] {rows, k, n});
                        what.add("W4A16 " + (bf16 == 1 ? "bf16 " : "f16 ") + f + " " + rows + "x" + k + " n=" + n);
                        W4A16Weights w = W4A16Weights.of(q);
                        in.append("W ").append(bf16).append(' ').append(rows).append(' ').append(k).append(' ')
                                .append(w.groupLength()).append(' ').append(n);
                        for (int v : w.words()) {
                            in.append(' ').append(Integer.toHexString(v));
                        }
                        for (float v : w.scales()) {
                            in.append(' ').append(hex(v));
                        }
                        for (float v : w.zeros()) {
                            in.append(' ').append(hex(v));
                        }
                        for (short v : bits) {
                            in.append(' ').append(Integer.toHexString(v & 0xFFFF));
                        }
                        in.append('\n');
                    }
                }
            }
        }
        List<String> got = run(in.toString());
        assertEquals(expected.size(), got.size());
        for (int i = 0; i < got.size(); i++) {
            String[] tok = got.get(i).trim().split(" ");
            float[] want = expected.get(i);
            assertEquals(want.length, tok.length, what.get(i));
            for (int e = 0; e < want.length; e++) {
                float v = Float.intBitsToFloat((int) Long.parseLong(tok[e], 16));
                double bound = 2.0 * (dims.get(i)[1] + 64) * Math.ulp(1.0f) * magnitudes.get(i)[e] + Float.MIN_NORMAL;
                assertTrue(Math.abs(v - want[e]) <= bound, what.get(i) + ": element " + e + " is " + v
                        + ", the reference " + want[e] + " (bound " + bound + ")");
            }
        }
    }

    @Test
    void activationKernelsMatchTheReference() throws Exception {
        assumeTrue(skipReason == null, () -> skipReason);
        int[][] shapes = {{1, 1}, {3, 31}, {2, 100}, {4, 64}, {1, 1000}};
        StringBuilder in = new StringBuilder(header());
        List<String> expected = new ArrayList<>();
        List<String> what = new ArrayList<>();
        for (ActivationFormat af : ActivationFormat.values()) {
            for (int[] s : shapes) {
                float[] x = TestData.matrix(s[0], s[1], 13L * s[1] + s[0]);
                QuantizedActivations a = SCALAR_MM.quantizeActivations(x, s[0], s[1], af);
                StringBuilder want = new StringBuilder("ffffffffffffffff ffffffffffffffff |");
                for (byte b : a.codes()) {
                    want.append(' ').append(String.format("%02x", b & 0xFF));
                }
                want.append(" |");
                for (float v : a.scales()) {
                    want.append(' ').append(String.format("%08x", Float.floatToRawIntBits(v)));
                }
                expected.add(want.toString());
                what.add(af + " " + s[0] + "x" + s[1]);
                in.append("A ").append(af == ActivationFormat.Q8_0 ? 1 : 0).append(' ').append(s[0]).append(' ')
                        .append(s[1]);
                for (float v : x) {
                    in.append(' ').append(hex(v));
                }
                in.append('\n');
            }
        }
        List<String> got = run(in.toString());
        assertEquals(expected.size(), got.size());
        for (int i = 0; i < got.size(); i++) {
            assertEquals(expected.get(i), got.get(i), what.get(i));
        }
    }

    private static final List<QuantFormat> MATMUL_FORMATS = List.of(QuantFormat.Q8_0, QuantFormat.Q4_0, QuantFormat.Q4_1,
            QuantFormat.grouped(4, 32, true, ScaleType.F16), QuantFormat.grouped(4, 128, false, ScaleType.F32),
            QuantFormat.grouped(8, QuantFormat.ROW, true, ScaleType.F32), QuantFormat.grouped(8, 64, false, ScaleType.F16),
            QuantFormat.grouped(3, 64, true, ScaleType.F16), QuantFormat.grouped(2, 32, false, ScaleType.F32),
            QuantFormat.codebook4(64, ScaleType.F16), QuantFormat.codebook4(QuantFormat.ROW, ScaleType.F32));
    private static final int[][] MATMUL_SHAPES = {{7, 33, 1}, {16, 256, 5}, {9, 64, 3}};

    private static String planes(QuantizedTensor t) {
        return " " + t.data().byteSize() + " " + (t.scales() == null ? 0 : t.scales().byteSize()) + " "
                + (t.zeros() == null ? 0 : t.zeros().byteSize()) + bytesHex(t.data()) + bytesHex(t.scales())
                + bytesHex(t.zeros());
    }

    private static double[] magnitudes(QuantizedTensor q, float[] x, int n) {
        int rows = q.rows();
        int k = q.cols();
        float[] dw = new float[rows * k];
        SCALAR.dequantize(q, dw);
        double[] m = new double[n * rows];
        for (int t = 0; t < n; t++) {
            for (int r = 0; r < rows; r++) {
                for (int c = 0; c < k; c++) {
                    m[t * rows + r] += Math.abs((double) dw[r * k + c] * x[t * k + c]);
                }
            }
        }
        return m;
    }

    private static void assertWithin(float[] want, String line, double[] mags, int k, String what) {
        String[] tok = line.trim().split(" ");
        assertEquals(want.length, tok.length, what);
        for (int e = 0; e < want.length; e++) {
            float v = Float.intBitsToFloat((int) Long.parseLong(tok[e], 16));
            double bound = 2.0 * (k + 64) * Math.ulp(1.0f) * mags[e] + Float.MIN_NORMAL;
            assertTrue(Math.abs(v - want[e]) <= bound, what + ": element " + e + " is " + v + ", the reference "
                    + want[e] + " (bound " + bound + ")");
        }
    }

    private static void assertExact(float[] want, String line, String what) {
        String[] tok = line.trim().split(" ");
        assertEquals(want.length, tok.length, what);
        for (int e = 0; e < want.length; e++) {
            assertEquals(Float.floatToRawIntBits(want[e]), (int) Long.parseLong(tok[e], 16), what + ": element " + e);
        }
    }

    @Test
    void matrixProductKernelsMatchTheReference() throws Exception {
        assumeTrue(skipReason == null, () -> skipReason);
        StringBuilder in = new StringBuilder(header());
        List<float[]> expected = new ArrayList<>();
        List<double[]> mags = new ArrayList<>();
        List<Integer> ks = new ArrayList<>();
        List<String> what = new ArrayList<>();
        try (Arena arena = Arena.ofConfined()) {
            for (QuantFormat f : MATMUL_FORMATS) {
                for (int[] s : MATMUL_SHAPES) {
                    int rows = s[0];
                    int k = s[1];
                    int n = s[2];
                    QuantizedTensor q = SCALAR.quantize(f, TestData.matrix(rows, k, 5L * k + rows), rows, k, arena);
                    float[] x = TestData.matrix(n, k, 9L * k + n);
                    float[] want = new float[n * rows];
                    SCALAR_MM.gemm(q, x, n, want);
                    int[] a = formatArgs(f, k);
                    List<String> paths = new ArrayList<>(List.of("f32"));
                    if (CudaMatmul.codebookLut(f, k)) {
                        paths.add("lut");
                    }
                    for (String path : paths) {
                        in.append("M ").append(path);
                        for (int v : a) {
                            in.append(' ').append(v);
                        }
                        in.append(' ').append(rows).append(' ').append(k).append(' ').append(n).append(planes(q));
                        for (float v : x) {
                            in.append(' ').append(hex(v));
                        }
                        in.append('\n');
                        expected.add(want);
                        mags.add(magnitudes(q, x, n));
                        ks.add(k);
                        what.add(f + " " + rows + "x" + k + " n=" + n + " " + path);
                    }
                    boolean intPath = f.kind() != QuantFormat.Kind.CODEBOOK4
                            && (f.kind() != QuantFormat.Kind.GROUPED || f.bits() == 8 || f.bits() == 4);
                    for (ActivationFormat af : intPath ? ActivationFormat.values() : new ActivationFormat[0]) {
                        QuantizedActivations xa = SCALAR_MM.quantizeActivations(x, n, k, af);
                        float[] wantInt = new float[n * rows];
                        SCALAR_MM.gemm(q, xa, wantInt);
                        float[] xq = new float[n * k];
                        for (int t = 0; t < n; t++) {
                            for (int c = 0; c < k; c++) {
                                xq[t * k + c] = xa.codes()[t * xa.paddedK() + c] * xa.scale(t, c / 32);
                            }
                        }
                        in.append("I");
                        for (int v : a) {
                            in.append(' ').append(v);
                        }
                        in.append(' ').append(rows).append(' ').append(k).append(' ').append(n).append(' ')
                                .append(xa.paddedK()).append(' ').append(xa.scalesPerToken()).append(planes(q));
                        for (byte b : xa.codes()) {
                            in.append(' ').append(Integer.toHexString(b & 0xFF));
                        }
                        for (float v : xa.scales()) {
                            in.append(' ').append(hex(v));
                        }
                        in.append('\n');
                        expected.add(wantInt);
                        mags.add(magnitudes(q, xq, n));
                        ks.add(k);
                        what.add(f + " " + rows + "x" + k + " n=" + n + " integer path, " + af);
                    }
                }
            }
        }
        List<String> got = run(in.toString());
        assertEquals(expected.size(), got.size());
        for (int i = 0; i < got.size(); i++) {
            assertWithin(expected.get(i), got.get(i), mags.get(i), ks.get(i), what.get(i));
        }
    }

    private static void csr(StringBuilder in, SparseOutliers o) {
        for (int r = 0; r <= o.rows(); r++) {
            in.append(' ').append(Integer.toHexString(o.rowPtr(r)));
        }
        for (int e = 0; e < o.nnz(); e++) {
            in.append(' ').append(Integer.toHexString(o.col(e)));
        }
        for (int e = 0; e < o.nnz(); e++) {
            in.append(' ').append(hex(o.value(e)));
        }
    }

    @Test
    void outlierKernelsAddInTheReferenceOrder() throws Exception {
        assumeTrue(skipReason == null, () -> skipReason);
        int rows = 9;
        int k = 70;
        int n = 3;
        QuantFormat f = QuantFormat.Q8_0;
        StringBuilder in = new StringBuilder(header());
        List<float[]> expected = new ArrayList<>();
        List<String> what = new ArrayList<>();
        try (Arena arena = Arena.ofConfined()) {
            float[] w = TestData.matrix(rows, k, 77);
            SparseOutliers o = SparseOutliers.extract(w, rows, k, 0.5f, arena);
            assertTrue(o.nnz() > 10, "the test needs outliers: " + o.nnz());
            QuantizedTensor dense = SCALAR.quantize(f, w, rows, k, arena);
            QuantizedTensor q = dense.withOutliers(o);
            // Dequantize: the dense values plus each outlier.
            float[] plain = new float[rows * k];
            SCALAR.dequantize(dense, plain);
            float[] want = new float[rows * k];
            SCALAR.dequantize(q, want);
            in.append("O ").append(rows).append(' ').append(k).append(' ').append(o.nnz());
            csr(in, o);
            for (float v : plain) {
                in.append(' ').append(hex(v));
            }
            in.append('\n');
            expected.add(want);
            what.add("lb_outlier_add");
            // Products: the dense product, then the outliers in column order (fp32 and int8 activations).
            float[] x = TestData.matrix(n, k, 78);
            float[] yDense = new float[n * rows];
            SCALAR_MM.gemm(dense, x, n, yDense);
            float[] yWant = new float[n * rows];
            SCALAR_MM.gemm(q, x, n, yWant);
            in.append("G ").append(rows).append(' ').append(n).append(' ').append(k).append(" 0 ").append(o.nnz());
            csr(in, o);
            for (float v : x) {
                in.append(' ').append(hex(v));
            }
            for (float v : yDense) {
                in.append(' ').append(hex(v));
            }
            in.append('\n');
            expected.add(yWant);
            what.add("lb_outlier_gemm_add, fp32 activations");
            for (ActivationFormat af : ActivationFormat.values()) {
                QuantizedActivations xa = SCALAR_MM.quantizeActivations(x, n, k, af);
                float[] aDense = new float[n * rows];
                SCALAR_MM.gemm(dense, xa, aDense);
                float[] aWant = new float[n * rows];
                SCALAR_MM.gemm(q, xa, aWant);
                in.append("G ").append(rows).append(' ').append(n).append(' ').append(xa.paddedK()).append(' ')
                        .append(xa.scalesPerToken()).append(' ').append(o.nnz());
                csr(in, o);
                for (byte b : xa.codes()) {
                    in.append(' ').append(hex(b));
                }
                for (float v : xa.scales()) {
                    in.append(' ').append(hex(v));
                }
                for (float v : aDense) {
                    in.append(' ').append(hex(v));
                }
                in.append('\n');
                expected.add(aWant);
                what.add("lb_outlier_gemm_add, " + af);
            }
        }
        // The int8 epilogue: (dw[r] * dx[t]) * C[t][r].
        int[] c = {7, -3, 100000, -2000000000, 0, 1 << 24, (1 << 24) + 1, -5};
        float[] dw = {0.5f, 1e-3f, 3.25f, 7e-8f};
        float[] dx = {0.1f, 2.5f};
        float[] yEpi = new float[8];
        in.append("E 4 2");
        for (int v : c) {
            in.append(' ').append(Integer.toHexString(v));
        }
        for (float v : dw) {
            in.append(' ').append(hex(v));
        }
        for (float v : dx) {
            in.append(' ').append(hex(v));
        }
        in.append('\n');
        for (int t = 0; t < 2; t++) {
            for (int r = 0; r < 4; r++) {
                yEpi[t * 4 + r] = (dw[r] * dx[t]) * (float) c[t * 4 + r];
            }
        }
        expected.add(yEpi);
        what.add("lb_int8_dequant_epilogue");
        List<String> got = run(in.toString());
        assertEquals(expected.size(), got.size());
        for (int i = 0; i < got.size(); i++) {
            assertExact(expected.get(i), got.get(i), what.get(i));
        }
    }
}
