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
 * FILE.diff.png. */
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

static int show_one(cli_opts *o, const char *in) {
  uint8_t *buf, *png = NULL;
  size_t len, pnglen = 0;
  int16_t *q = NULL, *v = NULL;
  wl_info h, hd;
  wl_model *m;
  wl_image p = {0};
  if (cli_open_wlc(o, in, &buf, &len, &h, &m)) return 1;
  char *out = cli_output_path(o, in, o->diff ? ".diff.png" : ".latents.png");
  int e = 0, rc = out ? 0 : cli_fail(in, "out of memory");
  if (!rc && o->diff) rc = diff_picture(o, in, m, buf, len, &p);
  else if (!rc && (e = wl_latents(m, buf, len, &q, &h))) rc = cli_fail(in, "%s", cli_error(e));
  else if (!rc && (e = wl_detail_planes(buf, len, &v, &hd))) rc = cli_fail(in, "%s", cli_error(e));
  else if (!rc && picture(q, h.keep, h.lat_h, h.lat_w, h.modality == WL_MODALITY_AUDIO, v, h.channels << (2 * h.J), &p))
    rc = cli_fail(in, "out of memory");
  if (!rc && png_encode(&p, &png, &pnglen)) rc = cli_fail(in, "out of memory");
  if (!rc) rc = cli_write(o, out, png, pnglen);
  wl_image_release(&p);
  free(out); free(png); free(q); free(v); free(buf);
  wl_model_free(m);
  return rc;
}

int cmd_show(cli_opts *o) {
  static const char *const wlc[] = {".wlc", NULL};
  return batch_run(o, show_one, wlc);
}
