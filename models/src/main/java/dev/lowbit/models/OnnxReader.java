package dev.lowbit.models;

import com.google.protobuf.CodedInputStream;
import com.google.protobuf.WireFormat;
import dev.lowbit.format.Layouts;
import dev.lowbit.format.io.CorruptFileException;
import dev.lowbit.format.io.Names;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Reads the initializers (the weights) of an ONNX model's main graph straight from the protobuf wire
 * format, with no generated classes: ModelProto field 7 (graph), GraphProto field 5 (initializer), and
 * of each TensorProto the fields dims (1), data_type (2), float_data (4), int32_data (5), name (8),
 * raw_data (9), external_data (13) and data_location (14); and of each node of the main graph its op_type and the
 * names of its inputs and outputs (attributes are not read).
 *
 * <p>FLOAT, FLOAT16 and BFLOAT16 tensors are read, from raw_data or from the typed fields. Integer,
 * BOOL and DOUBLE initializers (a model's INT64 position ids and shape constants, for example) are read
 * as their bytes, from raw_data, int32_data or int64_data, so that they can be written through unchanged;
 * they are never converted to floats. Initializers of the other types (strings, complex numbers, or
 * values in double_data and uint64_data) are listed by name and type; {@link OnnxModel#initializer}
 * refuses them with a message naming the tensor. External data, segmented tensors and sparse initializers make the whole file refused. Every length is checked against the bytes that remain in its enclosing message, and the
 * data of every tensor against its shape (byte counts in exact 64-bit arithmetic), so a damaged file is a
 * {@link CorruptFileException} naming the file and never a wrong tensor; a length that runs past the end
 * of the file says {@code truncated: expected N bytes, file has M}. Names (of initializers, node inputs
 * and outputs, op types) are at most {@link Names#MAX_BYTES} bytes. Initializers of subgraphs (inside
 * node attributes) are not read.
 */
public final class OnnxReader {
    // TensorProto.DataType values.
    private static final int FLOAT = 1;
    private static final int FLOAT16 = 10;
    private static final int BFLOAT16 = 16;
    private static final String[] TYPE_NAMES = {"UNDEFINED", "FLOAT", "UINT8", "INT8", "UINT16", "INT16", "INT32",
            "INT64", "STRING", "BOOL", "FLOAT16", "DOUBLE", "UINT32", "UINT64", "COMPLEX64", "COMPLEX128",
            "BFLOAT16"};
    /** ONNX sets no limit; more dimensions than this is taken as damage. */
    private static final int MAX_DIMS = 32;

    private final byte[] buf;
    private final Path source;

    private OnnxReader(byte[] buf, Path source) {
        this.buf = buf;
        this.source = source;
    }

    /**
     * Reads the initializers of the model in {@code file}.
     *
     * @throws CorruptFileException if the file is malformed or holds a tensor this reader refuses
     */
    public static OnnxModel read(Path file) throws IOException {
        long size = Files.size(file);
        if (size > Integer.MAX_VALUE - 8) {
            throw new CorruptFileException(file, "is " + size + " bytes; a protobuf message is at most 2 GiB "
                    + "(larger models keep their weights in external data, which lowbit does not read)");
        }
        return read(Files.readAllBytes(file), file);
    }

    /**
     * Reads the initializers of a model held in {@code model}. The tensors are views of
     * {@code model}, which must not be changed afterwards.
     *
     * @param source the name used in error messages
     * @throws CorruptFileException if the bytes are malformed or hold a tensor this reader refuses
     */
    public static OnnxModel read(byte[] model, Path source) throws CorruptFileException {
        OnnxReader r = new OnnxReader(model, source);
        try {
            return r.model();
        } catch (CorruptFileException e) {
            throw e;
        } catch (IOException e) {
            // CodedInputStream's own checks (truncation, a bad varint or tag) end up here.
            throw new CorruptFileException(source, "malformed protobuf: " + e.getMessage(), e);
        }
    }

    private CorruptFileException bad(String message) {
        return new CorruptFileException(source, message);
    }

    /** A length-delimited field's bytes: {@code buf[start, start + length)}. */
    private record Span(int start, int length) {
        CodedInputStream open(byte[] buf) {
            return CodedInputStream.newInstance(buf, start, length);
        }
    }

    /**
     * Reads a length prefix from {@code in} (which reads the span {@code outer}) and steps over the bytes
     * it announces, after checking that they lie within {@code outer}.
     */
    private Span span(CodedInputStream in, Span outer, String what) throws IOException {
        long len = in.readRawVarint64();
        int at = outer.start + in.getTotalBytesRead();
        long left = (long) outer.start + outer.length - at;
        if (len > buf.length - at || len < 0) {
            // Past the end of the file itself, not just of its message: most likely a file cut off.
            throw bad("truncated: expected " + new java.math.BigInteger(Long.toUnsignedString(len)).add(
                    java.math.BigInteger.valueOf(at)) + " bytes, file has " + buf.length + " (" + what + " claims "
                    + Long.toUnsignedString(len) + " bytes at offset " + at + " but only " + left + " remain)");
        }
        if (len > left) {
            throw bad(what + " claims " + Long.toUnsignedString(len) + " bytes at offset " + at + " but only " + left
                    + " remain in its enclosing message");
        }
        in.skipRawBytes((int) len);
        return new Span(at, (int) len);
    }

    private void wire(int tag, int want, String what) throws CorruptFileException {
        if (WireFormat.getTagWireType(tag) != want) {
            throw bad(what + " has wire type " + WireFormat.getTagWireType(tag) + ", expected " + want);
        }
    }

    private OnnxModel model() throws IOException {
        Span all = new Span(0, buf.length);
        CodedInputStream in = all.open(buf);
        Span graph = null;
        for (int tag; (tag = topLevelTag(in)) != 0; ) {
            if (WireFormat.getTagFieldNumber(tag) == 7) {
                wire(tag, WireFormat.WIRETYPE_LENGTH_DELIMITED, "ModelProto.graph");
                if (graph != null) {
                    throw bad("ModelProto has two graph fields");
                }
                graph = span(in, all, "ModelProto.graph");
            } else {
                in.skipField(tag);
            }
        }
        if (graph == null) {
            throw bad("no graph: not an ONNX model");
        }
        return graph(graph);
    }

    /**
     * The next tag of the ModelProto, or 0 at its end; a field cut off at the end of the file (its varint
     * value, say: length-delimited fields are caught by {@link #span}) is reported as truncation.
     */
    private int topLevelTag(CodedInputStream in) throws IOException {
        int at = in.getTotalBytesRead();
        int tag = in.readTag();
        if (tag == 0) {
            return 0;
        }
        try {
            if (WireFormat.getTagFieldNumber(tag) != 7) {
                // Read the field here (as skipping it), so that a cut-off value is caught.
                CodedInputStream probe = CodedInputStream.newInstance(buf, in.getTotalBytesRead(),
                        buf.length - in.getTotalBytesRead());
                probe.skipField(tag);
            }
        } catch (com.google.protobuf.InvalidProtocolBufferException e) {
            if (e.getMessage() != null && e.getMessage().contains("ended unexpectedly")) {
                throw bad("truncated: expected more than " + buf.length + " bytes, file has " + buf.length
                        + " (the field at offset " + at + " is cut off)");
            }
            throw e;
        }
        return tag;
    }

    /** An initializer of a type this reader does not convert. */
    private record Skipped(String name, String type) {
    }

    private OnnxModel graph(Span graph) throws IOException {
        Map<String, DenseTensor> out = new LinkedHashMap<>();
        Map<String, String> skipped = new LinkedHashMap<>();
        Map<String, java.util.Set<String>> ops = new java.util.HashMap<>();
        java.util.List<OnnxModel.Node> nodeList = new java.util.ArrayList<>();
        int nodes = 0;
        CodedInputStream in = graph.open(buf);
        for (int tag; (tag = in.readTag()) != 0; ) {
            int field = WireFormat.getTagFieldNumber(tag);
            if (field == 5) {
                wire(tag, WireFormat.WIRETYPE_LENGTH_DELIMITED, "GraphProto.initializer #" + (out.size() + 1));
                int index = out.size() + skipped.size() + 1;
                Object t = tensor(span(in, graph, "initializer #" + index), index);
                String name = t instanceof DenseTensor d ? d.name() : ((Skipped) t).name;
                if (out.containsKey(name) || skipped.containsKey(name)) {
                    throw bad("two initializers are named '" + name + "'");
                }
                if (t instanceof DenseTensor d) {
                    out.put(name, d);
                } else {
                    skipped.put(name, ((Skipped) t).type);
                }
            } else if (field == 1) {
                wire(tag, WireFormat.WIRETYPE_LENGTH_DELIMITED, "GraphProto.node");
                nodeList.add(node(span(in, graph, "node #" + (++nodes)), nodes, ops));
            } else if (field == 15) {
                throw bad("the graph has a sparse initializer, which lowbit does not read");
            } else {
                in.skipField(tag);
            }
        }
        Map<String, java.util.Set<String>> consumers = new LinkedHashMap<>();
        for (String name : out.keySet()) {
            consumers.put(name, java.util.Set.copyOf(ops.getOrDefault(name, java.util.Set.of())));
        }
        return new OnnxModel(source, out, skipped, consumers, nodeList);
    }

    /**
     * Reads a node's op_type and the names of its inputs and outputs (NodeProto: input 1, output 2, op_type 4),
     * and records, for each input, the node's op_type.
     */
    private OnnxModel.Node node(Span span, int index, Map<String, java.util.Set<String>> ops) throws IOException {
        CodedInputStream in = span.open(buf);
        java.util.List<String> inputs = new java.util.ArrayList<>();
        java.util.List<String> outputs = new java.util.ArrayList<>();
        String op = "";
        for (int tag; (tag = in.readTag()) != 0; ) {
            int field = WireFormat.getTagFieldNumber(tag);
            if (field == 1 || field == 2 || field == 4) {
                String what = "node #" + index + (field == 1 ? " input" : field == 2 ? " output" : " op_type");
                wire(tag, WireFormat.WIRETYPE_LENGTH_DELIMITED, what);
                String v = utf8(span(in, span, what), what);
                if (field == 1) {
                    inputs.add(v);
                } else if (field == 2) {
                    outputs.add(v);
                } else {
                    op = v;
                }
            } else {
                in.skipField(tag);
            }
        }
        for (String input : inputs) {
            ops.computeIfAbsent(input, k -> new java.util.TreeSet<>()).add(op);
        }
        return new OnnxModel.Node(op, inputs, outputs);
    }

    private Object tensor(Span span, int index) throws IOException {
        String where = "initializer #" + index;
        CodedInputStream in = span.open(buf);
        LongList dims = new LongList();
        int dataType = 0;
        String name = null;
        Span raw = null;
        FloatList floats = new FloatList();
        LongList ints = new LongList();
        LongList longs = new LongList();
        boolean external = false;
        int location = 0;
        String otherData = null;
        for (int tag; (tag = in.readTag()) != 0; ) {
            int field = WireFormat.getTagFieldNumber(tag);
            int type = WireFormat.getTagWireType(tag);
            switch (field) {
                case 1 -> varints(in, tag, span, dims, where + " dims", true, MAX_DIMS);
                case 2 -> {
                    wire(tag, WireFormat.WIRETYPE_VARINT, where + " data_type");
                    dataType = in.readInt32();
                }
                case 3 -> throw bad(where + " is segmented (TensorProto.segment), which lowbit does not read");
                case 4 -> {
                    if (type == WireFormat.WIRETYPE_FIXED32) {
                        floats.add(in.readFloat());
                    } else {
                        wire(tag, WireFormat.WIRETYPE_LENGTH_DELIMITED, where + " float_data");
                        Span s = span(in, span, where + " float_data");
                        if (s.length % 4 != 0) {
                            throw bad(where + " float_data is " + s.length + " bytes, not a multiple of 4");
                        }
                        MemorySegment seg = MemorySegment.ofArray(buf).asSlice(s.start, s.length);
                        for (long i = 0; i < s.length / 4; i++) {
                            floats.add(seg.getAtIndex(Layouts.F32, i));
                        }
                    }
                }
                case 5 -> varints(in, tag, span, ints, where + " int32_data", false, Integer.MAX_VALUE - 8);
                case 8 -> {
                    wire(tag, WireFormat.WIRETYPE_LENGTH_DELIMITED, where + " name");
                    Span s = span(in, span, where + " name");
                    name = utf8(s, where + " name");
                    where = "initializer '" + name + "'";
                }
                case 9 -> {
                    wire(tag, WireFormat.WIRETYPE_LENGTH_DELIMITED, where + " raw_data");
                    raw = span(in, span, where + " raw_data");
                }
                case 13 -> {
                    external = true;
                    in.skipField(tag);
                }
                case 14 -> {
                    wire(tag, WireFormat.WIRETYPE_VARINT, where + " data_location");
                    location = in.readInt32();
                }
                case 7 -> {
                    varints(in, tag, span, longs, where + " int64_data", true, Integer.MAX_VALUE - 8);
                    otherData = otherData == null ? "int64_data" : otherData;
                }
                case 6, 10, 11 -> {
                    otherData = switch (field) {
                        case 6 -> "string_data";
                        case 10 -> "double_data";
                        default -> "uint64_data";
                    };
                    in.skipField(tag);
                }
                default -> in.skipField(tag);
            }
        }
        if (name == null || name.isEmpty()) {
            throw bad(where + " has no name");
        }
        if (external || location == 1) {
            throw bad(where + " keeps its data in an external file; lowbit reads only weights stored in the model"
                    + " (save the model with its data embedded)");
        }
        DType dtype = switch (dataType) {
            case FLOAT -> DType.F32;
            case FLOAT16 -> DType.F16;
            case BFLOAT16 -> DType.BF16;
            default -> null;
        };
        if (dims.size > MAX_DIMS) {
            throw bad(where + " has " + dims.size + " dimensions, more than " + MAX_DIMS);
        }
        long[] shape = dims.toArray();
        long n = DenseTensor.elements(shape);
        if (n < 0) {
            throw bad(where + " has shape " + Arrays.toString(shape) + ": a negative dimension or an overflowing size");
        }
        if (dtype == null) {
            return other(name, where, dataType, shape, n, raw, ints, longs, floats.size, otherData);
        }
        String typed = dtype == DType.F32 ? "float_data" : "int32_data";
        int typedCount = dtype == DType.F32 ? floats.size : ints.size;
        if (otherData != null) {
            throw bad(where + " is " + typeName(dataType) + " but carries " + otherData);
        }
        if ((dtype == DType.F32 ? ints.size : floats.size) != 0) {
            throw bad(where + " is " + typeName(dataType) + " but carries " + (dtype == DType.F32 ? "int32_data" : "float_data"));
        }
        long want = byteCount(where, shape, n, dtype, dataType);
        if (raw != null) {
            if (typedCount != 0) {
                throw bad(where + " has both raw_data and " + typed);
            }
            if (raw.length != want) {
                throw bad(where + " raw_data is " + raw.length + " bytes but " + typeName(dataType) + " "
                        + Arrays.toString(shape) + " needs " + want);
            }
            return new DenseTensor(name, dtype, shape, MemorySegment.ofArray(buf).asSlice(raw.start, raw.length));
        }
        if (typedCount != n) {
            throw bad(where + " has " + typedCount + " values in " + typed + " (and no raw_data) but shape "
                    + Arrays.toString(shape) + " has " + n + " elements");
        }
        if (want > Integer.MAX_VALUE - 8) {
            throw bad(where + " needs " + want + " bytes, too many for one array");
        }
        MemorySegment seg = MemorySegment.ofArray(new byte[(int) want]);
        if (dtype == DType.F32) {
            MemorySegment.copy(floats.values, 0, seg, Layouts.F32, 0, floats.size);
        } else {
            for (int i = 0; i < ints.size; i++) {
                long v = ints.values[i];
                // FLOAT16 and BFLOAT16 values are stored as their 16 bits in an int32.
                if (v < 0 || v > 0xFFFF) {
                    throw bad(where + " int32_data[" + i + "] is " + v + ", not a 16-bit pattern");
                }
                seg.setAtIndex(Layouts.F16, i, (short) v);
            }
        }
        return new DenseTensor(name, dtype, shape, seg);
    }

    /**
     * An initializer of a type lowbit does not quantize (integers, booleans, doubles): its bytes as stored,
     * from raw_data, or from int32_data (types of 32 bits and less) or int64_data (INT64) written out
     * little-endian. A type or a field this reader does not take (strings, complex numbers, double_data,
     * uint64_data) is listed by name and type.
     */
    private Object other(String name, String where, int dataType, long[] shape, long n, Span raw, LongList ints,
                         LongList longs, int floats, String otherData) throws CorruptFileException {
        DType dtype = switch (dataType) {
            case 2 -> DType.U8;
            case 3 -> DType.I8;
            case 4 -> DType.U16;
            case 5 -> DType.I16;
            case 6 -> DType.I32;
            case 7 -> DType.I64;
            case 9 -> DType.BOOL;
            case 11 -> DType.F64;
            case 12 -> DType.U32;
            case 13 -> DType.U64;
            default -> null;
        };
        boolean fromInts = dtype != null && dtype != DType.I64 && dtype.bytes() <= 4 && dtype != DType.U32;
        boolean fromLongs = dtype == DType.I64;
        if (dtype == null || floats != 0 || (otherData != null && !(fromLongs && otherData.equals("int64_data")))
                || (ints.size != 0 && !fromInts)) {
            return new Skipped(name, typeName(dataType));
        }
        long want = byteCount(where, shape, n, dtype, dataType);
        int typedCount = fromLongs ? longs.size : ints.size;
        if (raw != null) {
            if (typedCount != 0) {
                throw bad(where + " has both raw_data and " + (fromLongs ? "int64_data" : "int32_data"));
            }
            if (raw.length != want) {
                throw bad(where + " raw_data is " + raw.length + " bytes but " + typeName(dataType) + " "
                        + Arrays.toString(shape) + " needs " + want);
            }
            return new DenseTensor(name, dtype, shape, MemorySegment.ofArray(buf).asSlice(raw.start, raw.length));
        }
        if (!fromInts && !fromLongs) {
            return new Skipped(name, typeName(dataType));
        }
        if (typedCount != n) {
            throw bad(where + " has " + typedCount + " values in " + (fromLongs ? "int64_data" : "int32_data")
                    + " (and no raw_data) but shape " + Arrays.toString(shape) + " has " + n + " elements");
        }
        if (want > Integer.MAX_VALUE - 8) {
            throw bad(where + " needs " + want + " bytes, too many for one array");
        }
        MemorySegment seg = MemorySegment.ofArray(new byte[(int) want]);
        for (int i = 0; i < typedCount; i++) {
            long v = fromLongs ? longs.values[i] : ints.values[i];
            switch (dtype.bytes()) {
                case 8 -> seg.set(java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED.withOrder(java.nio.ByteOrder.LITTLE_ENDIAN),
                        8L * i, v);
                case 4 -> seg.set(java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED.withOrder(java.nio.ByteOrder.LITTLE_ENDIAN),
                        4L * i, (int) v);
                case 2 -> seg.set(Layouts.F16, 2L * i, (short) v);
                default -> seg.set(java.lang.foreign.ValueLayout.JAVA_BYTE, i, (byte) v);
            }
        }
        return new DenseTensor(name, dtype, shape, seg);
    }

    /** {@code n} elements of {@code dtype} in bytes, refused when the count overflows 64 bits. */
    private long byteCount(String where, long[] shape, long n, DType dtype, int dataType) throws CorruptFileException {
        try {
            return Math.multiplyExact(n, dtype.bytes());
        } catch (ArithmeticException e) {
            throw bad(where + " has shape " + Arrays.toString(shape) + ", which overflows a 64-bit byte count of "
                    + typeName(dataType));
        }
    }

    private static String typeName(int type) {
        return type >= 0 && type < TYPE_NAMES.length ? TYPE_NAMES[type] + " (" + type + ")" : "unknown (" + type + ")";
    }

    /** A name (of a tensor, an input or output, an op type): at most {@link Names#MAX_BYTES} bytes of UTF-8. */
    private String utf8(Span s, String what) throws CorruptFileException {
        if (s.length > Names.MAX_BYTES) {
            String start = new String(buf, s.start, Math.min(s.length, 40), java.nio.charset.StandardCharsets.UTF_8);
            throw bad(Names.tooLong(what, s.length, start));
        }
        try {
            return java.nio.charset.StandardCharsets.UTF_8.newDecoder()
                    .decode(java.nio.ByteBuffer.wrap(buf, s.start, s.length)).toString();
        } catch (java.nio.charset.CharacterCodingException e) {
            throw bad(what + " is not valid UTF-8");
        }
    }

    /**
     * A repeated integer field, packed (one length-delimited run) or not (one varint per tag), of at most
     * {@code max} values, refused as soon as it has more (the dims of a damaged file could otherwise grow a
     * list eight times the file's size).
     */
    private void varints(CodedInputStream in, int tag, Span outer, LongList out, String what, boolean int64, int max)
            throws IOException {
        if (WireFormat.getTagWireType(tag) == WireFormat.WIRETYPE_VARINT) {
            add(out, int64 ? in.readInt64() : in.readInt32(), what, max);
            return;
        }
        wire(tag, WireFormat.WIRETYPE_LENGTH_DELIMITED, what);
        Span s = span(in, outer, what);
        CodedInputStream p = s.open(buf);
        while (!p.isAtEnd()) {
            add(out, int64 ? p.readInt64() : p.readInt32(), what, max);
        }
    }

    private void add(LongList out, long v, String what, int max) throws CorruptFileException {
        if (out.size >= max) {
            throw bad(what + " has more than " + max + " values");
        }
        out.add(v);
    }

    /** A growable long[]; its size is bounded by the bytes of the message it is read from. */
    private static final class LongList {
        long[] values = new long[8];
        int size;

        void add(long v) {
            if (size == values.length) {
                values = Arrays.copyOf(values, size * 2);
            }
            values[size++] = v;
        }

        long[] toArray() {
            return Arrays.copyOf(values, size);
        }
    }

    private static final class FloatList {
        float[] values = new float[8];
        int size;

        void add(float v) {
            if (size == values.length) {
                values = Arrays.copyOf(values, size * 2);
            }
            values[size++] = v;
        }
    }
}
