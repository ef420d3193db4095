/* masks.c: channel masks chosen by rate-distortion. A unit of latent positions keeps its first
 * n channels; the channels past n take their fill's integer there, which the context coder codes
 * in almost nothing (the format is unchanged: a decoder reads the fill like any value).
 *   Audio (issue 20, wl_mask_segments): units of SEG positions, the model's fill, on chunks with
 *   a detail layer only, which codes what the masked channels carried; without one the noise
 *   fill stands in for it, which measured worse in every measure (codec/models/README.md,
 *   "Per-segment masks for audio").
 *   Images (issue 17, wl_encode_opts.masks): tiles of TILE x TILE positions, each channel's fill
 *   being the image's own commonest integer: a dark photo's latents lie far from the model's fill
 *   (the mean over the training photos), and runs of that fill cost more bytes than they saved
 *   (codec/models/README.md, "Masks per tile, built").
 *
 * D of masking channel c over a unit is the squared distance of its dequantised latents from
 * the fill's (what the linear path loses, in the encoder's output space); R the bits its values
 * take under the channel's own histogram, less the fill's. A unit keeps the n minimising the sum
 * over c >= n of D - lambda R, lambda in units of d^2, d the step of the companded scale at
 * channel 0's fill. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "codec/internal.h"

#define SEG 64       /* audio: latent positions a segment: 0.37 s at 44.1 kHz and J = 8 */
#define LAMBDA 32.0  /* audio: measured against 8: more bytes saved at every rung, SNR higher */
#define TILE WL_MASK_TILE /* images: a tile's side in latent positions: 64 pixels at J = 3 */

void wl_masks_free(wl_masks *k) {
  free(k->D); free(k->R); free(k->fill);
  memset(k, 0, sizeof *k);
}

/* The commonest value of each of q's keep planes of P (ties: the smallest) into fill. */
static void commonest(const int16_t *q, int keep, long P, int half, uint32_t *cnt, int16_t *fill) {
  for (int c = 0; c < keep; c++) {
    memset(cnt, 0, sizeof(uint32_t) * 2 * (size_t)half);
    for (long i = 0; i < P; i++) cnt[q[c * P + i] + half]++;
    int f = 0;
    for (int v = 1; v < 2 * half; v++) f = cnt[v] > cnt[f] ? v : f;
    fill[c] = (int16_t)(f - half);
  }
}

int wl_masks_init(wl_masks *k, const wl_model *m, const int16_t *q, int keep, int H, int W, int image) {
  memset(k, 0, sizeof *k);
  const int half = 1 << (m->d.bits - 1);
  const long P = (long)H * W;
  k->keep = keep, k->H = H, k->W = W;
  k->uh = image ? TILE : 1, k->uw = image ? TILE : SEG;
  k->tw = (W + k->uw - 1) / k->uw;
  k->units = (long)((H + k->uh - 1) / k->uh) * k->tw;
  k->D = malloc(sizeof(double) * (size_t)(keep * k->units));
  k->R = malloc(sizeof(double) * (size_t)(keep * k->units));
  k->fill = malloc(sizeof(int16_t) * (size_t)(keep ? keep : 1));
  double *cost = malloc(sizeof(double) * 2 * (size_t)half);
  uint32_t *cnt = malloc(sizeof(uint32_t) * 2 * (size_t)half);
  int rc = k->D && k->R && k->fill && cost && cnt ? 0 : WL_FAIL(WL_ERR_NOMEM);
  if (!rc && image) commonest(q, keep, P, half, cnt, k->fill);
  for (int c = 0; !rc && c < keep; c++) {
    const int16_t *qc = q + c * P;
    const int f = image ? k->fill[c] : (k->fill[c] = wl_quantise(m, m->fill[c]));
    const float yf = wl_dequant_q(m, f);
    memset(cnt, 0, sizeof(uint32_t) * 2 * (size_t)half);
    for (long i = 0; i < P; i++) cnt[qc[i] + half]++;
    for (int v = 0; v < 2 * half; v++)
      if (cnt[v] || v == f + half) cost[v] = -log2((cnt[v] + 0.5) / (P + 1.0));
    for (long t = 0; t < k->units; t++) {
      const int i0 = (int)(t / k->tw) * k->uh, j0 = (int)(t % k->tw) * k->uw;
      double d = 0, r = 0;
      for (int i = i0; i < i0 + k->uh && i < H; i++)
        for (int j = j0; j < j0 + k->uw && j < W; j++) {
          const int v = qc[(long)i * W + j];
          const double e = wl_dequant_q(m, v) - yf;
          d += e * e;
          r += cost[v + half] - cost[f + half];
        }
      k->D[c * k->units + t] = d;
      k->R[c * k->units + t] = r;
    }
  }
  if (!rc && keep) {
    const double d = wl_dequant_q(m, k->fill[0] + 1) - wl_dequant_q(m, k->fill[0]);
    k->d2 = d * d;
  }
  free(cost); free(cnt);
  if (rc) wl_masks_free(k);
  return rc;
}

double wl_masks_apply(const wl_masks *k, double lambda, int16_t *q, int *kept) {
  const long P = (long)k->H * k->W;
  double masked = 0;
  for (long t = 0; t < k->units; t++) {
    int n = k->keep;
    double sum = 0, best = 0;
    for (int c = k->keep - 1; c >= 0; c--) {
      sum += k->D[c * k->units + t] - lambda * k->d2 * k->R[c * k->units + t];
      if (sum < best) best = sum, n = c;
    }
    if (kept) kept[t] = n;
    const int i0 = (int)(t / k->tw) * k->uh, j0 = (int)(t % k->tw) * k->uw;
    for (int c = n; c < k->keep; c++) {
      masked += k->D[c * k->units + t];
      if (!q) continue;
      for (int i = i0; i < i0 + k->uh && i < k->H; i++)
        for (int j = j0; j < j0 + k->uw && j < k->W; j++) q[c * P + (long)i * k->W + j] = k->fill[c];
    }
  }
  return masked;
}

double wl_masks_lambda(int level) { return pow(2.0, (level - WL_MASKS_MID) / 4.0); }

int wl_mask_segments(const wl_model *m, int16_t *q, int keep, long P) {
  wl_masks k;
  WL_TRY(wl_masks_init(&k, m, q, keep, 1, (int)P, 0));
  wl_masks_apply(&k, LAMBDA, q, NULL);
  wl_masks_free(&k);
  return 0;
}

int wl_tile_masks(const int16_t *q, int keep, int h, int w, int bits, uint16_t *counts, uint8_t *sent, int16_t *fill) {
  if (!q || !counts) return WL_FAIL_NULL();
  if (keep < 0 || keep > WL_MAX_K || h < 1 || w < 1 || bits < 2 || bits > 16) return WL_FAIL(WL_ERR_ARG);
  const long P = (long)h * w, tw = (w + TILE - 1) / TILE, units = (h + TILE - 1) / TILE * tw;
  const int half = 1 << (bits - 1);
  for (long i = 0; i < keep * P; i++)
    if (q[i] < -half || q[i] >= half) return WL_FAIL_WHY(WL_ERR_ARG, "latent %d: outside %d bits", q[i], bits);
  int16_t f[WL_MAX_K + 1];
  uint32_t *cnt = malloc(sizeof(uint32_t) << bits);
  if (!cnt) return WL_FAIL(WL_ERR_NOMEM);
  commonest(q, keep, P, half, cnt, f);
  free(cnt);
  for (long t = 0; t < units; t++) {
    const int i0 = (int)(t / tw) * TILE, j0 = (int)(t % tw) * TILE;
    int n = 0;
    for (int c = keep - 1; c >= 0 && !n; c--)
      for (int i = i0; i < i0 + TILE && i < h && !n; i++)
        for (int j = j0; j < j0 + TILE && j < w; j++)
          if (q[c * P + (long)i * w + j] != f[c]) {
            n = c + 1;
            break;
          }
    counts[t] = (uint16_t)n;
    for (int c = 0; sent && c < keep; c++)
      for (int i = i0; i < i0 + TILE && i < h; i++)
        memset(sent + c * P + (long)i * w + j0, c < n, (size_t)(j0 + TILE < w ? TILE : w - j0));
  }
  if (fill) memcpy(fill, f, sizeof(int16_t) * (size_t)keep);
  return 0;
}

int wl_mask_tiles(const wl_model *m, int16_t *q, int keep, int H, int W, int level) {
  wl_masks k;
  WL_TRY(wl_masks_init(&k, m, q, keep, H, W, 1));
  wl_masks_apply(&k, wl_masks_lambda(level), q, NULL);
  wl_masks_free(&k);
  return 0;
}
