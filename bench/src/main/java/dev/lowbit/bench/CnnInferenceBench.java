package dev.lowbit.bench;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.lowbit.training.Djl;
import dev.lowbit.training.FashionMnist;
import dev.lowbit.training.IntegerExport;
import dev.lowbit.training.IntegerNetwork;
import dev.lowbit.training.Optim;
import dev.lowbit.training.Progress;
import dev.lowbit.training.Quantizer;
import dev.lowbit.training.Trainer;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.concurrent.TimeUnit;

/**
 * Image classification throughput of one ResNet-20, batches of {@value #BATCH} Fashion-MNIST test images: lowbit's
 * integer-only inference ({@link IntegerNetwork}, the network's learned widths on the integer GEMM) beside DJL's
 * PyTorch engine running the same network in fp32 ({@code Network.forward} with {@link Quantizer#FP32}, evaluation
 * mode), on 1 and 2 threads. libtorch reads its thread count once, when the engine starts, so each thread count
 * runs in its own fork ({@code -Dai.djl.pytorch.num_threads}), and the integer network takes the same count.
 * Scores are images per second.
 *
 * <p>{@code checkpoint}: a training checkpoint of a ResNet-20 trained with lsq, dorefa-pact or adaqat; empty (the
 * default) trains a small one in the set-up (LSQ W4A4, 64 images, a few seconds), which is enough for speed.
 * Example: {@code -p checkpoint=runs/resnet20-lsq-w4a4.safetensors}.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
public class CnnInferenceBench {
    static final int BATCH = 100;
    @Param({""})
    public String checkpoint;

    private final EngineThread engine = new EngineThread();
    private Trainer trainer;
    private IntegerNetwork network;
    private Path exported;
    private byte[] bytes;
    private float[] floats;
    private NDManager root;

    @Setup(Level.Trial)
    public void setup() throws Exception {
        int threads = Integer.getInteger(Djl.THREADS_PROPERTY, 1);
        Djl.threads(threads);
        exported = Files.createTempFile("lowbit-cnn-bench", ".safetensors");
        trainer = engine.call(() -> {
            Trainer t;
            if (checkpoint.isEmpty()) {
                t = new Trainer(new Trainer.Config("resnet20", "lsq", 4, 4, Optim.Kind.ADAM, 2e-3f, 0f, 1, 32, 1, 64,
                        20, false, null));
                t.run(null, Progress.silent());
            } else {
                t = Trainer.load(Path.of(checkpoint));
            }
            if (!t.config().model().equals("resnet20")) {
                throw new IllegalArgumentException(checkpoint + " holds a " + t.config().model() + ", not a resnet20");
            }
            IntegerExport.write(t, exported);
            return t;
        });
        network = IntegerNetwork.load(exported, threads);
        FashionMnist.Split test = FashionMnist.test();
        floats = Arrays.copyOf(test.images(), BATCH * FashionMnist.PIXELS);
        bytes = IntegerNetwork.toBytes(floats);
        root = trainer.network().parameters().values().iterator().next().getManager();
        // Both sides classify the batch alike, or one of them is not the network.
        float[][] a = network.logits(bytes, BATCH);
        float[] b = fp32();
        int agree = 0;
        for (int i = 0; i < BATCH; i++) {
            agree += IntegerNetwork.argmax(a[i]) == IntegerNetwork.argmax(
                    Arrays.copyOfRange(b, i * FashionMnist.CLASSES, (i + 1) * FashionMnist.CLASSES)) ? 1 : 0;
        }
        System.out.println("# " + network + " on " + threads + " thread" + (threads == 1 ? "" : "s")
                + "; integer and fp32 agree on " + agree + " of " + BATCH + " images");
    }

    @TearDown(Level.Trial)
    public void tearDown() throws Exception {
        network.close();
        engine.call(() -> {
            trainer.close();
            return null;
        });
        engine.close();
        Files.deleteIfExists(exported);
    }

    /** The fp32 forward pass on the engine's own thread, autograd off ({@link EngineThread}). */
    private float[] fp32() {
        return engine.call(() -> {
            try (NDManager sm = root.newSubManager()) {
                trainer.network().attach(sm);
                NDArray x = sm.create(floats, new Shape(BATCH, 1, FashionMnist.ROWS, FashionMnist.COLS));
                return trainer.network().forward(x, dev.lowbit.training.Mode.EVAL, Quantizer.FP32).toFloatArray();
            }
        });
    }

    @Benchmark
    @OperationsPerInvocation(BATCH)
    @Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
            "-Xms2g", "-Xmx2g", "-Dai.djl.offline=true",
            "-Dai.djl.pytorch.num_threads=1", "-Dai.djl.pytorch.num_interop_threads=1"})
    public float[][] integer1Thread() {
        return network.logits(bytes, BATCH);
    }

    @Benchmark
    @OperationsPerInvocation(BATCH)
    @Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
            "-Xms2g", "-Xmx2g", "-Dai.djl.offline=true",
            "-Dai.djl.pytorch.num_threads=2", "-Dai.djl.pytorch.num_interop_threads=1"})
    public float[][] integer2Threads() {
        return network.logits(bytes, BATCH);
    }

    @Benchmark
    @OperationsPerInvocation(BATCH)
    @Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
            "-Xms2g", "-Xmx2g", "-Dai.djl.offline=true",
            "-Dai.djl.pytorch.num_threads=1", "-Dai.djl.pytorch.num_interop_threads=1"})
    public float[] djlFp32_1Thread() {
        return fp32();
    }

    @Benchmark
    @OperationsPerInvocation(BATCH)
    @Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
            "-Xms2g", "-Xmx2g", "-Dai.djl.offline=true",
            "-Dai.djl.pytorch.num_threads=2", "-Dai.djl.pytorch.num_interop_threads=1"})
    public float[] djlFp32_2Threads() {
        return fp32();
    }
}
