/* Tests of the neural trainer (codec/train/train.c), for images (2-D) and audio clips (1-D) alike:
 * the whole training objective against central finite differences, exact resumption from a
 * checkpoint, and the saved model decoding as wl_trainer_validate measured. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "tests/check.h"
#include "codec/train/train.h"

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

/* 16-bit stereo (or C-channel) audio: two detuned sines and noise, about -10 dBFS. */
static wl_audio test_clip(int C, long frames) {
  wl_audio a = {C, frames, 8000, 16, malloc(sizeof(float) * (size_t)(C * frames))};
  for (int c = 0; c < C; c++)
    for (long i = 0; i < frames; i++)
      a.samples[c * frames + i] = floorf(6000 * sinf(0.07f * (1 + 0.1f * c) * i) + 3000 * sinf(0.9f * i + c) +
                                         2000 * (frand() - 0.5f));
  return a;
}

/* The training set of a test: two images (dims 2), or two stereo clips (dims 1), the second
 * shorter than a segment (so it is extended by reflection). */
typedef struct { int dims; const wl_image *imgs; const wl_audio *clips; } set;

static wl_train_params small(const set *s, float lambda) {
  wl_train_params p = {.name = "t", .channels = 3, .J = 2, .K = 6, .bits = 8, .N = 8, .R = 1, .crop = 16,
                       .batch = 3, .steps = 100, .warmup = 2, .lr = 1e-3f, .weight_decay = 1e-4f,
                       .lambda = lambda, .jitter = 0.05f, .gain = 8, .seed = 5,
                       .quant = lambda > 0 ? WL_QUANT_NOISE : WL_QUANT_ROUND}; /* rounding has no derivative */
  if (s->dims == 1) {
    p.channels = 2;
    p.J = 3;
    p.crop = 64;
    p.gain = 32;
    p.taps = 5;
    p.loss = WL_LOSS_MSE;
  }
  return p;
}

static int new_trainer(const set *s, const wl_train_params *p, wl_trainer **t) {
  return s->dims == 1 ? wl_trainer_new_audio(t, s->clips, 2, p) : wl_trainer_new(t, s->imgs, 2, p);
}

/* Loss of the trainer's current batch: what its gradient entries differentiate. */
static double objective(wl_trainer *t, float lambda, int rate_entry) {
  double psnr, bpp;
  const float *g;
  wl_trainer_objective(t, &psnr, &bpp, &g);
  return rate_entry ? bpp : lambda * bpp + psnr; /* psnr: the distortion term */
}

/* fine: with a fine stage of width `fine` (2-D). */
static void gradient_check(const set *st, float lambda, int fine) {
  char name[120];
  snprintf(name, sizeof name, "%d-D trainer gradient matches central differences of the loss (lambda %g%s)", st->dims,
           lambda, fine ? ", fine stage" : "");
  t_begin(name);
  wl_train_params p = small(st, lambda);
  p.fine_N = fine;
  p.fine_R = 1;
  wl_trainer *t;
  T_EXPECT(new_trainer(st, &p, &t) == 0, "trainer");
  wl_model *m = wl_trainer_model(t);
  for (long i = 0; i < (long)m->D * m->N; i++) m->res_out_w[i] = 0.05f * (2 * frand() - 1); /* starts at 0 */
  for (long i = 0; i < (long)m->D / 4 * m->Nf; i++) m->fine_out_w[i] = 0.05f * (2 * frand() - 1);
  for (int k = 0; k < m->d.K; k++) m->fill[k] = 0.3f * (2 * frand() - 1);
  for (long i = 0; i < (long)m->d.channels * m->F; i++) m->post[i] += 0.2f * (2 * frand() - 1); /* identity */
  double mse, bpp;
  const float *g0;
  T_EXPECT(wl_trainer_objective(t, &mse, &bpp, &g0) == 0, "objective");
  float *g = malloc(sizeof(float) * (size_t)m->nparams);
  memcpy(g, g0, sizeof(float) * (size_t)m->nparams);
  const struct { const char *name; float *base; long n; int rate; } seg[] = {
    {"encoder.weight", m->enc_w, (long)m->d.K * m->D, 0}, {"encoder.bias", m->enc_b, m->d.K, 0},
    {"decoder.weight", m->dec_w, (long)m->D * m->d.K, 0}, {"decoder.bias", m->dec_b, m->D, 0},
    {"fill", m->fill, m->d.K, 0}, {"residual.in.weight", m->res_in_w, (long)m->N * m->d.K, 0},
    {"residual.in.bias", m->res_in_b, m->N, 0},
    {"residual conv weights", m->res_w, 2L * m->R * m->N * m->N * m->kh * m->kw, 0},
    {"residual conv biases", m->res_b, 2L * m->R * m->N, 0}, {"residual.out.weight", m->res_out_w, (long)m->D * m->N, 0},
    {"rate.log_scale", m->rate_scale, m->d.K, 1}, {"postfilter.weight", m->post, (long)m->d.channels * m->F, 0},
    {"fine.in.weight", m->fine_in_w, (long)m->Nf * m->D / 4, 0}, {"fine.in.bias", m->fine_in_b, m->Nf, 0},
    {"fine conv weights", m->fine_w, 18L * m->Rf * m->Nf * m->Nf, 0}, {"fine conv biases", m->fine_b, 2L * m->Rf * m->Nf, 0},
    {"fine.out.weight", m->fine_out_w, (long)m->D / 4 * m->Nf, 0}};
  for (size_t s = 0; s < sizeof seg / sizeof *seg; s++) {
    if (!seg[s].n) continue; /* 2-D: no post-filter; no fine stage */
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

/* The decoder on a batch of two examples (the trainer's grid) equals it on each alone (decoding's). */
static void test_batched_decoder(const set *st) {
  t_begin("the decoder with a fine stage gives a batch of two the outputs of each example alone");
  wl_train_params p = small(st, 0);
  p.fine_N = 4;
  p.fine_R = 1;
  wl_trainer *t;
  T_EXPECT(new_trainer(st, &p, &t) == 0, "trainer");
  wl_model *m = wl_trainer_model(t);
  for (long i = 0; i < (long)m->D / 4 * m->Nf; i++) m->fine_out_w[i] = 0.2f * (2 * frand() - 1); /* starts at 0 */
  for (long i = 0; i < (long)m->D * m->N; i++) m->res_out_w[i] = 0.05f * (2 * frand() - 1);
  const int h = 4, w = 6, K = m->d.K, D = m->D;
  const long P = (long)h * w;
  const wl_grid g2 = {2, h, w};
  float *y = malloc(sizeof(float) * 2 * K * P), *yb = malloc(sizeof(float) * K * P), *X = malloc(sizeof(float) * 2 * D * P);
  float *Xb = malloc(sizeof(float) * D * P), *net = malloc(sizeof(float) * wl_decoder_acts_floats(m, g2, 1));
  float *work = malloc(sizeof(float) * wl_decoder_work_floats(m, h, w));
  for (long i = 0; i < 2 * K * P; i++) y[i] = 4 * frand() - 2;
  wl_decoder_acts a;
  wl_decoder_acts_layout(m, g2, 1, net, &a);
  T_EXPECT(wl_decoder_run(m, y, g2, X, &a) == 0, "batch");
  double worst = 0, big = 0;
  for (int b = 0; b < 2; b++) { /* example b: columns b*P.. of y (K, 2P); output Z (D/4, 4 * 2P) */
    for (int k = 0; k < K; k++) memcpy(yb + k * P, y + (2 * k + b) * P, sizeof(float) * (size_t)P);
    T_EXPECT(wl_decoder_forward(m, yb, h, w, Xb, work) == 0, "alone");
    for (int c = 0; c < D / 4; c++)
      for (long i = 0; i < 4 * P; i++) {
        worst = fmax(worst, fabs(Xb[c * 4 * P + i] - X[(2 * c + b) * 4 * P + i]));
        big = fmax(big, fabs(Xb[c * 4 * P + i]));
      }
  }
  T_EXPECT(worst <= 1e-5 * big && big > 0, "largest difference %g of %g", worst, big);
  free(y); free(yb); free(X); free(Xb); free(net); free(work);
  wl_trainer_free(t);
  t_end();
}

/* The most tensors a model can have: 8 residual blocks and 8 fine blocks, in a checkpoint. */
static void test_largest_model(const set *st) {
  t_begin("a checkpoint of 8 residual and 8 fine blocks saves and resumes");
  wl_train_params p = small(st, 0);
  p.N = p.fine_N = 2;
  p.R = p.fine_R = 8;
  wl_trainer *a = NULL, *b = NULL;
  uint8_t *ck = NULL;
  size_t len;
  T_EXPECT(new_trainer(st, &p, &a) == 0 && new_trainer(st, &p, &b) == 0, "trainers");
  T_EXPECT(wl_trainer_save(a, 1, &ck, &len) == 0 && wl_trainer_resume(b, ck, len) == 0, "save and resume");
  free(ck);
  wl_trainer_free(a); wl_trainer_free(b);
  t_end();
}

static void test_resume(const set *st, const set *other) {
  char name[120];
  snprintf(name, sizeof name, "a %d-D run resumed from a checkpoint continues bit-exactly", st->dims);
  t_begin(name);
  wl_train_params p = small(st, 20);
  wl_trainer *a, *b;
  double mse, bpp;
  uint8_t *ck;
  size_t len;
  T_EXPECT(new_trainer(st, &p, &a) == 0 && new_trainer(st, &p, &b) == 0, "trainers");
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
  wl_trainer *c, *d = NULL, *e = NULL;
  T_EXPECT(new_trainer(st, &q, &c) == 0 && wl_trainer_resume(c, ck, len) == WL_ERR_MISMATCH,
           "a checkpoint of another shape must be refused");
  if (st->dims == 2) {
    q = p;
    q.fine_N = 4;
    q.fine_R = 1;
    T_EXPECT(new_trainer(st, &q, &e) == 0 && wl_trainer_resume(e, ck, len) == WL_ERR_MISMATCH,
             "a checkpoint without the fine stage must be refused");
  }
  if (other) { /* the same C, J, K, bits, N and R in the other dims: only dims differs */
    q = small(other, 20);
    q.channels = p.channels;
    q.J = p.J;
    T_EXPECT(new_trainer(other, &q, &d) == 0 && wl_trainer_resume(d, ck, len) == WL_ERR_MISMATCH,
             "a checkpoint of the other dims must be refused");
  }
  free(ck);
  wl_trainer_free(a); wl_trainer_free(b); wl_trainer_free(c); wl_trainer_free(d); wl_trainer_free(e);
  t_end();
}

/* Encodes and decodes example 1 of st with m, keeping `keep` channels: *mse on the [-1/2, 1/2]
 * scale and the rate (bits per pixel, or kbps) of the file. */
static int round_trip(const set *st, const wl_model *m, int keep, double *mse, double *rate) {
  wl_encode_opts o = {.keep = keep, .nofill = 1}; /* validation measures the latents alone */
  uint8_t *wlc;
  size_t n;
  wl_image out = {0};
  wl_audio aout = {0};
  const wl_image *img = st->imgs ? &st->imgs[1] : NULL;
  const wl_audio *a = st->clips ? &st->clips[1] : NULL;
  int e = st->dims == 1 ? wl_encode_audio(m, a, &o, &wlc, &n) : wl_encode(m, img, &o, &wlc, &n);
  if (e) return e;
  e = st->dims == 1 ? wl_decode_audio(m, wlc, n, &aout) : wl_decode(m, wlc, n, &out);
  free(wlc);
  if (e) return e;
  const long np = st->dims == 1 ? a->channels * a->frames : (long)img->channels * img->height * img->width;
  const float *x = st->dims == 1 ? a->samples : img->planes, *y = st->dims == 1 ? aout.samples : out.planes;
  const double unit = st->dims == 1 ? 65536.0 : 255.0;
  double se = 0;
  for (long i = 0; i < np; i++) se += pow((y[i] - x[i]) / unit, 2);
  *mse = se / (double)np;
  *rate = st->dims == 1 ? 8.0 * (double)n * a->rate / (double)a->frames / 1000
                        : 8.0 * (double)n / ((double)img->height * img->width);
  wl_image_release(&out);
  wl_audio_release(&aout);
  return 0;
}

static void test_saved_model(const set *st, int fine) {
  char name[120];
  snprintf(name, sizeof name, "the saved %d-D model%s decodes what wl_trainer_validate measured, for every k", st->dims,
           fine ? " with a fine stage" : "");
  t_begin(name);
  wl_train_params p = small(st, 0);
  p.fine_N = fine;
  p.fine_R = 2;
  wl_trainer *t;
  double mse, bpp;
  uint8_t *buf;
  size_t len;
  wl_model *m = NULL;
  T_EXPECT(new_trainer(st, &p, &t) == 0, "trainer");
  for (int i = 0; i < 20; i++) wl_trainer_step(t, &mse, &bpp);
  T_EXPECT(wl_trainer_save(t, 0, &buf, &len) == 0 && wl_model_load(&m, buf, len) == 0, "save and load");
  wl_model_desc d;
  wl_model_describe(m, &d);
  T_EXPECT(!strcmp(d.kind, "neural") && d.K == 6 && d.J == p.J && d.dims == st->dims, "kind %s dims %d", d.kind, d.dims);
  T_EXPECT(m && m->Nf == fine && m->Rf == (fine ? 2 : 0), "fine stage %d x %d read back", m ? m->Nf : -1, m ? m->Rf : -1);
  for (int keep = 1; m && keep <= d.K; keep++) {
    double v = 0, rate = 0, mse_file = -1, rate_file = -1;
    T_EXPECT(round_trip(st, m, keep, &mse_file, &rate_file) == 0, "round trip k=%d", keep);
    T_EXPECT((st->dims == 1 ? wl_trainer_validate_audio(t, &st->clips[1], keep, &v, &rate)
                            : wl_trainer_validate(t, &st->imgs[1], keep, &v, &rate)) == 0, "validate");
    T_EXPECT(fabs(rate - rate_file) < 0.2 * (st->dims == 1 ? 8 : 1), "k=%d: validate rate %g, file %g", keep, rate,
             rate_file);
    T_EXPECT(fabs(mse_file - v) <= 1e-9 + 1e-6 * v, "k=%d: decoded mse %g, validate %g", keep, mse_file, v);
  }
  wl_model_free(m);
  free(buf);
  wl_trainer_free(t);
  t_end();
}

/* Each bad setting fails with WL_ERR_ARG and a detail that names it; the detail and site belong
 * to that code only. */
static void test_param_errors(const set *st) {
  t_begin("bad training settings are refused, each named in wl_error_detail with its range");
  static const struct { const char *field, *says; } cases[] = {
      {"crop", "crop 18"}, {"K", "K 97"}, {"N", "width N 0"}, {"R", "blocks R 9"}, {"batch", "batch 0"},
      {"lr", "learning rate"}, {"jitter", "jitter"}, {"full", "full 1"}, {"fine", "fine stage width 600"},
      {"bits", "bits 13"}, {"channels", "input 1 has 3 channels"}, {"reserved", "reserved[7]"}};
  for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
    wl_train_params p = small(st, 0);
    const char *f = cases[c].field;
    if (!strcmp(f, "crop")) p.crop = 18;
    if (!strcmp(f, "K")) p.K = 97;
    if (!strcmp(f, "N")) p.N = 0;
    if (!strcmp(f, "R")) p.R = 9;
    if (!strcmp(f, "batch")) p.batch = 0;
    if (!strcmp(f, "lr")) p.lr = 0;
    if (!strcmp(f, "jitter")) p.jitter = 0.5f;
    if (!strcmp(f, "full")) p.full = 1;
    if (!strcmp(f, "fine")) p.fine_N = 600;
    if (!strcmp(f, "bits")) p.bits = 13;
    if (!strcmp(f, "channels")) p.channels = 1;
    if (!strcmp(f, "reserved")) p.reserved[7] = 1;
    wl_trainer *t = NULL;
    const int e = new_trainer(st, &p, &t), want = strcmp(f, "channels") ? WL_ERR_ARG : WL_ERR_MISMATCH;
    T_EXPECT(e == want && !t && strstr(wl_error_detail(e), cases[c].says) && strstr(wl_error_site(e), "codec/train/"),
             "%s: error %d, detail '%s' at '%s'", f, e, wl_error_detail(e), wl_error_site(e));
    T_EXPECT(!*wl_error_detail(WL_ERR_NOMEM) && !*wl_error_site(WL_ERR_NOMEM), "another code's detail");
    wl_trainer_free(t);
  }
  t_end();
  t_begin("the training entry points refuse NULL pointers (WL_ERR_ARG), a negative stride or gain too");
  wl_train_params p = small(st, 0);
  wl_trainer *t = NULL;
  T_EXPECT(new_trainer(st, &p, &t) == 0 && t, "trainer");
  uint8_t *out = NULL;
  size_t len;
  double a, b;
  wl_linear_params lp = {.name = "x", .channels = 3, .J = 2, .K = 8, .bits = 8, .stride = 1};
  const int E = WL_ERR_ARG, got[] = {
      wl_trainer_new(NULL, st->imgs, 1, &p), wl_trainer_step(NULL, &a, &b), wl_trainer_step(t, NULL, &b),
      wl_trainer_step(t, &a, NULL), wl_trainer_validate(t, st->imgs, 4, NULL, &b), wl_trainer_validate(NULL, st->imgs, 4, &a, &b),
      wl_trainer_save(NULL, 1, &out, &len), wl_trainer_save(t, 1, NULL, &len), wl_trainer_save(t, 1, &out, NULL),
      wl_trainer_resume(NULL, (const uint8_t *)"x", 1), wl_train_linear(st->imgs, 1, &lp, NULL, &len),
      wl_train_linear(st->imgs, 1, &lp, &out, NULL)};
  for (size_t i = 0; i < sizeof got / sizeof *got; i++) T_EXPECT(got[i] == E, "call %zu: %d", i, got[i]);
  T_EXPECT(wl_trainer_step_count(NULL) == -1 && wl_trainer_step_count(t) == 0, "step counts");
  lp.stride = -1;
  T_EXPECT(wl_train_linear(st->imgs, 1, &lp, &out, &len) == E && !out, "stride -1 taken");
  lp.stride = 1, lp.gain = -4;
  T_EXPECT(wl_train_linear(st->imgs, 1, &lp, &out, &len) == E && !out, "gain -4 taken");
  wl_trainer_free(t);
  t_end();
}

int main(void) {
  wl_image imgs[2] = {test_image(3, 48, 56), test_image(3, 37, 45)};
  wl_audio clips[2] = {test_clip(2, 72), test_clip(2, 40)}, clips3[2] = {test_clip(3, 72), test_clip(3, 40)};
  const set img2 = {2, imgs, NULL}, aud2 = {1, NULL, clips}, aud3 = {1, NULL, clips3};
  const set *all[2] = {&img2, &aud2};
  for (int i = 0; i < 2; i++) {
    gradient_check(all[i], 20, 0);
    gradient_check(all[i], 0, 0);
  }
  gradient_check(&img2, 0, 4);
  test_param_errors(&img2);
  test_batched_decoder(&img2);
  test_largest_model(&img2);
  test_resume(&img2, &aud3); /* and the 2-D checkpoint into a 1-D trainer of 3 channels, J 2 */
  test_resume(&aud2, NULL);
  for (int i = 0; i < 2; i++) test_saved_model(all[i], 0);
  test_saved_model(&img2, 4);
  free(imgs[0].planes); free(imgs[1].planes);
  for (int i = 0; i < 2; i++) { free(clips[i].samples); free(clips3[i].samples); }
  return t_summary();
}
