/* png_paths.c: which of cli/png.c's two readers takes each PNG, and whether they agree, for
 * tests/test_png.py.
 *   png_paths FILE...
 * prints per file "plain" (the one-pass read took it), "libpng" (it was left to libpng) or
 * "error" (libpng refused it too), and exits 1 when a file the one-pass read took decodes
 * through libpng to anything else: other dimensions, depth, channels, alpha or samples. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli/png.c"
#include "tests/tools/image_equal.h"

static uint8_t *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  uint8_t *buf = NULL;
  long n = f && !fseek(f, 0, SEEK_END) ? ftell(f) : -1;
  if (n >= 0 && !fseek(f, 0, SEEK_SET) && (buf = malloc((size_t)n + 1)) && fread(buf, 1, (size_t)n, f) != (size_t)n) {
    free(buf);
    buf = NULL;
  }
  if (f) fclose(f);
  *len = (size_t)n;
  return buf;
}

int main(int argc, char **argv) {
  int bad = 0;
  for (int i = 1; i < argc; i++) {
    size_t len;
    uint8_t *buf = slurp(argv[i], &len);
    if (!buf) {
      fprintf(stderr, "png_paths: %s: cannot read\n", argv[i]);
      return 1;
    }
    wl_image plain, ref;
    const char *why;
    int p = decode_plain(buf, len, &plain), r = decode_libpng(buf, len, &ref, &why);
    if (p < 0) {
      fprintf(stderr, "png_paths: %s: out of memory\n", argv[i]);
      return 1;
    }
    printf("%s %s\n", argv[i], !p ? "plain" : r ? "error" : "libpng");
    if (!p && (r || !images_equal(&plain, &ref))) {
      printf("%s: the one-pass read differs from libpng\n", argv[i]);
      bad = 1;
    }
    if (!p) wl_image_release(&plain);
    if (!r) wl_image_release(&ref);
    free(buf);
  }
  return bad;
}
