package dev.lowbit.models.bert;

import ai.djl.huggingface.tokenizers.Encoding;
import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import dev.lowbit.models.BuiltinModels;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * The WordPiece tokenizer against Hugging Face's own (the Rust {@code tokenizers} crate through DJL) reading the
 * same tokenizer.json, on edge cases and on 2,000 Europarl sentences; and a few ids checked by hand in the vocabulary.
 */
class WordPieceTokenizerTest {
    private static WordPieceTokenizer tok;
    private static HuggingFaceTokenizer rust;

    @BeforeAll
    static void load() throws IOException {
        String json = BuiltinModels.miniLmTokenizerJson();
        tok = WordPieceTokenizer.fromJson(json);
        rust = HuggingFaceTokenizer.newInstance(new ByteArrayInputStream(json.getBytes(StandardCharsets.UTF_8)),
                Map.of("padding", "false", "truncation", "true", "maxLength", String.valueOf(tok.maxLength())));
    }

    @AfterAll
    static void close() {
        rust.close();
    }

    private static int[] reference(String text) {
        Encoding e = rust.encode(text);
        return Arrays.stream(e.getIds()).mapToInt(Math::toIntExact).toArray();
    }

    static List<String> edgeCases() {
        return List.of(
                "Hello, world!",
                "unaffable",
                "The naïve café owner's résumé — déjà vu?",
                "ÅNGSTRÖM Ελληνικά ΣΟΦΟΣ İstanbul straße ǅ",
                "qwxzqwxz blorptastic zzzzzzzzzzzzqqq",
                "a" + "b".repeat(120),
                "x".repeat(99) + " " + "y".repeat(101),
                "\u0000ctrl\u0001\u00ADsoft\u200Bhyphen\uFFFD tab\tnew\nline\r\u00A0nbsp\u3000ideo",
                "东京 is 東京 and 서울 is Seoul; ｆｕｌｌ－ｗｉｄｔｈ",
                "$100 + 5% = <tag> ~tilde~ `quote` ^caret| {brace} [bracket] \"dq\" 'sq' @home #1 & *",
                "€20, £5, ¥3, ©2024, ™, °C, § 3, ¶, « guillemets », „low“, ‘single’, …ellipsis",
                "emoji 🙂🚀 and 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 math",
                "",
                "   ",
                "e.g. U.S.A. i.e. Mr. Smith's 3.14 1,000,000 well-known self-evident",
                "word ".repeat(200));
    }

    @ParameterizedTest
    @MethodSource("edgeCases")
    void matchesHuggingFaceOnEdgeCases(String text) {
        assertArrayEquals(reference(text), tok.encode(text), () -> "'" + text + "': " + tok.tokenize(text));
    }

    @Test
    void matchesHuggingFaceOnEuroparl() {
        List<String> all = Sentences.english(2000);
        int tokens = 0;
        for (String s : all) {
            int[] ids = tok.encode(s);
            assertArrayEquals(reference(s), ids, () -> "'" + s + "': " + tok.tokenize(s));
            tokens += ids.length;
        }
        System.out.println(all.size() + " Europarl sentences, " + tokens + " tokens: the same ids as Hugging Face's tokenizer");
    }

    @Test
    void knownIds() {
        // BERT's uncased vocabulary: [CLS] 101, [SEP] 102, [UNK] 100; "unaffable" is the WordPiece paper's example.
        assertArrayEquals(new int[]{101, 7592, 1010, 2088, 999, 102}, tok.encode("Hello, world!"));
        assertEquals(List.of("[CLS]", "una", "##ffa", "##ble", "[SEP]"), tok.tokenize("unaffable"));
        assertEquals(List.of("[CLS]", "naive", "cafe", "[SEP]"), tok.tokenize("Naïve CAFÉ"));
        assertEquals(List.of("[CLS]", "[UNK]", "[SEP]"), tok.tokenize("🙂"));
        assertEquals(List.of("[CLS]", "[UNK]", "[SEP]"), tok.tokenize("a".repeat(101)));
        assertEquals(List.of("[CLS]", "[SEP]"), tok.tokenize(" \t\n"));
    }

    @Test
    void truncatesToMaxLength() {
        assertEquals(128, tok.maxLength());
        int[] ids = tok.encode("word ".repeat(500));
        assertEquals(128, ids.length);
        assertEquals(101, ids[0]);
        assertEquals(102, ids[127]);
        assertEquals(2773, ids[126]);
    }

    @Test
    void refusesOtherTokenizers() {
        assertThrows(IllegalArgumentException.class, () -> WordPieceTokenizer.fromJson("{\"model\":{\"type\":\"BPE\"}}"));
        assertThrows(IllegalArgumentException.class, () -> WordPieceTokenizer.fromJson("{\"model\": [1, 2"));
    }

    @Test
    void readsNullsFractionsAndEscapes() {
        // JSON null is "not set" (strip_accents then follows lowercase; no truncation means 512); numbers with a
        // fraction elsewhere in the file are read and ignored; unicode escapes in keys are decoded.
        String json = """
                {"version": "1.0", "truncation": null, "padding": null, "added_tokens": [],
                 "normalizer": {"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true,
                                "strip_accents": null, "lowercase": true},
                 "pre_tokenizer": {"type": "BertPreTokenizer"},
                 "post_processor": {"type": "Sample", "weights": [0.25, -1.5e-3, 2E+2]},
                 "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                           "max_input_chars_per_word": 100, "dropout": 0.1,
                           "vocab": {"[UNK]": 0, "[CLS]": 1, "[SEP]": 2, "hello": 3, "##s": 4, "cafe": 5, "\\u00e9t\\u00e9": 6}}}
                """;
        WordPieceTokenizer t = WordPieceTokenizer.fromJson(json);
        assertEquals(512, t.maxLength());
        assertEquals(7, t.vocabSize());
        assertEquals("\u00e9t\u00e9", t.token(6));
        assertEquals(List.of("[CLS]", "hello", "##s", "cafe", "[UNK]", "[SEP]"), t.tokenize("Hellos Café été"));
    }

    @Test
    void refusesWhatIsNotAJsonObject() {
        for (String json : List.of("", "[1, 2]", "\"model\"", "{\"model\": {}} x", "{\"model\": 01}",
                "{\"model\": {\"type\": \"WordPiece\"}, \"model\": {\"type\": \"WordPiece\"}}")) {
            assertThrows(IllegalArgumentException.class, () -> WordPieceTokenizer.fromJson(json), json);
        }
    }
}
