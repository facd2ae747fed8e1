package dev.lowbit.format.io;

import java.text.ParseException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * lowbit's JSON reader and writer. {@link #parse} reads the subset of JSON a safetensors header needs:
 * objects, arrays, strings, integers, booleans and null. {@link #parseDocument} reads any RFC 8259
 * document, such as a Hugging Face {@code tokenizer.json}: numbers with a fraction or an exponent too,
 * and deeper nesting. Parsed objects are unmodifiable {@code Map<String, Object>} in file order, arrays
 * unmodifiable {@code List<Object>}, integers {@code Long}, other numbers {@code Double}, null
 * {@link #NULL}. Both parsers are strict because their input is untrusted: no duplicate keys, no
 * leading zeros, no bad escapes, no trailing garbage, bounded nesting; {@link #parse} also refuses
 * fractions and exponents, so that every number it returns is exact. Public for the safetensors reader
 * and the tokenizer of the models module.
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

    /** The deepest nesting {@link #parse} accepts: the top-level value is at depth 1. */
    public static final int MAX_DEPTH = 8;

    /**
     * The deepest nesting {@link #parseDocument} accepts, the recursion limit of {@code serde_json}, which
     * reads {@code tokenizer.json} for Hugging Face's own tokenizers.
     */
    public static final int MAX_DOCUMENT_DEPTH = 128;

    /**
     * Compact JSON for maps, lists, strings, integral numbers, finite doubles (as {@link Double#toString} writes them,
     * which {@link #parseDocument} reads back exactly), booleans and null.
     */
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
            case Double d when Double.isFinite(d) -> sb.append(d);
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

    /**
     * Parses one JSON value followed only by whitespace, with integers only (no fraction or exponent) and
     * nesting to {@link #MAX_DEPTH}.
     */
    public static Object parse(String text) throws ParseException {
        return parse(text, MAX_DEPTH, false);
    }

    /**
     * Parses one JSON value followed only by whitespace, with nesting to {@link #MAX_DOCUMENT_DEPTH}. A number
     * with a fraction or an exponent is a {@code Double} (one that overflows a double is refused); an integer
     * is a {@code Long}, as in {@link #parse}.
     */
    public static Object parseDocument(String text) throws ParseException {
        return parse(text, MAX_DOCUMENT_DEPTH, true);
    }

    private static Object parse(String text, int maxDepth, boolean fractions) throws ParseException {
        Parser p = new Parser(text, maxDepth, fractions);
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
        private final int maxDepth;
        private final boolean fractions;
        private int pos;

        Parser(String s, int maxDepth, boolean fractions) {
            this.s = s;
            this.maxDepth = maxDepth;
            this.fractions = fractions;
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
            if (depth > maxDepth) {
                throw error("JSON nested deeper than " + maxDepth);
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

        private Object number() throws ParseException {
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
                if (!fractions) {
                    throw error("only integers are allowed");
                }
                return fraction(start);
            }
            try {
                return Long.parseLong(s, start, pos, 10);
            } catch (NumberFormatException e) {
                throw new ParseException("number " + s.substring(start, pos) + " overflows a long at character "
                        + start, start);
            }
        }

        /** The rest of a number from its fraction or exponent on ({@code pos} is at '.', 'e' or 'E'). */
        private Double fraction(int start) throws ParseException {
            if (s.charAt(pos) == '.') {
                pos++;
                digits();
            }
            if (pos < s.length() && (s.charAt(pos) == 'e' || s.charAt(pos) == 'E')) {
                pos++;
                if (pos < s.length() && (s.charAt(pos) == '+' || s.charAt(pos) == '-')) {
                    pos++;
                }
                digits();
            }
            double v = Double.parseDouble(s.substring(start, pos));
            if (Double.isInfinite(v)) {
                throw new ParseException("number " + s.substring(start, pos) + " overflows a double at character "
                        + start, start);
            }
            return v;
        }

        /** One or more ASCII digits. */
        private void digits() throws ParseException {
            int from = pos;
            while (pos < s.length() && s.charAt(pos) >= '0' && s.charAt(pos) <= '9') {
                pos++;
            }
            if (pos == from) {
                throw error("expected a digit");
            }
        }
    }
}
