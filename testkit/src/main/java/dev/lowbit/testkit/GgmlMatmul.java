package dev.lowbit.testkit;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.invoke.MethodHandle;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BOOLEAN;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * ggml's matrix product as a peer: a ggml context holding a {@code rows x k} weight matrix in a ggml type (the
 * bytes {@link Ggml#quantize} writes, plain layout), {@code n} fp32 activations and the one-node graph
 * {@code y = ggml_mul_mat(W, x)}, computed by the CPU library's {@code ggml_graph_compute_with_ctx} on
 * {@code threads} threads (ggml quantizes the activations to the type's {@code vec_dot_type} inside, as lowbit's
 * GEMV does). For benchmarks and tests only; {@link #close()} frees the context.
 */
public final class GgmlMatmul implements AutoCloseable {
    /** {@code struct ggml_init_params {size_t mem_size; void *mem_buffer; bool no_alloc;}}. */
    private static final StructLayout INIT_PARAMS = MemoryLayout.structLayout(JAVA_LONG.withName("mem_size"),
            ADDRESS.withName("mem_buffer"), JAVA_BOOLEAN.withName("no_alloc"), MemoryLayout.paddingLayout(7));

    private final MethodHandle compute;
    private final MethodHandle free;
    private final MemorySegment ctx;
    private final MemorySegment graph;
    private final MemorySegment xData;
    private final MemorySegment yData;
    private final int threads;
    private final int rows;
    private final int n;
    private boolean closed;

    public GgmlMatmul(Ggml g, Ggml.Type type, byte[] weights, int rows, int k, int n, int threads) {
        if (weights.length != g.rowSize(type, k) * rows) {
            throw new IllegalArgumentException(weights.length + " bytes for " + rows + " rows of " + k + " " + type);
        }
        this.threads = threads;
        this.rows = rows;
        this.n = n;
        MethodHandle init = Ggml.handle(g.base, "ggml_init", FunctionDescriptor.of(ADDRESS, INIT_PARAMS));
        MethodHandle tensor2d = Ggml.handle(g.base, "ggml_new_tensor_2d",
                FunctionDescriptor.of(ADDRESS, ADDRESS, JAVA_INT, JAVA_LONG, JAVA_LONG));
        MethodHandle data = Ggml.handle(g.base, "ggml_get_data", FunctionDescriptor.of(ADDRESS, ADDRESS));
        MethodHandle mulMat = Ggml.handle(g.base, "ggml_mul_mat", FunctionDescriptor.of(ADDRESS, ADDRESS, ADDRESS,
                ADDRESS));
        MethodHandle newGraph = Ggml.handle(g.base, "ggml_new_graph", FunctionDescriptor.of(ADDRESS, ADDRESS));
        MethodHandle expand = Ggml.handle(g.base, "ggml_build_forward_expand", FunctionDescriptor.ofVoid(ADDRESS,
                ADDRESS));
        free = Ggml.handle(g.base, "ggml_free", FunctionDescriptor.ofVoid(ADDRESS));
        compute = Ggml.handle(g.cpu, "ggml_graph_compute_with_ctx", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS,
                JAVA_INT));
        try (Arena a = Arena.ofConfined()) {
            MemorySegment params = a.allocate(INIT_PARAMS);
            // the tensors, the activations' quantized copy in the work buffer, the graph: generously
            long mem = weights.length + 8L * k * n + 4L * rows * n + (64L << 20);
            params.set(JAVA_LONG, 0, mem);
            params.set(ADDRESS, 8, MemorySegment.NULL);
            params.set(JAVA_BOOLEAN, 16, false);
            ctx = (MemorySegment) init.invokeExact(params);
            if (ctx.equals(MemorySegment.NULL)) {
                throw new IllegalStateException("ggml_init could not allocate " + mem + " bytes");
            }
            MemorySegment w = (MemorySegment) tensor2d.invokeExact(ctx, type.id, (long) k, (long) rows);
            MemorySegment x = (MemorySegment) tensor2d.invokeExact(ctx, Ggml.Type.F32.id, (long) k, (long) n);
            MemorySegment y = (MemorySegment) mulMat.invokeExact(ctx, w, x);
            graph = (MemorySegment) newGraph.invokeExact(ctx);
            expand.invokeExact(graph, y);
            ((MemorySegment) data.invokeExact(w)).reinterpret(weights.length).copyFrom(MemorySegment.ofArray(weights));
            xData = ((MemorySegment) data.invokeExact(x)).reinterpret(4L * k * n);
            yData = ((MemorySegment) data.invokeExact(y)).reinterpret(4L * rows * n);
        } catch (RuntimeException e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    /** Sets the activations, {@code n} tokens of {@code k} values. */
    public void input(float[] x) {
        xData.copyFrom(MemorySegment.ofArray(x));
    }

    /** Computes the graph: {@code y = W x} for the last input. */
    public void compute() {
        int status;
        try {
            status = (int) compute.invokeExact(ctx, graph, threads);
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
        if (status != 0) {
            throw new IllegalStateException("ggml_graph_compute_with_ctx returned " + status);
        }
    }

    /** The result of the last {@link #compute}, {@code y[t * rows + r]}. */
    public float[] output() {
        return yData.toArray(JAVA_FLOAT);
    }

    /** {@link #input}, {@link #compute}, {@link #output}. */
    public float[] run(float[] x) {
        input(x);
        compute();
        return output();
    }

    public int rows() {
        return rows;
    }

    public int tokens() {
        return n;
    }

    @Override
    public void close() {
        if (!closed) {
            closed = true;
            try {
                free.invokeExact(ctx);
            } catch (Throwable t) {
                throw new IllegalStateException(t);
            }
        }
    }
}
