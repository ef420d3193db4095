/* envelope.h: the band envelope of an audio chunk (envelope.c): coarse band energies that the
 * encoder measures on the original and the decoder restores on its reconstruction, by noise
 * where a band came out nearly empty and by attenuation where it came out too loud. Internal. */
#ifndef WL_CODEC_ENVELOPE_H
#define WL_CODEC_ENVELOPE_H
#include "codec/internal.h"
#include "codec/postfilter.h" /* FFTW, and its one planner lock */

#define WL_ENV_BANDS_MAX 24 /* bands of the widest layout (envelope.c's edges) */
#define WL_ENV_BITS 8       /* the values' bits in their entropy-coded planes */
#define WL_ENV_MIN (-50)    /* a band's value: its power in 3 dB steps, WL_ENV_MIN (silent) .. */
#define WL_ENV_MAX 15       /* .. WL_ENV_MAX (+45 dB above a full-scale sine's per-sample power) */

/* The encoder measures this many frames at once: their band sums, each in its own order, are
 * independent chains of additions that the core overlaps. */
#define WL_ENV_LANES 4

/* The analysis of one sample rate: frames of N samples (a power of two near 93 ms) every
 * N / 2, sqrt-Hann windowed; band b holds FFT bins start[b] .. start[b + 1] - 1. */
typedef struct {
  int N, bands;
  int start[WL_ENV_BANDS_MAX + 1];
  float *window;             /* (N) */
  float *frame;              /* (WL_ENV_LANES, N) scratch: frames, */
  fftwf_complex *spectrum;   /* (WL_ENV_LANES, N / 2 + 8) their spectra: the decoder's real DFT (first
                                lane only), the encoder's half-length DFTs Z */
  fftwf_plan r2c, c2r;       /* the decoder's */
  fftwf_plan half;           /* the encoder's: the complex DFT of N / 2 points, a frame's pairs */
  float *twiddle;            /* (2, N / 4 + 1): cos, then sin, of 2 pi k / N */
  double *power;             /* (WL_ENV_LANES, N / 2 + 8): |X_k|^2, k <= N / 2, of each lane's frame */
} wl_env;

/* The layout of `rate` Hz: *N, start[0 .. bands]; returns bands. */
int wl_env_layout(int rate, int *N, int start[WL_ENV_BANDS_MAX + 1]);
/* Plans the analysis of `rate` Hz for the encoder's wl_env_measure (decoder 0) or the decoder's
 * wl_env_apply (1); wl_env_free releases it (a zeroed wl_env too). */
int wl_env_init(wl_env *e, int rate, int decoder);
void wl_env_free(wl_env *e);

/* The frames of N samples that touch the span [s, s + n): *first (absolute index; frame f covers
 * [f N/2, f N/2 + N)) and *count (at most (n - 1) / (N/2) + 3). */
void wl_env_frames(int N, int64_t s, long n, int64_t *first, long *count);

/* Encoder: v (C, count, bands) of the span x (C channels cstride floats apart, n frames of
 * samples in units of `unit`, the full scale being 1) starting at s. */
void wl_env_measure(wl_env *e, const float *x, long cstride, int C, int64_t s, long n, float unit, int16_t *v);
/* Decoder: restores the envelope v (as measured) on the decoded span x (C, n) in place, then
 * rounds and clamps it to lo .. hi. Noise is seeded by frame, channel and bin: a frame comes out
 * the same in every chunk that holds it, whatever the thread count. */
int wl_env_apply(wl_env *e, const int16_t *v, float *x, int C, int64_t s, long n, float unit, float lo, float hi);
/* Samples [t0, t1) of channels c0 .. c0 + C - 1 of the same, the same bits, into out (os
 * apart): x (channels xs apart, channel 0 first) holds the decoded span's samples from x0, every
 * one in [0, n) of each frame that touches [t0, t1) (up to N before t0 and after t1). */
int wl_env_apply_part(wl_env *e, const int16_t *v, const float *x, long xs, long x0, int c0, int C, int64_t s,
                      long n, long t0, long t1, float unit, float lo, float hi, float *out, long os);
#endif
