package dev.lowbit.io;

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
}
