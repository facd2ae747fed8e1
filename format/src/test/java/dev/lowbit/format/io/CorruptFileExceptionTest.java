package dev.lowbit.format.io;

import org.junit.jupiter.api.Test;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;

class CorruptFileExceptionTest {
    @Test
    void aMessageIsOneLineWhateverNameTheFileHolds() {
        CorruptFileException e = new CorruptFileException(Path.of("m.gguf"), "two tensors are named 'a\nb\r\tc\u001b[31m\u2028'");
        assertEquals("m.gguf: two tensors are named 'a\\nb\\r\\tc\\u001b[31m\\u2028'", e.getMessage());
        Throwable cause = new IllegalStateException("x");
        CorruptFileException withCause = new CorruptFileException(Path.of("m.gguf"), "bad\u0000", cause);
        assertEquals("m.gguf: bad\\u0000", withCause.getMessage());
        assertSame(cause, withCause.getCause());
    }

    @Test
    void aMessageWithoutControlCharactersIsKeptAsItIs() {
        String m = "tensor 'blk.0.ffn_up' dims [64, 3] need 192 bytes; unicode é中😀 stays";
        assertEquals("w.safetensors: " + m, new CorruptFileException(Path.of("w.safetensors"), m).getMessage());
    }
}
