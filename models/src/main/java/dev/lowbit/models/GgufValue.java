package dev.lowbit.models;

import java.util.List;
import java.util.Objects;

/**
 * A GGUF metadata value with its exact type, so that a file reads back and writes again byte for byte.
 * Java holds each type in the signed type of its width: UINT8 and INT8 as {@link Byte}, (U)INT16 as
 * {@link Short}, (U)INT32 as {@link Integer}, (U)INT64 as {@link Long} (unsigned values keep their bits),
 * FLOAT32 as {@link Float}, FLOAT64 as {@link Double}, BOOL as {@link Boolean}, STRING as {@link String},
 * and ARRAY as an immutable {@link List} of values of {@code elementType}. Arrays of arrays are not
 * supported (llama.cpp does not read them either).
 *
 * @param type        the value's type
 * @param elementType for an ARRAY, the type of its elements; otherwise null
 * @param value       the value, as above
 */
public record GgufValue(Type type, Type elementType, Object value) {

    /** The GGUF value types and their ids. */
    public enum Type {
        UINT8(0, 1, Byte.class), INT8(1, 1, Byte.class), UINT16(2, 2, Short.class), INT16(3, 2, Short.class),
        UINT32(4, 4, Integer.class), INT32(5, 4, Integer.class), FLOAT32(6, 4, Float.class),
        BOOL(7, 1, Boolean.class), STRING(8, -1, String.class), ARRAY(9, -1, List.class),
        UINT64(10, 8, Long.class), INT64(11, 8, Long.class), FLOAT64(12, 8, Double.class);

        final int id;
        /** Bytes of a value, or -1 when variable. */
        final int bytes;
        final Class<?> javaType;

        Type(int id, int bytes, Class<?> javaType) {
            this.id = id;
            this.bytes = bytes;
            this.javaType = javaType;
        }

        public int id() {
            return id;
        }

        static Type ofId(long id) {
            for (Type t : values()) {
                if (t.id == id) {
                    return t;
                }
            }
            return null;
        }
    }

    public GgufValue {
        Objects.requireNonNull(type, "type");
        Objects.requireNonNull(value, "value");
        if (type == Type.ARRAY) {
            Objects.requireNonNull(elementType, "elementType of an array");
            if (elementType == Type.ARRAY) {
                throw new IllegalArgumentException("arrays of arrays are not supported");
            }
            if (!(value instanceof List<?> l)) {
                throw new IllegalArgumentException("an ARRAY value must be a List, got " + value.getClass().getName());
            }
            for (int i = 0; i < l.size(); i++) {
                Object e = l.get(i);
                if (e == null || !elementType.javaType.isInstance(e)) {
                    throw new IllegalArgumentException("element " + i + " of an array of " + elementType + " is "
                            + (e == null ? "null" : e.getClass().getName()) + ", not " + elementType.javaType.getName());
                }
            }
            value = List.copyOf(l);
        } else {
            if (elementType != null) {
                throw new IllegalArgumentException("only an ARRAY has an element type");
            }
            if (!type.javaType.isInstance(value)) {
                throw new IllegalArgumentException("a " + type + " value must be a " + type.javaType.getName() + ", got "
                        + value.getClass().getName());
            }
        }
    }

    public static GgufValue uint8(byte v) {
        return new GgufValue(Type.UINT8, null, v);
    }

    public static GgufValue int8(byte v) {
        return new GgufValue(Type.INT8, null, v);
    }

    public static GgufValue uint16(short v) {
        return new GgufValue(Type.UINT16, null, v);
    }

    public static GgufValue int16(short v) {
        return new GgufValue(Type.INT16, null, v);
    }

    public static GgufValue uint32(int v) {
        return new GgufValue(Type.UINT32, null, v);
    }

    public static GgufValue int32(int v) {
        return new GgufValue(Type.INT32, null, v);
    }

    public static GgufValue uint64(long v) {
        return new GgufValue(Type.UINT64, null, v);
    }

    public static GgufValue int64(long v) {
        return new GgufValue(Type.INT64, null, v);
    }

    public static GgufValue float32(float v) {
        return new GgufValue(Type.FLOAT32, null, v);
    }

    public static GgufValue float64(double v) {
        return new GgufValue(Type.FLOAT64, null, v);
    }

    public static GgufValue bool(boolean v) {
        return new GgufValue(Type.BOOL, null, v);
    }

    public static GgufValue string(String v) {
        return new GgufValue(Type.STRING, null, v);
    }

    public static GgufValue array(Type elementType, List<?> values) {
        return new GgufValue(Type.ARRAY, elementType, values);
    }
}
