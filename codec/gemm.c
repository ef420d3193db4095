/* gemm.c: the matrix products of encoding and decoding (the encoder's projection, the decoder's
 * convolutions, Winograd's products), this project's own rather than OpenBLAS's. Each element
 * C[i][j] is fmaf over k = 0 .. K-1 in order from 0, then plus C's own value when accumulating
 * (as OpenBLAS's beta 1 adds it: a bias set first, then added to, rounds as a bias added after
 * the product). So an element has the same bits whichever columns, thread or CPU compute it
 * (image stripes rely on that), where OpenBLAS gives a column other bits in a call of another
 * width and picks its kernels by the CPU models it knows: Debian 12's 0.3.21 runs its SSE3
 * (Prescott) kernel on CPUs newer than it, a fifth of a 4-Mpixel decode's time. An AVX-512 or an
 * AVX2 kernel serves where the CPU has one (AVX2 with FMA); elsewhere a plain loop gives the same
 * bits, slowly. Training's
 * backward passes keep OpenBLAS. */
#include <math.h>
#include <string.h>
#include "codec/layers.h"
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define HAVE_AVX2_GEMM 1
#endif

static void gemm_plain(float *C, long ldc, const float *A, const float *B, long ldb, int M, int K, long N, int acc) {
  for (int i = 0; i < M; i++)
    for (long j = 0; j < N; j++) {
      float s = 0.0f;
      for (int k = 0; k < K; k++) s = fmaf(A[(long)i * K + k], B[k * ldb + j], s);
      C[i * ldc + j] = acc ? s + C[i * ldc + j] : s;
    }
}

#ifdef HAVE_AVX2_GEMM
#define AVX2 __attribute__((target("avx2,fma")))
#define INLINE inline __attribute__((always_inline))

/* Columns of one tile: V vectors of 8. */
#define V 3

/* The tile of rows i .. i+R-1 and the 8 V columns from j (masked: only those `mask` keeps), one
 * accumulator a vector and row. */
AVX2 static INLINE void tile(float *C, long ldc, const float *A, const float *B, long ldb, int K, int acc, int R,
                             int masked, const __m256i *mask) {
  __m256 c[4][V];
#pragma GCC unroll 4
  for (int r = 0; r < R; r++)
#pragma GCC unroll 3
    for (int v = 0; v < V; v++) c[r][v] = _mm256_setzero_ps();
  for (int k = 0; k < K; k++) {
    __m256 b[V];
#pragma GCC unroll 3
    for (int v = 0; v < V; v++)
      b[v] = masked ? _mm256_maskload_ps(B + k * ldb + 8 * v, mask[v]) : _mm256_loadu_ps(B + k * ldb + 8 * v);
#pragma GCC unroll 4
    for (int r = 0; r < R; r++) {
      const __m256 s = _mm256_broadcast_ss(A + (long)r * K + k);
#pragma GCC unroll 3
      for (int v = 0; v < V; v++) c[r][v] = _mm256_fmadd_ps(s, b[v], c[r][v]);
    }
  }
#pragma GCC unroll 4
  for (int r = 0; r < R; r++)
#pragma GCC unroll 3
    for (int v = 0; v < V; v++) {
      float *o = C + r * ldc + 8 * v;
      if (acc) c[r][v] = _mm256_add_ps(c[r][v], masked ? _mm256_maskload_ps(o, mask[v]) : _mm256_loadu_ps(o));
      if (masked) _mm256_maskstore_ps(o, mask[v], c[r][v]);
      else _mm256_storeu_ps(o, c[r][v]);
    }
}

/* One column panel (8 V columns, or the masked rest) down all M rows, 4 rows a tile (then 2 and
 * 1): the panel of B stays in L1 while A streams. */
AVX2 static INLINE void panel(float *C, long ldc, const float *A, const float *B, long ldb, int M, int K, int acc,
                              int masked, const __m256i *mask) {
  int i = 0;
  for (; i + 4 <= M; i += 4) tile(C + i * ldc, ldc, A + (long)i * K, B, ldb, K, acc, 4, masked, mask);
  if ((M - i) & 2) tile(C + i * ldc, ldc, A + (long)i * K, B, ldb, K, acc, 2, masked, mask), i += 2;
  if ((M - i) & 1) tile(C + i * ldc, ldc, A + (long)i * K, B, ldb, K, acc, 1, masked, mask);
}

AVX2 static void gemm_avx2(float *C, long ldc, const float *A, const float *B, long ldb, int M, int K, long N,
                           int acc) {
  const __m256i full = _mm256_set1_epi32(-1), lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const __m256i all[V] = {full, full, full};
  long j = 0;
  for (; j + 8 * V <= N; j += 8 * V) panel(C + j, ldc, A, B + j, ldb, M, K, acc, 0, all);
  if (j < N) {
    __m256i mask[V];
    for (int v = 0; v < V; v++) mask[v] = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(N - j - 8 * v)), lanes);
    panel(C + j, ldc, A, B + j, ldb, M, K, acc, 1, mask);
  }
}

#define AVX512 __attribute__((target("avx512f")))

/* tile()'s AVX-512 twin: up to 8 rows by 48 columns (three vectors of 16), the columns past n of
 * the last vectors masked off. The same fused multiply-adds in the same order, so the same bits. */
AVX512 static INLINE void tile512(float *C, long ldc, const float *A, const float *B, long ldb, int K, int acc, int R,
                                  const __mmask16 *mask) {
  __m512 c[8][V];
#pragma GCC unroll 8
  for (int r = 0; r < R; r++)
#pragma GCC unroll 3
    for (int v = 0; v < V; v++) c[r][v] = _mm512_setzero_ps();
  for (int k = 0; k < K; k++) {
    __m512 b[V];
#pragma GCC unroll 3
    for (int v = 0; v < V; v++) b[v] = _mm512_maskz_loadu_ps(mask[v], B + k * ldb + 16 * v);
#pragma GCC unroll 8
    for (int r = 0; r < R; r++) {
      const __m512 s = _mm512_set1_ps(A[(long)r * K + k]);
#pragma GCC unroll 3
      for (int v = 0; v < V; v++) c[r][v] = _mm512_fmadd_ps(s, b[v], c[r][v]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < R; r++)
#pragma GCC unroll 3
    for (int v = 0; v < V; v++) {
      float *o = C + r * ldc + 16 * v;
      if (acc) c[r][v] = _mm512_add_ps(c[r][v], _mm512_maskz_loadu_ps(mask[v], o));
      _mm512_mask_storeu_ps(o, mask[v], c[r][v]);
    }
}

AVX512 static void gemm_avx512(float *C, long ldc, const float *A, const float *B, long ldb, int M, int K, long N,
                               int acc) {
  for (long j = 0; j < N; j += 16 * V) {
    __mmask16 mask[V];
    for (int v = 0; v < V; v++) {
      const long n = N - j - 16 * v;
      mask[v] = n >= 16 ? 0xffff : n > 0 ? (__mmask16)((1u << n) - 1) : 0;
    }
    int i = 0;
    for (; i + 8 <= M; i += 8) tile512(C + i * ldc + j, ldc, A + (long)i * K, B + j, ldb, K, acc, 8, mask);
    float *c = C + i * ldc + j;
    const float *a = A + (long)i * K, *b = B + j;
    switch (M - i) { /* the rest in one pass over the panel */
      case 7: tile512(c, ldc, a, b, ldb, K, acc, 7, mask); break;
      case 6: tile512(c, ldc, a, b, ldb, K, acc, 6, mask); break;
      case 5: tile512(c, ldc, a, b, ldb, K, acc, 5, mask); break;
      case 4: tile512(c, ldc, a, b, ldb, K, acc, 4, mask); break;
      case 3: tile512(c, ldc, a, b, ldb, K, acc, 3, mask); break;
      case 2: tile512(c, ldc, a, b, ldb, K, acc, 2, mask); break;
      case 1: tile512(c, ldc, a, b, ldb, K, acc, 1, mask); break;
    }
  }
}
#endif

void wl_gemm(float *C, long ldc, const float *A, const float *B, long ldb, int M, int K, long N, int acc,
             int widest) {
#ifdef HAVE_AVX2_GEMM
  if (widest >= WL_GEMM_AVX512 && __builtin_cpu_supports("avx512f")) {
    gemm_avx512(C, ldc, A, B, ldb, M, K, N, acc);
    return;
  }
  if (widest >= WL_GEMM_AVX2 && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
    gemm_avx2(C, ldc, A, B, ldb, M, K, N, acc);
    return;
  }
#endif
  gemm_plain(C, ldc, A, B, ldb, M, K, N, acc);
}
