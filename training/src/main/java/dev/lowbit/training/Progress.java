package dev.lowbit.training;

import java.io.PrintStream;
import java.util.Locale;

/**
 * A progress bar for training: epoch, share of the epoch, running loss and accuracy, images per second. On a
 * terminal it redraws one line at most 4 times a second; otherwise (a log file) it writes a line at every tenth of
 * an epoch.
 */
public final class Progress {
    private final PrintStream out;
    private final boolean terminal;
    private long lastDraw;
    private int lastTenth = -1;

    public Progress(PrintStream out, boolean terminal) {
        this.out = out;
        this.terminal = terminal;
    }

    /** Progress on standard error, redrawn in place when a console is attached. */
    public static Progress stderr() {
        return new Progress(System.err, System.console() != null);
    }

    /** No output. */
    public static Progress silent() {
        return new Progress(null, false);
    }

    public void step(int epoch, int epochs, int done, int total, double loss, double accuracy, double imagesPerSecond) {
        if (out == null) {
            return;
        }
        int tenth = total == 0 ? 10 : (int) (10L * done / total);
        long now = System.nanoTime();
        if (terminal) {
            if (now - lastDraw < 250_000_000L && done < total) {
                return;
            }
            lastDraw = now;
            int width = 30;
            int fill = total == 0 ? width : (int) ((long) width * done / total);
            String bar = "=".repeat(fill) + (fill < width ? ">" + " ".repeat(width - fill - 1) : "");
            out.printf(Locale.ROOT, "\repoch %d/%d [%s] %3d%%  loss %.4f  acc %.2f%%  %.0f img/s   ", epoch, epochs, bar,
                    total == 0 ? 100 : 100L * done / total, loss, 100 * accuracy, imagesPerSecond);
            if (done == total) {
                out.println();
            }
        } else if (tenth != lastTenth && tenth > 0) {
            lastTenth = tenth;
            out.printf(Locale.ROOT, "epoch %d/%d %3d%%  loss %.4f  acc %.2f%%  %.0f img/s%n", epoch, epochs,
                    tenth * 10, loss, 100 * accuracy, imagesPerSecond);
            if (done == total) {
                lastTenth = -1;
            }
        }
        out.flush();
    }

    public void line(String s) {
        if (out != null) {
            out.println(s);
            out.flush();
        }
    }
}
