package dev.lowbit.bench;

import dev.lowbit.models.GgmlType;
import dev.lowbit.models.GgufFile;
import dev.lowbit.models.GgufTensor;
import dev.lowbit.models.GgufValue;
import dev.lowbit.testkit.Ggml;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.TreeMap;

/**
 * {@code lowbit quantize --method q4_k_m} of a LLaMA-shaped bf16 safetensors file beside llama.cpp's
 * {@code llama_model_quantize} to Q4_K_M of the same weights as a bf16 GGUF file: wall time of each, lowbit's peak
 * RSS, and whether each tensor of the two outputs has the same type and bytes. Not a JMH benchmark: each tool runs
 * once on files written first.
 *
 * <p>The weights are seeded Gaussians (σ 0.02) rounded to bf16, the same in both files: the safetensors file under
 * Hugging Face's LLaMA names ({@code model.layers.3.self_attn.v_proj.weight}), the GGUF file under llama.cpp's
 * ({@code blk.3.attn_v.weight}) with the {@code llama.*} hyper-parameters that {@code llama_model_quantize} reads.
 * The default shape (26 layers, 2048 wide, FFN 5632, 32000 tokens: 1.47 G parameters, 2.9 GB of bf16) is the speed
 * target's; {@code --small} runs a shape of a few MB that checks the tool end to end.
 *
 * <pre>
 * bin/java --enable-native-access=ALL-UNNAMED -cp bench/target/benchmarks.jar dev.lowbit.bench.LlamaQuantizeBench \
 *     [--small] [--layers N --dim N --ffn N --vocab N --heads N] [--threads N] [--dir DIR] [--keep]
 * </pre>
 *
 * lowbit runs as {@code bin/lowbit} in a child process (under {@code /usr/bin/time -v} for its peak RSS when that is
 * installed, else the peak of the reaped children from {@code getrusage}); llama.cpp runs in this JVM through FFM on
 * {@code libllama.v0.5.0.so} of the ggml package ({@code bin/fetch-ggml}; the folder as {@link Ggml#dir()} finds it).
 */
public final class LlamaQuantizeBench {
    private LlamaQuantizeBench() {
    }

    /** llama.cpp's {@code LLAMA_FTYPE_MOSTLY_Q4_K_M}. */
    static final int FTYPE_Q4_K_M = 15;
    /** llama.cpp's default {@code ftype} of {@code llama_model_quantize_default_params()}: Q8_0 (Q5_1 in older builds). */
    static final List<Integer> FTYPE_DEFAULTS = List.of(7, 9);

    /** A LLaMA shape. */
    record Shape(int layers, int dim, int ffn, int vocab, int heads) {
        long parameters() {
            return (long) layers * (4L * dim * dim + 3L * dim * ffn + 2L * dim) + 2L * vocab * dim + dim;
        }
    }

    /** One tensor: its Hugging Face name, llama.cpp's name, its row-major shape, bf16 (matrices) or F32 (norms). */
    record Tensor(String hf, String gguf, long[] shape, boolean bf16, long seed) {
        long elements() {
            long n = 1;
            for (long s : shape) {
                n *= s;
            }
            return n;
        }

        long bytes() {
            return elements() * (bf16 ? 2 : 4);
        }
    }

    static List<Tensor> tensors(Shape s) {
        List<Tensor> t = new ArrayList<>();
        long seed = 1;
        t.add(new Tensor("model.embed_tokens.weight", "token_embd.weight", new long[]{s.vocab(), s.dim()}, true, seed++));
        for (int l = 0; l < s.layers(); l++) {
            String hf = "model.layers." + l + ".";
            String gg = "blk." + l + ".";
            t.add(new Tensor(hf + "input_layernorm.weight", gg + "attn_norm.weight", new long[]{s.dim()}, false, seed++));
            for (String[] p : new String[][]{{"q", "attn_q"}, {"k", "attn_k"}, {"v", "attn_v"}, {"o", "attn_output"}}) {
                t.add(new Tensor(hf + "self_attn." + p[0] + "_proj.weight", gg + p[1] + ".weight",
                        new long[]{s.dim(), s.dim()}, true, seed++));
            }
            t.add(new Tensor(hf + "post_attention_layernorm.weight", gg + "ffn_norm.weight", new long[]{s.dim()}, false,
                    seed++));
            t.add(new Tensor(hf + "mlp.gate_proj.weight", gg + "ffn_gate.weight", new long[]{s.ffn(), s.dim()}, true, seed++));
            t.add(new Tensor(hf + "mlp.up_proj.weight", gg + "ffn_up.weight", new long[]{s.ffn(), s.dim()}, true, seed++));
            t.add(new Tensor(hf + "mlp.down_proj.weight", gg + "ffn_down.weight", new long[]{s.dim(), s.ffn()}, true, seed++));
        }
        t.add(new Tensor("model.norm.weight", "output_norm.weight", new long[]{s.dim()}, false, seed++));
        t.add(new Tensor("lm_head.weight", "output.weight", new long[]{s.vocab(), s.dim()}, true, seed));
        return t;
    }

    /** The tensor's bytes: seeded Gaussians of σ 0.02 rounded to bf16 (matrices), or norms near 1 in F32. */
    static byte[] data(Tensor t) {
        SplittableRandom r = new SplittableRandom(0x5EED0000L + t.seed());
        int n = Math.toIntExact(t.elements());
        ByteBuffer b = ByteBuffer.allocate(Math.toIntExact(t.bytes())).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < n; i++) {
            float x = (float) r.nextGaussian();
            if (t.bf16()) {
                int bits = Float.floatToRawIntBits(0.02f * x);
                b.putShort((short) ((bits + 0x7FFF + ((bits >>> 16) & 1)) >>> 16));
            } else {
                b.putFloat(1 + 0.05f * x);
            }
        }
        return b.array();
    }

    /** A safetensors file, written a tensor at a time: the JSON header padded with spaces to 8 bytes, then the data. */
    static void writeSafetensors(Path p, List<Tensor> ts) throws IOException {
        StringBuilder h = new StringBuilder("{\"__metadata__\":{\"format\":\"pt\"}");
        long offset = 0;
        for (Tensor t : ts) {
            StringBuilder shape = new StringBuilder();
            for (long s : t.shape()) {
                shape.append(shape.isEmpty() ? "" : ",").append(s);
            }
            h.append(",\"").append(t.hf()).append("\":{\"dtype\":\"").append(t.bf16() ? "BF16" : "F32")
                    .append("\",\"shape\":[").append(shape).append("],\"data_offsets\":[").append(offset).append(',')
                    .append(offset + t.bytes()).append("]}");
            offset += t.bytes();
        }
        h.append('}');
        while ((h.length() + 8) % 8 != 0) {
            h.append(' ');
        }
        byte[] header = h.toString().getBytes(StandardCharsets.UTF_8);
        try (FileChannel ch = FileChannel.open(p, StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING,
                StandardOpenOption.WRITE)) {
            ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(header.length).flip();
            write(ch, len);
            write(ch, ByteBuffer.wrap(header));
            for (Tensor t : ts) {
                write(ch, ByteBuffer.wrap(data(t)));
            }
        }
    }

    private static void write(FileChannel ch, ByteBuffer b) throws IOException {
        while (b.hasRemaining()) {
            ch.write(b);
        }
    }

    /** The same weights as a bf16 GGUF file with llama.cpp's names and hyper-parameters, streamed. */
    static void writeGguf(Path p, Shape s, List<Tensor> ts) throws IOException {
        Map<String, GgufValue> meta = new LinkedHashMap<>();
        meta.put("general.architecture", GgufValue.string("llama"));
        meta.put("general.name", GgufValue.string("lowbit-bench-llama"));
        meta.put("general.file_type", GgufValue.uint32(32)); // LLAMA_FTYPE_MOSTLY_BF16
        meta.put("llama.context_length", GgufValue.uint32(2048));
        meta.put("llama.embedding_length", GgufValue.uint32(s.dim()));
        meta.put("llama.block_count", GgufValue.uint32(s.layers()));
        meta.put("llama.feed_forward_length", GgufValue.uint32(s.ffn()));
        meta.put("llama.rope.dimension_count", GgufValue.uint32(s.dim() / s.heads()));
        meta.put("llama.attention.head_count", GgufValue.uint32(s.heads()));
        meta.put("llama.attention.head_count_kv", GgufValue.uint32(s.heads()));
        meta.put("llama.attention.layer_norm_rms_epsilon", GgufValue.float32(1e-5f));
        meta.put("llama.vocab_size", GgufValue.uint32(s.vocab()));
        List<GgufFile.TensorInfo> infos = new ArrayList<>();
        for (Tensor t : ts) {
            long[] dims = new long[t.shape().length];
            for (int i = 0; i < dims.length; i++) {
                dims[i] = t.shape()[dims.length - 1 - i];
            }
            infos.add(new GgufFile.TensorInfo(t.gguf(), t.bf16() ? GgmlType.BF16 : GgmlType.F32, dims));
        }
        GgufFile.write(p, meta, infos, w -> {
            for (Tensor t : ts) {
                w.tensor(t.gguf(), MemorySegment.ofArray(data(t)));
            }
        });
    }

    /** What one tool did. */
    record Ran(String tool, double seconds, long peakRssBytes, long outBytes, String note) {
    }

    /** {@code bin/lowbit quantize ... --method q4_k_m} as a child process. */
    static Ran lowbit(Path root, Path in, Path out, int threads) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>();
        Path time = Path.of("/usr/bin/time");
        boolean gnuTime = Files.isExecutable(time);
        if (gnuTime) {
            cmd.addAll(List.of(time.toString(), "-v"));
        }
        cmd.addAll(List.of(root.resolve("bin/lowbit").toString(), "quantize", "--model", in.toString(), "--out",
                out.toString(), "--method", "q4_k_m", "--force", "--threads", Integer.toString(threads)));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectOutput(ProcessBuilder.Redirect.PIPE)
                .redirectErrorStream(true);
        long t0 = System.nanoTime();
        Process p = pb.start();
        String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        int status = p.waitFor();
        double s = (System.nanoTime() - t0) / 1e9;
        if (status != 0) {
            throw new IllegalStateException("lowbit quantize failed (" + status + "):\n" + output);
        }
        long rss = -1;
        for (String line : output.lines().toList()) {
            String l = line.strip();
            if (l.startsWith("Maximum resident set size (kbytes):")) {
                rss = 1024 * Long.parseLong(l.substring(l.indexOf(':') + 1).strip());
            }
        }
        String how = "/usr/bin/time -v";
        if (rss < 0) {
            rss = childrenMaxRss();
            how = "getrusage(RUSAGE_CHILDREN)";
        }
        String summary = output.lines().filter(l -> l.contains(": q4_k_m, ")).findFirst().orElse("");
        return new Ran("lowbit quantize --method q4_k_m", s, rss, Files.size(out), "peak RSS by " + how + "; " + summary);
    }

    /** The largest peak RSS of the reaped children of this process, from {@code getrusage(RUSAGE_CHILDREN)}. */
    static long childrenMaxRss() {
        Linker linker = Linker.nativeLinker();
        MethodHandle getrusage = linker.downcallHandle(linker.defaultLookup().find("getrusage").orElseThrow(),
                FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.ADDRESS));
        try (Arena a = Arena.ofConfined()) {
            // struct rusage: two timevals (32 bytes), then ru_maxrss (long, kilobytes), 14 more longs.
            MemorySegment ru = a.allocate(144, 8);
            int rc = (int) getrusage.invokeExact(-1, ru);
            return rc == 0 ? 1024 * ru.get(ValueLayout.JAVA_LONG, 32) : -1;
        } catch (Throwable t) {
            return -1;
        }
    }

    /**
     * llama.cpp's {@code llama_model_quantize(in, out, &params)} with its default parameters but {@code ftype}
     * Q4_K_M and {@code nthread}. The parameters struct is returned by value (bigger than 16 bytes, so in memory):
     * {@code int32 nthread; int32 ftype; int32 output_tensor_type; int32 token_embedding_type;} then the bools from
     * byte 16 and the pointers after them. It is read into a zeroed buffer larger than any of its versions, and the
     * layout is checked against the documented defaults (nthread 0, ftype Q8_0 or Q5_1, quantize_output_tensor true at byte
     * 17) before it is used.
     */
    static Ran llamaCpp(Path in, Path out, int threads) throws Throwable {
        Path lib = Ggml.dir().resolve("libllama.v0.5.0.so");
        if (!Files.isRegularFile(lib)) {
            throw new IllegalStateException(lib + " is missing: run bin/fetch-ggml");
        }
        Linker linker = Linker.nativeLinker();
        try (Arena arena = Arena.ofConfined()) {
            SymbolLookup l = SymbolLookup.libraryLookup(lib, arena);
            MemoryLayout params = MemoryLayout.structLayout(MemoryLayout.sequenceLayout(16, ValueLayout.JAVA_LONG));
            MethodHandle defaults = linker.downcallHandle(l.find("llama_model_quantize_default_params").orElseThrow(),
                    FunctionDescriptor.of(params));
            MethodHandle quantize = linker.downcallHandle(l.find("llama_model_quantize").orElseThrow(),
                    FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.ADDRESS,
                            ValueLayout.ADDRESS));
            MethodHandle backendInit = linker.downcallHandle(l.find("llama_backend_init").orElseThrow(),
                    FunctionDescriptor.ofVoid());
            backendInit.invokeExact();
            MemorySegment p = (MemorySegment) defaults.invokeExact((java.lang.foreign.SegmentAllocator) arena);
            int nthread = p.get(ValueLayout.JAVA_INT, 0);
            int ftype = p.get(ValueLayout.JAVA_INT, 4);
            byte quantizeOutput = p.get(ValueLayout.JAVA_BYTE, 17);
            if (nthread != 0 || !FTYPE_DEFAULTS.contains(ftype) || quantizeOutput != 1 || p.get(ValueLayout.JAVA_BYTE, 16) != 0) {
                throw new IllegalStateException(String.format(Locale.ROOT, "llama_model_quantize_default_params() reads "
                        + "as nthread %d, ftype %d, allow_requantize %d, quantize_output_tensor %d: not the layout this "
                        + "tool expects", nthread, ftype, p.get(ValueLayout.JAVA_BYTE, 16), quantizeOutput));
            }
            p.set(ValueLayout.JAVA_INT, 0, threads);
            p.set(ValueLayout.JAVA_INT, 4, FTYPE_Q4_K_M);
            long t0 = System.nanoTime();
            int rc = (int) quantize.invokeExact(arena.allocateFrom(in.toString()), arena.allocateFrom(out.toString()), p);
            double s = (System.nanoTime() - t0) / 1e9;
            if (rc != 0) {
                throw new IllegalStateException("llama_model_quantize returned " + rc);
            }
            return new Ran("llama.cpp llama_model_quantize Q4_K_M", s, -1, Files.size(out),
                    "in this JVM (" + lib.getFileName() + ")");
        }
    }

    /** Tensors of the two outputs by llama.cpp's name: how many have the same type, and the same bytes. */
    static String compare(Path lowbitOut, Path llamaOut, List<Tensor> ts) throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            Map<String, GgufTensor> a = GgufFile.read(lowbitOut, arena).tensors();
            Map<String, GgufTensor> b = GgufFile.read(llamaOut, arena).tensors();
            int sameType = 0;
            int sameBytes = 0;
            Map<String, Integer> types = new TreeMap<>();
            List<String> differ = new ArrayList<>();
            for (Tensor t : ts) {
                GgufTensor x = a.get(t.hf());
                GgufTensor y = b.get(t.gguf());
                if (x == null || y == null) {
                    differ.add(t.gguf() + " missing");
                    continue;
                }
                types.merge(y.type().toString(), 1, Integer::sum);
                // llama.cpp writes 1-D norms as F32, as lowbit keeps them; types compare as written.
                if (x.type() == y.type()) {
                    sameType++;
                    if (x.data().mismatch(y.data()) == -1) {
                        sameBytes++;
                    } else {
                        differ.add(t.gguf() + " bytes");
                    }
                } else {
                    differ.add(t.gguf() + " " + x.type() + " vs " + y.type());
                }
            }
            return String.format(Locale.ROOT, "%d tensors: %d of the same type, %d of the same bytes; llama.cpp's types %s%s",
                    ts.size(), sameType, sameBytes, types, differ.isEmpty() ? "" : "; differ: "
                            + String.join(", ", differ.subList(0, Math.min(8, differ.size()))));
        }
    }

    public static void main(String[] args) throws Throwable {
        Shape shape = new Shape(26, 2048, 5632, 32000, 32);
        int threads = Runtime.getRuntime().availableProcessors();
        Path dir = null;
        boolean keep = false;
        int[] v = {shape.layers(), shape.dim(), shape.ffn(), shape.vocab(), shape.heads()};
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--small" -> v = new int[]{2, 256, 768, 512, 4};
                case "--layers" -> v[0] = Integer.parseInt(args[++i]);
                case "--dim" -> v[1] = Integer.parseInt(args[++i]);
                case "--ffn" -> v[2] = Integer.parseInt(args[++i]);
                case "--vocab" -> v[3] = Integer.parseInt(args[++i]);
                case "--heads" -> v[4] = Integer.parseInt(args[++i]);
                case "--threads" -> threads = Integer.parseInt(args[++i]);
                case "--dir" -> dir = Path.of(args[++i]);
                case "--keep" -> keep = true;
                default -> throw new IllegalArgumentException("unknown option " + args[i]
                        + "; options: --small, --layers, --dim, --ffn, --vocab, --heads, --threads, --dir, --keep");
            }
        }
        shape = new Shape(v[0], v[1], v[2], v[3], v[4]);
        Path root = Path.of(System.getProperty("lowbit.root", ".")).toAbsolutePath().normalize();
        if (!Files.isRegularFile(root.resolve("bin/lowbit"))) {
            throw new IllegalStateException(root + " has no bin/lowbit: run from the repository root or give -Dlowbit.root");
        }
        Path work = dir != null ? Files.createDirectories(dir) : Files.createTempDirectory("lowbit-llama-bench");
        List<Tensor> ts = tensors(shape);
        Path st = work.resolve("llama-bf16.safetensors");
        Path gg = work.resolve("llama-bf16.gguf");
        Path lowbitOut = work.resolve("lowbit-q4_k_m.gguf");
        Path llamaOut = work.resolve("llama-q4_k_m.gguf");
        System.out.printf(Locale.ROOT, "shape: %d layers, %d wide, FFN %d, %d tokens, %d heads: %.3f G parameters, "
                        + "%d bytes of bf16 and F32; %d threads; files in %s%n", shape.layers(), shape.dim(), shape.ffn(),
                shape.vocab(), shape.heads(), shape.parameters() / 1e9, ts.stream().mapToLong(Tensor::bytes).sum(),
                threads, work);
        try {
            writeSafetensors(st, ts);
            writeGguf(gg, shape, ts);
            Ran a = lowbit(root, st, lowbitOut, threads);
            Ran b = llamaCpp(gg, llamaOut, threads);
            System.out.printf(Locale.ROOT, "%-40s %10s %14s %14s%n", "tool", "wall s", "peak RSS MB", "output bytes");
            for (Ran r : List.of(a, b)) {
                System.out.printf(Locale.ROOT, "%-40s %10.2f %14s %14d%n", r.tool(), r.seconds(),
                        r.peakRssBytes() < 0 ? "-" : String.format(Locale.ROOT, "%.1f", r.peakRssBytes() / 1e6),
                        r.outBytes());
            }
            System.out.printf(Locale.ROOT, "lowbit / llama.cpp wall time: %.2f; lowbit's peak RSS below 1 GB: %s%n",
                    a.seconds() / b.seconds(), a.peakRssBytes() < 0 ? "unknown" : a.peakRssBytes() < 1_000_000_000L);
            System.out.println("lowbit: " + a.note());
            System.out.println("outputs: " + compare(lowbitOut, llamaOut, ts));
        } finally {
            if (!keep) {
                for (Path p : List.of(st, gg, lowbitOut, llamaOut)) {
                    Files.deleteIfExists(p);
                }
                if (dir == null) {
                    Files.deleteIfExists(work);
                }
            }
        }
    }
}
