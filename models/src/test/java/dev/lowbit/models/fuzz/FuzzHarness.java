package dev.lowbit.models.fuzz;

import dev.lowbit.format.QuantizedTensor;
import dev.lowbit.format.io.LowbitFile;
import dev.lowbit.kernels.QuantOps;
import dev.lowbit.models.DenseTensor;
import dev.lowbit.models.GgufFile;
import dev.lowbit.models.GgufTensor;
import dev.lowbit.models.OnnxModel;
import dev.lowbit.models.OnnxReader;
import dev.lowbit.models.Safetensors;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Base64;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * The contract every file reader must meet on any input: it returns normally, or it throws an
 * {@link IOException} (a {@code CorruptFileException} included) or an {@link IllegalArgumentException}
 * whose message is one non-blank line. When it returns, every tensor it handed back is read in full
 * (bytes, then floats: dense tensors converted, quantized ones dequantized) inside the same check, so a
 * fault in a lazy view shows up as a finding too. Anything else is a finding: another exception, an
 * {@link Error} (out of memory and stack overflow included), or a read that has not ended after the time
 * limit. The reader runs on a watchdog thread so that a hang is reported instead of blocking the run.
 */
public final class FuzzHarness {
    private FuzzHarness() {
    }

    /** Per-input limit in milliseconds ({@code -Dlowbit.fuzz.timeout.ms}); the first input also pays for class loading. */
    static final long TIMEOUT_MS = Long.getLong("lowbit.fuzz.timeout.ms", 2000);
    private static final long FIRST_TIMEOUT_MS = Math.max(TIMEOUT_MS, 30_000);
    /** Inputs up to this size are printed in base64 with a finding, so that the message alone reproduces it. */
    private static final int PRINT_LIMIT = 8192;

    private static ExecutorService worker = newWorker();
    private static boolean warm;
    /** Keeps what the readers return observable, so that no read is optimised away. */
    static volatile long sink;

    private static ExecutorService newWorker() {
        return Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, "lowbit-fuzz-reader");
            t.setDaemon(true);
            return t;
        });
    }

    /** A reader under test: reads {@code input} (written to {@code scratch} first when it reads files) and touches all it returns. */
    @FunctionalInterface
    interface Target {
        long readAndTouch(byte[] input, Path scratch) throws Exception;
    }

    /** The four readers, each with its own scratch file name. */
    enum Reader implements Target {
        GGUF("gguf", ".gguf") {
            @Override
            public long readAndTouch(byte[] input, Path scratch) throws IOException {
                Files.write(scratch, input);
                try (Arena arena = Arena.ofConfined()) {
                    GgufFile.Contents c = GgufFile.read(scratch, arena);
                    long h = c.metadata().toString().length() + c.version() + c.alignment();
                    for (GgufTensor t : c.tensors().values()) {
                        h += bytes(t.data());
                        h += t.type().format() != null ? dequantize(t.toQuantized()) : floats(t.toDense());
                    }
                    return h;
                }
            }
        },
        SAFETENSORS("safetensors", ".safetensors") {
            @Override
            public long readAndTouch(byte[] input, Path scratch) throws IOException {
                Files.write(scratch, input);
                try (Arena arena = Arena.ofConfined()) {
                    Safetensors.Contents c = Safetensors.read(scratch, arena);
                    long h = c.metadata().toString().length() + c.unsupported().toString().length();
                    for (DenseTensor t : c.dense().values()) {
                        h += bytes(t.bytes()) + floats(t);
                    }
                    for (QuantizedTensor q : c.quantized().values()) {
                        h += dequantize(q);
                    }
                    return h;
                }
            }
        },
        ONNX("onnx", ".onnx") {
            @Override
            public long readAndTouch(byte[] input, Path scratch) throws IOException {
                // The in-memory entry point: read(Path) is Files.readAllBytes and then this.
                OnnxModel m = OnnxReader.read(input, scratch);
                long h = m.unsupported().toString().length() + m.nodes().toString().length()
                        + m.consumers().toString().length();
                for (DenseTensor t : m.initializers().values()) {
                    h += bytes(t.bytes()) + floats(t);
                }
                h += m.matrices().size() + m.linearWeights().size();
                return h;
            }
        },
        LOWBIT("lowbit", ".lowbit") {
            @Override
            public long readAndTouch(byte[] input, Path scratch) throws IOException {
                Files.write(scratch, StructuredLowbit.is(input) ? StructuredLowbit.build(input) : input);
                try (Arena arena = Arena.ofConfined()) {
                    LowbitFile.Contents c = LowbitFile.open(scratch, arena);
                    long h = c.metadata().toString().length();
                    for (QuantizedTensor q : c.tensors().values()) {
                        h += dequantize(q);
                    }
                    return h;
                }
            }
        };

        /** The corpus folder name under {@code src/test/resources/fuzz/}. */
        final String folder;
        /** The scratch file's suffix. */
        final String suffix;

        Reader(String folder, String suffix) {
            this.folder = folder;
            this.suffix = suffix;
        }
    }

    private static long bytes(MemorySegment s) {
        long h = 0;
        for (long i = 0; i < s.byteSize(); i++) {
            h = h * 31 + s.get(ValueLayout.JAVA_BYTE, i);
        }
        return h;
    }

    /** The values of a float tensor; other dtypes (integer tensors a reader lists) are touched through their bytes only. */
    private static long floats(DenseTensor t) {
        return switch (t.dtype().name()) {
            case "F32", "F16", "BF16" -> Arrays.hashCode(t.toFloats());
            default -> 0;
        };
    }

    private static long dequantize(QuantizedTensor q) {
        long h = bytes(q.data());
        if (q.scales() != null) {
            h += bytes(q.scales());
        }
        if (q.zeros() != null) {
            h += bytes(q.zeros());
        }
        float[] out = new float[Math.toIntExact(q.elements())];
        QuantOps.get().dequantize(q, out);
        return h + Arrays.hashCode(out);
    }

    /**
     * Runs {@code reader} on {@code input} and returns normally when the contract holds.
     *
     * @throws AssertionError naming the reader, what went wrong and (for small inputs) the input in base64,
     *                        with the reader's own throwable as the cause
     */
    static void check(Reader reader, byte[] input, Path scratch) {
        check(reader.folder, reader, input, scratch, TIMEOUT_MS);
    }

    /** {@link #check(Reader, byte[], Path)} for any target and limit (the harness's own tests use short ones). */
    static synchronized void check(String name, Target target, byte[] input, Path scratch, long timeoutMs) {
        Future<Long> f = worker.submit(() -> target.readAndTouch(input, scratch));
        Throwable thrown;
        try {
            sink += f.get(warm ? timeoutMs : Math.max(timeoutMs, FIRST_TIMEOUT_MS), TimeUnit.MILLISECONDS);
            warm = true;
            return;
        } catch (TimeoutException e) {
            f.cancel(true);
            // The stuck thread may never end: later inputs get a fresh one.
            worker.shutdownNow();
            worker = newWorker();
            throw finding(name, "no result after " + timeoutMs + " ms (a hang)", input, null);
        } catch (ExecutionException e) {
            thrown = e.getCause();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError("interrupted while the " + name + " reader ran", e);
        }
        warm = true;
        if (thrown instanceof IOException || thrown instanceof IllegalArgumentException) {
            String m = thrown.getMessage();
            if (m == null || m.isBlank()) {
                throw finding(name, thrown.getClass().getName() + " with no message", input, thrown);
            }
            if (m.indexOf('\n') >= 0 || m.indexOf('\r') >= 0) {
                throw finding(name, thrown.getClass().getName() + " with a message of more than one line", input, thrown);
            }
            return;
        }
        throw finding(name, thrown.getClass().getName() + (thrown.getMessage() == null ? "" : ": " + oneLine(thrown.getMessage())),
                input, thrown);
    }

    private static String oneLine(String s) {
        return s.replace("\n", "\\n").replace("\r", "\\r");
    }

    private static AssertionError finding(String name, String what, byte[] input, Throwable cause) {
        String data = input.length <= PRINT_LIMIT
                ? "base64 " + Base64.getEncoder().encodeToString(input)
                : "(too long to print; the fuzzer saves it as a crash file)";
        return new AssertionError("fuzz finding in the " + name + " reader: " + what + " on a " + input.length
                + "-byte input, " + data, cause);
    }

    /** The readers by corpus folder name. */
    static final Map<String, Reader> BY_FOLDER = Map.of("gguf", Reader.GGUF, "safetensors", Reader.SAFETENSORS,
            "onnx", Reader.ONNX, "lowbit", Reader.LOWBIT);
}
