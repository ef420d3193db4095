/* test_deflate.c: cli/deflate.c's zlib streams, read back by zlib's own inflate (an independent
 * decoder that also checks the Adler-32): whole streams cut into blocks of many sizes, pieces
 * joined byte-wise, runs reaching back across blocks and pieces, codes that Huffman would make
 * deeper than 15 bits, and sizes against zlib's on the same bytes. */
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "cli/deflate.h"
#include "tests/check.h"

static uint32_t rng = 12345;
static uint32_t next(void) { return rng = rng * 1664525u + 1013904223u; }

/* in[0 .. n) through zlib's inflate from z (stream + finish): equal bytes? */
static int inflates_to(const uint8_t *z, size_t zlen, const uint8_t *in, size_t n) {
  uint8_t *out = malloc(n + 1);
  uLongf got = n + 1;
  const int ok = out && uncompress(out, &got, z, zlen) == Z_OK && got == n && !memcmp(out, in, n);
  free(out);
  return ok;
}

/* One stream of in[0 .. n) in blocks of block bytes (the last shorter); its size, 0 on failure. */
static size_t one_stream(const uint8_t *in, size_t n, size_t block) {
  zl_stream z;
  zl_init(&z, 1, -1);
  int e = 0;
  for (size_t o = 0; !e && o < n; o += block) e = zl_block(&z, in + o, n - o < block ? n - o : block);
  e = e || zl_finish(&z, z.adler);
  const size_t len = !e && inflates_to(z.buf, z.len, in, n) ? z.len : 0;
  zl_free(&z);
  return len;
}

/* in[0 .. n) as k pieces, each its own stream (runs reaching back into the piece before when
 * reach is set), aligned and joined; the whole read back by inflate? */
static int pieces(const uint8_t *in, size_t n, int k, int reach) {
  zl_stream all, p;
  zl_init(&all, 1, -1);
  int e = zl_align(&all);
  for (int i = 0; !e && i < k; i++) {
    const size_t a = n * (size_t)i / (size_t)k, b = n * (size_t)(i + 1) / (size_t)k;
    zl_init(&p, 0, reach && a ? in[a - 1] : -1);
    e = (b > a && zl_block(&p, in + a, b - a)) || zl_align(&p);
    all.adler = (uint32_t)adler32_combine(all.adler, p.adler, (z_off_t)(b - a));
    if (!e && (all.cap - all.len < p.len)) {
      uint8_t *buf = realloc(all.buf, all.len + p.len + 64);
      if (!buf) e = 1;
      else all.buf = buf, all.cap = all.len + p.len + 64;
    }
    if (!e && p.len) memcpy(all.buf + all.len, p.buf, p.len), all.len += p.len; /* an empty piece has no buffer */
    zl_free(&p);
  }
  const int ok = !e && !zl_finish(&all, all.adler) && inflates_to(all.buf, all.len, in, n);
  zl_free(&all);
  return ok;
}

/* The size of zlib's stream of the same kind (literals and runs at distance 1: Z_RLE) of in[0 .. n). */
static size_t zlib_rle(const uint8_t *in, size_t n) {
  z_stream zs = {0};
  uLong len = 0;
  uint8_t *out = NULL;
  if (deflateInit2(&zs, 9, Z_DEFLATED, 15, 9, Z_RLE) == Z_OK) {
    const uLong cap = deflateBound(&zs, n);
    if ((out = malloc(cap))) zs.next_in = (Bytef *)in, zs.avail_in = (uInt)n, zs.next_out = out, zs.avail_out = (uInt)cap;
    if (out && deflate(&zs, Z_FINISH) == Z_STREAM_END) len = zs.total_out;
    deflateEnd(&zs);
  }
  free(out);
  return len;
}

int main(void) {
  enum { N = 300000 };
  uint8_t *noise = malloc(N), *runs = malloc(N), *skew = malloc(N), *zeros = calloc(N, 1);
  for (size_t i = 0; i < N; i++) noise[i] = (uint8_t)(next() >> 24);
  for (size_t i = 0; i < N;) { /* runs of every length 1 .. 600, of varied bytes */
    const size_t r = 1 + next() % 600, v = next() >> 24;
    for (size_t j = 0; j < r && i < N; j++) runs[i++] = (uint8_t)v;
  }
  /* byte v with weight fib(v + 1): Huffman's code for them is 25 bits deep; shuffled so that
   * runs are rare */
  size_t n_skew = 0;
  for (uint32_t v = 0, f0 = 1, f1 = 1; v < 26 && n_skew < N; v++, f1 += f0, f0 = f1 - f0)
    for (uint32_t j = 0; j < f0 && n_skew < N; j++) skew[n_skew++] = (uint8_t)v;
  for (size_t i = n_skew - 1; i > 0; i--) {
    const size_t j = next() % (i + 1);
    const uint8_t t = skew[i];
    skew[i] = skew[j], skew[j] = t;
  }

  t_begin("deflate: zlib's inflate reads back noise, runs, zeros and a skewed source, in blocks of 1 byte to the whole");
  const size_t blocks[] = {1, 3, 4, 5, 257, 4096, 65536, N};
  for (size_t b = 0; b < sizeof blocks / sizeof *blocks; b++) {
    T_EXPECT(one_stream(noise, blocks[b] < 257 ? 3000 : N, blocks[b]), "noise, blocks of %zu", blocks[b]);
    T_EXPECT(one_stream(runs, blocks[b] < 257 ? 3000 : N, blocks[b]), "runs, blocks of %zu", blocks[b]);
    T_EXPECT(one_stream(zeros, blocks[b] < 257 ? 3000 : N, blocks[b]), "zeros, blocks of %zu", blocks[b]);
    T_EXPECT(one_stream(skew, blocks[b] < 257 ? 3000 : n_skew, blocks[b]), "skewed, blocks of %zu", blocks[b]);
  }
  T_EXPECT(one_stream(runs, 1, 1), "one byte");
  t_end();

  t_begin("deflate: pieces aligned and joined byte-wise read back as one stream, runs reaching back into the piece before");
  for (int k = 1; k <= 7; k += 3) {
    T_EXPECT(pieces(runs, N, k, 1), "runs, %d pieces reaching back", k);
    T_EXPECT(pieces(runs, N, k, 0), "runs, %d pieces on their own", k);
    T_EXPECT(pieces(zeros, N, k, 1), "zeros, %d pieces reaching back", k);
    T_EXPECT(pieces(noise, N, k, 1), "noise, %d pieces", k);
  }
  T_EXPECT(pieces(runs, 5, 7, 1), "empty pieces");
  t_end();

  t_begin("deflate: streams at most 1% (and 64 bytes) larger than zlib's Z_RLE at level 9 on the same bytes (a 25-bit-deep "
          "Huffman code limited to 15 bits, noise, runs, zeros)");
  const uint8_t *src[] = {skew, noise, runs, zeros};
  const size_t len[] = {n_skew, N, N, N};
  for (int i = 0; i < 4; i++) {
    const size_t ours = one_stream(src[i], len[i], len[i]), ref = zlib_rle(src[i], len[i]);
    T_EXPECT(ours && ref && ours <= 1.01 * ref + 64, "source %d: %zu bytes against zlib's %zu", i, ours, ref);
  }
  t_end();

  free(noise), free(runs), free(skew), free(zeros);
  return t_summary();
}
