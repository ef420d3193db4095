/* eval.c: walloc eval ORIG FILE.wlc: decodes FILE.wlc and reports its rate and fidelity against
 * the original (PNG or .npy): bits per pixel, compression ratio, dimensionality reduction, PSNR. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include "cli/cli.h"

/* PSNR in dB over the colour planes, peak = 2^depth - 1 (infinite when identical). */
static double psnr(const wl_image *a, const wl_image *b) {
  const size_t n = (size_t)a->channels * a->height * a->width;
  const double peak = (double)((1 << a->depth) - 1);
  double se = 0;
  for (size_t i = 0; i < n; i++) se += (double)(a->planes[i] - b->planes[i]) * (a->planes[i] - b->planes[i]);
  return se > 0 ? 10 * log10(peak * peak * (double)n / se) : INFINITY;
}

int cmd_eval(cli_opts *o) {
  if (o->ninputs != 2) return cli_fail("eval", "needs ORIG.png|ORIG.npy FILE.wlc");
  const char *orig = o->inputs[0], *wlc = o->inputs[1];
  uint8_t *buf;
  size_t len;
  wl_image a = {0}, b = {0};
  wl_header h;
  wl_model *m = NULL;
  int rc = cli_read_image(orig, &a);
  if (!rc) rc = cli_open_wlc(o, wlc, &buf, &len, &h, &m);
  if (!rc) {
    int e = wl_decode(m, buf, len, &b);
    free(buf);
    if (e) rc = cli_fail(wlc, "%s", wl_strerror(e));
  }
  if (!rc && (a.channels != b.channels || a.height != b.height || a.width != b.width || a.depth != b.depth))
    rc = cli_fail(wlc, "shape differs from %s", orig);
  if (!rc) {
    const double px = (double)a.width * a.height;
    char n[16];
    snprintf(n, sizeof n, "%d-channel", a.channels);
    const char *kind = a.channels == 1 ? "gray" : a.channels == 3 ? "RGB" : n;
    printf("%s: %dx%d %d-bit %s%s, %zu bytes, %.4f bpp, ratio %.1f:1, reduction %.1fx, PSNR %.2f dB\n", orig, a.width,
           a.height, a.depth, kind, a.alpha ? "+alpha" : "", len, 8.0 * len / px,
           px * (a.channels + (a.alpha != NULL)) * a.depth / 8 / len,
           px * a.channels / ((double)h.K * h.lat_h * h.lat_w), psnr(&a, &b));
  }
  wl_image_release(&a);
  wl_image_release(&b);
  wl_model_free(m);
  return rc;
}
