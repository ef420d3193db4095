/* alpha.c: an image's alpha plane, zstd-compressed as u8 or u16 little-endian samples: whole
 * (wl_pack_alpha, wl_encode) or as its rows come (wl_encode_rows), the same bytes either way,
 * since zstd is handed the samples in blocks of the same size whatever the rows' sizes. */
#include <stdint.h>
#include <stdlib.h>
#include <zstd.h>
#include "codec/internal.h"

#define ALPHA_LEVEL 19 /* alpha planes are small and mostly flat: spend time for size */
/* zstd's window for an alpha plane, at most: level 19 would take 2^23 bytes and 89 MB of
 * tables for a 64-Mpixel plane; 2^21 bytes keep them near 20 MB. */
#define ALPHA_WINDOW_LOG 21
#define ALPHA_STAGE ((size_t)1 << 17) /* zstd takes samples a block (128 KiB) at a time */

static int alpha_flush(wl_alpha *a, ZSTD_EndDirective end) {
  ZSTD_inBuffer in = {a->stage, a->staged, 0};
  for (size_t left = 1; left;) {
    if (a->cap - a->len < ZSTD_CStreamOutSize()) {
      const size_t cap = a->cap + ZSTD_CStreamOutSize() + a->cap / 2;
      uint8_t *o = realloc(a->out, cap);
      if (!o) return WL_FAIL(WL_ERR_NOMEM);
      a->out = o, a->cap = cap;
    }
    ZSTD_outBuffer out = {a->out, a->cap, a->len};
    left = ZSTD_compressStream2(a->z, &out, &in, end);
    if (ZSTD_isError(left)) return WL_FAIL(WL_ERR_NOMEM);
    a->len = out.pos;
    if (end == ZSTD_e_continue && in.pos == in.size) left = 0;
  }
  a->staged = 0;
  return 0;
}

int wl_alpha_begin(wl_alpha *a, size_t n, int depth) {
  *a = (wl_alpha){.bps = depth / 8, .z = ZSTD_createCCtx(), .stage = malloc(ALPHA_STAGE)};
  if (!a->z || !a->stage) return WL_FAIL(WL_ERR_NOMEM);
  ZSTD_CCtx_setParameter(a->z, ZSTD_c_compressionLevel, ALPHA_LEVEL);
  if (n * a->bps > (size_t)1 << ALPHA_WINDOW_LOG) { /* below, zstd sizes the window by the plane */
    ZSTD_CCtx_setParameter(a->z, ZSTD_c_windowLog, ALPHA_WINDOW_LOG);
    ZSTD_CCtx_setParameter(a->z, ZSTD_c_chainLog, ALPHA_WINDOW_LOG + 1);
    ZSTD_CCtx_setParameter(a->z, ZSTD_c_hashLog, ALPHA_WINDOW_LOG);
  }
  return ZSTD_isError(ZSTD_CCtx_setPledgedSrcSize(a->z, n * a->bps)) ? WL_FAIL(WL_ERR_NOMEM) : 0;
}

int wl_alpha_put(wl_alpha *a, const float *alpha, size_t n) {
  const float top = a->bps == 2 ? 65535.0f : 255.0f;
  for (size_t i = 0; i < n; i++) { /* clamped (NaN to 0): a float outside the range has no integer of it */
    const unsigned v = alpha[i] > 0 ? (unsigned)(alpha[i] < top ? alpha[i] : top) : 0;
    a->stage[a->staged++] = (uint8_t)v;
    if (a->bps == 2) a->stage[a->staged++] = (uint8_t)(v >> 8);
    if (a->staged == ALPHA_STAGE) WL_TRY(alpha_flush(a, ZSTD_e_continue));
  }
  return 0;
}

int wl_alpha_end(wl_alpha *a, uint8_t **out, size_t *len) {
  int e = alpha_flush(a, ZSTD_e_end);
  if (!e && a->len > UINT32_MAX) e = WL_FAIL_WHY(WL_ERR_LIMIT, "an alpha plane over 4 GB compressed");
  if (!e) *out = a->out, *len = a->len, a->out = NULL;
  wl_alpha_free(a);
  return e;
}

void wl_alpha_free(wl_alpha *a) {
  ZSTD_freeCCtx(a->z);
  free(a->stage);
  free(a->out);
  *a = (wl_alpha){0};
}

int wl_pack_alpha(const wl_image *img, uint8_t **out, size_t *len) {
  const size_t n = (size_t)img->height * img->width;
  wl_alpha a;
  int e = wl_alpha_begin(&a, n, img->depth);
  if (!e) e = wl_alpha_put(&a, img->alpha, n);
  if (!e) return wl_alpha_end(&a, out, len);
  wl_alpha_free(&a);
  return e;
}
