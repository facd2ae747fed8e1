package dev.lowbit.kernels.impl;

/**
 * ggml's range searches, which the scalar reference quantizers of the K-quants ({@link GgmlQuants}) share: the
 * scale (and minimum) of a sub-block chosen among candidates by their weighted squared error, with ggml's float
 * operations in ggml's order, so that the codes are ggml's.
 */
final class GgmlSearches {
    /** ggml's {@code GROUP_MAX_EPS}: a (sub-)block whose largest magnitude is below it counts as all zeros. */
    static final float GROUP_MAX_EPS = 1e-15f;

    private GgmlSearches() {
    }

    /**
     * ggml's {@code make_qx_quants} with {@code rmse_type = 1} and no importance weights: the scale and the codes
     * ({@code l + nmax}, {@code l} in {@code [−nmax, nmax − 1]}) of {@code x[from, from + n)} into
     * {@code codes[to, to + n)}, each element weighing {@code w = x²}.
     * <ol>
     *   <li>{@code max} is the first element of largest magnitude; below {@link #GROUP_MAX_EPS} the codes are 0 and
     *       the scale 0.</li>
     *   <li>{@code iscale = −nmax/max}; each {@code l = clamp(nearestInt(iscale·x), −nmax, nmax − 1)}; the scale is
     *       {@code Σwxl/Σwl²} (0 when {@code Σwl² = 0}) and {@code best = scale·Σwxl}.</li>
     *   <li>For {@code is = −9..9} but 0: {@code iscale = −(nmax + 0.1·is)/max}; where {@code Σwl² > 0} and
     *       {@code (Σwxl)² > best·Σwl²}, those codes, {@code scale = Σwxl/Σwl²} and {@code best = scale·Σwxl} are
     *       taken.</li>
     * </ol>
     */
    static float makeQxQuants(int n, int nmax, float[] x, int from, int[] codes, int to) {
        float amax = 0f;
        float max = 0f;
        for (int i = 0; i < n; i++) {
            float ax = Math.abs(x[from + i]);
            if (ax > amax) {
                amax = ax;
                max = x[from + i];
            }
        }
        if (amax < GROUP_MAX_EPS) {
            java.util.Arrays.fill(codes, to, to + n, 0);
            return 0f;
        }
        float iscale = -nmax / max;
        float sumlx = 0f;
        float suml2 = 0f;
        for (int i = 0; i < n; i++) {
            float v = x[from + i];
            int l = Math.max(-nmax, Math.min(nmax - 1, nearestInt(iscale * v)));
            codes[to + i] = l + nmax;
            float w = v * v;
            sumlx += w * v * l;
            suml2 += w * l * l;
        }
        float scale = suml2 != 0f ? sumlx / suml2 : 0f;
        float best = scale * sumlx;
        for (int is = -9; is <= 9; is++) {
            if (is == 0) {
                continue;
            }
            iscale = -(nmax + 0.1f * is) / max;
            sumlx = 0f;
            suml2 = 0f;
            for (int i = 0; i < n; i++) {
                float v = x[from + i];
                int l = Math.max(-nmax, Math.min(nmax - 1, nearestInt(iscale * v)));
                float w = v * v;
                sumlx += w * v * l;
                suml2 += w * l * l;
            }
            if (suml2 > 0f && sumlx * sumlx > best * suml2) {
                for (int i = 0; i < n; i++) {
                    codes[to + i] = nmax + Math.max(-nmax, Math.min(nmax - 1, nearestInt(iscale * x[from + i])));
                }
                scale = sumlx / suml2;
                best = scale * sumlx;
            }
        }
        return scale;
    }

    /**
     * ggml's {@code make_qkx2_quants}: the scale, the minimum {@code m ≥ 0} (into {@code mins[mi]}; code 0 stands for
     * {@code −m}) and the codes 0..nmax of {@code x[from, from + n)} under the weights {@code w}, into
     * {@code codes[to, to + n)}; {@code aux} is scratch.
     * <ol>
     *   <li>{@code min} and {@code max} by strict comparisons in element order from {@code x[0]}, {@code min} raised to
     *       0 if positive; {@code Σw} and {@code Σwx} in element order. Where {@code max = min} the codes are 0, the
     *       scale 0 and {@code m = −min}.</li>
     *   <li>{@code iscale = nmax/(max − min)}, {@code scale = 1/iscale}; each code is
     *       {@code clamp(nearestInt(iscale·(x − min)), 0, nmax)}, and the error is {@code Σw·e} of
     *       {@code e = scale·code + min − x}, taken as {@code |e|} ({@code mad}) or {@code e²}.</li>
     *   <li>For {@code is = 0..nstep}: {@code iscale = (rmin + rdelta·is + nmax)/(max − min)}, codes as above, and the
     *       weighted least-squares fit {@code D = Σw·Σwl² − (Σwl)²}; where {@code D > 0}, {@code scale =
     *       (Σw·Σwxl − Σwx·Σwl)/D} and {@code min = (Σwl²·Σwx − Σwl·Σwxl)/D} (where that minimum is positive, 0 and
     *       {@code scale = Σwxl/Σwl²}); where its error is below the best so far, its codes, scale and minimum are
     *       taken.</li>
     * </ol>
     */
    static float makeQkx2Quants(int n, int nmax, float[] x, int from, float[] w, int[] codes, int to, float[] mins,
                                int mi, int[] aux, float rmin, float rdelta, int nstep, boolean mad) {
        float min = x[from];
        float max = x[from];
        float sumW = w[0];
        float sumX = sumW * x[from];
        for (int i = 1; i < n; i++) {
            float v = x[from + i];
            if (v < min) {
                min = v;
            }
            if (v > max) {
                max = v;
            }
            sumW += w[i];
            sumX += w[i] * v;
        }
        if (min > 0f) {
            min = 0f;
        }
        if (max == min) {
            java.util.Arrays.fill(codes, to, to + n, 0);
            mins[mi] = -min;
            return 0f;
        }
        float iscale = nmax / (max - min);
        float scale = 1f / iscale;
        float bestError = 0f;
        for (int i = 0; i < n; i++) {
            float v = x[from + i];
            int l = Math.max(0, Math.min(nmax, nearestInt(iscale * (v - min))));
            codes[to + i] = l;
            float diff = scale * l + min - v;
            diff = mad ? Math.abs(diff) : diff * diff;
            bestError += w[i] * diff;
        }
        for (int is = 0; is <= nstep; is++) {
            iscale = (rmin + rdelta * is + nmax) / (max - min);
            float sumL = 0f;
            float sumL2 = 0f;
            float sumXL = 0f;
            for (int i = 0; i < n; i++) {
                float v = x[from + i];
                int l = Math.max(0, Math.min(nmax, nearestInt(iscale * (v - min))));
                aux[i] = l;
                sumL += w[i] * l;
                sumL2 += w[i] * l * l;
                sumXL += w[i] * l * v;
            }
            float det = sumW * sumL2 - sumL * sumL;
            if (det > 0f) {
                float thisScale = (sumW * sumXL - sumX * sumL) / det;
                float thisMin = (sumL2 * sumX - sumL * sumXL) / det;
                if (thisMin > 0f) {
                    thisMin = 0f;
                    thisScale = sumXL / sumL2;
                }
                float error = 0f;
                for (int i = 0; i < n; i++) {
                    float diff = thisScale * aux[i] + thisMin - x[from + i];
                    diff = mad ? Math.abs(diff) : diff * diff;
                    error += w[i] * diff;
                }
                if (error < bestError) {
                    System.arraycopy(aux, 0, codes, to, n);
                    bestError = error;
                    scale = thisScale;
                    min = thisMin;
                }
            }
        }
        mins[mi] = -min;
        return scale;
    }

    /**
     * ggml's {@code make_q3_quants} with {@code do_rmse}: the scale and the codes ({@code l + nmax}, {@code l} in
     * {@code [−nmax, nmax − 1]}) of {@code x[from, from + n)} into {@code codes[to, to + n)}, each element weighing
     * {@code w = x²}.
     * <ol>
     *   <li>{@code max} is the first element of largest magnitude; below {@link #GROUP_MAX_EPS} the codes and scale
     *       are 0.</li>
     *   <li>{@code iscale = −nmax/max}, each {@code l = clamp(nearestInt(iscale·x), −nmax, nmax − 1)}, with the sums
     *       {@code Σwxl} and {@code Σwl²}.</li>
     *   <li>Up to 5 passes, each ending early when it changes nothing: for each element in order, with its own terms
     *       taken out of the sums ({@code slx}, {@code sl2}) and {@code slx > 0}, the code
     *       {@code clamp(nearestInt(x·sl2/slx), −nmax, nmax − 1)}; where it differs and, its terms put back,
     *       {@code sl2 > 0} and {@code slx²·Σwl² > (Σwxl)²·sl2}, it is taken with its sums.</li>
     * </ol>
     * The scale is {@code Σwxl/Σwl²} (0 when {@code Σwl² = 0}).
     */
    static float makeQ3Quants(int n, int nmax, float[] x, int from, int[] codes, int to) {
        float amax = 0f;
        float max = 0f;
        for (int i = 0; i < n; i++) {
            float ax = Math.abs(x[from + i]);
            if (ax > amax) {
                amax = ax;
                max = x[from + i];
            }
        }
        if (amax < GROUP_MAX_EPS) {
            java.util.Arrays.fill(codes, to, to + n, 0);
            return 0f;
        }
        float iscale = -nmax / max;
        float sumlx = 0f;
        float suml2 = 0f;
        int[] l = new int[n];
        for (int i = 0; i < n; i++) {
            float v = x[from + i];
            l[i] = Math.max(-nmax, Math.min(nmax - 1, nearestInt(iscale * v)));
            float w = v * v;
            sumlx += w * v * l[i];
            suml2 += w * l[i] * l[i];
        }
        for (int pass = 0; pass < 5; pass++) {
            int changed = 0;
            for (int i = 0; i < n; i++) {
                float v = x[from + i];
                float w = v * v;
                float slx = sumlx - w * v * l[i];
                if (slx > 0f) {
                    float sl2 = suml2 - w * l[i] * l[i];
                    int nl = Math.max(-nmax, Math.min(nmax - 1, nearestInt(v * sl2 / slx)));
                    if (nl != l[i]) {
                        slx += w * v * nl;
                        sl2 += w * nl * nl;
                        if (sl2 > 0f && slx * slx * suml2 > sumlx * sumlx * sl2) {
                            l[i] = nl;
                            sumlx = slx;
                            suml2 = sl2;
                            changed++;
                        }
                    }
                }
            }
            if (changed == 0) {
                break;
            }
        }
        for (int i = 0; i < n; i++) {
            codes[to + i] = l[i] + nmax;
        }
        return suml2 > 0f ? sumlx / suml2 : 0f;
    }

    /**
     * ggml's {@code nearest_int}: {@code v + 1.5·2^23} in fp32, whose low 23 bits less {@code 2^22} are the integer
     * (round half to even for {@code |v| < 2^22}; for larger values, an infinity or a NaN, whatever those bits give).
     */
    static int nearestInt(float v) {
        return (Float.floatToRawIntBits(v + 12582912f) & 0x007fffff) - 0x00400000;
    }
}
