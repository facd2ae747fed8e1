/* Quantize and dequantize, generic x86-64: the scalar loops of quant_scalar.h under the row code of quant_impl.h. */
#include "quant_scalar.h"

#define lb_tier_minmax lb_scalar_minmax
#define lb_tier_absmax_bits lb_scalar_absmax_bits
#define lb_tier_first_abs lb_scalar_first_abs
#define lb_tier_codes lb_scalar_codes
#define lb_tier_q8_codes32 lb_scalar_q8_codes32
#define lb_tier_q4_codes32 lb_scalar_q4_codes32
#define lb_tier_cb_codes lb_scalar_cb_codes
#define lb_tier_deq_q8_0 lb_scalar_deq_q8_0
#define lb_tier_deq_q4 lb_scalar_deq_q4
#define lb_tier_deq_codes lb_scalar_deq_codes
#define lb_tier_first_non_finite lb_scalar_first_non_finite

#include "quant_impl.h"
