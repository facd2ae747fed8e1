package dev.lowbit.cli;

import dev.lowbit.algorithms.QuantResult;
import dev.lowbit.format.ScaleType;
import dev.lowbit.kernels.NonFinitePolicy;
import picocli.CommandLine.Option;

import java.io.PrintStream;
import java.nio.file.Path;

/**
 * {@code lowbit quantize}: one method at one width over a model's weight matrices, written with every
 * other tensor to a safetensors file (any method) or a GGUF file (ggml blocks); the work is
 * {@link QuantizeJob}'s.
 */
@picocli.CommandLine.Command(name = "quantize",
        description = {"quantize a model's weight matrices with one method and write .safetensors or .gguf",
                "",
                "Quantizes the weight matrices of a model and writes them with every other tensor unchanged.",
                ""},
        footer = {"",
                "rtn-sym is RTN on the symmetric grid +-(2^(b-1) - 1); q4_0, q4_1, q8_0, q5_0, q5_1, iq4_nl and "
                        + "q2_k ... q6_k are ggml's own rules, q4_k_m and q5_k_m llama.cpp's mixtures (Q6_K for the output "
                        + "and half the value and FFN-down projections). A method writes the same codes to either format. "
                        + "A .gguf file holds rtn-sym at 4 or 8 bits (as Q4_0 or Q8_0 blocks) and ggml's rules; a matrix "
                        + "whose rows are not whole blocks of 32 is kept as F32 or F16, and one whose rows a K-quant's "
                        + "super-blocks of 256 do not tile gets llama.cpp's fallback (Q5_0, Q5_1, Q8_0 or IQ4_NL). NUPES at widths other than 4 stores codes and scales; its exponent "
                        + "goes to the safetensors metadata as \"" + QuantizeCommand.EXPONENTS_KEY + "<tensor>\". The "
                        + "summary counts the tensors quantized and kept (by reason), with the bytes read and written, "
                        + "the relative error and SQNR."})
final class QuantizeCommand extends Command {
    /** safetensors metadata key of a NUPES tensor's exponents when its format cannot hold them. */
    static final String EXPONENTS_KEY = "nupes.exponents.";

    @Option(names = "--model", paramLabel = "FILE", required = true,
            description = {".onnx (the MatMul/Gemm weights, transposed to [out, in] rows), .safetensors or .gguf "
                    + "(every 2-D float tensor, as [rows, cols]), or " + BuiltinModel.MINILM_HELP})
    String modelOption;

    @Option(names = "--out", paramLabel = "FILE", required = true,
            description = ".safetensors (lowbit's planes, any method) or .gguf (ggml blocks); an existing file is "
                    + "replaced only with --force, and never when it is an input")
    String outOption;

    @Option(names = "--method", paramLabel = "M", completionCandidates = Options.QuantizeMethods.class,
            description = "${COMPLETION-CANDIDATES} (default rtn)")
    String methodOption = "rtn";

    @Option(names = "--bits", paramLabel = "B", completionCandidates = Options.Bits.class,
            description = "2, 3, 4 or 8 (default 4; nf4, q4_0 and q4_1 are 4 only, q8_0 is 8 only; ggml's other "
                    + "rules fix their own width)")
    String bitsOption;

    @Option(names = "--group", paramLabel = "G", completionCandidates = Options.Groups.class,
            description = "group size: " + Options.GROUP_HELP + " (default 64; 32 for .gguf and q4_0, q4_1, q8_0; "
                    + "ggml's other rules fix their own blocks)")
    String groupOption;

    @Option(names = "--layers", paramLabel = "REGEX", description = Options.LAYERS_HELP)
    String layers;

    @Option(names = "--threads", paramLabel = "N", description = Options.THREADS_HELP)
    String threads;

    @Option(names = "--force", description = "replace --out when it exists")
    boolean force;

    @Option(names = "--verbose", description = "list every tensor: quantized, or kept as it was and why")
    boolean verbose;

    @Option(names = "--non-finite", paramLabel = "P", converter = Options.NonFinite.class,
            completionCandidates = Options.NonFinite.class,
            description = "refuse (default: stop at the first NaN or infinity, naming its tensor and index) or clamp "
                    + "(NaN to 0, an infinity to its row's largest finite magnitude)")
    NonFinitePolicy nonFinite = NonFinitePolicy.REJECT;

    @Option(names = "--scales", paramLabel = "T", converter = Options.Scales.class,
            completionCandidates = Options.Scales.class,
            description = "f16 (default) or f32: the type of the scales of lowbit's formats")
    ScaleType scales = ScaleType.F16;

    @Override
    int run(PrintStream out, PrintStream err) throws Exception {
        QuantizeJob.Settings s = new QuantizeJob.Settings(modelOption, Path.of(outOption), methodOption,
                bitsOption == null ? null : Options.bits(bitsOption),
                groupOption == null ? null : Options.group(groupOption), Options.layers(layers),
                Options.intValue("threads", threads, Runtime.getRuntime().availableProcessors(), 1, 1024),
                force, verbose, nonFinite == NonFinitePolicy.CLAMP, scales);
        return QuantizeJob.run(s, out, err);
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
}
