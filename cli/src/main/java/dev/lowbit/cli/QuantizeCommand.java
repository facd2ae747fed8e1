package dev.lowbit.cli;

import dev.lowbit.algorithms.QuantResult;
import dev.lowbit.algorithms.QuantSpec;
import dev.lowbit.format.QuantFormat;
import dev.lowbit.format.QuantizedTensor;
import dev.lowbit.format.ScaleType;
import dev.lowbit.kernels.NonFinitePolicy;
import dev.lowbit.kernels.QuantOps;
import dev.lowbit.models.DenseTensor;
import dev.lowbit.models.GgufFile;
import dev.lowbit.models.GgufTensor;
import dev.lowbit.models.GgufValue;
import dev.lowbit.models.Safetensors;
import picocli.CommandLine.Option;

import java.io.PrintStream;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;

/**
 * {@code lowbit quantize}: one method at one width over a model's weight matrices, written to a
 * safetensors file (any method) or a GGUF file (ggml's RTN blocks).
 */
@picocli.CommandLine.Command(name = "quantize",
        description = {"quantize a model's weight matrices with one method and write .safetensors or .gguf",
                "",
                "Quantizes the weight matrices of a model and writes them with the model's other tensors.",
                ""},
        footer = {"",
                "A .gguf file holds Q4_1 (--method rtn --bits 4), Q4_0 (rtn-sym --bits 4) or Q8_0 (--bits 8), groups of "
                        + "32. NUPES at widths other than 4 stores codes and scales; its exponent goes to the "
                        + "safetensors metadata as \"" + QuantizeCommand.EXPONENTS_KEY + "<tensor>\". The relative "
                        + "error, SQNR and size of the result are printed."})
final class QuantizeCommand extends Command {
    /** safetensors metadata key of a NUPES tensor's exponents when its format cannot hold them. */
    static final String EXPONENTS_KEY = "nupes.exponents.";

    @Option(names = "--model", paramLabel = "FILE", required = true,
            description = {".onnx (the MatMul/Gemm weights, transposed to [out, in] rows), .safetensors or .gguf "
                    + "(every 2-D float tensor, as [rows, cols])"})
    String modelOption;

    @Option(names = "--out", paramLabel = "FILE", required = true,
            description = ".safetensors (lowbit's planes, any method) or .gguf (ggml blocks: RTN only)")
    String outOption;

    @Option(names = "--method", paramLabel = "M", completionCandidates = Options.Methods.class,
            description = "${COMPLETION-CANDIDATES} (default rtn; rtn-sym is symmetric RTN)")
    String methodOption = "rtn";

    @Option(names = "--bits", paramLabel = "B", completionCandidates = Options.Bits.class,
            description = "2, 3, 4 or 8 (default 4; nf4 is 4 only)")
    String bitsOption = "4";

    @Option(names = "--group", paramLabel = "G", completionCandidates = Options.Groups.class,
            description = "group size: " + Options.GROUP_HELP + " (default 64; 32 for .gguf)")
    String groupOption;

    @Option(names = "--layers", paramLabel = "REGEX", description = Options.LAYERS_HELP)
    String layers;

    @Option(names = "--threads", paramLabel = "N", description = Options.THREADS_HELP)
    String threads;

    /** {@code --force}: replace an existing --out file. */
    @Option(names = "--force", description = "replace --out when it exists")
    boolean force;

    /** {@code --verbose}: list every tensor. */
    @Option(names = "--verbose", description = "list every tensor")
    boolean verbose;

    /** {@code --non-finite}: what to do with NaN and infinities in the weights. */
    @Option(names = "--non-finite", paramLabel = "P", converter = Options.NonFinite.class,
            completionCandidates = Options.NonFinite.class,
            description = "refuse (default: stop at the first NaN or infinity, naming its tensor and index) or clamp "
                    + "(NaN to 0, an infinity to its row's largest finite magnitude)")
    NonFinitePolicy nonFinite = NonFinitePolicy.REJECT;

    /** {@code --scales}: the type of the quantization scales (and zero points). */
    @Option(names = "--scales", paramLabel = "T", converter = Options.Scales.class,
            completionCandidates = Options.Scales.class,
            description = "f16 (default) or f32: the type of the scales of lowbit's formats")
    ScaleType scales = ScaleType.F16;

    @Override
    int run(PrintStream out, PrintStream err) throws Exception {
        Path model = Path.of(modelOption);
        Path outFile = Path.of(outOption);
        ModelFile outType = ModelFile.require(outFile, "--out", ModelFile.SAFETENSORS, ModelFile.GGUF);
        ModelFile.require(model, "--model", ModelFile.values());
        String method = Options.method(methodOption);
        int bits = Options.bits(bitsOption);
        int group = Options.group(groupOption != null ? groupOption : outType == ModelFile.GGUF ? "32" : "64");
        if (!Runs.supports(method, bits)) {
            throw new UsageException("nf4 is a 4-bit codebook: use --bits 4");
        }
        QuantFormat ggml = outType == ModelFile.GGUF ? GgmlRtn.formatFor(method, bits, group) : null;
        if (outFile.toAbsolutePath().normalize().equals(model.toAbsolutePath().normalize())) {
            throw new UsageException("--out must not be the --model file");
        }
        Path parent = outFile.toAbsolutePath().getParent();
        if (parent != null && !Files.isDirectory(parent)) {
            throw new IllegalArgumentException("the folder of --out does not exist: " + parent);
        }
        QuantSpec spec = new QuantSpec(bits, group, ScaleType.F16);
        try (Arena arena = Arena.ofShared(); ExecutorService pool = Options.pool(threads)) {
            Weights w = Weights.read(model, Options.layers(layers), arena);
            if (w.matrices().isEmpty()) {
                throw new IllegalArgumentException(model + " has no weight matrix to quantize"
                        + (layers != null ? " that matches --layers" : ""));
            }
            Map<String, QuantizedTensor> quantized = new LinkedHashMap<>();
            Map<String, String> metadata = new LinkedHashMap<>();
            Runs.Sink keep = (m, r) -> {
                quantized.put(m.name(), r.tensor());
                if (r.exponents() != null && !r.exponentsInTensor()) {
                    metadata.put(EXPONENTS_KEY + m.name(), exponents(r));
                }
            };
            // The tensors kept as they are must fit GGUF too: found out before the work, not after it.
            List<GgufTensor> keptInGguf = ggml != null ? keptInGguf(w) : null;
            Runs.Run run = ggml != null
                    ? runGgml(ggml, spec, w, pool, arena, keep, err)
                    : Runs.run(method, spec, w, pool, arena, keep, err);
            if (ggml != null) {
                writeGguf(outFile, w, keptInGguf, quantized, method, bits);
            } else {
                w.metadata().forEach(metadata::putIfAbsent);
                metadata.put("quantized_by", "lowbit quantize --method " + method + " --bits " + bits + " --group "
                        + Options.groupName(group));
                metadata.put("source", w.source().getFileName().toString());
                if (w.type() == ModelFile.ONNX) {
                    metadata.put("layout", "quantized tensors are [out, in]: the ONNX MatMul weights transposed");
                }
                Map<String, DenseTensor> dense = new LinkedHashMap<>(w.others());
                Map<String, QuantizedTensor> all = new LinkedHashMap<>(w.quantized());
                for (Map.Entry<String, QuantizedTensor> e : quantized.entrySet()) {
                    if (all.put(e.getKey(), e.getValue()) != null) {
                        throw new IllegalArgumentException("tensor '" + e.getKey() + "' appears twice in " + model);
                    }
                }
                Safetensors.write(outFile, dense, all, metadata);
            }
            long fp32 = 4 * w.parameters();
            out.println(Units.f("%s: %d matrices, %s parameters quantized with %s, %d bits, group %s (%s)", outFile,
                    run.layers().size(), Units.count(w.parameters()), method, bits, Options.groupName(group),
                    run.layers().get(0).format()));
            out.println(Units.f("relative error %.4e (worst layer %.4e, %s), SQNR %.2f dB, outliers %.3f%%",
                    run.relativeError(), run.worst().relativeError(), run.worst().name(), run.sqnrDb(),
                    100 * run.outlierFraction()));
            out.println(Units.f("matrices: %d bytes (%.3f bits/weight) from %d bytes of fp32; file %d bytes; %.1f s",
                    run.bytes(), 8.0 * run.bytes() / w.parameters(), fp32, Files.size(outFile), run.seconds()));
        }
        return 0;
    }

    /** The exponents as decimal floats that parse back to the same values, comma-separated. */
    static String exponents(QuantResult r) {
        StringBuilder sb = new StringBuilder();
        for (float a : r.exponents()) {
            sb.append(sb.isEmpty() ? "" : ",").append(Float.toString(a));
        }
        return sb.toString();
    }

    /** Parses what {@link #exponents} wrote. */
    static float[] parseExponents(String s) {
        String[] p = s.split(",");
        float[] a = new float[p.length];
        for (int i = 0; i < p.length; i++) {
            a[i] = Float.parseFloat(p[i]);
        }
        return a;
    }

    private static Runs.Run runGgml(QuantFormat f, QuantSpec spec, Weights w, ExecutorService pool, Arena arena,
                                    Runs.Sink keep, PrintStream err) throws java.io.IOException {
        GgmlRtn q = new GgmlRtn(f, pool);
        QuantOps.get(); // the kernels log their choice now, not in the middle of the progress bar
        Progress p = new Progress(err, Units.f("%-9s %d-bit", f.name(), spec.bits()), w.parameters());
        List<Runs.Layer> layers = new ArrayList<>();
        for (Weights.Matrix m : w.matrices()) {
            long t0 = System.nanoTime();
            QuantResult r = q.quantize(m.values(), m.rows(), m.cols(), arena);
            layers.add(new Runs.Layer(m.name(), m.rows(), m.cols(), r.squaredError(), r.energy(), 0,
                    r.tensor().byteSize(), (System.nanoTime() - t0) / 1e9, null, f.name()));
            keep.accept(m, r);
            p.add(m.elements());
        }
        Runs.Run run = new Runs.Run(f.name(), spec, List.copyOf(layers), p.seconds());
        p.finish(null);
        return run;
    }

    /** The model's other tensors as GGUF holds them; an {@link IllegalArgumentException} for one it cannot hold. */
    private static List<GgufTensor> keptInGguf(Weights w) {
        List<GgufTensor> tensors = new ArrayList<>();
        for (DenseTensor d : w.others().values()) {
            tensors.add(GgufTensor.of(d));
        }
        w.quantized().forEach((k, v) -> tensors.add(GgufTensor.of(k, v)));
        return tensors;
    }

    private static void writeGguf(Path out, Weights w, List<GgufTensor> kept, Map<String, QuantizedTensor> quantized,
                                  String method, int bits) throws java.io.IOException {
        List<GgufTensor> tensors = new ArrayList<>(kept);
        quantized.forEach((k, v) -> tensors.add(GgufTensor.of(k, v)));
        Map<String, GgufValue> meta = new LinkedHashMap<>(w.gguf());
        meta.put("general.quantized_by", GgufValue.string("lowbit quantize --method " + method + " --bits " + bits));
        meta.put("general.source.file", GgufValue.string(w.source().getFileName().toString()));
        GgufFile.write(out, meta, tensors);
    }
}
