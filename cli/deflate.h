/* deflate.h: zlib streams for a PNG's image data, made for speed: each block is one dynamic
 * Huffman code over the bytes and runs of one byte (matches at distance 1, zlib's Z_RLE), with
 * no search for other matches. On Paeth-filtered photos that is within 1% of the bytes'
 * order-0 entropy, smaller than libdeflate's level 1 on Up-filtered rows and several times
 * faster than zlib. A stream may be made in pieces, one per thread, that are joined byte-wise. */
#ifndef WL_CLI_DEFLATE_H
#define WL_CLI_DEFLATE_H
#include <stddef.h>
#include <stdint.h>

typedef struct {
  uint8_t *buf;   /* the whole bytes made so far: the caller may take them and set len to 0 */
  size_t len, cap;
  uint64_t acc;   /* the bits after them, nacc of them */
  int nacc;
  int last;       /* the input byte before the next block's, -1 at the stream's start */
  uint32_t adler; /* Adler-32 of every input byte so far */
} zl_stream;

/* A stream with the zlib header; or, with head 0, a piece that continues a stream whose input
 * ends in the byte last (-1: the stream's start). */
void zl_init(zl_stream *z, int head, int last);
/* One non-final block of in[0 .. n), n >= 1. 0, or -1 when out of memory. */
int zl_block(zl_stream *z, const uint8_t *in, size_t n);
/* An empty stored block, so that the stream ends on a whole byte (nothing where it does
 * already): a piece ends so before the next is joined to it. 0 or -1. */
int zl_align(zl_stream *z);
/* An empty final block and the Adler-32 of the whole stream's input (given: pieces combine
 * theirs). 0 or -1. */
int zl_finish(zl_stream *z, uint32_t adler);
void zl_free(zl_stream *z);
#endif
