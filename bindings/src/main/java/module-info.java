/** Quantized formats as memory layouts and the lowbit file container. */
module dev.lowbit.bindings {
    exports dev.lowbit.format;
    exports dev.lowbit.io;
}
