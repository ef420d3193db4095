/* show.c: walloc show FILE.wlc: the latents as a picture (PNG, 8-bit RGB), default FILE.latents.png.
 *   images: each sent channel is a tile of lat_w x lat_h latents, in a grid of ceil(sqrt(keep))
 *           columns, row-major in channel order, 1-pixel gaps; audio: one row per channel (no
 *           gaps) and time along x, each column the latent of largest magnitude among the
 *           ceil(T / 2048) it covers.
 *   colour: each channel divided by its own largest |q|, t in [-1, 1]: white at 0, toward red
 *           (255, 255 (1 - t), 255 (1 - t)) for t > 0 and toward blue (255 (1 + t), 255 (1 + t),
 *           255) for t < 0, rounded; gaps are grey 96.
 *   detail: an image with a detail layer gets a second panel below the grid, lat_w x lat_h: the
 *           sum of |v| over the layer's planes at each position, divided by its largest, from
 *           white (0) to black (1): where the layer spends its bits.
 *   Every pixel is repeated z x z times, z = min(8, max(1, 512 / the grid's width)).
 * show --diff ORIG FILE.wlc: the decoded image's error map instead (diff_picture), default
 * FILE.diff.png; show --spectrogram ORIG FILE.wlc: audio spectrograms (spectrogram_picture),
 * default FILE.spectrogram.png. */
#include <fftw3.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "cli/cli.h"
#include "cli/png.h"

#define GAP 96
#define WIDEST 2048 /* audio: columns at most */

static void put(wl_image *p, int x, int y, int z, const float rgb[3]) {
  for (int c = 0; c < 3; c++)
    for (int dy = 0; dy < z; dy++)
      for (int dx = 0; dx < z; dx++) p->planes[((size_t)c * p->height + y * z + dy) * p->width + x * z + dx] = rgb[c];
}

static void diverging(double t, float rgb[3]) {
  const float a = (float)lround(255 * (1 - fabs(t)));
  rgb[0] = t < 0 ? a : 255;
  rgb[1] = a;
  rgb[2] = t > 0 ? a : 255;
}

/* The picture of latents q (keep, h, w) and, when v is not NULL, of detail planes v (D, h, w). */
static int picture(const int16_t *q, int keep, int h, int w, int audio, const int16_t *v, int D, wl_image *p) {
  const int step = audio ? (w + WIDEST - 1) / WIDEST : 1, cols = audio ? 1 : (int)ceil(sqrt(keep));
  const int tw = audio ? (w + step - 1) / step : w, th = audio ? 1 : h, rows = (keep + cols - 1) / cols, g = !audio;
  const int gw = cols * (tw + g) - g, gh = rows * (th + g) - g, z = gw >= 512 ? 1 : 512 / gw > 8 ? 8 : 512 / gw;
  const int H = gh + (v ? h + 1 : 0);
  if (wl_image_alloc(p, 3, H * z, gw * z, 8, 0)) return -1;
  const float grey[3] = {GAP, GAP, GAP};
  for (int y = 0; y < H; y++)
    for (int x = 0; x < gw; x++) put(p, x, y, z, grey);
  for (int c = 0; c < keep; c++) {
    const int16_t *qc = q + (size_t)c * h * w;
    int most = 0;
    for (long i = 0; i < (long)h * w; i++) most = abs(qc[i]) > most ? abs(qc[i]) : most;
    for (int y = 0; y < th; y++)
      for (int x = 0; x < tw; x++) {
        int val = 0; /* audio: the largest magnitude among the latents of this column */
        for (int t = x * step; t < (x + 1) * step && t < w; t++) val = abs(qc[y * w + t]) > abs(val) ? qc[y * w + t] : val;
        float rgb[3];
        diverging(most ? (double)val / most : 0, rgb);
        put(p, (c % cols) * (tw + g) + x, (c / cols) * (th + g) + y, z, rgb);
      }
  }
  if (!v) return 0;
  double *e = calloc((size_t)h * w, sizeof *e), most = 0;
  if (!e) return -1;
  for (int d = 0; d < D; d++)
    for (long i = 0; i < (long)h * w; i++) e[i] += abs(v[(size_t)d * h * w + i]);
  for (long i = 0; i < (long)h * w; i++) most = e[i] > most ? e[i] : most;
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w && x < gw; x++) {
      const float g = (float)lround(255 * (1 - (most > 0 ? e[(long)y * w + x] / most : 0))), rgb[3] = {g, g, g};
      put(p, x, gh + 1 + y, z, rgb);
    }
  free(e);
  return 0;
}

/* show --diff ORIG: the error map of the decoded image against ORIG, one pixel each: grey
 * 255 (1 - e / 16) clamped at 0, e the mean absolute error over the colour channels in 8-bit
 * grey levels (16-bit samples divided by 257): white where exact, black from 16 levels up. */
static int diff_picture(cli_opts *o, const char *in, const wl_model *m, const uint8_t *buf, size_t len, wl_image *p) {
  cli_signal s;
  wl_image dec;
  if (cli_read_signal(o->diff, &s)) return 1;
  int e = s.audio ? 0 : wl_decode(m, buf, len, &dec), rc = 0;
  if (s.audio) rc = cli_fail(o->diff, "--diff compares images; this is audio");
  else if (e) rc = cli_fail(in, "%s", cli_error(e));
  else if (dec.channels != s.img.channels || dec.width != s.img.width || dec.height != s.img.height ||
           dec.depth != s.img.depth)
    rc = cli_fail(o->diff, "%dx%d, %d channel(s), %d-bit: not the shape of %s (%dx%d, %d, %d-bit)", s.img.width,
                  s.img.height, s.img.channels, s.img.depth, in, dec.width, dec.height, dec.channels, dec.depth);
  else if (wl_image_alloc(p, 3, dec.height, dec.width, 8, 0)) rc = cli_fail(in, "out of memory");
  const size_t n = rc ? 0 : (size_t)dec.width * dec.height, scale = dec.depth == 16 ? 257 : 1;
  for (size_t i = 0; i < n; i++) {
    double err = 0;
    for (int c = 0; c < dec.channels; c++) err += fabs(dec.planes[c * n + i] - s.img.planes[c * n + i]);
    const float g = (float)lround(fmax(0, 255 * (1 - err / dec.channels / scale / 16)));
    for (int c = 0; c < 3; c++) p->planes[c * n + i] = g;
  }
  if (!s.audio && !e) wl_image_release(&dec);
  cli_signal_release(&s);
  return rc;
}

/* show --spectrogram ORIG: log power spectrograms of ORIG and of the decoded audio, both mixed
 * to mono, and their difference, stacked top to bottom with 2-pixel grey gaps. STFT of SPEC_N
 * samples (periodic Hann), hop SPEC_N / 2; rows are the bins 0 .. SPEC_N/2 - 1, the highest at
 * the top; a column is the mean power of the frames it covers (at most SPEC_W columns). The two
 * spectrograms are grey, 255 (dB - top + 80) / 80 clamped to 0..255, top the original's
 * largest dB; the difference is |dB_orig - dB_decoded| from white (0) to red (20 dB or more).
 * An 8-pixel margin on the left marks each kHz (4 pixels) and each 5 kHz (8). */
#define SPEC_N 512
#define SPEC_W 1024
#define SPEC_MARGIN 8

/* dB (W columns, SPEC_N/2 rows, row-major by column) of the mono mix of a. */
static int spectrum(const wl_audio *a, int W, long F, double *dB) {
  const long n = a->frames;
  float *in = fftwf_malloc(sizeof(float) * SPEC_N), w[SPEC_N];
  fftwf_complex *out = fftwf_malloc(sizeof(fftwf_complex) * (SPEC_N / 2 + 1));
  fftwf_plan plan = in && out ? fftwf_plan_dft_r2c_1d(SPEC_N, in, out, FFTW_ESTIMATE) : NULL;
  if (!plan) { fftwf_free(in); fftwf_free(out); return -1; }
  for (int t = 0; t < SPEC_N; t++) w[t] = (float)(0.5 - 0.5 * cos(2 * M_PI * t / SPEC_N));
  const double scale = ldexp(1, 1 - a->depth) / a->channels;
  for (int j = 0; j < W; j++) {
    double P[SPEC_N / 2] = {0};
    const long f0 = F * j / W, f1 = F * (j + 1) / W > f0 ? F * (j + 1) / W : f0 + 1;
    for (long f = f0; f < f1; f++) {
      for (long t = 0; t < SPEC_N; t++) {
        const long i = f * (SPEC_N / 2) + t;
        double v = 0;
        for (int c = 0; i < n && c < a->channels; c++) v += a->samples[c * n + i];
        in[t] = (float)(w[t] * v * scale);
      }
      fftwf_execute(plan);
      for (int k = 0; k < SPEC_N / 2; k++) P[k] += ((double)out[k][0] * out[k][0] + (double)out[k][1] * out[k][1]) / (f1 - f0);
    }
    for (int k = 0; k < SPEC_N / 2; k++) dB[(size_t)j * (SPEC_N / 2) + k] = 10 * log10(P[k] + 1e-20);
  }
  fftwf_destroy_plan(plan);
  fftwf_free(in);
  fftwf_free(out);
  return 0;
}

static int spectrogram_picture(cli_opts *o, const char *in, const wl_model *m, const uint8_t *buf, size_t len,
                               wl_image *p) {
  cli_signal s;
  wl_audio dec = {0};
  if (cli_read_signal(o->spectrogram, &s)) return 1;
  int e = s.audio ? wl_decode_audio(m, buf, len, &dec) : 0, rc = 0;
  if (!s.audio) rc = cli_fail(o->spectrogram, "--spectrogram compares audio; this is an image");
  else if (e) rc = cli_fail(in, "%s", e == WL_ERR_MISMATCH ? "not audio: --spectrogram needs an audio .wlc" : cli_error(e));
  else if (dec.channels != s.snd.channels || dec.frames != s.snd.frames)
    rc = cli_fail(o->spectrogram, "%d channel(s), %ld frames: not the shape of %s (%d, %ld)", s.snd.channels,
                  s.snd.frames, in, dec.channels, dec.frames);
  const long F = rc ? 1 : 1 + (dec.frames > SPEC_N ? (dec.frames - SPEC_N + SPEC_N / 2 - 1) / (SPEC_N / 2) : 0);
  const int W = F < SPEC_W ? (int)F : SPEC_W, R = SPEC_N / 2, H = 3 * R + 4;
  double *a = rc ? NULL : malloc(sizeof(double) * (size_t)W * R * 2), *b = a ? a + (size_t)W * R : NULL;
  if (!rc && (!a || spectrum(&s.snd, W, F, a) || spectrum(&dec, W, F, b) ||
              wl_image_alloc(p, 3, H, SPEC_MARGIN + W, 8, 0)))
    rc = cli_fail(in, "out of memory");
  const size_t plane = rc ? 0 : (size_t)H * (SPEC_MARGIN + W);
  double top = -1e300;
  for (size_t i = 0; !rc && i < (size_t)W * R; i++) top = fmax(top, a[i]);
  for (size_t i = 0; i < plane; i++) /* white margin, grey gaps */
    for (int c = 0; c < 3; c++) p->planes[c * plane + i] = (i % (SPEC_MARGIN + W)) < SPEC_MARGIN ? 255 : GAP;
  for (int j = 0; !rc && j < W; j++)
    for (int k = 0; k < R; k++) {
      const double x = a[(size_t)j * R + k], y = b[(size_t)j * R + k], d = fmin(fabs(x - y) / 20, 1);
      const float gx = (float)lround(fmin(fmax((x - top + 80) / 80, 0), 1) * 255);
      const float gy = (float)lround(fmin(fmax((y - top + 80) / 80, 0), 1) * 255), gd = (float)lround(255 * (1 - d));
      const float rgb[3][3] = {{gx, gx, gx}, {gy, gy, gy}, {255, gd, gd}};
      for (int panel = 0; panel < 3; panel++)
        for (int c = 0; c < 3; c++)
          p->planes[c * plane + (size_t)(panel * (R + 2) + R - 1 - k) * (SPEC_MARGIN + W) + SPEC_MARGIN + j] = rgb[panel][c];
    }
  for (int khz = 1; !rc && khz * 1000.0 < s.snd.rate / 2.0; khz++) { /* ticks: row of bin khz * 1000 N / rate */
    const int k = (int)lround(khz * 1000.0 * SPEC_N / s.snd.rate);
    for (int panel = 0; k < R && panel < 3; panel++)
      for (int x = SPEC_MARGIN - (khz % 5 ? 4 : 8); x < SPEC_MARGIN; x++)
        for (int c = 0; c < 3; c++) p->planes[c * plane + (size_t)(panel * (R + 2) + R - 1 - k) * (SPEC_MARGIN + W) + x] = 0;
  }
  free(a);
  wl_audio_release(&dec);
  cli_signal_release(&s);
  return rc;
}

static int show_one(cli_opts *o, const char *in) {
  uint8_t *buf, *png = NULL;
  size_t len, pnglen = 0;
  int16_t *q = NULL, *v = NULL;
  wl_info h, hd;
  wl_model *m;
  wl_image p = {0};
  char *out = cli_output_path(o, in, o->diff ? ".diff.png" : o->spectrogram ? ".spectrogram.png" : ".latents.png");
  if (cli_skip(o, out) || cli_open_wlc(o, in, &buf, &len, &h, &m)) {
    free(out);
    return !o->skipped;
  }
  int e = 0, rc = out ? 0 : cli_fail(in, "out of memory");
  if (!rc && o->diff && o->spectrogram) rc = cli_fail(in, "--diff or --spectrogram, not both");
  else if (!rc && o->diff) rc = diff_picture(o, in, m, buf, len, &p);
  else if (!rc && o->spectrogram) rc = spectrogram_picture(o, in, m, buf, len, &p);
  else if (!rc && (e = wl_latents(m, buf, len, &q, &h))) rc = cli_fail(in, "%s", cli_error(e));
  else if (!rc && (e = wl_detail_planes(buf, len, &v, &hd))) rc = cli_fail(in, "%s", cli_error(e));
  else if (!rc && picture(q, h.keep, h.lat_h, h.lat_w, h.modality == WL_MODALITY_AUDIO, v, h.channels << (2 * h.J), &p))
    rc = cli_fail(in, "out of memory");
  if (!rc && png_encode(&p, &png, &pnglen)) rc = cli_fail(in, "out of memory");
  if (!rc) rc = cli_write(o, out, png, pnglen);
  if (!rc && o->verbosity > 1) cli_note("%s -> %s: %dx%d", in, cli_out_name(out), p.width, p.height);
  wl_image_release(&p);
  free(out); free(png); free(q); free(v); free(buf);
  wl_model_free(m);
  return rc;
}

int cmd_show(cli_opts *o) {
  static const char *const wlc[] = {".wlc", NULL};
  return cli_out_named(o, "show", ".png") ? 2 : batch_run(o, show_one, wlc, 1);
}
