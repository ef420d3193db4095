/* png.h: PNG <-> wl_image in memory (so stdin/stdout work): libdeflate, libpng for unusual files;
 * and PNG written a stripe at a time (cli/deflate.c). */
#ifndef WL_CLI_PNG_H
#define WL_CLI_PNG_H
#include <stddef.h>
#include <stdint.h>
#include "walloc.h"

/* True when buf starts with the PNG signature. */
int png_is_png(const uint8_t *buf, size_t len);
/* Width x height as the IHDR in a PNG's first 24 bytes gives them (unchecked), or 0. */
long png_head_pixels(const uint8_t *buf, size_t len);
/* The bytes of its unfiltered rows (height x (1 + the row's samples)) as the IHDR in a PNG's
 * first 29 bytes gives them (unchecked), or 0 (interlaced, an unknown colour type). */
long png_head_rows_bytes(const uint8_t *buf, size_t len);
/* Decodes a PNG: gray/RGB planes, 8 or 16 bits (1/2/4-bit and palette expand to 8), alpha
 * (or tRNS) into img->alpha. On failure returns -1 and points *why at a static message. */
int png_decode(const uint8_t *buf, size_t len, wl_image *img, const char **why);
/* The same, the file read into the image's own memory (on machines whose first touch of a page is
 * slow, the file's own buffer cost a sixth of a plain encode's page faults): png_place allocates
 * img for the PNG whose first nhead bytes are `head` and returns where in it the whole file of len
 * bytes goes, or NULL (img untouched) where it does not (not the one-pass read's kind, or no
 * room); png_decode_placed decodes the file read there into img (released on failure). */
uint8_t *png_place(const uint8_t *head, size_t nhead, size_t len, wl_image *img);
int png_decode_placed(const uint8_t *buf, size_t len, wl_image *img, const char **why);
/* The common PNG (what png_decode reads in one pass, without libpng) as its unfiltered rows,
 * to be read a block of rows at a time: 0, 1 when it is not that kind (use png_decode, which
 * says what is wrong), -1 when out of memory. png_raw_rows: rows y0 .. y0+n-1 into planes
 * [channels][n][width], then their alpha [n][width] when the PNG has it. */
typedef struct {
  uint8_t *raw;                 /* height rows of stride bytes: the filter byte, then the samples */
  int channels, height, width, depth, alpha;
  size_t stride;
} png_raw;
int png_decode_raw(const uint8_t *buf, size_t len, png_raw *r);
void png_raw_rows(const png_raw *r, int y0, int n, float *planes);
void png_raw_free(png_raw *r);

/* A PNG read a block of rows at a time through libpng, from src (as read(2): the count, 0 at
 * the end, negative on error), for images too large to hold: png_reader_open reads up to the
 * image data and gives the shape (planes and alpha NULL; *alpha: whether it has an alpha channel
 * or tRNS); png_reader_rows reads the next n rows into planes [channels][n][width], then their
 * alpha [n][width] when it has one; png_reader_end reads the chunks after the image. Each returns 0, or -1
 * with *why set (interlaced files are refused: their rows come in seven passes). */
typedef long (*png_source)(void *user, void *buf, size_t n);
typedef struct png_reader png_reader;
int png_reader_open(png_reader **pr, png_source src, void *user, wl_image *shape, int *alpha, const char **why);
int png_reader_rows(png_reader *pr, int n, float *planes, const char **why);
int png_reader_end(png_reader *pr, const char **why);
void png_reader_free(png_reader *pr);

/* Encodes img as PNG into a malloc'd buffer. Returns 0 or -1. */
int png_encode(const wl_image *img, uint8_t **out, size_t *outlen);

/* A PNG written a stripe of rows at a time: png_writer_new writes the signature and header (of
 * channels 1 or 3, plus alpha, 8 or 16 bits) to sink, png_writer_rows takes the next rows (an
 * image of their height; alpha used when the writer has it), png_writer_end writes the rest after
 * the last row. Each returns 0, or -1 when out of memory, when sink fails (nonzero: errno says
 * why), or for more or fewer rows than the height. */
typedef int (*png_sink)(void *user, const void *data, size_t n);
typedef struct png_writer png_writer;
int png_writer_new(png_writer **pw, int channels, int height, int width, int depth, int alpha, png_sink sink,
                   void *user);
int png_writer_rows(png_writer *pw, const wl_image *rows);
int png_writer_end(png_writer *pw);
void png_writer_free(png_writer *pw);
#endif
