package dev.lowbit.models;

import com.google.protobuf.ByteString;
import com.google.protobuf.CodedOutputStream;
import dev.lowbit.format.io.CorruptFileException;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;
import java.util.function.Consumer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class OnnxReaderTest {
    private static final Path SRC = Path.of("test.onnx");

    /** Writes protobuf messages by hand, field by field. */
    private static byte[] message(Consumer<CodedOutputStream> fields) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        CodedOutputStream out = CodedOutputStream.newInstance(bytes);
        fields.accept(out);
        try {
            out.flush();
        } catch (IOException e) {
            throw new AssertionError(e);
        }
        return bytes.toByteArray();
    }

    private static void put(CodedOutputStream out, int field, byte[] bytes) {
        try {
            out.writeByteArray(field, bytes);
        } catch (IOException e) {
            throw new AssertionError(e);
        }
    }

    private static void run(IoAction a) {
        try {
            a.run();
        } catch (IOException e) {
            throw new AssertionError(e);
        }
    }

    interface IoAction {
        void run() throws IOException;
    }

    private static byte[] floatsLe(float... v) {
        ByteBuffer b = ByteBuffer.allocate(v.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (float f : v) {
            b.putFloat(f);
        }
        return b.array();
    }

    /** A model whose graph holds the given initializers (each a TensorProto's bytes), with one MatMul node. */
    private static byte[] model(byte[]... initializers) {
        byte[] node = message(o -> run(() -> {
            o.writeString(1, "x");
            o.writeString(1, "w");
            o.writeString(4, "MatMul");
        }));
        byte[] graph = message(o -> {
            put(o, 1, node);
            run(() -> o.writeString(2, "g"));
            for (byte[] t : initializers) {
                put(o, 5, t);
            }
        });
        return message(o -> run(() -> {
            o.writeInt64(1, 8);
            o.writeString(2, "lowbit-test");
            put(o, 7, graph);
        }));
    }

    private static byte[] rawF32(String name, long[] dims, float... values) {
        return message(o -> run(() -> {
            for (long d : dims) {
                o.writeInt64(1, d);
            }
            o.writeInt32(2, 1);
            o.writeString(8, name);
            o.writeBytes(9, ByteString.copyFrom(floatsLe(values)));
        }));
    }

    @Test
    void readsEveryEncodingOfTheThreeFloatTypes() throws IOException {
        float[] w = {1f, -2.5f, 3.25f, 0f, 1e-3f, -7f};
        byte[] packed = message(o -> run(() -> {
            // dims packed, float_data packed
            o.writeTag(1, 2);
            o.writeUInt32NoTag(2);
            o.writeInt64NoTag(3);
            o.writeInt64NoTag(2);
            o.writeInt32(2, 1);
            o.writeBytes(4, ByteString.copyFrom(floatsLe(w)));
            o.writeString(8, "packed");
        }));
        byte[] unpacked = message(o -> run(() -> {
            o.writeInt64(1, 6);
            o.writeInt32(2, 1);
            for (float f : w) {
                o.writeFloat(4, f);
            }
            o.writeString(8, "unpacked");
        }));
        byte[] f16 = message(o -> run(() -> {
            o.writeInt64(1, 2);
            o.writeInt32(2, 10);
            o.writeInt32(5, Float.floatToFloat16(1.5f) & 0xFFFF);
            o.writeInt32(5, Float.floatToFloat16(-0.25f) & 0xFFFF);
            o.writeString(8, "half");
        }));
        byte[] bf16 = message(o -> run(() -> {
            o.writeInt64(1, 2);
            o.writeInt32(2, 16);
            o.writeString(8, "brain");
            o.writeBytes(9, ByteString.copyFrom(new byte[]{(byte) 0xC0, 0x3F, 0x00, (byte) 0xC1}));
        }));
        byte[] ints = message(o -> run(() -> {
            o.writeInt64(1, 1);
            o.writeInt32(2, 7);
            o.writeInt64(7, 42);
            o.writeString(8, "ids");
        }));
        OnnxModel m = OnnxReader.read(model(rawF32("w", new long[]{2, 3}, w), packed, unpacked, f16, bf16, ints), SRC);
        assertEquals(java.util.List.of("w", "packed", "unpacked", "half", "brain", "ids"), java.util.List.copyOf(m.initializers().keySet()));
        assertArrayEquals(w, m.initializer("w").toFloats());
        assertArrayEquals(new long[]{2, 3}, m.initializer("w").shape());
        assertArrayEquals(w, m.initializer("packed").toFloats());
        assertArrayEquals(new long[]{3, 2}, m.initializer("packed").shape());
        assertArrayEquals(w, m.initializer("unpacked").toFloats());
        assertEquals(DType.F16, m.initializer("half").dtype());
        assertArrayEquals(new float[]{1.5f, -0.25f}, m.initializer("half").toFloats());
        assertArrayEquals(new float[]{1.5f, -8f}, m.initializer("brain").toFloats());
        assertEquals(java.util.Map.of(), m.unsupported());
        assertEquals(DType.I64, m.initializer("ids").dtype(), "int64_data is read as its 8 little-endian bytes");
        assertEquals(42L, m.initializer("ids").bytes().get(java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED, 0));
        assertEquals(java.util.Set.of("MatMul"), m.consumers().get("w"));
        assertEquals(java.util.Set.of("w", "packed"), m.matrices().keySet());
        assertEquals(java.util.Set.of("w"), m.linearWeights().keySet());
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> m.initializer("ids").toFloats());
        assertTrue(e.getMessage().contains("ids") && e.getMessage().contains("I64"), e.getMessage());
    }

    private static void refused(byte[] model, String... words) {
        CorruptFileException e = assertThrows(CorruptFileException.class, () -> OnnxReader.read(model, SRC));
        for (String w : words) {
            assertTrue(e.getMessage().contains(w), "'" + e.getMessage() + "' should mention '" + w + "'");
        }
    }

    @Test
    void everyTruncationIsRefused() {
        byte[] good = model(rawF32("w", new long[]{2, 3}, 1, 2, 3, 4, 5, 6));
        for (int n = 0; n < good.length; n++) {
            byte[] cut = Arrays.copyOf(good, n);
            assertThrows(CorruptFileException.class, () -> OnnxReader.read(cut, SRC), "prefix of " + n + " bytes");
        }
    }

    @Test
    void corruptBytesGiveAnExceptionOrConsistentTensors() {
        byte[] good = model(rawF32("w", new long[]{2, 3}, 1, 2, 3, 4, 5, 6), rawF32("b", new long[]{3}, 7, 8, 9));
        long seed = new Random().nextLong();
        Random r = new Random(seed);
        for (int i = 0; i < 5000; i++) {
            byte[] bad = good.clone();
            int flips = 1 + r.nextInt(3);
            for (int k = 0; k < flips; k++) {
                bad[r.nextInt(bad.length)] = (byte) r.nextInt(256);
            }
            try {
                OnnxModel m = OnnxReader.read(bad, SRC);
                for (DenseTensor t : m.initializers().values()) {
                    assertEquals(t.elements() * t.dtype().bytes(), t.bytes().byteSize());
                }
            } catch (CorruptFileException expected) {
                // fine: a clear refusal
            } catch (RuntimeException | Error e) {
                throw new AssertionError("seed " + seed + ", case " + i + ": " + e, e);
            }
        }
    }

    @Test
    void malformedTensorsAreNamed() {
        refused(model(rawF32("w", new long[]{2, 4}, 1, 2, 3, 4, 5, 6)), "'w'", "raw_data is 24 bytes", "needs 32");
        refused(model(rawF32("w", new long[]{2, -3}, 1, 2, 3, 4, 5, 6)), "'w'", "negative");
        refused(model(rawF32("w", new long[]{1L << 40, 1L << 40}, 1)), "'w'", "overflowing");
        refused(model(rawF32("w", new long[]{2}, 1, 2), rawF32("w", new long[]{1}, 3)), "two initializers", "'w'");
        refused(model(message(o -> run(() -> {
            o.writeInt64(1, 2);
            o.writeInt32(2, 1);
            o.writeString(8, "ext");
            o.writeInt32(14, 1);
        }))), "'ext'", "external");
        refused(model(message(o -> run(() -> {
            o.writeInt64(1, 3);
            o.writeInt32(2, 1);
            o.writeString(8, "few");
            o.writeFloat(4, 1f);
        }))), "'few'", "1 values in float_data", "3 elements");
        refused(model(message(o -> run(() -> {
            o.writeInt64(1, 1);
            o.writeInt32(2, 1);
            o.writeString(8, "both");
            o.writeFloat(4, 1f);
            o.writeBytes(9, ByteString.copyFrom(floatsLe(1f)));
        }))), "'both'", "both raw_data and float_data");
        refused(model(message(o -> run(() -> {
            o.writeInt64(1, 1);
            o.writeInt32(2, 10);
            o.writeString(8, "wide");
            o.writeInt32(5, 70000);
        }))), "'wide'", "70000");
        refused(model(message(o -> run(() -> {
            o.writeInt64(1, 1);
            o.writeInt32(2, 1);
            o.writeFloat(4, 1f);
        }))), "initializer #1", "no name");
        refused(model(message(o -> run(() -> {
            o.writeInt32(2, 1);
            o.writeString(8, "x");
            o.writeInt64(9, 5); // raw_data with the wrong wire type
        }))), "'x' raw_data", "wire type");
        // A length prefix that claims more than the message holds.
        byte[] huge = message(o -> run(() -> {
            o.writeTag(7, 2);
            o.writeUInt64NoTag(1L << 40);
            o.writeRawBytes(new byte[10]);
        }));
        refused(huge, "ModelProto.graph", "1099511627776", "remain");
        refused(message(o -> run(() -> o.writeInt64(1, 8))), "no graph");
        refused(new byte[]{(byte) 0xFF, (byte) 0xFF}, "malformed protobuf");
    }

    @Test
    void truncationSaysHowManyBytesAreMissing() {
        byte[] good = model(rawF32("w", new long[]{2, 3}, 1, 2, 3, 4, 5, 6));
        // The graph is the model's last field: a file cut anywhere inside it is short by the graph's own claim.
        for (int n = good.length - 30; n < good.length; n++) {
            byte[] cut = Arrays.copyOf(good, n);
            CorruptFileException e = assertThrows(CorruptFileException.class, () -> OnnxReader.read(cut, SRC));
            String want = "test.onnx: truncated: expected " + good.length + " bytes, file has " + n + " (ModelProto.graph claims ";
            assertTrue(e.getMessage().startsWith(want), e.getMessage());
        }
    }

    @Test
    void shapesThatOverflowNameTheFileAndTensor() {
        CorruptFileException e = assertThrows(CorruptFileException.class,
                () -> OnnxReader.read(model(rawF32("w", new long[]{1L << 62}, 1)), SRC));
        assertEquals("test.onnx: initializer 'w' has shape [4611686018427387904], which overflows a 64-bit byte count of"
                + " FLOAT (1)", e.getMessage());
    }

    @Test
    void tooManyDimsAreRefusedAsTheyAreRead() {
        byte[] many = message(o -> run(() -> {
            o.writeString(8, "deep");
            for (int i = 0; i < 33; i++) {
                o.writeInt64(1, 1);
            }
            o.writeInt32(2, 1);
        }));
        CorruptFileException e = assertThrows(CorruptFileException.class, () -> OnnxReader.read(model(many), SRC));
        assertEquals("test.onnx: initializer 'deep' dims has more than 32 values", e.getMessage());
    }

    @Test
    void namesOfMoreThan4096BytesAreRefused() throws IOException {
        String name = "x".repeat(5000);
        refused(model(rawF32(name, new long[]{1}, 1)), "test.onnx: initializer #1 name of 5000 bytes is longer than the"
                + " 4096-byte limit (it starts '" + "x".repeat(40) + "...')");
        byte[] node = message(o -> run(() -> {
            o.writeString(1, name);
            o.writeString(4, "MatMul");
        }));
        byte[] graph = message(o -> put(o, 1, node));
        refused(message(o -> put(o, 7, graph)), "test.onnx: node #1 input of 5000 bytes is longer than the 4096-byte limit");
        // 4096 bytes are read.
        String most = "y".repeat(4096);
        assertEquals(java.util.Set.of(most), OnnxReader.read(model(rawF32(most, new long[]{1}, 1)), SRC).initializers().keySet());
    }
}
