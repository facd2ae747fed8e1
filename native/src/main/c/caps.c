/* Which tier this CPU and OS can run: CPUID for the instructions, XGETBV for the register state the OS saves. */
#include <cpuid.h>
#include <stdint.h>

#include "lowbit.h"

static uint64_t xcr0(void) {
    uint32_t eax, edx;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return ((uint64_t) edx << 32) | eax;
}

int lowbit_caps(void) {
    unsigned int a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) {
        return 0;
    }
    int fma = (c >> 12) & 1, osxsave = (c >> 27) & 1, avx = (c >> 28) & 1, f16c = (c >> 29) & 1;
    if (!osxsave || !avx) {
        return 0;
    }
    uint64_t state = xcr0();
    if ((state & 0x6) != 0x6) { /* XMM and YMM state */
        return 0;
    }
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) {
        return 0;
    }
    int avx2 = (b >> 5) & 1, bmi2 = (b >> 8) & 1;
    if (!(avx2 && fma && f16c && bmi2)) {
        return 0;
    }
    int f = (b >> 16) & 1, dq = (b >> 17) & 1, bw = (b >> 30) & 1, vl = (b >> 31) & 1, vnni = (c >> 11) & 1;
    int zmm_state = (state & 0xE0) == 0xE0; /* opmask, upper halves of ZMM0-15, ZMM16-31 */
    if (f && dq && bw && vl && vnni && zmm_state) {
        return 2;
    }
    return 1;
}

int lowbit_abi_version(void) {
    return LOWBIT_ABI_VERSION;
}
