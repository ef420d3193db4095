/* decode_only.c: a program that only decodes images, linked statically against libwalloc.a, so
 * that tests/test_layout.py can list what the archive pulls into it (no training, backward
 * pass or refinement may come along).
 *   decode_only IN.wlc     prints the image's width, height and channels */
#include <stdio.h>
#include <stdlib.h>
#include "walloc.h"

int main(int argc, char **argv) {
  FILE *f = argc == 2 ? fopen(argv[1], "rb") : NULL;
  static uint8_t buf[1 << 22];
  const size_t len = f ? fread(buf, 1, sizeof buf, f) : 0;
  wl_info h;
  wl_model *m = NULL;
  wl_image img;
  int e = !f ? WL_ERR_ARG : wl_info_peek(buf, len, &h);
  if (!e) e = wl_model_builtin_by_id(&m, h.model_id);
  if (!e) e = wl_decode(m, buf, len, &img);
  if (f) fclose(f);
  if (e) {
    fprintf(stderr, "decode_only: %s\n", wl_strerror(e));
    return 1;
  }
  printf("%d %d %d\n", img.width, img.height, img.channels);
  wl_image_release(&img);
  wl_model_free(m);
  return 0;
}
