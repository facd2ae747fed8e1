// A small host emulation of the CUDA execution model, enough to run lowbit's kernels unchanged on the CPU for
// KernelEmulationTest: a block is one std::thread per CUDA thread, warps and blocks synchronize through barriers,
// shuffles and votes go through a per-warp exchange buffer. Blocks run one after another, so __shared__ variables
// can be function statics. Warp-collective calls must be reached by every lane of the warp (lowbit's kernels only
// leave early warp- or block-uniformly).
#pragma once
#include <barrier>
#include <math.h>
#include <mutex>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <thread>
#include <vector>

#define LOWBIT_HOST_CHECK 1
#define LOWBIT_HOST_WARPS 1
#define __global__
#define __launch_bounds__(n)
#define __shared__ static
#define __restrict__ __restrict

struct dim3 {
    unsigned x = 1, y = 1, z = 1;
};
inline thread_local dim3 threadIdx;
inline dim3 blockIdx;
inline dim3 blockDim;
inline dim3 gridDim;

struct float4 {
    float x, y, z, w;
};
struct uint4 {
    unsigned x, y, z, w;
};
static inline float4 make_float4(float x, float y, float z, float w) { return float4{x, y, z, w}; }
static inline uint4 make_uint4(unsigned x, unsigned y, unsigned z, unsigned w) { return uint4{x, y, z, w}; }
template <class T> static inline T __ldg(const T* p) { return *p; }
static inline int min(int a, int b) { return a < b ? a : b; }

struct EmuWarp {
    std::barrier<>* bar;
    unsigned slot[32];
    unsigned long long wide[32][4];
};
inline std::vector<EmuWarp*> emu_warps;
inline std::barrier<>* emu_block_barrier;
inline std::mutex emu_atomic;

static inline EmuWarp& emu_warp() { return *emu_warps[threadIdx.x >> 5]; }
static inline int emu_lane() { return threadIdx.x & 31; }

static inline void __syncthreads() { emu_block_barrier->arrive_and_wait(); }
static inline void __syncwarp() { emu_warp().bar->arrive_and_wait(); }

template <class T> static inline T emu_shfl(T v, int src) {
    static_assert(sizeof(T) == 4, "32-bit shuffles only");
    EmuWarp& w = emu_warp();
    unsigned u;
    memcpy(&u, &v, 4);
    w.slot[emu_lane()] = u;
    w.bar->arrive_and_wait();
    unsigned r = w.slot[src];
    w.bar->arrive_and_wait();
    T out;
    memcpy(&out, &r, 4);
    return out;
}
template <class T> static inline T __shfl_xor_sync(unsigned, T v, int o) { return emu_shfl(v, emu_lane() ^ o); }
template <class T> static inline T __shfl_down_sync(unsigned, T v, int d) {
    int src = emu_lane() + d;
    return emu_shfl(v, src < 32 ? src : emu_lane());
}
static inline bool __all_sync(unsigned, bool p) {
    EmuWarp& w = emu_warp();
    w.slot[emu_lane()] = p ? 1u : 0u;
    w.bar->arrive_and_wait();
    bool all = true;
    for (int i = 0; i < 32; i++) {
        all = all && w.slot[i] != 0;
    }
    w.bar->arrive_and_wait();
    return all;
}
static inline unsigned long long atomicMin(unsigned long long* p, unsigned long long v) {
    std::lock_guard<std::mutex> g(emu_atomic);
    unsigned long long old = *p;
    if (v < old) {
        *p = v;
    }
    return old;
}

// Runs kernel(args...) over grid x block (1-D blocks), block after block.
template <class F, class... A> static void emu_launch(dim3 grid, unsigned threads, F kernel, A... args) {
    gridDim = grid;
    blockDim = dim3{threads, 1, 1};
    for (unsigned by = 0; by < grid.y; by++) {
        for (unsigned bx = 0; bx < grid.x; bx++) {
            blockIdx = dim3{bx, by, 0};
            std::barrier<> block(threads);
            emu_block_barrier = &block;
            std::vector<std::barrier<>*> bars;
            emu_warps.clear();
            for (unsigned w = 0; w < (threads + 31) / 32; w++) {
                bars.push_back(new std::barrier<>(32));
                EmuWarp* ew = new EmuWarp();
                ew->bar = bars.back();
                emu_warps.push_back(ew);
            }
            std::vector<std::thread> ts;
            for (unsigned t = 0; t < threads; t++) {
                ts.emplace_back([=]() {
                    threadIdx = dim3{t, 0, 0};
                    kernel(args...);
                    // A thread that leaves early stops taking part in its warp's and block's barriers.
                    emu_warps[t >> 5]->bar->arrive_and_drop();
                    emu_block_barrier->arrive_and_drop();
                });
            }
            for (auto& t : ts) {
                t.join();
            }
            for (EmuWarp* w : emu_warps) {
                delete w->bar;
                delete w;
            }
        }
    }
}
