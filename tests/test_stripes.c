/* test_stripes.c: decoding in stripes (wl_decode_rows, codec/stripes.c) against the whole-image
 * synthesis (wl_synthesise, which decodes the whole image at once, as every version before the
 * stripes did): identical samples for every built-in image model, odd sizes, 8 and 16 bits,
 * alpha, the detail layer (version 5, and relabelled as version 3, whose packets are made the old
 * way), stripes of 1 .. many latent rows and 1, 2 and 3 threads; stripes
 * handed out in order and covering the image; a nonzero return from the callback stops. And
 * encoding from rows read once, top to bottom (wl_encode_rows), against wl_encode: the same
 * bytes for every model, size and stripe width. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include "codec/internal.h"
#include "codec/stripes.h"
#include "tests/check.h"
#include "tests/tools/image_equal.h"

static uint32_t rng = 4242;
static float frand(void) { rng = rng * 1664525u + 1013904223u; return (float)(rng >> 8) / 16777216.0f; }

static wl_image test_image(int C, int H, int W, int depth, int alpha) {
  wl_image img;
  const float top = depth == 16 ? 65535.0f : 255.0f;
  T_EXPECT(wl_image_alloc(&img, C, H, W, depth, alpha) == 0, "wl_image_alloc");
  for (int c = 0; c < C + (alpha != 0); c++)
    for (int r = 0; r < H; r++)
      for (int j = 0; j < W; j++) {
        float v = top * (0.5f + 0.35f * sinf(0.09f * r + c) * cosf(0.05f * j + 0.3f * c) + 0.1f * (frand() - 0.5f));
        (c < C ? img.planes + (size_t)c * H * W : img.alpha)[(size_t)r * W + j] = floorf(v);
      }
  return img;
}

/* The stripes gathered into a whole image, checked to come in order and to cover it. */
typedef struct {
  wl_image img;
  int next, stripes, stop_at;
} gathered;

static int gather(void *user, const wl_image *rows, int y0) {
  gathered *g = user;
  const size_t W = (size_t)g->img.width, n = (size_t)rows->height * W;
  if (g->stripes++ == g->stop_at) return 7;
  T_EXPECT(y0 == g->next && rows->height > 0 && y0 + rows->height <= g->img.height && rows->width == g->img.width &&
               rows->channels == g->img.channels && !rows->alpha == !g->img.alpha,
           "stripe at %d of %d rows, expected at %d", y0, rows->height, g->next);
  if (y0 != g->next || y0 + rows->height > g->img.height) return 1;
  for (int c = 0; c < g->img.channels; c++)
    memcpy(g->img.planes + ((size_t)c * g->img.height + y0) * W, rows->planes + c * n, sizeof(float) * n);
  if (rows->alpha) memcpy(g->img.alpha + (size_t)y0 * W, rows->alpha, sizeof(float) * n);
  g->next = y0 + rows->height;
  return 0;
}

/* The whole-image synthesis of a .wlc (and its alpha, lossless: the original's). */
static wl_image whole(const wl_model *m, const uint8_t *buf, size_t len, const wl_image *src) {
  wl_header h;
  int16_t *q = NULL, *v = NULL;
  wl_info info;
  wl_image ref;
  T_EXPECT(wl_image_latents(m, buf, len, &h, &q) == 0, "latents");
  T_EXPECT(wl_detail_planes(buf, len, &v, &info) == 0, "detail planes");
  T_EXPECT(wl_image_alloc(&ref, h.channels, h.height, h.width, h.depth, h.has_alpha) == 0, "alloc");
  T_EXPECT(wl_synthesise(m, &h, q, v, ref.planes, NULL) == 0, "whole synthesis");
  if (ref.alpha) memcpy(ref.alpha, src->alpha, sizeof(float) * (size_t)h.height * h.width);
  free(q);
  free(v);
  return ref;
}

/* A version 5 file relabelled as version 3 (the same layout; its CRC made again): decoded with
 * version 3's construction of the detail layer's packets (wl_detail_split). */
static void relabel_v3(uint8_t *buf, size_t len) {
  buf[4] = WL_FORMAT_VERSION_DETAIL;
  wl_put32(buf + len - 4, wl_crc32(0, buf, len - 4));
}

static void check_model(const char *name) {
  static const struct { int H, W, depth, alpha, step; } cases[] = {
      {37, 53, 8, 0, 0}, {203, 97, 8, 1, 0}, {70, 301, 16, 0, 0}, {131, 88, 8, 0, 300}, {64, 1100, 8, 1, 200},
      {5, 300, 8, 0, 0}, {17, 90, 8, 0, 150}}; /* one and three latent rows: bands that wrap several times */
  static const int stripes[] = {1, 2, 3, 7, 0, 1 << 20};
  wl_model *m;
  T_EXPECT(wl_model_builtin(&m, name) == 0, "built-in %s", name);
  if (!m) return;
  wl_model_desc desc;
  wl_model_describe(m, &desc);
  const wl_model_desc *d = &desc;
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    wl_image img = test_image(d->channels, cases[k].H, cases[k].W, cases[k].depth, cases[k].alpha);
    wl_encode_opts o = {.keep = cases[k].step ? d->K / 2 : 0, .step = cases[k].step};
    uint8_t *buf;
    size_t len;
    T_EXPECT(wl_encode(m, &img, &o, &buf, &len) == 0, "%s: encode case %zu", name, k);
    for (int v3 = 0; v3 < 1 + (cases[k].step > 0); v3++) { /* a detail layer also as version 3 files have it */
      if (v3) relabel_v3(buf, len);
      wl_image ref = whole(m, buf, len, &img);
      for (size_t s = 0; s < sizeof stripes / sizeof stripes[0]; s++)
        for (int t = 1; t <= 3; t++) {
          gathered g = {.stop_at = -1};
          g.img = ref;
          T_EXPECT(wl_image_alloc(&g.img, ref.channels, ref.height, ref.width, ref.depth, ref.alpha != NULL) == 0,
                   "alloc");
          omp_set_num_threads(t);
          T_EXPECT(wl_decode_rows(m, buf, len, stripes[s], gather, &g) == 0, "%s: decode", name);
          T_EXPECT(g.next == ref.height && images_equal(&g.img, &ref),
                   "%s: %dx%d %d-bit%s step %d%s: stripes of %d latent rows on %d threads differ from the whole image",
                   name, cases[k].H, cases[k].W, cases[k].depth, cases[k].alpha ? " alpha" : "", cases[k].step,
                   v3 ? " (version 3)" : "", stripes[s], t);
          wl_image_release(&g.img);
        }
      wl_image all;
      T_EXPECT(wl_decode(m, buf, len, &all) == 0 && images_equal(&all, &ref), "%s: wl_decode differs", name);
      wl_image_release(&all);
      wl_image_release(&ref);
    }
    wl_image_release(&img);
    free(buf);
  }
  wl_model_free(m);
}

static void test_models(void) {
  t_begin("stripes of any height on 1, 2, 3 threads give the whole image's samples: every built-in image model, "
          "odd sizes, 8/16 bits, alpha, detail layer");
  const int all = omp_get_max_threads();
  for (int i = 0; wl_model_builtin_name(i); i++) {
    wl_model *m;
    if (wl_model_builtin(&m, wl_model_builtin_name(i))) continue;
    wl_model_desc d;
    wl_model_describe(m, &d);
    const int image = d.dims == 2;
    wl_model_free(m);
    if (image) check_model(wl_model_builtin_name(i));
  }
  omp_set_num_threads(all);
  t_end();
}

static void test_stop(void) {
  t_begin("a nonzero return from the stripe callback stops the decode and is returned");
  wl_model *m;
  T_EXPECT(wl_model_builtin(&m, "gray") == 0, "gray");
  wl_image img = test_image(1, 300, 40, 8, 0);
  uint8_t *buf;
  size_t len;
  T_EXPECT(wl_encode(m, &img, NULL, &buf, &len) == 0, "encode");
  gathered g = {.stop_at = 2};
  T_EXPECT(wl_image_alloc(&g.img, 1, 300, 40, 8, 0) == 0, "alloc");
  T_EXPECT(wl_decode_rows(m, buf, len, 2, gather, &g) == 7 && g.stripes == 3, "not stopped: %d stripes", g.stripes);
  T_EXPECT(wl_decode_rows(m, buf, len - 1, 2, gather, &g) < 0, "a truncated file decoded");
  wl_image_release(&g.img);
  wl_image_release(&img);
  free(buf);
  wl_model_free(m);
  t_end();
}

/* Rows of an image handed out in order (checked); from row stop_at on (0: never), 5 is
 * returned instead. */
typedef struct {
  const wl_image *img;
  int next, stop_at;
} source;

static int rows_of(void *user, int y0, int n, float *planes) {
  source *src = user;
  const wl_image *im = src->img;
  T_EXPECT(y0 == src->next && n > 0 && y0 + n <= im->height, "rows %d..%d asked after %d", y0, y0 + n, src->next);
  if (src->stop_at && y0 + n > src->stop_at) return 5;
  for (int c = 0; c < im->channels + (im->alpha != NULL); c++) /* the planes, then alpha */
    memcpy(planes + (size_t)c * n * im->width,
           (c < im->channels ? im->planes + (size_t)c * im->height * im->width : im->alpha) + (size_t)y0 * im->width,
           sizeof(float) * (size_t)n * im->width);
  src->next = y0 + n;
  return src->next > im->height ? 1 : 0;
}

static void test_encode_rows(void) {
  t_begin("encoding from rows read once, top to bottom, in stripes of any width gives wl_encode's bytes: every "
          "built-in image model, odd sizes, wide images, 8/16 bits, keep, masks per tile, alpha (its rows after the "
          "planes'); a detail layer refused");
  static const struct { int H, W, depth, keep, alpha, masks; } cases[] = {
      {37, 53, 8, 0, 0, 0}, {203, 97, 16, 0, 1, 12}, {70, 301, 8, 3, 0, 0}, {520, 64, 8, 0, 1, 0}, {5, 300, 8, 0, 0, 0},
      {17, 90, 16, 0, 0, 0}, {1100, 1000, 16, 0, 1, 0}, /* an alpha plane over zstd's capped window */
      {40, 5000, 8, 0, 1, 0}, {130, 2200, 8, 0, 0, 0}, /* stripes of a few rows or less: several start within
                                                         the margin of the top (wider than 16384 failed by rows) */
      {300, 170, 8, 3, 0, 40}};
  static const long chunks[] = {512, 1024, 1500, 0, 1L << 30};
  for (int i = 0; wl_model_builtin_name(i); i++) {
    wl_model *m;
    wl_model_desc d;
    if (wl_model_builtin(&m, wl_model_builtin_name(i))) continue;
    wl_model_describe(m, &d);
    for (size_t k = 0; d.dims == 2 && k < sizeof cases / sizeof cases[0]; k++) {
      wl_image img = test_image(d.channels, cases[k].H, cases[k].W, cases[k].depth, cases[k].alpha), shape = img;
      wl_encode_opts o = {.keep = cases[k].keep, .masks = cases[k].masks};
      uint8_t *ref, *got;
      size_t rlen, glen;
      shape.planes = NULL;
      T_EXPECT(wl_encode(m, &img, &o, &ref, &rlen) == 0, "encode");
      if (cases[k].masks) { /* masks that mask something */
        wl_encode_opts plain = {.keep = cases[k].keep};
        T_EXPECT(wl_encode(m, &img, &plain, &got, &glen) == 0 && glen != rlen, "%s: masks %d change nothing",
                 wl_model_builtin_name(i), cases[k].masks);
        free(got);
      }
      for (size_t c = 0; c < sizeof chunks / sizeof chunks[0]; c++) {
        source src = {&img, 0, 0};
        T_EXPECT(wl_encode_rows_chunked(m, &shape, &o, rows_of, &src, chunks[c], &got, &glen) == 0, "encode rows");
        T_EXPECT(src.next == img.height && glen == rlen && !memcmp(got, ref, rlen),
                 "%s: %dx%d %d-bit keep %d alpha %d masks %d: stripes of %ld positions give other bytes",
                 wl_model_builtin_name(i), cases[k].H, cases[k].W, cases[k].depth, cases[k].keep, cases[k].alpha,
                 cases[k].masks, chunks[c]);
        free(got);
      }
      free(ref);
      wl_image_release(&img);
    }
    wl_image img = test_image(d.channels, 40, 40, 8, 0);
    wl_encode_opts detail = {.step = 100};
    source src = {&img, 0, 0};
    uint8_t *none;
    size_t n;
    T_EXPECT(d.dims != 2 || wl_encode_rows(m, &img, &detail, rows_of, &src, &none, &n) == WL_ERR_ARG, "detail taken");
    wl_image_release(&img);
    wl_model_free(m);
  }
  t_end();
}

static void test_encode_stop(void) {
  t_begin("a nonzero return from the rows callback stops the encode and is returned, with no output");
  wl_model *m;
  T_EXPECT(wl_model_builtin(&m, "gray") == 0, "gray");
  wl_image img = test_image(1, 300, 40, 8, 0), shape = img;
  source src = {&img, 0, 100};
  uint8_t *out = (uint8_t *)&src;
  size_t len = 1;
  shape.planes = NULL;
  T_EXPECT(wl_encode_rows(m, &shape, NULL, rows_of, &src, &out, &len) == 5 && !out && !len, "not stopped");
  T_EXPECT(src.next <= 100, "rows read after the stop: up to %d", src.next);
  wl_image_release(&img);
  wl_model_free(m);
  t_end();
}

int main(void) {
  test_encode_rows();
  test_encode_stop();
  test_models();
  test_stop();
  return t_summary();
}
