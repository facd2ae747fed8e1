/* ggml's K-quant and 5-bit blocks, generic x86-64: the scalar algorithms of quant_kq.h under quant_kq_impl.h. */
#include "quant_kq.h"

#include "quant_kq_impl.h"
