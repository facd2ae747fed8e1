package dev.lowbit.models.bert;

import dev.lowbit.models.BuiltinModels;

import java.util.ArrayList;
import java.util.List;

/**
 * Runs {@link BertEvaluation} against ONNX Runtime from the test class path (the {@code lowbit eval} command does
 * the same from the cli module). Arguments: method, group size, fidelity sentences, speed sentences, rounds.
 */
public final class EvalRun {
    private EvalRun() {
    }

    public static void main(String[] args) {
        String method = args.length > 0 ? args[0] : "rtn";
        int group = args.length > 1 ? Integer.parseInt(args[1]) : 32;
        int n = args.length > 2 ? Integer.parseInt(args[2]) : 2000;
        int speedN = args.length > 3 ? Integer.parseInt(args[3]) : 128;
        int rounds = args.length > 4 ? Integer.parseInt(args[4]) : 3;
        List<BertQuantization> qs = new ArrayList<>();
        qs.add(new BertQuantization(method, 8, group));
        qs.add(new BertQuantization(method, 4, group));
        new BertEvaluation(qs, n, speedN, new int[]{1, 2}, new int[]{1, 32}, rounds).run(
                EnglishSentences.europarl(n), WordPieceTokenizer.fromJson(BuiltinModels.miniLmTokenizerJson()),
                BertWeights.fromOnnx(BuiltinModels.miniLm(), 12),
                new BertEvaluation.Peer("onnxruntime fp32", t -> new OrtEncoder("onnxruntime fp32", BuiltinModels.MINILM_RESOURCE, t)),
                List.of(new BertEvaluation.Peer("onnxruntime int8", t -> new OrtEncoder("onnxruntime int8", "all-minilm-l6-v2-q.onnx", t))),
                System.out);
    }
}
