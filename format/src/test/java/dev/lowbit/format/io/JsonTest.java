package dev.lowbit.format.io;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.text.ParseException;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;

class JsonTest {

    @Test
    void parsesTheSubset() throws ParseException {
        Object v = Json.parse(" {\"a\" : [1, -2, 0, -0, 9223372036854775807, -9223372036854775808],\n"
                + "\"b\":{\"c\":true,\"d\":false,\"e\":null},\t\"s\":\"x\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\ud83d\\ude00\","
                + "\"\":[], \"o\":{}}   ");
        Map<?, ?> m = (Map<?, ?>) v;
        assertEquals(List.of("a", "b", "s", "", "o"), List.copyOf(m.keySet()), "keys keep file order");
        assertEquals(List.of(1L, -2L, 0L, 0L, Long.MAX_VALUE, Long.MIN_VALUE), m.get("a"));
        Map<?, ?> b = (Map<?, ?>) m.get("b");
        assertEquals(true, b.get("c"));
        assertEquals(false, b.get("d"));
        assertSame(Json.NULL, b.get("e"));
        assertEquals("x\"\\/\b\f\n\r\t\u00e9\ud83d\ude00", m.get("s"));
        assertEquals(List.of(), m.get(""));
        assertEquals(Map.of(), m.get("o"));
    }

    @Test
    void writeThenParseIsIdentity() throws ParseException {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("quote\"back\\slash", "ctl\u0000\u0001\u001f\n\t\r del\u007f \u00fc \ud83d\ude00");
        m.put("n", List.of(0L, -1L, Long.MAX_VALUE, Long.MIN_VALUE));
        m.put("nested", Map.of("t", true));
        m.put("null", Json.NULL);
        String text = Json.write(m);
        assertEquals(m, Json.parse(text));
        assertEquals(text, Json.write(Json.parse(text)));
    }

    @Test
    void finiteDoublesRoundtripThroughTheDocumentParser() throws ParseException {
        List<Object> v = List.of(0.002, -1.5e-5, 1e300, (double) 0.1f);
        assertEquals(v, Json.parseDocument(Json.write(v)));
        assertThrows(IllegalArgumentException.class, () -> Json.write(List.of(Double.NaN)));
    }

    @ParameterizedTest
    @ValueSource(strings = {
        "", " ", "{", "}", "{\"a\":1,}", "[1,]", "[1 2]", "{\"a\" 1}", "{a:1}", "{\"a\":1}x", "{} {}", "1 1",
        "{\"a\":1,\"a\":2}", "[[[[[[[[[1]]]]]]]]]", "{\"a\":{\"b\":{\"c\":{\"d\":{\"e\":{\"f\":{\"g\":{\"h\":{}}}}}}}}}",
        "9223372036854775808", "-9223372036854775809", "1.0", "1e3", "1E3", "01", "-01", "-", "--1", "+1",
        "\"abc", "\"a\u0001\"", "\"\\x\"", "\"\\u12\"", "\"\\u12g4\"", "\"\\u\u0661234\"", "tru", "nul", "True", "NaN",
        "'a'", "\"\\",
    })
    void refusesWhatIsNotStrictJson(String text) {
        assertThrows(ParseException.class, () -> Json.parse(text), text);
    }

    @Test
    void depthEightIsAllowed() throws ParseException {
        assertEquals(1L, ((List<?>) ((List<?>) ((List<?>) ((List<?>) ((List<?>) ((List<?>) ((List<?>) ((List<?>)
                Json.parse("[[[[[[[[1]]]]]]]]")).get(0)).get(0)).get(0)).get(0)).get(0)).get(0)).get(0)).get(0));
    }

    @Test
    void documentsHaveFractionsAndExponents() throws ParseException {
        assertEquals(List.of(0.5, -125.0, 0.001, 0.0, -0.0, 2.5e-7, 1e308, 4.9e-324, 0.0, 3L, -0L),
                Json.parseDocument("[0.5, -1.25e2, 1E-3, 0e0, -0.0, 25E-8, 1e+308, 4.9e-324, 1e-400, 3, -0]"));
        Map<?, ?> m = (Map<?, ?>) Json.parseDocument("{\"f\":1.5,\"i\":7,\"n\":null,\"s\":\"\\u00e9\"}");
        assertEquals(1.5, m.get("f"));
        assertEquals(7L, m.get("i"));
        assertSame(Json.NULL, m.get("n"));
        assertEquals("\u00e9", m.get("s"));
    }

    @ParameterizedTest
    @ValueSource(strings = {
        "", " ", "{", "}", "{\"a\":1,}", "[1,]", "[1 2]", "{\"a\" 1}", "{a:1}", "{\"a\":1}x", "{} {}", "1 1",
        "{\"a\":1,\"a\":2}", "{\"a\":1.0,\"b\":{},\"a\":2.5}",
        "9223372036854775808", "-9223372036854775809", "01", "-01", "-", "--1", "+1",
        "\"abc", "\"a\u0001\"", "\"\\x\"", "\"\\u12\"", "\"\\u12g4\"", "\"\\u\u0661234\"", "tru", "nul", "True", "NaN",
        "'a'", "\"\\",
        "1.", ".5", "-.5", "1.e3", "1e", "1E+", "1e-", "1.5.2", "1e3e3", "1e3.5", "01.5", "00.5", "-01e2", "1.5x",
        "0x10", "Infinity", "-Infinity", "1e309", "-1e309", "1.7976931348623159e308", "[1.5,]", "\u0661.5",
    })
    void documentsRefuseWhatIsNotJson(String text) {
        assertThrows(ParseException.class, () -> Json.parseDocument(text), text);
    }

    @Test
    void theHeaderSubsetStillRefusesFractions() {
        for (String text : List.of("0.5", "1e3", "[1, 2.0]", "{\"a\":-1E-2}")) {
            assertThrows(ParseException.class, () -> Json.parse(text), text);
        }
    }

    @Test
    void documentsNestTo128() throws ParseException {
        Object v = Json.parseDocument("[".repeat(Json.MAX_DOCUMENT_DEPTH) + "1.5" + "]".repeat(Json.MAX_DOCUMENT_DEPTH));
        for (int i = 0; i < Json.MAX_DOCUMENT_DEPTH; i++) {
            v = ((List<?>) v).getFirst();
        }
        assertEquals(1.5, v);
        int deeper = Json.MAX_DOCUMENT_DEPTH + 1;
        assertThrows(ParseException.class, () -> Json.parseDocument("[".repeat(deeper) + "]".repeat(deeper)));
        assertThrows(ParseException.class, () -> Json.parseDocument("{\"a\":".repeat(deeper) + "1" + "}".repeat(deeper)));
        assertThrows(ParseException.class, () -> Json.parseDocument("[".repeat(100_000)), "no stack overflow");
    }

    @Test
    void documentsMayBeLarge() throws ParseException {
        // A vocabulary the size of BERT's: 30,522 keys in file order.
        StringBuilder sb = new StringBuilder("{\"vocab\":{");
        for (int i = 0; i < 30_522; i++) {
            sb.append(i == 0 ? "" : ", ").append("\"##w").append(i).append("\": ").append(i);
        }
        Map<?, ?> vocab = (Map<?, ?>) ((Map<?, ?>) Json.parseDocument(sb.append("}}").toString())).get("vocab");
        assertEquals(30_522, vocab.size());
        assertEquals(30_521L, vocab.get("##w30521"));
        assertEquals("##w0", vocab.keySet().iterator().next());
    }
}
