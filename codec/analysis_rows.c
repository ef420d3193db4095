/* analysis_rows.c: an image's latents from its rows read once, top to bottom (wl_encode_rows),
 * in stripes of latent positions, with memory bounded by the width: the scaled, padded rows
 * that the stripes still need (and the first rows, which the last stripe's periodic transform
 * reads again) instead of the whole image's floats.
 *
 * Stripe k is the latent positions [k CH, (k+1) CH) (whole SGEMM blocks of the projection),
 * latent rows [ra, rb); its packets come from the forward transform of the image's rows
 * [(ra - M) 2^J, (rb + M) 2^J), taken periodically, of which the band ends (M rows, see
 * stripes.h) are dropped. The stripes that start within M latent rows of the top (stripe 0, and
 * more where a stripe is only a few rows of a wide image) read the last rows too (before row 0,
 * periodically), so they are made last, when those have been read, from the first rows kept
 * aside. Each latent is the same operations on the same values as wl_analyse's (tested: the
 * same bytes as wl_encode). */
#include <stdlib.h>
#include <string.h>
#include "codec/internal.h"
#include "codec/layers.h"
#include "codec/stripes.h"
#include "wavelet/wpt.h"

typedef struct {
  const wl_model *m;
  const wl_header *h;
  wl_rows_in get;
  void *user;
  int C, H, W, Hp, Wp, J, M;
  float scale, offset;
  float *win;       /* scaled, padded rows [wb, wh), channel c's at win + c * cap * Wp */
  int wb, wh, cap;
  float *head;      /* rows [0, nhead) */
  int nhead;
  float *in;        /* a block of source rows (C, n, W), then their alpha (n, W) with one */
  int inrows;
  wl_alpha *alpha;  /* the alpha plane's coder, or NULL */
} reader;

static int mini(int a, int b) { return a < b ? a : b; }

/* Reads padded rows up to `end` into the window (rows below keep may go), keeping the first
 * nhead rows aside too. */
static int read_to(reader *r, int end, int keep) {
  const long Wp = r->Wp;
  end = mini(end, r->Hp);
  if (end <= r->wh) return 0;
  keep = keep < r->wb ? r->wb : keep > r->wh ? r->wh : keep;
  if (end - keep > r->cap) { /* a larger window */
    const int cap = end - keep + (end - keep) / 2;
    float *win = wl_malloc_big(sizeof(float) * (size_t)r->C * cap * Wp);
    if (!win) return WL_FAIL(WL_ERR_NOMEM);
    for (int c = 0; c < r->C && r->win; c++)
      memcpy(win + c * cap * Wp, r->win + (c * (long)r->cap + keep - r->wb) * Wp, sizeof(float) * (r->wh - keep) * Wp);
    free(r->win);
    r->win = win, r->cap = cap, r->wb = keep;
  } else if (end - r->wb > r->cap) { /* slide */
    for (int c = 0; c < r->C; c++)
      memmove(r->win + c * r->cap * Wp, r->win + (c * (long)r->cap + keep - r->wb) * Wp, sizeof(float) * (r->wh - keep) * Wp);
    r->wb = keep;
  }
  while (r->wh < end) {
    const int y = r->wh;
    float *row0 = r->win + (long)(y - r->wb) * Wp;
    if (y < r->H) { /* source rows, a block at a time */
      const int n = mini(mini(end - y, r->inrows), r->H - y);
      const int e = r->get(r->user, y, n, r->in);
      if (e) return e; /* the caller's stop, or its error */
      if (r->alpha) WL_TRY(wl_alpha_put(r->alpha, r->in + (long)r->C * n * r->W, (size_t)n * r->W));
      for (int c = 0; c < r->C; c++)
        for (int i = 0; i < n; i++) {
          const float *src = r->in + ((long)c * n + i) * r->W;
          float *dst = row0 + (c * (long)r->cap + i) * Wp;
          for (int j = 0; j < r->W; j++) dst[j] = src[j] * r->scale + r->offset; /* as wl_signal_scale */
          for (int j = r->W; j < r->Wp; j++) dst[j] = src[wl_mirror(j, r->W)] * r->scale + r->offset;
        }
      r->wh += n;
    } else { /* padding: the reflection of a row read */
      const long from = wl_mirror(y, r->H) - r->wb;
      for (int c = 0; c < r->C; c++) memcpy(row0 + c * r->cap * Wp, r->win + (c * (long)r->cap + from) * Wp, sizeof(float) * Wp);
      r->wh++;
    }
    for (int k = y; k < mini(r->wh, r->nhead); k++)
      for (int c = 0; c < r->C; c++)
        memcpy(r->head + ((long)c * r->nhead + k) * Wp, r->win + (c * (long)r->cap + k - r->wb) * Wp, sizeof(float) * Wp);
  }
  return 0;
}

/* Padded rows [a, b) taken periodically into seg (channel stride cs). */
static int rows_of(reader *r, int a, int b, float *seg, long cs) {
  for (int y = a; y < b; y++) {
    const int i = ((y % r->Hp) + r->Hp) % r->Hp;
    const float *src = i >= r->wb && i < r->wh ? r->win + (long)(i - r->wb) * r->Wp
                       : i < r->nhead ? r->head + (long)i * r->Wp : NULL;
    const long scs = i >= r->wb && i < r->wh ? (long)r->cap * r->Wp : (long)r->nhead * r->Wp;
    if (!src) return WL_FAIL(WL_ERR_ARG); /* a row no longer held: a bug */
    for (int c = 0; c < r->C; c++) memcpy(seg + c * cs + (long)(y - a) * r->Wp, src + c * scs, sizeof(float) * r->Wp);
  }
  return 0;
}

int wl_analyse_rows(const wl_model *m, const wl_header *h, const wl_signal *s, wl_rows_in get, void *user, long chunk,
                    wl_alpha *alpha, int16_t *q) {
  const int J = h->J, w = h->lat_w, D = m->D, keep = h->keep;
  const long P = (long)h->lat_h * w, most_ch = (P + WL_CONV_BLOCK - 1) / WL_CONV_BLOCK * WL_CONV_BLOCK;
  const long want = chunk > 0 ? (chunk + WL_CONV_BLOCK - 1) / WL_CONV_BLOCK * WL_CONV_BLOCK : 8192;
  const long CH = want < most_ch ? want : most_ch;
  const long nk = (P + CH - 1) / CH;
  reader r = {.m = m, .h = h, .get = get, .user = user, .C = h->channels, .H = h->height, .W = h->width,
              .Hp = h->lat_h << J, .Wp = w << J, .J = J, .M = wl_stripe_margin(J),
              .scale = wl_sample_scale(s), .offset = wl_sample_offset(s), .inrows = 64, .alpha = alpha};
  long early = 1; /* stripes 0 .. early-1 start within M rows of the top */
  while (early < nk && early * CH / w < r.M) early++;
  const int rb0 = (int)((mini(P, early * CH) - 1) / w + 1); /* the last of them ends at latent row rb0 */
  r.nhead = mini(r.Hp, (rb0 + r.M) << J);
  const int most = (int)((CH + w - 1) / w + 1 + 2 * r.M) << J; /* a stripe's rows, at most */
  float *seg = wl_malloc_big(sizeof(float) * (size_t)r.C * most * r.Wp), *y = wl_malloc_big(sizeof(float) * keep * CH);
  r.head = wl_malloc_big(sizeof(float) * (size_t)r.C * r.nhead * r.Wp);
  r.in = wl_malloc_big(sizeof(float) * (size_t)(r.C + (alpha != NULL)) * r.inrows * r.W);
  int e = seg && y && r.head && r.in ? 0 : WL_FAIL(WL_ERR_NOMEM);
  for (long t = early; t < nk + early && !e; t++) {
    const long k = t % nk; /* stripes early .. nk-1, then 0 .. early-1 */
    const long pa = k * CH, pb = pa + CH < P ? pa + CH : P;
    const int ra = (int)(pa / w), rb = (int)((pb - 1) / w + 1), n = rb - ra + 2 * r.M;
    if (k >= early) e = read_to(&r, (rb + r.M) << J, (ra - r.M) * (1 << J));
    else e = read_to(&r, r.Hp, r.Hp - (r.M << J)); /* the last rows, before row 0 */
    if (!e) e = rows_of(&r, (ra - r.M) * (1 << J), (rb + r.M) * (1 << J), seg, (long)(n << J) * r.Wp);
    if (!e) e = wl_wpt2_forward(seg, r.C, n << J, r.Wp, J, seg);
    if (e) break;
    const wl_window x = {seg + (long)r.M * w, ra, rb - ra, (long)n * w};
    wl_conv_window(y, pb - pa, pa, pb - pa, &x, m->enc_w, m->enc_b, D, keep, 1, 1, (wl_grid){1, h->lat_h, w}, NULL); /* 1x1: no scratch */
#pragma omp parallel for schedule(static)
    for (int c = 0; c < keep; c++) wl_quantise_row(m, y + c * (pb - pa), 0.0f, pb - pa, q + c * P + pa);
  }
  free(seg); free(y); free(r.head); free(r.in); free(r.win);
  return e;
}
