package dev.lowbit.cli;

import java.nio.file.Path;
import java.util.Locale;

/** The model file types lowbit reads, told apart by their extension. */
enum ModelFile {
    ONNX(".onnx"),
    SAFETENSORS(".safetensors"),
    GGUF(".gguf");

    private final String extension;

    ModelFile(String extension) {
        this.extension = extension;
    }

    String extension() {
        return extension;
    }

    /** The type of {@code path}, or null when its extension is none of lowbit's. */
    static ModelFile of(Path path) {
        String name = path.getFileName() == null ? "" : path.getFileName().toString().toLowerCase(Locale.ROOT);
        for (ModelFile t : values()) {
            if (name.endsWith(t.extension)) {
                return t;
            }
        }
        return null;
    }

    /** The type of {@code path}; a {@link UsageException} naming the allowed types when it is none of them. */
    static ModelFile require(Path path, String option, ModelFile... allowed) {
        ModelFile t = of(path);
        for (ModelFile a : allowed) {
            if (a == t) {
                return t;
            }
        }
        StringBuilder names = new StringBuilder();
        for (int i = 0; i < allowed.length; i++) {
            names.append(i == 0 ? "" : i == allowed.length - 1 ? " or " : ", ").append(allowed[i].extension);
        }
        throw new UsageException(option + " must name a " + names + " file, got '" + path + "'");
    }
}
