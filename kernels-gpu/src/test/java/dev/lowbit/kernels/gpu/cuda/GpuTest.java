package dev.lowbit.kernels.gpu.cuda;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.extension.ConditionEvaluationResult;
import org.junit.jupiter.api.extension.ExecutionCondition;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * Base of the tests that need an NVIDIA GPU: one runtime per class. Without a usable GPU (no {@code libcuda.so.1},
 * no device, no NVRTC) every test is skipped, and the skip carries the reason.
 */
@ExtendWith(GpuTest.RequiresGpu.class)
abstract class GpuTest {
    static CudaRuntime rt;

    /** Disables the class with {@link CudaRuntime#unavailableReason()} when the CUDA kernels cannot run. */
    static final class RequiresGpu implements ExecutionCondition {
        @Override
        public ConditionEvaluationResult evaluateExecutionCondition(ExtensionContext context) {
            String why = CudaRuntime.unavailableReason();
            if (why == null) {
                return ConditionEvaluationResult.enabled("a CUDA GPU is present");
            }
            if (context.getTestMethod().isEmpty()) {
                System.err.println("[skipped] " + context.getDisplayName() + ": no CUDA GPU here: " + why);
            }
            return ConditionEvaluationResult.disabled("no CUDA GPU here: " + why);
        }
    }

    @BeforeAll
    static void openDevice() {
        rt = CudaRuntime.open(0);
    }

    @AfterAll
    static void closeDevice() {
        if (rt != null) {
            rt.close();
            rt = null;
        }
    }

    /**
     * The bound for a float dot product computed in another order: (k + 64) steps of 2^-23 relative error on the
     * sum of the terms' magnitudes, doubled for the per-group scaling.
     */
    static float bound(double sumAbs, int k) {
        return (float) (2.0 * (k + 64) * Math.ulp(1.0f) * sumAbs) + Float.MIN_NORMAL;
    }
}
