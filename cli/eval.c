/* eval.c: walloc eval ORIG FILE.wlc: decodes FILE.wlc and reports its rate and fidelity against
 * the original: for images (PNG or .npy) bits per pixel, compression ratio, dimensionality
 * reduction and PSNR; for audio (WAV, FLAC, OGG ...) kbps, ratio against PCM at the file's bit
 * depth, reduction and SNR. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include "cli/cli.h"

/* Sum of squared differences of n samples, and of squares of a (the signal energy). */
static void errors(const float *a, const float *b, size_t n, double *se, double *energy) {
  *se = *energy = 0;
  for (size_t i = 0; i < n; i++) {
    const double d = (double)a[i] - b[i];
    *se += d * d;
    *energy += (double)a[i] * a[i];
  }
}

/* 10 log10(num / se), infinite when se is 0. */
static double db(double num, double se) { return se > 0 ? 10 * log10(num / se) : INFINITY; }

static int eval_image(const char *orig, const char *wlc, const wl_image *a, const wl_image *b, const wl_header *h,
                      size_t len) {
  if (a->channels != b->channels || a->height != b->height || a->width != b->width || a->depth != b->depth)
    return cli_fail(wlc, "shape differs from %s", orig);
  const size_t n = (size_t)a->channels * a->height * a->width;
  const double px = (double)a->width * a->height, peak = (double)((1 << a->depth) - 1);
  double se, energy;
  errors(a->planes, b->planes, n, &se, &energy);
  char name[16];
  snprintf(name, sizeof name, "%d-channel", a->channels);
  const char *kind = a->channels == 1 ? "gray" : a->channels == 3 ? "RGB" : name;
  printf("%s: %dx%d %d-bit %s%s, %zu bytes, %.4f bpp, ratio %.1f:1, reduction %.1fx, PSNR %.2f dB\n", orig, a->width,
         a->height, a->depth, kind, a->alpha ? "+alpha" : "", len, 8.0 * len / px,
         px * (a->channels + (a->alpha != NULL)) * a->depth / 8 / len,
         px * a->channels / ((double)h->K * h->lat_h * h->lat_w), db(peak * peak * (double)n, se));
  return 0;
}

static int eval_audio(const char *orig, const char *wlc, const wl_audio *a, const wl_audio *b, const wl_header *h,
                      size_t len) {
  if (a->channels != b->channels || a->frames != b->frames || a->rate != b->rate || a->depth != b->depth)
    return cli_fail(wlc, "channels, length, rate or bit depth differ from %s", orig);
  const size_t n = (size_t)a->channels * a->frames;
  const double sec = (double)a->frames / a->rate;
  double se, energy;
  errors(a->samples, b->samples, n, &se, &energy);
  printf("%s: %d ch %d Hz %d-bit, %ld frames, %zu bytes, %.2f kbps, ratio %.1f:1, reduction %.1fx, SNR %.2f dB\n",
         orig, a->channels, a->rate, a->depth, a->frames, len, 8.0 * len / sec / 1000,
         (double)n * a->depth / 8 / len, (double)n / ((double)h->K * h->lat_w), db(energy, se));
  return 0;
}

int cmd_eval(cli_opts *o) {
  if (o->ninputs != 2) return cli_fail("eval", "needs ORIG (PNG, .npy or audio) FILE.wlc");
  const char *orig = o->inputs[0], *wlc = o->inputs[1];
  uint8_t *buf = NULL;
  size_t len = 0;
  cli_signal a, b = {0};
  wl_header h;
  wl_model *m = NULL;
  int rc = cli_read_signal(orig, &a);
  if (!rc && (rc = cli_open_wlc(o, wlc, &buf, &len, &h, &m))) buf = NULL;
  if (!rc && a.audio != (h.modality == WL_MODALITY_AUDIO))
    rc = cli_fail(wlc, "holds %s but %s is %s", a.audio ? "an image" : "audio", orig, a.audio ? "audio" : "an image");
  if (!rc) {
    b.audio = a.audio;
    int e = a.audio ? wl_decode_audio(m, buf, len, &b.snd) : wl_decode(m, buf, len, &b.img);
    if (e) rc = cli_fail(wlc, "%s", wl_strerror(e));
  }
  if (!rc) rc = a.audio ? eval_audio(orig, wlc, &a.snd, &b.snd, &h, len) : eval_image(orig, wlc, &a.img, &b.img, &h, len);
  free(buf);
  cli_signal_release(&a);
  cli_signal_release(&b);
  wl_model_free(m);
  return rc;
}
