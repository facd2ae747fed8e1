package dev.lowbit.cli;

import java.io.PrintStream;
import java.util.ArrayList;
import java.util.List;

/** A plain text table: a header, rows of cells, numbers right-aligned, columns two spaces apart. */
final class Table {
    private final String[] header;
    private final boolean[] right;
    private final List<String[]> rows = new ArrayList<>();

    /** Headers starting with '>' are right-aligned columns (the '>' is not printed). */
    Table(String... header) {
        this.header = new String[header.length];
        this.right = new boolean[header.length];
        for (int i = 0; i < header.length; i++) {
            right[i] = header[i].startsWith(">");
            this.header[i] = right[i] ? header[i].substring(1) : header[i];
        }
    }

    Table row(Object... cells) {
        if (cells.length != header.length) {
            throw new IllegalStateException("a row of " + cells.length + " cells in a table of " + header.length + " columns");
        }
        String[] r = new String[cells.length];
        for (int i = 0; i < cells.length; i++) {
            r[i] = String.valueOf(cells[i]);
        }
        rows.add(r);
        return this;
    }

    /** A row of dashes under the header's widths, to set a total apart. */
    Table rule() {
        rows.add(null);
        return this;
    }

    void print(PrintStream out) {
        int[] w = new int[header.length];
        for (int i = 0; i < header.length; i++) {
            w[i] = header[i].length();
        }
        for (String[] r : rows) {
            if (r != null) {
                for (int i = 0; i < r.length; i++) {
                    w[i] = Math.max(w[i], r[i].length());
                }
            }
        }
        line(out, header, w);
        for (String[] r : rows) {
            if (r == null) {
                String[] dashes = new String[w.length];
                for (int i = 0; i < w.length; i++) {
                    dashes[i] = "-".repeat(w[i]);
                }
                line(out, dashes, w);
            } else {
                line(out, r, w);
            }
        }
    }

    private void line(PrintStream out, String[] cells, int[] w) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < cells.length; i++) {
            if (i > 0) {
                sb.append("  ");
            }
            String pad = " ".repeat(w[i] - cells[i].length());
            sb.append(right[i] ? pad + cells[i] : cells[i] + (i == cells.length - 1 ? "" : pad));
        }
        out.println(sb.toString().stripTrailing());
    }
}
