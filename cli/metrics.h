/* metrics.h: the fidelity of decoded audio against its original, as walloc eval reports it (and
 * bench/audio.py re-implements in numpy). Every measure covers all channels of the whole clip;
 * the exact definitions are in metrics.c and the man page. */
#ifndef WL_CLI_METRICS_H
#define WL_CLI_METRICS_H
#include "walloc.h"

typedef struct {
  double snr;   /* dB, on the integer-valued samples */
  double psnr;  /* dB, WaLLoC's: mean removed, original peak scaled to 0.5 */
  double sisdr; /* dB, scale-invariant SDR, mean over channels (NAN when every channel is silent) */
  double lsd;   /* dB, log-spectral distance, mean over 2048-sample frames and channels */
  double mel;   /* dB, the same over 40 mel bands instead of FFT bins */
  double keep[3]; /* decoded over original energy in 0-4, 4-8, 8-16 kHz (NAN: none in the original) */
} cli_audio_quality;

/* Measures y (decoded) against x (original): same channels and frames, samples of x->depth
 * bits. Returns 0, or -1 when out of memory. A perfect y gives INFINITY (LSD 0). */
int cli_audio_quality_measure(const wl_audio *x, const wl_audio *y, cli_audio_quality *q);
#endif
