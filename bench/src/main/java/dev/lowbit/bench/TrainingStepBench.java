package dev.lowbit.bench;

import dev.lowbit.training.AdaQat;
import dev.lowbit.training.Djl;
import dev.lowbit.training.FashionMnist;
import dev.lowbit.training.Optim;
import dev.lowbit.training.Trainer;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

import java.util.Arrays;
import java.util.concurrent.TimeUnit;

/**
 * One training step of ResNet-20 on a batch of {@code batch} real Fashion-MNIST training images (forward,
 * backward, optimizer; AdaQAT's extra passes too), on DJL's PyTorch engine with {@code threads} threads, for fp32
 * and each fake-quant method at W4A4 (AdaQAT starts at 8 bits, as it trains). Scores are milliseconds per step;
 * images per second are {@code batch / score}. Each fork is a fresh JVM, so the engine's thread count is set before
 * it starts; all engine work runs on one thread ({@link EngineThread}), as training does.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
        "-Dai.djl.offline=true", "-Xmx4g"})
@Warmup(iterations = 2, time = 5)
@Measurement(iterations = 3, time = 10)
public class TrainingStepBench {
    @Param({"fp32", "lsq", "dorefa-pact", "adaqat"})
    public String method;

    @Param({"1", "2"})
    public int threads;

    @Param({"128"})
    public int batch;

    private EngineThread engine;
    private Trainer trainer;
    private float[] images;
    private int[] labels;

    @Setup(Level.Trial)
    public void setup() {
        Djl.threads(threads);
        FashionMnist.Split train = FashionMnist.train();
        images = Arrays.copyOf(train.images(), batch * FashionMnist.PIXELS);
        labels = new int[batch];
        for (int i = 0; i < batch; i++) {
            labels[i] = train.label(i);
        }
        engine = new EngineThread();
        trainer = engine.call(() -> new Trainer(new Trainer.Config("resnet20", method, 4, 4, Optim.Kind.SGD, 1e-3f, 5e-4f,
                1, batch, 1, 0, 0, false, method.equals("adaqat") ? AdaQat.Config.defaults(2f) : null)));
        engine.call(() -> trainer.step(images, labels, 1e-3f)); // the quantizers' first-batch initialization
    }

    @Benchmark
    public long step() {
        return engine.call(() -> trainer.step(images, labels, 1e-3f))[1];
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        engine.call(() -> {
            trainer.close();
            return null;
        });
        engine.close();
    }
}
