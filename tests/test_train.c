/* Tests of the neural trainer (codec/train.c): the whole training objective against central
 * finite differences, exact resumption from a checkpoint, and the saved model decoding as
 * wl_trainer_validate measured. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "tests/check.h"
#include "codec/internal.h"

static uint32_t rng = 777;
static float frand(void) { rng = rng * 1664525u + 1013904223u; return (float)(rng >> 8) / 16777216.0f; }

static wl_image test_image(int C, int H, int W) {
  wl_image img = {C, H, W, 8, malloc(sizeof(float) * C * H * W), NULL};
  for (int c = 0; c < C; c++)
    for (int r = 0; r < H; r++)
      for (int j = 0; j < W; j++)
        img.planes[(c * H + r) * W + j] = floorf(127.5f + 90 * sinf(0.11f * r + c) * cosf(0.13f * j) + 30 * frand());
  return img;
}

static wl_train_params small(float lambda) {
  return (wl_train_params){.name = "t", .channels = 3, .J = 2, .K = 6, .bits = 8, .N = 8, .R = 1, .crop = 16,
                           .batch = 3, .steps = 100, .warmup = 2, .lr = 1e-3f, .weight_decay = 1e-4f,
                           .lambda = lambda, .jitter = 0.05f, .gain = 8, .seed = 5};
}

/* Loss of the trainer's current batch: what its gradient entries differentiate. */
static double objective(wl_trainer *t, float lambda, int rate_entry) {
  double psnr, bpp;
  const float *g;
  wl_trainer_objective(t, &psnr, &bpp, &g);
  return rate_entry ? bpp : lambda * bpp - psnr;
}

static void gradient_check(const wl_image *imgs, float lambda) {
  char name[120];
  snprintf(name, sizeof name, "trainer gradient matches central differences of the loss (lambda %g)", lambda);
  t_begin(name);
  wl_train_params p = small(lambda);
  wl_trainer *t;
  T_EXPECT(wl_trainer_new(&t, imgs, 2, &p) == 0, "trainer");
  wl_model *m = wl_trainer_model(t);
  for (long i = 0; i < (long)m->D * m->N; i++) m->res_out_w[i] = 0.05f * (2 * frand() - 1); /* starts at 0 */
  for (int k = 0; k < m->d.K; k++) m->fill[k] = 0.3f * (2 * frand() - 1);
  double mse, bpp;
  const float *g0;
  T_EXPECT(wl_trainer_objective(t, &mse, &bpp, &g0) == 0, "objective");
  float *g = malloc(sizeof(float) * (size_t)m->nparams);
  memcpy(g, g0, sizeof(float) * (size_t)m->nparams);
  const struct { const char *name; float *base; long n; int rate; } seg[] = {
    {"encoder.weight", m->enc_w, (long)m->d.K * m->D, 0}, {"encoder.bias", m->enc_b, m->d.K, 0},
    {"decoder.weight", m->dec_w, (long)m->D * m->d.K, 0}, {"decoder.bias", m->dec_b, m->D, 0},
    {"fill", m->fill, m->d.K, 0}, {"residual.in.weight", m->res_in_w, (long)m->N * m->d.K, 0},
    {"residual.in.bias", m->res_in_b, m->N, 0}, {"residual conv weights", m->res_w, 2L * m->R * m->N * m->N * 9, 0},
    {"residual conv biases", m->res_b, 2L * m->R * m->N, 0}, {"residual.out.weight", m->res_out_w, (long)m->D * m->N, 0},
    {"rate.log_scale", m->rate_scale, m->d.K, 1}};
  for (size_t s = 0; s < sizeof seg / sizeof *seg; s++) {
    double worst = 0, gmax = 0;
    for (long i = 0; i < seg[s].n; i++) gmax = fmax(gmax, fabs(g[seg[s].base - m->params + i]));
    for (int trial = 0; trial < 6; trial++) {
      long i = (long)(frand() * (float)seg[s].n) % seg[s].n, j = seg[s].base - m->params + i;
      const float keep = seg[s].base[i], eps = 2e-3f * fmaxf(1.0f, fabsf(keep));
      seg[s].base[i] = keep + eps;
      double lp = objective(t, lambda, seg[s].rate);
      seg[s].base[i] = keep - eps;
      double lm = objective(t, lambda, seg[s].rate);
      seg[s].base[i] = keep;
      double fd = (lp - lm) / (2.0 * eps);
      worst = fmax(worst, fabs(fd - g[j]) / fmax(gmax, 1e-9));
    }
    const int frozen = lambda == 0 && s < 2; /* without a rate term the encoder is not trained */
    if (frozen) T_EXPECT(gmax == 0, "%s: gradient %g, expected none", seg[s].name, gmax);
    else T_EXPECT(worst < 2e-2 && gmax > 0, "%s: error %.3g of the largest gradient %.3g", seg[s].name, worst, gmax);
  }
  free(g);
  wl_trainer_free(t);
  t_end();
}

static void test_resume(const wl_image *imgs) {
  t_begin("a run resumed from a checkpoint continues bit-exactly");
  wl_train_params p = small(20);
  wl_trainer *a, *b;
  double mse, bpp;
  uint8_t *ck;
  size_t len;
  T_EXPECT(wl_trainer_new(&a, imgs, 2, &p) == 0 && wl_trainer_new(&b, imgs, 2, &p) == 0, "trainers");
  for (int i = 0; i < 3; i++) wl_trainer_step(a, &mse, &bpp);
  T_EXPECT(wl_trainer_save(a, 1, &ck, &len) == 0, "checkpoint");
  T_EXPECT(wl_trainer_resume(b, ck, len) == 0 && wl_trainer_step_count(b) == 3, "resume");
  for (int i = 0; i < 2; i++) {
    wl_trainer_step(a, &mse, &bpp);
    wl_trainer_step(b, &mse, &bpp);
  }
  const wl_model *ma = wl_trainer_model(a), *mb = wl_trainer_model(b);
  T_EXPECT(!memcmp(ma->params, mb->params, sizeof(float) * (size_t)ma->nparams), "weights differ after resuming");
  wl_train_params q = p;
  q.N = 4;
  wl_trainer *c;
  T_EXPECT(wl_trainer_new(&c, imgs, 2, &q) == 0 && wl_trainer_resume(c, ck, len) == WL_ERR_MISMATCH,
           "a checkpoint of another shape must be refused");
  free(ck);
  wl_trainer_free(a); wl_trainer_free(b); wl_trainer_free(c);
  t_end();
}

static void test_saved_model(const wl_image *imgs) {
  t_begin("the saved model decodes what wl_trainer_validate measured, for every k");
  wl_train_params p = small(0);
  wl_trainer *t;
  double mse, bpp;
  uint8_t *buf;
  size_t len;
  wl_model *m = NULL;
  T_EXPECT(wl_trainer_new(&t, imgs, 2, &p) == 0, "trainer");
  for (int i = 0; i < 20; i++) wl_trainer_step(t, &mse, &bpp);
  T_EXPECT(wl_trainer_save(t, 0, &buf, &len) == 0 && wl_model_load(&m, buf, len) == 0, "save and load");
  wl_model_desc d;
  wl_model_describe(m, &d);
  T_EXPECT(!strcmp(d.kind, "neural") && d.K == 6 && d.J == 2, "kind %s", d.kind);
  for (int keep = 1; m && keep <= d.K; keep++) {
    uint8_t *wlc;
    size_t n;
    wl_image out;
    double v, bpp;
    wl_encode_opts o = {.keep = keep};
    T_EXPECT(wl_encode(m, &imgs[1], &o, &wlc, &n) == 0 && wl_decode(m, wlc, n, &out) == 0, "round trip k=%d", keep);
    T_EXPECT(wl_trainer_validate(t, &imgs[1], keep, &v, &bpp) == 0, "validate");
    T_EXPECT(fabs(bpp - 8.0 * (double)n / (37 * 45)) < 0.2, "k=%d: validate %g bpp, file %g", keep, bpp, 8.0 * n / (37 * 45));
    double se = 0;
    const long np = 3L * imgs[1].height * imgs[1].width;
    for (long i = 0; i < np; i++) se += pow((out.planes[i] - imgs[1].planes[i]) / 255.0, 2);
    T_EXPECT(fabs(se / (double)np - v) <= 1e-9 + 1e-6 * v, "k=%d: decoded mse %g, validate %g", keep, se / np, v);
    wl_image_release(&out);
    free(wlc);
  }
  wl_model_free(m);
  free(buf);
  wl_trainer_free(t);
  t_end();
}

int main(void) {
  wl_image imgs[2] = {test_image(3, 48, 56), test_image(3, 37, 45)};
  gradient_check(imgs, 20);
  gradient_check(imgs, 0);
  test_resume(imgs);
  test_saved_model(imgs);
  free(imgs[0].planes); free(imgs[1].planes);
  return t_summary();
}
