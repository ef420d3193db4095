/* detail.c: the detail layer, which takes an image (or an audio chunk: 1-D packets, bands of
 * 2^J, siblings in pairs) past what its latents can carry. The
 * encoder decodes its own latents, takes the J-level packets Xh of that reconstruction and of
 * the image (X), and sends R = X - Xh with a uniform step Delta = 2^(2 - s/64), the file's choice:
 *   r = M (R_b at each position)   an orthonormal DCT-II across the C channels of each band b
 *                                  (for RGB: (R+G+B)/sqrt 3, (R-B)/sqrt 2, (R-2G+B)/sqrt 6)
 *   v = sign(r) floor(|r| / Delta + 1/2 - z), clamped to 16 bits (r rounded to float), with
 *       the dead zone z (below) larger where the coefficient stands alone, and an image's
 *       planes left empty where they are not worth their bits (choose_planes)
 * and the decoder adds M^T (v Delta) to its packets before their inverse. The packet transform
 * is close to orthonormal and M is orthonormal, so the mean squared error of the pixels is about
 * that of the coefficients, Delta^2 / 12 at fine steps; where a coefficient rounds to zero the
 * decoder network's estimate stands. Each plane (band b, DCT index k) is coded by entropy/ with
 * a neighbouring plane as its context (context() below), so that groups of four sibling bands
 * decode in parallel. Integers only between the encoder's rounding and the decoder's planes: a file
 * decodes to the same planes everywhere. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "codec/detail.h"
#include "entropy/entropy.h"

/* Rounding toward zero by this much more than to nearest: a coefficient just over half a step
 * costs more bits than the error it saves, and more where the context coder expects zeros. An
 * image's coefficient is near others when one of its 8 neighbours in the plane is at least
 * (1/2 + DEADZONE_NEAR) steps (would be sent near others), and alone otherwise; audio's 1-D
 * planes keep one dead zone (measured in codec/models/README.md). Encoder-side only: the decoder
 * reads integers. */
#define DEADZONE 0.2
#define DEADZONE_NEAR 0.15
#define DEADZONE_ALONE 0.4
#define VMAX 32767 /* 16-bit planes */

double wl_detail_step(int s) { return exp2(2 - s / 64.0); }

void wl_detail_free(wl_detail *d) {
  free(d->mode);
  free(d->len);
  memset(d, 0, sizeof *d);
}

/* The orthonormal DCT-II across C channels: M[k][c], row k a basis vector. */
static void channel_dct(int C, double M[WL_MAX_CHANNELS][WL_MAX_CHANNELS]) {
  for (int k = 0; k < C; k++)
    for (int c = 0; c < C; c++)
      M[k][c] = sqrt((k ? 2.0 : 1.0) / C) * cos(M_PI * (c + 0.5) * k / C);
}

/* Packet bands per channel (4^J in 2-D, 2^J for audio), and the children of one band (4, 2). */
static int bands_of(const wl_header *h) { return 1 << (h->modality == WL_MODALITY_AUDIO ? h->J : 2 * h->J); }
static int siblings(const wl_header *h) { return h->modality == WL_MODALITY_AUDIO ? 2 : 4; }
static int planes_of(const wl_header *h) { return h->channels * bands_of(h); }

/* The plane that codes plane i = b C + k as its context (entropy/: magnitudes and signs of the
 * co-located values): (b, k - 1), the previous DCT coefficient of the band; for k = 0 the first
 * coefficient of the band before it among its siblings (the S = 4 children of one band in 2-D,
 * S c .. S c + S - 1; 2 for audio), which have alike activity; none for the first sibling.
 * Groups of siblings decode in parallel. (Against the previous coefficient alone: 0.5 to 1.9%
 * fewer bytes on textured photos, step indices 224 to 352.) */
static const int16_t *context(const int16_t *v, int C, int S, long P, int i) {
  return i % C ? v + (long)(i - 1) * P : (i / C) % S ? v + (long)(i - C) * P : NULL;
}

void wl_detail_residual(const wl_header *h, float *X, const float *Xh) {
  const int C = h->channels, B = bands_of(h);
  const long P = (long)h->lat_h * h->lat_w;
  double M[WL_MAX_CHANNELS][WL_MAX_CHANNELS];
  channel_dct(C, M);
#pragma omp parallel for schedule(static)
  for (int b = 0; b < B; b++)
    for (long p = 0; p < P; p++) {
      double R[WL_MAX_CHANNELS];
      for (int c = 0; c < C; c++) R[c] = (double)X[((long)c * B + b) * P + p] - Xh[((long)c * B + b) * P + p];
      for (int k = 0; k < C; k++) {
        double r = 0;
        for (int c = 0; c < C; c++) r += M[k][c] * R[c];
        X[((long)k * B + b) * P + p] = (float)r;
      }
    }
}

/* The quantised magnitude of coefficient r at 1 / step inv, in [0, VMAX], with dead zone z. */
static inline int magnitude(float r, double inv, double z) {
  const double x = fabs((double)r) * inv + 0.5 - z;
  return x >= VMAX ? VMAX : x > 0 ? (int)x : 0;
}

/* |r| from which a coefficient is sent near others, at 1 / step inv. */
static float big_of(double inv) { return (float)((0.5 + DEADZONE_NEAR) / inv); }

/* The dead zone of a coefficient whose neighbours' largest |r| is near (audio: one zone),
 * widened by extra (wl_header.zone). */
static double zone(int image, float near, float big, double extra) {
  return extra + (!image ? DEADZONE : near >= big ? DEADZONE_NEAR : DEADZONE_ALONE);
}

static inline float larger(float a, float b) { return a > b ? a : b; }

/* nb[j] = the largest of nb[j] and |x| at columns j - 1, j (unless `self` is 0) and j + 1 of a row of
 * W (0 outside it). */
static void row_max(float *restrict nb, const float *restrict x, int W, int self) {
  if (W == 1) {
    nb[0] = larger(nb[0], self ? fabsf(x[0]) : 0.0f);
    return;
  }
  nb[0] = larger(nb[0], larger(fabsf(x[1]), self ? fabsf(x[0]) : 0.0f));
  nb[W - 1] = larger(nb[W - 1], larger(fabsf(x[W - 2]), self ? fabsf(x[W - 1]) : 0.0f));
  const float s = self ? 1.0f : 0.0f; /* |x[j]| s: 0 when not self (|x| >= 0) */
  for (int j = 1; j + 1 < W; j++)
    nb[j] = larger(nb[j], larger(larger(fabsf(x[j - 1]), fabsf(x[j + 1])), fabsf(x[j]) * s));
}

/* Row i of nb: the largest |r| of the rows above and below (three columns each) and of the left
 * and right neighbours. */
static void neighbours_row(const float *r, int H, int W, int i, float *nb) {
  memset(nb, 0, sizeof(float) * (size_t)W);
  row_max(nb, r + (long)i * W, W, 0);
  if (i > 0) row_max(nb, r + (long)(i - 1) * W, W, 1);
  if (i + 1 < H) row_max(nb, r + (long)(i + 1) * W, W, 1);
}

/* The Exp-Golomb bits of magnitude a >= 1 and its sign. */
static inline long value_bits(int a) { return 2 * (32 - __builtin_clz((unsigned)a)); }

/* What a plane's values give, for choose_planes: the squared error they remove (against the
 * plane left empty), the zeros among them, and their magnitudes' and signs' bits. */
typedef struct {
  double gain;
  long zeros, mag;
} plane_sums;

/* One plane of wl_detail_quantise: h x w values of r at the step (floor: the truncation of a
 * positive value), and their sums in *st unless it is NULL. An image's dead zone from its
 * neighbourhood: nb (wl_detail_neighbours), or made a row at a time in row (w floats); audio's
 * one. */
static void quantise_plane(const float *r, const float *nb, int h, int w, double step, double extra, int image,
                           float *row, int16_t *v, plane_sums *st) {
  const double inv = 1.0 / step;
  const float big = big_of(inv);
  plane_sums t = {0};
  for (int i = 0; i < h; i++) {
    const float *n = nb ? nb + (long)i * w : row;
    if (image && !nb) neighbours_row(r, h, w, i, row);
    for (int j = 0; j < w; j++) {
      const long p = (long)i * w + j;
      const int a = magnitude(r[p], inv, zone(image, image ? n[j] : 0, big, extra));
      v[p] = (int16_t)(r[p] < 0 ? -a : a);
      if (!st) continue;
      const double x = fabs((double)r[p]), d = x - a * step;
      if (a) t.gain += x * x - d * d, t.mag += value_bits(a);
      else t.zeros++;
    }
  }
  if (st) *st = t;
}

void wl_detail_neighbours(const wl_header *h, const float *r, float *nb) {
  const int H = h->lat_h, W = h->lat_w;
  const long P = (long)H * W, n = (long)bands_of(h) * h->channels;
#pragma omp parallel for schedule(static)
  for (long k = 0; k < n * H; k++) neighbours_row(r + k / H * P, H, W, (int)(k % H), nb + k / H * P + k % H * W);
}

/* The bits of a plane of m values, `zeros` of them zero, whose magnitudes' Exp-Golomb codes and
 * signs take mag bits: a zero flag at the plane's own odds, then the magnitudes. */
static double plane_bits(long m, long zeros, long mag) {
  return (double)mag + (zeros ? zeros * log2((double)m / zeros) : 0) +
         (m > zeros ? (m - zeros) * log2((double)m / (m - zeros)) : 0);
}

/* An image's plane is sent only where the squared error it removes is worth its bits at lambda
 * = PLANE_LAMBDA step^2 per bit (what a bit buys at this step), counting PLANE_BITS for its
 * stream's state and table entry and, for the last plane sent, a byte for each empty plane's
 * entry before it. Without it a coarse step sent planes of a lone coefficient: one more step
 * index could add 90 entries to the table and 4% to the file (FallenLeaf_s4, step 141), and PSNR
 * fell and rose again from one step to the next on dark photos (codec/models/README.md, "Planes
 * worth their bits"). Audio's planes are all sent: on held-out music at 12-24 kbps the same rule
 * gained under 0.1 dB of SNR and lost up to 0.07 dB of log-spectral distance. */
#define PLANE_LAMBDA 0.07
#define PLANE_BITS 48.0
static double plane_lambda(const wl_header *h, double step) {
  return h->modality == WL_MODALITY_IMAGE ? PLANE_LAMBDA * step * step : 0;
}

/* Which planes (in v's order) are not worth sending, from gain[i] (the squared error plane i's
 * values remove) and cost[i] (its bits, -1 for an empty plane): their cost becomes -2. */
static void choose_planes(int D, const double *gain, double *cost, double lambda) {
  int last = D - 1;
  while (last >= 0 && cost[last] < 0) last--;
  while (last >= 0) { /* the last plane sent also pays for the empty entries below it */
    int below = last - 1;
    while (below >= 0 && cost[below] < 0) below--;
    if (gain[last] >= lambda * (cost[last] + 8.0 * (last - below - 1))) break;
    cost[last] = -2;
    last = below;
  }
  for (int i = 0; i < last; i++)
    if (cost[i] >= 0 && gain[i] < lambda * cost[i]) cost[i] = -2;
}

int wl_detail_quantise(const wl_header *h, const float *r, const float *nb, int16_t *v) {
  const int C = h->channels, B = bands_of(h), image = h->modality == WL_MODALITY_IMAGE, w = h->lat_w;
  const long P = (long)h->lat_h * w;
  const double step = wl_detail_step(h->step), lambda = plane_lambda(h, step);
  float *rows = image && !nb ? malloc(sizeof(float) * (size_t)w * (size_t)WL_NTHREADS()) : NULL; /* one per thread */
  double *gain = malloc(sizeof(double) * 2 * (size_t)(B * C)), *cost = gain ? gain + B * C : NULL;
  if ((image && !nb && !rows) || !gain) {
    free(rows);
    free(gain);
    return WL_FAIL(WL_ERR_NOMEM);
  }
#pragma omp parallel for schedule(static)
  for (int i = 0; i < B * C; i++) {
    const long at = ((long)(i % C) * B + i / C) * P;
    plane_sums t;
    quantise_plane(r + at, nb ? nb + at : NULL, h->lat_h, w, step, h->zone, image,
                   rows ? rows + (long)WL_TID() * w : NULL, v + (long)i * P, lambda > 0 ? &t : NULL);
    if (lambda > 0) gain[i] = t.gain, cost[i] = t.zeros == P ? -1 : plane_bits(P, t.zeros, t.mag) + PLANE_BITS;
  }
  if (lambda > 0) {
    choose_planes(B * C, gain, cost, lambda);
#pragma omp parallel for schedule(static)
    for (int i = 0; i < B * C; i++)
      if (cost[i] == -2) memset(v + (long)i * P, 0, sizeof(int16_t) * (size_t)P);
  }
  free(rows);
  free(gain);
  return 0;
}

int wl_detail_finest(const wl_header *h, const float *r) {
  const long n = (long)planes_of(h) * h->lat_h * h->lat_w;
  float most = 0;
  for (long i = 0; i < n; i++) most = larger(most, fabsf(r[i]));
  int s = h->step;
  while (s > 1 && magnitude(most, 1.0 / wl_detail_step(s), 0) >= VMAX) s--; /* a step is 1/64 octave */
  return s;
}

int wl_detail_estimate(const wl_header *h, const float *r, const float *nb, int stride, double *se, double *bits) {
  const int C = h->channels, B = bands_of(h), n = B * C;
  const long P = (long)h->lat_h * h->lat_w;
  const double step = wl_detail_step(h->step), inv = 1.0 / step, lambda = plane_lambda(h, step);
  const float big = big_of(inv);
  const int image = h->modality == WL_MODALITY_IMAGE;
  /* per plane, in v's order (b C + k; r's plane i = k B + b): the squared error as quantised and
   * left empty, the gain between them, the bits with the stream's own; then the planes left
   * empty as wl_detail_quantise leaves them, and the sums in order (the same on any number of
   * threads) */
  double *e = malloc(sizeof(double) * 4 * (size_t)n), *none = e + n, *gain = e + 2 * n, *cost = e + 3 * n;
  if (!e) return WL_FAIL(WL_ERR_NOMEM);
#pragma omp parallel for schedule(static)
  for (int i = 0; i < n; i++) {
    const int j = i % B * C + i / B;
    long m = 0, zeros = 0, mag = 0;
    double sent = 0, empty = 0;
    for (long p = 0; p < P; p += stride, m++) {
      const int a = magnitude(r[i * P + p], inv, zone(image, image ? nb[i * P + p] : 0, big, h->zone));
      const double x = fabs((double)r[i * P + p]), d = x - a * step;
      sent += d * d;
      empty += x * x;
      if (a) mag += value_bits(a);
      else zeros++;
    }
    e[j] = sent * stride, none[j] = empty * stride, gain[j] = (empty - sent) * stride;
    cost[j] = zeros < m ? plane_bits(m, zeros, mag) * stride + PLANE_BITS : -1;
  }
  if (lambda > 0) choose_planes(n, gain, cost, lambda);
  *se = *bits = 0;
  for (int j = 0; j < n; j++) {
    *se += cost[j] == -2 ? none[j] : e[j];
    *bits += cost[j] >= 0 ? cost[j] - PLANE_BITS : 0;
  }
  free(e);
  return 0;
}

/* A plane's table entry: its mode byte and, unless the plane is empty, its bytes n as a LEB128
 * varint; written at p unless p is NULL. Returns its size. */
static size_t table_entry(uint8_t *p, uint8_t mode, uint32_t n) {
  size_t k = 1;
  if (p) p[0] = mode;
  for (; mode != WL_DETAIL_EMPTY; n >>= 7, k++) {
    if (p) p[k] = (uint8_t)((n & 127) | (n >= 128 ? 128 : 0));
    if (n < 128) return k + 1;
  }
  return k;
}

int wl_detail_pack(const wl_header *h, const int16_t *v, uint8_t **streams, wl_detail *d, wl_coders *cs) {
  const int C = h->channels, D = planes_of(h);
  const long P = (long)h->lat_h * h->lat_w;
  memset(d, 0, sizeof *d);
  d->D = D;
  /* each plane into its thread's buffer of the bound, then into one of its own cut to size: the
   * bound of all D at once would be many times the image */
  const size_t bound = wle_bound((size_t)P, 16);
  uint8_t **part = calloc((size_t)D, sizeof *part);
  d->mode = malloc((size_t)D);
  d->len = calloc((size_t)D, sizeof *d->len);
  wl_first err = WL_FIRST;
  if (!part || !d->mode || !d->len) wl_first_note(&err, 0, WL_FAIL(WL_ERR_NOMEM));
  const int ok = !err.err;
#pragma omp parallel if (ok)
  {
    uint8_t *buf = ok ? malloc(bound) : NULL;
    wle_scratch own = {0}, *s = wl_coders_mine(cs, &own);
    if (ok && !buf) wl_first_note(&err, 0, WL_FAIL(WL_ERR_NOMEM));
#pragma omp for schedule(dynamic)
    for (int i = 0; i < (ok ? D : 0); i++) {
      const int16_t *q = v + (long)i * P;
      int most = 0;
      for (long p = 0; p < P; p++) most |= q[p] < 0 ? -q[p] : q[p];
      d->mode[i] = WL_DETAIL_EMPTY;
      if (!most || !buf) continue;
      /* the magnitude's bits, a sign and one more (so the residuals' wrap rarely bites), at most 16:
       * |v| <= VMAX = 2^15 - 1 and its sign fit there */
      const int need = 34 - __builtin_clz((unsigned)most), bits = need < 16 ? need : 16;
      size_t len = 0;
      int mode = 0, e = wle_encode_best(s, q, context(v, C, siblings(h), P, i), h->lat_h, h->lat_w, bits, NULL, 0, buf,
                                        bound, &len, &mode);
      if (!e && !(part[i] = malloc(len ? len : 1))) e = WL_FAIL(WL_ERR_NOMEM);
      if (!e) memcpy(part[i], buf, len);
      wl_first_note(&err, i, e < 0 ? e : len > UINT32_MAX ? WL_FAIL(WL_ERR_LIMIT) : 0);
      d->mode[i] = (uint8_t)(mode | (bits - 2) << 2);
      d->len[i] = (uint32_t)len;
    }
    free(buf);
    wle_scratch_free(&own);
  }
  d->n = err.err ? 0 : D;
  while (d->n > 0 && d->mode[d->n - 1] == WL_DETAIL_EMPTY) d->n--;
  d->table_len = 6;
  for (int i = 0; i < d->n; i++) {
    d->table_len += table_entry(NULL, d->mode[i], d->len[i]);
    d->bytes += d->len[i];
  }
  uint8_t *at = *streams = err.err ? NULL : malloc(d->bytes ? d->bytes : 1);
  if (!err.err && !at) wl_first_note(&err, 0, WL_FAIL(WL_ERR_NOMEM));
  for (int i = 0; i < d->n && at; i++) {
    if (part[i]) memcpy(at, part[i], d->len[i]); /* none for an empty plane */
    at += d->len[i];
  }
  for (int i = 0; part && i < D; i++) free(part[i]);
  free(part);
  if (err.err) {
    free(*streams);
    *streams = NULL;
    wl_detail_free(d);
  }
  return err.err;
}

void wl_detail_table_write(const wl_header *h, const wl_detail *d, uint8_t *p) {
  wl_put16(p, (uint32_t)h->step);
  wl_put32(p + 2, (uint32_t)d->n);
  p += 6;
  for (int i = 0; i < d->n; i++) p += table_entry(p, d->mode[i], d->len[i]);
}

int wl_detail_table_read(const wl_header *h, const uint8_t *p, size_t len, wl_detail *d) {
  memset(d, 0, sizeof *d);
  if (len < 6) return WL_FAIL(WL_ERR_TRUNCATED);
  d->D = planes_of(h);
  const uint32_t n = wl_get32(p + 2);
  if (wl_get16(p) != (uint32_t)h->step || n > (uint32_t)d->D) return WL_FAIL(WL_ERR_CORRUPT);
  d->n = (int)n;
  d->mode = malloc(n ? n : 1);
  d->len = calloc(n ? n : 1, sizeof *d->len);
  if (!d->mode || !d->len) {
    wl_detail_free(d);
    return WL_FAIL(WL_ERR_NOMEM);
  }
  const size_t bound = wle_bound((size_t)h->lat_h * h->lat_w, 16);
  size_t at = 6;
  int e = 0;
  for (int i = 0; i < d->n && !e; i++) {
    if (at >= len) { e = WL_FAIL(WL_ERR_TRUNCATED); break; }
    d->mode[i] = p[at++];
    if (d->mode[i] == WL_DETAIL_EMPTY) continue;
    if ((d->mode[i] & 3) == WL_ENTROPY_STATIC || (d->mode[i] >> 2) > 14) { e = WL_FAIL(WL_ERR_CORRUPT); break; }
    uint64_t v = 0;
    for (int shift = 0;; shift += 7) {
      if (at >= len) { e = WL_FAIL(WL_ERR_TRUNCATED); break; }
      const uint8_t b = p[at++];
      v |= (uint64_t)(b & 127) << shift;
      if (!(b & 128)) { if (shift && !(b & 127)) e = WL_FAIL(WL_ERR_CORRUPT); break; } /* one spelling */
      if (shift >= 28) { e = WL_FAIL(WL_ERR_CORRUPT); break; }
    }
    if (!e && (v < 1 || v > bound)) e = WL_FAIL(WL_ERR_CORRUPT);
    d->len[i] = (uint32_t)v;
    d->bytes += v;
  }
  if (e) wl_detail_free(d);
  else d->table_len = at;
  return e;
}

int wl_detail_decode(const wl_header *h, const wl_detail *d, const uint8_t *p, int16_t *v) {
  const int C = h->channels, B = bands_of(h), S = siblings(h);
  const long P = (long)h->lat_h * h->lat_w;
  size_t *at = malloc(sizeof(size_t) * ((size_t)d->n + 1));
  if (!at) return WL_FAIL(WL_ERR_NOMEM);
  at[0] = 0;
  for (int i = 0; i < d->n; i++) at[i + 1] = at[i] + d->len[i];
  memset(v, 0, sizeof(int16_t) * (size_t)d->D * P);
  wl_first err = WL_FIRST;
#pragma omp parallel for schedule(dynamic)
  for (int g = 0; g < B / S; g++) /* a group of sibling bands, in order (context) */
    for (int i = S * g * C, e = 0; i < S * (g + 1) * C && !e; i++) {
      if (i >= d->n || d->mode[i] == WL_DETAIL_EMPTY) continue;
      e = wle_decode(d->mode[i] & 3, p + at[i], d->len[i], context(v, C, S, P, i), h->lat_h, h->lat_w,
                     (d->mode[i] >> 2) + 2, NULL, v + (long)i * P);
      wl_first_note(&err, i, e);
    }
  free(at);
  return WL_LOWER(err.err); /* recorded on this thread, not a worker's */
}

/* Xh = from + the inverse channel-DCT of v times the step, at positions p0 .. p0+n-1 (planes cs
 * apart; from may be Xh): each sum over k in order, a run of positions at a time. */
static void add_part(const wl_header *h, const int16_t *v, long p0, long n, const float *from, float *Xh, long cs) {
  const int C = h->channels, B = bands_of(h);
  const long P = (long)h->lat_h * h->lat_w;
  const double step = wl_detail_step(h->step);
  double M[WL_MAX_CHANNELS][WL_MAX_CHANNELS];
  channel_dct(C, M);
#pragma omp parallel for schedule(static)
  for (int b = 0; b < B; b++)
    for (long q = 0; q < n; q += 256)
      for (int c = 0; c < C; c++) {
        const long m = n - q < 256 ? n - q : 256, at = ((long)c * B + b) * cs + q;
        double r[256] = {0};
        for (int k = 0; k < C; k++) {
          const int16_t *vk = v + ((long)b * C + k) * P + p0 + q;
          for (long p = 0; p < m; p++) r[p] += M[k][c] * vk[p];
        }
        for (long p = 0; p < m; p++) Xh[at + p] = from[at + p] + (float)(r[p] * step);
      }
}

void wl_detail_add_part(const wl_header *h, const int16_t *v, long p0, long n, float *Xh, long cs) {
  add_part(h, v, p0, n, Xh, Xh, cs);
}

void wl_detail_add(const wl_header *h, const int16_t *v, const float *from, float *Xh) {
  const long P = (long)h->lat_h * h->lat_w;
  add_part(h, v, 0, P, from, Xh, P);
}
