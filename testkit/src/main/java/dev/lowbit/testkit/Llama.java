package dev.lowbit.testkit;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BOOLEAN;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * llama.cpp as a test oracle: {@code libllama.v0.5.0.so} of the npm package {@value Ggml#PACKAGE} (llama.cpp commit
 * {@value #COMMIT}), from the same folder as {@link Ggml}, bound through FFM. It loads a GGUF model, tokenizes text
 * with the model's vocabulary and computes pooled sentence embeddings ({@code llama_encode} of a batch of sequences,
 * then {@code llama_get_embeddings_seq}).
 *
 * <p>llama.cpp passes its parameter structs by value; this class takes them from {@code llama_model_default_params()}
 * and {@code llama_context_default_params()} and sets the few fields it needs at their offsets in this build's
 * {@code llama.h}, which the constructor checks by reading the defaults back. The CPU backend is the one ggml picks
 * ({@code ggml_backend_load_all_from_path} on the package's folder). Tests call {@link #unavailable()} and skip with
 * its sentence when the package is not there.
 */
public final class Llama {
    /** The llama.cpp commit the package's libraries were built from ({@code LLAMA_COMMIT} of libllama-common). */
    public static final String COMMIT = "0ad4a86";
    /** The library this class binds. */
    public static final String LIBRARY = "libllama.v0.5.0.so";

    // llama_context_params of this build: 160 bytes (llama_context_default_params writes 0x00 to 0x9f).
    static final long CTX_PARAMS_BYTES = 160;
    static final long CTX_N_CTX = 0x00;
    static final long CTX_N_BATCH = 0x04;
    static final long CTX_N_UBATCH = 0x08;
    static final long CTX_N_SEQ_MAX = 0x0c;
    static final long CTX_N_THREADS = 0x1c;
    static final long CTX_N_THREADS_BATCH = 0x20;
    static final long CTX_POOLING_TYPE = 0x2c;
    static final long CTX_ATTENTION_TYPE = 0x30;
    static final long CTX_FLASH_ATTN_TYPE = 0x34;
    static final long CTX_TYPE_K = 0x68;
    static final long CTX_EMBEDDINGS = 0x80;
    static final long CTX_OFFLOAD_KQV = 0x81;
    // llama_model_params: 80 bytes (llama_model_default_params writes 0x00 to 0x4d).
    static final long MODEL_PARAMS_BYTES = 80;
    static final long MODEL_N_GPU_LAYERS = 0x10;

    /** llama.cpp's {@code enum llama_pooling_type}. */
    public static final int POOLING_NONE = 0;
    public static final int POOLING_MEAN = 1;
    /** llama.cpp's {@code LLAMA_FLASH_ATTN_TYPE_DISABLED}. */
    public static final int FLASH_ATTN_DISABLED = 0;

    private static final Linker LINKER = Linker.nativeLinker();
    private static final StructLayout CTX_PARAMS = words(CTX_PARAMS_BYTES);
    private static final StructLayout MODEL_PARAMS = words(MODEL_PARAMS_BYTES);
    // struct llama_batch {int32_t n_tokens; llama_token *token; float *embd; llama_pos *pos; int32_t *n_seq_id;
    // llama_seq_id **seq_id; int8_t *logits;}
    private static final StructLayout BATCH = MemoryLayout.structLayout(JAVA_INT.withName("n_tokens"),
            MemoryLayout.paddingLayout(4), ADDRESS.withName("token"), ADDRESS.withName("embd"), ADDRESS.withName("pos"),
            ADDRESS.withName("n_seq_id"), ADDRESS.withName("seq_id"), ADDRESS.withName("logits"));

    private static final Object LOCK = new Object();
    private static Llama instance;
    private static String why;
    private static final List<String> ERRORS = new ArrayList<>();

    private final Path dir;
    private final MethodHandle modelDefaultParams;
    private final MethodHandle contextDefaultParams;
    private final MethodHandle modelLoad;
    private final MethodHandle modelFree;
    private final MethodHandle initFromModel;
    private final MethodHandle free;
    private final MethodHandle modelGetVocab;
    private final MethodHandle modelNEmbd;
    private final MethodHandle tokenize;
    private final MethodHandle encode;
    private final MethodHandle embeddingsSeq;
    private final MethodHandle poolingType;

    private static StructLayout words(long bytes) {
        MemoryLayout[] w = new MemoryLayout[(int) (bytes / 8)];
        for (int i = 0; i < w.length; i++) {
            w[i] = JAVA_LONG;
        }
        return MemoryLayout.structLayout(w);
    }

    private Llama(Path dir, SymbolLookup ggml, SymbolLookup llama) {
        this.dir = dir;
        try {
            // ggml's dynamic backends: load the CPU library that suits this CPU from the package's folder
            try (Arena a = Arena.ofConfined()) {
                Ggml.handle(ggml, "ggml_backend_load_all_from_path", FunctionDescriptor.ofVoid(ADDRESS))
                        .invokeExact(a.allocateFrom(dir.toString()));
            }
            // void llama_log_set(ggml_log_callback, void *): keep the errors for messages, drop the rest
            MethodHandle sink = MethodHandles.lookup().findStatic(Llama.class, "log",
                    MethodType.methodType(void.class, int.class, MemorySegment.class, MemorySegment.class));
            MemorySegment stub = LINKER.upcallStub(sink, FunctionDescriptor.ofVoid(JAVA_INT, ADDRESS, ADDRESS),
                    Arena.global());
            Ggml.handle(llama, "llama_log_set", FunctionDescriptor.ofVoid(ADDRESS, ADDRESS))
                    .invokeExact(stub, MemorySegment.NULL);
            Ggml.handle(llama, "llama_backend_init", FunctionDescriptor.ofVoid()).invokeExact();
        } catch (Throwable t) {
            throw new IllegalStateException("llama.cpp's start-up failed: " + t, t);
        }
        modelDefaultParams = Ggml.handle(llama, "llama_model_default_params", FunctionDescriptor.of(MODEL_PARAMS));
        contextDefaultParams = Ggml.handle(llama, "llama_context_default_params", FunctionDescriptor.of(CTX_PARAMS));
        modelLoad = Ggml.handle(llama, "llama_model_load_from_file", FunctionDescriptor.of(ADDRESS, ADDRESS, MODEL_PARAMS));
        modelFree = Ggml.handle(llama, "llama_model_free", FunctionDescriptor.ofVoid(ADDRESS));
        initFromModel = Ggml.handle(llama, "llama_init_from_model", FunctionDescriptor.of(ADDRESS, ADDRESS, CTX_PARAMS));
        free = Ggml.handle(llama, "llama_free", FunctionDescriptor.ofVoid(ADDRESS));
        modelGetVocab = Ggml.handle(llama, "llama_model_get_vocab", FunctionDescriptor.of(ADDRESS, ADDRESS));
        modelNEmbd = Ggml.handle(llama, "llama_model_n_embd", FunctionDescriptor.of(JAVA_INT, ADDRESS));
        // int32_t llama_tokenize(const llama_vocab *, const char *text, int32_t text_len, llama_token *tokens,
        //                        int32_t n_tokens_max, bool add_special, bool parse_special)
        tokenize = Ggml.handle(llama, "llama_tokenize", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_INT,
                ADDRESS, JAVA_INT, JAVA_BOOLEAN, JAVA_BOOLEAN));
        encode = Ggml.handle(llama, "llama_encode", FunctionDescriptor.of(JAVA_INT, ADDRESS, BATCH));
        embeddingsSeq = Ggml.handle(llama, "llama_get_embeddings_seq", FunctionDescriptor.of(ADDRESS, ADDRESS, JAVA_INT));
        poolingType = Ggml.handle(llama, "llama_pooling_type", FunctionDescriptor.of(JAVA_INT, ADDRESS));
        checkDefaults();
    }

    /** The defaults of this build, read at the offsets this class writes: a different llama.h fails here. */
    private void checkDefaults() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment c = (MemorySegment) contextDefaultParams.invokeExact((java.lang.foreign.SegmentAllocator) a);
            int[] want = {512, 2048, 512, 1, 4, 4, -1, -1, -1, 1};
            long[] at = {CTX_N_CTX, CTX_N_BATCH, CTX_N_UBATCH, CTX_N_SEQ_MAX, CTX_N_THREADS, CTX_N_THREADS_BATCH,
                CTX_POOLING_TYPE, CTX_ATTENTION_TYPE, CTX_FLASH_ATTN_TYPE, CTX_TYPE_K};
            for (int i = 0; i < at.length; i++) {
                if (c.get(JAVA_INT, at[i]) != want[i]) {
                    throw new IllegalStateException("llama_context_default_params() holds " + c.get(JAVA_INT, at[i])
                            + " at offset " + at[i] + ", expected " + want[i] + ": not the llama.h of commit " + COMMIT);
                }
            }
            if (c.get(JAVA_BYTE, CTX_EMBEDDINGS) != 0 || c.get(JAVA_BYTE, CTX_OFFLOAD_KQV) != 1) {
                throw new IllegalStateException("llama_context_default_params()' flags are not those of commit " + COMMIT);
            }
            MemorySegment m = (MemorySegment) modelDefaultParams.invokeExact((java.lang.foreign.SegmentAllocator) a);
            if (m.get(JAVA_INT, MODEL_N_GPU_LAYERS) != -1 || m.get(JAVA_LONG, 0) != 0) {
                throw new IllegalStateException("llama_model_default_params() is not the layout of commit " + COMMIT);
            }
        } catch (RuntimeException e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    @SuppressWarnings("unused") // the log callback's target
    private static void log(int level, MemorySegment text, MemorySegment user) {
        // GGML_LOG_LEVEL_ERROR is 4, GGML_LOG_LEVEL_CONT 5 (a continuation of the line before)
        if (level == 4 && !text.equals(MemorySegment.NULL)) {
            synchronized (ERRORS) {
                ERRORS.add(text.reinterpret(4096).getString(0).strip());
                if (ERRORS.size() > 20) {
                    ERRORS.removeFirst();
                }
            }
        }
    }

    private static String lastErrors() {
        synchronized (ERRORS) {
            String s = String.join(" | ", ERRORS);
            ERRORS.clear();
            return s.isEmpty() ? "no error logged" : s;
        }
    }

    /** Why llama.cpp cannot be loaded here, in one sentence, or null when it can. */
    public static String unavailable() {
        synchronized (LOCK) {
            if (instance == null && why == null) {
                String g = Ggml.unavailable();
                if (g != null) {
                    why = g;
                } else {
                    try {
                        instance = load(Ggml.get().location());
                    } catch (RuntimeException | LinkageError e) {
                        why = e.getMessage();
                    }
                }
            }
            return why;
        }
    }

    /** The loaded library; call {@link #unavailable()} first. */
    public static Llama get() {
        String reason = unavailable();
        if (reason != null) {
            throw new IllegalStateException(reason);
        }
        return instance;
    }

    private static Llama load(Path dir) {
        Path lib = dir.resolve(LIBRARY);
        Path ggmlLib = dir.resolve("libggml.v0.5.0.so");
        if (!Files.isRegularFile(lib) || !Files.isRegularFile(ggmlLib)) {
            throw new IllegalStateException("llama.cpp (" + LIBRARY + " of " + Ggml.PACKAGE + ") is not in " + dir
                    + ": run bin/fetch-ggml");
        }
        Arena global = Arena.global();
        SymbolLookup ggml = SymbolLookup.libraryLookup(ggmlLib, global);
        SymbolLookup llama = SymbolLookup.libraryLookup(lib, global);
        Llama l = new Llama(dir, ggml, llama);
        System.getLogger("dev.lowbit.testkit").log(System.Logger.Level.INFO,
                "llama.cpp " + COMMIT + " (" + Ggml.PACKAGE + ") from " + dir);
        return l;
    }

    /** Where the library was loaded from. */
    public Path location() {
        return dir;
    }

    /**
     * Loads a GGUF model and makes a context that computes pooled embeddings of up to {@code maxSequences} sequences
     * of {@code maxTokens} tokens in all at a time, with fp32 attention (no flash attention) on {@code threads}
     * threads.
     *
     * @param pooling {@link #POOLING_MEAN}, or -1 for the model's own {@code pooling_type}
     * @throws IllegalStateException if llama.cpp refuses the file (with the errors it logged)
     */
    public Model load(Path gguf, int maxTokens, int maxSequences, int threads, int pooling) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment mp = (MemorySegment) modelDefaultParams.invokeExact((java.lang.foreign.SegmentAllocator) a);
            MemorySegment model = (MemorySegment) modelLoad.invokeExact(a.allocateFrom(gguf.toString()), mp);
            if (model.equals(MemorySegment.NULL)) {
                throw new IllegalStateException("llama.cpp cannot load " + gguf + ": " + lastErrors());
            }
            MemorySegment cp = (MemorySegment) contextDefaultParams.invokeExact((java.lang.foreign.SegmentAllocator) a);
            cp.set(JAVA_INT, CTX_N_CTX, maxTokens);
            cp.set(JAVA_INT, CTX_N_BATCH, maxTokens);
            cp.set(JAVA_INT, CTX_N_UBATCH, maxTokens);
            cp.set(JAVA_INT, CTX_N_SEQ_MAX, maxSequences);
            cp.set(JAVA_INT, CTX_N_THREADS, threads);
            cp.set(JAVA_INT, CTX_N_THREADS_BATCH, threads);
            cp.set(JAVA_INT, CTX_POOLING_TYPE, pooling);
            cp.set(JAVA_INT, CTX_FLASH_ATTN_TYPE, FLASH_ATTN_DISABLED);
            cp.set(JAVA_BYTE, CTX_EMBEDDINGS, (byte) 1);
            MemorySegment ctx = (MemorySegment) initFromModel.invokeExact(model, cp);
            if (ctx.equals(MemorySegment.NULL)) {
                modelFree.invokeExact(model);
                throw new IllegalStateException("llama.cpp cannot make a context for " + gguf + ": " + lastErrors());
            }
            MemorySegment vocab = (MemorySegment) modelGetVocab.invokeExact(model);
            int nEmbd = (int) modelNEmbd.invokeExact(model);
            int pool = (int) poolingType.invokeExact(ctx);
            return new Model(model, ctx, vocab, nEmbd, pool, maxTokens, maxSequences);
        } catch (RuntimeException e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    /** A loaded model and its context. Not thread-safe. */
    public final class Model implements AutoCloseable {
        private MemorySegment model;
        private MemorySegment ctx;
        private final MemorySegment vocab;
        private final int nEmbd;
        private final int pooling;
        private final int maxTokens;
        private final int maxSequences;

        private Model(MemorySegment model, MemorySegment ctx, MemorySegment vocab, int nEmbd, int pooling, int maxTokens,
                      int maxSequences) {
            this.model = model;
            this.ctx = ctx;
            this.vocab = vocab;
            this.nEmbd = nEmbd;
            this.pooling = pooling;
            this.maxTokens = maxTokens;
            this.maxSequences = maxSequences;
        }

        /** The embedding width ({@code llama_model_n_embd}). */
        public int embeddingLength() {
            return nEmbd;
        }

        /** The context's pooling ({@code llama_pooling_type}). */
        public int pooling() {
            return pooling;
        }

        /** {@code llama_tokenize} of {@code text} with the special tokens the vocabulary adds ([CLS] ... [SEP]). */
        public int[] tokenize(String text) {
            byte[] utf8 = text.getBytes(StandardCharsets.UTF_8);
            try (Arena a = Arena.ofConfined()) {
                MemorySegment t = a.allocate(Math.max(1, utf8.length));
                t.copyFrom(MemorySegment.ofArray(utf8));
                int cap = utf8.length + 8;
                MemorySegment out = a.allocate(JAVA_INT, cap);
                int n = (int) tokenize.invokeExact(vocab, t, utf8.length, out, cap, true, false);
                if (n < 0) {
                    throw new IllegalStateException("llama_tokenize needs " + -n + " tokens, more than " + cap);
                }
                return out.asSlice(0, (long) n * 4).toArray(JAVA_INT);
            } catch (RuntimeException e) {
                throw e;
            } catch (Throwable t) {
                throw new IllegalStateException(t);
            }
        }

        /**
         * The pooled embeddings of {@code sequences} (token ids), computed in one {@code llama_encode} of one batch
         * with each sequence under its own id: {@code llama_get_embeddings_seq} of each.
         *
         * @throws IllegalArgumentException for more sequences or tokens than the context was made for
         */
        public float[][] embed(List<int[]> sequences) {
            int n = 0;
            for (int[] s : sequences) {
                n += s.length;
            }
            if (sequences.size() > maxSequences || n > maxTokens) {
                throw new IllegalArgumentException(sequences.size() + " sequences of " + n + " tokens; the context holds "
                        + maxSequences + " of " + maxTokens);
            }
            try (Arena a = Arena.ofConfined()) {
                MemorySegment token = a.allocate(JAVA_INT, n);
                MemorySegment pos = a.allocate(JAVA_INT, n);
                MemorySegment nSeq = a.allocate(JAVA_INT, n);
                MemorySegment seqIds = a.allocate(JAVA_INT, sequences.size());
                MemorySegment seqId = a.allocate(ADDRESS, n);
                MemorySegment logits = a.allocate(JAVA_BYTE, n);
                int t = 0;
                for (int s = 0; s < sequences.size(); s++) {
                    seqIds.setAtIndex(JAVA_INT, s, s);
                    int[] ids = sequences.get(s);
                    for (int p = 0; p < ids.length; p++, t++) {
                        token.setAtIndex(JAVA_INT, t, ids[p]);
                        pos.setAtIndex(JAVA_INT, t, p);
                        nSeq.setAtIndex(JAVA_INT, t, 1);
                        seqId.setAtIndex(ADDRESS, t, seqIds.asSlice((long) s * 4, 4));
                        logits.set(JAVA_BYTE, t, (byte) 1);
                    }
                }
                MemorySegment batch = a.allocate(BATCH);
                batch.set(JAVA_INT, 0, n);
                batch.set(ADDRESS, 8, token);
                batch.set(ADDRESS, 16, MemorySegment.NULL);
                batch.set(ADDRESS, 24, pos);
                batch.set(ADDRESS, 32, nSeq);
                batch.set(ADDRESS, 40, seqId);
                batch.set(ADDRESS, 48, logits);
                int rc = (int) encode.invokeExact(ctx, batch);
                if (rc != 0) {
                    throw new IllegalStateException("llama_encode returned " + rc + ": " + lastErrors());
                }
                float[][] out = new float[sequences.size()][];
                for (int s = 0; s < sequences.size(); s++) {
                    MemorySegment e = (MemorySegment) embeddingsSeq.invokeExact(ctx, s);
                    if (e.equals(MemorySegment.NULL)) {
                        throw new IllegalStateException("llama_get_embeddings_seq(" + s + ") is NULL: " + lastErrors());
                    }
                    out[s] = e.reinterpret((long) nEmbd * 4).toArray(JAVA_FLOAT);
                }
                return out;
            } catch (RuntimeException e) {
                throw e;
            } catch (Throwable t) {
                throw new IllegalStateException(t);
            }
        }

        @Override
        public void close() {
            try {
                if (ctx != null) {
                    free.invokeExact(ctx);
                    ctx = null;
                }
                if (model != null) {
                    modelFree.invokeExact(model);
                    model = null;
                }
            } catch (Throwable t) {
                throw new IllegalStateException(t);
            }
        }
    }
}
