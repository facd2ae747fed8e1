/**
 * lowbit's ground floor, pure Java with no native access: the quantized formats as memory layouts with their
 * reference pack and unpack ({@code dev.lowbit.format}), and the lowbit file container, JSON and the
 * memory-mapped reading of files ({@code dev.lowbit.format.io}).
 */
module dev.lowbit.format {
    exports dev.lowbit.format;
    exports dev.lowbit.format.io;
    // The container's plane rules and atomic writes, shared with the models module's safetensors files.
    exports dev.lowbit.format.io.internal to dev.lowbit.models;
}
