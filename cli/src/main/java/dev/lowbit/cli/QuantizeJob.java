package dev.lowbit.cli;

import dev.lowbit.algorithms.GgmlRtn;
import dev.lowbit.algorithms.QuantResult;
import dev.lowbit.algorithms.QuantSpec;
import dev.lowbit.format.QuantFormat;
import dev.lowbit.format.QuantizedTensor;
import dev.lowbit.format.ScaleType;
import dev.lowbit.kernels.ThreadPool;
import dev.lowbit.models.DenseTensor;
import dev.lowbit.models.GgmlType;
import dev.lowbit.models.GgufFile;
import dev.lowbit.models.GgufTensor;
import dev.lowbit.models.GgufValue;
import dev.lowbit.models.Safetensors;

import java.io.IOException;
import java.io.PrintStream;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * The work of {@code lowbit quantize}: checks the output before anything else, reads the model, quantizes
 * its weight matrices, writes every other tensor through unchanged, and accounts for each tensor in one
 * summary line (and one line each with {@code --verbose}).
 */
final class QuantizeJob {

    /**
     * What the command line asked for.
     *
     * @param model     a model file, or {@link BuiltinModel#MINILM} for the built-in all-MiniLM-L6-v2
     * @param out       the file to write
     * @param method    a name of {@link Methods#names()}
     * @param bits      the width, or null for the method's default
     * @param group     the group size ({@link QuantFormat#ROW} for rows), or null for the default
     * @param layers    the {@code --layers} pattern, or null for every matrix
     * @param threads   worker threads
     * @param force     replace an existing {@code out}
     * @param verbose   one line per tensor
     * @param clamp     replace NaN by 0 and infinities by the row's largest finite magnitude, instead of refusing
     * @param scales    the type of the stored scales
     */
    record Settings(String model, Path out, String method, Integer bits, Integer group, Pattern layers, int threads,
                    boolean force, boolean verbose, boolean clamp, ScaleType scales) {
    }

    /** GGUF's {@code general.quantization_version} for the block layouts lowbit writes (ggml's current one). */
    static final int GGML_QUANTIZATION_VERSION = 2;

    private QuantizeJob() {
    }

    static int run(Settings s, PrintStream out, PrintStream err) throws Exception {
        ModelFile outType = ModelFile.require(s.out(), "--out", ModelFile.SAFETENSORS, ModelFile.GGUF);
        boolean builtin = BuiltinModel.isMiniLm(s.model());
        Path model = builtin ? null : Path.of(s.model());
        if (!builtin) {
            ModelFile.require(model, "--model", ModelFile.values());
        }
        Methods.Choice choice = Methods.choose(s.method(), s.bits(), s.group(), s.scales(), outType == ModelFile.GGUF);
        OutputFile target = OutputFile.check(s.out(), s.force(), builtin ? List.of() : List.of(model));
        if (!builtin) {
            Weights.requireRegularFile(model, "--model");
        }
        try (Arena arena = Arena.ofShared(); ThreadPool pool = ThreadPool.forkJoin(s.threads())) {
            long t0 = System.nanoTime();
            Weights w = builtin ? Weights.miniLm(s.layers()) : Weights.read(model, s.layers(), arena);
            slowPhase(err, "reading " + w.source(), t0);
            Ledger ledger = new Ledger(w);
            boolean onnx = w.type() == ModelFile.ONNX;
            Map<String, QuantFormat> plan = choice.recipe() != null ? choice.plan(w.matrices(), w.others(), onnx) : null;
            List<Weights.Matrix> todo = new ArrayList<>();
            for (Weights.Matrix m : w.matrices()) {
                if (plan != null && plan.get(m.name()) == null) {
                    ledger.keep(m.name(), choice.keptWhy(m, onnx));
                } else if (plan == null && outType == ModelFile.GGUF && m.cols() % QuantFormat.GGML_BLOCK != 0) {
                    ledger.keep(m.name(), Weights.Kept.PARTIAL_BLOCK);
                } else {
                    todo.add(m);
                }
            }
            if (todo.isEmpty()) {
                throw new IllegalArgumentException((builtin ? "the built-in model" : model.toString())
                        + " has no weight matrix to quantize" + (s.layers() != null ? " that matches --layers" : "")
                        + (ledger.keptCount() > 0 ? " (" + ledger.reasons() + ")" : ""));
            }
            // What the output keeps as it is must fit the output's format: found out now, not after the work.
            List<GgufTensor> keptInGguf = outType == ModelFile.GGUF ? keptInGguf(w, ledger) : null;
            Weights work = new Weights(w.source(), w.type(), List.copyOf(todo), w.others(), w.quantized(), w.metadata(),
                    w.gguf(), w.kept());
            String how = choice.spec() == null ? "lowbit quantize --method " + s.method()
                    + (s.clamp() ? " --non-finite clamp" : "")
                    : "lowbit quantize --method " + s.method() + " --bits " + choice.spec().bits() + " --group "
                    + Options.groupName(choice.spec().groupSize()) + (s.clamp() ? " --non-finite clamp" : "")
                    + (choice.spec().scaleType() == ScaleType.F32 ? " --scales f32" : "");
            Runs.Prepare prepare = m -> {
                dev.lowbit.algorithms.Quantizer q = choice.quantizer(plan == null ? null : plan.get(m.name()), pool);
                if (q instanceof GgmlRtn g && !m.transposed()) {
                    // ggml's blocks never span rows: the matrix is read, checked and quantized a band of rows at a time.
                    return a -> g.quantize((r, n, dst) -> ledger.clamped(m.name(), band(m, r, n, dst, s.clamp())),
                            m.rows(), m.cols(), a);
                }
                ledger.clamped(m.name(), NonFinite.check(m, s.clamp()));
                return a -> q.quantize(m.values(), m.rows(), m.cols(), a);
            };
            Ticker ticker = new Ticker(err, todo.size(), work.parameters());
            Runs.Run[] run = new Runs.Run[1];
            if (outType == ModelFile.GGUF) {
                // Streaming: every tensor info first (each matrix's type and size follow from the plan), then the
                // kept tensors' bytes, then each matrix as soon as it is quantized; its fp32 values and blocks go.
                List<GgufFile.TensorInfo> infos = new ArrayList<>();
                keptInGguf.forEach(t -> infos.add(new GgufFile.TensorInfo(ggufName(w, t.name()), t.type(), t.dims())));
                for (Weights.Matrix m : todo) {
                    QuantFormat f = plan != null ? plan.get(m.name()) : choice.ggml();
                    infos.add(new GgufFile.TensorInfo(ggufName(w, m.name()), GgmlType.of(f), new long[]{m.cols(), m.rows()}));
                }
                GgufFile.write(target.target(), ggufMetadata(w, how, choice, err), infos, out2 -> {
                    for (GgufTensor t : keptInGguf) {
                        out2.tensor(ggufName(w, t.name()), t.data());
                        if (t.data().isMapped()) {
                            t.data().unload();
                        }
                    }
                    run[0] = quantize(choice, prepare, work, null, (m, r) -> {
                        try (Arena each = Arena.ofConfined()) {
                            out2.tensor(ggufName(w, m.name()), choice.container(r.tensor(), each).data());
                        }
                        m.release();
                        ticker.add(m, r.tensor().byteSize());
                    }, err);
                });
            } else {
                Map<String, QuantizedTensor> quantized = new LinkedHashMap<>();
                Map<String, String> metadata = new LinkedHashMap<>();
                run[0] = quantize(choice, prepare, work, arena, (m, r) -> {
                    QuantizedTensor t = choice.container(r.tensor(), arena);
                    quantized.put(m.name(), t);
                    if (r.exponents() != null && !r.exponentsInTensor()) {
                        metadata.put(QuantizeCommand.EXPONENTS_KEY + m.name(), QuantizeCommand.exponents(r));
                    }
                    m.release();
                    ticker.add(m, t.byteSize());
                }, err);
                long t1 = System.nanoTime();
                writeSafetensors(target.target(), w, quantized, metadata, how);
                slowPhase(err, "writing " + s.out(), t1);
            }
            Runs.Run done = run[0];
            for (Runs.Layer l : done.layers()) {
                ledger.quantized(l);
            }
            long bytesIn = builtin ? w.others().values().stream().mapToLong(d -> d.bytes().byteSize()).sum()
                    + w.matrices().stream().mapToLong(m -> m.stored().bytes().byteSize()).sum() : Files.size(model);
            long bytesOut = Files.size(target.target());
            if (s.verbose()) {
                ledger.list(out);
            }
            out.println(Units.f("%s: %s, %d bits, group %s (%s): quantized %d, kept as they were %d%s; %d bytes in, %d out",
                    s.out(), s.method(), choice.bits(), Options.groupName(choice.group()),
                    formats(done) + (choice.repack() ? " in " + choice.ggml().name() + " blocks" : ""),
                    done.layers().size(), ledger.keptCount(),
                    ledger.keptCount() > 0 ? " (" + ledger.reasons() + ")" : "", bytesIn, bytesOut));
            out.println(Units.f("relative error %.4e (worst layer %.4e, %s), SQNR %.2f dB, outliers %.3f%%%s",
                    done.relativeError(), done.worst().relativeError(), done.worst().name(), done.sqnrDb(),
                    100 * done.outlierFraction(), ledger.clampedTotal() > 0
                            ? Units.f("; %d non-finite values clamped", ledger.clampedTotal()) : ""));
            out.println(Units.f("matrices: %d bytes (%.3f bits/weight) from %d bytes of fp32; %.1f s",
                    done.bytes(), 8.0 * done.bytes() / done.elements(), 4 * done.elements(), done.seconds()));
        }
        return 0;
    }

    /**
     * Rows {@code row .. row + n - 1} of {@code m} into {@code dst} in fp32, checked for NaN and infinities (or
     * clamped), from the stored tensor; a mapped file's pages are given back once read.
     *
     * @return how many values were clamped
     */
    private static long band(Weights.Matrix m, int row, int n, float[] dst, boolean clamp) {
        DenseTensor d = m.stored();
        long rowBytes = (long) m.cols() * d.dtype().bytes();
        java.lang.foreign.MemorySegment bytes = d.bytes().asSlice(row * rowBytes, n * rowBytes);
        new DenseTensor(d.name(), d.dtype(), new long[]{n, m.cols()}, bytes).toFloats(dst);
        if (bytes.isMapped()) {
            bytes.unload();
        }
        return NonFinite.check(m.name(), dst, n, m.cols(), row, clamp);
    }

    /** The run of the method over {@code work}, with the message of a refused scale naming the option. */
    private static Runs.Run quantize(Methods.Choice choice, Runs.Prepare prepare, Weights work, Arena arena,
                                     Runs.Sink sink, PrintStream err) throws IOException {
        try {
            return Runs.run(choice.label(), choice.spec(), choice.bits(), prepare, work, arena, sink, err);
        } catch (IllegalArgumentException e) {
            throw choice.spec() == null ? e : scalesHint(e, choice.spec());
        }
    }

    /**
     * The formats of the quantized matrices: the one format, or each with its count in order of first use
     * ({@code q4_k 5, q6_k 2}) when a mixture or a fallback gives several.
     */
    static String formats(Runs.Run run) {
        Map<String, Integer> n = new LinkedHashMap<>();
        run.layers().forEach(l -> n.merge(l.format(), 1, Integer::sum));
        if (n.size() == 1) {
            return n.keySet().iterator().next();
        }
        List<String> parts = new ArrayList<>();
        n.forEach((f, c) -> parts.add(f + " " + c));
        return String.join(", ", parts);
    }

    /**
     * A line on stderr every few seconds of a long run when stderr is not a terminal (where the progress bar
     * shows the same): the matrices done, the bytes read and written, and the rate.
     */
    private static final class Ticker {
        private static final long EVERY_NANOS = 5_000_000_000L;
        private final PrintStream err;
        private final boolean quiet;
        private final int matrices;
        private final long elements;
        private final long start = System.nanoTime();
        private long last = start;
        private int done;
        private long read;
        private long written;
        private long elementsDone;

        Ticker(PrintStream err, int matrices, long elements) {
            this.err = err;
            this.quiet = err == System.err && System.console() != null && System.console().isTerminal();
            this.matrices = matrices;
            this.elements = Math.max(elements, 1);
        }

        void add(Weights.Matrix m, long bytesOut) {
            done++;
            read += m.stored().bytes().byteSize();
            written += bytesOut;
            elementsDone += m.elements();
            long now = System.nanoTime();
            if (!quiet && now - last >= EVERY_NANOS && done < matrices) {
                last = now;
                double s = (now - start) / 1e9;
                err.println(Units.f("quantize: %d of %d matrices (%d%%), %d bytes read, %d written, %.1f MB/s",
                        done, matrices, 100 * elementsDone / elements, read, written, read / s / 1e6));
                err.flush();
            }
        }
    }

    /** One line for a phase that took over 2 seconds (quick ones stay quiet, so a refusal stays one line). */
    private static void slowPhase(PrintStream err, String what, long startNanos) {
        double s = (System.nanoTime() - startNanos) / 1e9;
        if (s > 2) {
            err.println(Units.f("%s: done in %.1f s", what, s));
        }
    }

    /** A scale beyond fp16's range: the message with the option that stores wider scales. */
    private static IllegalArgumentException scalesHint(IllegalArgumentException e, QuantSpec spec) {
        String m = e.getMessage() == null ? "" : e.getMessage();
        if (spec.scaleType() == ScaleType.F16 && m.contains("F16") && !m.contains("--scales")) {
            return new IllegalArgumentException(m + " (pass --scales f32 to store scales as F32)", e);
        }
        return e;
    }

    private static void writeSafetensors(Path target, Weights w, Map<String, QuantizedTensor> quantized,
                                         Map<String, String> metadata, String how) throws IOException {
        w.metadata().forEach(metadata::putIfAbsent);
        metadata.put("quantized_by", how);
        metadata.put("source", w.source().getFileName().toString());
        if (w.type() == ModelFile.ONNX) {
            metadata.put("layout", "quantized tensors are [out, in]: the ONNX MatMul weights transposed");
        }
        // Every tensor: the kept ones as they were (matrices left unquantized among them), then the quantized ones.
        Map<String, DenseTensor> dense = new LinkedHashMap<>(w.others());
        for (Weights.Matrix m : w.matrices()) {
            if (!quantized.containsKey(m.name())) {
                dense.put(m.name(), m.stored());
            }
        }
        Map<String, QuantizedTensor> all = new LinkedHashMap<>(w.quantized());
        for (Map.Entry<String, QuantizedTensor> e : quantized.entrySet()) {
            if (all.put(e.getKey(), e.getValue()) != null) {
                throw new IllegalArgumentException("tensor '" + e.getKey() + "' appears twice in " + w.source());
            }
        }
        Safetensors.write(target, dense, all, metadata);
    }

    /**
     * The tensors a GGUF output keeps as they are, in GGUF's types: a float type GGUF lacks is widened to
     * F32 (exactly), and a matrix whose rows are not whole blocks is written as the file stored it (ONNX
     * MatMul weights as {@code [out, in]} F32, like the quantized ones).
     *
     * @throws IllegalArgumentException for a tensor GGUF cannot hold, before any work
     */
    private static List<GgufTensor> keptInGguf(Weights w, Ledger ledger) {
        List<GgufTensor> tensors = new ArrayList<>();
        for (DenseTensor d : w.others().values()) {
            tensors.add(inGguf(d));
        }
        for (Weights.Matrix m : w.matrices()) {
            if (ledger.isKept(m.name())) {
                tensors.add(inGguf(m.transposed()
                        ? DenseTensor.ofFloats(m.name(), new long[]{m.rows(), m.cols()}, m.values())
                        : m.stored()));
            }
        }
        w.quantized().forEach((k, v) -> tensors.add(GgufTensor.of(k, v)));
        return tensors;
    }

    private static GgufTensor inGguf(DenseTensor d) {
        try {
            return GgufTensor.of(d);
        } catch (IllegalArgumentException e) {
            if (!Weights.quantizable(d)) {
                throw new IllegalArgumentException("tensor '" + d.name() + "' is " + d.dtype()
                        + ", which GGUF cannot hold; write a .safetensors file instead");
            }
            return GgufTensor.of(DenseTensor.ofFloats(d.name(), d.shape(), d.toFloats()));
        }
    }

    /**
     * The metadata of a GGUF output. With {@link #ggufName}, the one place where a GGUF output's names and
     * extra metadata come from: the input's architecture ({@link #architecture}) and its own GGUF metadata.
     */
    private static Map<String, GgufValue> ggufMetadata(Weights w, String how, Methods.Choice choice, PrintStream err) {
        Map<String, GgufValue> meta = new LinkedHashMap<>();
        String arch = architecture(w);
        if (arch != null) {
            meta.put("general.architecture", GgufValue.string(arch));
        } else {
            err.println("note: the model's architecture is not one lowbit recognises, so the GGUF file has no "
                    + "general.architecture");
        }
        meta.put("general.name", GgufValue.string(modelName(w)));
        meta.putAll(w.gguf());
        meta.put("general.quantization_version", GgufValue.uint32(GGML_QUANTIZATION_VERSION));
        meta.put("general.file_type", GgufValue.uint32(choice.ggmlFileType()));
        meta.put("general.quantized_by", GgufValue.string(how));
        meta.put("general.source.file", GgufValue.string(w.source().getFileName().toString()));
        return meta;
    }

    /** A tensor's name in a GGUF output (kept or quantized): its name in the input. */
    static String ggufName(Weights w, String name) {
        return name;
    }

    /**
     * {@code general.architecture}: the input's own for a GGUF file, {@code bert} for a BERT encoder (told
     * by its tensor names), else null.
     */
    static String architecture(Weights w) {
        GgufValue a = w.gguf().get("general.architecture");
        if (a != null && a.value() instanceof String s) {
            return s;
        }
        List<String> names = new ArrayList<>(w.others().keySet());
        w.matrices().forEach(m -> names.add(m.name()));
        boolean embeddings = names.stream().anyMatch(n -> n.contains("embeddings.word_embeddings"));
        boolean layers = names.stream().anyMatch(n -> n.contains("encoder.layer.") && n.contains("attention"));
        return embeddings && layers ? "bert" : null;
    }

    /** {@code general.name}: the input's own, else the file's name without its extension. */
    static String modelName(Weights w) {
        GgufValue n = w.gguf().get("general.name");
        if (n != null && n.value() instanceof String s) {
            return s;
        }
        String f = w.source().getFileName().toString();
        int dot = f.lastIndexOf('.');
        return dot > 0 ? f.substring(0, dot) : f;
    }

    /** Every tensor of the input with what became of it, in file order. */
    private static final class Ledger {
        private final Map<String, String> lines = new LinkedHashMap<>();
        private final Map<String, Weights.Kept> kept = new LinkedHashMap<>();
        private final Map<String, Long> clamped = new LinkedHashMap<>();

        Ledger(Weights w) {
            w.kept().forEach(this::keep);
        }

        void keep(String name, Weights.Kept why) {
            kept.put(name, why);
            lines.put(name, Units.f("kept       %s (%s)", name, why.reason));
        }

        boolean isKept(String name) {
            return kept.containsKey(name);
        }

        void quantized(Runs.Layer l) {
            long c = clamped.getOrDefault(l.name(), 0L);
            lines.put(l.name(), Units.f("quantized  %s [%d x %d] %s, relative error %.4e%s", l.name(), l.rows(), l.cols(),
                    l.format(), l.relativeError(), c > 0 ? Units.f(", %d non-finite values clamped", c) : ""));
        }

        void clamped(String name, long n) {
            if (n > 0) {
                clamped.merge(name, n, Long::sum);
            }
        }

        long clampedTotal() {
            return clamped.values().stream().mapToLong(Long::longValue).sum();
        }

        int keptCount() {
            return kept.size();
        }

        /** "not float 2, not 2-D 3", in the order of {@link Weights.Kept}. */
        String reasons() {
            Map<Weights.Kept, Integer> n = new EnumMap<>(Weights.Kept.class);
            kept.values().forEach(k -> n.merge(k, 1, Integer::sum));
            List<String> parts = new ArrayList<>();
            n.forEach((k, c) -> parts.add(k.reason + " " + c));
            return String.join(", ", parts);
        }

        void list(PrintStream out) {
            lines.values().forEach(out::println);
        }
    }

    /** NaN and infinities in a matrix: refused with their place, or clamped as {@code --non-finite clamp} says. */
    static final class NonFinite {
        private NonFinite() {
        }

        /**
         * @return how many values were clamped
         * @throws IllegalArgumentException naming the tensor, row and column of the first one when not clamping
         */
        static long check(Weights.Matrix m, boolean clamp) {
            return check(m.name(), m.values(), m.rows(), m.cols(), 0, clamp);
        }

        /**
         * {@link #check(Weights.Matrix, boolean)} of {@code rows} rows of tensor {@code name} in {@code v}, the first
         * of them its row {@code firstRow}.
         */
        static long check(String name, float[] v, int rows, int cols, int firstRow, boolean clamp) {
            long n = 0;
            for (int r = 0; r < rows; r++) {
                int base = r * cols;
                float largest = -1;
                for (int c = 0; c < cols; c++) {
                    float x = v[base + c];
                    if (!Float.isFinite(x)) {
                        if (!clamp) {
                            throw new IllegalArgumentException(Units.f("tensor '%s' has %s at row %d, column %d; pass "
                                    + "--non-finite clamp to replace NaN by 0 and infinities by the row's largest finite "
                                    + "magnitude", name, Float.toString(x).toLowerCase(Locale.ROOT), firstRow + r, c));
                        }
                        n++;
                    } else {
                        largest = Math.max(largest, Math.abs(x));
                    }
                }
                if (n > 0) {
                    float top = Math.max(largest, 0);
                    for (int c = 0; c < cols; c++) {
                        float x = v[base + c];
                        if (Float.isNaN(x)) {
                            v[base + c] = 0;
                        } else if (Float.isInfinite(x)) {
                            v[base + c] = Math.copySign(top, x);
                        }
                    }
                }
            }
            return n;
        }
    }
}
