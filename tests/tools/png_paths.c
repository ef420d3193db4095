/* png_paths.c: which of cli/png.c's two readers takes each PNG, and whether they agree, for
 * tests/test_png.py.
 *   png_paths FILE...
 * prints per file "plain" (the one-pass read took it), "libpng" (it was left to libpng) or
 * "error" (libpng refused it too), and exits 1 when a file the one-pass read took decodes
 * through libpng to anything else: other dimensions, depth, channels, alpha or samples; or when
 * the reader by rows (png_reader, 3 rows at a time) disagrees with png_decode: accepts what it
 * refuses or the reverse (interlaced files aside: it refuses them all), or gives other colour
 * or alpha samples. */
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

static long mem_source(void *user, void *buf, size_t n) {
  membuf *m = user;
  if (n > m->len - m->pos) n = m->len - m->pos;
  memcpy(buf, m->buf + m->pos, n);
  m->pos += n;
  return (long)n;
}

/* Whether png_reader reads buf as png_decode does (ok: png_decode's return, img its image). */
static int rows_agree(const uint8_t *buf, size_t len, int ok, const wl_image *img) {
  membuf m = {buf, len, 0};
  png_reader *pr;
  wl_image shape;
  const char *why;
  int alpha, e = png_reader_open(&pr, mem_source, &m, &shape, &alpha, &why);
  if (e) return ok != 0 || strstr(why, "interlaced") != NULL;
  float *rows = malloc(sizeof(float) * (size_t)(shape.channels + alpha) * 3 * shape.width);
  int same = ok == 0 && rows && shape.channels == img->channels && shape.height == img->height &&
             shape.width == img->width && shape.depth == img->depth && alpha == (img->alpha != NULL);
  for (int y = 0; !e && y < shape.height; y += 3) {
    const int n = shape.height - y < 3 ? shape.height - y : 3;
    e = png_reader_rows(pr, n, rows, &why);
    for (int c = 0; !e && same && c < shape.channels + alpha; c++) /* the planes, then alpha */
      same = !memcmp(rows + (size_t)c * n * shape.width,
                     (c < img->channels ? img->planes + (size_t)c * img->height * img->width : img->alpha) +
                         (size_t)y * img->width,
                     sizeof(float) * (size_t)n * shape.width);
  }
  if (!e) e = png_reader_end(pr, &why);
  png_reader_free(pr);
  free(rows);
  return e ? ok != 0 : same;
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
    wl_image plain, ref, full;
    const char *why;
    int p = decode_plain(buf, len, &plain), r = decode_libpng(buf, len, &ref, &why), f = png_decode(buf, len, &full, &why);
    if (p < 0) {
      fprintf(stderr, "png_paths: %s: out of memory\n", argv[i]);
      return 1;
    }
    printf("%s %s\n", argv[i], !p ? "plain" : r ? "error" : "libpng");
    if (!p && (r || !images_equal(&plain, &ref))) {
      printf("%s: the one-pass read differs from libpng\n", argv[i]);
      bad = 1;
    }
    if (!rows_agree(buf, len, f, &full)) {
      printf("%s: the read by rows differs from png_decode\n", argv[i]);
      bad = 1;
    }
    if (!f) wl_image_release(&full);
    if (!p) wl_image_release(&plain);
    if (!r) wl_image_release(&ref);
    free(buf);
  }
  return bad;
}
