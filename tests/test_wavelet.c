/* test_wavelet.c: wavelet/wpt.h against PyWavelets vectors (tests/gen_wavelet_vectors.py
 * wrote testdata/wavelet/), perfect reconstruction up to J = 10 (1-D) and 6 (2-D), adjoints by
 * dot products, identical results for 1 and 2 OpenMP threads, argument checks. Run from the
 * repository root. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#include "tests/check.h"
#include "wavelet/wpt.h"

#define DIR "testdata/wavelet/"
#define TOL 1e-5 /* of max|reference| */

typedef struct {
  int dims, C, H, W, J; /* 1-D: H = 1, W = T */
  float *x, *X;         /* x [C][H][W] input, X [C*(2^dims)^J][H>>J][W>>J] pywt output */
} vcase;

static float *read_f32(const char *name, size_t n) {
  char path[256];
  snprintf(path, sizeof path, DIR "%s", name);
  FILE *f = fopen(path, "rb");
  float *p = malloc(n * sizeof(float) + 1);
  size_t got = f && p ? fread(p, 1, n * sizeof(float) + 1, f) : 0;
  if (f) fclose(f);
  if (got != n * sizeof(float)) { free(p); return NULL; }
  return p; /* little-endian on every target we build for */
}

static size_t samples(const vcase *v) { return (size_t)v->C * v->H * v->W; }

/* The eight transforms: op FWD (F), INV (G = F^-1), FWD_ADJ (F^T), INV_ADJ (G^T). */
enum { FWD, INV, FWD_ADJ, INV_ADJ, NOPS };
typedef int wpt1_fn(const float *, int, int, int, float *);
typedef int wpt2_fn(const float *, int, int, int, int, float *);
static wpt1_fn *const wpt1[NOPS] = {wl_wpt1_forward, wl_wpt1_inverse, wl_wpt1_forward_adjoint,
                                    wl_wpt1_inverse_adjoint};
static wpt2_fn *const wpt2[NOPS] = {wl_wpt2_forward, wl_wpt2_inverse, wl_wpt2_forward_adjoint,
                                    wl_wpt2_inverse_adjoint};
static const char *const op_name[NOPS] = {"forward", "inverse", "forward adjoint",
                                          "inverse adjoint"};

static int xform(const vcase *v, int op, const float *in, float *out) {
  return v->dims == 2 ? wpt2[op](in, v->C, v->H, v->W, v->J, out)
                      : wpt1[op](in, v->C, v->W, v->J, out);
}

static double maxabs(const float *a, size_t n) {
  double m = 0;
  for (size_t i = 0; i < n; i++) m = fmax(m, fabs(a[i]));
  return m;
}

static double maxdiff(const float *a, const float *b, size_t n) {
  double m = 0;
  for (size_t i = 0; i < n; i++) m = fmax(m, fabs((double)a[i] - b[i]));
  return m;
}

/* Reads testdata/wavelet/cases.txt: "dims C H W J input output" per line. */
static int load_cases(vcase *v, int cap) {
  FILE *f = fopen(DIR "cases.txt", "r");
  if (!f) return 0;
  char fin[128], fout[128];
  int n = 0;
  while (n < cap && fscanf(f, "%d %d %d %d %d %127s %127s", &v[n].dims, &v[n].C, &v[n].H,
                           &v[n].W, &v[n].J, fin, fout) == 7) {
    v[n].x = read_f32(fin, samples(&v[n]));
    v[n].X = read_f32(fout, samples(&v[n]));
    if (!v[n].x || !v[n].X) {
      free(v[n].x), free(v[n].X);
      break;
    }
    n++;
  }
  fclose(f);
  return n;
}

/* Forward against pywt, and inverse of pywt's coefficients against the input. Also checks that
 * every J 1..4 is covered in 1-D and 2-D, and J = 8 in 1-D. */
static void test_vectors(const vcase *v, int n, int dims) {
  int seen = 0;
  for (int i = 0; i < n; i++) {
    if (v[i].dims != dims) continue;
    seen |= 1 << v[i].J;
    size_t N = samples(&v[i]);
    float *X = malloc(N * sizeof(float)), *x = malloc(N * sizeof(float));
    T_EXPECT(xform(&v[i], FWD, v[i].x, X) == 0, "forward failed");
    double e = maxdiff(X, v[i].X, N), m = maxabs(v[i].X, N);
    T_EXPECT(e <= TOL * m, "C=%d %dx%d J=%d: forward off pywt by %g (max %g)", v[i].C, v[i].H,
             v[i].W, v[i].J, e, m);
    T_EXPECT(xform(&v[i], INV, v[i].X, x) == 0, "inverse failed");
    e = maxdiff(x, v[i].x, N), m = maxabs(v[i].x, N);
    T_EXPECT(e <= TOL * m, "C=%d %dx%d J=%d: inverse of pywt off input by %g", v[i].C, v[i].H,
             v[i].W, v[i].J, e);
    free(X);
    free(x);
  }
  int want = 0x1e | (dims == 1 ? 1 << 8 : 0);
  T_EXPECT((seen & want) == want, "levels covered %#x, want %#x", seen, want);
}

/* The comparison must see a wrong band order: swap two bands of size q in the reference. */
static double err_swapped(const vcase *v, const float *X, int b0, int b1) {
  size_t N = samples(v), q = N / ((size_t)v->C << (v->dims * v->J));
  float *R = malloc(N * sizeof(float));
  memcpy(R, v->X, N * sizeof(float));
  memcpy(R + b0 * q, v->X + b1 * q, q * sizeof(float));
  memcpy(R + b1 * q, v->X + b0 * q, q * sizeof(float));
  double e = maxdiff(X, R, N) / maxabs(R, N);
  free(R);
  return e;
}

/* Natural order vs the alternatives: 'h' <-> 'v' in 2-D, 'a' <-> 'd' at the last level and
 * frequency (Gray code) order 'da' <-> 'dd' in 1-D, and channel order. */
static void test_order_detected(const vcase *v, int n) {
  int done = 0;
  for (int i = 0; i < n; i++) {
    if (v[i].J != 2 || v[i].C != 3) continue;
    size_t N = samples(&v[i]);
    int nb = 1 << (v[i].dims * v[i].J); /* bands per channel */
    float *X = malloc(N * sizeof(float));
    xform(&v[i], FWD, v[i].x, X);
    const int sw[2][3][2] = {{{nb + 1, nb}, {0, nb}, {2, 3}},              /* ad/aa, chan, da/dd */
                             {{nb + 1, nb + 2}, {0, nb}, {nb + 2, nb + 3}}}; /* h/v, chan, v/d */
    for (int s = 0; s < 3; s++) {
      const int *b = sw[v[i].dims - 1][s];
      double e = err_swapped(&v[i], X, b[0], b[1]);
      T_EXPECT(e > 100 * TOL, "%d-D: swapping bands %d, %d goes unseen (%g)", v[i].dims, b[0],
               b[1], e);
    }
    free(X);
    done |= v[i].dims;
  }
  T_EXPECT(done == 3, "need C=3 J=2 cases in 1-D and 2-D");
}

static uint32_t rng_state;
static float frand(void) { /* uniform [-1, 1), xorshift32 */
  rng_state ^= rng_state << 13, rng_state ^= rng_state >> 17, rng_state ^= rng_state << 5;
  return (float)(rng_state >> 8) / (1 << 23) - 1.0f;
}

/* mean + 100 * uniform [-1, 1) */
static float *random_signal(size_t n, uint32_t seed, float mean) {
  float *x = malloc(n * sizeof(float));
  rng_state = seed;
  for (size_t i = 0; i < n; i++) x[i] = mean + 100.0f * frand();
  return x;
}

/* inverse(forward(x)) == x to TOL of max|x| for every J of one shape; also checks that the
 * forward output is not x itself. */
static void roundtrip(int dims, int C, int H, int W, int J0, int J1) {
  vcase v = {dims, C, H, W, 0, NULL, NULL};
  size_t N = samples(&v);
  float *x = random_signal(N, 7u + (uint32_t)(H * W), 128), *X = malloc(N * sizeof(float));
  float *y = malloc(N * sizeof(float));
  for (v.J = J0; v.J <= J1; v.J++) {
    T_EXPECT(xform(&v, FWD, x, X) == 0 && xform(&v, INV, X, y) == 0, "J=%d failed", v.J);
    double e = maxdiff(x, y, N) / maxabs(x, N);
    T_EXPECT(e <= TOL, "%d-D C=%d %dx%d J=%d: relative error %g", dims, C, H, W, v.J, e);
    T_EXPECT(maxdiff(x, X, N) > 1.0, "J=%d: forward left x unchanged", v.J);
  }
  free(x);
  free(X);
  free(y);
}

static double dot(const float *a, const float *b, size_t n) {
  double s = 0;
  for (size_t i = 0; i < n; i++) s += (double)a[i] * b[i];
  return s;
}

/* For A = F and G and zero-mean random x, y: <A x, y> = <x, A^T y> to TOL of |<A x, y>|, in
 * double. Then G^T F^T = (F G)^T = I and F^T G^T = I, to TOL of max|y|. */
static void adjoint(int dims, int C, int H, int W, int J) {
  vcase v = {dims, C, H, W, J, NULL, NULL};
  size_t N = samples(&v);
  float *x = random_signal(N, 11u + (uint32_t)J, 0), *y = random_signal(N, 13u * (uint32_t)W, 0);
  float *Ax = malloc(N * sizeof(float)), *Aty = malloc(N * sizeof(float));
  for (int op = FWD; op <= INV; op++) {
    T_EXPECT(xform(&v, op, x, Ax) == 0 && xform(&v, op + FWD_ADJ, y, Aty) == 0, "failed");
    double l = dot(Ax, y, N), r = dot(x, Aty, N);
    T_EXPECT(fabs(l - r) <= TOL * fabs(l), "%d-D C=%d %dx%d J=%d: <A x, y> %.9g, <x, A^T y> %.9g "
             "for the %s", dims, C, H, W, J, l, r, op_name[op + FWD_ADJ]);
  }
  for (int op = FWD_ADJ; op <= INV_ADJ; op++) { /* the other one undoes op */
    T_EXPECT(xform(&v, op, y, Aty) == 0 && xform(&v, FWD_ADJ + INV_ADJ - op, Aty, Ax) == 0,
             "failed");
    double e = maxdiff(Ax, y, N) / maxabs(y, N);
    T_EXPECT(e <= TOL, "%d-D C=%d %dx%d J=%d: %s undone to %g", dims, C, H, W, J, op_name[op], e);
  }
  free(x), free(y), free(Ax), free(Aty);
}

/* Every transform of one input with 1 and 2 threads must agree bit for bit. */
static void test_threads(int dims, int C, int H, int W, int J) {
#ifdef _OPENMP
  vcase v = {dims, C, H, W, J, NULL, NULL};
  size_t N = samples(&v);
  float *x = random_signal(N, 99, 128), *out[2][NOPS];
  int keep = omp_get_max_threads();
  for (int t = 0; t < 2; t++) {
    omp_set_num_threads(t + 1);
    for (int op = 0; op < NOPS; op++) {
      out[t][op] = malloc(N * sizeof(float));
      T_EXPECT(xform(&v, op, x, out[t][op]) == 0, "%s failed", op_name[op]);
    }
  }
  omp_set_num_threads(keep);
  for (int op = 0; op < NOPS; op++) {
    T_EXPECT(!memcmp(out[0][op], out[1][op], N * sizeof(float)), "%s depends on threads",
             op_name[op]);
    free(out[0][op]), free(out[1][op]);
  }
  free(x);
#else
  (void)dims, (void)C, (void)H, (void)W, (void)J;
  T_EXPECT(0, "built without OpenMP");
#endif
}

/* In place (out == in) every transform gives the out-of-place result bit for bit, for even
 * and odd phase counts (the odd ones end with a copy back from the scratch). */
static void test_in_place(int dims, int C, int H, int W, int J) {
  vcase v = {dims, C, H, W, J, NULL, NULL};
  size_t N = samples(&v);
  float *x = random_signal(N, 7, 0), *ref = malloc(N * sizeof(float)), *y = malloc(N * sizeof(float));
  for (int op = 0; op < NOPS; op++) {
    memcpy(y, x, N * sizeof(float));
    T_EXPECT(xform(&v, op, x, ref) == 0 && xform(&v, op, y, y) == 0, "%s failed", op_name[op]);
    T_EXPECT(!memcmp(ref, y, N * sizeof(float)), "%s in place differs (dims %d, J %d)", op_name[op], dims, J);
  }
  free(x), free(ref), free(y);
}

/* FNV-1a 64 of n floats' bytes. */
static uint64_t hash_floats(const float *a, size_t n) {
  uint64_t h = 1469598103934665603ull;
  const unsigned char *b = (const unsigned char *)a;
  for (size_t i = 0; i < n * sizeof(float); i++) h = (h ^ b[i]) * 1099511628211ull;
  return h;
}

/* Golden hashes of every transform's output bytes for fixed inputs, recorded with the plain
 * lifting loops (checked against pywt above) before the forward rows were blocked, and (the last
 * three) before bands were transformed depth first and column strips blocked: any change to the
 * arithmetic of a transform, and so to encoded bytes, shows up here. */
static void test_golden(void) {
  static const struct { int dims, C, H, W, J; uint64_t hash[NOPS]; } g[] = {
      {1, 2, 1, 3 << 12, 8, {0x5ab784af183aac45, 0xbf72d558b4d28d8f, 0x5d339f6ee2a5fe1e, 0x48a26b4c1502c490}},
      {1, 1, 1, 40, 3, {0x73a0fe88bdc4a03d, 0x799d5904aa703a07, 0xc1cb44f78ade7fbf, 0x7196efce58015c39}},
      {2, 3, 96, 128, 3, {0x11d534700ccac4f6, 0xfed8b77820bfc37c, 0x8e6d2620fc7871f5, 0x75974c085bd75129}},
      {1, 1, 1, 3000, 2, {0xf814854950cbbce5, 0x082d38863be0da8a, 0x3189295ce2c35250, 0x38dce9af879f8313}}, /* short last block */
      /* levels before the band-by-band ones (wpt's BAND_FLOATS): 1 level in 2-D, 2 in 1-D */
      {2, 2, 512, 384, 3, {0x8e3ae48e747bf7bc, 0x79ff8f8bfc62aff3, 0x0d59523af2b8bc33, 0xf02d1e8c085f20b0}},
      {1, 2, 1, 1 << 19, 5, {0xf6b06f315996783c, 0xb65ddcb257f2d6d8, 0x2bbdd0c8c335838e, 0xffb9f56478d8b6d8}},
      {2, 1, 64, 200, 3, {0x38799273cf5ac22a, 0x163267290f4ceda3, 0xd8660562e58757d8, 0x7c10dcba59ce870d}}, /* column strips of 64, 64, 64, 8; then 64, 36; 50 */
  };
  for (size_t i = 0; i < sizeof g / sizeof g[0]; i++) {
    vcase v = {g[i].dims, g[i].C, g[i].H, g[i].W, g[i].J, NULL, NULL};
    size_t N = samples(&v);
    float *x = random_signal(N, 1234 + (uint32_t)i, 3), *y = malloc(N * sizeof(float));
    for (int op = 0; op < NOPS; op++) {
      T_EXPECT(xform(&v, op, x, y) == 0, "%s failed", op_name[op]);
      uint64_t h = hash_floats(y, N);
      T_EXPECT(h == g[i].hash[op], "case %zu %s: hash 0x%016llx", i, op_name[op], (unsigned long long)h);
    }
    free(x), free(y);
  }
}

/* wl_wpt2_forward_scaled(x, a, b) equals wl_wpt2_forward of the copy a x + b bit for bit, out of
 * place and in place. */
static void test_scaled(int C, int H, int W, int J) {
  const size_t N = (size_t)C * H * W;
  const float a = 1.0f / 255, b = -0.5f;
  float *x = random_signal(N, 99u + (uint32_t)H, 128), *y = malloc(N * sizeof(float));
  float *ref = malloc(N * sizeof(float)), *got = malloc(N * sizeof(float));
  for (size_t i = 0; i < N; i++) y[i] = x[i] * a + b;
  T_EXPECT(wl_wpt2_forward(y, C, H, W, J, ref) == 0, "forward failed");
  T_EXPECT(wl_wpt2_forward_scaled(x, C, H, W, J, a, b, got) == 0, "scaled forward failed");
  T_EXPECT(!memcmp(ref, got, N * sizeof(float)), "scaled differs (%dx%dx%d, J %d)", C, H, W, J);
  T_EXPECT(wl_wpt2_forward_scaled(x, C, H, W, J, a, b, x) == 0, "scaled forward in place failed");
  T_EXPECT(!memcmp(ref, x, N * sizeof(float)), "scaled in place differs (%dx%dx%d, J %d)", C, H, W, J);
  free(x), free(y), free(ref), free(got);
}

/* wl_wpt1_forward_inplace on rows cs apart (with junk between them), mapped or not, equals
 * wl_wpt1_forward of the mapped rows laid end to end, bit for bit, with 1 and 2 threads; the
 * junk stays. T from short rows (no block path) to rows whose first levels are whole passes
 * (T > 2^17). */
static void test_inplace1(int C, int T, int J, long gap, int mapped) {
  const long cs = T + gap;
  const size_t N = (size_t)C * T, M = (size_t)C * cs;
  const float map[2] = {1.0f / 32768, 0.25f};
  float *x = random_signal(N, 7u + (uint32_t)T, 128), *y = malloc(N * sizeof(float)), *ref = malloc(N * sizeof(float));
  float *row = malloc(M * sizeof(float)), *work = malloc(2 * wl_wpt1_inplace_floats(T) * sizeof(float));
  for (size_t i = 0; i < N; i++) y[i] = mapped ? x[i] * map[0] + map[1] : x[i];
  T_EXPECT(wl_wpt1_forward(y, C, T, J, ref) == 0, "forward failed");
#ifdef _OPENMP
  const int keep = omp_get_max_threads();
  for (int t = 1; t <= 2; t++) {
    omp_set_num_threads(t);
#else
  for (int t = 1; t <= 1; t++) {
#endif
    for (size_t i = 0; i < M; i++) row[i] = -7.0f;
    for (int c = 0; c < C; c++) memcpy(row + c * cs, x + (size_t)c * T, (size_t)T * sizeof(float));
    int same = wl_wpt1_forward_inplace(row, cs, C, T, J, mapped ? map : NULL, work,
                                       (size_t)t * wl_wpt1_inplace_floats(T)) == 0;
    for (int c = 0; c < C && same; c++) {
      same = !memcmp(row + c * cs, ref + (size_t)c * T, (size_t)T * sizeof(float));
      for (long k = T; k < cs && same; k++) same = row[c * cs + k] == -7.0f;
    }
    T_EXPECT(same, "in place differs (C %d, T %d, J %d, gap %ld, map %d, %d threads)", C, T, J, gap, mapped, t);
  }
#ifdef _OPENMP
  omp_set_num_threads(keep);
#endif
  T_EXPECT(wl_wpt1_forward_inplace(row, T - 1, C, T, J, NULL, work, wl_wpt1_inplace_floats(T)) == -2 &&
               wl_wpt1_forward_inplace(row, cs, C, T, J, NULL, work, 0) == -2,
           "rows closer than T, or too little work, accepted");
  free(x), free(y), free(ref), free(row), free(work);
}

static void test_bad_args(void) {
  float a[256] = {0}, b[256];
  T_EXPECT(wl_wpt1_forward(NULL, 1, 16, 2, b) == -2, "NULL x");
  T_EXPECT(wl_wpt1_inverse(a, 1, 16, 2, NULL) == -2, "NULL x");
  T_EXPECT(wl_wpt1_forward(a, 0, 16, 2, b) == -2, "C = 0");
  T_EXPECT(wl_wpt1_forward(a, 1, 18, 2, b) == -2, "T not a multiple of 4");
  T_EXPECT(wl_wpt1_forward(a, 1, 16, 0, b) == -2, "J = 0");
  T_EXPECT(wl_wpt1_inverse(a, 1, 16, 11, b) == -2, "J = 11");
  T_EXPECT(wl_wpt1_forward(a, 1, -16, 2, b) == -2, "T < 0");
  T_EXPECT(wl_wpt2_forward(a, 1, 16, 12, 3, b) == -2, "W not a multiple of 8");
  T_EXPECT(wl_wpt2_inverse(a, 1, 12, 16, 3, b) == -2, "H not a multiple of 8");
  T_EXPECT(wl_wpt2_forward(a, 1, 128, 128, 7, b) == -2, "J = 7");
  T_EXPECT(wl_wpt2_inverse(a, -1, 16, 16, 1, b) == -2, "C < 0");
  T_EXPECT(wl_wpt2_forward(a, 1 << 30, 1 << 30, 1 << 30, 1, b) == -2, "size overflow");
  T_EXPECT(wl_wpt1_forward_adjoint(NULL, 1, 16, 2, b) == -2, "NULL X");
  T_EXPECT(wl_wpt1_inverse_adjoint(a, 1, 18, 2, b) == -2, "T not a multiple of 4");
  T_EXPECT(wl_wpt2_forward_adjoint(a, 1, 16, 12, 3, NULL) == -2, "NULL x");
  T_EXPECT(wl_wpt2_inverse_adjoint(a, 1, 128, 128, 7, b) == -2, "J = 7");
  T_EXPECT(wl_wpt2_forward(a, 1, 16, 16, 4, b) == 0, "valid call");
  T_EXPECT(wl_wpt2_inverse_adjoint(a, 1, 16, 16, 4, b) == 0, "valid call");
}

int main(void) {
  enum { MAXCASES = 64 };
  vcase v[MAXCASES];
  int n = load_cases(v, MAXCASES);

  t_begin("wavelet_vectors_load");
  T_EXPECT(n >= 20, "read %d cases from " DIR "cases.txt", n);
  t_end();
  t_begin("wavelet_wpt2_matches_pywt");
  test_vectors(v, n, 2);
  t_end();
  t_begin("wavelet_wpt1_matches_pywt");
  test_vectors(v, n, 1);
  t_end();
  t_begin("wavelet_band_order_detected");
  test_order_detected(v, n);
  t_end();
  t_begin("wavelet_wpt1_roundtrip_J1_10");
  roundtrip(1, 2, 1, 3 << 10, 1, 10);
  roundtrip(1, 1, 1, 1 << 10, 10, 10);
  t_end();
  t_begin("wavelet_wpt2_roundtrip_J1_6");
  roundtrip(2, 3, 128, 192, 1, 6);
  roundtrip(2, 1, 64, 64, 6, 6);
  t_end();
  t_begin("wavelet_wpt1_adjoints");
  for (int J = 1; J <= 5; J += 2) adjoint(1, 2, 1, 96, J);
  adjoint(1, 1, 1, 3 << 10, 10);
  t_end();
  t_begin("wavelet_wpt2_adjoints");
  for (int J = 1; J <= 3; J++) adjoint(2, 2, 24, 40, J);
  adjoint(2, 1, 48, 136, 3); /* column strips of 64, 64 and 8 */
  adjoint(2, 1, 64, 64, 6);
  t_end();
  t_begin("wavelet_in_place_identical");
  for (int J = 1; J <= 3; J++) test_in_place(1, 2, 1, 96, J);
  test_in_place(2, 3, 64, 80, 2);
  test_in_place(2, 1, 32, 32, 1);
  t_end();
  t_begin("wavelet_golden_bytes");
  test_golden();
  t_end();
  t_begin("wavelet_threads_identical");
  test_threads(2, 3, 256, 384, 3);
  test_threads(2, 1, 512, 64, 1);
  test_threads(1, 2, 1, 1 << 16, 6);
  t_end();
  t_begin("wavelet_scaled_input_identical");
  test_scaled(3, 96, 136, 3);
  test_scaled(2, 512, 384, 3); /* level 0 over all bands, then band by band */
  t_end();
  t_begin("wavelet_wpt1_inplace_identical");
  test_inplace1(1, 64, 3, 0, 0);
  test_inplace1(2, 4096, 8, 1, 1);
  test_inplace1(3, 1 << 11, 10, 5, 1);
  test_inplace1(2, 3 << 17, 8, 256, 1); /* L0 = 2: two whole passes, then band by band */
  t_end();
  t_begin("wavelet_bad_arguments");
  test_bad_args();
  t_end();

  for (int i = 0; i < n; i++) free(v[i].x), free(v[i].X);
  return t_summary();
}
