/* no_builtin.c: the library as `make BUILTIN=0` builds it (codec/builtin.c compiled with
 * WL_NO_BUILTIN_MODELS, linked ahead of libwalloc.a so that the archive's model data stays out),
 * for tests/test_layout.py:
 *   no_builtin MODEL.wlm    checks that no model is built in, then codes a synthetic image with
 *                           the model from the file; prints "ok" or why not and exits 1 */
#include <stdio.h>
#include <stdlib.h>
#include "walloc.h"

static uint8_t *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  uint8_t *buf = f ? malloc(1 << 24) : NULL;
  *len = buf ? fread(buf, 1, 1 << 24, f) : 0;
  if (f) fclose(f);
  return buf;
}

int main(int argc, char **argv) {
  wl_model *m = NULL;
  size_t len, n;
  uint8_t *file = argc == 2 ? slurp(argv[1], &len) : NULL, *enc = NULL;
  wl_image img, out;
  const char *why = !file ? "cannot read the model" : wl_model_builtin_name(0) ? "a model is built in"
                    : wl_model_builtin(&m, "rgb") != WL_ERR_UNKNOWN_MODEL ? "wl_model_builtin found rgb"
                    : wl_model_load(&m, file, len) ? "cannot load the model" : NULL;
  wl_model_desc d;
  if (!why) {
    wl_model_describe(m, &d);
    why = wl_image_alloc(&img, d.channels, 40, 56, 8, 0) ? "wl_image_alloc" : NULL;
  }
  if (!why) {
    for (long i = 0; i < (long)d.channels * 40 * 56; i++) img.planes[i] = (float)(i * 37 % 256);
    why = wl_encode(m, &img, NULL, &enc, &n) ? "wl_encode" : wl_decode(m, enc, n, &out) ? "wl_decode" : NULL;
    if (!why && (out.width != 56 || out.height != 40)) why = "decoded another size";
    if (!why) wl_image_release(&out);
    wl_image_release(&img);
  }
  printf("%s\n", why ? why : "ok");
  free(enc);
  free(file);
  wl_model_free(m);
  return why != NULL;
}
