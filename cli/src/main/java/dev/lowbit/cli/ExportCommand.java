package dev.lowbit.cli;

import dev.lowbit.models.BuiltinModels;
import dev.lowbit.models.DenseTensor;
import dev.lowbit.models.OnnxModel;
import dev.lowbit.models.Safetensors;
import picocli.CommandLine.Option;

import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * {@code lowbit export --model minilm --out FILE}: the built-in all-MiniLM-L6-v2 as a file, so that the other
 * commands can be tried on it: the ONNX file as it is, or its initializers as safetensors.
 */
@picocli.CommandLine.Command(name = "export",
        description = {"write the built-in all-MiniLM-L6-v2 to an .onnx or .safetensors file",
                "",
                "Writes the all-MiniLM-L6-v2 that the lowbit jar carries: as .onnx, the model file byte for byte; as "
                        + ".safetensors, its float initializers as dense tensors under their ONNX names and shapes "
                        + "(the MatMul weights stay [in, out], as ONNX stores them).",
                ""})
final class ExportCommand extends Command {
    @Option(names = "--model", paramLabel = "M", required = true, description = BuiltinModel.MINILM_HELP)
    String model;

    @Option(names = "--out", paramLabel = "FILE", required = true, description = ".onnx or .safetensors")
    String outOption;

    @Option(names = "--force", description = "replace --out when it exists")
    boolean force;

    @Override
    int run(PrintStream out, PrintStream err) throws Exception {
        if (!BuiltinModel.isMiniLm(model)) {
            throw new UsageException("--model must be " + BuiltinModel.MINILM_HELP + ", got '" + model + "'");
        }
        Path file = Path.of(outOption);
        ModelFile type = ModelFile.require(file, "--out", ModelFile.ONNX, ModelFile.SAFETENSORS);
        Path parent = file.toAbsolutePath().getParent();
        if (parent != null && !Files.isDirectory(parent)) {
            throw new IllegalArgumentException("the folder of --out does not exist: " + parent);
        }
        if (Files.exists(file) && !force) {
            throw new IllegalArgumentException(file + " exists; add --force to replace it");
        }
        if (type == ModelFile.ONNX) {
            // Written beside the target and moved over it, so that a failure leaves no half-written --out.
            Path tmp = Files.createTempFile(parent, file.getFileName().toString(), ".part");
            try {
                Files.write(tmp, BuiltinModels.miniLmOnnx());
                Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            } finally {
                Files.deleteIfExists(tmp);
            }
            out.println(file + ": all-MiniLM-L6-v2, ONNX, " + Files.size(file) + " bytes");
        } else {
            OnnxModel m = BuiltinModels.miniLm();
            Map<String, String> metadata = new LinkedHashMap<>();
            metadata.put("source", BuiltinModels.MINILM_RESOURCE + " (" + BuiltinModels.MINILM_ARTIFACT + ")");
            metadata.put("exported_by", "lowbit export --model " + BuiltinModel.MINILM);
            metadata.put("layout", "the ONNX initializers as stored: MatMul weights are [in, out]");
            Safetensors.write(file, new LinkedHashMap<String, DenseTensor>(m.initializers()), Map.of(), metadata);
            long values = m.initializers().values().stream().mapToLong(DenseTensor::elements).sum();
            out.println(file + ": all-MiniLM-L6-v2, " + m.initializers().size() + " tensors, " + Units.count(values)
                    + " values, safetensors, " + Files.size(file) + " bytes"
                    + (m.unsupported().isEmpty() ? "" : "; not exported (not float): "
                    + String.join(", ", m.unsupported().keySet())));
        }
        return 0;
    }
}
