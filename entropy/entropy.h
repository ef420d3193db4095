/* Lossless integer-only rANS coding of quantised latent planes: int16 values of `bits` bits
 * (2..16), one h x w plane per stream, in one of five modes. Bit-exact on every machine, no
 * globals (thread-safe), memory-safe on any input when decoding. */
#ifndef WL_ENTROPY_ENTROPY_H
#define WL_ENTROPY_ENTROPY_H
#include <stddef.h>
#include <stdint.h>

/* Errors: the values of WL_ERR_NOMEM, WL_ERR_ARG, WL_ERR_CORRUPT and WL_ERR_LIMIT (a stream
 * over its buffer's bound) of include/walloc.h, so that the codec passes them on unchanged
 * (codec/error.c checks that they agree). */
enum { WLE_OK = 0, WLE_ERR_NOMEM = -1, WLE_ERR_ARG = -2, WLE_ERR_CORRUPT = -6, WLE_ERR_OVERFLOW = -8 };

/* Modes; the numbers are written in files. */
enum {
  WLE_STATIC = 0,     /* 0th-order rANS with a table given by the caller (from the model) */
  WLE_TABLE = 1,      /* 0th-order rANS with a table computed from this plane, sent in the stream */
  WLE_ADAPTIVE = 2,   /* adaptive binary models, contexts from neighbour and previous-channel magnitudes */
  WLE_PREDICTIVE = 3, /* like WLE_ADAPTIVE, on the residual of a blend of 8 spatial predictors weighted
                         by their recent local errors; contexts from the blend's expected error */
  WLE_BUCKETS = 4,    /* made for decoding speed: the values or their MED residuals, each with a static
                         table (sent in the stream) picked by its activity bucket (buckets.c) */
  WLE_MODES = 5
};

/* Static tables sum to 2^15: the finest scale that byte-wise rANS with a 32-bit state codes with
 * under 0.006 bits of rounding loss per symbol (entropy/rans.h), and the largest whose full-scale
 * frequency (a one-symbol plane) fits uint16_t. Rare symbols then take 2^-15 of the probability
 * mass instead of 2^-12, and floor_one tables cover alphabets up to 2^14 symbols. The decoder's
 * slot -> symbol table is 64 KiB. */
#define WLE_TABLE_BITS 15

/* Largest plane accepted (values per plane), so counts fit 32 bits with room to spare. */
#define WLE_MAX_VALUES ((size_t)1 << 30)

/* Normalises a histogram (2^bits entries, index v + 2^(bits-1)) to a table summing to
 * 1 << WLE_TABLE_BITS. When floor_one is set every symbol gets frequency >= 1 (needs
 * 2^bits <= 1 << (WLE_TABLE_BITS - 1)); otherwise unseen symbols get 0 and seen ones >= 1.
 * Integer-only, deterministic. WLE_ERR_ARG when no table exists (empty histogram without
 * floor_one, more than 2^15 symbols to keep). */
int wle_table_build(const uint32_t *hist, int bits, int floor_one, uint16_t *freq);
/* The same for ns (1 .. 2^16) counts, floor_one unset, to a table summing to 1 << scale_bits
 * (1 .. WLE_TABLE_BITS). */
int wle_table_scaled(const uint32_t *hist, size_t ns, int scale_bits, uint16_t *freq);

/* Upper bound on the stream size of any mode for n symbols of `bits` bits. */
size_t wle_bound(size_t n, int bits);

/* What an encoder keeps from one plane to the next: the recorded events, the context modes'
 * planes and models, wle_encode_best's trial stream. Coding a run of planes with one scratch
 * allocates (and faults in) that memory once: freed, blocks of megabytes go back to the kernel,
 * and on some virtual machines each fresh page costs 10-30 us to touch (a 10-minute stereo
 * encode faulted 5,800 times in these buffers, about a tenth of its time). Start it zeroed; one
 * per thread; wle_scratch_free releases it. */
typedef struct wle_scratch {
  uint32_t *ev;
  size_t ev_cap;
  void *work;
  size_t work_cap;
  void *trial;
  size_t trial_cap;
} wle_scratch;
void wle_scratch_free(wle_scratch *s);

/* Encodes plane q [h][w]. prev is the previous channel's plane [h][w] (NULL for channel 0).
 * freq is the static table (only read in WLE_STATIC). Returns WLE_ERR_ARG when the mode cannot
 * code this plane (a symbol with static frequency 0, a value out of range), WLE_ERR_OVERFLOW when
 * cap is too small. */
int wle_encode(int mode, const int16_t *q, const int16_t *prev, int h, int w, int bits,
               const uint16_t *freq, uint8_t *dst, size_t cap, size_t *len);

/* Decodes exactly h*w symbols from src[0..len). Never reads outside src[0..len) nor writes outside
 * q; returns WLE_ERR_CORRUPT when the stream is detectably wrong (final rANS state not the initial
 * one, bytes left over or missing, impossible header). Values written are always in range. */
int wle_decode(int mode, const uint8_t *src, size_t len, const int16_t *prev, int h, int w, int bits,
               const uint16_t *freq, int16_t *q);

/* Decodes the n planes [h][w] of consecutive channels into q (n h w), plane c's previous channel
 * being plane c - 1 (none for plane 0): the streams lie one after another from src, len[c] bytes
 * each, in modes mode[c]; freq holds the static tables, 2^bits entries per plane (NULL: none).
 * The same values and errors as n calls of wle_decode (the first plane's error), faster where two
 * WLE_BUCKETS planes follow each other: they decode at once. */
int wle_decode_planes(int n, const uint8_t *mode, const uint8_t *src, const uint32_t *len, int h, int w, int bits,
                      const uint16_t *freq, int16_t *q);

/* Encodes with every applicable mode and keeps the smallest; *mode receives the choice. freq may be
 * NULL (skip static). fast: WLE_BUCKETS in place of the adaptive context modes, for decoding speed.
 * s: the scratch to code in (NULL: memory of its own for this call). */
int wle_encode_best(wle_scratch *s, const int16_t *q, const int16_t *prev, int h, int w, int bits, const uint16_t *freq, int fast,
                    uint8_t *dst, size_t cap, size_t *len, int *mode);
#endif
