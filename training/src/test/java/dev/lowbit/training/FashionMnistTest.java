package dev.lowbit.training;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.zip.GZIPOutputStream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** The Fashion-MNIST reader: the published split from Debian's package, and IDX files it must refuse. */
class FashionMnistTest {

    private static void assumeDataset() {
        assumeTrue(FashionMnist.available(), "Fashion-MNIST is not in " + FashionMnist.dir()
                + " (apt-get install dataset-fashion-mnist)");
    }

    private static void checkSplit(FashionMnist.Split s, int size) {
        assertEquals(size, s.size());
        assertEquals(size * FashionMnist.PIXELS, s.images().length);
        assertEquals(size, s.labels().length);
        int[] perClass = new int[FashionMnist.CLASSES];
        for (int i = 0; i < size; i++) {
            int y = s.label(i);
            assertTrue(y >= 0 && y < FashionMnist.CLASSES, "label " + i + " is " + y);
            perClass[y]++;
        }
        int[] expected = new int[FashionMnist.CLASSES];
        Arrays.fill(expected, size / FashionMnist.CLASSES);
        assertArrayEquals(expected, perClass, "images per class");
        float min = Float.POSITIVE_INFINITY;
        float max = Float.NEGATIVE_INFINITY;
        for (float v : s.images()) {
            min = Math.min(min, v);
            max = Math.max(max, v);
        }
        assertEquals(0f, min);
        assertEquals(1f, max);
    }

    @Test
    void testSplitIsTenThousandImagesAThousandPerClass() {
        assumeDataset();
        checkSplit(FashionMnist.test(), FashionMnist.TEST_SIZE);
    }

    @Test
    void trainSplitIsSixtyThousandImagesSixThousandPerClass() {
        assumeDataset();
        checkSplit(FashionMnist.train(), FashionMnist.TRAIN_SIZE);
    }

    @Test
    void aMissingDatasetNamesThePackage(@TempDir Path dir) {
        String old = System.getProperty(FashionMnist.DIR_PROPERTY);
        System.setProperty(FashionMnist.DIR_PROPERTY, dir.toString());
        try {
            assertFalse(FashionMnist.available());
            IllegalStateException e = assertThrows(IllegalStateException.class, FashionMnist::test);
            assertTrue(e.getMessage().contains("apt-get install dataset-fashion-mnist"), e.getMessage());
            assertOneLine(e.getMessage());
        } finally {
            if (old == null) {
                System.clearProperty(FashionMnist.DIR_PROPERTY);
            } else {
                System.setProperty(FashionMnist.DIR_PROPERTY, old);
            }
        }
    }

    // ------------------------------------------------------------------ IDX files written here

    private static byte[] idx(int magic, int[] dims, byte[] body) {
        ByteBuffer b = ByteBuffer.allocate(4 + 4 * dims.length + body.length);
        b.putInt(magic);
        for (int d : dims) {
            b.putInt(d);
        }
        b.put(body);
        return b.array();
    }

    private static Path write(Path dir, String name, byte[] bytes, boolean gzip) throws IOException {
        Path p = dir.resolve(name + (gzip ? ".gz" : ""));
        try (OutputStream out = gzip ? new GZIPOutputStream(Files.newOutputStream(p)) : Files.newOutputStream(p)) {
            out.write(bytes);
        }
        return p;
    }

    private static void assertOneLine(String message) {
        assertFalse(message.contains("\n"), "one line: " + message);
    }

    private static void assertRefused(Runnable read, String words) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, read::run);
        assertTrue(e.getMessage().contains(words), e.getMessage());
        assertOneLine(e.getMessage());
    }

    @Test
    void plainAndGzippedFilesReadAlike(@TempDir Path dir) throws IOException {
        byte[] pixels = new byte[2 * FashionMnist.PIXELS];
        for (int i = 0; i < pixels.length; i++) {
            pixels[i] = (byte) (i * 7);
        }
        byte[] images = idx(FashionMnist.IMAGES_MAGIC, new int[] {2, 28, 28}, pixels);
        float[] plain = FashionMnist.readImages(write(dir, "a", images, false));
        float[] gz = FashionMnist.readImages(write(dir, "b", images, true));
        assertArrayEquals(plain, gz);
        assertEquals((pixels[5] & 0xff) / 255f, plain[5]);
        byte[] labels = FashionMnist.readLabels(write(dir, "l", idx(FashionMnist.LABELS_MAGIC, new int[] {3},
                new byte[] {0, 9, 4}), true));
        assertArrayEquals(new byte[] {0, 9, 4}, labels);
    }

    @Test
    void truncatedFilesAreRefused(@TempDir Path dir) throws IOException {
        byte[] images = idx(FashionMnist.IMAGES_MAGIC, new int[] {3, 28, 28}, new byte[2 * FashionMnist.PIXELS + 10]);
        Path plain = write(dir, "img", images, false);
        Path gz = write(dir, "img", images, true);
        assertRefused(() -> FashionMnist.readImages(plain), "truncated");
        assertRefused(() -> FashionMnist.readImages(gz), "truncated");
        Path labels = write(dir, "lab", idx(FashionMnist.LABELS_MAGIC, new int[] {5}, new byte[4]), false);
        assertRefused(() -> FashionMnist.readLabels(labels), "truncated");
        Path header = write(dir, "short", new byte[] {0, 0, 8, 3, 0, 0}, false);
        assertRefused(() -> FashionMnist.readImages(header), "shorter than its 16-byte IDX header");
        // a gzip stream cut short
        byte[] whole = Files.readAllBytes(gz);
        Path cut = dir.resolve("cut.gz");
        Files.write(cut, Arrays.copyOf(whole, whole.length / 2));
        assertRefused(() -> FashionMnist.readImages(cut), "not a readable gzip file");
    }

    @Test
    void corruptedHeadersAndLabelsAreRefused(@TempDir Path dir) throws IOException {
        Path labelsAsImages = write(dir, "x", idx(FashionMnist.LABELS_MAGIC, new int[] {1, 28, 28},
                new byte[FashionMnist.PIXELS]), false);
        assertRefused(() -> FashionMnist.readImages(labelsAsImages), "not the IDX images magic 0x803");
        Path wrongDims = write(dir, "d", idx(FashionMnist.IMAGES_MAGIC, new int[] {1, 32, 32}, new byte[1024]), false);
        assertRefused(() -> FashionMnist.readImages(wrongDims), "not 28×28");
        Path huge = write(dir, "h", idx(FashionMnist.IMAGES_MAGIC, new int[] {-1, 28, 28}, new byte[0]), false);
        assertRefused(() -> FashionMnist.readImages(huge), "more than an array holds");
        Path extra = write(dir, "e", idx(FashionMnist.LABELS_MAGIC, new int[] {2}, new byte[] {1, 2, 3}), false);
        assertRefused(() -> FashionMnist.readLabels(extra), "trailing bytes");
        Path badLabel = write(dir, "b", idx(FashionMnist.LABELS_MAGIC, new int[] {2}, new byte[] {1, 10}), false);
        assertRefused(() -> FashionMnist.readLabels(badLabel), "label 1 is 10, outside 0..9");
    }
}
