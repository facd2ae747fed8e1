package dev.lowbit.kernels.gpu.cuda;

import org.junit.platform.launcher.Launcher;
import org.junit.platform.launcher.LauncherDiscoveryRequest;
import org.junit.platform.launcher.core.LauncherDiscoveryRequestBuilder;
import org.junit.platform.launcher.core.LauncherFactory;
import org.junit.platform.launcher.listeners.SummaryGeneratingListener;
import org.junit.platform.launcher.listeners.TestExecutionSummary;

import java.io.PrintWriter;

import static org.junit.platform.engine.discovery.DiscoverySelectors.selectClass;
import static org.junit.platform.engine.discovery.DiscoverySelectors.selectMethod;

/**
 * Runs the CUDA tests without Maven (the device machine has none): {@code java ... GpuTestMain [--gpu-only] [Class#method ...]}; exits
 * with 1 when a test fails or when the GPU tests would be skipped (no device), so that a run cannot pass by
 * skipping. {@code --gpu-only} leaves out the tests that need no GPU; {@code Class#method} arguments select single tests.
 */
public final class GpuTestMain {
    private GpuTestMain() {
    }

    public static void main(String[] args) {
        String why = CudaRuntime.unavailableReason();
        if (why != null) {
            System.err.println("no CUDA GPU here: " + why);
            System.exit(1);
        }
        boolean gpuOnly = java.util.Arrays.asList(args).contains("--gpu-only");
        var selectors = new java.util.ArrayList<org.junit.platform.engine.DiscoverySelector>();
        for (String a : args) {
            if (a.contains("#")) {
                selectors.add(selectMethod(GpuTestMain.class.getPackageName() + "." + a));
            }
        }
        if (selectors.isEmpty()) {
            selectors.addAll(java.util.List.of(selectClass(CudaRuntimeTest.class), selectClass(CudaQuantTest.class),
                    selectClass(CudaMatmulTest.class)));
            if (!gpuOnly) {
                selectors.add(selectClass(NvccCompileTest.class));
                selectors.add(selectClass(W4A16WeightsTest.class));
            }
        }
        LauncherDiscoveryRequest request = LauncherDiscoveryRequestBuilder.request().selectors(selectors).build();
        Launcher launcher = LauncherFactory.create();
        SummaryGeneratingListener listener = new SummaryGeneratingListener();
        launcher.execute(request, listener);
        TestExecutionSummary s = listener.getSummary();
        PrintWriter out = new PrintWriter(System.out, true);
        s.printTo(out);
        s.printFailuresTo(out, 30);
        System.exit(s.getTotalFailureCount() == 0 ? 0 : 1);
    }
}
