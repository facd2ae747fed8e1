package dev.lowbit.training;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import dev.lowbit.format.io.Json;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;

/**
 * Trains a {@link Network} on Fashion-MNIST: fp32, fixed-width fake-quant (LSQ, DoReFa+PACT) or AdaQAT, with SGD
 * (momentum 0.9) or Adam on a cosine schedule, seeded: the initial weights, each epoch's order and each batch's
 * augmentation (a random shift of up to 2 pixels, zero-filled, and a horizontal flip with probability 1/2) come
 * from the seed alone, so a run on one thread repeats bit for bit, and a resumed run continues as if never stopped.
 *
 * <p>Drive a trainer from one thread: libtorch keeps per-thread state, and a network stepped from changing threads
 * does not repeat what one thread computes ({@link Djl#onThisThread}).
 *
 * <p>With an output file, a checkpoint is written at the end of each epoch and every few minutes inside one; a run
 * whose output file already holds a checkpoint of the same configuration resumes from it.
 */
public final class Trainer implements AutoCloseable {
    /** The methods {@link Config#method} names. */
    public static final List<String> METHODS = List.of("fp32", "lsq", "dorefa-pact", "adaqat");

    /**
     * What to train.
     *
     * @param model        {@code resnet20} or {@code mlp}
     * @param method       {@code fp32}, {@code lsq}, {@code dorefa-pact} or {@code adaqat}
     * @param wBits        weight width of the inner layers (fixed-width methods)
     * @param aBits        input width of the inner layers (fixed-width methods)
     * @param optimizer    SGD or Adam
     * @param lr           the peak learning rate (cosine to 0)
     * @param weightDecay  L2 on weights and clip levels
     * @param epochs       epochs
     * @param batch        images per step
     * @param seed         the seed of everything random
     * @param trainImages  the first this many training images, or 0 for all 60,000
     * @param testImages   the first this many test images, or 0 for all 10,000
     * @param augment      shift and flip the training images
     * @param adaqat       AdaQAT's settings (method {@code adaqat} only)
     */
    public record Config(String model, String method, int wBits, int aBits, Optim.Kind optimizer, float lr,
                         float weightDecay, int epochs, int batch, long seed, int trainImages, int testImages,
                         boolean augment, AdaQat.Config adaqat) {
        public Config {
            if (!Network.KINDS.contains(model)) {
                throw new IllegalArgumentException("unknown model '" + model + "': expected one of " + Network.KINDS);
            }
            if (!METHODS.contains(method)) {
                throw new IllegalArgumentException("unknown method '" + method + "': expected one of " + METHODS);
            }
            if (method.equals("lsq") || method.equals("dorefa-pact")) {
                LayerQuantizer.checkBits(wBits);
                LayerQuantizer.checkBits(aBits);
            } else {
                wBits = 8; // fixed widths mean nothing to fp32 and AdaQAT: one configuration, one text
                aBits = 8;
            }
            if (method.equals("adaqat") && adaqat == null) {
                throw new IllegalArgumentException("method adaqat needs its settings");
            }
            if (epochs < 1) {
                throw new IllegalArgumentException("epochs must be at least 1, got " + epochs);
            }
            if (batch < 2) {
                throw new IllegalArgumentException("the batch must hold at least 2 images (batch norm), got " + batch);
            }
            if (trainImages < 0 || trainImages > FashionMnist.TRAIN_SIZE) {
                throw new IllegalArgumentException("training images must be 0 (all) to " + FashionMnist.TRAIN_SIZE + ", got " + trainImages);
            }
            if (testImages < 0 || testImages > FashionMnist.TEST_SIZE) {
                throw new IllegalArgumentException("test images must be 0 (all) to " + FashionMnist.TEST_SIZE + ", got " + testImages);
            }
        }

        /** Everything that fixes the run, as JSON: a checkpoint resumes only under the same configuration. */
        public String toJson() {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("model", model);
            m.put("method", method);
            m.put("w_bits", wBits);
            m.put("a_bits", aBits);
            m.put("optimizer", optimizer.name().toLowerCase(Locale.ROOT));
            m.put("lr", (double) lr);
            m.put("weight_decay", (double) weightDecay);
            m.put("epochs", epochs);
            m.put("batch", batch);
            m.put("seed", seed);
            m.put("train_images", trainImages);
            m.put("test_images", testImages);
            m.put("augment", augment);
            if (adaqat != null) {
                Map<String, Object> a = new LinkedHashMap<>();
                a.put("per_layer", adaqat.perLayer());
                a.put("lambda", (double) adaqat.lambda());
                a.put("rate", (double) adaqat.rate());
                a.put("initial", (double) adaqat.initial());
                a.put("stable_epochs", adaqat.stableEpochs());
                a.put("discretize", adaqat.discretize().name().toLowerCase(Locale.ROOT));
                m.put("adaqat", a);
            }
            return Json.write(m);
        }

        /** Reads {@link #toJson()}. */
        public static Config fromJson(String json) {
            try {
                Map<?, ?> m = (Map<?, ?>) Json.parseDocument(json);
                AdaQat.Config a = null;
                if (m.get("adaqat") instanceof Map<?, ?> q) {
                    a = new AdaQat.Config((Boolean) q.get("per_layer"), num(q, "lambda").floatValue(),
                            num(q, "rate").floatValue(), num(q, "initial").floatValue(), num(q, "stable_epochs").intValue(),
                            AdaQat.Discretize.parse((String) q.get("discretize")));
                }
                return new Config((String) m.get("model"), (String) m.get("method"), num(m, "w_bits").intValue(),
                        num(m, "a_bits").intValue(), Optim.Kind.valueOf(((String) m.get("optimizer")).toUpperCase(Locale.ROOT)),
                        num(m, "lr").floatValue(), num(m, "weight_decay").floatValue(), num(m, "epochs").intValue(),
                        num(m, "batch").intValue(), num(m, "seed").longValue(), num(m, "train_images").intValue(),
                        num(m, "test_images").intValue(), (Boolean) m.get("augment"), a);
            } catch (java.text.ParseException | RuntimeException e) {
                throw new IllegalArgumentException("not a training configuration: " + e.getMessage(), e);
            }
        }

        private static Number num(Map<?, ?> m, String k) {
            return Trainer.num(m.get(k), k);
        }
    }

    /**
     * One finished epoch.
     *
     * @param bitops  BitOPs per image at the epoch's widths
     * @param widths  the integer widths, {@code W/A} per layer, or {@code fp32}
     * @param relaxed AdaQAT's relaxed widths N by variable name at the epoch's end (empty for other methods)
     */
    public record Epoch(int epoch, double trainLoss, double trainAccuracy, double testAccuracy, double imagesPerSecond,
                        double bitops, String widths, Map<String, Double> relaxed) {
        Map<String, Object> toMap() {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("epoch", epoch);
            m.put("train_loss", trainLoss);
            m.put("train_accuracy", trainAccuracy);
            m.put("test_accuracy", testAccuracy);
            m.put("images_per_second", imagesPerSecond);
            m.put("bitops", bitops);
            m.put("widths", widths);
            Map<String, Object> r = new LinkedHashMap<>();
            relaxed.forEach(r::put);
            m.put("relaxed", r);
            return m;
        }

        static Epoch fromMap(Map<?, ?> m) {
            return new Epoch(num(m.get("epoch"), "epoch").intValue(), num(m.get("train_loss"), "train_loss").doubleValue(),
                    num(m.get("train_accuracy"), "train_accuracy").doubleValue(),
                    num(m.get("test_accuracy"), "test_accuracy").doubleValue(),
                    num(m.get("images_per_second"), "images_per_second").doubleValue(),
                    num(m.get("bitops"), "bitops").doubleValue(), (String) m.get("widths"), relaxedOf(m.get("relaxed")));
        }

        private static Map<String, Double> relaxedOf(Object o) {
            Map<String, Double> r = new LinkedHashMap<>();
            if (o instanceof Map<?, ?> mm) {
                mm.forEach((k, v) -> r.put((String) k, num(v, (String) k).doubleValue()));
            }
            return r;
        }
    }

    /**
     * A number of the training metadata: as JSON has it ({@code Double.toString}'s text, which reads back exactly),
     * or a decimal string, as some checkpoints hold it.
     */
    static Number num(Object v, String what) {
        if (v instanceof Number n) {
            return n;
        }
        if (v instanceof String s) {
            try {
                return Double.valueOf(s);
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("'" + what + "' is not a number: " + s);
            }
        }
        throw new IllegalArgumentException("'" + what + "' is missing or not a number");
    }

    /** The tensor of every layer's weight and input width, {@code [w0, a0, w1, a1, ...]}. */
    static final String KEY_WIDTHS = "quantizer.widths";

    static final String KEY_CONFIG = "training.config";
    static final String KEY_EPOCH = "training.epoch";
    static final String KEY_STEP = "training.step";
    static final String KEY_OPT_STEPS = "training.optimizer_steps";
    static final String KEY_RUNNING = "training.running";
    static final String KEY_HISTORY = "training.history";
    static final String KEY_INIT = "training.init";

    /** Minutes between checkpoints inside an epoch. */
    public static final double CHECKPOINT_MINUTES = 5;

    private final Config config;
    private final NDManager manager;
    private final Network net;
    private final Quantizer quantizer;
    private final LayerQuantizer layerQuantizer;
    private final AdaQat adaqat;
    private final Optim optim;
    private final List<Epoch> history = new ArrayList<>();
    private int epochsDone;
    private int stepInEpoch;
    private double runLoss;
    private long runCorrect;
    private long runSeen;
    private String init = "";
    /** Tests: a checkpoint every this many steps (0: by time only). */
    int checkpointSteps;
    /** Tests: stop with an exception after this many steps of this call, as an interrupted run would (0: never). */
    int stopAfterSteps;

    /** A fresh run of {@code config}, its network drawn from the seed. */
    public Trainer(Config config) {
        this.config = config;
        this.manager = Djl.newManager();
        this.net = Network.create(config.model(), manager, config.seed());
        switch (config.method()) {
            case "fp32" -> {
                layerQuantizer = null;
                quantizer = Quantizer.FP32;
                adaqat = null;
            }
            case "adaqat" -> {
                layerQuantizer = LayerQuantizer.uniform(LayerQuantizer.Method.DOREFA_PACT, net.layers(), 8, 8, manager);
                quantizer = layerQuantizer;
                adaqat = new AdaQat(config.adaqat(), net, layerQuantizer);
            }
            default -> {
                layerQuantizer = LayerQuantizer.uniform(LayerQuantizer.Method.parse(config.method()), net.layers(),
                        config.wBits(), config.aBits(), manager);
                quantizer = layerQuantizer;
                adaqat = null;
            }
        }
        this.optim = new Optim(config.optimizer(), config.lr(), config.weightDecay(), manager);
    }

    public Config config() {
        return config;
    }

    public Network network() {
        return net;
    }

    public Quantizer quantizer() {
        return quantizer;
    }

    /** AdaQAT's state, or null for the other methods. */
    public AdaQat adaqat() {
        return adaqat;
    }

    public List<Epoch> history() {
        return List.copyOf(history);
    }

    public int epochsDone() {
        return epochsDone;
    }

    /** Starts from the network weights (and running statistics) of another run's checkpoint: fine-tuning. */
    public void initializeFrom(Path checkpoint) throws IOException {
        Checkpoint.Contents c = Checkpoint.read(checkpoint);
        String cfg = c.metadata().get(KEY_CONFIG);
        if (cfg == null) {
            throw new IllegalArgumentException(checkpoint + " is not a training checkpoint (no " + KEY_CONFIG + ")");
        }
        Config other = Config.fromJson(cfg);
        if (!other.model().equals(config.model())) {
            throw new IllegalArgumentException(checkpoint + " holds a " + other.model() + ", not a " + config.model());
        }
        net.load(c.tensors());
        init = checkpoint.getFileName().toString();
    }

    /** Restores a checkpoint of this same configuration. */
    public void restore(Checkpoint.Contents c, Path from) {
        String cfg = c.metadata().get(KEY_CONFIG);
        if (cfg == null || !config.equals(Config.fromJson(cfg))) {
            throw new IllegalArgumentException(from + " holds a run of another configuration; give another output file"
                    + " or remove it to start again.\n  its configuration: " + cfg + "\n  this run's:        " + config.toJson());
        }
        net.load(c.tensors());
        if (layerQuantizer != null) {
            layerQuantizer.load(c.tensors());
            float[] widths = c.tensors().get(KEY_WIDTHS);
            if (widths != null) {
                List<Layer> layers = net.layers();
                if (widths.length != 2 * layers.size()) {
                    throw new IllegalArgumentException(from + ": '" + KEY_WIDTHS + "' holds " + widths.length
                            + " values, " + config.model() + " needs " + 2 * layers.size());
                }
                for (Layer l : layers) {
                    layerQuantizer.setWeightBits(l.index(), (int) widths[2 * l.index()]);
                    layerQuantizer.setInputBits(l.index(), (int) widths[2 * l.index() + 1]);
                }
            }
        }
        if (adaqat != null) {
            List<AdaQat.Variable> vs = adaqat.variables();
            adaqat.restore(i -> c.tensors().get("adaqat." + vs.get(i).name()));
        }
        Map<String, NDArray> all = trainable();
        try {
            optim.restore(c.tensors(), all, Long.parseLong(c.metadata().getOrDefault(KEY_OPT_STEPS, "0")));
            epochsDone = Integer.parseInt(c.metadata().getOrDefault(KEY_EPOCH, "0"));
            stepInEpoch = Integer.parseInt(c.metadata().getOrDefault(KEY_STEP, "0"));
            Object h = Json.parseDocument(c.metadata().getOrDefault(KEY_HISTORY, "[]"));
            history.clear();
            for (Object e : (List<?>) h) {
                history.add(Epoch.fromMap((Map<?, ?>) e));
            }
            List<?> r = (List<?>) Json.parseDocument(c.metadata().getOrDefault(KEY_RUNNING, "[0,0,0]"));
            runLoss = num(r.get(0), "running loss").doubleValue();
            runCorrect = num(r.get(1), "running correct").longValue();
            runSeen = num(r.get(2), "running seen").longValue();
            init = c.metadata().getOrDefault(KEY_INIT, "");
        } catch (java.text.ParseException | RuntimeException e) {
            throw new IllegalArgumentException(from + ": damaged training metadata: " + e.getMessage(), e);
        }
    }

    /** Loads a finished (or partial) run from its checkpoint, with the configuration it records. */
    public static Trainer load(Path checkpoint) throws IOException {
        Checkpoint.Contents c = Checkpoint.read(checkpoint);
        String cfg = c.metadata().get(KEY_CONFIG);
        if (cfg == null) {
            throw new IllegalArgumentException(checkpoint + " is not a training checkpoint (no " + KEY_CONFIG + ")");
        }
        Trainer t = new Trainer(Config.fromJson(cfg));
        try {
            t.restore(c, checkpoint);
        } catch (RuntimeException e) {
            t.close();
            throw e;
        }
        return t;
    }

    private Map<String, NDArray> trainable() {
        Map<String, NDArray> all = new LinkedHashMap<>(net.parameters());
        all.putAll(quantizer.parameters());
        return all;
    }

    /** Writes the run's state to {@code path}. */
    public void save(Path path) throws IOException {
        Map<String, Checkpoint.Tensor> t = new LinkedHashMap<>();
        for (Map<String, NDArray> m : List.of(net.parameters(), net.buffers(), quantizer.parameters())) {
            m.forEach((k, a) -> t.put(k, new Checkpoint.Tensor(a.getShape().getShape(), a.toFloatArray())));
        }
        if (layerQuantizer != null) {
            t.put(KEY_WIDTHS, Checkpoint.Tensor.of(layerWidths()));
        }
        optim.state().forEach((k, v) -> t.put(k, Checkpoint.Tensor.of(v)));
        if (adaqat != null) {
            for (AdaQat.Variable v : adaqat.variables()) {
                t.put("adaqat." + v.name(), Checkpoint.Tensor.of(adaqat.state(v)));
            }
        }
        Map<String, String> meta = new LinkedHashMap<>();
        meta.put(KEY_CONFIG, config.toJson());
        meta.put(KEY_EPOCH, Integer.toString(epochsDone));
        meta.put(KEY_STEP, Integer.toString(stepInEpoch));
        meta.put(KEY_OPT_STEPS, Long.toString(optim.steps()));
        meta.put(KEY_RUNNING, Json.write(List.of(runLoss, runCorrect, runSeen)));
        List<Object> h = new ArrayList<>();
        for (Epoch e : history) {
            h.add(e.toMap());
        }
        meta.put(KEY_HISTORY, Json.write(h));
        if (!init.isEmpty()) {
            meta.put(KEY_INIT, init);
        }
        meta.put("training.quantizer", quantizer.describe());
        Checkpoint.write(path, t, meta);
    }

    // ------------------------------------------------------------------ data

    static FashionMnist.Split subset(FashionMnist.Split s, int n) {
        if (n == 0 || n >= s.size()) {
            return s;
        }
        return new FashionMnist.Split(java.util.Arrays.copyOf(s.images(), n * FashionMnist.PIXELS),
                java.util.Arrays.copyOf(s.labels(), n), n);
    }

    /** The order of epoch {@code epoch}: a Fisher–Yates shuffle seeded by the run's seed and the epoch. */
    static int[] order(long seed, int epoch, int n) {
        int[] idx = new int[n];
        for (int i = 0; i < n; i++) {
            idx[i] = i;
        }
        Random r = new Random(seed * 0x9E3779B97F4A7C15L + epoch);
        for (int i = n - 1; i > 0; i--) {
            int j = r.nextInt(i + 1);
            int t = idx[i];
            idx[i] = idx[j];
            idx[j] = t;
        }
        return idx;
    }

    /** The images {@code idx[from, from+n)}, shifted and flipped when {@code rnd} is given. */
    static float[] batch(FashionMnist.Split s, int[] idx, int from, int n, Random rnd) {
        int p = FashionMnist.PIXELS;
        int side = FashionMnist.ROWS;
        float[] out = new float[n * p];
        for (int b = 0; b < n; b++) {
            int src = idx[from + b] * p;
            if (rnd == null) {
                System.arraycopy(s.images(), src, out, b * p, p);
                continue;
            }
            int dy = rnd.nextInt(5) - 2;
            int dx = rnd.nextInt(5) - 2;
            boolean flip = rnd.nextBoolean();
            for (int y = 0; y < side; y++) {
                int sy = y + dy;
                if (sy < 0 || sy >= side) {
                    continue;
                }
                for (int x = 0; x < side; x++) {
                    int sx = (flip ? side - 1 - x : x) + dx;
                    if (sx >= 0 && sx < side) {
                        out[b * p + y * side + x] = s.images()[src + sy * side + sx];
                    }
                }
            }
        }
        return out;
    }

    static int[] labels(FashionMnist.Split s, int[] idx, int from, int n) {
        int[] out = new int[n];
        for (int b = 0; b < n; b++) {
            out[b] = s.labels()[idx[from + b]];
        }
        return out;
    }

    static NDArray crossEntropy(NDArray logits, NDArray labels) {
        NDArray logp = logits.logSoftmax(1);
        return logp.mul(labels.oneHot(FashionMnist.CLASSES)).sum(new int[] {1}).neg().mean();
    }

    // ------------------------------------------------------------------ the loop

    /**
     * Trains the remaining epochs, writing checkpoints to {@code out} (none when null), and returns the history.
     */
    public List<Epoch> run(Path out, Progress progress) throws IOException {
        FashionMnist.Split train = subset(FashionMnist.train(), config.trainImages());
        FashionMnist.Split test = subset(FashionMnist.test(), config.testImages());
        int n = train.size();
        int steps = (n + config.batch() - 1) / config.batch();
        if (n % config.batch() == 1) {
            steps--; // a last batch of one image cannot take batch statistics: it is dropped
        }
        long totalSteps = (long) steps * config.epochs();
        if (epochsDone > 0 || stepInEpoch > 0) {
            progress.line(String.format(Locale.ROOT, "resuming %s at epoch %d, step %d of %d", out, epochsDone + 1,
                    stepInEpoch, steps));
        }
        long lastSave = System.nanoTime();
        int stepsThisCall = 0;
        while (epochsDone < config.epochs()) {
            int epoch = epochsDone;
            int[] idx = order(config.seed(), epoch, n);
            long t0 = System.nanoTime();
            long seenThisRun = 0;
            for (int s = stepInEpoch; s < steps; s++) {
                int from = s * config.batch();
                int b = Math.min(config.batch(), n - from);
                Random rnd = config.augment() ? new Random(config.seed() * 1_000_003L + (long) epoch * 100_003L + s) : null;
                float[] images = batch(train, idx, from, b, rnd);
                int[] lab = labels(train, idx, from, b);
                float lr = Optim.cosine(config.lr(), (long) epoch * steps + s, totalSteps);
                long correct;
                double loss;
                try {
                    long[] r = step(images, lab, lr);
                    loss = Double.longBitsToDouble(r[0]);
                    correct = r[1];
                } catch (IllegalStateException e) {
                    throw new IllegalStateException(String.format(Locale.ROOT, "epoch %d step %d: %s", epoch + 1, s,
                            e.getMessage()), e);
                }
                runLoss += loss * b;
                runCorrect += correct;
                runSeen += b;
                seenThisRun += b;
                stepInEpoch = s + 1;
                double secs = (System.nanoTime() - t0) / 1e9;
                progress.step(epoch + 1, config.epochs(), s + 1, steps, runLoss / runSeen, (double) runCorrect / runSeen,
                        seenThisRun / Math.max(secs, 1e-9));
                boolean due = checkpointSteps > 0 ? stepInEpoch % checkpointSteps == 0
                        : (System.nanoTime() - lastSave) / 60e9 >= CHECKPOINT_MINUTES;
                if (out != null && due && s + 1 < steps) {
                    save(out);
                    lastSave = System.nanoTime();
                }
                if (++stepsThisCall == stopAfterSteps) {
                    throw new java.io.InterruptedIOException("stopped after " + stepsThisCall + " steps");
                }
            }
            double secs = (System.nanoTime() - t0) / 1e9;
            List<String> frozen = adaqat == null ? List.of() : adaqat.endEpoch();
            double acc = accuracy(test);
            Epoch e = new Epoch(epoch + 1, runLoss / Math.max(1, runSeen), (double) runCorrect / Math.max(1, runSeen),
                    acc, seenThisRun / Math.max(secs, 1e-9), net.bitops(quantizer), widths(), relaxed());
            history.add(e);
            epochsDone = epoch + 1;
            stepInEpoch = 0;
            runLoss = 0;
            runCorrect = 0;
            runSeen = 0;
            progress.line(String.format(Locale.ROOT, "epoch %d/%d: train loss %.4f, train %.2f%%, test %.2f%%, %.0f img/s, "
                            + "BitOPs %.3g (1/%.1f of fp32)%s", e.epoch(), config.epochs(), e.trainLoss(),
                    100 * e.trainAccuracy(), 100 * acc, e.imagesPerSecond(), e.bitops(), net.fp32Bitops() / e.bitops(),
                    adaqat == null ? "" : ", " + adaqat.summary()));
            for (String f : frozen) {
                progress.line("  " + f);
            }
            if (out != null) {
                save(out);
                lastSave = System.nanoTime();
            }
        }
        return history();
    }

    private float[] layerWidths() {
        List<Layer> layers = net.layers();
        float[] w = new float[2 * layers.size()];
        for (Layer l : layers) {
            w[2 * l.index()] = quantizer.weightBits(l);
            w[2 * l.index() + 1] = quantizer.inputBits(l);
        }
        return w;
    }

    /** AdaQAT's relaxed widths by variable, or an empty map. */
    public Map<String, Double> relaxed() {
        Map<String, Double> r = new LinkedHashMap<>();
        if (adaqat != null) {
            for (AdaQat.Variable v : adaqat.variables()) {
                r.put(v.name(), v.value());
            }
        }
        return r;
    }

    /**
     * One training step on a batch: the forward and backward pass, AdaQAT's bit-width step (while any width still
     * learns), the optimizer at learning rate {@code lr}. Returns the loss (as {@code Double} bits) and the number of
     * images the network got right before the step.
     *
     * @throws IllegalStateException if the loss is not finite
     */
    public long[] step(float[] images, int[] labels, float lr) {
        Djl.onThisThread();
        int b = labels.length;
        try (NDManager sm = manager.newSubManager()) {
            NDArray x = sm.create(images, new Shape(b, 1, FashionMnist.ROWS, FashionMnist.COLS));
            NDArray y = sm.create(labels);
            net.attach(sm);
            if (layerQuantizer != null && !layerQuantizer.initialized()) {
                layerQuantizer.initialize(net, x);
            }
            for (NDArray a : quantizer.parameters().values()) {
                a.tempAttach(sm);
            }
            NDArray logits;
            double loss;
            try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                logits = net.forward(x, Mode.TRAIN, quantizer);
                NDArray l = crossEntropy(logits, y);
                gc.backward(l);
                loss = l.getFloat();
            }
            if (!Double.isFinite(loss)) {
                throw new IllegalStateException("the loss is " + loss + ": lower the learning rate (" + config.lr() + ")");
            }
            long correct = logits.argMax(1).toType(ai.djl.ndarray.types.DataType.INT32, false)
                    .eq(y.toType(ai.djl.ndarray.types.DataType.INT32, false)).sum().getLong();
            if (adaqat != null && !adaqat.done()) {
                adaqat.step(loss, q -> probe(sm, x, y, q));
            }
            optim.step(trainable(), lr);
            return new long[] {Double.doubleToLongBits(loss), correct};
        }
    }

    /**
     * The task loss of one extra forward pass at {@code q}'s widths, on a manager of its own, so that each pass's
     * activations are freed before the next (a per-layer AdaQAT step makes one pass per width).
     */
    private double probe(NDManager step, NDArray x, NDArray y, Quantizer q) {
        try (NDManager pm = step.newSubManager()) {
            x.tempAttach(pm);
            y.tempAttach(pm);
            return crossEntropy(net.forward(x, Mode.PROBE, q), y).getFloat();
        }
    }

    /** The widths by layer, {@code W/A} each, or {@code fp32}. */
    public String widths() {
        if (layerQuantizer == null) {
            return "fp32";
        }
        StringBuilder b = new StringBuilder();
        for (Layer l : net.layers()) {
            if (!b.isEmpty()) {
                b.append(' ');
            }
            b.append(quantizer.weightBits(l)).append('/').append(quantizer.inputBits(l));
        }
        return b.toString();
    }

    /** Top-1 accuracy on {@code split} (running statistics). */
    public double accuracy(FashionMnist.Split split) {
        float[][] logits = logits(split, 0, split.size());
        long correct = 0;
        for (int i = 0; i < logits.length; i++) {
            int best = 0;
            for (int c = 1; c < logits[i].length; c++) {
                if (logits[i][c] > logits[i][best]) {
                    best = c;
                }
            }
            correct += best == split.label(i) ? 1 : 0;
        }
        return split.size() == 0 ? 0 : (double) correct / split.size();
    }

    /** The logits of images {@code [from, from+n)} of {@code split}, in evaluation mode, in batches of 500. */
    public float[][] logits(FashionMnist.Split split, int from, int n) {
        Djl.onThisThread();
        float[][] out = new float[n][];
        int chunk = 500;
        for (int i = 0; i < n; i += chunk) {
            int b = Math.min(chunk, n - i);
            float[] images = java.util.Arrays.copyOfRange(split.images(), (from + i) * FashionMnist.PIXELS,
                    (from + i + b) * FashionMnist.PIXELS);
            try (NDManager sm = manager.newSubManager()) {
                net.attach(sm);
                for (NDArray a : quantizer.parameters().values()) {
                    a.tempAttach(sm);
                }
                NDArray x = sm.create(images, new Shape(b, 1, FashionMnist.ROWS, FashionMnist.COLS));
                float[] l = net.forward(x, Mode.EVAL, quantizer).toFloatArray();
                for (int j = 0; j < b; j++) {
                    out[i + j] = java.util.Arrays.copyOfRange(l, j * FashionMnist.CLASSES, (j + 1) * FashionMnist.CLASSES);
                }
            }
        }
        return out;
    }

    /** Resumes from {@code out} if it holds a checkpoint, else starts fresh (from {@code init} when given). */
    public static Trainer openOrResume(Config config, Path out, Path init) throws IOException {
        Trainer t = new Trainer(config);
        try {
            if (out != null && Files.exists(out)) {
                t.restore(Checkpoint.read(out), out);
            } else if (init != null) {
                t.initializeFrom(init);
            }
            return t;
        } catch (IOException | RuntimeException e) {
            t.close();
            throw e;
        }
    }

    @Override
    public void close() {
        manager.close();
    }
}
