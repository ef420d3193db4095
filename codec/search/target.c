/* target.c: rate control. One ladder of settings, ordered by rate and quality, serves -Q
 * (wl_quality_opts_depth):
 *   rung L = 1 .. lo                      the first L latent channels, no detail layer
 *   rung L = lo + s, s = 1 .. SWITCH       lo channels and a detail layer of step index s
 *   rung L = lo + s, s > SWITCH            half channels and a detail layer of step index s
 * with lo = max(1, K / 4) and half = max(1, K / 2): measured on photos never trained on
 * (codec/models/README.md, "Rate control" and "Fewer channels under coarse steps"), half of
 * rgb's 12 channels with a detail layer beats 9 or 12 at every rate from 0.2 bpp up, and under
 * steps up to about 200 a detail layer on a quarter of them beats half and every channel count
 * alone, photo by photo.
 * A target (bytes, bits per pixel, PSNR; wl_encode_target) is searched on the ladder of half
 * channels (1 .. half alone, then half and steps), and then, where its answer has no finer
 * step than SWITCH, on the ladders of fewer channels (ladder_narrow), keeping the best file:
 * the higher PSNR within the bytes, or the smaller file at the PSNR. On a ladder it is found by
 * bracketing and then
 * interpolating (log bytes and PSNR are close to linear in the step index), falling back to
 * halving when an interpolation gains little. Channels alone are measured exactly: their bytes
 * as the encoder writes them, their PSNR that of what the decoder returns. A detail rung is
 * predicted from an estimate over its coefficients (wl_detail_estimate): its PSNR from their
 * squared error (the packet transform and the channel-DCT are close to orthonormal; the offset
 * stays within 0.02 dB near a target), its bytes from a zero flag at each plane's odds and
 * Exp-Golomb magnitudes, each offset by what the exact measurements gave, interpolated between
 * the two nearest (before the first, by a typical offset: prediction_offset()). The answer is then
 * made exact: it and its neighbour on the other side of the target are measured as written and
 * decoded (exact_bracket); where the two are far apart, the finer one's dead zone is widened to
 * land between them (fine()). The latents, their
 * streams, their reconstruction at `half` and the residual's channel-DCT are made once; a rung
 * of the detail layer then costs only its quantisation and either its entropy coding (rate) or
 * its inverse transform (PSNR), and the file is written from them (as wl_encode would). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "codec/container.h"
#include "codec/detail.h"
#include "codec/search/search.h"
#include "entropy/entropy.h"
#include "wavelet/wpt.h"

static int half_of(const wl_model *m) { return m->d.K / 2 > 1 ? m->d.K / 2 : 1; }
static int quarter_of(const wl_model *m) { return m->d.K / 4 > 1 ? m->d.K / 4 : 1; }
/* The last step index that -Q's ladder puts on a quarter of the channels. */
#define SWITCH 200

/* Audio sends K/8 channels under its steps: on held-out music at the rate of opus at 16 kbps,
 * K/8 channels and a step decoded at 10.2 dB SNR where channels alone (about K/5) gave 6.7, for
 * the same log-spectral distance; K/16 gained 1.2 dB more but kept under 0.7 of the 4-8 kHz
 * energy (codec/models/README.md, "Band envelope"). */
int wl_audio_ladder_base(const wl_model *m) { return m->d.K / 8 > 1 ? m->d.K / 8 : 1; }

/* Rung L of the ladder whose detail layer goes on `keep` channels. */
static wl_encode_opts rung_opts(int keep, int L) {
  return (wl_encode_opts){.keep = L <= keep ? L : keep, .step = L <= keep ? 0 : L - keep};
}

int wl_quality_opts_depth(const wl_model *m, int depth, int quality, wl_encode_opts *o) {
  if (!m || !o) return WL_FAIL_NULL();
  if (quality < 0 || quality > 100) return WL_FAIL_WHY(WL_ERR_ARG, "quality %d: 0 to 100", quality);
  if (depth != 8 && depth != 16) return WL_FAIL_WHY(WL_ERR_ARG, "depth %d: 8 or 16", depth);
  const int half = half_of(m);
  memset(o, 0, sizeof *o);
  if (m->d.dims == 1) { /* audio: Q 0..20 channels 1 .. B = K/8; 21..100 B and steps 206 .. 680 */
    const int B = wl_audio_ladder_base(m);
    o->keep = quality <= 20 ? 1 + (B - 1) * quality / 20 : B;
    o->step = quality <= 20 ? 0 : 200 + 6 * (quality - 20);
    return 0;
  }
  /* Q 0..10: channels 1 .. lo; 11..38: lo channels and steps 64 .. SWITCH (photos: about 0.12
   * to 0.23 bpp); 39..75: half channels and steps 202 .. 320 (about 31 to 37 dB on photos);
   * 76..100: steps up to 608 (about 53 dB, where 8-bit samples' own rounding begins to
   * dominate), and for 16-bit samples up to 864 (each 64 steps about 6 dB more) */
  const int top = depth == 16 ? 864 : 608, lo = quarter_of(m);
  if (quality <= 10) o->keep = 1 + ((lo - 1) * quality + 5) / 10;
  else if (quality <= 38) o->keep = lo, o->step = 64 + (quality - 11) * (SWITCH - 64) / 27;
  else {
    o->keep = half;
    o->step = quality <= 75 ? 144 + (quality - 21) * 176 / 54 : 320 + (quality - 75) * (top - 320) / 25;
  }
  return 0;
}

int wl_quality_opts(const wl_model *m, int quality, wl_encode_opts *o) { return wl_quality_opts_depth(m, 8, quality, o); }

/* What the ladders of one image share: the PSNR of the first L channels alone at [L], 0 until
 * measured (the latents' first channels are the same on every ladder), and the offset that turns
 * a detail rung's estimate (wl_detail_estimate) into a prediction on a ladder not yet measured,
 * that of the last rung measured exactly: its decoded PSNR less its coefficients' (within 0.02 dB
 * from one ladder to the next), or the log of its detail layer's bytes less that of the estimated
 * bytes. */
typedef struct {
  double alone[WL_MAX_K + 1];
  double offset;
  int calibrated;
  float *packets[WL_MAX_K + 1]; /* the decoder's packets of the first c channels, where kept */
  size_t kept;                  /* their bytes */
} known;

/* A run of the decoder on c channels alone, needed for their PSNR, keeps its packets (while
 * they take at most KEEP_BYTES in all) for a ladder of c channels to start from: --psnr 30 had
 * run the decoder twice on each of 1, 2 and 3 channels. */
#define KEEP_BYTES ((size_t)128 << 20)

static void known_free(known *k) {
  for (int c = 0; c <= WL_MAX_K; c++) free(k->packets[c]);
}

/* A detail rung's layer as coded: its streams and table (L 0: none). */
typedef struct {
  int L;
  uint8_t *streams;
  wl_detail d;
} packed;

/* Its bytes in the file: table and streams. */
static double layer_bytes(const packed *p) { return (double)(p->d.table_len + p->d.bytes); }

static void packed_free(packed *p) {
  free(p->streams);
  wl_detail_free(&p->d);
  p->streams = NULL, p->L = 0;
}

/* Exact measures a ladder keeps for calibration (a search makes at most about 20). */
#define CALS 32

/* What stays fixed while rungs are tried. */
typedef struct {
  const wl_model *m;
  const wl_image *img;
  wl_signal s;
  wl_header h;   /* at the ladder's keep */
  float *X;      /* the image's packets (D, P), then the residual's channel-DCT r */
  float *nb;     /* r's neighbourhoods (wl_detail_neighbours) */
  float *Xh;     /* those of its reconstruction from keep channels (kept) */
  float *x;      /* a reconstruction's packets, then its padded samples, then its samples (C, H, W) */
  int16_t *q;    /* latents at keep */
  int16_t *v;    /* detail planes */
  uint8_t *streams, *alpha; /* the latents' streams (each at most bound bytes), the alpha plane */
  size_t bound, alpha_len;
  wl_work w;     /* the analysis' (X lives there) */
  wl_work cw;    /* the decoder's, for rungs of fewer channels */
  known *k;      /* what every ladder of the image shares */
  int exact_L;   /* the last detail rung measured exactly (0: none), and its measure */
  double exact_f;
  int ncal;      /* the detail rungs measured exactly on this ladder, ascending: their offsets */
  int cal_L[CALS];
  double cal_o[CALS];
  packed last, below; /* rate: the layer of exact_L, and of the highest rung found within the
                         bytes (a rate target's answer, written as measured); PSNR: last, the
                         answer's layer where fine() coded it */
  int finest;         /* the finest step at which the residual fits the detail planes (the top) */
  int fine_L;         /* the rung whose detail layer has a wider dead zone, fine_z (fine()); 0: none */
  double fine_z;
} ladder;

static void ladder_free(ladder *l) {
  packed_free(&l->last);
  packed_free(&l->below);
  free(l->Xh); free(l->x); free(l->nb); free(l->q); free(l->v); free(l->streams); free(l->alpha);
  wl_work_free(&l->w);
  wl_work_free(&l->cw);
}

/* The PSNR that stands for no error at all: it meets every PSNR target (above()). */
#define LOSSLESS 200.0

/* PSNR of a squared error se over image a's samples. */
static double psnr_se(const wl_image *a, double se) {
  const size_t n = (size_t)a->channels * a->height * a->width;
  const double peak = (double)((1 << a->depth) - 1);
  return se > 0 ? 10 * log10(peak * peak * (double)n / se) : LOSSLESS;
}

/* The squared error over image a's samples that a PSNR stands for (psnr_se's inverse). */
static double se_at(const wl_image *a, double psnr) {
  const size_t n = (size_t)a->channels * a->height * a->width;
  const double peak = (double)((1 << a->depth) - 1);
  return peak * peak * (double)n / pow(10, psnr / 10);
}

/* The PSNR of the samples that the padded, scaled signal x (the ladder's shape) decodes to. */
static double psnr_of(const ladder *l, const float *x) {
  return psnr_se(l->img, wl_signal_error(x, l->h.lat_h << l->h.J, l->h.lat_w << l->h.J, &l->s));
}

/* The decoder run on the first c latents of q in work w: its packets in *Xh (w's), as
 * wl_synthesis_packets makes them, and, if psnr is not NULL, the PSNR of its samples (made in x). */
static int decoded_of(ladder *l, const int16_t *q, int c, wl_work *w, float **Xh, double *psnr) {
  wl_header h = l->h;
  h.keep = c, h.step = 0;
  WL_TRY(wl_synthesis_packets(l->m, &h, q, w, Xh, psnr ? l->x : NULL));
  if (psnr) *psnr = psnr_of(l, l->x);
  return 0;
}

/* The same for the ladder's latents, the PSNR (if `alone`) in alone[c]. */
static int decoded(ladder *l, int c, int alone, wl_work *w, float **Xh) {
  return decoded_of(l, l->q, c, w, Xh, alone ? &l->k->alone[c] : NULL);
}

/* The decoder's packets Xh of the first h.keep latents (decoded in work w, unless kept; with
 * their PSNR alone if `alone`) and, in X, the residual's channel-DCT. */
static int residual(ladder *l, int alone, wl_work *w) {
  const size_t DP = (size_t)l->m->D * l->h.lat_h * l->h.lat_w;
  float *Xh = l->k->packets[l->h.keep];
  if (!Xh) WL_TRY(decoded(l, l->h.keep, alone, w, &Xh));
  if (Xh != l->Xh) memcpy(l->Xh, Xh, sizeof(float) * DP);
  wl_detail_residual(&l->h, l->X, l->Xh);
  wl_detail_neighbours(&l->h, l->X, l->nb);
  wl_header h = l->h;
  h.step = WL_MAX_STEP;
  l->finest = wl_detail_finest(&h, l->X);
  return 0;
}

static int ladder_init(ladder *l, const wl_model *m, const wl_image *img, int keep, int rate, int fast, known *k) {
  memset(l, 0, sizeof *l);
  l->k = k;
  l->m = m;
  l->img = img;
  l->s = wl_image_signal(img);
  const wl_encode_opts o = rung_opts(keep, keep);
  WL_TRY(wl_header_init(m, &l->s, WL_MODALITY_IMAGE, &o, &l->h));
  l->h.fast = fast;
  l->h.has_alpha = img->alpha != NULL;
  const long P = (long)l->h.lat_h * l->h.lat_w;
  const size_t DP = (size_t)m->D * P;
  l->q = wl_malloc_big(sizeof(int16_t) * (size_t)l->h.keep * P);
  l->v = wl_malloc_big(sizeof(int16_t) * DP);
  l->Xh = wl_malloc_big(sizeof(float) * DP);
  l->x = wl_malloc_big(sizeof(float) * DP);
  l->nb = wl_malloc_big(sizeof(float) * DP);
  if (!l->q || !l->v || !l->Xh || !l->x || !l->nb) return WL_FAIL(WL_ERR_NOMEM);
  l->bound = wle_bound((size_t)P, l->h.bits);
  l->streams = malloc(l->bound * (size_t)l->h.keep);
  int e = l->streams ? wl_packets(&l->s, m->d.J, &l->w, &l->X) : WL_FAIL(WL_ERR_NOMEM);
  if (!e) e = wl_latents_of(m, l->X, l->h.keep, P, l->q, NULL);
  if (!e) e = wl_code_channels(m, l->q, &l->h, l->streams, l->bound, NULL);
  if (!e && img->alpha) e = wl_pack_alpha(img, &l->alpha, &l->alpha_len);
  /* the decoder's activations freed before the search: held instead, they slowed --bpp by 10%
   * (fresh pages for every plane's stream) */
  wl_work sw = {.x = l->Xh, .xcap = DP}; /* the reconstruction made in Xh itself, not in fresh memory
                                            copied there (its C Hp Wp samples are DP floats: kept) */
  if (!e) e = residual(l, !rate, &sw); /* a rate target seldom needs it */
  sw.x = NULL;
  wl_work_free(&sw);
  return e;
}

/* The ladder on its first c channels, in place (c below its keep): their latents and streams are
 * the first c it has (a channel's code depends on those before it only); the packets are made
 * again, since the residual replaced them, and the decoder runs on the first c latents, in the
 * work that channels alone use. */
static int ladder_narrow(ladder *l, int c) {
  l->h.keep = c;
  l->exact_L = l->fine_L = l->ncal = 0;
  packed_free(&l->last);
  packed_free(&l->below);
  WL_TRY(wl_packets(&l->s, l->m->d.J, &l->w, &l->X));
  return residual(l, 1, &l->cw); /* its PSNR alone: a rate target may compare with it (wl_encode_target) */
}

/* Bytes of the file of the first L channels without a detail layer: header, alpha, their
 * streams (a channel's code depends only on those before it) and CRC, as wl_encode writes it. */
static double plain_bytes(const ladder *l, int L) {
  double n = (double)(wl_header_size(L) + l->alpha_len + 4);
  for (int c = 0; c < L; c++) n += l->h.stream_len[c];
  return n;
}

/* A prediction reads every stride-th coefficient of a plane, and the offset, measured the same
 * way, takes up most of what that misses: a PSNR from every 4th is within 0.1 dB of all of them
 * (every 16th chose other rungs where PSNR is not monotone in the step: DarkestHour_s3 at 35 dB,
 * 1364 -> 1577 bytes), bytes from every 16th land the same files as every 4th, sooner. */
static int stride(int rate) { return rate ? 16 : 4; }

/* The PSNR of the first c channels alone (c at most those the ladder has latents of), as the
 * decoder's output has it, kept in alone[]; and of rung L of the ladder as it stands: a detail
 * rung by its quantised residual added to the ladder's reconstruction. */
static int alone_psnr(ladder *l, int c, double *psnr) {
  known *k = l->k;
  if (!(k->alone[c] > 0)) {
    const size_t bytes = sizeof(float) * (size_t)l->m->D * l->h.lat_h * l->h.lat_w;
    float *Xh;
    WL_TRY(decoded(l, c, 1, &l->cw, &Xh));
    /* kept for the counts that a ladder of fewer channels may start from (wl_encode_target) */
    if (c <= quarter_of(l->m) && c < half_of(l->m) && k->kept + bytes <= KEEP_BYTES &&
        (k->packets[c] = malloc(bytes))) {
      memcpy(k->packets[c], Xh, bytes);
      k->kept += bytes;
    }
  }
  *psnr = k->alone[c];
  return 0;
}

/* The header of rung L: the ladder's, with L's step and dead zone. */
static wl_header rung_header(const ladder *l, int L) {
  wl_header h = l->h;
  h.step = rung_opts(l->h.keep, L).step;
  h.zone = L == l->fine_L ? l->fine_z : 0;
  return h;
}

/* The settings of rung L, its dead zone included. */
static wl_encode_opts chosen_of(const ladder *l, int L) {
  wl_encode_opts o = rung_opts(l->h.keep, L);
  o.zone = L == l->fine_L ? (float)l->fine_z : 0;
  o.fastread = l->h.fast;
  return o;
}

/* Rung L's detail layer, quantised and coded, into *p. */
static int pack_rung(ladder *l, int L, packed *p) {
  const wl_header h = rung_header(l, L);
  WL_TRY(wl_detail_quantise(&h, l->X, l->nb, l->v));
  WL_TRY(wl_detail_pack(&h, l->v, &p->streams, &p->d, NULL));
  p->L = L;
  return 0;
}

static int rung_psnr(ladder *l, int L, double *psnr) {
  const wl_header h = rung_header(l, L);
  if (!h.step) return alone_psnr(l, L, psnr);
  const int Hp = h.lat_h << h.J, Wp = h.lat_w << h.J;
  WL_TRY(wl_detail_quantise(&h, l->X, l->nb, l->v));
  wl_detail_add(&h, l->v, l->Xh, l->x);
  WL_TRY(wl_grow(&l->w.scratch, &l->w.scap, wl_wpt_scratch_floats(h.channels, Hp, Wp))); /* kept: a rung each call */
  WL_TRY(wl_wpt2_inverse_with(l->x, h.channels, Hp, Wp, h.J, l->x, l->w.scratch, l->w.scap));
  *psnr = psnr_of(l, l->x);
  return 0;
}

/* The offset of rung L's prediction. Between two rungs of the ladder measured exactly, the one
 * interpolated linearly between theirs: the estimate's slope can be off by half (summer_1am_s2 at
 * 35 dB), and one offset, calibrated at either end, then put the crossing near the other end,
 * so that each exact measure moved the bracket by one rung (14 of them). Outside them, the
 * nearest one's; before any on this ladder, the last on the image's ladders; before any at all, a
 * typical offset: rate, the log of the streams' bytes over the estimate's, -0.18 to -0.54 once
 * calibrated on six val2 photos (the adaptive contexts code fewer bits than the estimate's zero
 * flags and Exp-Golomb codes); PSNR, the estimate's squared error being in units of the signal's
 * range, that range in dB (calibrated, 0.05 to 0.5 dB below it). Predicting from the start
 * spares an exact measure at the search's first guess. */
static double prediction_offset(const ladder *l, int L, int rate) {
  const int n = l->ncal;
  const int *c = l->cal_L;
  const double *o = l->cal_o;
  if (!n) return l->k->calibrated ? l->k->offset : rate ? -0.3 : -20 * log10((double)((1 << l->img->depth) - 1));
  if (L <= c[0]) return o[0];
  if (L >= c[n - 1]) return o[n - 1];
  int i = 1;
  while (c[i] < L) i++;
  return o[i - 1] + (o[i] - o[i - 1]) * (L - c[i - 1]) / (c[i] - c[i - 1]);
}

/* Keeps rung L's offset o, measured exactly, in the ladder's list (ascending in L). */
static void calibrate(ladder *l, int L, double o) {
  l->k->offset = o;
  l->k->calibrated = 1;
  int i = 0;
  while (i < l->ncal && l->cal_L[i] < L) i++;
  if (i < l->ncal && l->cal_L[i] == L) {
    l->cal_o[i] = o;
    return;
  }
  if (l->ncal == CALS) return;
  memmove(l->cal_L + i + 1, l->cal_L + i, sizeof *l->cal_L * (size_t)(l->ncal - i));
  memmove(l->cal_o + i + 1, l->cal_o + i, sizeof *l->cal_o * (size_t)(l->ncal - i));
  l->cal_L[i] = L, l->cal_o[i] = o;
  l->ncal++;
}

/* The predicted bytes (rate) or PSNR of detail rung L of header h (see the top). */
static int predicted(ladder *l, const wl_header *h, int L, int rate, double *value) {
  double se, bits;
  WL_TRY(wl_detail_estimate(h, l->X, l->nb, stride(rate), &se, &bits));
  const double o = prediction_offset(l, L, rate);
  *value = rate ? plain_bytes(l, l->h.keep) + exp(log(bits / 8 + 1) + o) : psnr_se(l->img, se) + o;
  return 0;
}

/* Rung L's bytes (rate) or PSNR: bytes as the encoder writes them, PSNR as the decoder's output
 * has it; but a detail rung's predicted (see the top) unless `exact`. */
static int measure(ladder *l, int L, int rate, int exact, double *value) {
  const wl_header h = rung_header(l, L);
  if (!h.step) { /* channels alone: the first L streams, or the decoder on the first L latents */
    if (rate) *value = plain_bytes(l, L);
    else WL_TRY(rung_psnr(l, L, value));
    return 0;
  }
  if (L == l->exact_L) {
    *value = l->exact_f;
    return 0;
  }
  double se, bits, detail = 0;
  if (!exact) return predicted(l, &h, L, rate, value);
  if (rate) {
    packed_free(&l->last);
    WL_TRY(pack_rung(l, L, &l->last));
    detail = layer_bytes(&l->last);
    *value = plain_bytes(l, l->h.keep) + detail;
  } else {
    WL_TRY(rung_psnr(l, L, value));
  }
  WL_TRY(wl_detail_estimate(&h, l->X, l->nb, stride(rate), &se, &bits));
  calibrate(l, L, rate ? log(detail + 1) - log(bits / 8 + 1) : *value - psnr_se(l->img, se));
  l->exact_L = L;
  l->exact_f = *value;
  return 0;
}

/* Whether measure f (at()'s terms) is on the target t's upper side: more bytes than allowed
 * (rate), or a PSNR that meets it. */
static int above(int rate, double f, double t) { return rate ? f > t : f >= t || f >= LOSSLESS; }

/* measure() in the search's terms: log bytes, or PSNR. */
static int at(ladder *l, int L, int rate, int exact, double *f) {
  WL_TRY(measure(l, L, rate, exact, f));
  if (rate) *f = log(*f);
  return 0;
}

/* The search's bracket lo < hi (lo below the target t, hi above it, in at()'s terms; found on
 * predictions) made exact. Measures the rung on the answer's side exactly (rate: lo, PSNR: hi),
 * recalibrates there, and halves on predictions within what is decided exactly, until the two
 * rungs are neighbours, both measured exactly (channels alone always are; rung 0 counts as below
 * and top + 1 as above, as the search counts them). flo, fhi: the ends' measures. */
static int exact_bracket(ladder *l, int rate, double t, int *lo, int *hi, double *flo, double *fhi) {
  const int keep = l->h.keep, top = keep + l->finest;
  int elo = *lo <= keep ? *lo : 0, ehi = *hi <= keep || *hi > top ? *hi : top + 1, a = *lo, b = *hi;
  while (ehi - elo > 1) {
    const int cand = rate ? (a == elo ? a + 1 : a) : (b == ehi ? b - 1 : b);
    double f;
    WL_TRY(at(l, cand, rate, 1, &f));
    if (above(rate, f, t)) {
      ehi = cand, *fhi = f;
    } else {
      elo = cand, *flo = f;
      if (l->last.L == cand) { /* rate: the answer so far, kept for its file */
        packed_free(&l->below);
        l->below = l->last;
        l->last = (packed){0};
      }
    }
    if (ehi - elo <= 1) break;
    /* the predicted bracket within the exact one, widened until its ends are predicted on their
     * sides, then halved */
    a = a < ehi ? (a > elo ? a : elo) : (ehi - 1 > elo ? ehi - 1 : elo);
    b = b > a && b < ehi ? b : a + 1;
    while (a > elo) {
      WL_TRY(at(l, a, rate, 0, &f));
      if (!above(rate, f, t)) break;
      b = a;
      a = a - 2 * (ehi - a) > elo ? a - 2 * (ehi - a) : elo;
    }
    while (b < ehi) {
      WL_TRY(at(l, b, rate, 0, &f));
      if (above(rate, f, t)) break;
      a = b;
      b = b + 2 * (b - elo) < ehi ? b + 2 * (b - elo) : ehi;
    }
    while (b - a > 1) {
      const int m = (a + b) / 2;
      WL_TRY(at(l, m, rate, 0, &f));
      if (above(rate, f, t)) b = m;
      else a = m;
    }
  }
  *lo = elo, *hi = ehi;
  return 0;
}

/* Neighbouring rungs lo and hi, both measured exactly (flo, fhi in at()'s terms), can be far
 * apart: a whole plane enters at one step, and a rate target's answer lo then falls short of the
 * bytes, a PSNR target's answer hi passes the PSNR by far. Widening the dead zone of hi's detail
 * layer by z of its step moves its bytes and PSNR back toward lo's. Where lo falls FINE_SHORT
 * (log bytes) short or hi passes by FINE_OVER dB, z is halved FINE_TRIES times:
 *   rate: in [0, FINE_ZONE], on predictions, for the narrowest zone predicted within the bytes,
 *     then measured exactly and widened by half once more if that misses;
 *   PSNR: in [0, FINE_ZONE_PSNR], on exact measures, for the widest zone at the PSNR: the
 *     predictions miss where a zone empties planes (DarkestHour_s6 at 40 dB: 39.82 dB predicted
 *     at 1/16 where the decoder gave 40.31), and a measure costs no decoder run.
 * Rate: hi's layer at that zone is the answer (below) if its PSNR beats lo's; PSNR: if its file
 * is smaller than hi's. */
#define FINE_ZONE 0.0625      /* every zone tried is a short binary fraction: the same as a float (wl_encode_opts) */
#define FINE_ZONE_PSNR 0.25   /* against 0.0625 on predictions: 6 of 176 val2 files at 25-40 dB smaller, none larger */
#define FINE_TRIES 5
#define FINE_SHORT 0.01
#define FINE_OVER 0.1
static int fine(ladder *l, int rate, double t, int lo, int hi, double flo, double fhi, int *rung) {
  const int keep = l->h.keep;
  if (lo <= keep || hi > keep + l->finest || (rate ? flo > t - FINE_SHORT : fhi < t + FINE_OVER)) return 0;
  double near = 0, far = rate ? FINE_ZONE : FINE_ZONE_PSNR, z = -1, f; /* z between near (hi's side of t) and
                                                                          * far (lo's side) */
  wl_header h = rung_header(l, hi);
  for (int i = 0; i < FINE_TRIES; i++) {
    h.zone = (near + far) / 2;
    if (rate) {
      WL_TRY(predicted(l, &h, hi, rate, &f));
    } else {
      l->fine_L = hi, l->fine_z = h.zone;
      WL_TRY(rung_psnr(l, hi, &f));
    }
    if (rate ? log(f) <= t : f >= t) z = h.zone, *(rate ? &far : &near) = h.zone;
    else *(rate ? &near : &far) = h.zone;
  }
  packed p = {0};
  int e = 0, meets = !rate && z > 0;
  l->fine_L = hi, l->fine_z = z;
  for (int i = 0; rate && i < 2 && z > 0 && !meets && !e; i++, z = 1.5 * z) {
    l->fine_z = z;
    packed_free(&p);
    e = pack_rung(l, hi, &p);
    meets = !e && plain_bytes(l, keep) + layer_bytes(&p) <= exp(t);
  }
  if (!e && meets && rate) { /* hi at its zone against lo, by PSNR */
    double plo = 0, phi = 0;
    l->fine_L = 0;
    e = rung_psnr(l, lo, &plo);
    l->fine_L = hi;
    if (!e) e = rung_psnr(l, hi, &phi);
    meets = phi > plo;
  } else if (!e && meets) { /* hi at its zone against hi, by bytes: a wider zone can keep a plane
                             * that it would leave empty (choose_planes); at equal bytes the one
                             * nearer the PSNR asked (DarkestHour_s6 at 30 dB: 30.27 -> 30.01) */
    packed p0 = {0};
    e = pack_rung(l, hi, &p);
    l->fine_L = 0;
    if (!e) e = pack_rung(l, hi, &p0);
    meets = layer_bytes(&p) <= layer_bytes(&p0);
    packed_free(&l->last); /* the smaller, kept for the file (rung_file) */
    if (meets) l->last = p, p = p0;
    else l->last = p0;
    l->fine_L = hi;
  }
  if (!e && meets) {
    *rung = hi;
    if (rate) packed_free(&l->below), l->below = p, p = (packed){0};
  } else {
    l->fine_L = 0;
  }
  packed_free(&p);
  return e;
}

/* Whether a PSNR target is met by channels alone (rung hi) on a ladder of more than a quarter of
 * them: the search stops there, unsure of the count, since the ladders of fewer channels, searched
 * next, find the smallest such count if it is at most a quarter, and beat a larger one with a
 * detail layer (wl_encode_target). */
static int alone_met(const ladder *l, int rate, int hi) {
  return !rate && hi <= l->h.keep && l->h.keep > quarter_of(l->m);
}

/* The rung meeting the target: the highest whose bytes are at most `value` (rate), or the
 * lowest whose PSNR is at least `value`. */
static int search(ladder *l, int rate, double value, int *rung) {
  const int top = l->h.keep + l->finest;
  int lo = 0, hi = top + 1;         /* rungs known below / at or above the target; 0, top + 1: none */
  double flo = 0, fhi = 0;          /* their measures: log bytes, or PSNR */
  const double t = rate ? log(value) : value, slope = rate ? 0.009 : 0.05; /* per rung, at fine steps */
  int L = l->h.keep + 320, pL = 0, side = 0, width = 0, slow = 0; /* the first guess: quality 75's step */
  double pf = 0, glo = 0, ghi = 0; /* the rung before; the ends' distances from the target */
  for (int tries = 0; hi - lo > 1; tries++) {
    double f = 0;
    WL_TRY(at(l, L, rate, 0, &f));
    const int up = above(rate, f, t);
    if (up) { hi = L; fhi = f; ghi = f - t; } else { lo = L; flo = f; glo = f - t; }
    if (side == (up ? 1 : -1)) { /* Illinois: the end kept twice counts half, so the ends alternate */
      if (up) glo /= 2; else ghi /= 2;
    }
    side = up ? 1 : -1;
    if (hi - lo <= 1 || alone_met(l, rate, hi)) break;
    int next;
    if (!rate && lo < l->h.keep && hi > l->h.keep) { /* all channels alone: their PSNR is known
                                                      * (ladder_init, ladder_narrow) */
      next = l->h.keep;
    } else if (!rate && hi <= l->h.keep) { /* among channels alone, each a decoder run: halving */
      next = (lo + hi) / 2;
    } else if (lo >= 1 && hi <= top) {
      /* bracketed: the rung beside the interpolated crossing on the answer's side (rate: the
       * highest below, PSNR: the lowest above), so that the next rung often closes the bracket;
       * halving when two rungs running did not halve the bracket */
      const double at = lo - glo / (ghi - glo) * (hi - lo);
      slow = width && 2 * (hi - lo) > width ? slow + 1 : 0;
      width = hi - lo;
      next = ghi > glo && slow < 2 ? (rate ? (int)floor(at) : (int)ceil(at)) : (lo + hi) / 2;
      if (slow == 2) slow = 0;
    } else { /* extend by the distance that the slope of the last two rungs (else a typical one)
              * predicts, half again more, and more each time */
      const double s = pL && f != pf ? fabs(f - pf) / abs(L - pL) : slope;
      const int d = (int)ceil(1.5 * fabs(t - f) / s) + (1 << (tries < 10 ? tries : 10));
      next = up ? L - d : L + d;
    }
    pL = L, pf = f;
    L = next < lo + 1 ? lo + 1 : next > hi - 1 ? hi - 1 : next;
  }
  if (hi - lo > 1 && alone_met(l, rate, hi)) {
    *rung = hi;
    return 0;
  }
  WL_TRY(exact_bracket(l, rate, t, &lo, &hi, &flo, &fhi));
  *rung = rate ? lo : hi;
  WL_TRY(fine(l, rate, t, lo, hi, flo, fhi, rung));
  if (*rung < 1) /* then hi = 1 */
    return WL_FAIL_WHY(WL_ERR_ARG, "a target of %.0f bytes is below the smallest file (%.0f bytes: one channel)", value,
                       exp(fhi));
  if (*rung > top) /* then lo = top; the best rounded down, so that it reads below the PSNR asked */
    return WL_FAIL_WHY(WL_ERR_ARG, "PSNR %.2f dB is out of reach (the finest step%s gives %.2f dB)", value,
                       l->finest < WL_MAX_STEP ? " that this image's detail fits" : "", floor(flo * 100) / 100);
  return 0;
}

/* A rate target's answer, rung *L, can be past the point where the image comes back exactly:
 * finer steps then only add bytes (Kite_s4 at --bpp 256: 621605 bytes, lossless, where step 800
 * made 470788, lossless too). If *L decodes exactly, *L becomes the coarsest rung that does,
 * found by halving on exact measures (finer steps do too: their errors are smaller; a flat image
 * can come back exactly from channels alone, a decoder run each). Only from a step of at most 2
 * units of the samples' last bit (index 64 (depth + 1): 576 for 8 bits, past the ladder for 16):
 * coarser ones do not come back exactly, and the check would cost every answer a measure. */
static int lossless_floor(ladder *l, int *L) {
  double psnr;
  if (*L - l->h.keep < 64 * (l->img->depth + 1)) return 0;
  WL_TRY(rung_psnr(l, *L, &psnr));
  if (psnr < LOSSLESS) return 0;
  int lo = 0, hi = *L; /* not known exact (0: none) / exact */
  while (hi - lo > 1) {
    const int m = (lo + hi) / 2;
    WL_TRY(rung_psnr(l, m, &psnr));
    if (psnr >= LOSSLESS) hi = m;
    else lo = m;
  }
  if (hi != *L && l->fine_L == *L) l->fine_L = 0; /* its zone goes with it */
  *L = hi;
  return 0;
}

/* The file of rung L, from the ladder's parts. */
static int rung_file(ladder *l, int L, uint8_t **out, size_t *outlen) {
  const wl_encode_opts o = rung_opts(l->h.keep, L);
  wl_header h = l->h;
  packed p = {0};
  h.keep = o.keep;
  h.step = o.step;
  if (!o.step) return wl_image_file(&h, l->streams, l->bound, l->alpha, l->alpha_len, &p.d, NULL, out, outlen);
  const int kept = l->below.L == L || l->last.L == L;
  if (kept) p = l->below.L == L ? l->below : l->last;
  else WL_TRY(pack_rung(l, L, &p));
  int e = wl_image_file(&h, l->streams, l->bound, l->alpha, l->alpha_len, &p.d, p.streams, out, outlen);
  if (!kept) packed_free(&p);
  return e;
}

/* A PSNR target's answer of c channels alone can pass the PSNR by far: the count below falls
 * short, and a detail layer on fewer channels makes a larger file (DarkestHour_s2 at 40 dB: 2
 * channels alone 40.32 dB, 1 and a layer 3665 bytes against 2823). Masks per tile (masks.c) then
 * land between the counts: the level whose masked D, times the decoded error's increase per unit
 * of it, stays within the room down to MASK_AIM dB above the PSNR; the first such rate from the
 * linear path's guess (all of the last channel masked costs what c - 1 alone lost, when known),
 * then from each decoder run's measure, MASK_TRIES runs at most. The file replaces *out if it
 * meets the PSNR and is smaller. */
#define MASK_AIM 0.1
#define MASK_TRIES 3
static int masked(ladder *l, int c, double t, wl_encode_opts *chosen, uint8_t **out, size_t *outlen) {
  const wl_model *m = l->m;
  const long P = (long)l->h.lat_h * l->h.lat_w;
  const double se = se_at(l->img, l->k->alone[c]), room = se_at(l->img, t + MASK_AIM) - se;
  wl_masks k;
  WL_TRY(wl_masks_init(&k, m, l->q, c, l->h.lat_h, l->h.lat_w, 1));
  int16_t *q = wl_malloc_big(sizeof(int16_t) * (size_t)(c * P));
  uint8_t *streams = malloc(l->bound * (size_t)c);
  int e = q && streams ? 0 : WL_FAIL(WL_ERR_NOMEM), tried[WL_MAX_MASKS + 2] = {0};
  double rate = 0; /* the decoded squared error's increase per unit of masked D */
  if (!e && c > 1 && l->k->alone[c - 1] > 0) {
    double all = 0;
    for (long u = 0; u < k.units; u++) all += k.D[(c - 1) * k.units + u];
    rate = all > 0 ? (se_at(l->img, l->k->alone[c - 1]) - se) / all : 0;
  }
  for (int i = 0; !e && i < MASK_TRIES; i++) {
    int level = 0, first = 0; /* the highest level predicted within the room; the first that masks */
    for (int v = 1; v <= WL_MAX_MASKS; v++) {
      const double D = wl_masks_apply(&k, wl_masks_lambda(v), NULL, NULL);
      first = first ? first : D > 0 ? v : 0;
      level = D > 0 && rate * D <= room ? v : level;
    }
    level = level ? level : first;
    if (!level || tried[level]) break;
    tried[level] = 1;
    memcpy(q, l->q, sizeof(int16_t) * (size_t)(c * P));
    const double D = wl_masks_apply(&k, wl_masks_lambda(level), q, NULL);
    float *Xh;
    double psnr;
    e = decoded_of(l, q, c, &l->cw, &Xh, &psnr);
    if (e) break;
    rate = D > 0 ? (se_at(l->img, psnr) - se) / D : 0;
    if (psnr < t) continue;
    wl_header h = l->h;
    uint8_t *file = NULL;
    size_t len = 0;
    h.keep = c, h.step = 0, h.zone = 0;
    e = wl_code_channels(m, q, &h, streams, l->bound, NULL);
    if (!e) e = wl_image_file(&h, streams, l->bound, l->alpha, l->alpha_len, &(wl_detail){0}, NULL, &file, &len);
    if (!e && len < *outlen) {
      free(*out);
      *out = file, *outlen = len;
      *chosen = (wl_encode_opts){.keep = c, .masks = level, .fastread = l->h.fast};
    } else {
      free(file);
    }
  }
  wl_masks_free(&k);
  free(q); free(streams);
  return e;
}

int wl_encode_target(const wl_model *m, const wl_image *img, int target, double value, wl_encode_opts *chosen,
                     uint8_t **out, size_t *outlen) {
  if (!out || !outlen) return WL_FAIL_NULL();
  *out = NULL;
  *outlen = 0;
  if (!m || !img || !chosen) return WL_FAIL_NULL();
  if ((target != WL_TARGET_BYTES && target != WL_TARGET_BPP && target != WL_TARGET_PSNR) || !(value > 0))
    return WL_FAIL_WHY(WL_ERR_ARG, "target %d of value %g", target, value);
  if (value > 1e15) value = 1e15; /* past any file: the largest */
  WL_TRY(wl_image_check(img));
  if (m->d.dims != 2) return WL_FAIL(WL_ERR_MISMATCH);
  const int rate = target != WL_TARGET_PSNR, half = half_of(m), lo = quarter_of(m);
  const double want = target == WL_TARGET_BPP ? floor(value * img->width * img->height / 8) : value;
  if (rate && want < 1) /* a search in log bytes starts from log(want) */
    return WL_FAIL_WHY(WL_ERR_ARG, "a target of %.3g bytes is below one byte", want);
  known k = {0};
  ladder l;
  int L = 0, e = ladder_init(&l, m, img, half, rate, chosen->fastread, &k);
  double best = -1; /* rate: the PSNR of *out, once needed (-1: not measured) */
  if (!e) e = search(&l, rate, want, &L);
  if (!e && rate) e = lossless_floor(&l, &L);
  if (!e) e = rung_file(&l, L, out, outlen);
  if (!e) *chosen = chosen_of(&l, L);
  /* Fewer channels: a quarter of them under a coarse step (see the top), and among channels
   * alone, whose rungs are far apart, a detail layer on fewer channels meets a target more
   * closely. Rate: on the channels that fit; PSNR: on each smaller count from lo down (the sizes
   * do not fall in order: one channel and a coarse step can beat two channels and a finer one,
   * and both beat three alone; counts between lo and half never won: the same files on the 44
   * val2 photos at 30 and 35 dB without them, and on every 2nd at 25; codec/models/README.md,
   * session 24). Kept: within the bytes the higher PSNR, at the PSNR the smaller file. */
  const wl_encode_opts first = *chosen;
  /* (fewer than lo channels alone: lo's files are all larger) */
  const int coarse = !e && first.step <= SWITCH && lo < half && (first.step || first.keep >= lo);
  if (coarse && rate && first.step) e = rung_psnr(&l, L, &best); /* channels alone: measurable later */
  for (int c = half - 1; !e && c >= 1; c--) {
    uint8_t *other = NULL;
    size_t len;
    double q = 0;
    if (!(coarse && c == lo) && !(!first.step && (rate ? c == first.keep : c < first.keep && c <= lo))) continue;
    e = ladder_narrow(&l, c);
    if (!e) e = search(&l, rate, want, &L);
    if (e == WL_ERR_ARG) { /* out of reach on c channels */
      e = 0;
      continue;
    }
    if (!e) e = rung_file(&l, L, &other, &len);
    if (!e && rate && coarse) e = rung_psnr(&l, L, &q);
    if (!e && rate && c != first.keep && best < 0) e = alone_psnr(&l, first.keep, &best); /* still channels alone */
    /* rate: the first count's channels alone and a detail layer beat them alone; another count
     * by its PSNR */
    if (!e && (rate ? c == first.keep || q > best : len < *outlen)) {
      free(*out);
      *out = other, *outlen = len, *chosen = chosen_of(&l, L), best = q;
    } else {
      free(other);
    }
  }
  if (!e && !rate && !chosen->step && k.alone[chosen->keep] >= want + FINE_OVER && k.alone[chosen->keep] < LOSSLESS)
    e = masked(&l, chosen->keep, want, chosen, out, outlen);
  ladder_free(&l);
  known_free(&k);
  if (e) {
    free(*out);
    *out = NULL, *outlen = 0;
  }
  return e;
}
