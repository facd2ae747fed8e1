package dev.lowbit.models.bert;

import dev.lowbit.algorithms.Gptq;
import dev.lowbit.algorithms.MethodRegistry;
import dev.lowbit.algorithms.QuantResult;
import dev.lowbit.algorithms.QuantSpec;
import dev.lowbit.algorithms.Quantizer;
import dev.lowbit.format.QuantFormat;
import dev.lowbit.format.QuantizedTensor;
import dev.lowbit.format.ScaleType;
import dev.lowbit.kernels.KernelProvider;
import dev.lowbit.kernels.MatmulOps;
import dev.lowbit.kernels.PackedWeights;

import java.lang.foreign.Arena;
import java.util.Objects;

/**
 * The quantized forward pass of a BERT encoder: the 4 linear layers of each encoder layer (query, key and value fused
 * into one) quantized by a method of {@code algorithms} ({@link BertQuantization}), in the layout of the matmul
 * kernels that run ({@link PackedWeights#pack}), with the fp32 bias added after each product. GPTQ is first
 * calibrated on text ({@link GptqCalibration}, {@link GptqHessians}).
 */
public final class BertQuantizer {
    private final BertWeights w;
    private final BertQuantization quant;
    private final GptqCalibration calibration;

    private BertQuantizer(BertWeights w, BertQuantization quant, GptqCalibration calibration) {
        this.w = w;
        this.quant = quant;
        this.calibration = calibration;
    }

    /**
     * The quantized forward pass: the 4 linear layers of each encoder layer (query, key and value fused into one)
     * quantized by {@code quant.method()}; {@code gptq} is calibrated on {@link GptqCalibration#defaults()}.
     *
     * @throws IllegalArgumentException if the method makes a tensor that the integer path does not take (NF4 and
     *                                  NUPES keep codebooks or power-mapped codes)
     */
    public static BertEncoder quantize(BertWeights weights, BertQuantization quant, int threads) {
        return encoder(weights, Objects.requireNonNull(quant, "quant"), threads, null);
    }

    /**
     * The quantized forward pass, with {@code gptq} calibrated on {@code calibration} (the 3-argument form uses
     * {@link GptqCalibration#defaults()}); other methods ignore it.
     */
    public static BertEncoder quantize(BertWeights weights, BertQuantization quant, int threads,
                                       GptqCalibration calibration) {
        return encoder(weights, Objects.requireNonNull(quant, "quant"), threads,
                Objects.requireNonNull(calibration, "calibration"));
    }

    private static BertEncoder encoder(BertWeights weights, BertQuantization quant, int threads,
                                       GptqCalibration calibration) {
        if (threads < 1) {
            throw new IllegalArgumentException("threads must be at least 1, got " + threads);
        }
        BertQuantizer q = new BertQuantizer(weights, quant, calibration);
        return BertEncoder.withLinears(weights, threads, Arena.ofShared(), quant.integerOnly(), quant.toString(),
                q::build);
    }

    /** Quantizes every linear layer of {@code enc} into its arena, on its threads. */
    private void build(BertEncoder enc, Arena arena) {
        MatmulOps ops = new MatmulOps(KernelProvider.matmul(), KernelProvider.kernels(), enc.workers());
        QuantSpec spec = new QuantSpec(quant.bits(), quant.groupSize(), ScaleType.F16);
        if (quant.method().equals(BertQuantization.GPTQ)) {
            gptq(enc, spec, ops, arena, calibration != null ? calibration : GptqCalibration.defaults());
            return;
        }
        Quantizer q = MethodRegistry.get(quant.method()).quantizer(spec, enc.workers());
        for (int l = 0; l < w.layers().length; l++) {
            BertWeights.Dense[] dense = dense(w.layers()[l]);
            for (int k = 0; k < GptqHessians.LINEARS; k++) {
                BertWeights.Dense d = dense[k];
                enc.replaceLinear(l, k, linear(q.quantize(rows(d), d.out(), d.in(), arena), d, ops, arena));
            }
        }
    }

    /** The linear layers of an encoder layer in {@link BertEncoder#linear}'s numbering, query-key-value fused. */
    private static BertWeights.Dense[] dense(BertWeights.Layer L) {
        return new BertWeights.Dense[] {BertEncoder.fuse(L.query(), L.key(), L.value()), L.attentionOutput(),
                L.intermediate(), L.output()};
    }

    /** ONNX keeps {@code [in, out]}; lowbit quantizes rows of {@code [out, in]}. */
    private static float[] rows(BertWeights.Dense d) {
        float[] rows = new float[d.in() * d.out()];
        for (int c = 0; c < d.in(); c++) {
            for (int j = 0; j < d.out(); j++) {
                rows[j * d.in() + c] = d.weight()[c * d.out() + j];
            }
        }
        return rows;
    }

    /**
     * GPTQ: Hessians of every linear layer's inputs from the fp32 encoder run over the calibration text (or, when
     * sequential, layer by layer from the encoder whose earlier layers are already quantized), then each weight
     * quantized by {@link Gptq} into the grouped format, run like any other method's.
     */
    private void gptq(BertEncoder enc, QuantSpec spec, MatmulOps ops, Arena arena, GptqCalibration cal) {
        int layers = w.layers().length;
        try (BertEncoder calib = BertEncoder.fp32(w, enc.threads())) {
            double[][][] h = cal.sequential() ? null : GptqHessians.collect(cal, calib, -1);
            for (int l = 0; l < layers; l++) {
                double[][] hl = cal.sequential() ? GptqHessians.collect(cal, calib, l)[l] : h[l];
                BertWeights.Dense[] dense = dense(w.layers()[l]);
                for (int k = 0; k < GptqHessians.LINEARS; k++) {
                    BertWeights.Dense d = dense[k];
                    QuantResult r = Gptq.quantize(rows(d), d.out(), d.in(), hl[k], spec, cal.options(), enc.workers(),
                            arena);
                    Linear linear = linear(r, d, ops, arena);
                    enc.replaceLinear(l, k, linear);
                    if (cal.sequential()) {
                        calib.replaceLinear(l, k, linear);
                    }
                }
                if (h != null) {
                    h[l] = null;
                }
            }
        }
    }

    private Linear linear(QuantResult r, BertWeights.Dense d, MatmulOps ops, Arena arena) {
        QuantizedTensor t = r.tensor();
        if (!r.exponentsInTensor() && r.exponents() != null) {
            throw new IllegalArgumentException(quant.method() + " keeps power exponents beside its codes, which no "
                    + "integer kernel applies; use rtn, mse, hqq or easyquant");
        }
        if (t.format().kind() == QuantFormat.Kind.CODEBOOK4) {
            throw new IllegalArgumentException(quant.method() + " makes a 4-bit codebook (" + t.format() + "), whose "
                    + "levels are not integers: no integer kernel takes it; use rtn, mse, hqq or easyquant");
        }
        return new QuantizedLinear(PackedWeights.pack(t, quant.activations(), ops.kernels(), arena), d.bias(), ops,
                quant.activations());
    }
}
