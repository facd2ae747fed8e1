package dev.lowbit.io;

import java.text.ParseException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The subset of JSON a safetensors header needs: objects, arrays, strings, integers, booleans and
 * null. Parsed objects are {@code Map<String, Object>} in file order, arrays {@code List<Object>},
 * integers {@code Long}, null {@link #NULL}. The parser is strict because its input is untrusted:
 * no fractions or exponents, no duplicate keys, no trailing garbage, bounded nesting. Public for the
 * safetensors reader of the models module.
 */
public final class Json {
    private Json() {
    }

    /** The JSON null, distinct from Java null so that a missing key and a null value differ. */
    public static final Object NULL = new Object() {
        @Override
        public String toString() {
            return "null";
        }
    };

    public static final int MAX_DEPTH = 8;

    /** Compact JSON for maps, lists, strings, integral numbers, booleans and null. */
    public static String write(Object value) {
        StringBuilder sb = new StringBuilder();
        write(sb, value);
        return sb.toString();
    }

    private static void write(StringBuilder sb, Object v) {
        switch (v) {
            case null -> sb.append("null");
            case String s -> quote(sb, s);
            case Long n -> sb.append(n);
            case Integer n -> sb.append(n);
            case Boolean b -> sb.append(b);
            case Map<?, ?> m -> {
                sb.append('{');
                boolean first = true;
                for (Map.Entry<?, ?> e : m.entrySet()) {
                    sb.append(first ? "" : ",");
                    first = false;
                    quote(sb, (String) e.getKey());
                    sb.append(':');
                    write(sb, e.getValue());
                }
                sb.append('}');
            }
            case List<?> l -> {
                sb.append('[');
                for (int i = 0; i < l.size(); i++) {
                    sb.append(i == 0 ? "" : ",");
                    write(sb, l.get(i));
                }
                sb.append(']');
            }
            default -> {
                if (v == NULL) {
                    sb.append("null");
                } else {
                    throw new IllegalArgumentException("cannot write " + v.getClass().getName() + " as JSON");
                }
            }
        }
    }

    private static void quote(StringBuilder sb, String s) {
        sb.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> sb.append("\\\"");
                case '\\' -> sb.append("\\\\");
                case '\n' -> sb.append("\\n");
                case '\r' -> sb.append("\\r");
                case '\t' -> sb.append("\\t");
                default -> {
                    if (c < 0x20) {
                        sb.append(String.format("\\u%04x", (int) c));
                    } else {
                        sb.append(c);
                    }
                }
            }
        }
        sb.append('"');
    }

    /** Parses one JSON value followed only by whitespace. */
    public static Object parse(String text) throws ParseException {
        Parser p = new Parser(text);
        p.skipSpace();
        Object v = p.value(1);
        p.skipSpace();
        if (p.pos != text.length()) {
            throw p.error("trailing characters after the JSON value");
        }
        return v;
    }

    private static final class Parser {
        private final String s;
        private int pos;

        Parser(String s) {
            this.s = s;
        }

        ParseException error(String what) {
            return new ParseException(what + " at character " + pos, pos);
        }

        void skipSpace() {
            while (pos < s.length()) {
                char c = s.charAt(pos);
                if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
                    return;
                }
                pos++;
            }
        }

        private char peek() throws ParseException {
            if (pos >= s.length()) {
                throw error("unexpected end of JSON");
            }
            return s.charAt(pos);
        }

        private void expect(char c) throws ParseException {
            if (peek() != c) {
                throw error("expected '" + c + "' but found '" + s.charAt(pos) + "'");
            }
            pos++;
        }

        Object value(int depth) throws ParseException {
            char c = peek();
            return switch (c) {
                case '{' -> object(depth);
                case '[' -> array(depth);
                case '"' -> string();
                case 't' -> literal("true", Boolean.TRUE);
                case 'f' -> literal("false", Boolean.FALSE);
                case 'n' -> literal("null", NULL);
                default -> {
                    if (c == '-' || (c >= '0' && c <= '9')) {
                        yield number();
                    }
                    throw error("unexpected character '" + c + "'");
                }
            };
        }

        private void checkDepth(int depth) throws ParseException {
            if (depth > MAX_DEPTH) {
                throw error("JSON nested deeper than " + MAX_DEPTH);
            }
        }

        private Map<String, Object> object(int depth) throws ParseException {
            checkDepth(depth);
            expect('{');
            Map<String, Object> m = new LinkedHashMap<>();
            skipSpace();
            if (peek() == '}') {
                pos++;
                return Collections.unmodifiableMap(m);
            }
            while (true) {
                skipSpace();
                int at = pos;
                if (peek() != '"') {
                    throw error("expected a string key");
                }
                String key = string();
                skipSpace();
                expect(':');
                skipSpace();
                Object v = value(depth + 1);
                if (m.putIfAbsent(key, v) != null) {
                    throw new ParseException("duplicate key \"" + key + "\" at character " + at, at);
                }
                skipSpace();
                if (peek() == ',') {
                    pos++;
                } else {
                    expect('}');
                    return Collections.unmodifiableMap(m);
                }
            }
        }

        private List<Object> array(int depth) throws ParseException {
            checkDepth(depth);
            expect('[');
            List<Object> l = new ArrayList<>();
            skipSpace();
            if (peek() == ']') {
                pos++;
                return List.copyOf(l);
            }
            while (true) {
                skipSpace();
                l.add(value(depth + 1));
                skipSpace();
                if (peek() == ',') {
                    pos++;
                } else {
                    expect(']');
                    return List.copyOf(l);
                }
            }
        }

        private String string() throws ParseException {
            expect('"');
            StringBuilder sb = new StringBuilder();
            while (true) {
                char c = peek();
                pos++;
                if (c == '"') {
                    return sb.toString();
                }
                if (c < 0x20) {
                    pos--;
                    throw error("control character U+" + String.format("%04X", (int) c) + " in a string");
                }
                if (c != '\\') {
                    sb.append(c);
                    continue;
                }
                char e = peek();
                pos++;
                switch (e) {
                    case '"', '\\', '/' -> sb.append(e);
                    case 'b' -> sb.append('\b');
                    case 'f' -> sb.append('\f');
                    case 'n' -> sb.append('\n');
                    case 'r' -> sb.append('\r');
                    case 't' -> sb.append('\t');
                    case 'u' -> sb.append(hex4());
                    default -> {
                        pos--;
                        throw error("bad escape '\\" + e + "'");
                    }
                }
            }
        }

        private char hex4() throws ParseException {
            if (pos + 4 > s.length()) {
                throw error("truncated \\u escape");
            }
            int v = 0;
            for (int i = 0; i < 4; i++) {
                char c = s.charAt(pos);
                // Not Character.digit: it also takes non-ASCII digits.
                int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
                        : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
                if (d < 0) {
                    throw error("bad hex digit in \\u escape");
                }
                v = v * 16 + d;
                pos++;
            }
            return (char) v;
        }

        private Object literal(String word, Object v) throws ParseException {
            if (!s.startsWith(word, pos)) {
                throw error("unexpected characters");
            }
            pos += word.length();
            return v;
        }

        private Long number() throws ParseException {
            int start = pos;
            if (s.charAt(pos) == '-') {
                pos++;
            }
            int digits = pos;
            while (pos < s.length() && s.charAt(pos) >= '0' && s.charAt(pos) <= '9') {
                pos++;
            }
            if (pos == digits) {
                throw error("expected a digit");
            }
            if (s.charAt(digits) == '0' && pos - digits > 1) {
                throw new ParseException("number with a leading zero at character " + start, start);
            }
            if (pos < s.length() && (s.charAt(pos) == '.' || s.charAt(pos) == 'e' || s.charAt(pos) == 'E')) {
                throw error("only integers are allowed");
            }
            try {
                return Long.parseLong(s, start, pos, 10);
            } catch (NumberFormatException e) {
                throw new ParseException("number " + s.substring(start, pos) + " overflows a long at character "
                        + start, start);
            }
        }
    }
}
