package dev.lowbit.kernels.gpu.cuda;

import dev.lowbit.format.QuantFormat;
import dev.lowbit.format.QuantizedTensor;
import dev.lowbit.format.ScaleType;
import dev.lowbit.bindings.cuda.CublasLt;
import dev.lowbit.bindings.cuda.CudaEvent;
import dev.lowbit.bindings.cuda.DeviceMemory;
import dev.lowbit.kernels.ActivationFormat;
import dev.lowbit.kernels.KernelProvider;
import dev.lowbit.kernels.QuantOps;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;

/**
 * The CUDA benchmark: lowbit's kernels timed with CUDA events (median of batches of back-to-back calls), beside the PyTorch baselines
 * measured in the same device call ({@code kernels-gpu/bench/cuda_baselines.py} writes them as {@code key=value}
 * lines). Every operand is rotated over copies that together exceed the 50 MB L2 cache, so that no run reads from a
 * warm cache. Results are checked before they are timed (a wrong kernel is not a fast one).
 *
 * <pre>java ... dev.lowbit.kernels.gpu.cuda.CudaBench torch-baselines.txt results.md</pre>
 */
public final class CudaBench {
    private static final long ROTATE_BYTES = 256L << 20; // five times the H100's L2
    private static final int BATCHES = 7;
    private static final int PER_BATCH = 20;

    private final CudaRuntime rt;
    private final Map<String, Double> torch;
    private final List<String[]> rows = new ArrayList<>();

    private CudaBench(CudaRuntime rt, Map<String, Double> torch) {
        this.rt = rt;
        this.torch = torch;
    }

    public static void main(String[] args) throws IOException {
        Map<String, Double> torch = args.length > 0 ? readBaselines(Path.of(args[0])) : Map.of();
        Path out = args.length > 1 ? Path.of(args[1]) : null;
        try (CudaRuntime rt = CudaRuntime.open(0)) {
            CudaBench b = new CudaBench(rt, torch);
            b.run();
            String table = b.table();
            System.out.println(table);
            if (out != null) {
                Files.writeString(out, table);
            }
        }
    }

    static Map<String, Double> readBaselines(Path p) throws IOException {
        Map<String, Double> m = new LinkedHashMap<>();
        for (String line : Files.readAllLines(p)) {
            int eq = line.indexOf('=');
            if (eq > 0 && !line.startsWith("#")) {
                m.put(line.substring(0, eq).trim(), Double.parseDouble(line.substring(eq + 1).trim()));
            }
        }
        return m;
    }

    /**
     * Milliseconds per call: {@code BATCHES} batches of {@code PER_BATCH} calls queued back to back between two
     * events (so the GPU never waits for the host between calls), the median of the batches' averages.
     */
    private double medianMillis(java.util.function.IntConsumer body) {
        for (int i = 0; i < 5; i++) {
            body.accept(i);
        }
        rt.synchronize();
        double[] ms = new double[BATCHES];
        int call = 0;
        try (CudaEvent start = rt.device().createEvent(); CudaEvent end = rt.device().createEvent()) {
            for (int b = 0; b < BATCHES; b++) {
                start.record(null);
                for (int i = 0; i < PER_BATCH; i++) {
                    body.accept(call++);
                }
                end.record(null);
                end.synchronize();
                ms[b] = start.elapsedMillis(end) / PER_BATCH;
            }
        }
        Arrays.sort(ms);
        return ms[BATCHES / 2];
    }

    private void row(String what, String lowbit, String peer, String ratio, String target) {
        rows.add(new String[] {what, lowbit, peer, ratio, target});
    }

    private static String f(String fmt, double v) {
        return String.format(Locale.ROOT, fmt, v);
    }

    private String table() {
        StringBuilder sb = new StringBuilder();
        sb.append("Device: ").append(rt.device()).append('\n').append('\n');
        sb.append("| measurement | lowbit | PyTorch 2.11 | ratio | target |\n|---|---|---|---|---|\n");
        for (String[] r : rows) {
            sb.append("| ").append(String.join(" | ", r)).append(" |\n");
        }
        return sb.toString();
    }

    private void run() {
        double copy = copyBandwidth();
        Double torchCopy = torch.get("copy_gbps");
        row("device copy (GB/s read + written)", f("%.0f", copy), torchCopy == null ? "-" : f("%.0f", torchCopy),
                torchCopy == null ? "-" : f("%.2f", copy / torchCopy), "-");
        quantizeAndDequantize(copy);
        int8Gemm(4096);
        int8Gemm(8192);
        w4a16(1);
        w4a16(16);
        codebookGemv();
    }

    /** Device-to-device copies of 1 GiB, counted as bytes read plus bytes written. */
    private double copyBandwidth() {
        long bytes = 1L << 30;
        try (DeviceMemory a = rt.allocate(bytes); DeviceMemory b = rt.allocate(bytes)) {
            a.fill((byte) 1);
            double ms = medianMillis(i -> b.copyFromAsync(a, bytes, null));
            return 2.0 * bytes / (ms * 1e6);
        }
    }

    private void quantizeAndDequantize(double copy) {
        int rows = 8192;
        int cols = 8192;
        long elements = (long) rows * cols; // 256 MB of fp32: larger than L2 by itself
        float[] host = TestData.matrix(256, cols, 1);
        CudaQuant q = new CudaQuant(rt);
        List<QuantFormat> formats = List.of(QuantFormat.Q8_0, QuantFormat.Q4_0,
                QuantFormat.grouped(4, 128, true, ScaleType.F16), QuantFormat.grouped(8, QuantFormat.ROW, true,
                        ScaleType.F32));
        try (DeviceMemory src = rt.allocate(4 * elements); DeviceMemory dst = rt.allocate(4 * elements)) {
            // The source repeats one seeded block of 256 rows; the first block is checked against the reference.
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment block = arena.allocate(4L * host.length);
                MemorySegment.copy(host, 0, block, java.lang.foreign.ValueLayout.JAVA_FLOAT, 0, host.length);
                for (int i = 0; i < rows / 256; i++) {
                    src.copyFrom(block, 4L * i * host.length);
                }
            }
            for (QuantFormat f : formats) {
                try (DeviceTensor t = q.quantize(f, src, rows, cols, null); DeviceMemory status = q.newStatus()) {
                    check(f, t, host);
                    long quantBytes = rows * f.rowBytes(cols) + (long) rows * f.groupsPerRow(cols)
                            * (f.isGgml() ? 0 : f.scaleType().bytes());
                    double qms = medianMillis(i -> q.quantizeAsync(src, t, status));
                    q.checkStatus(t, status);
                    double qgbps = (4.0 * elements + quantBytes) / (qms * 1e6);
                    row("quantize " + f + " 8192x8192 (GB/s)", f("%.0f", qgbps), "-", f("%.2f", qgbps / copy)
                            + " of copy", ">= 0.90 of copy");
                    double dms = medianMillis(i -> q.dequantize(t, dst));
                    double dgbps = (4.0 * elements + quantBytes) / (dms * 1e6);
                    row("dequantize " + f + " 8192x8192 (GB/s)", f("%.0f", dgbps), "-", f("%.2f", dgbps / copy)
                            + " of copy", ">= 0.90 of copy");
                }
            }
        }
    }

    /** The first 256 rows (the host block) must match the scalar reference bit for bit. */
    private void check(QuantFormat f, DeviceTensor t, float[] host) {
        try (Arena arena = Arena.ofConfined()) {
            QuantizedTensor want = new QuantOps(KernelProvider.scalar(), null).quantize(f, host, 256, t.cols(), arena);
            MemorySegment got = arena.allocate(want.data().byteSize());
            t.data.copyTo(got);
            if (got.mismatch(want.data()) != -1) {
                throw new IllegalStateException("quantize " + f + " differs from the reference");
            }
        }
    }

    private void int8Gemm(int size) {
        int n = size;
        int rows = size;
        int k = size;
        CudaQuant q = new CudaQuant(rt);
        CudaMatmul mm = new CudaMatmul(rt);
        QuantFormat f = QuantFormat.grouped(8, QuantFormat.ROW, true, ScaleType.F32);
        float[] w = TestData.matrix(rows, k, 3);
        float[] x = TestData.matrix(n, k, 4);
        try (CublasLt lt = CublasLt.create(rt.device());
             DeviceMemory dw32 = rt.upload(w, 0, w.length);
             DeviceMemory dx32 = rt.upload(x, 0, x.length);
             DeviceTensor dw = q.quantize(f, dw32, rows, k, null);
             CudaMatmul.Int8Weights iw = mm.int8Weights(dw);
             CudaQuant.DeviceActivations a = q.quantizeActivations(dx32, n, k, ActivationFormat.PER_TOKEN_INT8);
             DeviceMemory c = rt.allocate(4L * rows * n);
             DeviceMemory y = rt.allocate(4L * rows * n)) {
            dev.lowbit.bindings.cuda.Int8GemmShape shape = new dev.lowbit.bindings.cuda.Int8GemmShape(rows, n, k, k, a.paddedK(),
                    rows);
            // Copies of both operands, rotated, so that together they exceed L2 (scales are shared).
            int copies = (int) Math.max(2, ROTATE_BYTES / (2L * rows * k) + 1);
            List<DeviceMemory> owned = new ArrayList<>();
            List<CudaMatmul.Int8Weights> ws = new ArrayList<>();
            List<CudaQuant.DeviceActivations> xs = new ArrayList<>();
            try {
                for (int i = 0; i < copies; i++) {
                    DeviceMemory wc = rt.allocate(iw.codes().byteSize());
                    owned.add(wc);
                    wc.copyFromAsync(iw.codes(), wc.byteSize(), null);
                    DeviceMemory xc = rt.allocate(a.codes().byteSize());
                    owned.add(xc);
                    xc.copyFromAsync(a.codes(), xc.byteSize(), null);
                    ws.add(new CudaMatmul.Int8Weights(rows, k, wc, iw.scales()));
                    xs.add(new CudaQuant.DeviceActivations(a.format(), n, k, xc, a.scales()));
                }
                rt.synchronize();
                double gemm = medianMillis(i -> lt.int8Gemm(shape, ws.get(i % copies).codes(),
                        xs.get(i % copies).codes(), c, null));
                double all = medianMillis(i -> mm.int8Gemm(lt, ws.get(i % copies), xs.get(i % copies), c, y, rows));
                reportInt8(size, rows, n, k, gemm, all);
            } finally {
                owned.forEach(DeviceMemory::close);
            }
        }
    }

    private void reportInt8(int size, int rows, int n, int k, double gemm, double all) {
        double ops = 2.0 * rows * n * k;
        double tops = ops / (gemm * 1e9);
        double topsAll = ops / (all * 1e9);
        Double peer = torch.get("int_mm_" + size + "_tops");
        row("int8 GEMM " + size + "^3, cuBLASLt only (TOPS)", f("%.0f", tops), peer == null ? "-" : f("%.0f", peer),
                peer == null ? "-" : f("%.2f", tops / peer), ">= 0.95");
        row("int8 GEMM " + size + "^3 + dequantize epilogue (TOPS)", f("%.0f", topsAll),
                peer == null ? "-" : f("%.0f", peer), peer == null ? "-" : f("%.2f", topsAll / peer), ">= 0.95");
    }

    private void w4a16(int m) {
        int rows = 8192;
        int k = 8192;
        QuantFormat f = QuantFormat.grouped(4, 128, true, ScaleType.F16);
        float[] w = TestData.matrix(rows, k, 5);
        try (Arena arena = Arena.ofConfined()) {
            QuantizedTensor q = new QuantOps(KernelProvider.scalar(), null).quantize(f, w, rows, k, arena);
            W4A16Weights host = W4A16Weights.of(q);
            long weightBytes = 4L * host.words().length;
            int copies = (int) Math.max(2, (ROTATE_BYTES + weightBytes - 1) / weightBytes);
            List<W4A16Weights.OnDevice> rotation = new ArrayList<>();
            short[] xs = new short[m * k];
            Random rnd = new Random(6);
            for (int i = 0; i < xs.length; i++) {
                xs[i] = TestData.bf16Bits((float) rnd.nextGaussian());
            }
            try (DeviceMemory x = rt.upload(MemorySegment.ofArray(xs)); DeviceMemory y = rt.allocate(4L * m * rows)) {
                for (int i = 0; i < copies; i++) {
                    rotation.add(host.upload(rt));
                }
                CudaMatmul mm = new CudaMatmul(rt);
                double ms = medianMillis(i -> mm.w4a16(rotation.get(i % copies), x, CudaMatmul.HalfType.BF16, m, y,
                        rows));
                Double peer = torch.get("bf16_m" + m + "_us");
                double us = ms * 1e3;
                double gbps = (weightBytes + 8.0 * rows * k / 128) / (ms * 1e6);
                row("W4A16 GEMV bf16, K=N=8192, M=" + m + " (us; weights GB/s)", f("%.1f", us) + " (" + f("%.0f", gbps)
                        + " GB/s)", peer == null ? "-" : f("%.1f", peer) + " (bf16 matmul)",
                        peer == null ? "-" : f("%.2f", peer / us) + "x faster", m == 1 ? ">= 2.5x" : ">= 2x");
            } finally {
                rotation.forEach(W4A16Weights.OnDevice::close);
            }
        }
    }

    private void codebookGemv() {
        int rows = 8192;
        int k = 8192;
        QuantFormat f = QuantFormat.codebook4(64, ScaleType.F16);
        float[] w = TestData.matrix(rows, k, 8);
        float[] x = TestData.matrix(1, k, 9);
        try (Arena arena = Arena.ofConfined()) {
            QuantizedTensor q = new QuantOps(KernelProvider.scalar(), null).quantize(f, w, rows, k, arena);
            int copies = (int) Math.max(2, ROTATE_BYTES / q.byteSize() + 1);
            List<DeviceTensor> rotation = new ArrayList<>();
            try (DeviceMemory dx = rt.upload(x, 0, k); DeviceMemory y = rt.allocate(4L * rows)) {
                for (int i = 0; i < copies; i++) {
                    rotation.add(DeviceTensor.upload(rt, q));
                }
                CudaMatmul mm = new CudaMatmul(rt);
                double ms = medianMillis(i -> mm.gemmF32(rotation.get(i % copies), dx, 1, y, rows));
                row("codebook-LUT GEMV NF4 g64, K=N=8192, M=1 (us; weights GB/s)", f("%.1f", ms * 1e3) + " ("
                        + f("%.0f", q.byteSize() / (ms * 1e6)) + " GB/s)", "-", "-", "-");
            } finally {
                rotation.forEach(DeviceTensor::close);
            }
        }
    }
}
