package dev.lowbit.models.fuzz;

import com.google.protobuf.ByteString;
import com.google.protobuf.CodedOutputStream;
import dev.lowbit.format.QuantFormat;
import dev.lowbit.format.QuantizedTensor;
import dev.lowbit.format.ScaleType;
import dev.lowbit.format.SparseOutliers;
import dev.lowbit.format.io.LowbitFile;
import dev.lowbit.kernels.QuantOps;
import dev.lowbit.models.DType;
import dev.lowbit.models.DenseTensor;
import dev.lowbit.models.GgufFile;
import dev.lowbit.models.GgufTensor;
import dev.lowbit.models.GgufValue;
import dev.lowbit.models.Safetensors;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

/**
 * Small valid files of each format (a few KB at most), made by lowbit's own writers, from which the
 * fuzzer starts. Every seed reads without error: {@code ReaderCorpusTest} checks that.
 */
final class Seeds {
    private Seeds() {
    }

    /** A named seed. */
    record Seed(String name, byte[] bytes) {
        @Override
        public String toString() {
            return name;
        }
    }

    static List<Seed> of(FuzzHarness.Reader reader, Path dir) {
        try {
            return switch (reader) {
                case GGUF -> gguf(dir);
                case SAFETENSORS -> safetensors(dir);
                case ONNX -> onnx();
                case LOWBIT -> lowbit(dir);
            };
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static float[] gaussian(Random r, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) r.nextGaussian();
        }
        return v;
    }

    private static MemorySegment halves(float[] v, boolean bf16) {
        MemorySegment s = MemorySegment.ofArray(new byte[v.length * 2]);
        ValueLayout.OfShort le = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < v.length; i++) {
            s.setAtIndex(le, i, bf16 ? (short) (Float.floatToRawIntBits(v[i]) >>> 16) : Float.floatToFloat16(v[i]));
        }
        return s;
    }

    private static byte[] bytesOf(Path p) throws IOException {
        byte[] b = Files.readAllBytes(p);
        Files.delete(p);
        return b;
    }

    // ---------------------------------------------------------------- GGUF

    private static List<Seed> gguf(Path dir) throws IOException {
        List<Seed> out = new ArrayList<>();
        Random r = new Random(11);
        try (Arena arena = Arena.ofConfined()) {
            QuantOps ops = QuantOps.get();
            Map<String, GgufValue> meta = new LinkedHashMap<>();
            meta.put("general.architecture", GgufValue.string("llama"));
            meta.put("t.u8", GgufValue.uint8((byte) 0xFE));
            meta.put("t.i16", GgufValue.int16((short) -300));
            meta.put("t.u32", GgufValue.uint32(7));
            meta.put("t.i64", GgufValue.int64(-5));
            meta.put("t.f32", GgufValue.float32(0.5f));
            meta.put("t.f64", GgufValue.float64(-0.25));
            meta.put("t.bool", GgufValue.bool(true));
            meta.put("t.strings", GgufValue.array(GgufValue.Type.STRING, List.of("a", "", "<s>")));
            meta.put("t.floats", GgufValue.array(GgufValue.Type.FLOAT32, List.of(1f, -2f)));
            List<GgufTensor> ts = new ArrayList<>();
            for (QuantFormat f : List.of(QuantFormat.Q8_0, QuantFormat.Q4_0, QuantFormat.Q4_1)) {
                ts.add(GgufTensor.of("blk.0." + f.name(), ops.quantize(f, gaussian(r, 2 * 64), 2, 64, arena)));
            }
            ts.add(GgufTensor.of(DenseTensor.ofFloats("norm", new long[]{5}, gaussian(r, 5))));
            ts.add(GgufTensor.of(new DenseTensor("h", DType.F16, new long[]{2, 3}, halves(gaussian(r, 6), false))));
            Path p = dir.resolve("seed.gguf");
            GgufFile.write(p, meta, ts);
            out.add(new Seed("gguf-every-type", bytesOf(p)));

            Map<String, GgufValue> aligned = new LinkedHashMap<>();
            aligned.put(GgufFile.ALIGNMENT_KEY, GgufValue.uint32(64));
            GgufFile.write(p, aligned, List.of(GgufTensor.of("w", ops.quantize(QuantFormat.Q4_0, gaussian(r, 32), 1, 32, arena)),
                    GgufTensor.of(DenseTensor.ofFloats("b", new long[]{3}, gaussian(r, 3)))));
            out.add(new Seed("gguf-aligned-64", bytesOf(p)));

            GgufFile.write(p, Map.of("general.name", GgufValue.string("empty")), List.of());
            out.add(new Seed("gguf-no-tensors", bytesOf(p)));
        }
        return out;
    }

    // ---------------------------------------------------------------- safetensors

    private static List<Seed> safetensors(Path dir) throws IOException {
        List<Seed> out = new ArrayList<>();
        Random r = new Random(12);
        Path p = dir.resolve("seed.safetensors");
        Map<String, DenseTensor> dense = new LinkedHashMap<>();
        dense.put("emb.weight", DenseTensor.ofFloats("emb.weight", new long[]{4, 8}, gaussian(r, 32)));
        dense.put("h", new DenseTensor("h", DType.F16, new long[]{3, 5}, halves(gaussian(r, 15), false)));
        dense.put("b", new DenseTensor("b", DType.BF16, new long[]{7}, halves(gaussian(r, 7), true)));
        dense.put("scalar", DenseTensor.ofFloats("scalar", new long[]{}, new float[]{2.5f}));
        dense.put("empty", DenseTensor.ofFloats("empty", new long[]{0, 3}, new float[0]));
        Safetensors.write(p, dense, Map.of(), Map.of("format", "pt"));
        out.add(new Seed("safetensors-dense", bytesOf(p)));
        try (Arena arena = Arena.ofConfined()) {
            Map<String, QuantizedTensor> q = quantized(r, arena);
            Safetensors.write(p, Map.of("bias", DenseTensor.ofFloats("bias", new long[]{2}, new float[]{1, 2})), q,
                    Map.of("note", "mixed"));
            out.add(new Seed("safetensors-quantized", bytesOf(p)));
        }
        // An entry of a dtype lowbit lists but does not read, written by hand.
        String json = "{\"__metadata__\":{\"a\":\"b\"},\"ids\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[0,16]},"
                + "\"w\":{\"dtype\":\"F32\",\"shape\":[1,2],\"data_offsets\":[16,24]}}";
        byte[] header = json.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + header.length + 24).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(header.length).put(header).putLong(1).putLong(2).putFloat(1.5f).putFloat(-2f);
        out.add(new Seed("safetensors-i64", b.array()));
        return out;
    }

    /** A few lowbit tensors: every plane kind (zeros, F32 scales, codebook levels, outliers) appears once. */
    private static Map<String, QuantizedTensor> quantized(Random r, Arena arena) {
        QuantOps ops = QuantOps.get();
        Map<String, QuantizedTensor> q = new LinkedHashMap<>();
        q.put("q4_0", ops.quantize(QuantFormat.Q4_0, gaussian(r, 64), 2, 32, arena));
        q.put("g4", ops.quantize(QuantFormat.grouped(4, 32, false, ScaleType.F16), gaussian(r, 128), 2, 64, arena));
        q.put("g3row", ops.quantize(QuantFormat.grouped(3, QuantFormat.ROW, true, ScaleType.F32), gaussian(r, 40), 2, 20, arena));
        q.put("nf4", ops.quantize(QuantFormat.codebook4(32, ScaleType.F16), gaussian(r, 64), 2, 32, arena));
        QuantizedTensor g8 = ops.quantize(QuantFormat.grouped(8, 32, true, ScaleType.F16), gaussian(r, 64), 2, 32, arena);
        q.put("g8o", g8.withOutliers(SparseOutliers.of(2, 32, new int[]{0, 1, 3}, new int[]{5, 0, 31},
                new float[]{9f, -7f, 8f}, arena)));
        return q;
    }

    // ---------------------------------------------------------------- lowbit

    private static List<Seed> lowbit(Path dir) throws IOException {
        List<Seed> out = new ArrayList<>();
        Random r = new Random(13);
        Path p = dir.resolve("seed.lowbit");
        try (Arena arena = Arena.ofConfined()) {
            LowbitFile.write(p, quantized(r, arena), Map.of("model", "seed"));
            out.add(new Seed("lowbit-every-plane", bytesOf(p)));
            QuantOps ops = QuantOps.get();
            LowbitFile.write(p, Map.of("w", ops.quantize(QuantFormat.Q8_0, gaussian(r, 32), 1, 32, arena)));
            out.add(new Seed("lowbit-one-q8_0", bytesOf(p)));
        }
        // Recipes for StructuredLowbit: tensors written with correct checksums from the bytes that follow.
        out.add(new Seed("lowbit-recipe-grouped", recipe(0, 4, 2, 6, 0, 0, 0, 0, 0)));
        out.add(new Seed("lowbit-recipe-outliers", recipe(1, 8, 3, 4, 3, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 1, 2, 3)));
        return out;
    }

    private static byte[] recipe(int... bytes) {
        byte[] out = Arrays.copyOf(StructuredLowbit.MAGIC, StructuredLowbit.MAGIC.length + bytes.length);
        for (int i = 0; i < bytes.length; i++) {
            out[StructuredLowbit.MAGIC.length + i] = (byte) bytes[i];
        }
        return out;
    }

    // ---------------------------------------------------------------- ONNX

    private interface Fields {
        void write(CodedOutputStream o) throws IOException;
    }

    private static byte[] message(Fields fields) {
        try {
            ByteArrayOutputStream bytes = new ByteArrayOutputStream();
            CodedOutputStream o = CodedOutputStream.newInstance(bytes);
            fields.write(o);
            o.flush();
            return bytes.toByteArray();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static byte[] floatsLe(float... v) {
        ByteBuffer b = ByteBuffer.allocate(v.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (float f : v) {
            b.putFloat(f);
        }
        return b.array();
    }

    private static byte[] tensor(String name, int type, long[] dims, Fields data) {
        return message(o -> {
            for (long d : dims) {
                o.writeInt64(1, d);
            }
            o.writeInt32(2, type);
            o.writeString(8, name);
            data.write(o);
        });
    }

    private static byte[] model(List<byte[]> initializers) {
        byte[] node = message(o -> {
            o.writeString(1, "x");
            o.writeString(1, "w");
            o.writeString(2, "y");
            o.writeString(4, "MatMul");
        });
        byte[] gemm = message(o -> {
            o.writeString(1, "y");
            o.writeString(1, "g");
            o.writeString(1, "");
            o.writeString(2, "z");
            o.writeString(4, "Gemm");
        });
        byte[] graph = message(o -> {
            o.writeByteArray(1, node);
            o.writeByteArray(1, gemm);
            o.writeString(2, "g");
            for (byte[] t : initializers) {
                o.writeByteArray(5, t);
            }
        });
        return message(o -> {
            o.writeInt64(1, 8);
            o.writeString(2, "lowbit-seed");
            o.writeByteArray(7, graph);
        });
    }

    private static List<Seed> onnx() {
        Random r = new Random(14);
        List<byte[]> inits = new ArrayList<>();
        inits.add(tensor("w", 1, new long[]{3, 4}, o -> o.writeBytes(9, ByteString.copyFrom(floatsLe(gaussian(r, 12))))));
        float[] packed = gaussian(r, 6);
        inits.add(tensor("g", 1, new long[]{2, 3}, o -> {
            ByteArrayOutputStream b = new ByteArrayOutputStream();
            CodedOutputStream p = CodedOutputStream.newInstance(b);
            for (float f : packed) {
                p.writeFloatNoTag(f);
            }
            p.flush();
            o.writeByteArray(4, b.toByteArray());
        }));
        inits.add(tensor("f16", 10, new long[]{2, 2}, o -> {
            for (float f : gaussian(r, 4)) {
                o.writeInt32(5, Float.floatToFloat16(f) & 0xFFFF);
            }
        }));
        MemorySegment bf = halves(gaussian(r, 3), true);
        inits.add(tensor("bf16", 16, new long[]{3}, o -> o.writeBytes(9, ByteString.copyFrom(bf.toArray(ValueLayout.JAVA_BYTE)))));
        inits.add(tensor("ids", 7, new long[]{2}, o -> o.writeBytes(9, ByteString.copyFrom(new byte[16]))));
        List<Seed> out = new ArrayList<>();
        out.add(new Seed("onnx-every-encoding", model(inits)));
        out.add(new Seed("onnx-one-matrix", model(List.of(inits.getFirst()))));
        return out;
    }
}
