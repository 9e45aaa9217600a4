#ifndef CATIMAGE_MINILM_KERNELS_H
#define CATIMAGE_MINILM_KERNELS_H

// Small-row matrix products for the MiniLM forward pass on weights packed once at load.
//
// Packed layout: the weight `W^T` ([k, n], row-major: row = input, column = output) is cut into panels of
// CATIMAGE_PANEL_WIDTH output columns; panel p holds, for every input i in order, the 16 values
// W^T[i, 16p .. 16p+15] (zero past n). A panel is one contiguous run of k * 16 floats that the kernel streams
// once for every block of rows.

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CATIMAGE_PANEL_WIDTH 16

/// Instruction sets the product can run on.
typedef enum {
    CATIMAGE_ISA_PORTABLE = 0,
    CATIMAGE_ISA_AVX2 = 1,
    CATIMAGE_ISA_AVX512 = 2,
    /// AVX-512 with the bfloat16 dot product (`vdpbf16ps`); fp32 products run as on CATIMAGE_ISA_AVX512.
    CATIMAGE_ISA_AVX512_BF16 = 3,
} catimage_isa;

/// The best instruction set this CPU supports (AVX-512 F/BW/VL + FMA with or without AVX512_BF16, AVX2 + FMA,
/// else portable C).
catimage_isa catimage_detected_isa(void);

/// Floats a packed `[k, n]` weight takes (whole panels).
size_t catimage_packed_count(int k, int n);

/// Packs `wt` (`[k, n]` row-major, row stride `ldw`: the transposed PyTorch weight) into `packed`
/// (`catimage_packed_count(k, n)` floats).
void catimage_pack(const float *wt, int k, int n, int ldw, float *packed);

/// `c[r, j] = act(sum_i a[r, i] * W^T[i, j] + bias[j] + residual[r, j])` for rows `0 ..< m` and the columns of
/// panels `panel_begin ..< panel_end` (clipped to `n`). `bias` and `residual` may be NULL; `gelu` != 0 applies
/// the exact-erf GELU (the same rational erf as the Swift `FastMath.erf`). `residual` may equal `c` (same
/// stride) since each element is read before it is written. `isa` must not exceed `catimage_detected_isa()`.
void catimage_gemm_packed(
    catimage_isa isa, int m, int n, int k, const float *a, int lda, const float *packed, int panel_begin,
    int panel_end, const float *bias, const float *residual, int ldr, float *c, int ldc, int gelu);

/// bfloat16 values a packed `[k, n]` weight takes in the pair layout (whole panels, `k` rounded up to even).
size_t catimage_packed_bf16_count(int k, int n);

/// Packs `wt` rounded to bfloat16 (nearest, ties to even) in the pair layout of the bfloat16 dot product: panel p
/// holds, for each pair of inputs (2q, 2q + 1) in order, its 16 columns' pairs `W^T[2q, j], W^T[2q + 1, j]` side
/// by side (zero past n and past k): `catimage_packed_bf16_count(k, n)` values, half the bytes of fp32.
void catimage_pack_bf16(const float *wt, int k, int n, int ldw, uint16_t *packed);

/// `catimage_gemm_packed` on bfloat16 weights (from `catimage_pack_bf16`), accumulated in fp32. `round_a` != 0
/// rounds `a` to bfloat16 as well (every product is then exact in fp32), which is what lets
/// CATIMAGE_ISA_AVX512_BF16 use the dot-product instruction; other instruction sets compute the same sums with
/// FMAs (odd input of each pair first, then even, as the instruction does). `round_a` == 0: fp32 activations.
void catimage_gemm_packed_bf16(
    catimage_isa isa, int m, int n, int k, const float *a, int lda, const uint16_t *packed, int panel_begin,
    int panel_end, const float *bias, const float *residual, int ldr, float *c, int ldc, int gelu, int round_a);

#ifdef __cplusplus
}
#endif

#endif
