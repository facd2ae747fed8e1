package dev.lowbit.cli;

import dev.lowbit.algorithms.QuantResult;
import dev.lowbit.algorithms.QuantSpec;
import dev.lowbit.format.QuantFormat;
import dev.lowbit.format.QuantizedTensor;
import dev.lowbit.format.ScaleType;
import dev.lowbit.kernels.QuantOps;
import dev.lowbit.models.DenseTensor;
import dev.lowbit.models.GgufFile;
import dev.lowbit.models.GgufTensor;
import dev.lowbit.models.GgufValue;
import dev.lowbit.models.Safetensors;

import java.io.PrintStream;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutorService;

/**
 * {@code lowbit quantize}: one method at one width over a model's weight matrices, written to a
 * safetensors file (any method) or a GGUF file (ggml's RTN blocks).
 */
final class QuantizeCommand implements Command {
    /** safetensors metadata key of a NUPES tensor's exponents when its format cannot hold them. */
    static final String EXPONENTS_KEY = "nupes.exponents.";

    @Override
    public String name() {
        return "quantize";
    }

    @Override
    public String summary() {
        return "quantize a model's weight matrices with one method and write .safetensors or .gguf";
    }

    private static void help(PrintStream out) {
        out.println("Usage: lowbit quantize --model FILE|minilm --out FILE [--method M] [--bits B] [--group G] [OPTIONS]");
        out.println();
        out.println("Quantizes the weight matrices of a model and writes them with every other tensor unchanged.");
        out.println("  --model FILE     .onnx (the MatMul/Gemm weights, transposed to [out, in] rows), .safetensors or");
        out.println("                   .gguf (every 2-D float tensor, as [rows, cols]); minilm: the built-in model");
        out.println("  --out FILE       .safetensors (lowbit's planes, any method) or .gguf (ggml blocks); an existing");
        out.println("                   file is replaced only with --force, and never when it is the --model file");
        out.println("  --method M       " + String.join(", ", Methods.ALL) + " (default rtn)");
        out.println("  --bits B         2, 3, 4 or 8 (default 4; nf4, q4_0 and q4_1 are 4 only, q8_0 is 8 only)");
        out.println("  --group G        group size: " + Options.GROUP_HELP + " (default 64; 32 for .gguf and q4_0, q4_1, q8_0)");
        out.println(Options.LAYERS_HELP);
        out.println(Options.THREADS_HELP);
        out.println("  --scales T       f16 or f32: the type of stored scales (default f16)");
        out.println("  --non-finite P   refuse (default) or clamp: NaN becomes 0, an infinity the row's largest finite value");
        out.println("  --force          replace an existing --out");
        out.println("  --verbose        list every tensor: quantized, or kept as it was and why");
        out.println();
        out.println("rtn-sym is RTN on the symmetric grid +-(2^(b-1) - 1); q4_0, q4_1 and q8_0 are ggml's own rules.");
        out.println("A method writes the same codes to either format. A .gguf file holds rtn-sym at 4 or 8 bits");
        out.println("(as Q4_0 or Q8_0 blocks) and q4_0, q4_1, q8_0; a matrix whose rows are not whole blocks of 32");
        out.println("is kept as F32 or F16. NUPES at widths other than 4 stores codes and scales; its exponent goes to");
        out.println("the safetensors metadata as \"" + EXPONENTS_KEY + "<tensor>\". The summary counts the tensors");
        out.println("quantized and kept (by reason), with the bytes read and written, the relative error and SQNR.");
    }

    @Override
    public int run(List<String> argList, PrintStream out, PrintStream err) throws Exception {
        Args args = new Args(name(), argList, Set.of("model", "out", "method", "bits", "group", "layers", "threads",
                "non-finite", "scales"), Set.of("force", "verbose"));
        if (args.help()) {
            help(out);
            return 0;
        }
        args.positional(0, 0, "");
        String bits = args.get("bits", null);
        String group = args.get("group", null);
        String nonFinite = args.get("non-finite", "refuse");
        if (!nonFinite.equals("refuse") && !nonFinite.equals("clamp")) {
            throw new UsageException("--non-finite must be refuse or clamp, got '" + nonFinite + "'");
        }
        String scales = args.get("scales", "f16");
        if (!scales.equals("f16") && !scales.equals("f32")) {
            throw new UsageException("--scales must be f16 or f32, got '" + scales + "'");
        }
        QuantizeJob.Settings s = new QuantizeJob.Settings(args.required("model"), Path.of(args.required("out")),
                args.get("method", "rtn"), bits == null ? null : Options.bits(bits),
                group == null ? null : Options.group(group), Options.layers(args.get("layers", null)),
                args.intValue("threads", Runtime.getRuntime().availableProcessors(), 1, 1024),
                args.flag("force"), args.flag("verbose"), nonFinite.equals("clamp"),
                scales.equals("f32") ? ScaleType.F32 : ScaleType.F16);
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
