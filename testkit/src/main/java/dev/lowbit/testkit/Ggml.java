package dev.lowbit.testkit;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * The real ggml as a test oracle: the prebuilt libraries of the npm package {@code @node-llama-cpp/linux-x64}
 * ({@value #PACKAGE}), bound through FFM. {@code libggml-base.so} gives {@code ggml_quantize_chunk} and each type's
 * {@code to_float} (the {@code dequantize_row_*} functions); the CPU library gives each type's {@code from_float}
 * (activation quantization) and {@code vec_dot}. Of the package's CPU libraries ({@code libggml-cpu-x64.so},
 * {@code -haswell}, {@code -skylakex}, {@code -zen4}, ...) the one ggml itself would load is taken: the highest
 * {@code ggml_backend_score()} on this CPU.
 *
 * <p>Where the libraries are: the folder {@code -Dlowbit.ggml.dir} or the environment's {@code LOWBIT_GGML_DIR}
 * names, else where {@code bin/fetch-ggml} unpacks the package ({@link #defaultDir()}). Tests call
 * {@link #unavailable()} and skip with its sentence when the package is not there. Only tests and benchmarks use
 * this class: lowbit itself never links ggml.
 */
public final class Ggml {
    /** The npm package and version the tests are written against. */
    public static final String PACKAGE = "@node-llama-cpp/linux-x64@3.22.1";

    /** ggml's {@code enum ggml_type} values of the types lowbit shares with it. */
    public enum Type {
        F32(0), F16(1), Q4_0(2), Q4_1(3), Q5_0(6), Q5_1(7), Q8_0(8), Q8_1(9), Q2_K(10), Q3_K(11), Q4_K(12),
        Q5_K(13), Q6_K(14), Q8_K(15), IQ4_NL(20);

        public final int id;

        Type(int id) {
            this.id = id;
        }
    }

    private static final Linker LINKER = Linker.nativeLinker();
    private static final Object LOCK = new Object();
    private static Ggml instance;
    private static String why;

    private final Path dir;
    private final String variant;
    private final MethodHandle quantizeChunk;
    private final MethodHandle rowSize;
    private final MethodHandle typeTraits;
    private final MethodHandle typeTraitsCpu;
    final SymbolLookup base;
    final SymbolLookup cpu;

    private Ggml(Path dir, String variant, SymbolLookup base, SymbolLookup cpu) {
        this.dir = dir;
        this.variant = variant;
        this.base = base;
        this.cpu = cpu;
        // size_t ggml_quantize_chunk(enum ggml_type, const float *src, void *dst, int64_t start, int64_t nrows,
        //                            int64_t n_per_row, const float *imatrix)
        quantizeChunk = handle(base, "ggml_quantize_chunk", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS,
                ADDRESS, JAVA_LONG, JAVA_LONG, JAVA_LONG, ADDRESS));
        rowSize = handle(base, "ggml_row_size", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, JAVA_LONG));
        typeTraits = handle(base, "ggml_get_type_traits", FunctionDescriptor.of(ADDRESS, JAVA_INT));
        typeTraitsCpu = handle(cpu, "ggml_get_type_traits_cpu", FunctionDescriptor.of(ADDRESS, JAVA_INT));
        try {
            handle(cpu, "ggml_cpu_init", FunctionDescriptor.ofVoid()).invokeExact();
        } catch (Throwable t) {
            throw new IllegalStateException("ggml_cpu_init failed", t);
        }
        // struct ggml_type_traits {type_name, blck_size, blck_size_interleave, type_size, is_quantized, to_float,
        // from_float_ref}: check the layout this class reads against a type whose values are known.
        MemorySegment t = traits(Type.Q4_0);
        String name = t.get(ADDRESS, 0).reinterpret(16).getString(0);
        if (!name.equals("q4_0") || t.get(JAVA_LONG, 8) != 32 || t.get(JAVA_LONG, 24) != 18) {
            throw new IllegalStateException("ggml_type_traits of q4_0 reads as '" + name + "', block "
                    + t.get(JAVA_LONG, 8) + ", " + t.get(JAVA_LONG, 24) + " bytes: not the layout of " + PACKAGE);
        }
    }

    /** The folder {@code bin/fetch-ggml} unpacks the package's libraries to. */
    public static Path defaultDir() {
        return Path.of(System.getProperty("user.home"), ".cache", "lowbit", "node-llama-cpp-linux-x64-3.22.1",
                "package", "bins", "linux-x64");
    }

    /** The folder the libraries are looked for in. */
    public static Path dir() {
        String d = System.getProperty("lowbit.ggml.dir");
        if (d == null || d.isEmpty()) {
            d = System.getenv("LOWBIT_GGML_DIR");
        }
        return d == null || d.isEmpty() ? defaultDir() : Path.of(d);
    }

    /** Why ggml cannot be loaded here, in one sentence, or null when it can. */
    public static String unavailable() {
        synchronized (LOCK) {
            if (instance == null && why == null) {
                try {
                    instance = load(dir());
                } catch (RuntimeException | LinkageError e) {
                    why = e.getMessage();
                }
            }
            return why;
        }
    }

    /** The loaded libraries; call {@link #unavailable()} first. */
    public static Ggml get() {
        String reason = unavailable();
        if (reason != null) {
            throw new IllegalStateException(reason);
        }
        return instance;
    }

    private static Ggml load(Path dir) {
        Path baseLib = dir.resolve("libggml-base.so");
        if (!Files.isRegularFile(baseLib)) {
            throw new IllegalStateException("ggml (" + PACKAGE + ") is not in " + dir + ": run bin/fetch-ggml, or name"
                    + " the folder of libggml-base.so with -Dlowbit.ggml.dir or LOWBIT_GGML_DIR");
        }
        if (!System.getProperty("os.arch").equals("amd64")) {
            throw new IllegalStateException("the ggml package holds x86-64 libraries; this JVM runs on "
                    + System.getProperty("os.arch"));
        }
        Arena global = Arena.global();
        SymbolLookup base = SymbolLookup.libraryLookup(baseLib, global);
        List<Path> variants = new ArrayList<>();
        try (Stream<Path> s = Files.list(dir)) {
            s.filter(p -> p.getFileName().toString().matches("libggml-cpu-[a-z0-9_]+\\.so")).sorted()
                    .forEach(variants::add);
        } catch (java.io.IOException e) {
            throw new IllegalStateException("cannot list " + dir + ": " + e.getMessage());
        }
        Path best = null;
        int bestScore = 0;
        for (Path v : variants) {
            // ggml's own loader: each variant's ggml_backend_score() is 0 where this CPU lacks its instructions
            try (Arena probe = Arena.ofConfined()) {
                SymbolLookup l = SymbolLookup.libraryLookup(v, probe);
                int score = (int) handle(l, "ggml_backend_score", FunctionDescriptor.of(JAVA_INT)).invokeExact();
                if (score > bestScore) {
                    bestScore = score;
                    best = v;
                }
            } catch (Throwable t) {
                throw new IllegalStateException("cannot score " + v + ": " + t.getMessage());
            }
        }
        if (best == null) {
            throw new IllegalStateException("none of the " + variants.size() + " ggml CPU libraries in " + dir
                    + " runs on this CPU");
        }
        String name = best.getFileName().toString();
        String variant = name.substring("libggml-cpu-".length(), name.length() - ".so".length());
        Ggml g = new Ggml(dir, variant, base, SymbolLookup.libraryLookup(best, global));
        System.getLogger("dev.lowbit.testkit").log(System.Logger.Level.INFO,
                "ggml " + PACKAGE + " from " + dir + ", CPU variant " + variant + " (score " + bestScore + ")");
        return g;
    }

    static MethodHandle handle(SymbolLookup l, String symbol, FunctionDescriptor d) {
        MemorySegment s = l.find(symbol).orElseThrow(() -> new IllegalStateException("ggml has no " + symbol));
        return LINKER.downcallHandle(s, d);
    }

    /** The CPU library ggml would load here, e.g. {@code zen4}. */
    public String variant() {
        return variant;
    }

    /** Where the libraries were loaded from. */
    public Path location() {
        return dir;
    }

    /** Bytes of a row of {@code n} values of {@code type}. */
    public long rowSize(Type type, long n) {
        try {
            return (long) rowSize.invokeExact(type.id, n);
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    private MemorySegment traits(Type type) {
        try {
            return ((MemorySegment) typeTraits.invokeExact(type.id)).reinterpret(56);
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    private MemorySegment traitsCpu(Type type) {
        try {
            return ((MemorySegment) typeTraitsCpu.invokeExact(type.id)).reinterpret(32);
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    /** {@code ggml_quantize_chunk} of {@code rows} rows of {@code cols} values, without an importance matrix. */
    public byte[] quantize(Type type, float[] src, int rows, int cols) {
        if ((long) rows * cols != src.length) {
            throw new IllegalArgumentException(rows + " x " + cols + " values, got " + src.length);
        }
        long bytes = rowSize(type, cols) * rows;
        try (Arena a = Arena.ofConfined()) {
            MemorySegment in = a.allocateFrom(JAVA_FLOAT, src);
            MemorySegment out = a.allocate(Math.max(1, bytes), 64);
            long wrote = (long) quantizeChunk.invokeExact(type.id, in, out, 0L, (long) rows, (long) cols,
                    MemorySegment.NULL);
            if (wrote != bytes) {
                throw new IllegalStateException("ggml_quantize_chunk wrote " + wrote + " bytes, expected " + bytes);
            }
            return out.asSlice(0, bytes).toArray(ValueLayout.JAVA_BYTE);
        } catch (RuntimeException e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    /**
     * {@code ggml_quantize_chunk} from native memory into native memory, for timing: {@code rows} rows of
     * {@code cols} fp32 values at {@code src} into {@code dst} ({@link #rowSize} bytes a row). Returns the bytes
     * written.
     */
    public long quantizeChunk(Type type, MemorySegment src, MemorySegment dst, long rows, long cols) {
        try {
            return (long) quantizeChunk.invokeExact(type.id, src, dst, 0L, rows, cols, MemorySegment.NULL);
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    /**
     * The CPU library's {@code from_float} of {@code type} (its SIMD activation quantizer) as a handle taking
     * {@code (const float *x, void *y, int64_t k)}, for timing row by row.
     */
    public MethodHandle fromFloatHandle(Type type) {
        MemorySegment fn = traitsCpu(type).get(ADDRESS, 0);
        if (fn.equals(MemorySegment.NULL)) {
            throw new IllegalArgumentException("ggml has no from_float for " + type);
        }
        return LINKER.downcallHandle(fn, FunctionDescriptor.ofVoid(ADDRESS, ADDRESS, JAVA_LONG));
    }

    /** The type's {@code to_float} ({@code dequantize_row_*}) of {@code n} values. */
    public float[] dequantize(Type type, byte[] data, int n) {
        MemorySegment fn = traits(type).get(ADDRESS, 40);
        return rowFunction(fn, data, n);
    }

    /** The CPU library's {@code from_float} of {@code type}: a row of activations as ggml quantizes them. */
    public byte[] fromFloat(Type type, float[] x) {
        MemorySegment fn = traitsCpu(type).get(ADDRESS, 0);
        if (fn.equals(MemorySegment.NULL)) {
            throw new IllegalArgumentException("ggml has no from_float for " + type);
        }
        // void (*)(const float *x, void *y, int64_t k)
        MethodHandle h = LINKER.downcallHandle(fn, FunctionDescriptor.ofVoid(ADDRESS, ADDRESS, JAVA_LONG));
        long bytes = rowSize(type, x.length);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment in = a.allocateFrom(JAVA_FLOAT, x);
            MemorySegment out = a.allocate(Math.max(1, bytes), 64);
            h.invokeExact(in, out, (long) x.length);
            return out.asSlice(0, bytes).toArray(ValueLayout.JAVA_BYTE);
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    /** The activation type {@code vec_dot} of {@code type} takes, e.g. Q8_0 for Q4_0. */
    public int vecDotType(Type type) {
        return traitsCpu(type).get(JAVA_INT, 16);
    }

    /**
     * The CPU library's {@code vec_dot} of one row {@code w} of {@code type} and one row {@code x} of its
     * {@link #vecDotType} activations, {@code n} values each.
     */
    public float vecDot(Type type, byte[] w, byte[] x, int n) {
        MemorySegment fn = traitsCpu(type).get(ADDRESS, 8);
        // void (*)(int n, float *s, size_t bs, const void *x, size_t bx, const void *y, size_t by, int nrc)
        MethodHandle h = LINKER.downcallHandle(fn, FunctionDescriptor.ofVoid(JAVA_INT, ADDRESS, JAVA_LONG, ADDRESS,
                JAVA_LONG, ADDRESS, JAVA_LONG, JAVA_INT));
        try (Arena a = Arena.ofConfined()) {
            MemorySegment s = a.allocate(JAVA_FLOAT, 1);
            MemorySegment ws = a.allocate(Math.max(1, w.length), 64);
            MemorySegment xs = a.allocate(Math.max(1, x.length), 64);
            ws.copyFrom(MemorySegment.ofArray(w));
            xs.copyFrom(MemorySegment.ofArray(x));
            h.invokeExact(n, s, 0L, ws, 0L, xs, 0L, 1);
            return s.get(JAVA_FLOAT, 0);
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    private static float[] rowFunction(MemorySegment fn, byte[] data, int n) {
        // void (*)(const void *x, float *y, int64_t k)
        MethodHandle h = LINKER.downcallHandle(fn, FunctionDescriptor.ofVoid(ADDRESS, ADDRESS, JAVA_LONG));
        try (Arena a = Arena.ofConfined()) {
            MemorySegment in = a.allocate(Math.max(1, data.length), 64);
            in.copyFrom(MemorySegment.ofArray(data));
            MemorySegment out = a.allocate(JAVA_FLOAT, Math.max(1, n));
            h.invokeExact(in, out, (long) n);
            return out.asSlice(0, (long) n * Float.BYTES).toArray(JAVA_FLOAT);
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }
}
