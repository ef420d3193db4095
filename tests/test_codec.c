/* test_codec.c: the codec pieces against independent references: the threshold quantiser
 * against the companding formula with erf, the SGEMM projection against a scalar loop, the
 * .wlc header validation field by field, the model parser on mutated files, the encoder
 * on 1 and 2 threads, and the audio (1-D) path: training, round trips, modality checks. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "codec/container.h"
#include "codec/detail.h"
#include "codec/internal.h"
#include "walloc_train.h"
#include "codec/layers.h"
#include "tests/check.h"

static uint32_t rng = 12345;
static float frand(void) { rng = rng * 1664525u + 1013904223u; return (float)(rng >> 8) / 16777216.0f; }

static void test_quantiser(wl_model *m) {
  t_begin("quantiser matches round(L erf(y / (s sqrt 2))) and dequantises within a step");
  double L, s;
  wl_compand_params(8, &L, &s);
  int mismatches = 0;
  for (int i = 0; i < 200000; i++) {
    float y = (frand() - 0.5f) * 600.0f;
    long ref = lrint(L * erf((double)y / (s * M_SQRT2)));
    int q = wl_quantise(m, y);
    double u = L * erf((double)y / (s * M_SQRT2));
    if (q != ref && fabs(fabs(u - floor(u)) - 0.5) > 1e-4) mismatches++;
    T_EXPECT(q >= -127 && q <= 127, "q = %d out of range", q);
  }
  T_EXPECT(mismatches == 0, "%d values quantised differently from the formula", mismatches);
  for (int q = -120; q <= 120; q++) {
    float y = m->dequant[q + 128];
    T_EXPECT(wl_quantise(m, y) == q, "dequant(%d) = %g requantises to %d", q, y, wl_quantise(m, y));
  }
  t_end();
}

/* The quantiser's cell table against its binary search: at every threshold, a float either
 * side of it, random values over and beyond the range, infinities and NaN; 8 and 10 bits. The
 * same values a row at a time (wl_quantise_row: 8 at a time with AVX2, then the rest), with and
 * without a bias. */
static void test_quantiser_cells(wl_model *m) {
  t_begin("quantiser: the cell table gives the binary search's q at and beside every threshold (8 and 10 bits), "
          "one value or a row at a time");
  for (int bits = 8; bits <= 10; bits += 2) {
    wl_model t = *m;
    t.d.bits = bits;
    const int S = 1 << bits;
    t.thresh = malloc(sizeof(float) * S);
    wl_compand_thresholds(bits, t.thresh);
    T_EXPECT(!wl_quantise_cells(&t) && t.cell, "%d bits: no table", bits);
    wl_model b = t;
    b.cell = NULL;
    const long N = 3L * (S - 2) + 300000 + 4 + 3; /* + 3: a row that is not a whole number of 8 */
    float *y = malloc(sizeof(float) * (size_t)N);
    int16_t *row = malloc(sizeof(int16_t) * (size_t)N);
    long n = 0;
    for (int i = 0; i < S - 2; i++)
      y[n++] = nextafterf(t.thresh[i], -INFINITY), y[n++] = t.thresh[i], y[n++] = nextafterf(t.thresh[i], INFINITY);
    uint32_t r = 7; /* its own sequence: the tests after it draw theirs from frand's */
    for (int i = 0; i < 300000 + 3; i++) {
      r = r * 1664525u + 1013904223u;
      y[n++] = ((float)(r >> 8) / 16777216.0f - 0.5f) * 4.0f * t.thresh[S - 3];
    }
    const float odd[4] = {INFINITY, -INFINITY, NAN, 1e30f};
    for (int k = 0; k < 4; k++) y[n++] = odd[k];
    int bad = 0, badrow = 0;
    for (long i = 0; i < N; i++) bad += wl_quantise(&t, y[i]) != wl_quantise(&b, y[i]);
    for (int k = 0; k < 2; k++) {
      const float bias = k ? 0.37f : 0.0f;
      wl_quantise_row(&t, y, bias, N, row);
      for (long i = 0; i < N; i++) badrow += row[i] != wl_quantise(&b, y[i] + bias);
    }
    T_EXPECT(bad == 0 && badrow == 0, "%d bits: %d values differ, %d in rows", bits, bad, badrow);
    free(y);
    free(row);
    free(t.thresh);
    free(t.cell);
  }
  t_end();
}

static void test_affine(void) {
  t_begin("SGEMM projection equals a scalar loop");
  const int K = 7, D = 33;
  const long P = 301;
  float *W = malloc(sizeof(float) * K * D), *b = malloc(sizeof(float) * K), *x = malloc(sizeof(float) * D * P);
  float *y = malloc(sizeof(float) * K * P);
  for (int i = 0; i < K * D; i++) W[i] = frand() - 0.5f;
  for (int i = 0; i < K; i++) b[i] = frand();
  for (long i = 0; i < D * P; i++) x[i] = frand() - 0.5f;
  wl_affine(W, b, x, K, D, P, y);
  double worst = 0;
  for (int k = 0; k < K; k++)
    for (long p = 0; p < P; p++) {
      double ref = b[k];
      for (int d = 0; d < D; d++) ref += (double)W[k * D + d] * x[d * P + p];
      worst = fmax(worst, fabs(ref - y[k * P + p]));
    }
  T_EXPECT(worst < 1e-5, "max error %g", worst);
  free(W); free(b); free(x); free(y);
  t_end();
}

static wl_image test_image(int C, int H, int W) {
  wl_image img;
  T_EXPECT(wl_image_alloc(&img, C, H, W, 8, 0) == 0, "wl_image_alloc");
  for (int c = 0; c < C; c++)
    for (int r = 0; r < H; r++)
      for (int j = 0; j < W; j++)
        img.planes[(c * H + r) * W + j] = floorf(127.5f + 100 * sinf(0.05f * r + c) * cosf(0.07f * j) + 20 * frand());
  return img;
}

static void test_image_alloc(void) {
  t_begin("wl_image_alloc: the shape, every sample writable (large planes too), bad sizes refused");
  wl_image img;
  T_EXPECT(wl_image_alloc(&img, 3, 512, 640, 16, 1) == 0, "3x512x640 with alpha");
  T_EXPECT(img.channels == 3 && img.height == 512 && img.width == 640 && img.depth == 16, "shape");
  for (size_t i = 0; i < (size_t)3 * 512 * 640; i++) img.planes[i] = 1;
  for (size_t i = 0; i < (size_t)512 * 640; i++) img.alpha[i] = 2;
  wl_image_release(&img);
  T_EXPECT(!img.planes && !img.alpha, "released");
  T_EXPECT(wl_image_alloc(&img, 1, 5, 7, 8, 0) == 0 && img.planes && !img.alpha, "small, no alpha");
  wl_image_release(&img);
  T_EXPECT(wl_image_alloc(&img, 0, 5, 7, 8, 0) == WL_ERR_ARG && !img.planes, "0 channels");
  T_EXPECT(wl_image_alloc(&img, 1, -1, 7, 8, 0) == WL_ERR_ARG, "negative height");
  T_EXPECT(wl_image_alloc(&img, 1 << 30, 1 << 30, 1 << 30, 8, 0) == WL_ERR_ARG, "size overflow");
  t_end();
}

static int no_rows(void *user, const wl_image *rows, int y0) {
  (void)user, (void)rows, (void)y0;
  return 1;
}

static void test_container(wl_model *m) {
  t_begin("header validation rejects each bad field, CRC catches every flipped byte; over 64 Mpixel only by rows");
  wl_image img = test_image(3, 45, 67);
  uint8_t *buf;
  size_t len;
  wl_header h;
  T_EXPECT(wl_encode(m, &img, NULL, &buf, &len) == 0, "encode failed");
  T_EXPECT(wl_header_read(buf, len, &h) == 0 && h.width == 67 && h.height == 45 && h.keep == m->d.K, "header");
  struct { size_t off; uint8_t val; int err; } bad[] = {
    {0, 'X', WL_ERR_MAGIC}, {4, 2, WL_ERR_VERSION}, {5, 9, WL_ERR_CORRUPT}, {6, 0, WL_ERR_CORRUPT},
    {6, 7, WL_ERR_CORRUPT}, {7, 1, WL_ERR_CORRUPT}, {26, 12, WL_ERR_CORRUPT}, {27, 2, WL_ERR_CORRUPT},
    {19, 1, WL_ERR_LIMIT}, {23, 0x80, WL_ERR_LIMIT}, {25, 1, WL_ERR_LIMIT}, {29, 0x40, WL_ERR_CORRUPT},
    {30, 0, WL_ERR_CORRUPT}, {36, 9, WL_ERR_CORRUPT}, {40, 0x7f, WL_ERR_TRUNCATED}};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    uint8_t *b = malloc(len);
    memcpy(b, buf, len);
    b[bad[i].off] = bad[i].val;
    wl_put32(b + len - 4, wl_crc32(0, b, len - 4));
    int e = wl_header_read(b, len, &h);
    T_EXPECT(e == bad[i].err, "byte %zu = %d: got %d, want %d", bad[i].off, bad[i].val, e, bad[i].err);
    free(b);
  }
  for (size_t i = 0; i < len; i += 7) {
    buf[i] ^= 0x04;
    T_EXPECT(wl_header_read(buf, len, &h) < 0, "flip at %zu accepted", i);
    buf[i] ^= 0x04;
  }
  for (size_t n = 0; n < len; n += 13) T_EXPECT(wl_header_read(buf, n, &h) < 0, "prefix %zu accepted", n);
  /* over 64 Mpixel (16384 x 8192): a valid header, too large to decode whole, decoded by rows as
   * far as its streams (those of 45 x 67 here) */
  wl_put32(buf + 16, 8192);
  wl_put32(buf + 20, 16384);
  wl_put32(buf + len - 4, wl_crc32(0, buf, len - 4));
  wl_image big;
  T_EXPECT(wl_header_read(buf, len, &h) == 0 && h.height == 8192 && h.width == 16384, "a header over 64 Mpixel");
  T_EXPECT(wl_decode(m, buf, len, &big) == WL_ERR_LIMIT && !big.planes, "decoded whole over 64 Mpixel");
  int e = wl_decode_rows(m, buf, len, 0, no_rows, NULL);
  T_EXPECT(e < 0 && e != WL_ERR_LIMIT, "by rows: %d", e);
  free(buf);
  wl_image_release(&img);
  t_end();
}

/* The ids built in at build time (codec/models/ids.c) equal what loading each model file
 * computes, wl_model_builtin_by_id finds each model by its id, and a built-in model's tensors
 * (its network's copied at their first use) are the file's. */
static void test_builtin_ids(void) {
  t_begin("built-in model ids equal the hash of their files; each is found by its id; its tensors, the network's "
          "copied at first use, are the file's");
  static const char *const name[] = {"rgb", "rgb-linear", "gray", "stereo", "mono"};
  for (int i = 0; i < 5; i++) {
    char path[64];
    snprintf(path, sizeof path, "codec/models/%s.wlm", name[i]);
    FILE *f = fopen(path, "rb");
    static uint8_t buf[4 << 20];
    size_t n = f ? fread(buf, 1, sizeof buf, f) : 0;
    if (f) fclose(f);
    wl_model *a = NULL, *b = NULL, *c = NULL;
    wl_model_desc da, db, dc;
    T_EXPECT(n > 0 && n < sizeof buf && wl_model_load(&a, buf, n) == 0, "%s: cannot load", path);
    T_EXPECT(wl_model_builtin(&b, name[i]) == 0, "built-in %s", name[i]);
    if (a && b) {
      wl_model_describe(a, &da);
      wl_model_describe(b, &db);
      T_EXPECT(da.id == db.id, "%s: built-in id %016llx, file hash %016llx", name[i], (unsigned long long)db.id,
               (unsigned long long)da.id);
      T_EXPECT(wl_model_builtin_by_id(&c, da.id) == 0, "%s not found by id", name[i]);
      if (c) wl_model_describe(c, &dc);
      T_EXPECT(c && dc.id == da.id && dc.K == da.K, "%s: by id gives another model", name[i]);
      static wl_tensor_ref ta[WL_MAX_TENSORS], tb[WL_MAX_TENSORS];
      const int na = wl_model_tensors(a, ta), nb = wl_model_tensors(b, tb);
      T_EXPECT(na == nb, "%s: %d tensors built in, %d in the file", name[i], nb, na);
      for (int k = 0; k < na && k < nb; k++) {
        size_t n = sizeof(float);
        for (int j = 0; j < ta[k].ndim; j++) n *= (size_t)ta[k].shape[j];
        T_EXPECT(!strcmp(ta[k].name, tb[k].name) && !memcmp(ta[k].data, tb[k].data, n), "%s: %s differs", name[i],
                 ta[k].name);
      }
    }
    wl_model_free(a), wl_model_free(b), wl_model_free(c);
  }
  t_end();
}

static void test_model_parser(void) {
  t_begin("model parser rejects truncated and mutated files without crashing");
  wl_image imgs[2] = {test_image(1, 64, 64), test_image(1, 40, 48)};
  wl_linear_params p = {.name = "t", .channels = 1, .J = 2, .K = 4, .bits = 8, .stride = 1};
  uint8_t *buf;
  size_t len;
  wl_model *m;
  T_EXPECT(wl_train_linear(imgs, 2, &p, &buf, &len) == 0, "training failed");
  T_EXPECT(wl_model_load(&m, buf, len) == 0, "trained model does not load");
  wl_model_free(m);
  for (size_t n = 0; n < len; n += 17) T_EXPECT(wl_model_load(&m, buf, n) < 0, "prefix of %zu bytes loaded", n);
  int accepted = 0;
  for (int i = 0; i < 3000; i++) {
    uint8_t *b = malloc(len);
    memcpy(b, buf, len);
    size_t at = (size_t)(frand() * 400) % len;
    b[at] = (uint8_t)(frand() * 256);
    if (wl_model_load(&m, b, len) == 0) { accepted++; wl_model_free(m); }
    free(b);
  }
  T_EXPECT(accepted < 3000, "every mutation accepted");
  free(buf);
  wl_image_release(&imgs[0]);
  wl_image_release(&imgs[1]);
  t_end();
}

static void test_threads(wl_model *m) {
  t_begin("encoded bytes and decoded samples identical on 1, 2 and 3 threads; --keep is a prefix; "
          "encoding in the image's own planes (wl_encode_inplace) gives the same bytes; reserved options refused, and "
          "a dead zone without a step or over half a step; a wider dead zone makes a smaller detail layer");
  /* 25 x 42 latent positions: several of the convolutions' column blocks, more in the fine stage */
  wl_image img = test_image(3, 197, 331), out[3];
  uint8_t *buf[3];
  size_t len[3];
  const int all = omp_get_max_threads();
  for (int t = 0; t < 3; t++) {
    omp_set_num_threads(t + 1);
    T_EXPECT(wl_encode(m, &img, NULL, &buf[t], &len[t]) == 0, "encode");
    T_EXPECT(wl_decode(m, buf[t], len[t], &out[t]) == 0, "decode");
  }
  omp_set_num_threads(all);
  for (int t = 1; t < 3; t++) {
    T_EXPECT(len[0] == len[t] && !memcmp(buf[0], buf[t], len[0]), "bytes differ");
    T_EXPECT(!memcmp(out[0].planes, out[t].planes, sizeof(float) * 3 * 197 * 331), "samples differ");
  }
  wl_encode_opts o = {.keep = 5};
  uint8_t *part;
  size_t plen;
  int16_t *qa = NULL, *qb = NULL;
  wl_info ha, hb;
  T_EXPECT(wl_encode(m, &img, &o, &part, &plen) == 0 && plen < len[0], "keep 5");
  T_EXPECT(wl_latents(m, buf[0], len[0], &qa, &ha) == 0 && wl_latents(m, part, plen, &qb, &hb) == 0, "latents");
  T_EXPECT(hb.keep == 5 && !memcmp(qa, qb, sizeof(int16_t) * 5 * hb.lat_h * hb.lat_w), "not a prefix");
  free(qa); free(qb); free(part);
  wl_image pad = test_image(3, 96, 128); /* unpadded at J = 3: transformed in its own planes */
  uint8_t *kept = NULL, *eaten = NULL;
  size_t n, klen = 0, elen = 1, plane = sizeof(float) * 3 * 96 * 128;
  float *before = malloc(plane);
  memcpy(before, pad.planes, plane);
  T_EXPECT(wl_encode(m, &pad, NULL, &kept, &klen) == 0 && wl_encode_inplace(m, &pad, NULL, &eaten, &elen) == 0,
           "in place");
  T_EXPECT(klen == elen && !memcmp(kept, eaten, klen), "in place changes the bytes");
  T_EXPECT(memcmp(before, pad.planes, plane), "in place left the planes untouched: it made a copy");
  wl_encode_opts later = {.reserved[2] = 1};
  uint8_t *none;
  T_EXPECT(wl_encode(m, &img, &later, &none, &n) == WL_ERR_ARG && !none, "reserved options accepted");
  const wl_encode_opts bad[] = {{.zone = 0.1f}, {.step = 300, .zone = 0.51f}, {.step = 300, .zone = -0.1f}};
  for (int i = 0; i < 3; i++)
    T_EXPECT(wl_encode(m, &img, &bad[i], &none, &n) == WL_ERR_ARG && !none, "dead zone %d accepted", i);
  uint8_t *z0 = NULL, *z1 = NULL;
  size_t n0 = 0, n1 = 0;
  const wl_encode_opts narrow = {.keep = 6, .step = 300}, wide = {.keep = 6, .step = 300, .zone = 0.125f};
  T_EXPECT(wl_encode(m, &img, &narrow, &z0, &n0) == 0 && wl_encode(m, &img, &wide, &z1, &n1) == 0 && n1 < n0,
           "dead zone 0.125: %zu bytes against %zu", n1, n0);
  free(z0); free(z1);
  free(kept); free(eaten); free(before);
  wl_image_release(&pad);
  for (int t = 0; t < 3; t++) { free(buf[t]); wl_image_release(&out[t]); }
  wl_image_release(&img);
  t_end();
}

/* 10 log10(MSE) + 10 bpp of img coded with m and opts o (the refinement's cost, in samples),
 * and the coded size in *len. */
static double rd_cost(const wl_model *m, const wl_image *img, const wl_encode_opts *o, size_t *len, uint8_t **keep) {
  uint8_t *buf;
  wl_image out;
  double se = 0;
  const long n = (long)img->channels * img->height * img->width;
  T_EXPECT(wl_encode(m, img, o, &buf, len) == 0 && wl_decode(m, buf, *len, &out) == 0, "round trip");
  for (long i = 0; i < n; i++) se += ((double)out.planes[i] - img->planes[i]) * ((double)out.planes[i] - img->planes[i]);
  wl_image_release(&out);
  if (keep) *keep = buf; else free(buf);
  return 10 * log10(se / n / (255.0 * 255.0)) + 10 * 8.0 * (double)*len / ((double)img->height * img->width);
}

/* rgb with its fine stage (if any) replaced by one of width 8, 1 block, of small random weights. */
static wl_model *with_fine_stage(const wl_model *rgb) {
  wl_model *f = calloc(1, sizeof *f);
  *f = (wl_model){.d = rgb->d, .D = rgb->D, .N = rgb->N, .R = rgb->R, .F = rgb->F, .Nf = 8, .Rf = 1};
  T_EXPECT(wl_model_alloc(f) == 0, "model");
  const long rest = rgb->Nf ? rgb->fine_in_w - rgb->params : rgb->nparams; /* the fine stage's tensors come last */
  memcpy(f->params, rgb->params, sizeof(float) * (size_t)rest);
  memcpy(f->freq, rgb->freq, sizeof(uint16_t) * ((size_t)rgb->d.K << rgb->d.bits));
  for (long i = rest; i < f->nparams; i++) f->params[i] = 0.02f * (2 * frand() - 1);
  return f;
}

static void test_refine(wl_model *rgb) {
  t_begin("refinement lowers 10 log10(MSE) + 10 bpp (neural and linear model, a fine stage, --keep, an image in "
          "several tiles) and codes the same bytes on 1 and 2 threads");
  wl_model *lin;
  T_EXPECT(wl_model_builtin(&lin, "rgb-linear") == 0, "rgb-linear");
  wl_image small = test_image(3, 97, 131), wide = test_image(3, 40, 1700); /* 3 tiles across */
  wl_model *fine = with_fine_stage(rgb);
  const struct { const wl_model *m; const wl_image *img; int keep; } cases[] = {
      {rgb, &small, 0}, {rgb, &small, 4}, {rgb, &wide, 0}, {lin, &small, 0}, {fine, &small, 0}, {fine, &wide, 6}};
  for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
    const wl_encode_opts plain = {.keep = cases[c].keep}, ref = {.keep = cases[c].keep, .refine = 10};
    size_t lp, lr;
    const double jp = rd_cost(cases[c].m, cases[c].img, &plain, &lp, NULL), jr = rd_cost(cases[c].m, cases[c].img, &ref, &lr, NULL);
    /* 10 iterations gain 0.09 to 0.33 on these images; unrefined latents would gain nothing */
    T_EXPECT(jr < jp - 0.05, "case %zu: cost %.3f refined, %.3f plain (%zu, %zu bytes)", c, jr, jp, lr, lp);
  }
  uint8_t *buf[2];
  size_t len[2];
  const wl_encode_opts ref = {.refine = 4};
  for (int t = 0; t < 2; t++) {
    omp_set_num_threads(t + 1);
    rd_cost(rgb, &wide, &ref, &len[t], &buf[t]);
  }
  T_EXPECT(len[0] == len[1] && !memcmp(buf[0], buf[1], len[0]), "bytes differ between 1 and 2 threads");
  free(buf[0]); free(buf[1]);
  wl_image_release(&small);
  wl_image_release(&wide);
  wl_model_free(lin);
  wl_model_free(fine);
  t_end();
}

/* C channels of T frames of depth-bit audio: a sine per channel plus noise, about -10 dBFS. */
static wl_audio test_audio(int C, long T, int depth) {
  wl_audio a = {C, T, 22050, depth, malloc(sizeof(float) * (size_t)C * (size_t)T)};
  const double peak = ldexp(1.0, depth - 1);
  for (int c = 0; c < C; c++)
    for (long t = 0; t < T; t++)
      a.samples[c * T + t] = (float)floor(peak * (0.25 * sin(0.03 * (c + 1) * t) + 0.05 * (frand() - 0.5)));
  return a;
}

static double snr(const wl_audio *a, const wl_audio *b) {
  double e = 0, s = 0;
  for (long i = 0; i < a->channels * a->frames; i++) {
    s += (double)a->samples[i] * a->samples[i];
    e += ((double)a->samples[i] - b->samples[i]) * ((double)a->samples[i] - b->samples[i]);
  }
  return 10 * log10(s / e);
}

static void test_audio_api(wl_model *rgb) {
  t_begin("audio: 1-D linear model, round trips at any length and depth, modality and header checks");
  wl_audio clips[2] = {test_audio(2, 3001, 16), test_audio(2, 4096, 16)}, out;
  wl_linear_params p = {.name = "a", .channels = 2, .J = 5, .K = 32, .bits = 8};
  uint8_t *buf, *enc[2];
  size_t len, elen[2];
  wl_model *m;
  wl_model_desc d;
  wl_header h;
  T_EXPECT(wl_train_linear_audio(clips, 2, &p, &buf, &len) == 0, "training failed");
  T_EXPECT(wl_model_load(&m, buf, len) == 0, "trained model does not load");
  free(buf);
  wl_model_describe(m, &d);
  T_EXPECT(d.dims == 1 && m->D == 64 && m->kh == 1 && m->kw == 3, "dims %d D %d", d.dims, m->D);
  p.J = 11;
  T_EXPECT(wl_train_linear_audio(clips, 2, &p, &buf, &len) == WL_ERR_ARG, "J 11 accepted");
  p.J = 5, p.K = 65;
  T_EXPECT(wl_train_linear_audio(clips, 2, &p, &buf, &len) == WL_ERR_ARG, "K > C 2^J accepted");
  for (int t = 0; t < 2; t++) {
    omp_set_num_threads(t + 1);
    T_EXPECT(wl_encode_audio(m, &clips[0], NULL, &enc[t], &elen[t]) == 0, "encode");
  }
  T_EXPECT(elen[0] == elen[1] && !memcmp(enc[0], enc[1], elen[0]), "bytes differ between 1 and 2 threads");
  T_EXPECT(wl_header_read(enc[0], elen[0], &h) == 0 && h.modality == WL_MODALITY_AUDIO && h.rate == 22050 &&
           h.frames == 3001 && h.lat_h == 1 && h.lat_w == 94, "header");
  T_EXPECT(wl_decode_audio(m, enc[0], elen[0], &out) == 0 && out.frames == 3001 && out.channels == 2 &&
           out.rate == 22050 && out.depth == 16, "decode");
  T_EXPECT(snr(&clips[0], &out) > 15, "SNR %.2f dB", snr(&clips[0], &out));
  wl_audio_release(&out);
  wl_image img = test_image(3, 20, 20), io;
  T_EXPECT(wl_decode(m, enc[0], elen[0], &io) == WL_ERR_MISMATCH, "audio decoded as an image");
  T_EXPECT(wl_encode(m, &img, NULL, &buf, &len) == WL_ERR_MISMATCH, "image encoded with a 1-D model");
  T_EXPECT(wl_encode_audio(rgb, &clips[0], NULL, &buf, &len) == WL_ERR_MISMATCH, "audio encoded with rgb");
  T_EXPECT(wl_encode(rgb, &img, NULL, &buf, &len) == 0, "rgb encode");
  T_EXPECT(wl_decode_audio(rgb, buf, len, &out) == WL_ERR_MISMATCH, "image decoded as audio");
  free(buf);
  wl_image_release(&img);
  struct { size_t off; uint8_t val; int err; } bad[] = {
    {6, 11, WL_ERR_CORRUPT}, {26, 12, WL_ERR_CORRUPT}, {27, 4, WL_ERR_CORRUPT}, {32, 1, WL_ERR_CORRUPT},
    {23, 0x40, WL_ERR_LIMIT}, {25, 1, WL_ERR_LIMIT}};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    uint8_t *b = malloc(elen[0]);
    memcpy(b, enc[0], elen[0]);
    b[bad[i].off] = bad[i].val;
    wl_put32(b + elen[0] - 4, wl_crc32(0, b, elen[0] - 4));
    int e = wl_header_read(b, elen[0], &h);
    T_EXPECT(e == bad[i].err, "byte %zu = %d: got %d, want %d", bad[i].off, bad[i].val, e, bad[i].err);
    memset(b + 16, 0, 4); /* rate 0 */
    wl_put32(b + elen[0] - 4, wl_crc32(0, b, elen[0] - 4));
    T_EXPECT(wl_header_read(b, elen[0], &h) < 0, "rate 0 accepted");
    free(b);
  }
  for (int t = 0; t < 2; t++) free(enc[t]);
  const struct { long T; int depth; } shapes[] = {{1, 16}, {31, 8}, {33, 24}, {5000, 32}};
  for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
    wl_audio a = test_audio(2, shapes[i].T, shapes[i].depth);
    T_EXPECT(wl_encode_audio(m, &a, NULL, &buf, &len) == 0 && wl_decode_audio(m, buf, len, &out) == 0 &&
             out.frames == a.frames && out.depth == a.depth, "%ld frames, %d-bit", a.frames, a.depth);
    const double peak = ldexp(1.0, a.depth - 1);
    for (long j = 0; j < 2 * a.frames && out.samples; j++)
      if (out.samples[j] < -peak || out.samples[j] > peak || out.samples[j] != rintf(out.samples[j])) {
        T_EXPECT(0, "sample %g out of range or not an integer (%d-bit)", out.samples[j], a.depth);
        break;
      }
    if (a.frames > 1000) T_EXPECT(snr(&a, &out) > 15, "%d-bit SNR %.2f dB", a.depth, snr(&a, &out));
    free(buf);
    wl_audio_release(&out);
    wl_audio_release(&a);
  }
  wl_audio bad_depth = {2, 100, 8000, 12, clips[0].samples}, no_frames = {2, 0, 8000, 16, clips[0].samples};
  T_EXPECT(wl_encode_audio(m, &bad_depth, NULL, &buf, &len) == WL_ERR_ARG, "depth 12 accepted");
  T_EXPECT(wl_encode_audio(m, &no_frames, NULL, &buf, &len) == WL_ERR_LIMIT, "0 frames accepted");
  wl_model_free(m);
  wl_audio_release(&clips[0]);
  wl_audio_release(&clips[1]);
  t_end();
}

/* The last step of every decode maps floats to samples: extremes, infinities and NaN land in the
 * sample range of every depth, as values that convert to the depth's integers without overflow. */
static void test_sample_range(void) {
  t_begin("decoded samples clamp to every depth's range (NaN, infinities, huge values), never wrap");
  const float x[8] = {NAN, INFINITY, -INFINITY, 1e30f, -1e30f, 0.5f, -0.5f, 0.25f};
  const struct { int dims, depth; double lo, hi; } d[] = {{2, 8, 0, 255}, {2, 16, 0, 65535}, {1, 8, -128, 127},
                                                          {1, 16, -32768, 32767}, {1, 24, -8388608, 8388607},
                                                          {1, 32, -2147483648.0, 2147483647.0}};
  for (size_t k = 0; k < sizeof d / sizeof *d; k++) {
    const wl_signal s = {d[k].dims, 1, 1, 8, d[k].depth, NULL, 0};
    float out[8];
    wl_signal_unscale(x, 1, 8, &s, out);
    for (int i = 0; i < 8; i++)
      T_EXPECT(out[i] >= d[k].lo && out[i] <= d[k].hi && out[i] == rintf(out[i]), "%s %d-bit: %g -> %.9g",
               d[k].dims == 2 ? "image" : "audio", d[k].depth, x[i], out[i]);
    T_EXPECT(out[1] == out[3] && out[2] == out[4] && out[3] > 0.99 * d[k].hi && out[4] == d[k].lo,
             "%d-bit: +inf %.9g, 1e30 %.9g, -inf %.9g", d[k].depth, out[1], out[3], out[2]);
  }
  t_end();
}

/* The detail layer's planes worth their bits: at step 1 (index 128), lambda = 0.07 per bit. A
 * plane of 64 values of 5 steps, a lone value of 6 steps (removes 36 of squared error for about 58
 * bits: kept) and two planes of a lone 1.2 (removes 1.2^2 - 0.2^2 = 1.4, under what its 48 bits
 * of stream and entry and its value's bits cost: emptied), one of them the last plane, which
 * would also pay for the empty entries below it. The same values in audio planes are all sent. */
static void test_detail_planes(void) {
  t_begin("detail layer: an image's planes sent only where worth their bits");
  wl_header h = {.modality = WL_MODALITY_IMAGE, .channels = 3, .J = 1, .lat_h = 16, .lat_w = 16, .step = 128};
  enum { B = 4, D = 12, P = 256 };
  static float r[D * P], nb[D * P];
  static int16_t v[D * P];
  /* r's plane k B + b is v's plane b C + k */
#define R(i) (r + (long)((i) % 3 * B + (i) / 3) * P)
  for (int p = 0; p < 64; p++) R(0)[p * 4] = 5.0f;
  R(4)[100] = 6.0f;
  R(5)[37] = 1.2f;
  R(D - 1)[200] = -1.2f;
#undef R
  wl_detail_neighbours(&h, r, nb);
  T_EXPECT(wl_detail_quantise(&h, r, nb, v) == 0, "quantise failed");
  int sent[D] = {0};
  for (int i = 0; i < D; i++)
    for (int p = 0; p < P; p++) sent[i] += v[i * P + p] != 0;
  T_EXPECT(sent[0] == 64 && sent[4] == 1 && v[4 * P + 100] == 6, "big planes: %d of 64 and %d of 1 (%d) values sent",
           sent[0], sent[4], v[4 * P + 100]);
  T_EXPECT(!sent[5] && !sent[D - 1], "lone 1.2 steps: %d and %d (last plane) values sent", sent[5], sent[D - 1]);
  double se, bits;
  T_EXPECT(wl_detail_estimate(&h, r, nb, 1, &se, &bits) == 0, "estimate failed");
  T_EXPECT(fabs(se - 2 * 1.44) < 1e-4, "estimate's squared error %g, want the lone 1.2s' 2.88 (planes left empty)", se);
  h = (wl_header){.modality = WL_MODALITY_AUDIO, .channels = 3, .J = 2, .lat_h = 1, .lat_w = P, .step = 128};
  T_EXPECT(wl_detail_quantise(&h, r, NULL, v) == 0, "audio quantise failed");
  int audio_sent = 0;
  for (int i = 0; i < D * P; i++) audio_sent += v[i] != 0;
  T_EXPECT(audio_sent == 64 + 3, "audio: %d values sent, want all 67", audio_sent);
  t_end();
}

/* Edges that outside tests found: a corrupt detail layer leaves no planes allocated; a --bpp
 * that rounds to no byte is refused before the search; alpha outside its range is clamped. */
static void test_api_edges(wl_model *m) {
  t_begin("API edges: wl_detail_planes leaves *v NULL on a corrupt layer; a target under one byte is refused; "
          "alpha samples clamp to the range (NaN to 0)");
  wl_image img;
  T_EXPECT(wl_image_alloc(&img, 3, 64, 64, 8, 1) == 0, "alloc");
  for (long i = 0; i < 3L * 64 * 64; i++) img.planes[i] = (float)((i * 37) % 251);
  const float alpha[4] = {NAN, -5, 300, 1e30f};
  for (long i = 0; i < 64L * 64; i++) img.alpha[i] = i < 4 ? alpha[i] : (float)(i % 256);
  wl_encode_opts o = {0};
  uint8_t *b = NULL;
  size_t n = 0;
  T_EXPECT(wl_quality_opts(m, 50, &o) == 0 && wl_encode(m, &img, &o, &b, &n) == 0, "encode");
  wl_image y;
  T_EXPECT(wl_decode(m, b, n, &y) == 0 && y.alpha, "decode");
  T_EXPECT(y.alpha[0] == 0 && y.alpha[1] == 0 && y.alpha[2] == 255 && y.alpha[3] == 255 && y.alpha[9] == 9,
           "alpha %g %g %g %g %g", y.alpha[0], y.alpha[1], y.alpha[2], y.alpha[3], y.alpha[9]);
  wl_image_release(&y);
  wl_info info;
  int16_t *v = NULL;
  int bad = 0;
  for (size_t at = n / 2; at < n - 4 && !bad; at += 7) { /* somewhere in the detail layer's streams */
    uint8_t *c = malloc(n);
    memcpy(c, b, n);
    c[at] ^= 0x55;
    wl_put32(c + n - 4, wl_crc32(0, c, n - 4));
    const int e = wl_detail_planes(c, n, &v, &info);
    bad = e < 0;
    T_EXPECT(!e || !v, "byte %zu: error %d with planes left", at, e);
    free(v);
    free(c);
  }
  T_EXPECT(bad, "no corruption of the second half was found");
  free(b);
  T_EXPECT(wl_encode_target(m, &img, WL_TARGET_BPP, 0.001, &o, &b, &n) == WL_ERR_ARG && !b, "0.001 bpp taken");
  wl_image_release(&img);
  t_end();
}

/* A NULL where walloc.h wants a pointer is WL_ERR_ARG at the main entry points, not a crash. */
static void test_null_arguments(wl_model *m) {
  t_begin("API: NULL pointers given to the entry points return WL_ERR_ARG");
  wl_image img;
  T_EXPECT(wl_image_alloc(&img, 3, 16, 16, 8, 0) == 0, "alloc");
  memset(img.planes, 0, sizeof(float) * 3 * 16 * 16);
  uint8_t *b = NULL, *none = (uint8_t *)&img; /* none: set to NULL by a failing encode */
  size_t n = 0, used;
  T_EXPECT(wl_encode(m, &img, NULL, &b, &n) == 0, "encode");
  wl_model *x;
  wl_info info;
  wl_image y;
  wl_audio a = {0};
  int16_t *q;
  long frames;
  wl_encode_opts o;
  const uint8_t *bytes;
  const int E = WL_ERR_ARG;
  const int got[] = {
      wl_image_alloc(NULL, 3, 16, 16, 8, 0), wl_model_load(NULL, b, n), wl_model_load(&x, NULL, 10),
      wl_model_builtin(NULL, "rgb"), wl_model_builtin(&x, NULL), wl_model_builtin_by_id(NULL, 1),
      wl_encode(NULL, &img, NULL, &none, &n), wl_encode(m, &img, NULL, NULL, &n), wl_encode(m, &img, NULL, &none, NULL),
      wl_encode_target(m, &img, WL_TARGET_PSNR, 30, &o, NULL, &n), wl_decode(NULL, b, n, &y),
      wl_decode(m, NULL, n, &y), wl_decode(m, b, n, NULL), wl_latents(m, b, n, NULL, &info),
      wl_latents(m, b, n, &q, NULL), wl_detail_planes(b, n, NULL, &info), wl_info_read(b, n, NULL),
      wl_info_peek(NULL, n, &info), wl_decode_audio(m, b, n, NULL), wl_encode_audio(m, NULL, NULL, &b, &n),
      wl_audio_chunking(m, 0, NULL, &frames), wl_audio_encoder_new(NULL, m, 2, 44100, 16, NULL),
      wl_audio_encoder_push(NULL, &a, &bytes, &used), wl_audio_encoder_finish(NULL, &bytes, &used),
      wl_audio_decoder_new(NULL, m), wl_audio_decoder_push(NULL, b, n, &used, &a), wl_audio_decoder_finish(NULL),
      wl_stream_frames(NULL, &frames), wl_audio_truncate(b, n, 1, NULL, &used), wl_audio_target_keep(b, n, 1, 1, NULL),
      wl_encode_audio_target(m, &a, WL_TARGET_KBPS, 16, NULL, NULL, &b, &n)};
  for (size_t i = 0; i < sizeof got / sizeof *got; i++) T_EXPECT(got[i] == E, "call %zu: %d", i, got[i]);
  T_EXPECT(!none, "a failing encode left its output as it was");
  T_EXPECT(wl_quality_opts(NULL, 50, &o) == E && !strcmp(wl_error_detail(E), "a NULL pointer argument"),
           "detail '%s'", wl_error_detail(E));
  t_end();
  t_begin("API: an error from the entropy layer has its own site, not an earlier error's; flags other than 0 "
          "and 1 are refused; wl_audio_chunking of an image model writes nothing");
  long L = -1, O = -1;
  T_EXPECT(wl_stream_frames(b, &frames) == WL_ERR_CORRUPT, "not a stream tail"); /* an earlier CORRUPT record */
  const char *old = strcmp(wl_error_site(WL_ERR_CORRUPT), "") ? "codec/container.c" : "?";
  wl_info h;
  T_EXPECT(wl_info_read(b, n, &h) == 0, "info");
  b[h.header_len + 3] ^= 0x5a; /* a latent stream, its CRC made good again */
  const uint32_t crc = wl_crc32(0, b, n - 4);
  memcpy(b + n - 4, &crc, 4);
  const int e = wl_decode(m, b, n, &y);
  T_EXPECT(e == WL_ERR_CORRUPT && !strstr(wl_error_site(e), old) && strstr(wl_error_site(e), "synthesis.c"),
           "error %d at '%s'", e, wl_error_site(e));
  const wl_encode_opts f = {.fastread = 2};
  T_EXPECT(wl_encode(m, &img, &f, &none, &n) == E && !none, "fastread 2 taken");
  T_EXPECT(wl_audio_chunking(m, 0, &L, &O) == WL_ERR_MISMATCH && L == -1 && O == -1, "L %ld O %ld", L, O);
  free(b);
  wl_image_release(&img);
  t_end();
}

/* wl_tile_masks on latents made by hand: 2 channels of 9 x 17 (tiles of 8: 2 x 3, the last row
 * and column partial), channel 0 filled with 1, channel 1 with -2 (the fills), and values that
 * are not fills put in chosen tiles; latents outside their bits refused. */
static void test_tile_masks(void) {
  t_begin("wl_tile_masks: each tile's count is 1 + the last channel not all fill there; sent marks its latents; "
          "ties of the commonest go to the smallest; a latent outside the bits is WL_ERR_ARG");
  enum { H = 9, W = 17, P = H * W };
  int16_t q[2 * P], fill[2];
  uint16_t counts[6];
  uint8_t sent[2 * P];
  for (int i = 0; i < P; i++) q[i] = 1, q[P + i] = -2;
  q[0 * W + 0] = 5;           /* tile 0: channel 0 only */
  q[P + 8 * W + 16] = 7;      /* tile 5 (the corner, 1 x 1): channel 1 */
  q[P + 3 * W + 9] = 0;       /* tile 1: channel 1 */
  T_EXPECT(wl_tile_masks(q, 2, H, W, 8, counts, sent, fill) == 0, "masks");
  const uint16_t want[6] = {1, 2, 0, 0, 0, 2};
  for (int t = 0; t < 6; t++) T_EXPECT(counts[t] == want[t], "tile %d: %d channels, not %d", t, counts[t], want[t]);
  T_EXPECT(fill[0] == 1 && fill[1] == -2, "fills %d %d", fill[0], fill[1]);
  T_EXPECT(sent[0] && !sent[P] && sent[P + 8 * W + 16] && sent[P + 8 * W + 15] == 0 && sent[P + 0 * W + 8] &&
               !sent[8 * W + 0] && !sent[P + 8 * W + 0],
           "sent flags");
  int16_t tie[4] = {3, 3, -1, -1};
  uint16_t one;
  T_EXPECT(wl_tile_masks(tie, 1, 2, 2, 8, &one, NULL, fill) == 0 && fill[0] == -1 && one == 1, "tie: fill %d", fill[0]);
  q[7] = 200;
  T_EXPECT(wl_tile_masks(q, 2, H, W, 8, counts, NULL, NULL) == WL_ERR_ARG, "200 taken as 8 bits");
  t_end();
}

int main(void) {
  wl_model *m;
  if (wl_model_builtin(&m, "rgb")) { printf("testing builtin model ... FAILED\n"); return t_summary() | 1; }
  test_quantiser(m);
  test_quantiser_cells(m);
  test_sample_range();
  test_detail_planes();
  test_affine();
  test_image_alloc();
  test_container(m);
  test_model_parser();
  test_builtin_ids();
  test_threads(m);
  test_refine(m);
  test_audio_api(m);
  test_api_edges(m);
  test_null_arguments(m);
  test_tile_masks();
  wl_model_free(m);
  return t_summary();
}
