/* detail.h: the detail layer of an image (detail.c): what the decoder network leaves out,
 * coded in the wavelet packet domain with a uniform step chosen per file. Internal. */
#ifndef WL_CODEC_DETAIL_H
#define WL_CODEC_DETAIL_H
#include "codec/internal.h"

/* The step of index s (1 .. WL_MAX_STEP): 2^(2 - s/64) in the signal's [-0.5, 0.5] units. */
double wl_detail_step(int s);

/* The coded planes of a detail layer: D = C * 4^J of them (audio: C * 2^J), plane i = b * C + k
 * holding the k-th channel-DCT coefficient of packet band b, each (lat_h, lat_w). */
typedef struct {
  int D, n;          /* planes, and planes sent (the rest are zero) */
  uint8_t *mode;     /* (n) entropy mode | (bits - 2) << 2, the plane's values being of `bits`
                        bits (2 .. 16); WL_DETAIL_EMPTY for an all-zero plane (no stream) */
  uint32_t *len;     /* (n) stream bytes */
  size_t table_len;  /* bytes of the table in the header */
  uint64_t bytes;    /* bytes of every stream */
} wl_detail;
#define WL_DETAIL_EMPTY 0xff
void wl_detail_free(wl_detail *d);

/* Encoder: X (D, P) becomes r, the channel-DCT of X - Xh (original and decoded packets), in place:
 * coefficient k of band b in X's plane k B + b (B bands a channel). Then, at any h->step, v (D, P)
 * = r quantised, plane b C + k, an image's planes not worth their bits left empty (detail.c);
 * then v's streams (malloc'd, in order) and table in *d, coded in the scratch of cs (or NULL). */
void wl_detail_residual(const wl_header *h, float *X, const float *Xh);
int wl_detail_quantise(const wl_header *h, const float *r, const float *nb, int16_t *v);
/* The finest step index (1 .. h->step) at which every coefficient of the residual r (h's planes,
 * as wl_detail_quantise takes them) keeps its magnitude within the planes' 16 bits: a finer step
 * would clip the largest (a full-scale checkerboard at step 896). */
int wl_detail_finest(const wl_header *h, const float *r);
/* nb (D, P): for each coefficient of an image's r, the largest |r| of its 8 neighbours in its
 * plane (0 with none), which decides its dead zone at any step: given to wl_detail_quantise (or
 * NULL: it finds the same a row at a time, for one quantisation) and to wl_detail_estimate (an
 * image's is needed there; audio's NULL). */
void wl_detail_neighbours(const wl_header *h, const float *r, float *nb);
int wl_detail_pack(const wl_header *h, const int16_t *v, uint8_t **streams, wl_detail *d, wl_coders *cs);
/* From every stride-th position of each plane (times stride), about what r quantised at h->step
 * gives: *se its squared error, sum (r - v step)^2, and *bits a cost of its planes (a zero flag
 * at each plane's own odds, Exp-Golomb magnitudes and signs), planes not worth their bits left
 * empty as wl_detail_quantise leaves them, the same on any number of threads. WL_ERR_NOMEM when
 * its per-plane sums cannot be had. */
int wl_detail_estimate(const wl_header *h, const float *r, const float *nb, int stride, double *se, double *bits);
/* The table: u16 step, u32 n, then per plane a mode byte and, unless empty, its bytes as a
 * LEB128 varint. Write into p[0 .. d->table_len). Read: from p[0 .. len), checked against h
 * (D, the bound of a stream); d->table_len and d->bytes filled. */
void wl_detail_table_write(const wl_header *h, const wl_detail *d, uint8_t *p);
int wl_detail_table_read(const wl_header *h, const uint8_t *p, size_t len, wl_detail *d);
/* Decoder: the planes v (D, P) from the streams at p, described by d. */
int wl_detail_decode(const wl_header *h, const wl_detail *d, const uint8_t *p, int16_t *v);
/* Xh (D, P) = from + the inverse channel-DCT of v times the step (from may be Xh). */
void wl_detail_add(const wl_header *h, const int16_t *v, const float *from, float *Xh);
/* Xh += the same for the n positions p0 .. p0+n-1 alone: Xh (D, n), plane d at Xh + d * cs. */
void wl_detail_add_part(const wl_header *h, const int16_t *v, long p0, long n, float *Xh, long cs);
#endif
