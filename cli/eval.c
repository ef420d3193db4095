/* eval.c: walloc eval ORIG FILE.wlc: decodes FILE.wlc and reports its rate and fidelity against
 * the original: for images (PNG or .npy) bits per pixel, compression ratio, dimensionality
 * reduction and PSNR; for audio (WAV, FLAC, OGG ...) kbps, ratio against PCM at the file's bit
 * depth, reduction, SNR, WaLLoC's PSNR, SI-SDR and log-spectral distance (cli/metrics.c). One
 * line of text, or with --json one JSON object of the same numbers. */
#include <math.h>
#include <string.h>
#include <stdio.h>
#include <stdlib.h>
#include "cli/cli.h"
#include "cli/metrics.h"

typedef struct { const char *key; double v; } field;

/* Prints the fields as one JSON object; a value that is not finite (the infinite SNR of a perfect
 * reconstruction, the NAN of an undefined measure) is null; "alpha" is true or false, as in
 * info --json. */
static void print_json(const field *f, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (!strcmp(f[i].key, "alpha")) printf("%s\"%s\": %s", i ? ", " : "{", f[i].key, f[i].v ? "true" : "false");
    else printf(isfinite(f[i].v) ? "%s\"%s\": %.12g" : "%s\"%s\": null", i ? ", " : "{", f[i].key, f[i].v);
  printf("}\n");
}

/* Sum of squared differences of n samples. */
static double squared_error(const float *a, const float *b, size_t n) {
  double se = 0;
  for (size_t i = 0; i < n; i++) se += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
  return se;
}

static int eval_image(const cli_opts *o, const wl_image *a, const wl_image *b, const wl_info *h, size_t len) {
  if (a->channels != b->channels || a->height != b->height || a->width != b->width || a->depth != b->depth)
    return cli_fail(o->inputs[1], "holds %d channel(s) of %dx%d, %d-bit; %s %d of %dx%d, %d-bit", b->channels, b->width,
                    b->height, b->depth, o->inputs[0], a->channels, a->width, a->height, a->depth);
  if ((a->alpha != NULL) != (b->alpha != NULL)) /* the bytes and ratio would be another image's */
    return cli_fail(o->inputs[1], "%s alpha channel, and %s %s", b->alpha ? "holds an" : "holds no", o->inputs[0],
                    a->alpha ? "has one" : "has none");
  const size_t n = (size_t)a->channels * a->height * a->width;
  const double px = (double)a->width * a->height, peak = (double)((1 << a->depth) - 1);
  const double se = squared_error(a->planes, b->planes, n);
  const field f[] = {{"width", a->width}, {"height", a->height}, {"channels", a->channels}, {"depth", a->depth},
                     {"alpha", a->alpha != NULL}, {"bytes", (double)len}, {"bpp", 8.0 * len / px},
                     {"ratio", px * (a->channels + (a->alpha != NULL)) * a->depth / 8 / len},
                     {"reduction", px * a->channels / ((double)h->keep * h->lat_h * h->lat_w)},
                     {"psnr", se > 0 ? 10 * log10(peak * peak * (double)n / se) : INFINITY}};
  if (o->json) {
    print_json(f, sizeof f / sizeof f[0]);
    return 0;
  }
  char name[16];
  snprintf(name, sizeof name, "%d-channel", a->channels);
  const char *kind = a->channels == 1 ? "gray" : a->channels == 3 ? "RGB" : name;
  printf("%s: %dx%d %d-bit %s%s, %zu bytes, %.4f bpp, ratio %.1f:1, reduction %.1fx, PSNR %.2f dB\n", o->inputs[0],
         a->width, a->height, a->depth, kind, a->alpha ? "+alpha" : "", len, f[6].v, f[7].v, f[8].v, f[9].v);
  return 0;
}

static int eval_audio(const cli_opts *o, const wl_audio *a, const wl_audio *b, const wl_info *h, size_t len) {
  if (a->channels != b->channels || a->frames != b->frames || a->rate != b->rate || a->depth != b->depth)
    return cli_fail(o->inputs[1], "channels, length, rate or bit depth differ from %s", o->inputs[0]);
  const double n = (double)a->channels * a->frames, sec = (double)a->frames / a->rate;
  cli_audio_quality q;
  if (cli_audio_quality_measure(a, b, &q)) return cli_fail(o->inputs[1], "out of memory");
  const field f[] = {{"channels", a->channels}, {"rate", a->rate}, {"depth", a->depth}, {"frames", (double)a->frames},
                     {"bytes", (double)len}, {"kbps", 8.0 * len / sec / 1000}, {"ratio", n * a->depth / 8 / len},
                     {"reduction", n / ((double)h->keep * h->lat_w)}, {"snr", q.snr}, {"psnr", q.psnr},
                     {"si_sdr", q.sisdr}, {"lsd", q.lsd}, {"mel", q.mel}, {"keep_0_4k", q.keep[0]},
                     {"keep_4_8k", q.keep[1]}, {"keep_8_16k", q.keep[2]}};
  if (o->json) {
    print_json(f, sizeof f / sizeof f[0]);
    return 0;
  }
  printf("%s: %d ch %d Hz %d-bit, %ld frames, %zu bytes, %.2f kbps, ratio %.1f:1, reduction %.1fx, SNR %.2f dB, "
         "PSNR %.2f dB, SI-SDR %.2f dB, LSD %.3f dB, mel %.3f dB, energy kept %.3f %.3f %.3f (0-4, 4-8, 8-16 kHz)\n",
         o->inputs[0], a->channels, a->rate, a->depth, a->frames, len, f[5].v, f[6].v, f[7].v, q.snr, q.psnr,
         q.sisdr, q.lsd, q.mel, q.keep[0], q.keep[1], q.keep[2]);
  return 0;
}

int cmd_eval(cli_opts *o) {
  if (o->ninputs != 2) return cli_usage("eval needs ORIG (PNG, .npy or audio) and FILE.wlc");
  if (!strcmp(o->inputs[0], "-") && !strcmp(o->inputs[1], "-"))
    return cli_usage("%s", "standard input (-) given twice: eval reads ORIG or FILE.wlc from it, not both");
  const char *orig = o->inputs[0], *wlc = o->inputs[1];
  uint8_t *buf = NULL;
  size_t len = 0;
  cli_signal a, b = {0};
  wl_info h;
  wl_model *m = NULL;
  int rc = cli_read_signal(orig, &a);
  if (!rc && (rc = cli_open_wlc(o, wlc, &buf, &len, &h, &m))) buf = NULL;
  if (!rc && a.audio != (h.modality == WL_MODALITY_AUDIO))
    rc = cli_fail(wlc, "holds %s but %s is %s", a.audio ? "an image" : "audio", orig, a.audio ? "audio" : "an image");
  if (!rc) {
    b.audio = a.audio;
    int e = a.audio ? wl_decode_audio(m, buf, len, &b.snd) : wl_decode(m, buf, len, &b.img);
    if (e) rc = cli_fail(wlc, "%s", cli_error(e));
  }
  if (!rc) rc = a.audio ? eval_audio(o, &a.snd, &b.snd, &h, len) : eval_image(o, &a.img, &b.img, &h, len);
  free(buf);
  cli_signal_release(&a);
  cli_signal_release(&b);
  wl_model_free(m);
  return rc;
}
