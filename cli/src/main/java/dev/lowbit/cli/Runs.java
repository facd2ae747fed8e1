package dev.lowbit.cli;

import dev.lowbit.algorithms.QuantResult;
import dev.lowbit.algorithms.QuantSpec;
import dev.lowbit.algorithms.MethodRegistry;
import dev.lowbit.algorithms.Quantizer;
import dev.lowbit.kernels.QuantOps;
import dev.lowbit.kernels.ThreadPool;

import java.io.PrintStream;
import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.List;

/** Runs one method at one spec over a model's matrices and keeps what each layer measured. */
final class Runs {
    private Runs() {
    }

    /**
     * The quantizer of lowbit's data-free method called {@code method} ({@link MethodRegistry#planes()}); {@code rtn-sym}
     * is RTN on the symmetric narrow grid.
     */
    static Quantizer quantizer(String method, QuantSpec spec, ThreadPool pool) {
        List<String> methods = MethodRegistry.planes();
        if (!methods.contains(method)) {
            throw new UsageException("the method must be one of " + String.join(", ", methods) + ", got '" + method + "'");
        }
        return MethodRegistry.get(method).quantizer(spec, pool);
    }

    /**
     * What one matrix measured.
     *
     * @param bytes     bytes of its quantized tensor (planes, levels, outliers) plus 4 per exponent kept
     *                  outside it (NUPES at other widths than 4)
     * @param exponents NUPES's exponents, else null
     */
    record Layer(String name, int rows, int cols, double squaredError, double energy, long outliers, long bytes,
                 double seconds, float[] exponents, String format) {
        double relativeError() {
            return energy == 0 ? (squaredError == 0 ? 0 : Double.POSITIVE_INFINITY) : squaredError / energy;
        }

        long elements() {
            return (long) rows * cols;
        }
    }

    /** One method at one spec over all matrices, and its totals. */
    record Run(String method, QuantSpec spec, List<Layer> layers, double seconds) {
        double squaredError() {
            return layers.stream().mapToDouble(Layer::squaredError).sum();
        }

        double energy() {
            return layers.stream().mapToDouble(Layer::energy).sum();
        }

        /** {@code Σ||W - Ŵ||² / Σ||W||²} over all layers. */
        double relativeError() {
            double e = energy();
            return e == 0 ? 0 : squaredError() / e;
        }

        double sqnrDb() {
            return 10 * Math.log10(energy() / squaredError());
        }

        Layer worst() {
            Layer w = null;
            for (Layer l : layers) {
                if (w == null || l.relativeError() > w.relativeError()) {
                    w = l;
                }
            }
            return w;
        }

        long elements() {
            return layers.stream().mapToLong(Layer::elements).sum();
        }

        double outlierFraction() {
            long n = elements();
            return n == 0 ? 0 : (double) layers.stream().mapToLong(Layer::outliers).sum() / n;
        }

        long bytes() {
            return layers.stream().mapToLong(Layer::bytes).sum();
        }

        String label() {
            return method + " " + spec.bits() + "-bit";
        }
    }

    /** What {@link #run} does with each result before its planes are freed. */
    interface Sink {
        void accept(Weights.Matrix m, QuantResult r) throws java.io.IOException;
    }

    /**
     * Quantizes every matrix of {@code w} with {@code method} at {@code spec}. The planes live in
     * {@code arena} when it is not null (the caller keeps them, e.g. to write a file); otherwise each
     * layer's planes are freed once it is measured.
     */
    static Run run(String method, QuantSpec spec, Weights w, ThreadPool pool, Arena arena, Sink sink,
                   PrintStream err) throws java.io.IOException {
        return run(method, quantizer(method, spec, pool), spec, w, arena, sink, err);
    }

    /**
     * {@link #run(String, QuantSpec, Weights, ThreadPool, Arena, Sink, PrintStream)} with the quantizer given;
     * {@code method} labels the run. A matrix the quantizer refuses is named in the message.
     */
    static Run run(String method, Quantizer q, QuantSpec spec, Weights w, Arena arena, Sink sink,
                   PrintStream err) throws java.io.IOException {
        return run(method, spec, spec.bits(), m -> a -> q.quantize(m.values(), m.rows(), m.cols(), a), w, arena, sink, err);
    }

    /** What runs before each matrix is quantized: checks it, and gives what quantizes it. */
    interface Prepare {
        Job job(Weights.Matrix m) throws java.io.IOException;
    }

    /** The quantization of one matrix, its result in {@code arena}. */
    interface Job {
        QuantResult quantize(Arena arena);
    }

    /**
     * {@link #run(String, Quantizer, QuantSpec, Weights, Arena, Sink, PrintStream)} with a quantizer for each
     * matrix ({@code spec} may be null when {@code bits} labels the run instead, as for ggml's block rules).
     */
    static Run run(String method, QuantSpec spec, int bits, Prepare prepare, Weights w, Arena arena, Sink sink,
                   PrintStream err) throws java.io.IOException {
        QuantOps.get(); // the kernels log their choice now, not in the middle of the progress bar
        Progress p = new Progress(err, Units.f("%-9s %d-bit", method, bits), w.parameters());
        List<Layer> layers = new ArrayList<>();
        for (Weights.Matrix m : w.matrices()) {
            long t0 = System.nanoTime();
            try (Arena own = arena == null ? Arena.ofShared() : null) {
                QuantResult r;
                Job job = prepare.job(m);
                try {
                    r = job.quantize(arena == null ? own : arena);
                } catch (IllegalArgumentException e) {
                    if (e.getMessage() != null && e.getMessage().startsWith("tensor '" + m.name() + "'")) {
                        throw e;
                    }
                    throw new IllegalArgumentException("tensor '" + m.name() + "': " + e.getMessage(), e);
                }
                double s = (System.nanoTime() - t0) / 1e9;
                long bytes = r.tensor().byteSize() + (r.exponents() != null && !r.exponentsInTensor() ? 4L * r.exponents().length : 0);
                layers.add(new Layer(m.name(), m.rows(), m.cols(), r.squaredError(), r.energy(), r.outliers(), bytes, s,
                        r.exponents(), r.tensor().format().name()));
                if (sink != null) {
                    sink.accept(m, r);
                }
            }
            p.add(m.elements());
        }
        Run run = new Run(method, spec, List.copyOf(layers), p.seconds());
        p.finish(Units.f("relative error %.4e", run.relativeError()));
        return run;
    }
}
