package dev.lowbit.cli;

import java.util.Arrays;
import java.util.Locale;

/** Number formatting shared by the commands: always with '.' as the decimal point. */
final class Units {
    private Units() {
    }

    static String f(String format, Object... args) {
        return String.format(Locale.ROOT, format, args);
    }

    /** Bytes with a binary unit: {@code 86.2 MiB}. */
    static String bytes(long n) {
        if (n < 1024) {
            return n + " B";
        }
        String[] units = {"KiB", "MiB", "GiB", "TiB"};
        double v = n;
        int u = -1;
        while (v >= 1024 && u < units.length - 1) {
            v /= 1024;
            u++;
        }
        return f("%.1f %s", v, units[u]);
    }

    /** A count with a metric suffix: {@code 10.6M}. */
    static String count(long n) {
        if (n < 10_000) {
            return Long.toString(n);
        }
        if (n < 1_000_000) {
            return f("%.1fk", n / 1e3);
        }
        if (n < 1_000_000_000) {
            return f("%.1fM", n / 1e6);
        }
        return f("%.2fG", n / 1e9);
    }

    static String shape(long[] shape) {
        return Arrays.toString(shape).replace(" ", "");
    }
}
