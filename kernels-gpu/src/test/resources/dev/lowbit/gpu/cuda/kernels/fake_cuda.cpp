// A stand-in for libcuda.so.1 and libnvrtc.so.13 that runs lowbit's kernels on the CPU (cuda_host_emu.h), so that
// the Java bindings and the GPU tests can run end to end without a GPU (EmulatedDeviceTest). Device memory is host
// memory; "compiling" a source yields a token naming it; a launch runs the named kernel under the emulation.
// It knows only lowbit's own sources and kernels, and nothing of timing: it tests the Java side, not the hardware.
#define LOWBIT_EMU_NO_MAIN 1
#include "kernels_emu.cpp"

#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <utility>

namespace {
using Dispatch = std::function<void(void**, dim3, unsigned)>;

template <class... A, size_t... I>
void call(void (*k)(A...), void** p, dim3 g, unsigned b, std::index_sequence<I...>) {
    emu_launch(g, b, k, *reinterpret_cast<A*>(p[I])...);
}

template <class... A> Dispatch make(void (*k)(A...)) {
    return [k](void** p, dim3 g, unsigned b) { call(k, p, g, b, std::index_sequence_for<A...>{}); };
}

struct Kernel {
    std::string source;
    Dispatch run;
};

std::map<std::string, Kernel>& kernels() {
    static std::map<std::string, Kernel> m = {
        {"lb_quantize_groups", {"quantize.cu", make(lb_quantize_groups)}},
        {"lb_quantize_groups_vec4", {"quantize.cu", make(lb_quantize_groups_vec4)}},
        {"lb_quantize_rows_fused", {"quantize.cu", make(lb_quantize_rows_fused)}},
        {"lb_row_params", {"quantize.cu", make(lb_row_params)}},
        {"lb_quantize_row_encode", {"quantize.cu", make(lb_quantize_row_encode)}},
        {"lb_dequantize", {"dequantize.cu", make(lb_dequantize)}},
        {"lb_quantize_act_q8_0", {"activations.cu", make(lb_quantize_act_q8_0)}},
        {"lb_quantize_act_per_token", {"activations.cu", make(lb_quantize_act_per_token)}},
        {"lb_outlier_add", {"outliers.cu", make(lb_outlier_add)}},
        {"lb_outlier_gemm_add", {"outliers.cu", make(lb_outlier_gemm_add)}},
        {"lb_int8_dequant_epilogue", {"int8_epilogue.cu", make(lb_int8_dequant_epilogue)}},
        {"lb_offset_to_signed", {"int8_epilogue.cu", make(lb_offset_to_signed)}},
        {"lb_decode_scales", {"int8_epilogue.cu", make(lb_decode_scales)}},
        {"lb_codes_to_float", {"int8_epilogue.cu", make(lb_codes_to_float)}},
        {"lb_gemm_f32", {"gemm_f32.cu", make(lb_gemm_f32)}},
        {"lb_gemm_int8", {"gemm_int8.cu", make(lb_gemm_int8)}},
        {"lb_gemv_codebook", {"gemv_codebook.cu", make(lb_gemv_codebook)}},
        {"lb_w4a16_f16_t8", {"w4a16.cu", make(lb_w4a16_f16_t8)}},
        {"lb_w4a16_f16_t16", {"w4a16.cu", make(lb_w4a16_f16_t16)}},
        {"lb_w4a16_f16_t32", {"w4a16.cu", make(lb_w4a16_f16_t32)}},
        {"lb_w4a16_bf16_t8", {"w4a16.cu", make(lb_w4a16_bf16_t8)}},
        {"lb_w4a16_bf16_t16", {"w4a16.cu", make(lb_w4a16_bf16_t16)}},
        {"lb_w4a16_bf16_t32", {"w4a16.cu", make(lb_w4a16_bf16_t32)}},
    };
    return m;
}

constexpr unsigned long long TOTAL = 8ull << 30;
std::mutex mem_lock;
std::map<unsigned long long, size_t> allocations;
unsigned long long allocated = 0;

struct Module {
    std::string source;
};
struct Function {
    std::string name;
};
struct Event {
    std::chrono::steady_clock::time_point at;
};
struct Program {
    std::string source, name, log, cubin;
};

const char* error_name(int rc) {
    switch (rc) {
    case 0: return "CUDA_SUCCESS";
    case 1: return "CUDA_ERROR_INVALID_VALUE";
    case 2: return "CUDA_ERROR_OUT_OF_MEMORY";
    case 3: return "CUDA_ERROR_NOT_INITIALIZED";
    case 101: return "CUDA_ERROR_INVALID_DEVICE";
    case 200: return "CUDA_ERROR_INVALID_IMAGE";
    case 400: return "CUDA_ERROR_INVALID_HANDLE";
    case 500: return "CUDA_ERROR_NOT_FOUND";
    default: return nullptr;
    }
}
}  // namespace

extern "C" {
typedef unsigned long long CUdeviceptr;

int cuGetErrorName(int rc, const char** out) {
    const char* n = error_name(rc);
    if (n == nullptr) {
        return 1;
    }
    *out = n;
    return 0;
}
int cuInit(unsigned) { return 0; }
int cuDriverGetVersion(int* v) { *v = 13000; return 0; }
int cuDeviceGetCount(int* n) { *n = 1; return 0; }
int cuDeviceGet(int* d, int ordinal) { if (ordinal != 0) return 101; *d = 0; return 0; }
int cuDeviceGetName(char* name, int len, int) { snprintf(name, len, "lowbit host emulation"); return 0; }
int cuDeviceGetAttribute(int* v, int attribute, int) {
    switch (attribute) {
    case 16: *v = 4; return 0;            // multiprocessors
    case 38: *v = 50 << 20; return 0;     // L2 bytes
    case 75: *v = 9; return 0;            // compute capability 9.0
    case 76: *v = 0; return 0;
    case 97: *v = 227 << 10; return 0;    // shared memory opt-in
    default: return 1;
    }
}
int cuDevicePrimaryCtxRetain(void** ctx, int) { static int context; *ctx = &context; return 0; }
int cuDevicePrimaryCtxRelease_v2(int) { return 0; }
int cuCtxSetCurrent(void*) { return 0; }
int cuCtxSynchronize() { return 0; }
int cuMemGetInfo_v2(size_t* free, size_t* total) {
    std::lock_guard<std::mutex> g(mem_lock);
    *free = TOTAL - allocated;
    *total = TOTAL;
    return 0;
}
int cuMemAlloc_v2(CUdeviceptr* p, size_t bytes) {
    std::lock_guard<std::mutex> g(mem_lock);
    if (bytes == 0) return 1;
    if (bytes > TOTAL - allocated) return 2;
    void* m = aligned_alloc(256, (bytes + 255) / 256 * 256);
    if (m == nullptr) return 2;
    *p = (CUdeviceptr) m;
    allocations[*p] = bytes;
    allocated += bytes;
    return 0;
}
int cuMemFree_v2(CUdeviceptr p) {
    std::lock_guard<std::mutex> g(mem_lock);
    auto it = allocations.find(p);
    if (it == allocations.end()) return 1;
    allocated -= it->second;
    allocations.erase(it);
    free((void*) p);
    return 0;
}
int cuMemcpyHtoD_v2(CUdeviceptr dst, const void* src, size_t n) { memcpy((void*) dst, src, n); return 0; }
int cuMemcpyDtoH_v2(void* dst, CUdeviceptr src, size_t n) { memcpy(dst, (const void*) src, n); return 0; }
int cuMemcpyDtoD_v2(CUdeviceptr dst, CUdeviceptr src, size_t n) { memmove((void*) dst, (const void*) src, n); return 0; }
int cuMemcpyHtoDAsync_v2(CUdeviceptr dst, const void* src, size_t n, void*) { return cuMemcpyHtoD_v2(dst, src, n); }
int cuMemcpyDtoHAsync_v2(void* dst, CUdeviceptr src, size_t n, void*) { return cuMemcpyDtoH_v2(dst, src, n); }
int cuMemcpyDtoDAsync_v2(CUdeviceptr dst, CUdeviceptr src, size_t n, void*) { return cuMemcpyDtoD_v2(dst, src, n); }
int cuMemsetD8_v2(CUdeviceptr dst, unsigned char v, size_t n) { memset((void*) dst, v, n); return 0; }

int cuModuleLoadData(void** module, const void* image) {
    const char* s = (const char*) image;
    if (strncmp(s, "LOWBIT-EMU:", 11) != 0) return 200;
    *module = new Module{std::string(s + 11)};
    return 0;
}
int cuModuleUnload(void* module) { delete (Module*) module; return 0; }
int cuModuleGetFunction(void** f, void* module, const char* name) {
    auto it = kernels().find(name);
    if (it == kernels().end() || it->second.source != ((Module*) module)->source) return 500;
    *f = new Function{name};  // small, kept: a function lives as long as its module in the real driver
    return 0;
}
int cuFuncSetAttribute(void*, int, int) { return 0; }
int cuLaunchKernel(void* f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz, unsigned,
                   void*, void** params, void**) {
    if (gz != 1 || by != 1 || bz != 1 || bx % 32 != 0) return 1;
    kernels().at(((Function*) f)->name).run(params, dim3{gx, gy, 1}, bx);
    return 0;
}
int cuStreamCreate(void** s, unsigned) { static int stream; *s = &stream; return 0; }
int cuStreamDestroy_v2(void*) { return 0; }
int cuStreamSynchronize(void*) { return 0; }
int cuEventCreate(void** e, unsigned) { *e = new Event{}; return 0; }
int cuEventDestroy_v2(void* e) { delete (Event*) e; return 0; }
int cuEventRecord(void* e, void*) { ((Event*) e)->at = std::chrono::steady_clock::now(); return 0; }
int cuEventSynchronize(void*) { return 0; }
int cuEventElapsedTime_v2(float* ms, void* a, void* b) {
    *ms = std::chrono::duration<float, std::milli>(((Event*) b)->at - ((Event*) a)->at).count();
    return 0;
}

// NVRTC. Version 0.0, so that the cubin cache never mixes these tokens with real cubins.
int nvrtcVersion(int* major, int* minor) { *major = 0; *minor = 0; return 0; }
const char* nvrtcGetErrorString(int rc) {
    switch (rc) {
    case 0: return "NVRTC_SUCCESS";
    case 3: return "NVRTC_ERROR_INVALID_INPUT";
    case 5: return "NVRTC_ERROR_INVALID_OPTION";
    case 6: return "NVRTC_ERROR_COMPILATION";
    default: return "NVRTC_ERROR_INTERNAL_ERROR";
    }
}
int nvrtcCreateProgram(void** prog, const char* src, const char* name, int, const char* const*, const char* const*) {
    *prog = new Program{src, name, "", ""};
    return 0;
}
int nvrtcCompileProgram(void* prog, int n, const char* const* options) {
    Program* p = (Program*) prog;
    bool arch = false;
    for (int i = 0; i < n; i++) {
        arch = arch || strncmp(options[i], "--gpu-architecture=sm_", 22) == 0;
    }
    if (!arch) return 5;
    bool known = false;
    for (auto& k : kernels()) {
        known = known || k.second.source == p->name;
    }
    if (!known) {
        p->log = p->name + ": the host emulation compiles only lowbit's own sources; this one was:\n" + p->source;
        return 6;
    }
    p->cubin = "LOWBIT-EMU:" + p->name;
    return 0;
}
int nvrtcGetProgramLogSize(void* prog, size_t* n) { *n = ((Program*) prog)->log.size() + 1; return 0; }
int nvrtcGetProgramLog(void* prog, char* out) { strcpy(out, ((Program*) prog)->log.c_str()); return 0; }
int nvrtcGetCUBINSize(void* prog, size_t* n) { *n = ((Program*) prog)->cubin.size() + 1; return 0; }
int nvrtcGetCUBIN(void* prog, char* out) { strcpy(out, ((Program*) prog)->cubin.c_str()); return 0; }
int nvrtcDestroyProgram(void** prog) { delete (Program*) *prog; *prog = nullptr; return 0; }
}
