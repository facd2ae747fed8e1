package dev.lowbit.cli;

import dev.lowbit.format.QuantizedTensor;
import dev.lowbit.models.DenseTensor;
import dev.lowbit.models.GgufFile;
import dev.lowbit.models.GgufTensor;
import dev.lowbit.models.GgufValue;
import dev.lowbit.models.OnnxModel;
import dev.lowbit.models.OnnxReader;
import dev.lowbit.models.Safetensors;
import dev.lowbit.models.BuiltinModels;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.PrintStream;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/** {@code lowbit inspect FILE}: every tensor of a model file with its type, shape and size, and the totals. */
@picocli.CommandLine.Command(name = "inspect",
        description = {"list the tensors of an .onnx, .safetensors or .gguf file: formats, shapes, sizes",
                "",
                "Lists every tensor of FILE (.onnx, .safetensors, .gguf, or minilm for the built-in "
                        + "all-MiniLM-L6-v2) with its type or lowbit format, its shape, its size in bytes and bits "
                        + "per weight, then the totals and the file's metadata. "
                        + "Quantized tensors that lowbit wrote show their format (e.g. int4_asym_g64_f16, "
                        + "cb4_g64_f16, q4_0) and their sparse outliers.",
                ""})
final class InspectCommand extends Command {
    @Parameters(paramLabel = "FILE", arity = "0..1",
            description = "the model file, or " + BuiltinModel.MINILM_HELP)
    String fileName;

    @Option(names = "--model", paramLabel = "FILE",
            description = "the same as FILE: .onnx, .safetensors, .gguf or " + BuiltinModel.MINILM)
    String model;

    @Override
    int run(PrintStream out, PrintStream err) throws Exception {
        if (fileName != null && model != null) {
            throw new UsageException("give the model as FILE or as --model, not both");
        }
        if (fileName == null && model == null) {
            throw new UsageException("inspect needs a FILE (or --model " + BuiltinModel.MINILM + ")");
        }
        String name = fileName != null ? fileName : model;
        boolean builtin = BuiltinModel.isMiniLm(name);
        Path file = builtin ? null : Path.of(name);
        ModelFile type = builtin ? ModelFile.ONNX : ModelFile.require(file, fileName != null ? "FILE" : "--model",
                ModelFile.values());
        if (!builtin && !Files.isRegularFile(file)) {
            throw new java.nio.file.NoSuchFileException(file.toString());
        }
        Totals totals = new Totals(builtin);
        Table t = new Table("tensor", "type", "shape", ">bytes", ">bits/weight");
        try (Arena arena = Arena.ofConfined()) {
            switch (type) {
                case ONNX -> {
                    OnnxModel m = builtin ? BuiltinModels.miniLm() : OnnxReader.read(file);
                    Map<String, DenseTensor> linear = m.linearWeights();
                    for (DenseTensor d : m.initializers().values()) {
                        totals.add(t, d.name(), d.dtype() + (linear.containsKey(d.name()) ? " (MatMul weight)" : ""),
                                d.shape(), d.bytes().byteSize(), d.elements());
                    }
                    m.unsupported().forEach((k, v) -> t.row(k, v + ", not read", "", "", ""));
                    totals.print(t, out, file);
                    long lp = linear.values().stream().mapToLong(DenseTensor::elements).sum();
                    out.println(linear.size() + " MatMul/Gemm weights (" + Units.count(lp)
                            + " parameters): what 'lowbit quantize' quantizes in an ONNX model");
                }
                case SAFETENSORS -> {
                    Safetensors.Contents c = Safetensors.read(file, arena);
                    for (DenseTensor d : c.dense().values()) {
                        totals.add(t, d.name(), d.dtype().name(), d.shape(), d.bytes().byteSize(), d.elements());
                    }
                    for (Map.Entry<String, QuantizedTensor> e : c.quantized().entrySet()) {
                        QuantizedTensor q = e.getValue();
                        String f = q.format().name() + (q.outliers() != null ? " + " + q.outliers().nnz() + " outliers" : "");
                        totals.add(t, e.getKey(), f, new long[]{q.rows(), q.cols()}, q.byteSize(), q.elements());
                    }
                    c.unsupported().forEach((k, v) -> t.row(k, v + ", not read", "", "", ""));
                    totals.print(t, out, file);
                    if (!c.metadata().isEmpty()) {
                        out.println("metadata:");
                        c.metadata().forEach((k, v) -> out.println("  " + k + " = " + abbreviate(v)));
                    }
                }
                case GGUF -> {
                    GgufFile.Contents c = GgufFile.read(file, arena);
                    for (GgufTensor g : c.tensors().values()) {
                        long[] dims = g.dims();
                        long[] shape = new long[dims.length];
                        long n = 1;
                        for (int i = 0; i < dims.length; i++) {
                            shape[i] = dims[dims.length - 1 - i];
                            n *= dims[i];
                        }
                        totals.add(t, g.name(), g.type().name(), shape, g.data().byteSize(), n);
                    }
                    totals.print(t, out, file);
                    out.println("GGUF version " + c.version() + ", alignment " + c.alignment() + ", metadata:");
                    c.metadata().forEach((k, v) -> out.println("  " + k + " = " + abbreviate(show(v))));
                }
            }
        }
        return 0;
    }

    private static String show(GgufValue v) {
        if (v.type() == GgufValue.Type.ARRAY) {
            return v.elementType() + "[" + ((List<?>) v.value()).size() + "]";
        }
        return String.valueOf(v.value());
    }

    private static String abbreviate(String s) {
        return s.length() <= 160 ? s : s.substring(0, 157) + "...";
    }

    /** Sums over the listed tensors. */
    private static final class Totals {
        /** Whether the model is the built-in one, which has no file to measure. */
        final boolean builtin;
        long tensors;
        long bytes;
        long elements;

        Totals(boolean builtin) {
            this.builtin = builtin;
        }

        void add(Table t, String name, String type, long[] shape, long byteSize, long n) {
            t.row(name, type, Units.shape(shape), byteSize, n == 0 ? "" : Units.f("%.2f", 8.0 * byteSize / n));
            tensors++;
            bytes += byteSize;
            elements += n;
        }

        void print(Table t, PrintStream out, Path file) throws java.io.IOException {
            t.rule();
            t.row("total: " + tensors + " tensors, " + Units.count(elements) + " values", "", "", bytes,
                    elements == 0 ? "" : Units.f("%.2f", 8.0 * bytes / elements));
            t.print(out);
            if (builtin) {
                long size = BuiltinModels.miniLmOnnx().length;
                out.println(BuiltinModel.MINILM + " (the built-in all-MiniLM-L6-v2, " + BuiltinModels.MINILM_RESOURCE
                        + "): " + size + " bytes (" + Units.bytes(size) + ")");
            } else {
                out.println(file + ": " + Files.size(file) + " bytes (" + Units.bytes(Files.size(file)) + ")");
            }
        }
    }
}
