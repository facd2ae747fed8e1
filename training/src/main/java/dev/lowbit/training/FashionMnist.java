package dev.lowbit.training;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.zip.GZIPInputStream;

/**
 * Fashion-MNIST (Zalando, 28×28 grey images of 10 kinds of clothing) from the IDX files of Debian's
 * {@code dataset-fashion-mnist} package, {@code /usr/share/datasets/fashion-mnist}, or from the folder that the
 * system property {@code lowbit.fashionMnist.dir} names. The published split: 60,000 training and 10,000 test
 * images. Pixels become floats in [0, 1] ({@code byte / 255}); labels are 0..9.
 */
public final class FashionMnist {
    /** The package's folder. */
    public static final Path PACKAGE_DIR = Path.of("/usr/share/datasets/fashion-mnist");

    /** The system property that names another folder holding the four files. */
    public static final String DIR_PROPERTY = "lowbit.fashionMnist.dir";

    public static final int ROWS = 28;
    public static final int COLS = 28;
    public static final int PIXELS = ROWS * COLS;
    public static final int CLASSES = 10;
    public static final int TRAIN_SIZE = 60_000;
    public static final int TEST_SIZE = 10_000;

    static final int IMAGES_MAGIC = 0x803;
    static final int LABELS_MAGIC = 0x801;

    /** One split: {@code size} images of {@link #PIXELS} floats each, row-major, and their labels. */
    public record Split(float[] images, byte[] labels, int size) {
        /** Pixel {@code p} of image {@code i}. */
        public float pixel(int i, int p) {
            return images[i * PIXELS + p];
        }

        public int label(int i) {
            return labels[i];
        }
    }

    private FashionMnist() {
    }

    /** The folder read: the property's if set, else the package's. */
    public static Path dir() {
        String d = System.getProperty(DIR_PROPERTY);
        return d == null || d.isEmpty() ? PACKAGE_DIR : Path.of(d);
    }

    /** Whether the four files are in {@link #dir()} (plain or gzipped). */
    public static boolean available() {
        Path d = dir();
        for (String n : new String[] {"train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                "t10k-labels-idx1-ubyte"}) {
            if (find(d, n) == null) {
                return false;
            }
        }
        return true;
    }

    /** The 60,000 training images. */
    public static Split train() {
        return split("train", TRAIN_SIZE);
    }

    /** The 10,000 test images. */
    public static Split test() {
        return split("t10k", TEST_SIZE);
    }

    private static Split split(String prefix, int size) {
        Path d = dir();
        Path images = require(d, prefix + "-images-idx3-ubyte");
        Path labels = require(d, prefix + "-labels-idx1-ubyte");
        float[] x = readImages(images);
        byte[] y = readLabels(labels);
        if (x.length / PIXELS != size || y.length != size) {
            throw new IllegalStateException(images + " and " + labels + " hold " + x.length / PIXELS + " images and "
                    + y.length + " labels, not the published " + size);
        }
        return new Split(x, y, size);
    }

    private static Path require(Path d, String name) {
        Path p = find(d, name);
        if (p == null) {
            String how = d.equals(PACKAGE_DIR) ? "install Debian's package: apt-get install dataset-fashion-mnist"
                    : "or unset " + DIR_PROPERTY + " to read Debian's package (apt-get install dataset-fashion-mnist)";
            throw new IllegalStateException("Fashion-MNIST's " + name + "[.gz] is not in " + d + ": "
                    + (d.equals(PACKAGE_DIR) ? how : "put the four IDX files there, " + how));
        }
        return p;
    }

    private static Path find(Path d, String name) {
        Path gz = d.resolve(name + ".gz");
        if (Files.isRegularFile(gz)) {
            return gz;
        }
        Path plain = d.resolve(name);
        return Files.isRegularFile(plain) ? plain : null;
    }

    /** The images of an IDX file (magic 0x803, dimensions count × 28 × 28) as floats in [0, 1]. */
    public static float[] readImages(Path file) {
        byte[] b = read(file);
        int n = header(file, b, IMAGES_MAGIC, 3);
        int rows = readInt(b, 8);
        int cols = readInt(b, 12);
        if (rows != ROWS || cols != COLS) {
            throw new IllegalArgumentException(file + ": images are " + rows + "×" + cols + ", not 28×28");
        }
        long expected = 16L + (long) n * PIXELS;
        checkLength(file, b, expected, n + " images of 28×28");
        float[] x = new float[n * PIXELS];
        for (int i = 0; i < x.length; i++) {
            x[i] = (b[16 + i] & 0xff) / 255f;
        }
        return x;
    }

    /** The labels of an IDX file (magic 0x801), each checked to be 0..9. */
    public static byte[] readLabels(Path file) {
        byte[] b = read(file);
        int n = header(file, b, LABELS_MAGIC, 1);
        checkLength(file, b, 8L + n, n + " labels");
        byte[] y = new byte[n];
        for (int i = 0; i < n; i++) {
            int v = b[8 + i] & 0xff;
            if (v >= CLASSES) {
                throw new IllegalArgumentException(file + ": label " + i + " is " + v + ", outside 0..9");
            }
            y[i] = (byte) v;
        }
        return y;
    }

    /** Checks the magic and returns the first dimension (the item count). */
    private static int header(Path file, byte[] b, int magic, int dims) {
        int headerBytes = 4 + 4 * dims;
        if (b.length < headerBytes) {
            throw new IllegalArgumentException(file + " is " + b.length + " bytes, shorter than its " + headerBytes
                    + "-byte IDX header");
        }
        int m = readInt(b, 0);
        if (m != magic) {
            throw new IllegalArgumentException(file + " starts with magic 0x" + Integer.toHexString(m)
                    + ", not the IDX " + (magic == IMAGES_MAGIC ? "images" : "labels") + " magic 0x"
                    + Integer.toHexString(magic));
        }
        int n = readInt(b, 4);
        if (n < 0 || (dims == 3 && n > Integer.MAX_VALUE / PIXELS)) {
            throw new IllegalArgumentException(file + ": its header claims " + Integer.toUnsignedString(n)
                    + " items, more than an array holds");
        }
        return n;
    }

    private static void checkLength(Path file, byte[] b, long expected, String what) {
        if (b.length != expected) {
            throw new IllegalArgumentException(file + " is " + b.length + " bytes, but its header's " + what
                    + " need " + expected + (b.length < expected ? ": the file is truncated" : ": trailing bytes"));
        }
    }

    private static int readInt(byte[] b, int off) {
        return (b[off] & 0xff) << 24 | (b[off + 1] & 0xff) << 16 | (b[off + 2] & 0xff) << 8 | (b[off + 3] & 0xff);
    }

    /** The file's bytes, gunzipped when it starts with gzip's magic (whatever its name). */
    private static byte[] read(Path file) {
        try {
            byte[] raw = Files.readAllBytes(file);
            if (raw.length >= 2 && (raw[0] & 0xff) == 0x1f && (raw[1] & 0xff) == 0x8b) {
                try (InputStream in = new GZIPInputStream(new java.io.ByteArrayInputStream(raw))) {
                    ByteArrayOutputStream out = new ByteArrayOutputStream(raw.length * 4);
                    in.transferTo(out);
                    return out.toByteArray();
                } catch (IOException e) {
                    throw new IllegalArgumentException(file + " is not a readable gzip file: " + e.getMessage(), e);
                }
            }
            return raw;
        } catch (NoSuchFileException e) {
            throw new IllegalArgumentException(file + " does not exist", e);
        } catch (IOException e) {
            throw new UncheckedIOException(file + " cannot be read: " + e.getMessage(), e);
        }
    }
}
