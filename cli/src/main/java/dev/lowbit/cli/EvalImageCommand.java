package dev.lowbit.cli;

import dev.lowbit.training.FashionMnist;
import dev.lowbit.training.IntegerNetwork;
import picocli.CommandLine.Option;

import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * {@code lowbit eval-image --model FILE}: an image network exported by {@code lowbit export-image}, run integer-only
 * on lowbit's kernels over the Fashion-MNIST test set: its accuracy and images per second.
 */
@picocli.CommandLine.Command(name = "eval-image",
        description = {"run an exported image network integer-only on the Fashion-MNIST test set",
                "",
                "Loads a network that 'lowbit export-image' wrote (ResNet-20 or the MLP, trained with lsq, dorefa-pact "
                        + "or adaqat) and classifies the Fashion-MNIST test images with lowbit's integer GEMM: "
                        + "int8 input codes times the layers' 2- to 8-bit weight codes. Prints the top-1 accuracy and "
                        + "the images per second, and beside them the fake-quant accuracy that training measured on "
                        + "the same images, which the file records. The test set is read from /usr/share/datasets/fashion-mnist (Debian's "
                        + "dataset-fashion-mnist), or from the folder that -Dlowbit.fashionMnist.dir names.",
                ""})
final class EvalImageCommand extends Command {
    @Option(names = "--model", paramLabel = "FILE", required = true, description = "a .safetensors file written by lowbit export-image")
    String model;

    @Option(names = "--threads", paramLabel = "N", description = "threads (default 1)")
    String threadsOption;

    @Option(names = "--images", paramLabel = "N", description = "the first N test images (default all 10000)")
    String imagesOption;

    @Override
    int run(PrintStream out, PrintStream err) throws Exception {
        int threads = Options.intValue("threads", threadsOption, 1, 1, 256);
        int images = Options.intValue("images", imagesOption, FashionMnist.TEST_SIZE, 1, FashionMnist.TEST_SIZE);
        Path file = Path.of(model);
        ModelFile.require(file, "--model", ModelFile.SAFETENSORS);
        if (!Files.isRegularFile(file)) {
            throw new IllegalArgumentException(file + ": no such file");
        }
        FashionMnist.Split all = FashionMnist.test();
        byte[] bytes = IntegerNetwork.toBytes(Arrays.copyOf(all.images(), images * FashionMnist.PIXELS));
        try (IntegerNetwork net = IntegerNetwork.load(file, threads)) {
            err.println(net.model() + ", " + net.method().label + " (trained with " + net.trainingMethod() + "), widths W/A "
                    + net.widths());
            Progress progress = new Progress(err, "eval-image " + images + " images", images);
            long t0 = System.nanoTime();
            int[] done = {0};
            float[][] logits = net.logits(bytes, images, n -> {
                progress.add(n - done[0]);
                done[0] = n;
            });
            double seconds = (System.nanoTime() - t0) / 1e9;
            progress.finish(null);
            long correct = 0;
            for (int i = 0; i < images; i++) {
                correct += IntegerNetwork.argmax(logits[i]) == all.label(i) ? 1 : 0;
            }
            double accuracy = (double) correct / images;
            out.println(Units.f("%s: accuracy %.2f%% (%d of %d test images), %.0f images/s on %d thread%s, integer-only",
                    file, 100.0 * accuracy, correct, images, images / Math.max(seconds, 1e-9), threads,
                    threads == 1 ? "" : "s"));
            net.trained().filter(t -> t.images() == images).ifPresent(t -> out.println(Units.f(
                    "fake-quant in training (epoch %d): %.2f%%; integer-only %+.2f points", t.epoch(),
                    100.0 * t.accuracy(), 100.0 * (accuracy - t.accuracy()))));
        }
        return 0;
    }
}
