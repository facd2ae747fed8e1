package dev.lowbit.models.bert;

import dev.lowbit.format.io.Json;

import java.text.Normalizer;
import java.text.ParseException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The BERT tokenizer that a Hugging Face {@code tokenizer.json} describes: its {@code BertNormalizer}, its
 * {@code BertPreTokenizer}, WordPiece over its vocabulary, and {@code [CLS] ... [SEP]} around a single
 * sequence, truncated to the file's {@code max_length}. Each step follows the Rust {@code tokenizers} crate:
 *
 * <ul>
 *   <li>clean text: drop U+0000, U+FFFD and "other" characters (Cc, Cf, Cn, Co, Cs) except tab, newline and
 *       carriage return, then turn every white-space character into a space;</li>
 *   <li>put spaces around CJK ideographs;</li>
 *   <li>strip accents (NFD, then drop non-spacing marks) when the file says so, or when it says nothing and
 *       lowercases;</li>
 *   <li>lowercase character by character (so a final sigma stays σ, as in Rust);</li>
 *   <li>split on white space, and make each punctuation character (ASCII punctuation or Unicode category P)
 *       a word of its own;</li>
 *   <li>WordPiece: the longest vocabulary entry from the left, continuations prefixed {@code ##}; a word with no
 *       split, or longer than {@code max_input_chars_per_word} characters, becomes {@code [UNK]}.</li>
 * </ul>
 */
public final class WordPieceTokenizer {
    private final Map<String, Integer> vocab;
    private final String[] tokens;
    private final int unkId;
    private final int clsId;
    private final int sepId;
    private final String prefix;
    private final int maxWordChars;
    private final int maxLength;
    private final boolean cleanText;
    private final boolean chineseChars;
    private final boolean stripAccents;
    private final boolean lowercase;

    private WordPieceTokenizer(Map<String, Integer> vocab, String unk, String prefix, int maxWordChars, int maxLength,
                               boolean cleanText, boolean chineseChars, boolean stripAccents, boolean lowercase) {
        this.vocab = vocab;
        int size = vocab.values().stream().mapToInt(Integer::intValue).max().orElse(-1) + 1;
        this.tokens = new String[size];
        vocab.forEach((t, id) -> tokens[id] = t);
        this.unkId = id(vocab, unk);
        this.clsId = id(vocab, "[CLS]");
        this.sepId = id(vocab, "[SEP]");
        this.prefix = prefix;
        this.maxWordChars = maxWordChars;
        this.maxLength = maxLength;
        this.cleanText = cleanText;
        this.chineseChars = chineseChars;
        this.stripAccents = stripAccents;
        this.lowercase = lowercase;
    }

    private static int id(Map<String, Integer> vocab, String token) {
        Integer id = vocab.get(token);
        if (id == null) {
            throw new IllegalArgumentException("the vocabulary has no " + token + " token");
        }
        return id;
    }

    /**
     * The tokenizer of a {@code tokenizer.json}, read with {@link Json#parseDocument}.
     *
     * @throws IllegalArgumentException if the file is not JSON, or not a BERT WordPiece tokenizer
     */
    @SuppressWarnings("unchecked")
    public static WordPieceTokenizer fromJson(String json) {
        Object parsed;
        try {
            parsed = Json.parseDocument(json);
        } catch (ParseException e) {
            throw new IllegalArgumentException("tokenizer.json is not valid JSON: " + e.getMessage(), e);
        }
        if (!(parsed instanceof Map<?, ?>)) {
            throw new IllegalArgumentException("tokenizer.json is not a JSON object");
        }
        Map<String, Object> root = (Map<String, Object>) parsed;
        Map<String, Object> model = map(root, "model");
        if (!"WordPiece".equals(get(model, "type"))) {
            throw new IllegalArgumentException("model.type must be WordPiece, got " + get(model, "type"));
        }
        Map<String, Object> pre = map(root, "pre_tokenizer");
        if (!"BertPreTokenizer".equals(get(pre, "type"))) {
            throw new IllegalArgumentException("pre_tokenizer.type must be BertPreTokenizer, got " + get(pre, "type"));
        }
        Map<String, Object> norm = map(root, "normalizer");
        if (!"BertNormalizer".equals(get(norm, "type"))) {
            throw new IllegalArgumentException("normalizer.type must be BertNormalizer, got " + get(norm, "type"));
        }
        Map<String, Integer> vocab = new HashMap<>();
        map(model, "vocab").forEach((k, v) -> vocab.put(k, ((Number) orNull(v)).intValue()));
        boolean lower = flag(norm, "lowercase", true);
        Object strip = get(norm, "strip_accents");
        Object trunc = get(root, "truncation");
        int maxLength = trunc instanceof Map<?, ?> t && t.get("max_length") instanceof Number n ? n.intValue() : 512;
        if (maxLength < 2) {
            throw new IllegalArgumentException("truncation.max_length must leave room for [CLS] and [SEP], got " + maxLength);
        }
        return new WordPieceTokenizer(vocab, (String) get(model, "unk_token", "[UNK]"),
                (String) get(model, "continuing_subword_prefix", "##"),
                ((Number) get(model, "max_input_chars_per_word", 100L)).intValue(), maxLength,
                flag(norm, "clean_text", true), flag(norm, "handle_chinese_chars", true),
                strip == null ? lower : (Boolean) strip, lower);
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> map(Map<String, Object> m, String key) {
        if (!(m.get(key) instanceof Map<?, ?> v)) {
            throw new IllegalArgumentException("tokenizer.json has no object '" + key + "'");
        }
        return (Map<String, Object>) v;
    }

    /** JSON null as Java null. */
    private static Object orNull(Object v) {
        return v == Json.NULL ? null : v;
    }

    /** The value of {@code key}; null if it is missing or JSON null. */
    private static Object get(Map<String, Object> m, String key) {
        return orNull(m.get(key));
    }

    /** The value of {@code key}; {@code dflt} if it is missing, null if it is JSON null. */
    private static Object get(Map<String, Object> m, String key, Object dflt) {
        return m.containsKey(key) ? get(m, key) : dflt;
    }

    private static boolean flag(Map<String, Object> m, String key, boolean dflt) {
        Object v = get(m, key);
        return v == null ? dflt : (Boolean) v;
    }

    /** The longest sequence {@link #encode} returns, {@code [CLS]} and {@code [SEP]} included. */
    public int maxLength() {
        return maxLength;
    }

    public int vocabSize() {
        return tokens.length;
    }

    /** The vocabulary entry of {@code id}. */
    public String token(int id) {
        return tokens[id];
    }

    /** {@code [CLS]}, the WordPiece ids of {@code text} (the first {@code maxLength - 2}), {@code [SEP]}. */
    public int[] encode(String text) {
        List<Integer> ids = new ArrayList<>();
        ids.add(clsId);
        for (String word : words(text)) {
            wordPiece(word, ids);
            if (ids.size() > maxLength - 1) {
                break;
            }
        }
        int n = Math.min(ids.size(), maxLength - 1);
        int[] out = new int[n + 1];
        for (int i = 0; i < n; i++) {
            out[i] = ids.get(i);
        }
        out[n] = sepId;
        return out;
    }

    /** The tokens of {@link #encode}, as strings. */
    public List<String> tokenize(String text) {
        List<String> out = new ArrayList<>();
        for (int id : encode(text)) {
            out.add(tokens[id]);
        }
        return out;
    }

    /** The text after the normalizer and the pre-tokenizer: the words that WordPiece splits. */
    public List<String> words(String text) {
        String s = normalize(text);
        List<String> words = new ArrayList<>();
        StringBuilder word = new StringBuilder();
        for (int i = 0; i < s.length(); ) {
            int c = s.codePointAt(i);
            i += Character.charCount(c);
            if (isWhitespace(c)) {
                flush(word, words);
            } else if (isPunctuation(c)) {
                flush(word, words);
                words.add(Character.toString(c));
            } else {
                word.appendCodePoint(c);
            }
        }
        flush(word, words);
        return words;
    }

    private static void flush(StringBuilder word, List<String> words) {
        if (!word.isEmpty()) {
            words.add(word.toString());
            word.setLength(0);
        }
    }

    String normalize(String text) {
        StringBuilder b = new StringBuilder(text.length() + 8);
        for (int i = 0; i < text.length(); ) {
            int c = text.codePointAt(i);
            i += Character.charCount(c);
            if (cleanText) {
                if (c == 0 || c == 0xFFFD || isControl(c)) {
                    continue;
                }
                if (isWhitespace(c)) {
                    c = ' ';
                }
            }
            if (chineseChars && isCjk(c)) {
                b.append(' ').appendCodePoint(c).append(' ');
            } else {
                b.appendCodePoint(c);
            }
        }
        String s = b.toString();
        if (stripAccents) {
            String nfd = Normalizer.normalize(s, Normalizer.Form.NFD);
            b.setLength(0);
            nfd.codePoints().filter(c -> Character.getType(c) != Character.NON_SPACING_MARK).forEach(b::appendCodePoint);
            s = b.toString();
        }
        if (lowercase) {
            b.setLength(0);
            // One character at a time: Rust's char::to_lowercase has no final-sigma rule.
            s.codePoints().forEach(c -> b.append(Character.toString(c).toLowerCase(Locale.ROOT)));
            s = b.toString();
        }
        return s;
    }

    private void wordPiece(String word, List<Integer> out) {
        int chars = word.codePointCount(0, word.length());
        if (chars > maxWordChars) {
            out.add(unkId);
            return;
        }
        int mark = out.size();
        int start = 0;
        while (start < word.length()) {
            int end = word.length();
            Integer found = null;
            while (start < end) {
                String sub = word.substring(start, end);
                found = vocab.get(start > 0 ? prefix + sub : sub);
                if (found != null) {
                    break;
                }
                end = word.offsetByCodePoints(end, -1);
            }
            if (found == null) {
                out.subList(mark, out.size()).clear();
                out.add(unkId);
                return;
            }
            out.add(found);
            start = end;
        }
    }

    /** Rust's {@code char::is_whitespace} (the Unicode White_Space property). */
    static boolean isWhitespace(int c) {
        return (c >= 0x09 && c <= 0x0D) || c == ' ' || c == 0x85 || c == 0xA0 || c == 0x1680
                || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F
                || c == 0x3000;
    }

    /** Unicode "other" (Cc, Cf, Cn, Co, Cs), except tab, newline and carriage return. */
    private static boolean isControl(int c) {
        if (c == '\t' || c == '\n' || c == '\r') {
            return false;
        }
        int t = Character.getType(c);
        return t == Character.CONTROL || t == Character.FORMAT || t == Character.UNASSIGNED
                || t == Character.PRIVATE_USE || t == Character.SURROGATE;
    }

    static boolean isPunctuation(int c) {
        if (c < 0x80) {
            return (c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126);
        }
        return switch (Character.getType(c)) {
            case Character.CONNECTOR_PUNCTUATION, Character.DASH_PUNCTUATION, Character.START_PUNCTUATION,
                 Character.END_PUNCTUATION, Character.INITIAL_QUOTE_PUNCTUATION, Character.FINAL_QUOTE_PUNCTUATION,
                 Character.OTHER_PUNCTUATION -> true;
            default -> false;
        };
    }

    private static boolean isCjk(int c) {
        return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF)
                || (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF)
                || (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
    }
}
