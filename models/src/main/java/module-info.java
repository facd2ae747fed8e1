/**
 * Model files (ONNX initializers and graph, safetensors, GGUF, read without trusting a header) and the BERT
 * encoder forward pass, fp32 and on the integer kernels.
 */
module dev.lowbit.models {
    requires transitive dev.lowbit.format;
    requires transitive dev.lowbit.algorithms;
    requires com.google.protobuf;
    exports dev.lowbit.models;
    exports dev.lowbit.models.bert;
}
