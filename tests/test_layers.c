/* test_layers.c: the network layers (codec/layers.c) against independent references: the
 * im2col convolution against a direct loop (also with column chunks cutting through images),
 * every backward pass against central differences of L = sum(r * y), the accumulation and
 * NULL-gradient rules, companding round trips, the noise generator's range, mean and
 * determinism, and the FFTW post-filter against a direct circular correlation. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include "codec/train/train.h"
#include "codec/layers.h"
#include "codec/postfilter.h"
#include "tests/check.h"

static uint32_t rng = 12345;
static float frand(void) { rng = rng * 1664525u + 1013904223u; return (float)(rng >> 8) / 16777216.0f; }

/* n floats uniform in [lo, hi) */
static float *rand_tensor(long n, float lo, float hi) {
  float *v = malloc(sizeof(float) * (n ? n : 1));
  for (long i = 0; i < n; i++) v[i] = lo + (hi - lo) * frand();
  return v;
}

/* A loss L = sum_i r_i y_i (in double) of one forward pass, for central differences. */
typedef struct {
  void (*forward)(void *ctx, float *y);
  void *ctx;
  float *y;
  const float *r;
  long n;
} loss_fn;

static double loss(const loss_fn *f) {
  f->forward(f->ctx, f->y);
  double L = 0;
  for (long i = 0; i < f->n; i++) L += (double)f->r[i] * f->y[i];
  return L;
}

/* Worst |fd - g| / max(|fd|, |g|, floor) over 20 random coordinates of v (n floats), fd being
 * the central difference of L with step eps and g the analytic gradient dL/dv. */
static double grad_error(const loss_fn *f, float *v, long n, const float *g, float eps, double floor) {
  double worst = 0;
  for (int k = 0; k < 20; k++) {
    long i = (long)(frand() * (double)n);
    float v0 = v[i], vp = v0 + eps, vm = v0 - eps;
    v[i] = vp;
    double lp = loss(f);
    v[i] = vm;
    double lm = loss(f);
    v[i] = v0;
    double fd = (lp - lm) / ((double)vp - vm);
    worst = fmax(worst, fabs(fd - g[i]) / fmax(fmax(fabs(fd), fabs(g[i])), floor));
  }
  return worst;
}

/* One convolution problem: x (Ci, P), W (Co, Ci, kh, kw), b (Co), and backward-sized scratch. */
typedef struct {
  int Ci, Co, kh, kw;
  wl_grid g;
  float *x, *W, *b, *scratch;
} conv_case;

static conv_case conv_new(int Ci, int Co, int kh, int kw, wl_grid g) {
  conv_case c = {Ci, Co, kh, kw, g, NULL, NULL, NULL, NULL};
  c.x = rand_tensor(Ci * wl_grid_size(g), -1, 1);
  c.W = rand_tensor((long)Co * Ci * kh * kw, -0.5f, 0.5f);
  c.b = rand_tensor(Co, -1, 1);
  c.scratch = malloc(sizeof(float) * (2 * wl_conv_scratch(Ci, Co, kh, kw, g) + 1));
  return c;
}

static void conv_free(conv_case *c) { free(c->x); free(c->W); free(c->b); free(c->scratch); }

static void conv_fwd(void *ctx, float *y) {
  conv_case *c = ctx;
  wl_conv_forward(y, c->x, c->W, c->b, c->Ci, c->Co, c->kh, c->kw, c->g, c->scratch);
}

/* Direct 'same' convolution in double, zero outside each image. */
static void conv_ref(double *y, const conv_case *c, int bias) {
  wl_grid g = c->g;
  long P = wl_grid_size(g);
  for (int o = 0; o < c->Co; o++)
    for (int bi = 0; bi < g.B; bi++)
      for (int i = 0; i < g.h; i++)
        for (int j = 0; j < g.w; j++) {
          double s = bias ? c->b[o] : 0;
          for (int ci = 0; ci < c->Ci; ci++)
            for (int a = 0; a < c->kh; a++)
              for (int d = 0; d < c->kw; d++) {
                int ii = i + a - c->kh / 2, jj = j + d - c->kw / 2;
                if (ii >= 0 && ii < g.h && jj >= 0 && jj < g.w)
                  s += (double)c->W[((o * c->Ci + ci) * c->kh + a) * c->kw + d] *
                       c->x[ci * P + ((long)bi * g.h + ii) * g.w + jj];
              }
          y[o * P + ((long)bi * g.h + i) * g.w + j] = s;
        }
}

/* kh x kw kernels on B images of h x w; P > 4096 (the chunk) splits chunks mid-image. */
static const struct { int kh, kw; wl_grid g; } shapes[] = {
    {3, 3, {2, 5, 7}}, {1, 3, {2, 5, 7}}, {1, 1, {2, 5, 7}}, {1, 3, {2, 1, 37}},
    {3, 3, {3, 40, 50}}, {1, 3, {3, 1, 2000}}, {1, 1, {3, 40, 50}}};
#define NSHAPES (int)(sizeof shapes / sizeof shapes[0])

static void test_conv_reference(void) {
  t_begin("conv 3x3, 1x3, 1x1 equal a direct loop, with and without bias, across chunks");
  for (int k = 0; k < NSHAPES; k++) {
    conv_case c = conv_new(3, 4, shapes[k].kh, shapes[k].kw, shapes[k].g);
    long n = c.Co * wl_grid_size(c.g);
    float *y = malloc(sizeof(float) * n);
    double *ref = malloc(sizeof(double) * n);
    for (int bias = 0; bias < 2; bias++) {
      wl_conv_forward(y, c.x, c.W, bias ? c.b : NULL, c.Ci, c.Co, c.kh, c.kw, c.g, c.scratch);
      conv_ref(ref, &c, bias);
      double worst = 0;
      for (long i = 0; i < n; i++) worst = fmax(worst, fabs(y[i] - ref[i]) / fmax(1, fabs(ref[i])));
      T_EXPECT(worst < 1e-5, "%dx%d on %d x %dx%d, bias %d: error %g", c.kh, c.kw, c.g.B, c.g.h, c.g.w, bias,
               worst);
    }
    free(y); free(ref); conv_free(&c);
  }
  t_end();
}

/* Winograd's 3x3 (wl_wino_conv): within 3e-5 of the direct loop; every band of positions, on
 * 1, 2 and 3 threads, gives each output the bits of the whole grid on one thread; a row wider
 * than a unit's tiles, Co not a multiple of the product's 4 rows, images of odd size in one
 * unit. An input read through SiLU (as decoding's residual blocks read h) gives the bits of a
 * SiLU'd copy's, and a residual added without an activation those of the sum made apart. */
static void test_winograd(void) {
  t_begin("3x3 by Winograd: within 3e-5 of a direct loop; any band of positions on 1, 2, 3 threads has the whole "
          "grid's bits; its input read through SiLU, and a residual without activation, as computed apart");
  static const wl_grid grids[] = {{3, 5, 7}, {1, 9, 401}, {2, 6, 30}};
  const int all = omp_get_max_threads();
  for (int k = 0; k < 3; k++) {
    const wl_grid g = grids[k];
    const long P = wl_grid_size(g);
    conv_case c = conv_new(6, 5, 3, 3, g);
    const wl_wino_src x = {c.x, P, 0, 0};
    float *whole = malloc(sizeof(float) * 5 * P), *part = malloc(sizeof(float) * 5 * P);
    double *ref = malloc(sizeof(double) * 5 * P), worst = 0;
    omp_set_num_threads(1);
    wl_wino_conv(whole, P, 0, P, &x, c.W, NULL, c.b, NULL, NULL, c.Ci, c.Co, g, c.scratch);
    conv_ref(ref, &c, 1);
    for (long i = 0; i < 5 * P; i++) worst = fmax(worst, fabs(whole[i] - ref[i]) / fmax(1, fabs(ref[i])));
    T_EXPECT(worst < 3e-5, "%d x %dx%d: error %g", g.B, g.h, g.w, worst);
    float *U = malloc(sizeof(float) * WL_WINO_XI * c.Ci * c.Co);
    wl_wino_weights(U, c.W, c.Ci, c.Co);
    for (int t = 1; t <= 3; t++) { /* on 2 threads from kernels transformed once, as stripes do */
      omp_set_num_threads(t);
      float *scratch = malloc(sizeof(float) * wl_wino_scratch(c.Ci, c.Co));
      const long step = P / 3 + 5;
      memset(part, 0, sizeof(float) * 5 * P);
      for (long p0 = 0; p0 < P; p0 += step)
        wl_wino_conv(part + p0, P, p0, p0 + step < P ? step : P - p0, &x, c.W, t == 2 ? U : NULL, c.b, NULL, NULL, c.Ci,
                     c.Co, g, scratch);
      T_EXPECT(!memcmp(whole, part, sizeof(float) * 5 * P), "%d x %dx%d on %d threads: bands differ", g.B, g.h, g.w,
               t);
      free(scratch);
    }
    /* read through SiLU (x->silu), in bands and with a residual but no activation: the bits of
     * the convolution of a SiLU'd copy, plus the residual */
    float *sx = malloc(sizeof(float) * c.Ci * P), *res = rand_tensor(5 * P, -2, 2);
    wl_silu_span(sx, c.x, c.Ci * P);
    const wl_wino_src xs = {sx, P, 0, 0}, xf = {c.x, P, 0, 1};
    wl_wino_conv(whole, P, 0, P, &xs, c.W, NULL, c.b, NULL, NULL, c.Ci, c.Co, g, c.scratch);
    for (long i = 0; i < 5 * P; i++) whole[i] = res[i] + whole[i];
    const long step = P / 3 + 5;
    for (long p0 = 0; p0 < P; p0 += step)
      wl_wino_conv(part + p0, P, p0, p0 + step < P ? step : P - p0, &xf, c.W, U, c.b, res + p0, NULL, c.Ci, c.Co, g,
                   c.scratch);
    T_EXPECT(!memcmp(whole, part, sizeof(float) * 5 * P), "%d x %dx%d: through SiLU, with a residual, differs", g.B,
             g.h, g.w);
    free(sx); free(res);
    free(whole); free(part); free(ref); free(U); conv_free(&c);
  }
  omp_set_num_threads(all);
  t_end();
}

/* wl_gemm, the encoder's and decoder's product: the AVX-512 and AVX2 kernels (those this CPU has)
 * and the portable fmaf loop agree bit for bit, with and without accumulating into C, for row
 * counts around the 8- and 4-row tiles and widths around the 48, 24, 16 and 8 columns, B and C in wider rows; within 1e-5 of a double-precision
 * sum; accumulating adds C to the product as one float addition (a bias set first rounds as one
 * added after, stripes.c); and a column has the same bits when its neighbours are not computed
 * with it. */
static void test_gemm(void) {
  t_begin("product (wl_gemm): AVX-512 and AVX2 equal portable bit for bit, also accumulating (= product + C); "
          "within 1e-5 of double sums; a column's bits do not depend on the columns beside it");
  enum { K = 37, NMAX = 100, LDB = NMAX + 5, LDC = NMAX + 3, MMAX = 17 };
  float *A = rand_tensor(MMAX * K, -1, 1), *B = rand_tensor(K * LDB, -1, 1), *C0 = rand_tensor(MMAX * LDC, -2, 2);
  float *C1 = malloc(sizeof(float) * MMAX * LDC), *C2 = malloc(sizeof(float) * MMAX * LDC);
  float *prod = malloc(sizeof(float) * MMAX * LDC);
  for (int M = 1; M <= MMAX; M++)
    for (long N = 1; N <= NMAX; N += 3)
      for (int acc = 0; acc < 2; acc++) {
        memcpy(C1, C0, sizeof(float) * MMAX * LDC);
        wl_gemm(C1, LDC, A, B, LDB, M, K, N, acc, WL_GEMM_PLAIN);
        for (int isa = WL_GEMM_AVX2; isa <= WL_GEMM_AVX512; isa++) {
          memcpy(C2, C0, sizeof(float) * MMAX * LDC);
          wl_gemm(C2, LDC, A, B, LDB, M, K, N, acc, isa);
          T_EXPECT(!memcmp(C1, C2, sizeof(float) * MMAX * LDC), "%d x %ld, acc %d: kernel %d differs", M, N, acc, isa);
        }
        if (!acc) memcpy(prod, C1, sizeof(float) * MMAX * LDC);
        double worst = 0;
        int sums = 1;
        for (int i = 0; i < M; i++)
          for (long j = 0; j < N; j++) {
            double r = acc ? C0[i * LDC + j] : 0;
            for (int k = 0; k < K; k++) r += (double)A[i * K + k] * B[k * LDB + j];
            worst = fmax(worst, fabs(C1[i * LDC + j] - r) / fmax(1, fabs(r)));
            sums &= !acc || C1[i * LDC + j] == prod[i * LDC + j] + C0[i * LDC + j];
          }
        T_EXPECT(worst < 1e-5, "%d x %ld, acc %d: error %g", M, N, acc, worst);
        T_EXPECT(sums, "%d x %ld: accumulating is not the product plus C", M, N);
        if (N > 9) { /* columns 5 .. N-1 alone, as a stripe computes its part */
          memcpy(C2, C0, sizeof(float) * MMAX * LDC);
          wl_gemm(C2 + 5, LDC, A, B + 5, LDB, M, K, N - 5, acc, WL_GEMM_AVX512);
          for (int i = 0; i < M; i++)
            T_EXPECT(!memcmp(C1 + i * LDC + 5, C2 + i * LDC + 5, sizeof(float) * (N - 5)), "%d x %ld: a part differs",
                     M, N);
        }
      }
  free(A); free(B); free(C0); free(C1); free(C2); free(prod);
  t_end();
}

/* wl_conv_act against its parts done one after another: the convolution, the residual add
 * and wl_silu_span, bit for bit, with separate buffers and in place (y = res, act = y). */
static void test_conv_act(void) {
  t_begin("conv + residual + SiLU in one pass (wl_conv_act) equals the three apart, bit for bit, also in place");
  for (int k = 0; k < NSHAPES; k++) {
    conv_case c = conv_new(4, 4, shapes[k].kh, shapes[k].kw, shapes[k].g);
    const long n = c.Co * wl_grid_size(c.g);
    float *res = rand_tensor(n, -3, 3), *y = malloc(sizeof(float) * n), *act = malloc(sizeof(float) * n);
    float *ry = malloc(sizeof(float) * n), *ract = malloc(sizeof(float) * n), *ny = malloc(sizeof(float) * n);
    wl_conv_forward(ry, c.x, c.W, c.b, c.Ci, c.Co, c.kh, c.kw, c.g, c.scratch);
    for (long i = 0; i < n; i++) ny[i] = ry[i], ry[i] = res[i] + ry[i];
    wl_silu_span(ract, ry, n);
    wl_conv_act(y, act, res, c.x, c.W, c.b, c.Ci, c.Co, c.kh, c.kw, c.g, c.scratch);
    T_EXPECT(!memcmp(y, ry, sizeof(float) * n) && !memcmp(act, ract, sizeof(float) * n), "apart, shape %d", k);
    memcpy(y, res, sizeof(float) * n);
    wl_conv_act(y, act, y, c.x, c.W, c.b, c.Ci, c.Co, c.kh, c.kw, c.g, c.scratch);
    T_EXPECT(!memcmp(y, ry, sizeof(float) * n) && !memcmp(act, ract, sizeof(float) * n), "y = res, shape %d", k);
    wl_silu_span(ract, ny, n);
    wl_conv_act(y, y, NULL, c.x, c.W, c.b, c.Ci, c.Co, c.kh, c.kw, c.g, c.scratch);
    T_EXPECT(!memcmp(y, ract, sizeof(float) * n), "act = y, no residual, shape %d", k);
    free(res); free(y); free(act); free(ry); free(ract); free(ny); conv_free(&c);
  }
  t_end();
}

/* The SiLU's own exponential against x / (1 + exp(-x)) in double. */
static void test_silu_accuracy(void) {
  t_begin("SiLU within 3e-7 (relative) of x / (1 + exp(-x)) over [-100, 100]; 0 at -inf side, x at +inf side");
  const long n = 400001;
  float *x = malloc(sizeof(float) * n), *y = malloc(sizeof(float) * n);
  for (long i = 0; i < n; i++) x[i] = -100.0f + 200.0f * (float)i / (float)(n - 1);
  wl_silu_span(y, x, n);
  double worst = 0;
  for (long i = 0; i < n; i++) {
    const double r = x[i] / (1.0 + exp(-(double)x[i]));
    if (fabs(r) > 1e-30) worst = fmax(worst, fabs(y[i] - r) / fabs(r));
  }
  T_EXPECT(worst < 3e-7, "relative error %g", worst);
  float big[4] = {1e30f, 88.5f, -88.5f, -1e30f}, out[4];
  wl_silu_span(out, big, 4);
  T_EXPECT(out[0] == 1e30f && out[1] == 88.5f && fabs(out[2]) < 1e-36 && fabs(out[3]) < 1e-7,
           "ends: %g %g %g %g", out[0], out[1], out[2], out[3]);
  free(x); free(y);
  t_end();
}

static void test_conv_gradients(void) {
  t_begin("conv backward dx, dW, db match central differences (3x3, 1x3, 1x1, chunked)");
  for (int k = 0; k < NSHAPES; k++) {
    conv_case c = conv_new(3, 4, shapes[k].kh, shapes[k].kw, shapes[k].g);
    long P = wl_grid_size(c.g), nW = (long)c.Co * c.Ci * c.kh * c.kw;
    float *r = rand_tensor(c.Co * P, -1, 1), *y = malloc(sizeof(float) * c.Co * P);
    float *dx = calloc(c.Ci * P, sizeof(float)), *dW = calloc(nW, sizeof(float)), *db = calloc(c.Co, sizeof(float));
    wl_conv_backward(dx, dW, db, r, c.x, c.W, c.Ci, c.Co, c.kh, c.kw, c.g, c.scratch); /* dL/dy = r */
    loss_fn f = {conv_fwd, &c, y, r, c.Co * P};
    double ex = grad_error(&f, c.x, c.Ci * P, dx, 1e-3f, 0.1), eW = grad_error(&f, c.W, nW, dW, 1e-3f, 0.1),
           eb = grad_error(&f, c.b, c.Co, db, 1e-3f, 0.1);
    T_EXPECT(ex < 1e-2 && eW < 1e-2 && eb < 1e-2, "%dx%d on %d x %dx%d: dx %.2g dW %.2g db %.2g", c.kh, c.kw,
             c.g.B, c.g.h, c.g.w, ex, eW, eb);
    free(r); free(y); free(dx); free(dW); free(db); conv_free(&c);
  }
  t_end();
}

/* max |a - s b| / max(1, |s b|) */
static double scaled_diff(const float *a, const float *b, float s, long n) {
  double worst = 0;
  for (long i = 0; i < n; i++) worst = fmax(worst, fabs(a[i] - s * b[i]) / fmax(1, fabs(s * b[i])));
  return worst;
}

static void test_conv_accumulates(void) {
  t_begin("conv backward accumulates (two calls double it) and skips NULL gradients");
  conv_case c = conv_new(5, 6, 3, 3, (wl_grid){2, 9, 11});
  long P = wl_grid_size(c.g), nx = c.Ci * P, nW = (long)c.Co * c.Ci * 9;
  float *dy = rand_tensor(c.Co * P, -1, 1), *g[2][3];
  for (int t = 0; t < 2; t++) {
    g[t][0] = calloc(nx, sizeof(float)), g[t][1] = calloc(nW, sizeof(float)), g[t][2] = calloc(c.Co, sizeof(float));
    for (int rep = 0; rep <= t; rep++)
      wl_conv_backward(g[t][0], g[t][1], g[t][2], dy, c.x, c.W, c.Ci, c.Co, 3, 3, c.g, c.scratch);
  }
  T_EXPECT(scaled_diff(g[1][0], g[0][0], 2, nx) < 1e-5, "dx not doubled");
  T_EXPECT(scaled_diff(g[1][1], g[0][1], 2, nW) < 1e-5, "dW not doubled");
  T_EXPECT(scaled_diff(g[1][2], g[0][2], 2, c.Co) < 1e-5, "db not doubled");
  /* each gradient alone, into buffers holding the one-call result: again doubled */
  wl_conv_backward(g[0][0], NULL, NULL, dy, c.x, c.W, c.Ci, c.Co, 3, 3, c.g, c.scratch);
  wl_conv_backward(NULL, g[0][1], NULL, dy, c.x, c.W, c.Ci, c.Co, 3, 3, c.g, c.scratch);
  wl_conv_backward(NULL, NULL, g[0][2], dy, c.x, c.W, c.Ci, c.Co, 3, 3, c.g, c.scratch);
  long len[3] = {nx, nW, c.Co};
  for (int i = 0; i < 3; i++) T_EXPECT(scaled_diff(g[0][i], g[1][i], 1, len[i]) < 1e-5, "gradient %d alone", i);
  for (int t = 0; t < 2; t++)
    for (int i = 0; i < 3; i++) free(g[t][i]);
  free(dy); conv_free(&c);
  t_end();
}

/* Elementwise layers: inputs x (and x2 for add), n values, bits for companding. */
typedef struct { float *x, *x2; long n; int bits; } elt;
static void silu_fwd(void *ctx, float *y) { elt *e = ctx; wl_silu_span(y, e->x, e->n); }
static void add_fwd(void *ctx, float *y) {
  elt *e = ctx;
  for (long i = 0; i < e->n; i++) y[i] = e->x[i] + e->x2[i];
}
static void compand_fwd(void *ctx, float *y) { elt *e = ctx; wl_compand_forward(y, e->x, e->n, e->bits); }
static void uncompand_fwd(void *ctx, float *y) { elt *e = ctx; wl_uncompand_forward(y, e->x, e->n, e->bits); }

static void test_elementwise_gradients(void) {
  t_begin("silu, add, compand, uncompand backward match central differences");
  const long n = 1000;
  float *r = rand_tensor(n, -1, 1), *y = malloc(sizeof(float) * n);
  float *d1 = calloc(n, sizeof(float)), *d2 = calloc(n, sizeof(float));
  elt e = {rand_tensor(n, -6, 6), rand_tensor(n, -1, 1), n, 0};
  loss_fn f = {silu_fwd, &e, y, r, n};
  wl_silu_backward(d1, r, e.x, n);
  double err = grad_error(&f, e.x, n, d1, 1e-2f, 0.05);
  T_EXPECT(err < 2e-3, "silu: %.2g", err);

  memset(d1, 0, sizeof(float) * n);
  wl_add_backward(d1, d2, r, n);
  f.forward = add_fwd;
  err = fmax(grad_error(&f, e.x, n, d1, 1e-3f, 0.05), grad_error(&f, e.x2, n, d2, 1e-3f, 0.05));
  T_EXPECT(err < 2e-3, "add: %.2g", err);
  wl_add_backward(NULL, d2, r, n); /* da not needed */
  T_EXPECT(scaled_diff(d2, r, 2, n) == 0, "add backward with da = NULL");

  for (e.bits = 4; e.bits <= 8; e.bits += 4) {
    double L, s;
    wl_compand_params(e.bits, &L, &s);
    for (long i = 0; i < n; i++) e.x[i] = (float)(s * 3 * (2 * frand() - 1));
    memset(d1, 0, sizeof(float) * n);
    wl_compand_backward(d1, r, e.x, n, e.bits);
    f.forward = compand_fwd;
    err = grad_error(&f, e.x, n, d1, (float)(1e-3 * s), 0.05);
    T_EXPECT(err < 2e-3, "compand, %d bits: %.2g", e.bits, err);

    for (long i = 0; i < n; i++) e.x[i] = (float)(0.95 * L * (2 * frand() - 1)); /* away from the clamp */
    memset(d1, 0, sizeof(float) * n);
    wl_uncompand_backward(d1, r, e.x, n, e.bits);
    f.forward = uncompand_fwd;
    err = grad_error(&f, e.x, n, d1, (float)(1e-3 * L), 0.05);
    T_EXPECT(err < 2e-3, "uncompand, %d bits: %.2g", e.bits, err);

    float u[4] = {(float)L, (float)-L, (float)(0.99995 * L), (float)(-0.99995 * L)}, one[4] = {1, 1, 1, 1};
    float du[4] = {0};
    wl_uncompand_backward(du, one, u, 4, e.bits);
    T_EXPECT(!du[0] && !du[1] && !du[2] && !du[3], "uncompand gradient not 0 where clamped");
  }
  free(r); free(y); free(d1); free(d2); free(e.x); free(e.x2);
  t_end();
}

static void test_compand_round_trip(void) {
  t_begin("uncompand(compand(y)) == y for |y| < 2s; uncompand(q) == wl_dequantise_one(q), 4 and 8 bits");
  const long n = 10001;
  float *y = malloc(sizeof(float) * n), *u = malloc(sizeof(float) * n), *back = malloc(sizeof(float) * n);
  for (int bits = 4; bits <= 8; bits += 4) {
    double L, s;
    wl_compand_params(bits, &L, &s);
    for (long i = 0; i < n; i++) y[i] = (float)(2 * s * (2.0 * i / (n - 1) - 1) * 0.9999);
    wl_compand_forward(u, y, n, bits);
    wl_uncompand_forward(back, u, n, bits);
    double worst = 0;
    for (long i = 0; i < n; i++) worst = fmax(worst, fabs(back[i] - y[i]));
    T_EXPECT(worst < 1e-4, "%d bits: error %g", bits, worst);
    /* bottleneck.c's Newton-iteration probit is an independent reference for Acklam + Halley */
    int qmax = (1 << (bits - 1)) - 1;
    for (int q = -qmax; q <= qmax; q++) {
      float uq = (float)q, yq;
      wl_uncompand_forward(&yq, &uq, 1, bits);
      double ref = wl_dequantise_one(q, L, s);
      T_EXPECT(fabs(yq - ref) <= 1e-6 * fmax(1, fabs(ref)), "%d bits: q %d gives %.9g, not %.9g", bits, q, yq, ref);
    }
  }
  free(y); free(u); free(back);
  t_end();
}

static void test_noise(void) {
  t_begin("wl_uniform is in [0, 1), has mean 1/2, is deterministic; noise is thread-count free");
  const long n = 100000;
  double sum = 0;
  int outside = 0, same = 0;
  for (long i = 0; i < n; i++) {
    float v = wl_uniform(7, (uint64_t)i);
    sum += v;
    outside += !(v >= 0 && v < 1);
    same += v == wl_uniform(8, (uint64_t)i);
    T_EXPECT(v == wl_uniform(7, (uint64_t)i), "not deterministic at %ld", i);
  }
  T_EXPECT(fabs(sum / n - 0.5) < 0.01, "mean %g", sum / n);
  T_EXPECT(outside == 0, "%d values outside [0, 1)", outside);
  T_EXPECT(same < 5, "seeds 7 and 8 agree at %d of %ld counters", same, n);
  T_EXPECT(wl_uniform(0, 0) != wl_uniform(0, 1) && wl_uniform(0, 0) != 0, "seed 0 degenerate");

  float *a = calloc(n, sizeof(float)), *b = calloc(n, sizeof(float));
  int threads = omp_get_max_threads();
  omp_set_num_threads(1);
  wl_noise_forward(a, n, 42);
  omp_set_num_threads(threads > 1 ? threads : 2);
  wl_noise_forward(b, n, 42);
  omp_set_num_threads(threads);
  int bad = 0;
  for (long i = 0; i < n; i++) bad += a[i] != b[i] || a[i] != wl_uniform(42, (uint64_t)i) - 0.5f;
  T_EXPECT(bad == 0, "%d noise values differ across thread counts or from wl_uniform - 1/2", bad);
  free(a); free(b);
  t_end();
}

/* One post-filter problem: taps h (F) on a block x (n). */
typedef struct {
  wl_fir_plan p;
  int F;
  float *h, *x, *work;
  fftwf_complex *G, *V, *T;
} fir_case;

static void fir_fwd(void *ctx, float *y) {
  fir_case *c = ctx;
  wl_fir_spectrum(&c->p, c->h, c->F, c->work, c->G);
  wl_fir_forward(&c->p, c->G, c->x, y, c->V, c->T);
}

static void test_postfilter(void) {
  t_begin("post-filter: FFTW circular correlation (one block, and overlap-save over blocks) = direct loop; dx, dh "
          "match central differences");
  static const struct { long n; int F; } cases[] = {{64, 5}, {63, 129}, {5, 9}, {1000, 129}, {7, 1}, {20011, 129},
                                                     {8064, 129}, {3000, 2049}};
  for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
    const long n = cases[k].n, bins = n / 2 + 1;
    const int F = cases[k].F;
    fir_case c = {.F = F, .h = rand_tensor(F, -1, 1), .x = rand_tensor(n, -1, 1), .work = malloc(sizeof(float) * n)};
    T_EXPECT(wl_fir_plan_init(&c.p, n) == 0, "plan %ld", n);
    c.G = fftwf_malloc(sizeof(fftwf_complex) * bins * 4);
    c.V = c.G + bins;
    c.T = c.G + 2 * bins;
    float *y = malloc(sizeof(float) * n), *r = rand_tensor(n, -1, 1), *dy = malloc(sizeof(float) * n);
    float *dh = calloc(F, sizeof(float));
    fir_fwd(&c, y);
    double worst = 0;
    for (long i = 0; i < n; i++) {
      double ref = 0;
      for (int t = 0; t < F; t++) ref += (double)c.h[t] * c.x[((i + t - F / 2) % n + n) % n];
      worst = fmax(worst, fabs(ref - y[i]));
    }
    T_EXPECT(worst < 1e-4, "n %ld F %d: forward error %g", n, F, worst);
    float *z = malloc(sizeof(float) * n * 2); /* two channels, the second with reversed taps */
    float *h2 = malloc(sizeof(float) * F * 2);
    for (int t = 0; t < F; t++) h2[t] = c.h[t], h2[F + t] = c.h[F - 1 - t];
    memcpy(z, c.x, sizeof(float) * n);
    memcpy(z + n, c.x, sizeof(float) * n);
    T_EXPECT(wl_fir_apply(h2, F, z, 2, n, NULL) == 0, "apply");
    double wa = 0;
    for (long i = 0; i < n; i++) {
      double r0 = 0, r1 = 0;
      for (int t = 0; t < F; t++) {
        const float v = c.x[((i + t - F / 2) % n + n) % n];
        r0 += (double)h2[t] * v;
        r1 += (double)h2[F + t] * v;
      }
      wa = fmax(wa, fmax(fabs(r0 - z[i]), fabs(r1 - z[n + i])));
    }
    T_EXPECT(wa < 1e-4, "n %ld F %d: overlap-save error %g", n, F, wa);
    free(z); free(h2);
    memcpy(dy, r, sizeof(float) * n);
    wl_fir_backward(&c.p, c.G, c.V, dy, F, dh, c.work, c.T, c.G + 3 * bins); /* dy becomes dL/dx */
    loss_fn f = {fir_fwd, &c, y, r, n};
    double ex = grad_error(&f, c.x, n, dy, 0.25f, 0.1), eh = grad_error(&f, c.h, F, dh, 0.25f, 0.1); /* linear: any step */
    T_EXPECT(ex < 2e-3 && eh < 2e-3, "n %ld F %d: dx %.2g dh %.2g", n, F, ex, eh);
    wl_fir_plan_free(&c.p);
    fftwf_free(c.G);
    free(c.h); free(c.x); free(c.work); free(y); free(r); free(dy); free(dh);
  }
  t_end();
}

int main(void) {
  test_conv_reference();
  test_conv_gradients();
  test_conv_accumulates();
  test_elementwise_gradients();
  test_compand_round_trip();
  test_noise();
  test_postfilter();
  test_conv_act();
  test_silu_accuracy();
  test_winograd();
  test_gemm();
  return t_summary();
}
