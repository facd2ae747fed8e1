package dev.lowbit.cli;

import java.io.PrintStream;

/**
 * Progress of long work on stderr. On a terminal it is one bar redrawn with {@code \r} at most ten times
 * a second; otherwise (a log file, a pipe, a test) it prints nothing until the work ends and then one
 * plain line, so logs stay readable.
 */
final class Progress {
    private final PrintStream err;
    private final boolean terminal;
    private final String label;
    private final long total;
    private final long start = System.nanoTime();
    private long done;
    private long lastDraw;

    Progress(PrintStream err, String label, long total) {
        this.err = err;
        this.terminal = err == System.err && System.console() != null && System.console().isTerminal();
        this.label = label;
        this.total = Math.max(total, 1);
        draw(false);
    }

    /** {@code n} more units done. */
    synchronized void add(long n) {
        done += n;
        long now = System.nanoTime();
        if (now - lastDraw > 100_000_000L) {
            draw(false);
        }
    }

    /** The work ended: the final line, with {@code note} after it when not null. */
    synchronized void finish(String note) {
        done = total;
        if (terminal) {
            draw(true);
        }
        String line = Units.f("%s: done in %.1f s", label, seconds()) + (note == null ? "" : ", " + note);
        err.print(terminal ? "\r\033[K" + line + "\n" : line + "\n");
        err.flush();
    }

    double seconds() {
        return (System.nanoTime() - start) / 1e9;
    }

    private void draw(boolean last) {
        if (!terminal) {
            return;
        }
        lastDraw = System.nanoTime();
        int width = 30;
        int filled = (int) (width * Math.min(done, total) / total);
        err.print(Units.f("\r%s [%s%s] %3d%% %.1f s", label, "#".repeat(filled), ".".repeat(width - filled),
                100 * Math.min(done, total) / total, seconds()));
        if (!last) {
            err.flush();
        }
    }
}
