/** Model files: ONNX initializers, safetensors and GGUF, read without trusting a header. */
module dev.lowbit.models {
    requires transitive dev.lowbit.bindings;
    requires com.google.protobuf;
    exports dev.lowbit.models;
}
