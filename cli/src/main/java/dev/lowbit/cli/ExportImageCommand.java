package dev.lowbit.cli;

import dev.lowbit.training.IntegerExport;
import dev.lowbit.training.Trainer;
import picocli.CommandLine.Option;

import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * {@code lowbit export-image --run CHECKPOINT --out FILE}: a trained image network's integer form
 * ({@link IntegerExport}), for {@code lowbit eval-image}.
 */
@picocli.CommandLine.Command(name = "export-image",
        description = {"write a trained image network's integer form, for eval-image",
                "",
                "Reads a training checkpoint (ResNet-20 or the MLP, trained with lsq, dorefa-pact or adaqat) and writes "
                        + "one .safetensors file: each layer's weight codes at its learned width as a lowbit quantized "
                        + "tensor (2, 3, 4 and 8 bits in their own format, 5 to 7 in the 8-bit one), the folded batch "
                        + "norms and biases, and the widths and input scales in its metadata. An fp32 run has no integer "
                        + "form and is refused.",
                ""})
final class ExportImageCommand extends Command {
    @Option(names = "--run", paramLabel = "CHECKPOINT", required = true, description = "a training checkpoint")
    String run;

    @Option(names = "--out", paramLabel = "FILE", required = true, description = "the .safetensors file to write")
    String outOption;

    @Option(names = "--force", description = "replace --out when it exists")
    boolean force;

    @Override
    int run(PrintStream out, PrintStream err) throws Exception {
        Path checkpoint = Path.of(run);
        Path file = Path.of(outOption);
        ModelFile.require(file, "--out", ModelFile.SAFETENSORS);
        if (!Files.isRegularFile(checkpoint)) {
            throw new IllegalArgumentException(checkpoint + ": no such file");
        }
        OutputFile target = OutputFile.check(file, force, List.of(checkpoint));
        try (Trainer t = Trainer.load(checkpoint)) {
            IntegerExport.write(t, target.target());
            out.println(file + ": " + t.config().model() + ", " + t.config().method() + ", widths W/A " + t.widths()
                    + ", " + Files.size(target.target()) + " bytes");
        }
        return 0;
    }
}
