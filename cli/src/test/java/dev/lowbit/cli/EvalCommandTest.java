package dev.lowbit.cli;

import org.junit.jupiter.api.Test;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static dev.lowbit.cli.CommandsTest.lowbit;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code lowbit eval} on a few sentences: every encoder in both tables, lowbit fp32 equal to ONNX Runtime fp32. */
class EvalCommandTest {

    private static double column(String out, String row, int col) {
        Matcher m = Pattern.compile("(?m)^" + Pattern.quote(row) + "\\s+(\\S+)\\s+(\\S+)\\s+(\\S+)$").matcher(out);
        assertTrue(m.find(), "no fidelity row '" + row + "' in:\n" + out);
        return Double.parseDouble(m.group(col));
    }

    @Test
    void smallRun() {
        CommandsTest.Ran r = lowbit("eval", "--sentences", "40", "--speed-sentences", "4", "--rounds", "1",
                "--threads", "1", "--batches", "4", "--bits", "8,4", "--method", "rtn-sym,mse", "--group", "row,32");
        assertEquals(0, r.status(), r.err());
        String out = r.out();
        assertTrue(column(out, "lowbit fp32", 1) >= 0.99999, out);
        assertTrue(column(out, "lowbit fp32", 3) >= 0.99999, out);
        assertTrue(column(out, "lowbit rtn-sym W8A8 per-row", 1) > 0.99, out);
        assertTrue(column(out, "lowbit mse W4A8 g32", 1) > 0.9, out);
        assertTrue(column(out, "onnxruntime int8", 1) > 0.97, out);
        // Every phase has its progress line on stderr (one plain line each when stderr is not a terminal).
        for (String phase : new String[]{"loading all-MiniLM-L6-v2, ONNX Runtime's int8 model and 40 Europarl sentences",
                "loading onnxruntime fp32 (1 thread)", "fidelity of onnxruntime fp32: 40 sentences",
                "quantizing lowbit rtn-sym W8A8 per-row (1 thread)", "fidelity of lowbit mse W4A8 g32: 40 sentences",
                "speed t1 b4: 5 encoders, 2 passes of 4 sentences"}) {
            assertTrue(Pattern.compile("(?m)^" + Pattern.quote(phase) + ": done in [0-9.]+ s$").matcher(r.err()).find(),
                    "no progress line for " + phase + " in:\n" + r.err());
        }
        for (String enc : new String[]{"onnxruntime fp32", "onnxruntime int8", "lowbit fp32", "lowbit rtn-sym W8A8 per-row",
                "lowbit mse W4A8 g32"}) {
            assertTrue(Pattern.compile("(?m)^" + Pattern.quote(enc) + "\\s+[0-9.]+ s/s\\s+[0-9]+ t/s$").matcher(out).find(),
                    "no speed row for " + enc + " in:\n" + out);
        }
    }

    @Test
    void badOptions() {
        assertEquals(2, lowbit("eval", "--method", "nf4").status());
        assertEquals(2, lowbit("eval", "--bits", "2").status());
        assertEquals(2, lowbit("eval", "--bits", "8,4", "--method", "rtn,mse,hqq").status());
        assertEquals(2, lowbit("eval", "--bits", "8,4", "--group", "row,32,64").status());
        assertEquals(2, lowbit("eval", "--group", "16").status());
        assertEquals(2, lowbit("eval", "--threads", "0").status());
        assertEquals(2, lowbit("eval", "--model", "bert-large").status());
    }
}
