package dev.lowbit.training;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import dev.lowbit.format.QuantizedTensor;
import dev.lowbit.format.Reference;
import dev.lowbit.format.io.CorruptFileException;
import dev.lowbit.format.io.Json;
import dev.lowbit.models.Safetensors;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.lang.foreign.Arena;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** The export file: codes at every width, the widths it records, and refusals of damaged files and fp32 runs. */
class IntegerExportTest {
    @BeforeAll
    static void dataset() {
        assumeTrue(FashionMnist.available(), "Fashion-MNIST is not in " + FashionMnist.dir()
                + " (apt-get install dataset-fashion-mnist)");
        Djl.threads(1);
    }

    @Test
    void inferenceBuildsTheNetworksLayers() throws Exception {
        try (NDManager m = Djl.newManager()) {
            for (String kind : Network.KINDS) {
                assertEquals(Network.create(kind, m, 1).layers(), IntegerNetwork.layersOf(null, kind), kind);
            }
        }
    }

    /** Every weight width 2..8 over the layers of a ResNet-20 trained for two steps: the file's codes are training's. */
    @ParameterizedTest
    @ValueSource(strings = {"lsq", "dorefa-pact"})
    void everyWidthRoundtripsItsCodes(String method, @TempDir Path dir) throws Exception {
        int[] w = IntegerNetworkTest.widths("2 3 4 5 6 7 8", 20);
        int[] a = IntegerNetworkTest.widths("5 8 2 3 4 6 7", 20);
        try (Trainer t = IntegerNetworkTest.train("resnet20", method, w, a, 64, 32, 1)) {
            Path file = dir.resolve("net.safetensors");
            IntegerExport.write(t, file);
            LayerQuantizer q = (LayerQuantizer) t.quantizer();
            Network net = t.network();
            try (Arena arena = Arena.ofConfined(); NDManager sm = Djl.newManager()) {
                Safetensors.Contents c = Safetensors.read(file, arena);
                assertEquals(t.widths(), c.metadata().get(IntegerExport.KEY_WIDTHS));
                assertEquals(method, c.metadata().get(IntegerExport.KEY_METHOD));
                assertEquals("resnet20", c.metadata().get(IntegerExport.KEY_MODEL));
                List<?> layers = (List<?>) Json.parse(c.metadata().get(IntegerExport.KEY_LAYERS));
                for (Layer l : net.layers()) {
                    int bits = w[l.index()];
                    Map<?, ?> m = (Map<?, ?>) layers.get(l.index());
                    assertEquals((long) bits, m.get("weight_bits"), l.name());
                    assertEquals((long) (l.index() == 0 ? 8 : a[l.index()]), m.get("input_bits"), l.name());
                    int stored = bits <= 4 ? bits : 8;
                    assertEquals((long) stored, m.get("stored_bits"), l.name());
                    QuantizedTensor qt = c.quantized().get(l.weight());
                    assertEquals(stored, qt.format().bits(), l.name());
                    assertEquals(method.equals("lsq"), qt.format().symmetric(), l.name());
                    // What the fake-quant forward pass multiplies by.
                    NDArray wp = net.parameters().get(l.weight()).duplicate();
                    wp.attach(sm);
                    float[] fake = q.weight(l, wp).toFloatArray();
                    Reference.Unpacked u = Reference.unpack(qt);
                    int n = (1 << bits) - 1;
                    float s = method.equals("lsq") ? q.parameters().get(LayerQuantizer.stepW(l)).getFloat() : 0f;
                    // DoReFa's weights are (2·i/n − 1)·m, m = max|tanh(w)| (FakeQuant.dorefaScale)
                    float scale = method.equals("lsq") ? 1f : FakeQuant.dorefaScale(wp).getFloat();
                    for (int i = 0; i < fake.length; i++) {
                        int want = method.equals("lsq") ? Math.round(fake[i] / s) + (1 << (stored - 1))
                                : Math.round((fake[i] / scale + 1f) / 2f * n);
                        assertEquals(want, u.codes()[i], l.name() + " code " + i + " at " + bits + " bits");
                        float back = Reference.dequantize(qt, i / l.cols(), i % l.cols());
                        // LSQ: q·s both ways; DoReFa: the exact grid against (2·(i/n) − 1)·m in fp32
                        assertEquals(fake[i], back, method.equals("lsq") ? 0f : 2.5e-7f * scale, l.name() + " value " + i);
                    }
                    if (bits >= 5 && bits <= 7) {
                        // stored in 8 bits, the codes keep their own range
                        int lo = Arrays.stream(u.codes()).min().orElseThrow();
                        int hi = Arrays.stream(u.codes()).max().orElseThrow();
                        int base = method.equals("lsq") ? 128 - (1 << (bits - 1)) : 0;
                        assertTrue(lo >= base && hi <= base + n, l.name() + ": codes " + lo + ".." + hi);
                    }
                }
            }
            try (IntegerNetwork loaded = IntegerNetwork.load(file, 1)) {
                for (Layer l : loaded.layers()) {
                    int bits = w[l.index()];
                    assertEquals(bits, loaded.weightBits(l.index()));
                    assertEquals(l.index() == 0 ? 8 : a[l.index()], loaded.inputBits(l.index()));
                    assertEquals(bits <= 4 ? 4 : 8, loaded.kernelBits(l.index()));
                }
            }
        }
    }

    @Test
    void damagedFilesAreRefused(@TempDir Path dir) throws Exception {
        // the configuration's own widths (uniform: both layers of the MLP at W8A8), which a checkpoint restores
        try (Trainer t = IntegerNetworkTest.train("mlp", "lsq", new int[] {8, 8}, new int[] {8, 8}, 100, 50, 1)) {
            Path good = dir.resolve("good.safetensors");
            IntegerExport.write(t, good);
            byte[] bytes = Files.readAllBytes(good);
            IntegerNetwork.load(good, 1).close();

            Path cut = dir.resolve("cut.safetensors");
            Files.write(cut, Arrays.copyOf(bytes, bytes.length - 100));
            CorruptFileException e = assertThrows(CorruptFileException.class, () -> IntegerNetwork.load(cut, 1));
            assertTrue(e.getMessage().contains("truncated"), e.getMessage());

            // the last bytes: the last layer's quantized planes, which the container checks
            Path tail = dir.resolve("tail.safetensors");
            byte[] b = bytes.clone();
            b[b.length - 3] ^= 0x10;
            Files.write(tail, b);
            assertThrows(CorruptFileException.class, () -> IntegerNetwork.load(tail, 1));

            // the first tensor after the header: an F32 bias, which the export's checksums cover
            Path dense = dir.resolve("dense.safetensors");
            b = bytes.clone();
            long header = ByteBuffer.wrap(b, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
            b[(int) (8 + header + 2)] ^= 0x10;
            Files.write(dense, b);
            e = assertThrows(CorruptFileException.class, () -> IntegerNetwork.load(dense, 1));
            assertTrue(e.getMessage().contains("checksum"), e.getMessage());

            Path checkpoint = dir.resolve("checkpoint.safetensors");
            t.save(checkpoint);
            // a checkpoint loaded back exports the same file
            try (Trainer back = Trainer.load(checkpoint)) {
                Path again = dir.resolve("again.safetensors");
                IntegerExport.write(back, again);
                assertArrayEquals(bytes, Files.readAllBytes(again));
            }
            e = assertThrows(CorruptFileException.class, () -> IntegerNetwork.load(checkpoint, 1));
            assertTrue(e.getMessage().contains("not an integer network export"), e.getMessage());
        }
    }

    @Test
    void fp32AndUntrainedRunsAreRefused(@TempDir Path dir) throws Exception {
        Trainer.Config fp32 = new Trainer.Config("mlp", "fp32", 4, 4, Optim.Kind.ADAM, 1e-3f, 0f, 1, 50, 1, 100, 20,
                false, null);
        try (Trainer t = new Trainer(fp32)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> IntegerExport.write(t, dir.resolve("x.safetensors")));
            assertEquals("an fp32 run has no integer form: train with lsq, dorefa-pact or adaqat to deploy a network"
                    + " integer-only", e.getMessage());
        }
        Trainer.Config lsq = new Trainer.Config("mlp", "lsq", 4, 4, Optim.Kind.ADAM, 1e-3f, 0f, 1, 50, 1, 100, 20,
                false, null);
        try (Trainer t = new Trainer(lsq)) {
            assertThrows(IllegalStateException.class, () -> IntegerExport.write(t, dir.resolve("y.safetensors")));
        }
        assertTrue(Files.notExists(dir.resolve("x.safetensors")) && Files.notExists(dir.resolve("y.safetensors")));
    }

    @Test
    void imagesBecomeTheirBytes() {
        float[] x = {0f, 1f / 255f, 128 / 255f, 1f};
        assertEquals(List.of((byte) 0, (byte) 1, (byte) 128, (byte) 255), toList(IntegerNetwork.toBytes(x)));
        assertThrows(IllegalArgumentException.class, () -> IntegerNetwork.toBytes(new float[] {0.5f}));
    }

    private static List<Byte> toList(byte[] b) {
        Byte[] out = new Byte[b.length];
        for (int i = 0; i < b.length; i++) {
            out[i] = b[i];
        }
        return List.of(out);
    }
}
