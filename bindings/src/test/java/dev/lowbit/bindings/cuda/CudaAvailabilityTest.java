package dev.lowbit.bindings.cuda;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

/** What the bindings say when there is no GPU, and how errors are named. Runs everywhere. */
class CudaAvailabilityTest {

    @Test
    void probingNeverThrows() {
        String why = CudaDevice.unavailableReason();
        assertEquals(why == null, CudaDevice.available());
        assertEquals(Nvrtc.unavailableReason() == null, Nvrtc.available());
        assertEquals(CublasLt.unavailableReason() == null, CublasLt.available());
    }

    @Test
    void withoutADeviceOpeningSaysWhy() {
        String why = CudaDevice.unavailableReason();
        assumeFalse(why == null, "a CUDA device is present; this test is about its absence");
        assertFalse(why.isBlank());
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> CudaDevice.open(0));
        assertTrue(e.getMessage().contains(why), e.getMessage());
    }

    @Test
    void missingDriverIsNamed() {
        Loader.Loaded l = Loader.open("libcuda.so.1", "lowbit.cuda.driver", false);
        if (l.lookup() == null) {
            assertTrue(l.reason().contains("libcuda.so.1"), l.reason());
        } else {
            assertNotNull(l.lookup().find("cuInit").orElse(null));
        }
    }

    @Test
    void aForcedPathThatIsMissingIsNamed() {
        String old = System.getProperty("lowbit.test.missing");
        System.setProperty("lowbit.test.missing", "/nonexistent/libnvrtc.so.13");
        try {
            Loader.Loaded l = Loader.open("libnvrtc.so.13", "lowbit.test.missing", true);
            assertTrue(l.lookup() == null && l.reason().contains("/nonexistent/libnvrtc.so.13"), l.reason());
        } finally {
            if (old == null) {
                System.clearProperty("lowbit.test.missing");
            } else {
                System.setProperty("lowbit.test.missing", old);
            }
        }
    }

    @Test
    void architectureNames() {
        assertEquals("sm_90a", CudaDevice.archFor(9, 0));
        assertEquals("sm_80", CudaDevice.archFor(8, 0));
        assertEquals("sm_89", CudaDevice.archFor(8, 9));
        assertEquals("sm_100", CudaDevice.archFor(10, 0));
    }

    @Test
    void exceptionCarriesNameAndLog() {
        CudaException e = new CudaException("nvrtc", "nvrtcCompileProgram(x.cu, sm_90a)", 6, "NVRTC_ERROR_COMPILATION",
                "x.cu(3): error: identifier \"y\" is undefined");
        assertEquals("NVRTC_ERROR_COMPILATION", e.errorName());
        assertEquals(6, e.code());
        assertTrue(e.getMessage().contains("NVRTC_ERROR_COMPILATION") && e.getMessage().contains("is undefined"));
    }
}
