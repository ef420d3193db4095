/* png.c: PNG reading and writing. The common file (not interlaced, 8 or 16 bits, gray, gray +
 * alpha, RGB or RGBA, no tRNS) is read in one pass: chunks checked, the zlib stream inflated by
 * libdeflate, rows unfiltered and split into planes, three times faster than libpng row by row.
 * Everything else, and every file that pass doubts (any CRC, chunk or stream it does not accept),
 * goes through libpng with its memory callbacks, which gives the error messages. libpng reports
 * errors by longjmp; every allocation is made before setjmp-protected calls or freed after them.
 * Writing is done here too, a stripe of rows at a time (png_writer), its zlib stream made by
 * cli/deflate.c. */
#include <libdeflate.h>
#include <limits.h>
#include <omp.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include "cli/deflate.h"
#include "cli/io.h"
#include "cli/png.h"

typedef struct { const uint8_t *buf; size_t len, pos; } membuf;

/* libpng's error in our words: its own where it names what is wrong (a chunk; for "Invalid IHDR
 * data", the field that the warning before it named), kept in a buffer of the thread's. */
static _Thread_local char ihdr_warning[96];
static void on_error(png_structp png, png_const_charp msg) {
  static _Thread_local char words[128];
  const char **why = png_get_error_ptr(png);
  if (msg && strstr(msg, "Invalid IHDR data") && ihdr_warning[0]) msg = ihdr_warning;
  if (!msg || strstr(msg, "truncated") || strstr(msg, "Read Error") || strstr(msg, "Not enough image data"))
    *why = "truncated or corrupt PNG";
  else if (strstr(msg, "CRC"))
    *why = "corrupt PNG (CRC error)";
  else if (strstr(msg, "exceeds user limit"))
    *why = "width or height over 65536";
  else
    *why = (snprintf(words, sizeof words, "corrupt PNG (%s)", msg), words);
  png_longjmp(png, 1);
}
/* Warnings pass, but for data past the end of the compressed image, more image data than the
 * image holds, and a tRNS chunk it cannot have (more entries than the palette, or none), which
 * the PNG specification does not allow (libpng reads on, and drops the tRNS: the transparency
 * would be lost): refused like the one-pass read refuses them. */
static void on_warning(png_structp png, png_const_charp msg) {
  const char **why = png_get_error_ptr(png);
  if (!msg) return;
  if (strstr(msg, "IHDR")) snprintf(ihdr_warning, sizeof ihdr_warning, "%s", msg); /* the error follows */
  if (strstr(msg, "Too much image data")) *why = "corrupt PNG (more image data than its size holds)";
  else if (strstr(msg, "Extra compressed data")) *why = "corrupt PNG (data after the end of the compressed image)";
  else if (strstr(msg, "tRNS")) *why = "corrupt PNG (a tRNS chunk that its colour type or palette cannot have)";
  else return;
  png_longjmp(png, 1);
}

/* A libpng reader whose errors and warnings land in *why, in our words. */
static png_structp reader_new(const char **why) {
  ihdr_warning[0] = 0;
  return png_create_read_struct(PNG_LIBPNG_VER_STRING, (png_voidp)why, on_error, on_warning);
}

static void mem_read(png_structp png, png_bytep data, size_t n) {
  membuf *m = png_get_io_ptr(png);
  if (n > m->len - m->pos) png_error(png, "truncated");
  memcpy(data, m->buf + m->pos, n);
  m->pos += n;
}

int png_is_png(const uint8_t *buf, size_t len) { return len >= 8 && !png_sig_cmp(buf, 0, 8); }

/* Converts interleaved row r (n samples a pixel, 8/16-bit big-endian) into planes, and alpha
 * when img has it (the n-th sample). */
static void deinterleave_row(const png_byte *row, size_t r, int n, int bytes, wl_image *img) {
  const size_t H = (size_t)img->height, W = (size_t)img->width;
  for (int c = 0; c < img->channels + (img->alpha != NULL); c++) {
    float *dst = (c < img->channels ? img->planes + c * H * W : img->alpha) + r * W;
    const png_byte *s = row + (size_t)c * bytes;
    if (bytes == 1)
      for (size_t j = 0; j < W; j++) dst[j] = s[j * n];
    else
      for (size_t j = 0; j < W; j++) dst[j] = (float)(s[2 * j * n] << 8 | s[2 * j * n + 1]);
  }
}

static uint32_t be32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }
long png_head_pixels(const uint8_t *buf, size_t len) {
  return png_is_png(buf, len) && len >= 24 && !memcmp(buf + 12, "IHDR", 4) ? (long)be32(buf + 16) * be32(buf + 20) : 0;
}
long png_head_rows_bytes(const uint8_t *buf, size_t len) {
  static const uint8_t samples[7] = {1, 0, 3, 1, 2, 0, 4};
  if (!png_head_pixels(buf, len) || len < 29 || buf[25] > 6 || !samples[buf[25]] || buf[28]) return 0;
  return (long)be32(buf + 20) * (1 + ((long)be32(buf + 16) * samples[buf[25]] * buf[24] + 7) / 8);
}
static void put_be32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (24 - 8 * i));
}

/* Filter 4 (Paeth) on a row of n bytes, bpp a constant where it is inlined, so that the bytes of
 * a pixel run side by side; the predictor's choice is made without branches (photos make them
 * unpredictable). */
static inline __attribute__((always_inline)) void unpaeth(uint8_t *restrict row, const uint8_t *restrict prev,
                                                         size_t n, size_t bpp) {
  for (size_t i = 0; i < bpp; i++) row[i] = (uint8_t)(row[i] + prev[i]);
  for (size_t i = bpp; i < n; i += bpp)
    for (size_t k = 0; k < bpp; k++) {
      int a = row[i + k - bpp], b = prev[i + k], c = prev[i + k - bpp];
      int pa = abs(b - c), pb = abs(a - c), pc = abs(a + b - 2 * c);
      int bc = pb <= pc ? b : c;
      row[i + k] = (uint8_t)(row[i + k] + (pa <= pb && pa <= pc ? a : bc));
    }
}

/* Undoes filter f on a row of n bytes in place; prev is the row above, unfiltered (zeros for the
 * first), bpp the bytes per pixel. Returns -1 for a filter type that does not exist. */
static int unfilter(uint8_t *restrict row, const uint8_t *restrict prev, size_t n, size_t bpp, int f) {
  size_t i;
  switch (f) {
  case 0: return 0;
  case 1: for (i = bpp; i < n; i++) row[i] = (uint8_t)(row[i] + row[i - bpp]); return 0;
  case 2: for (i = 0; i < n; i++) row[i] = (uint8_t)(row[i] + prev[i]); return 0;
  case 3:
    for (i = 0; i < bpp; i++) row[i] = (uint8_t)(row[i] + (prev[i] >> 1));
    for (; i < n; i++) row[i] = (uint8_t)(row[i] + ((row[i - bpp] + prev[i]) >> 1));
    return 0;
  case 4:
    switch (bpp) {
    case 1: unpaeth(row, prev, n, 1); return 0;
    case 2: unpaeth(row, prev, n, 2); return 0;
    case 3: unpaeth(row, prev, n, 3); return 0;
    case 4: unpaeth(row, prev, n, 4); return 0;
    case 6: unpaeth(row, prev, n, 6); return 0;
    default: unpaeth(row, prev, n, 8); return 0;
    }
  }
  return -1;
}

/* What the one-pass read (see the top) takes of a file: its shape, and where its zlib stream lies
 * (nidat IDATs from offset idat on, zlen bytes in all). */
typedef struct {
  uint32_t W, H;
  int depth, n; /* bits a sample; samples a pixel */
  size_t idat, zlen, nidat;
} plain_png;

/* The rows' bytes: the filter byte, then W n samples of depth / 8 bytes each. */
static size_t plain_stride(const plain_png *p) { return (size_t)p->W * (size_t)p->n * (size_t)(p->depth / 8) + 1; }

/* The image's colour channels (its alpha, samples 2 and 4, has a plane of its own). */
static int plain_colours(const plain_png *p) { return p->n >= 3 ? 3 : 1; }
static int plain_alpha(const plain_png *p) { return p->n == 2 || p->n == 4; }

/* The bytes of the image's colour planes (floats). */
static size_t plain_room(const plain_png *p) {
  return sizeof(float) * (size_t)plain_colours(p) * (size_t)p->H * (size_t)p->W;
}

/* Whether the rows fit at the planes' end (plain_into): at most 3 bytes a pixel. */
static int plain_inside(const plain_png *p) { return plain_stride(p) <= 4 * (size_t)p->W; }

/* The shape of a file for the one-pass read from its signature and IHDR (its first 33 bytes): 0
 * with p's shape filled, or 1. */
static int plain_ihdr(const uint8_t *buf, size_t len, plain_png *p) {
  static const uint8_t nchan[7] = {1, 0, 3, 0, 2, 0, 4};
  if (len < 8 + 25 || png_sig_cmp(buf, 0, 8) || be32(buf + 8) != 13 || memcmp(buf + 12, "IHDR", 4) ||
      libdeflate_crc32(0, buf + 12, 17) != be32(buf + 29))
    return 1;
  const uint8_t *h = buf + 16;
  const uint32_t W = be32(h), H = be32(h + 4);
  const int depth = h[8], type = h[9];
  if (!W || !H || W > WL_MAX_DIM || H > WL_MAX_DIM || (uint64_t)W * H > WL_MAX_PIXELS ||
      (depth != 8 && depth != 16) || type > 6 || !nchan[type] || h[10] || h[11] || h[12])
    return 1;
  *p = (plain_png){W, H, depth, nchan[type], 0, 0, 0};
  return 0;
}

/* Checks a file for the one-pass read: 0 with *p filled, 1 when it is not one it takes or not one
 * it is sure of. Chunks must have valid CRCs and letter types; the signature and IHDR come first,
 * the IDATs are consecutive, IEND ends the file; ancillary chunks but tRNS are skipped; files
 * with tRNS or with any other critical chunk (PLTE too) are left to libpng. */
static int plain_parse(const uint8_t *buf, size_t len, plain_png *p) {
  if (plain_ihdr(buf, len, p)) return 1;
  size_t pos = 33, idat = 0, zlen = 0, nidat = 0, after_idat = 0;
  for (;;) { /* walk the chunks; idat, zlen: the first IDAT's offset and the IDATs' total size */
    if (len - pos < 12) return 1;
    const uint32_t n = be32(buf + pos);
    const uint8_t *t = buf + pos + 4;
    if (n > 0x7fffffffu || len - pos - 12 < n || libdeflate_crc32(0, t, n + 4) != be32(t + 4 + n)) return 1;
    for (int k = 0; k < 4; k++)
      if (!((t[k] | 32) >= 'a' && (t[k] | 32) <= 'z')) return 1;
    if (!memcmp(t, "IEND", 4)) break;
    if (!memcmp(t, "IDAT", 4)) {
      if (after_idat) return 1;
      if (!nidat++) idat = pos;
      zlen += n;
    } else {
      after_idat = nidat > 0;
      if (!(t[0] & 32) || !memcmp(t, "tRNS", 4)) return 1;
    }
    pos += 12 + n;
  }
  if (!nidat) return 1;
  p->idat = idat, p->zlen = zlen, p->nidat = nidat;
  return 0;
}

/* The unfiltered rows of a file that plain_parse took into raw (H strides), its IDATs joined in
 * z first where there are several (zlen bytes; NULL: one IDAT). 0, or 1 when libdeflate or a
 * filter type refuses it (libpng tells what is wrong), -1 out of memory. */
static int plain_rows(const uint8_t *buf, const plain_png *p, uint8_t *z, uint8_t *raw) {
  const uint8_t *zin = buf + p->idat + 8;
  if (z) { /* the stream split over several IDATs: joined */
    for (size_t at = p->idat, o = 0; o < p->zlen; at += 12 + be32(buf + at)) {
      memcpy(z + o, buf + at + 8, be32(buf + at));
      o += be32(buf + at);
    }
    zin = z;
  }
  const size_t stride = plain_stride(p), rowbytes = stride - 1, rawlen = p->H * stride;
  uint8_t *zero = calloc(rowbytes, 1);
  struct libdeflate_decompressor *dd = libdeflate_alloc_decompressor();
  int rc = zero && dd ? 0 : -1;
  size_t got = 0, used = 0;
  if (!rc && (libdeflate_zlib_decompress_ex(dd, zin, p->zlen, raw, rawlen, &used, &got) != LIBDEFLATE_SUCCESS ||
              got != rawlen || used != p->zlen))
    rc = 1; /* extra data after the stream: refused by libpng too */
  for (size_t r = 0; !rc && r < p->H; r++) {
    uint8_t *row = raw + r * stride + 1;
    if (unfilter(row, r ? row - stride : zero, rowbytes, rowbytes / p->W, row[-1])) rc = 1;
  }
  libdeflate_free_decompressor(dd);
  free(zero);
  return rc;
}

/* The one-pass read into memory of its own: 0 with *out filled, 1 or -1 as plain_rows. */
static int plain_raw(const uint8_t *buf, size_t len, png_raw *out) {
  plain_png p;
  memset(out, 0, sizeof *out);
  if (plain_parse(buf, len, &p)) return 1;
  const size_t stride = plain_stride(&p);
  uint8_t *z = p.nidat > 1 ? malloc(p.zlen) : NULL, *raw = malloc(p.H * stride);
  int rc = raw && (z || p.nidat == 1) ? plain_rows(buf, &p, z, raw) : -1;
  free(z);
  if (rc) free(raw);
  else *out = (png_raw){raw, plain_colours(&p), (int)p.H, (int)p.W, p.depth, plain_alpha(&p), stride};
  return rc;
}

int png_decode_raw(const uint8_t *buf, size_t len, png_raw *r) { return plain_raw(buf, len, r); }

void png_raw_free(png_raw *r) {
  free(r->raw);
  r->raw = NULL;
}

/* Rows y0 .. y0+n-1 of r as an image of that height (planes and alpha given). */
static void raw_rows(const png_raw *r, int y0, int n, wl_image *img) {
  const int k = r->channels + r->alpha, bytes = r->depth / 8;
  for (int i = 0; i < n; i++) deinterleave_row(r->raw + (size_t)(y0 + i) * r->stride + 1, (size_t)i, k, bytes, img);
}

void png_raw_rows(const png_raw *r, int y0, int n, float *planes) {
  wl_image img = {r->channels, n, r->width, r->depth, planes,
                  r->alpha ? planes + (size_t)r->channels * n * r->width : NULL};
  raw_rows(r, y0, n, &img);
}

/* The one-pass read made in the image's own memory, not in memory of its own: on machines whose
 * first touch of a page is slow (codec/alloc.c) that memory cost as much as the inflating
 * (codec/models/README.md, session 35). img is allocated to p's shape; its planes' first `below`
 * bytes are free (buf may lie above them). The rows lie at the planes' end, each copied out
 * before it is split into them: row r's samples (the last plane's reach the farthest, to
 * 4 ((C - 1) H W + (r + 1) W) bytes) stay below row r + 1's bytes (at 4 C H W - (H - r - 1) s, s a
 * row's stride) while s <= 4 W, that is at most 3 bytes a pixel (gray, gray + alpha, RGB at 8
 * bits, gray at 16; alpha has a plane of its own); the joined stream lies at their start,
 * inflated before any plane is written. Returns as plain_rows (img left to the caller). */
static int plain_into(const uint8_t *buf, const plain_png *p, wl_image *img, size_t below) {
  const size_t stride = plain_stride(p), rawlen = p->H * stride, room = plain_room(p);
  const int inside = plain_inside(p);
  uint8_t *planes = (uint8_t *)img->planes, *raw = inside ? planes + room - rawlen : malloc(rawlen);
  uint8_t *z = p->nidat == 1 ? NULL : p->zlen <= below ? planes : malloc(p->zlen);
  uint8_t *row = inside ? malloc(stride) : NULL;
  int rc = raw && (z || p->nidat == 1) && (row || !inside) ? plain_rows(buf, p, z, raw) : -1;
  for (size_t r = 0; !rc && r < p->H; r++) {
    const uint8_t *at = raw + r * stride + 1;
    if (inside) at = memcpy(row, at, stride - 1);
    deinterleave_row(at, r, p->n, p->depth / 8, img);
  }
  if (!inside) free(raw);
  if (z != planes) free(z);
  free(row);
  return rc;
}

/* The image's memory below the rows that plain_into makes at its planes' end. */
static size_t plain_below(const plain_png *p) { return plain_room(p) - (plain_inside(p) ? p->H * plain_stride(p) : 0); }

static int plain_alloc(const plain_png *p, wl_image *img) {
  return wl_image_alloc(img, plain_colours(p), (int)p->H, (int)p->W, p->depth, plain_alpha(p)) ? -1 : 0;
}

/* The one-pass read of buf into a fresh image (plain_into): 0, 1 when it is not one it takes (img
 * untouched), -1 out of memory. */
static int decode_plain(const uint8_t *buf, size_t len, wl_image *img) {
  plain_png p;
  if (plain_parse(buf, len, &p)) return 1;
  if (plain_alloc(&p, img)) return -1;
  const int rc = plain_into(buf, &p, img, plain_below(&p));
  if (rc) wl_image_release(img);
  return rc;
}

/* Palette images: libpng gives each pixel's index (png_set_packing: a byte each), expanded here
 * by pal_row to RGB, or RGBA with tRNS: libpng's own expansion reads an index past the palette
 * as black without a word, where the PNG specification makes it an error. */
typedef struct {
  png_colorp plte;
  png_bytep trans; /* NULL: no tRNS */
  int nplte, ntrans;
} pal;

/* The palette of a palette image into *p; returns its samples a pixel (3, or 4 with tRNS), 0 for
 * other colour types. */
static int pal_get(png_structp png, png_infop info, pal *p) {
  memset(p, 0, sizeof *p);
  if (png_get_color_type(png, info) != PNG_COLOR_TYPE_PALETTE) return 0;
  png_get_PLTE(png, info, &p->plte, &p->nplte);
  if (png_get_valid(png, info, PNG_INFO_tRNS)) png_get_tRNS(png, info, &p->trans, &p->ntrans, NULL);
  return p->trans ? 4 : 3;
}

/* Row `in` of W indices into `out`, n samples a pixel; an index past the palette is an error. */
static void pal_row(png_structp png, const pal *p, const png_byte *in, png_byte *out, size_t W, int n) {
  for (size_t j = 0; j < W; j++) {
    const int i = in[j];
    if (i >= p->nplte) png_error(png, "a palette index past the palette");
    png_byte *o = out + j * (size_t)n;
    o[0] = p->plte[i].red, o[1] = p->plte[i].green, o[2] = p->plte[i].blue;
    if (n == 4) o[3] = i < p->ntrans ? p->trans[i] : 255;
  }
}

/* libpng's transforms to 8 or 16-bit gray or RGB samples, with alpha from an alpha channel or
 * tRNS, or to palette indices (pal_row), after png_read_info; returns the interlace passes. */
static int expand(png_structp png, png_infop info) {
  const int type = png_get_color_type(png, info), depth = png_get_bit_depth(png, info);
  if (type == PNG_COLOR_TYPE_PALETTE) png_set_packing(png);
  if (type == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
  if (type != PNG_COLOR_TYPE_PALETTE && png_get_valid(png, info, PNG_INFO_tRNS)) png_set_tRNS_to_alpha(png);
  const int passes = png_set_interlace_handling(png);
  png_read_update_info(png, info);
  return passes;
}

/* Any PNG through libpng. */
static int decode_libpng(const uint8_t *buf, size_t len, wl_image *img, const char **why) {
  membuf m = {buf, len, 0};
  png_structp png = reader_new(why);
  png_infop info = png ? png_create_info_struct(png) : NULL;
  png_bytep *volatile rows = NULL;
  png_bytep volatile pixels = NULL;
  png_bytep volatile ex = NULL; /* a palette row expanded */
  memset(img, 0, sizeof *img);
  *why = "out of memory";
  if (!info) { png_destroy_read_struct(&png, NULL, NULL); return -1; }
  if (setjmp(png_jmpbuf(png))) {
    free(rows); free(pixels); free(ex);
    wl_image_release(img);
    png_destroy_read_struct(&png, &info, NULL);
    return -1;
  }
  png_set_read_fn(png, &m, mem_read);
  png_set_user_limits(png, WL_MAX_DIM, WL_MAX_DIM);
  png_read_info(png, info);
  png_uint_32 W = png_get_image_width(png, info), H = png_get_image_height(png, info);
  if ((uint64_t)W * H > WL_MAX_PIXELS) { *why = "dimensions over the limit (64 Mpixel)"; png_longjmp(png, 1); }
  const int passes = expand(png, info);
  pal p;
  const int pn = pal_get(png, info, &p), n = pn ? pn : png_get_channels(png, info);
  const int bytes = png_get_bit_depth(png, info) == 16 ? 2 : 1;
  const size_t rowbytes = png_get_rowbytes(png, info), nrows = passes > 1 ? H : 1; /* interlaced: all rows */
  pixels = malloc(rowbytes * nrows);
  rows = malloc(sizeof(png_bytep) * nrows);
  if (pn) ex = malloc((size_t)W * 4);
  if (!pixels || !rows || (pn && !ex) ||
      wl_image_alloc(img, n >= 3 ? 3 : 1, (int)H, (int)W, 8 * bytes, n == 2 || n == 4))
    png_longjmp(png, 1);
  for (size_t r = 0; r < nrows; r++) rows[r] = pixels + r * rowbytes;
  *why = "truncated or corrupt PNG";
  if (passes > 1) png_read_image(png, rows);
  for (png_uint_32 r = 0; r < H; r++) {
    if (passes == 1) png_read_row(png, rows[0], NULL);
    const png_byte *row = rows[passes > 1 ? r : 0];
    if (pn) pal_row(png, &p, row, ex, W, pn);
    deinterleave_row(pn ? ex : row, r, n, bytes, img);
  }
  png_read_end(png, NULL);
  free(rows); free(pixels); free(ex);
  png_destroy_read_struct(&png, &info, NULL);
  return 0;
}

/* A chunk's type as a printable string. */
static char *chunk_type(const uint8_t *t, char type[5]) {
  for (int k = 0; k < 4; k++) type[k] = t[k] >= 32 && t[k] < 127 ? (char)t[k] : '?';
  type[4] = 0;
  return type;
}

/* ---- a PNG read a block of rows at a time (png_reader), through libpng ---------------------- */

struct png_reader {
  png_structp png;
  png_infop info;
  png_source src;
  void *user;
  wl_image shape;                /* planes NULL */
  int n, bytes, next;            /* n samples of `bytes` a pixel; next: the next row */
  png_bytep row, ex;             /* ex: a palette row expanded (pal_row) */
  pal p;
  int pn;                        /* samples a pixel of a palette image, or 0 */
  const char *why; /* libpng's error pointer */
  char reason[64]; /* an unknown critical chunk's message */
};

static void source_read(png_structp png, png_bytep data, size_t n) {
  png_reader *pr = png_get_io_ptr(png);
  for (size_t got = 0; got < n;) {
    const long r = pr->src(pr->user, data + got, n - got);
    if (r <= 0) png_error(png, "truncated");
    got += (size_t)r;
  }
}

/* Chunks libpng does not know: ancillary ones pass (0), a critical one stops the read (the
 * PNG specification: its image may mean something else). */
static int unknown_chunk(png_structp png, png_unknown_chunkp c) {
  png_reader *pr = png_get_user_chunk_ptr(png);
  if (c->name[0] & 32) return 0;
  char type[5];
  snprintf(pr->reason, sizeof pr->reason, "unknown critical PNG chunk '%s'", chunk_type(c->name, type));
  return -1;
}

/* The message of an error longjmp'd out of libpng. */
static const char *reader_why(png_reader *pr) { return pr->reason[0] ? pr->reason : pr->why; }

void png_reader_free(png_reader *pr) {
  if (!pr) return;
  png_destroy_read_struct(&pr->png, &pr->info, NULL);
  free(pr->row);
  free(pr->ex);
  free(pr);
}

int png_reader_open(png_reader **out, png_source src, void *user, wl_image *shape, int *alpha, const char **why) {
  png_reader *pr = calloc(1, sizeof *pr);
  *out = NULL;
  *why = "out of memory";
  if (!pr) return -1;
  pr->src = src, pr->user = user, pr->why = "out of memory";
  pr->png = reader_new(&pr->why);
  pr->info = pr->png ? png_create_info_struct(pr->png) : NULL;
  if (!pr->info) { png_reader_free(pr); return -1; }
  if (setjmp(png_jmpbuf(pr->png))) {
    *why = reader_why(pr);
    png_reader_free(pr);
    return -1;
  }
  png_set_read_fn(pr->png, pr, source_read);
  png_set_read_user_chunk_fn(pr->png, pr, unknown_chunk);
  png_set_user_limits(pr->png, WL_MAX_DIM, WL_MAX_DIM);
  png_read_info(pr->png, pr->info);
  if (expand(pr->png, pr->info) > 1) {
    pr->why = "an interlaced PNG cannot be read a row at a time (save it without interlacing)";
    png_longjmp(pr->png, 1);
  }
  pr->pn = pal_get(pr->png, pr->info, &pr->p);
  pr->n = pr->pn ? pr->pn : png_get_channels(pr->png, pr->info);
  pr->bytes = png_get_bit_depth(pr->png, pr->info) == 16 ? 2 : 1;
  pr->shape = (wl_image){pr->n >= 3 ? 3 : 1, (int)png_get_image_height(pr->png, pr->info),
                         (int)png_get_image_width(pr->png, pr->info), 8 * pr->bytes, NULL, NULL};
  if (!(pr->row = malloc(png_get_rowbytes(pr->png, pr->info))) || (pr->pn && !(pr->ex = malloc((size_t)pr->shape.width * 4))))
    png_longjmp(pr->png, 1);
  *shape = pr->shape;
  *alpha = pr->n == 2 || pr->n == 4;
  *out = pr;
  return 0;
}

int png_reader_rows(png_reader *pr, int n, float *planes, const char **why) {
  wl_image img = pr->shape;
  img.height = n, img.planes = planes;
  img.alpha = pr->n == 2 || pr->n == 4 ? planes + (size_t)img.channels * n * img.width : NULL;
  if (n > pr->shape.height - pr->next) return *why = "more rows asked for than the PNG has", -1;
  pr->why = "truncated or corrupt PNG";
  if (setjmp(png_jmpbuf(pr->png))) return *why = reader_why(pr), -1;
  for (int r = 0; r < n; r++, pr->next++) {
    png_read_row(pr->png, pr->row, NULL);
    if (pr->pn) pal_row(pr->png, &pr->p, pr->row, pr->ex, (size_t)img.width, pr->pn);
    deinterleave_row(pr->pn ? pr->ex : pr->row, (size_t)r, pr->n, pr->bytes, &img);
  }
  return 0;
}

int png_reader_end(png_reader *pr, const char **why) {
  pr->why = "truncated or corrupt PNG";
  if (setjmp(png_jmpbuf(pr->png))) return *why = reader_why(pr), -1;
  if (pr->next != pr->shape.height) return *why = "not every row of the PNG was read", -1;
  png_read_end(pr->png, pr->info); /* with NULL, libpng skips every chunk unread */
  return 0;
}

/* An unknown critical chunk (type letter 1 upper case: not IHDR, PLTE, IDAT or IEND) anywhere
 * before IEND: the PNG specification says a decoder must not go on, as the image may mean
 * something else (libpng reads past one after the image data). Returns its type, or NULL. */
static const char *unknown_critical(const uint8_t *buf, size_t len, char type[5]) {
  for (size_t pos = 8; len - pos >= 12 && len >= pos; pos += 12 + (size_t)be32(buf + pos)) {
    const uint8_t *t = buf + pos + 4;
    if (!memcmp(t, "IEND", 4) || be32(buf + pos) > len - pos - 12) return NULL;
    if (!(t[0] & 32) && memcmp(t, "IHDR", 4) && memcmp(t, "PLTE", 4) && memcmp(t, "IDAT", 4)) {
      return chunk_type(t, type);
    }
  }
  return NULL;
}

/* Whether buf holds an unknown critical chunk: then -1, *why saying which. */
static int refused(const uint8_t *buf, size_t len, const char **why) {
  static _Thread_local char reason[64];
  char type[5];
  if (len < 8 || !unknown_critical(buf, len, type)) return 0;
  snprintf(reason, sizeof reason, "unknown critical PNG chunk '%s'", type);
  *why = reason;
  return -1;
}

int png_decode(const uint8_t *buf, size_t len, wl_image *img, const char **why) {
  if (refused(buf, len, why)) return memset(img, 0, sizeof *img), -1;
  const int plain = decode_plain(buf, len, img);
  *why = "out of memory";
  return plain > 0 ? decode_libpng(buf, len, img, why) : plain;
}

uint8_t *png_place(const uint8_t *head, size_t nhead, size_t len, wl_image *img) {
  plain_png p;
  if (plain_ihdr(head, nhead, &p) || len > plain_below(&p) || plain_alloc(&p, img)) return NULL;
  return (uint8_t *)img->planes + plain_below(&p) - len;
}

int png_decode_placed(const uint8_t *buf, size_t len, wl_image *img, const char **why) {
  plain_png p;
  wl_image other = {0};
  int rc = refused(buf, len, why);
  if (!rc && !plain_parse(buf, len, &p) && img->width == (int)p.W && img->height == (int)p.H &&
      img->depth == p.depth && img->channels == plain_colours(&p) && (img->alpha != NULL) == plain_alpha(&p)) {
    const int plain = plain_into(buf, &p, img, (size_t)(buf - (const uint8_t *)img->planes));
    *why = "out of memory";
    if (plain <= 0) {
      if (plain) wl_image_release(img);
      return plain;
    }
  }
  if (!rc) rc = decode_libpng(buf, len, &other, why); /* buf, in img, read before img goes */
  wl_image_release(img);
  *img = other;
  return rc;
}

/* Writing: every row Paeth-filtered (the filter that leaves the fewest bits on photos: 3.8 MB
 * of order-0 entropy on a decoded 4-Mpixel photo, against 5.1 MB for Up) into deflate blocks of
 * about BLOCK_BYTES (cli/deflate.c), cut into IDATs of at most IDAT_MAX bytes as they come.
 * Rows given in one call that fill two PIECE_BYTES or more are cut into pieces of about that
 * size, coded by the threads at once: each piece a run of blocks ending on a whole byte, joined
 * in order. The pieces depend on the rows alone, so the file is the same on any thread count. */
#define IDAT_MAX (1u << 18)
#define BLOCK_BYTES (1u << 20)
#define PIECE_BYTES (1u << 17)

/* Where rows are filtered and coded: the raw row above the next (zero above the first), the row
 * being filtered, filtered rows waiting for a block (fill bytes of cap), and the stream. */
typedef struct {
  uint8_t *prev, *cur, *blk;
  size_t fill, cap;
  zl_stream z;
} lane;

struct png_writer {
  png_sink sink;
  void *user;
  int n, bytes, C, rows_left;
  size_t rowbytes;
  lane main; /* the stream in the file, the zlib header first */
};

static int put_chunk(png_writer *pw, const char *type, const uint8_t *data, uint32_t n) {
  uint8_t head[8], crc[4];
  uint32_t c = (uint32_t)crc32(0, (const Bytef *)type, 4);
  if (n) c = (uint32_t)crc32(c, data, n); /* crc32(c, NULL, 0) would be 0, not c */
  for (int i = 0; i < 4; i++) head[i] = (uint8_t)(n >> (24 - 8 * i)), crc[i] = (uint8_t)(c >> (24 - 8 * i));
  memcpy(head + 4, type, 4);
  return pw->sink(pw->user, head, 8) || (n && pw->sink(pw->user, data, n)) || pw->sink(pw->user, crc, 4) ? -1 : 0;
}

/* The whole bytes z holds as IDATs, all of them or (all 0) those of the IDATs it fills. */
static int drain(png_writer *pw, zl_stream *z, int all) {
  size_t off = 0;
  while (z->len - off >= IDAT_MAX || (all && z->len > off)) {
    const size_t n = z->len - off < IDAT_MAX ? z->len - off : IDAT_MAX;
    if (put_chunk(pw, "IDAT", z->buf + off, (uint32_t)n)) return -1;
    off += n;
  }
  if (off) memmove(z->buf, z->buf + off, z->len -= off);
  return 0;
}

/* Its row buffers, once it takes no more rows. */
static void lane_rows_free(lane *l) {
  free(l->prev), free(l->cur), free(l->blk);
  l->prev = l->cur = l->blk = NULL;
}

static void lane_free(lane *l) {
  lane_rows_free(l);
  zl_free(&l->z);
}

/* A lane with its row above zero, for up to `most` bytes of filtered rows before a block (at
 * most BLOCK_BYTES, at least a row). 0 or -1. */
static int lane_new(lane *l, size_t rowbytes, size_t most, int head, int last) {
  l->cap = most < BLOCK_BYTES ? most : BLOCK_BYTES, l->fill = 0;
  l->cap = l->cap > rowbytes + 1 ? l->cap : rowbytes + 1;
  l->prev = calloc(rowbytes ? rowbytes : 1, 1), l->cur = malloc(rowbytes ? rowbytes : 1), l->blk = malloc(l->cap);
  zl_init(&l->z, head, last);
  return l->prev && l->cur && l->blk ? 0 : -1;
}

static int lane_flush(lane *l) {
  if (!l->fill) return 0;
  const int e = zl_block(&l->z, l->blk, l->fill);
  l->fill = 0;
  return e;
}

void png_writer_free(png_writer *pw) {
  if (!pw) return;
  lane_free(&pw->main);
  free(pw);
}

int png_writer_new(png_writer **out, int channels, int height, int width, int depth, int alpha, png_sink sink,
                   void *user) {
  static const uint8_t types[] = {0, 0, 4, 2, 6}, sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  png_writer *pw = calloc(1, sizeof *pw);
  *out = NULL;
  if (!pw) return -1;
  pw->sink = sink, pw->user = user, pw->C = channels, pw->n = channels + !!alpha, pw->bytes = depth / 8;
  pw->rows_left = height;
  pw->rowbytes = (size_t)width * pw->n * pw->bytes;
  uint8_t ihdr[13];
  put_be32(ihdr, (uint32_t)width);
  put_be32(ihdr + 4, (uint32_t)height);
  ihdr[8] = (uint8_t)depth, ihdr[9] = types[pw->n], ihdr[10] = ihdr[11] = ihdr[12] = 0;
  if (lane_new(&pw->main, pw->rowbytes, BLOCK_BYTES, 1, -1) || sink(user, sig, 8) || put_chunk(pw, "IHDR", ihdr, 13)) {
    png_writer_free(pw);
    return -1;
  }
  *out = pw;
  return 0;
}

/* Row r of rows, its samples interleaved as the PNG holds them, into raw. */
static void interleave(const png_writer *pw, const wl_image *rows, size_t r, uint8_t *raw) {
  const size_t W = (size_t)rows->width, H = (size_t)rows->height, n = (size_t)pw->n;
  for (int k = 0; k < pw->n; k++) { /* a plane at a time: the loops' bodies stay branch-free */
    const float *p = k < pw->C ? rows->planes + ((size_t)k * H + r) * W : rows->alpha + r * W;
    uint8_t *d = raw + (size_t)k * (size_t)pw->bytes;
    if (pw->bytes == 2)
      for (size_t j = 0; j < W; j++) {
        const unsigned v = (unsigned)p[j];
        d[2 * n * j] = (uint8_t)(v >> 8), d[2 * n * j + 1] = (uint8_t)v;
      }
    else
      for (size_t j = 0; j < W; j++) d[n * j] = (uint8_t)(unsigned)p[j];
  }
}

/* Rows [r0, r1) of rows into l's blocks, each Paeth-filtered against the raw row above. */
static int lane_rows(const png_writer *pw, lane *l, const wl_image *rows, size_t r0, size_t r1) {
  const size_t rb = pw->rowbytes, bpp = (size_t)pw->n * (size_t)pw->bytes;
  for (size_t r = r0; r < r1; r++) {
    if (l->fill + rb + 1 > l->cap && lane_flush(l)) return -1;
    uint8_t *out = l->blk + l->fill, *x = l->cur;
    const uint8_t *up = l->prev;
    interleave(pw, rows, r, x);
    out[0] = 4;
    for (size_t i = 0; i < bpp && i < rb; i++) out[1 + i] = (uint8_t)(x[i] - up[i]); /* Paeth(0, up, 0) */
#pragma omp simd
    for (size_t i = bpp; i < rb; i++) {
      const int a = x[i - bpp], b = up[i], c = up[i - bpp];
      const int pa = abs(b - c), pb = abs(a - c), pc = abs(a + b - 2 * c);
      out[1 + i] = (uint8_t)(x[i] - (pa <= pb && pa <= pc ? a : pb <= pc ? b : c));
    }
    l->fill += rb + 1;
    l->cur = l->prev, l->prev = x;
  }
  return 0;
}

/* The first of H rows that piece k of n takes. */
static size_t piece_row(size_t H, int k, int n) { return H * (size_t)k / (size_t)n; }

/* The rows as pieces coded at once, after the main stream's bytes so far: each piece its own
 * lane, its raw row above taken from the main lane or the rows, its stream aligned. */
static int write_pieces(png_writer *pw, const wl_image *rows, int pieces) {
  const size_t H = (size_t)rows->height, rb = pw->rowbytes;
  lane *l = calloc((size_t)pieces, sizeof *l);
  int e = !l || lane_flush(&pw->main) || zl_align(&pw->main.z) || drain(pw, &pw->main.z, 1) ? -1 : 0;
  const int threads = omp_get_max_threads() < pieces ? omp_get_max_threads() : pieces;
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int k = 0; k < pieces; k++) {
    if (e) continue;
    const size_t r0 = piece_row(H, k, pieces), r1 = piece_row(H, k + 1, pieces);
    int ek = lane_new(&l[k], rb, (r1 - r0) * (rb + 1), 0, k ? -1 : pw->main.z.last);
    if (!ek && r0) interleave(pw, rows, r0 - 1, l[k].prev);
    if (!ek && !r0) memcpy(l[k].prev, pw->main.prev, rb);
    ek = ek || lane_rows(pw, &l[k], rows, r0, r1) || lane_flush(&l[k]) || zl_align(&l[k].z);
    if (k < pieces - 1) lane_rows_free(&l[k]); /* the last keeps its row above: the next call's */
    if (ek) {
#pragma omp atomic write
      e = -1;
    }
  }
  for (int k = 0; !e && k < pieces; k++) {
    const size_t len = (piece_row(H, k + 1, pieces) - piece_row(H, k, pieces)) * (rb + 1);
    pw->main.z.adler = (uint32_t)adler32_combine(pw->main.z.adler, l[k].z.adler, (z_off_t)len);
    pw->main.z.last = l[k].z.last;
    e = drain(pw, &l[k].z, 1);
  }
  if (!e) memcpy(pw->main.prev, l[pieces - 1].prev, rb);
  for (int k = 0; l && k < pieces; k++) lane_free(&l[k]);
  free(l);
  return e;
}

int png_writer_rows(png_writer *pw, const wl_image *rows) {
  const size_t H = (size_t)rows->height, bytes = H * (pw->rowbytes + 1);
  if ((int)H > pw->rows_left) return -1;
  pw->rows_left -= (int)H;
  const size_t pieces = bytes / PIECE_BYTES < H ? bytes / PIECE_BYTES : H;
  if (pieces > 1) return write_pieces(pw, rows, pieces > INT_MAX ? INT_MAX : (int)pieces);
  return lane_rows(pw, &pw->main, rows, 0, H) || drain(pw, &pw->main.z, 0) ? -1 : 0;
}

int png_writer_end(png_writer *pw) {
  zl_stream *z = &pw->main.z;
  if (pw->rows_left || lane_flush(&pw->main) || zl_finish(z, z->adler) || drain(pw, z, 1)) return -1;
  return put_chunk(pw, "IEND", NULL, 0);
}

/* png_encode: the writer into a growing buffer. */
typedef struct { uint8_t *buf; size_t len, cap; } growbuf;
static int to_memory(void *user, const void *data, size_t n) {
  growbuf *g = user;
  if (g->len + n > g->cap) {
    size_t cap = g->cap ? g->cap : 1 << 16;
    while (cap < g->len + n) cap *= 2;
    uint8_t *b = realloc(g->buf, cap);
    if (!b) return -1;
    g->buf = b, g->cap = cap;
  }
  memcpy(g->buf + g->len, data, n);
  g->len += n;
  return 0;
}

int png_encode(const wl_image *img, uint8_t **out, size_t *outlen) {
  growbuf g = {0};
  png_writer *pw;
  int e = png_writer_new(&pw, img->channels, img->height, img->width, img->depth, img->alpha != NULL, to_memory, &g);
  if (!e) e = png_writer_rows(pw, img) || png_writer_end(pw) ? -1 : 0;
  png_writer_free(pw);
  if (e) free(g.buf);
  else *out = g.buf, *outlen = g.len;
  return e;
}
