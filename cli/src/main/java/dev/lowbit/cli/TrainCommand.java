package dev.lowbit.cli;

import dev.lowbit.training.AdaQat;
import dev.lowbit.training.Djl;
import dev.lowbit.training.FashionMnist;
import dev.lowbit.training.LayerQuantizer;
import dev.lowbit.training.Network;
import dev.lowbit.training.Optim;
import dev.lowbit.training.Progress;
import dev.lowbit.training.Trainer;
import dev.lowbit.training.TrainingReport;
import picocli.CommandLine.Option;

import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * {@code lowbit train}: quantization-aware training of ResNet-20 or a small MLP on Fashion-MNIST, one option per
 * field of {@link Trainer.Config} (and {@link AdaQat.Config}); the work is {@link Trainer}'s.
 */
@picocli.CommandLine.Command(name = "train",
        description = {"train ResNet-20 or an MLP on Fashion-MNIST: fp32, LSQ, DoReFa+PACT or AdaQAT",
                "",
                "Trains a network on Fashion-MNIST with fake-quantized weights and activations (or in fp32) on DJL's "
                        + "PyTorch engine, on the CPU, and writes its checkpoint to --out at the end of every epoch and "
                        + "every few minutes inside one. The last line on stdout sums up the run: test accuracy, "
                        + "BitOPs per image and their share of the fp32 network's, the widths, the checkpoint.",
                ""},
        footer = {"",
                "lsq and dorefa-pact train at the fixed widths of --widths (ResNet-20 keeps its first and last layers at "
                        + "W8A8); adaqat "
                        + "learns the widths down from --bits-init, trading accuracy against BitOPs by --lambda. A run "
                        + "whose --out already holds a checkpoint of the same options resumes where it stopped (a "
                        + "finished run does nothing); one of other options is refused. On one thread (the default) a "
                        + "run repeats bit for bit. The images come from Debian's dataset-fashion-mnist "
                        + "(/usr/share/datasets/fashion-mnist) or the folder that JAVA_OPTS=-Dlowbit.fashionMnist.dir=DIR names. 'lowbit "
                        + "train-report' draws several runs in one HTML page."})
final class TrainCommand extends Command {
    static final String DEFAULT_OPTIMIZER = "sgd";
    static final float DEFAULT_LR = 0.1f;
    static final float DEFAULT_WEIGHT_DECAY = 5e-4f;
    static final int DEFAULT_EPOCHS = 30;
    static final int DEFAULT_BATCH = 128;
    static final long DEFAULT_SEED = 1;

    @Option(names = "--model", paramLabel = "M", required = true, completionCandidates = Models.class,
            description = "${COMPLETION-CANDIDATES}: ResNet-20, or a 784-128-10 perceptron for quick runs")
    String model;

    @Option(names = "--method", paramLabel = "M", required = true, completionCandidates = Methods.class,
            description = "${COMPLETION-CANDIDATES}")
    String method;

    @Option(names = "--widths", paramLabel = "WxAy",
            description = "the widths of lsq and dorefa-pact, W<weights>A<activations>, each 2 to 8 bits, e.g. W4A4")
    String widths;

    @Option(names = "--out", paramLabel = "CHECKPOINT", required = true,
            description = "the run's .safetensors checkpoint; when it exists with the same options, the run resumes")
    String outOption;

    @Option(names = "--init", paramLabel = "CHECKPOINT",
            description = "start from the network weights of another run's checkpoint (an fp32 run, to fine-tune)")
    String init;

    @Option(names = "--epochs", paramLabel = "N", description = "epochs (default " + DEFAULT_EPOCHS + ")")
    String epochs;

    @Option(names = "--optimizer", paramLabel = "O", completionCandidates = Optimizers.class,
            description = "${COMPLETION-CANDIDATES}: SGD with momentum 0.9 or Adam, on a cosine schedule (default "
                    + DEFAULT_OPTIMIZER + ")")
    String optimizer;

    @Option(names = "--lr", paramLabel = "LR", description = "the peak learning rate (default 0.1)")
    String lr;

    @Option(names = "--weight-decay", paramLabel = "WD", description = "L2 on weights and clip levels (default 5e-4)")
    String weightDecay;

    @Option(names = "--batch", paramLabel = "N", description = "images per step (default " + DEFAULT_BATCH + ")")
    String batch;

    @Option(names = "--seed", paramLabel = "S", description = "the seed of the weights, the order and the augmentation "
            + "(default " + DEFAULT_SEED + ")")
    String seed;

    @Option(names = "--train-images", paramLabel = "N",
            description = "train on the first N of the 60,000 training images (default all)")
    String trainImages;

    @Option(names = "--test-images", paramLabel = "N",
            description = "test on the first N of the 10,000 test images (default all)")
    String testImages;

    @Option(names = "--no-augment", description = "no random shifts and flips of the training images")
    boolean noAugment;

    @Option(names = "--threads", paramLabel = "N",
            description = "libtorch's threads (default 1: a run then repeats bit for bit)")
    String threads;

    @Option(names = "--lambda", paramLabel = "λ",
            description = "adaqat: the weight of the BitOPs term in the loss (required for adaqat)")
    String lambda;

    @Option(names = "--bit-rate", paramLabel = "η",
            description = "adaqat: the bit-widths' learning rate η_N (default 0.01)")
    String bitRate;

    @Option(names = "--bits-init", paramLabel = "N0", description = "adaqat: the starting width N0, 2 to 8 (default 8)")
    String bitsInit;

    @Option(names = "--stable-epochs", paramLabel = "E",
            description = "adaqat: a width is frozen after E epochs without change (default 5)")
    String stableEpochs;

    @Option(names = "--per-layer", description = "adaqat: a pair of widths per layer (default one for the network)")
    boolean perLayer;

    @Option(names = "--discretize", paramLabel = "D", completionCandidates = Discretizations.class,
            description = "adaqat: how a relaxed width becomes whole bits, ${COMPLETION-CANDIDATES} (default ceil)")
    String discretize;

    private static final Pattern WIDTHS = Pattern.compile("[Ww](\\d{1,3})[Aa](\\d{1,3})");

    /** The configuration the options describe; a {@link UsageException} for the first wrong one. */
    Trainer.Config config() {
        if (!Network.KINDS.contains(model)) {
            throw new UsageException("--model must be " + String.join(" or ", Network.KINDS) + ", got '" + model + "'");
        }
        if (!Trainer.METHODS.contains(method)) {
            throw new UsageException("--method must be one of " + String.join(", ", Trainer.METHODS) + ", got '" + method + "'");
        }
        boolean fixed = method.equals("lsq") || method.equals("dorefa-pact");
        boolean adaqat = method.equals("adaqat");
        int w = 0;
        int a = 0;
        if (fixed) {
            if (widths == null) {
                throw new UsageException("--method " + method + " needs --widths, e.g. --widths W4A4");
            }
            Matcher m = WIDTHS.matcher(widths);
            if (!m.matches()) {
                throw new UsageException("--widths must be W<w>A<a> with widths from " + LayerQuantizer.MIN_BITS + " to "
                        + LayerQuantizer.MAX_BITS + " bits, e.g. W4A4, got '" + widths + "'");
            }
            w = Integer.parseInt(m.group(1));
            a = Integer.parseInt(m.group(2));
            for (int b : new int[] {w, a}) {
                if (b < LayerQuantizer.MIN_BITS || b > LayerQuantizer.MAX_BITS) {
                    throw new UsageException("--widths takes widths from " + LayerQuantizer.MIN_BITS + " to "
                            + LayerQuantizer.MAX_BITS + " bits, got '" + widths + "'");
                }
            }
        } else if (widths != null) {
            throw new UsageException("--widths is for lsq and dorefa-pact; " + (adaqat ? "adaqat learns its widths"
                    : "fp32 has none"));
        }
        AdaQat.Config q = null;
        if (adaqat) {
            if (lambda == null) {
                throw new UsageException("--method adaqat needs --lambda, the weight of the BitOPs term (e.g. --lambda 0.5)");
            }
            AdaQat.Config d = AdaQat.Config.defaults(number("lambda", lambda, false));
            q = new AdaQat.Config(perLayer, d.lambda(),
                    bitRate == null ? d.rate() : number("bit-rate", bitRate, true),
                    bitsInit == null ? d.initial() : bitsInit(bitsInit),
                    Options.intValue("stable-epochs", stableEpochs, d.stableEpochs(), 1, 1_000_000),
                    discretize == null ? d.discretize() : discretization(discretize));
        } else {
            String[][] only = {{"lambda", lambda}, {"bit-rate", bitRate}, {"bits-init", bitsInit},
                    {"stable-epochs", stableEpochs}, {"discretize", discretize}, {"per-layer", perLayer ? "" : null}};
            for (String[] o : only) {
                if (o[1] != null) {
                    throw new UsageException("--" + o[0] + " is for --method adaqat, not " + method);
                }
            }
        }
        Optim.Kind opt = switch (optimizer == null ? DEFAULT_OPTIMIZER : optimizer) {
            case "sgd" -> Optim.Kind.SGD;
            case "adam" -> Optim.Kind.ADAM;
            default -> throw new UsageException("--optimizer must be sgd or adam, got '" + optimizer + "'");
        };
        try {
            return new Trainer.Config(model, method, w, a, opt,
                    lr == null ? DEFAULT_LR : number("lr", lr, true),
                    weightDecay == null ? DEFAULT_WEIGHT_DECAY : number("weight-decay", weightDecay, false),
                    Options.intValue("epochs", epochs, DEFAULT_EPOCHS, 1, 1_000_000),
                    Options.intValue("batch", batch, DEFAULT_BATCH, 2, FashionMnist.TRAIN_SIZE),
                    seed(), Options.intValue("train-images", trainImages, 0, 0, FashionMnist.TRAIN_SIZE),
                    Options.intValue("test-images", testImages, 0, 0, FashionMnist.TEST_SIZE), !noAugment, q);
        } catch (IllegalArgumentException e) {
            throw new UsageException(e.getMessage());
        }
    }

    /** {@code --threads}, 1 by default. */
    int threadCount() {
        return Options.intValue("threads", threads, 1, 1, 1024);
    }

    private long seed() {
        if (seed == null) {
            return DEFAULT_SEED;
        }
        try {
            return Long.parseLong(seed);
        } catch (NumberFormatException e) {
            throw new UsageException("--seed must be a whole number, got '" + seed + "'");
        }
    }

    /** A finite number above 0 ({@code positive}) or of 0 or more. */
    private static float number(String name, String v, boolean positive) {
        float f;
        try {
            f = Float.parseFloat(v);
        } catch (NumberFormatException e) {
            f = Float.NaN;
        }
        if (!Float.isFinite(f) || (positive ? f <= 0 : f < 0) || !v.matches("[-+]?[0-9.]+([eE][-+]?[0-9]+)?")) {
            throw new UsageException("--" + name + " must be a number " + (positive ? "above 0" : "of 0 or more")
                    + ", got '" + v + "'");
        }
        return f;
    }

    private static float bitsInit(String v) {
        float f;
        try {
            f = Float.parseFloat(v);
        } catch (NumberFormatException e) {
            f = Float.NaN;
        }
        if (!(f >= LayerQuantizer.MIN_BITS && f <= LayerQuantizer.MAX_BITS)) {
            throw new UsageException("--bits-init must be a width from " + LayerQuantizer.MIN_BITS + " to "
                    + LayerQuantizer.MAX_BITS + ", got '" + v + "'");
        }
        return f;
    }

    private static AdaQat.Discretize discretization(String v) {
        return switch (v) {
            case "ceil" -> AdaQat.Discretize.CEIL;
            case "round" -> AdaQat.Discretize.ROUND;
            default -> throw new UsageException("--discretize must be ceil or round, got '" + v + "'");
        };
    }

    @Override
    int run(PrintStream out, PrintStream err) throws Exception {
        Trainer.Config config = config();
        int n = threadCount();
        Path file = Path.of(outOption);
        ModelFile.require(file, "--out", ModelFile.SAFETENSORS);
        Path parent = file.toAbsolutePath().getParent();
        if (parent != null && !Files.isDirectory(parent)) {
            throw new IllegalArgumentException("the folder of --out does not exist: " + parent);
        }
        Path from = init == null ? null : Path.of(init);
        if (from != null && !Files.isRegularFile(from)) {
            throw new NoSuchFileException(init);
        }
        // Before anything starts the engine: its threads are fixed when it loads.
        Djl.threads(n);
        try (Trainer t = Trainer.openOrResume(config, file, from)) {
            List<Trainer.Epoch> history;
            if (t.epochsDone() >= config.epochs()) {
                err.println(Units.f("%s holds %s of this run: nothing to train", file,
                        config.epochs() == 1 ? "its epoch" : "all " + config.epochs() + " epochs"));
                history = t.history();
            } else {
                if (t.epochsDone() == 0) {
                    err.println(Units.f("training %s %s on %s images, %d epoch%s, batch %d, %s lr %s, %d thread%s%s; "
                                    + "checkpoint %s", config.model(), label(config),
                            config.trainImages() == 0 ? "all 60,000" : Integer.toString(config.trainImages()),
                            config.epochs(), config.epochs() == 1 ? "" : "s", config.batch(), config.optimizer().name().toLowerCase(Locale.ROOT),
                            Float.toString(config.lr()), n, n == 1 ? "" : "s", from == null ? "" : ", from " + from, file));
                }
                history = t.run(file, err == System.err ? Progress.stderr() : new Progress(err, false));
            }
            Trainer.Epoch e = history.get(history.size() - 1);
            double fp32 = t.network().fp32Bitops();
            out.println(Units.f("%s %s, epoch %d of %d: test accuracy %.2f%%, %s BitOPs per image (1/%.1f of fp32), "
                            + "widths %s, checkpoint %s", config.model(), label(config), e.epoch(), config.epochs(),
                    100 * e.testAccuracy(), TrainingReport.metric(e.bitops()), fp32 / e.bitops(),
                    TrainingReport.widthsLabel(e.widths()), file));
        }
        return 0;
    }

    /** The method with its nominal widths or λ. */
    private static String label(Trainer.Config c) {
        return switch (c.method()) {
            case "fp32" -> "fp32";
            case "adaqat" -> "adaqat λ=" + c.adaqat().lambda() + (c.adaqat().perLayer() ? " per layer" : "");
            default -> c.method() + " W" + c.wBits() + "A" + c.aBits();
        };
    }

    /** The models, for the help and shell completion. */
    static final class Models implements Iterable<String> {
        @Override
        public Iterator<String> iterator() {
            return Network.KINDS.iterator();
        }
    }

    /** The methods, for the help and shell completion. */
    static final class Methods implements Iterable<String> {
        @Override
        public Iterator<String> iterator() {
            return Trainer.METHODS.iterator();
        }
    }

    static final class Optimizers implements Iterable<String> {
        @Override
        public Iterator<String> iterator() {
            return List.of("sgd", "adam").iterator();
        }
    }

    static final class Discretizations implements Iterable<String> {
        @Override
        public Iterator<String> iterator() {
            return List.of("ceil", "round").iterator();
        }
    }
}
