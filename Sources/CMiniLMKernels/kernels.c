// Small-row products on packed weights: see include/MiniLMKernels.h.
//
// Each instruction set has a register-blocked micro-kernel: a block of up to MR rows of `a` (packed beforehand
// so that a row block's k-th values sit side by side) times one or two 16-column weight panels, all partial sums
// kept in registers for the whole of k, then bias, residual and GELU applied on the way out. With MR = 12 rows
// and two panels (AVX-512: 24 accumulators of 16 floats) every weight value read from memory feeds 12
// multiply-adds, so a one-prompt pass reads each weight once.

#include "MiniLMKernels.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CATIMAGE_X86 1
#endif

#define PW CATIMAGE_PANEL_WIDTH
// Row loops of the micro-kernels are unrolled in full so that the accumulator arrays live in registers.
#define UNROLL _Pragma("clang loop unroll(full)")
// One switch case per row count of a block: the row count is a compile-time constant in each micro-kernel.
#define ROWS_1_TO_6(CASE) CASE(1) CASE(2) CASE(3) CASE(4) CASE(5) CASE(6)
#define ROWS_1_TO_12(CASE) ROWS_1_TO_6(CASE) CASE(7) CASE(8) CASE(9) CASE(10) CASE(11) CASE(12)

size_t catimage_packed_count(int k, int n) { return (size_t)((n + PW - 1) / PW) * (size_t)k * PW; }

void catimage_pack(const float *wt, int k, int n, int ldw, float *packed) {
    int panels = (n + PW - 1) / PW;
    for (int p = 0; p < panels; p++) {
        float *panel = packed + (size_t)p * k * PW;
        for (int i = 0; i < k; i++) {
            for (int j = 0; j < PW; j++) {
                int column = p * PW + j;
                panel[(size_t)i * PW + j] = column < n ? wt[(size_t)i * ldw + column] : 0.0f;
            }
        }
    }
}

catimage_isa catimage_detected_isa(void) {
#ifdef CATIMAGE_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("fma"))
        return __builtin_cpu_supports("avx512bf16") ? CATIMAGE_ISA_AVX512_BF16 : CATIMAGE_ISA_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return CATIMAGE_ISA_AVX2;
#endif
    return CATIMAGE_ISA_PORTABLE;
}

// ---- shared pieces ----

// FastMath.erf of the Swift side: x * P(x^2) / Q(x^2) on [-4, 4], clamped outside.
static const float erf_p[7] = {-2.72614225801306e-10f, 2.77068142495902e-08f, -2.10102402082508e-06f,
                               -5.69250639462346e-05f, -7.34990630326855e-04f, -2.95459980854025e-03f,
                               -1.60960333262415e-02f};
static const float erf_q[5] = {-1.45660718464996e-05f, -2.13374055278905e-04f, -1.68282697438203e-03f,
                               -7.37332916720468e-03f, -1.42647390514189e-02f};
static const float inverse_root2 = 0.7071067811865475244f;

static inline float gelu_scalar(float v) {
    float x = v * inverse_root2;
    x = x < -4.0f ? -4.0f : (x > 4.0f ? 4.0f : x);
    float x2 = x * x;
    float p = erf_p[0];
    for (int t = 1; t < 7; t++) p = p * x2 + erf_p[t];
    float q = erf_q[0];
    for (int t = 1; t < 5; t++) q = q * x2 + erf_q[t];
    return 0.5f * v * (1.0f + x * p / q);
}

// Scratch for the packed rows of `a`, one per thread, grown on demand (threads here live as long as the process).
static _Thread_local float *scratch = NULL;
static _Thread_local size_t scratch_count = 0;

static float *scratch_for(size_t count) {
    if (count > scratch_count) {
        free(scratch);
        scratch = (float *)aligned_alloc(64, ((count * sizeof(float) + 63) / 64) * 64);
        scratch_count = scratch ? count : 0;
    }
    return scratch;
}

// Rows 0..<m cut into `blocks` blocks as even as possible (sizes differ by at most one), each <= mr_max.
static inline int block_count(int m, int mr_max) { return (m + mr_max - 1) / mr_max; }
static inline int block_start(int m, int blocks, int b) { return (int)((long)m * b / blocks); }

// bfloat16 bits of a finite float, rounded to nearest, ties to even.
static inline uint16_t bf16_round(float value) {
    uint32_t bits;
    memcpy(&bits, &value, sizeof bits);
    bits += 0x7FFFu + ((bits >> 16) & 1u);
    return (uint16_t)(bits >> 16);
}

static inline float bf16_to_float(uint16_t bits) {
    uint32_t wide = (uint32_t)bits << 16;
    float value;
    memcpy(&value, &wide, sizeof value);
    return value;
}

// Packs rows [r0, r0 + mr) of `a` as ap[i * mr + r] = a[(r0 + r) * lda + i] for i < k, zero for k <= i < kp
// (`kp` >= k: the pair layout's even count). `round` rounds each value to bfloat16 (kept as a float).
static void pack_rows(const float *a, int lda, int r0, int mr, int k, int kp, int round, float *ap) {
    for (int r = 0; r < mr; r++) {
        const float *row = a + (size_t)(r0 + r) * lda;
        if (round)
            for (int i = 0; i < k; i++) ap[(size_t)i * mr + r] = bf16_to_float(bf16_round(row[i]));
        else
            for (int i = 0; i < k; i++) ap[(size_t)i * mr + r] = row[i];
        for (int i = k; i < kp; i++) ap[(size_t)i * mr + r] = 0.0f;
    }
}

// Packs rows [r0, r0 + mr) of `a` rounded to bfloat16 in pairs, for the dot-product kernel:
// ap[q * mr + r] = bf16(a[r, 2q]) | bf16(a[r, 2q + 1]) << 16 (zero past k).
static void pack_row_pairs(const float *a, int lda, int r0, int mr, int k, uint32_t *ap) {
    int kp = (k + 1) / 2;
    for (int r = 0; r < mr; r++) {
        const float *row = a + (size_t)(r0 + r) * lda;
        for (int q = 0; q < kp; q++) {
            uint32_t low = bf16_round(row[2 * q]);
            uint32_t high = 2 * q + 1 < k ? bf16_round(row[2 * q + 1]) : 0u;
            ap[(size_t)q * mr + r] = low | high << 16;
        }
    }
}

// ---- portable C ----

static void gemm_portable(int m, int n, int k, const float *a, int lda, const void *packed, int bf16, int round_a,
                          int p0, int p1, const float *bias, const float *residual, int ldr, float *c, int ldc, int gelu) {
    for (int p = p0; p < p1; p++) {
        int kp = (k + 1) / 2;
        const float *panel = (const float *)packed + (size_t)p * k * PW;
        const uint16_t *panel16 = (const uint16_t *)packed + (size_t)p * kp * 2 * PW;
        int j0 = p * PW;
        int width = n - j0 < PW ? n - j0 : PW;
        for (int r = 0; r < m; r++) {
            float sums[PW] = {0};
            const float *row = a + (size_t)r * lda;
            if (bf16) {
                // Odd input first, then even: the order of the AVX-512 BF16 dot product (each product is exact).
                for (int q = 0; q < kp; q++) {
                    float x0 = row[2 * q];
                    float x1 = 2 * q + 1 < k ? row[2 * q + 1] : 0.0f;
                    if (round_a) {
                        x0 = bf16_to_float(bf16_round(x0));
                        x1 = bf16_to_float(bf16_round(x1));
                    }
                    const uint16_t *pairs = panel16 + (size_t)q * 2 * PW;
                    for (int j = 0; j < PW; j++) {
                        sums[j] += x1 * bf16_to_float(pairs[2 * j + 1]);
                        sums[j] += x0 * bf16_to_float(pairs[2 * j]);
                    }
                }
            } else {
                for (int i = 0; i < k; i++) {
                    float x = row[i];
                    for (int j = 0; j < PW; j++) sums[j] += x * panel[(size_t)i * PW + j];
                }
            }
            for (int j = 0; j < width; j++) {
                float v = sums[j];
                if (bias) v += bias[j0 + j];
                if (residual) v += residual[(size_t)r * ldr + j0 + j];
                c[(size_t)r * ldc + j0 + j] = gelu ? gelu_scalar(v) : v;
            }
        }
    }
}

#ifdef CATIMAGE_X86

// ---- AVX-512 ----

#define AVX512_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma")))
#define AVX512_MR 12

static inline __attribute__((always_inline)) AVX512_TARGET __m512 gelu512(__m512 v) {
    __m512 x = _mm512_mul_ps(v, _mm512_set1_ps(inverse_root2));
    x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-4.0f)), _mm512_set1_ps(4.0f));
    __m512 x2 = _mm512_mul_ps(x, x);
    __m512 p = _mm512_set1_ps(erf_p[0]);
    for (int t = 1; t < 7; t++) p = _mm512_add_ps(_mm512_mul_ps(p, x2), _mm512_set1_ps(erf_p[t]));
    __m512 q = _mm512_set1_ps(erf_q[0]);
    for (int t = 1; t < 5; t++) q = _mm512_add_ps(_mm512_mul_ps(q, x2), _mm512_set1_ps(erf_q[t]));
    __m512 erf = _mm512_div_ps(_mm512_mul_ps(x, p), q);
    return _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(0.5f), v), _mm512_add_ps(_mm512_set1_ps(1.0f), erf));
}

static inline __attribute__((always_inline)) AVX512_TARGET void store512(
    __m512 v, int r, int j, int n, const float *bias, const float *residual, int ldr, float *c, int ldc,
    int gelu) {
    int valid = n - j;
    __mmask16 mask = valid >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << valid) - 1);
    if (bias) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(mask, bias + j));
    if (residual) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(mask, residual + (size_t)r * ldr + j));
    if (gelu) v = gelu512(v);
    _mm512_mask_storeu_ps(c + (size_t)r * ldc + j, mask, v);
}

// MR rows (packed in `ap`) times NP panels starting at column j; fp32 weights.
static inline __attribute__((always_inline)) AVX512_TARGET void block512(
    const int MR, const int NP, int k, const float *ap, const float *w, int r0, int j, int n, const float *bias,
    const float *residual, int ldr, float *c, int ldc, int gelu) {
    __m512 acc0[AVX512_MR], acc1[AVX512_MR];
    UNROLL for (int r = 0; r < MR; r++) {
        acc0[r] = _mm512_setzero_ps();
        acc1[r] = _mm512_setzero_ps();
    }
    for (int i = 0; i < k; i++) {
        __m512 b0 = _mm512_loadu_ps(w + (size_t)i * PW);
        __m512 b1 = NP > 1 ? _mm512_loadu_ps(w + (size_t)(k + i) * PW) : _mm512_setzero_ps();
        const float *x = ap + (size_t)i * MR;
        UNROLL for (int r = 0; r < MR; r++) {
            __m512 xr = _mm512_set1_ps(x[r]);
            acc0[r] = _mm512_fmadd_ps(xr, b0, acc0[r]);
            if (NP > 1) acc1[r] = _mm512_fmadd_ps(xr, b1, acc1[r]);
        }
    }
    UNROLL for (int r = 0; r < MR; r++) {
        store512(acc0[r], r0 + r, j, n, bias, residual, ldr, c, ldc, gelu);
        if (NP > 1) store512(acc1[r], r0 + r, j + PW, n, bias, residual, ldr, c, ldc, gelu);
    }
}

// The same on bfloat16 weights in pairs (`catimage_pack_bf16`): a 64-byte load holds inputs 2q and 2q + 1 of 16
// columns; shifting the low halves up and masking the high halves widens them to two fp32 vectors. `ap` holds
// kp = 2 * pairs rows (zero-padded). Odd input first, then even, as the dot-product instruction adds them.
static inline __attribute__((always_inline)) AVX512_TARGET void blockpair512(
    const int MR, const int NP, int k, const float *ap, const uint16_t *w, int r0, int j, int n, const float *bias,
    const float *residual, int ldr, float *c, int ldc, int gelu) {
    int kp = (k + 1) / 2;
    __m512 acc0[AVX512_MR], acc1[AVX512_MR];
    UNROLL for (int r = 0; r < MR; r++) {
        acc0[r] = _mm512_setzero_ps();
        acc1[r] = _mm512_setzero_ps();
    }
    const __m512i high = _mm512_set1_epi32((int)0xFFFF0000u);
    for (int q = 0; q < kp; q++) {
        __m512i v0 = _mm512_loadu_si512((const void *)(w + (size_t)q * 2 * PW));
        __m512i v1 = NP > 1 ? _mm512_loadu_si512((const void *)(w + (size_t)(kp + q) * 2 * PW)) : _mm512_setzero_si512();
        __m512 e0 = _mm512_castsi512_ps(_mm512_slli_epi32(v0, 16));
        __m512 o0 = _mm512_castsi512_ps(_mm512_and_si512(v0, high));
        __m512 e1 = _mm512_castsi512_ps(_mm512_slli_epi32(v1, 16));
        __m512 o1 = _mm512_castsi512_ps(_mm512_and_si512(v1, high));
        const float *x = ap + (size_t)2 * q * MR;
        UNROLL for (int r = 0; r < MR; r++) {
            __m512 xo = _mm512_set1_ps(x[MR + r]);
            __m512 xe = _mm512_set1_ps(x[r]);
            acc0[r] = _mm512_fmadd_ps(xe, e0, _mm512_fmadd_ps(xo, o0, acc0[r]));
            if (NP > 1) acc1[r] = _mm512_fmadd_ps(xe, e1, _mm512_fmadd_ps(xo, o1, acc1[r]));
        }
    }
    UNROLL for (int r = 0; r < MR; r++) {
        store512(acc0[r], r0 + r, j, n, bias, residual, ldr, c, ldc, gelu);
        if (NP > 1) store512(acc1[r], r0 + r, j + PW, n, bias, residual, ldr, c, ldc, gelu);
    }
}

#define CASE512(MR)                                                                                            \
    case MR:                                                                                                   \
        if (bf16) {                                                                                            \
            if (np == 2)                                                                                       \
                blockpair512(MR, 2, k, ap, w, r0, j, n, bias, residual, ldr, c, ldc, gelu);                    \
            else                                                                                               \
                blockpair512(MR, 1, k, ap, w, r0, j, n, bias, residual, ldr, c, ldc, gelu);                    \
        } else {                                                                                               \
            if (np == 2)                                                                                       \
                block512(MR, 2, k, ap, w, r0, j, n, bias, residual, ldr, c, ldc, gelu);                        \
            else                                                                                               \
                block512(MR, 1, k, ap, w, r0, j, n, bias, residual, ldr, c, ldc, gelu);                        \
        }                                                                                                      \
        break;

static AVX512_TARGET void dispatch512(int mr, int np, int bf16, int k, const float *ap, const void *w, int r0, int j,
                                      int n, const float *bias, const float *residual, int ldr, float *c, int ldc,
                                      int gelu) {
    switch (mr) {
        ROWS_1_TO_12(CASE512)
    default:
        break;
    }
}

// ---- AVX-512 BF16: the bfloat16 dot product ----

#define BF16DOT_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16,avx2,fma")))

// MR rows of bfloat16 pairs (`pack_row_pairs`) times NP pair panels: one `vdpbf16ps` adds two inputs' products
// (exact in fp32) to 16 fp32 sums, twice the multiply-adds of an fp32 FMA per instruction.
static inline __attribute__((always_inline)) BF16DOT_TARGET void blockdot512(
    const int MR, const int NP, int k, const uint32_t *ap, const uint16_t *w, int r0, int j, int n, const float *bias,
    const float *residual, int ldr, float *c, int ldc, int gelu) {
    int kp = (k + 1) / 2;
    __m512 acc0[AVX512_MR], acc1[AVX512_MR];
    UNROLL for (int r = 0; r < MR; r++) {
        acc0[r] = _mm512_setzero_ps();
        acc1[r] = _mm512_setzero_ps();
    }
    for (int q = 0; q < kp; q++) {
        __m512bh v0 = (__m512bh)_mm512_loadu_si512((const void *)(w + (size_t)q * 2 * PW));
        __m512bh v1 = NP > 1 ? (__m512bh)_mm512_loadu_si512((const void *)(w + (size_t)(kp + q) * 2 * PW))
                             : (__m512bh)_mm512_setzero_si512();
        const uint32_t *x = ap + (size_t)q * MR;
        UNROLL for (int r = 0; r < MR; r++) {
            __m512bh xr = (__m512bh)_mm512_set1_epi32((int)x[r]);
            acc0[r] = _mm512_dpbf16_ps(acc0[r], xr, v0);
            if (NP > 1) acc1[r] = _mm512_dpbf16_ps(acc1[r], xr, v1);
        }
    }
    UNROLL for (int r = 0; r < MR; r++) {
        store512(acc0[r], r0 + r, j, n, bias, residual, ldr, c, ldc, gelu);
        if (NP > 1) store512(acc1[r], r0 + r, j + PW, n, bias, residual, ldr, c, ldc, gelu);
    }
}

#define CASEDOT(MR)                                                                                            \
    case MR:                                                                                                   \
        if (np == 2)                                                                                           \
            blockdot512(MR, 2, k, ap, w, r0, j, n, bias, residual, ldr, c, ldc, gelu);                         \
        else                                                                                                   \
            blockdot512(MR, 1, k, ap, w, r0, j, n, bias, residual, ldr, c, ldc, gelu);                         \
        break;

static BF16DOT_TARGET void dispatchdot512(int mr, int np, int k, const uint32_t *ap, const uint16_t *w, int r0, int j,
                                          int n, const float *bias, const float *residual, int ldr, float *c, int ldc,
                                          int gelu) {
    switch (mr) {
        ROWS_1_TO_12(CASEDOT)
    default:
        break;
    }
}

// ---- AVX2 ----

#define AVX2_TARGET __attribute__((target("avx2,fma")))
#define AVX2_MR 6

static inline __attribute__((always_inline)) AVX2_TARGET __m256 gelu256(__m256 v) {
    __m256 x = _mm256_mul_ps(v, _mm256_set1_ps(inverse_root2));
    x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-4.0f)), _mm256_set1_ps(4.0f));
    __m256 x2 = _mm256_mul_ps(x, x);
    __m256 p = _mm256_set1_ps(erf_p[0]);
    for (int t = 1; t < 7; t++) p = _mm256_add_ps(_mm256_mul_ps(p, x2), _mm256_set1_ps(erf_p[t]));
    __m256 q = _mm256_set1_ps(erf_q[0]);
    for (int t = 1; t < 5; t++) q = _mm256_add_ps(_mm256_mul_ps(q, x2), _mm256_set1_ps(erf_q[t]));
    __m256 erf = _mm256_div_ps(_mm256_mul_ps(x, p), q);
    return _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(0.5f), v), _mm256_add_ps(_mm256_set1_ps(1.0f), erf));
}

static inline __attribute__((always_inline)) AVX2_TARGET void store256(
    __m256 v, int r, int j, int n, const float *bias, const float *residual, int ldr, float *c, int ldc,
    int gelu) {
    int valid = n - j;
    if (valid >= 8) {
        if (bias) v = _mm256_add_ps(v, _mm256_loadu_ps(bias + j));
        if (residual) v = _mm256_add_ps(v, _mm256_loadu_ps(residual + (size_t)r * ldr + j));
        if (gelu) v = gelu256(v);
        _mm256_storeu_ps(c + (size_t)r * ldc + j, v);
        return;
    }
    if (valid <= 0) return;
    float lanes[8];
    _mm256_storeu_ps(lanes, v);
    for (int t = 0; t < valid; t++) {
        float value = lanes[t];
        if (bias) value += bias[j + t];
        if (residual) value += residual[(size_t)r * ldr + j + t];
        c[(size_t)r * ldc + j + t] = gelu ? gelu_scalar(value) : value;
    }
}

static inline __attribute__((always_inline)) AVX2_TARGET void block256(
    const int MR, int k, const float *ap, const float *w, int r0, int j, int n, const float *bias,
    const float *residual, int ldr, float *c, int ldc, int gelu) {
    __m256 acc0[AVX2_MR], acc1[AVX2_MR];
    UNROLL for (int r = 0; r < MR; r++) {
        acc0[r] = _mm256_setzero_ps();
        acc1[r] = _mm256_setzero_ps();
    }
    for (int i = 0; i < k; i++) {
        __m256 b0 = _mm256_loadu_ps(w + (size_t)i * PW);
        __m256 b1 = _mm256_loadu_ps(w + (size_t)i * PW + 8);
        const float *x = ap + (size_t)i * MR;
        UNROLL for (int r = 0; r < MR; r++) {
            __m256 xr = _mm256_broadcast_ss(x + r);
            acc0[r] = _mm256_fmadd_ps(xr, b0, acc0[r]);
            acc1[r] = _mm256_fmadd_ps(xr, b1, acc1[r]);
        }
    }
    UNROLL for (int r = 0; r < MR; r++) {
        store256(acc0[r], r0 + r, j, n, bias, residual, ldr, c, ldc, gelu);
        store256(acc1[r], r0 + r, j + 8, n, bias, residual, ldr, c, ldc, gelu);
    }
}

// bfloat16 pair panels (see blockpair512): the first 32 bytes of a pair row hold columns 0-7, the next 32 bytes 8-15.
static inline __attribute__((always_inline)) AVX2_TARGET void blockpair256(
    const int MR, int k, const float *ap, const uint16_t *w, int r0, int j, int n, const float *bias,
    const float *residual, int ldr, float *c, int ldc, int gelu) {
    int kp = (k + 1) / 2;
    __m256 acc0[AVX2_MR], acc1[AVX2_MR];
    UNROLL for (int r = 0; r < MR; r++) {
        acc0[r] = _mm256_setzero_ps();
        acc1[r] = _mm256_setzero_ps();
    }
    const __m256i high = _mm256_set1_epi32((int)0xFFFF0000u);
    for (int q = 0; q < kp; q++) {
        __m256i v0 = _mm256_loadu_si256((const __m256i *)(w + (size_t)q * 2 * PW));
        __m256i v1 = _mm256_loadu_si256((const __m256i *)(w + (size_t)q * 2 * PW + PW));
        __m256 e0 = _mm256_castsi256_ps(_mm256_slli_epi32(v0, 16));
        __m256 o0 = _mm256_castsi256_ps(_mm256_and_si256(v0, high));
        __m256 e1 = _mm256_castsi256_ps(_mm256_slli_epi32(v1, 16));
        __m256 o1 = _mm256_castsi256_ps(_mm256_and_si256(v1, high));
        const float *x = ap + (size_t)2 * q * MR;
        UNROLL for (int r = 0; r < MR; r++) {
            __m256 xo = _mm256_broadcast_ss(x + MR + r);
            __m256 xe = _mm256_broadcast_ss(x + r);
            acc0[r] = _mm256_fmadd_ps(xe, e0, _mm256_fmadd_ps(xo, o0, acc0[r]));
            acc1[r] = _mm256_fmadd_ps(xe, e1, _mm256_fmadd_ps(xo, o1, acc1[r]));
        }
    }
    UNROLL for (int r = 0; r < MR; r++) {
        store256(acc0[r], r0 + r, j, n, bias, residual, ldr, c, ldc, gelu);
        store256(acc1[r], r0 + r, j + 8, n, bias, residual, ldr, c, ldc, gelu);
    }
}

#define CASE256(MR)                                                                                            \
    case MR:                                                                                                   \
        if (bf16)                                                                                              \
            blockpair256(MR, k, ap, w, r0, j, n, bias, residual, ldr, c, ldc, gelu);                           \
        else                                                                                                   \
            block256(MR, k, ap, w, r0, j, n, bias, residual, ldr, c, ldc, gelu);                               \
        break;

static AVX2_TARGET void dispatch256(int mr, int bf16, int k, const float *ap, const void *w, int r0, int j, int n,
                                    const float *bias, const float *residual, int ldr, float *c, int ldc,
                                    int gelu) {
    switch (mr) {
        ROWS_1_TO_6(CASE256)
    default:
        break;
    }
}

#endif

// `bf16`: weights are bfloat16 pair panels; `round_a`: activations are rounded to bfloat16 too (then the
// dot-product instruction runs when `isa` is CATIMAGE_ISA_AVX512_BF16).
static void gemm_rows(catimage_isa isa, int bf16, int round_a, int m, int n, int k, const float *a, int lda,
                      const void *packed, int panel_begin, int panel_end, const float *bias, const float *residual,
                      int ldr, float *c, int ldc, int gelu) {
#ifdef CATIMAGE_X86
    if (isa == CATIMAGE_ISA_AVX512 || isa == CATIMAGE_ISA_AVX512_BF16 || isa == CATIMAGE_ISA_AVX2) {
        int wide = isa != CATIMAGE_ISA_AVX2;
        int dot = isa == CATIMAGE_ISA_AVX512_BF16 && round_a;
        int mr_max = wide ? AVX512_MR : AVX2_MR;
        int blocks = block_count(m, mr_max);
        int kp = bf16 ? 2 * ((k + 1) / 2) : k;
        // Rows of `a` packed per block (floats, or for the dot product one 32-bit pair per two inputs).
        float *ap = scratch_for((size_t)m * kp);
        if (ap) {
            for (int b = 0; b < blocks; b++) {
                int r0 = block_start(m, blocks, b);
                int mr = block_start(m, blocks, b + 1) - r0;
                if (dot)
                    pack_row_pairs(a, lda, r0, mr, k, (uint32_t *)ap + (size_t)r0 * (kp / 2));
                else
                    pack_rows(a, lda, r0, mr, k, kp, round_a, ap + (size_t)r0 * kp);
            }
            // A panel's bytes: k fp32 values, or kp bfloat16 values, for each of its 16 columns.
            size_t panel_bytes = bf16 ? (size_t)kp * PW * sizeof(uint16_t) : (size_t)k * PW * sizeof(float);
            // Panels outermost: a panel (or pair) is read from memory once and stays in cache for every row block.
            int p = panel_begin;
            while (p < panel_end) {
                int np = wide && p + 1 < panel_end ? 2 : 1;
                const void *w = (const char *)packed + (size_t)p * panel_bytes;
                for (int b = 0; b < blocks; b++) {
                    int r0 = block_start(m, blocks, b);
                    int mr = block_start(m, blocks, b + 1) - r0;
                    if (dot)
                        dispatchdot512(mr, np, k, (const uint32_t *)ap + (size_t)r0 * (kp / 2), (const uint16_t *)w,
                                       r0, p * PW, n, bias, residual, ldr, c, ldc, gelu);
                    else if (wide)
                        dispatch512(mr, np, bf16, k, ap + (size_t)r0 * kp, w, r0, p * PW, n, bias, residual, ldr, c,
                                    ldc, gelu);
                    else
                        dispatch256(mr, bf16, k, ap + (size_t)r0 * kp, w, r0, p * PW, n, bias, residual, ldr, c, ldc,
                                    gelu);
                }
                p += np;
            }
            return;
        }
    }
#endif
    gemm_portable(m, n, k, a, lda, packed, bf16, round_a, panel_begin, panel_end, bias, residual, ldr, c, ldc, gelu);
}

// Rows at most CHUNK_ROWS at a time (chunks as even as possible): the packed rows of a chunk (at most 96 x 1536
// floats, 576 KB) stay in L2 while every panel passes, and the scratch stays small for long batches.
#define CHUNK_ROWS 96

static void gemm(catimage_isa isa, int bf16, int round_a, int m, int n, int k, const float *a, int lda,
                 const void *packed, int panel_begin, int panel_end, const float *bias, const float *residual, int ldr,
                 float *c, int ldc, int gelu) {
    int panels = (n + PW - 1) / PW;
    if (panel_end > panels) panel_end = panels;
    if (m <= 0 || k <= 0 || panel_begin >= panel_end) return;
    round_a = bf16 && round_a;
    int chunks = block_count(m, CHUNK_ROWS);
    for (int chunk = 0; chunk < chunks; chunk++) {
        int r0 = block_start(m, chunks, chunk);
        int rows = block_start(m, chunks, chunk + 1) - r0;
        gemm_rows(isa, bf16, round_a, rows, n, k, a + (size_t)r0 * lda, lda, packed, panel_begin, panel_end, bias,
                  residual ? residual + (size_t)r0 * ldr : NULL, ldr, c + (size_t)r0 * ldc, ldc, gelu);
    }
}

void catimage_gemm_packed(catimage_isa isa, int m, int n, int k, const float *a, int lda, const float *packed,
                          int panel_begin, int panel_end, const float *bias, const float *residual, int ldr,
                          float *c, int ldc, int gelu) {
    gemm(isa, 0, 0, m, n, k, a, lda, packed, panel_begin, panel_end, bias, residual, ldr, c, ldc, gelu);
}

size_t catimage_packed_bf16_count(int k, int n) { return (size_t)((n + PW - 1) / PW) * (size_t)(2 * ((k + 1) / 2)) * PW; }

void catimage_pack_bf16(const float *wt, int k, int n, int ldw, uint16_t *packed) {
    int panels = (n + PW - 1) / PW;
    int kp = (k + 1) / 2;
    for (int p = 0; p < panels; p++) {
        uint16_t *panel = packed + (size_t)p * kp * 2 * PW;
        for (int q = 0; q < kp; q++) {
            for (int j = 0; j < PW; j++) {
                int column = p * PW + j;
                for (int t = 0; t < 2; t++) {
                    int i = 2 * q + t;
                    float value = column < n && i < k ? wt[(size_t)i * ldw + column] : 0.0f;
                    panel[((size_t)q * PW + j) * 2 + t] = bf16_round(value);
                }
            }
        }
    }
}

void catimage_gemm_packed_bf16(catimage_isa isa, int m, int n, int k, const float *a, int lda,
                               const uint16_t *packed, int panel_begin, int panel_end, const float *bias,
                               const float *residual, int ldr, float *c, int ldc, int gelu, int round_a) {
    gemm(isa, 1, round_a, m, n, k, a, lda, packed, panel_begin, panel_end, bias, residual, ldr, c, ldc, gelu);
}
