/* Byte-wise rANS with a 32-bit state, after Fabian Giesen's ryg_rans (public domain): static inline
 * functions on explicit state, shared by every coding mode. Internal to entropy/.
 *
 * Read me first: rANS is last-in first-out. The encoder must see the events in REVERSE order and
 * writes its bytes backwards from the end of a buffer; the decoder then reads them forwards and gets
 * the events in their natural order. Adaptive models therefore run forwards once to record every
 * event's (start, freq) and the encoder replays that list backwards (see coder.h).
 *
 * An event is an interval [start, start + freq) of [0, 1 << scale_bits); it costs
 * log2((1 << scale_bits) / freq) bits plus at most log2(257/256) bits of rounding (see below).
 * Stream layout: 4 bytes of final encoder state (little-endian), then the renormalisation bytes. */
#ifndef WL_ENTROPY_RANS_H
#define WL_ENTROPY_RANS_H
#include <stddef.h>
#include <stdint.h>

/* The state lives in [L, 256 L) between events. L = 2^23 is the largest power of two for which
 * 256 L still fits in 32 bits, so one byte moves in or out per renormalisation step, and it leaves
 * (L >> scale_bits) >= 256 for scale_bits <= 15: the encoder's state before an event is then at
 * least 256 freq, which bounds the rounding loss x' / (x 2^s / freq) <= 1 + freq / x by 257/256. */
#define RANS_L (1u << 23)

/* The decoder's per-event steps are always inlined (see coder.h, IO_INLINE). */
#define RANS_INLINE static inline __attribute__((always_inline))

/* Division by a frequency f (1 .. 2^15) as a multiplication (Granlund and Montgomery, "Division
 * by invariant integers using multiplication", PLDI 1994, sec. 4): with l = ceil(log2 f) and
 * m = floor(2^(31 + l) / f) + 1 (below 2^32), s / f = (s m) >> (31 + l) for every s < 2^31, since
 * 2^(31 + l) < m f <= 2^(31 + l) + 2^l. The encoder's states before an event are below 2^31. */
static inline unsigned rans_rcp_shift(uint32_t f) { return 31 + (f > 1 ? 32 - (unsigned)__builtin_clz(f - 1) : 0); }
static inline uint32_t rans_rcp(uint32_t f) { return (uint32_t)(((uint64_t)1 << rans_rcp_shift(f)) / f + 1); }
static inline uint32_t rans_div(uint32_t s, uint32_t f, uint32_t m) {
  return (uint32_t)(((uint64_t)s * m) >> rans_rcp_shift(f));
}

/* Encodes [start, start + freq) of 1 << scale_bits (freq >= 1, scale_bits <= 15), writing
 * renormalisation bytes backwards at *pp but never below lo (NULL: the caller knows there is
 * room, at most 2 bytes an event); rcp = rans_rcp(freq). Returns 0, or -1 when out of room. */
RANS_INLINE int rans_enc_put(uint32_t *x, uint8_t **pp, const uint8_t *lo, uint32_t start,
                             uint32_t freq, unsigned scale_bits, uint32_t rcp) {
  /* Shift bytes out until x < x_max, so that the new state lands below 256 L again. */
  uint32_t s = *x, x_max = ((RANS_L >> scale_bits) << 8) * freq;
  while (s >= x_max) {
    if (lo && *pp == lo) return -1;
    *--*pp = (uint8_t)s;
    s >>= 8;
  }
  /* (s / freq) 2^scale + s % freq + start, the quotient off a division's latency */
  *x = s + start + rans_div(s, freq, rcp) * ((1u << scale_bits) - freq);
  return 0;
}

/* Writes the final state so the decoder can start from it. Returns 0, or -1 when out of room. */
static inline int rans_enc_flush(uint32_t x, uint8_t **pp, const uint8_t *lo) {
  if (*pp - lo < 4) return -1;
  *pp -= 4;
  for (int i = 0; i < 4; i++) (*pp)[i] = (uint8_t)(x >> (8 * i));
  return 0;
}

/* Decoder on src[0..len): p walks forwards, end bounds it; short_read records reads past end. */
typedef struct {
  uint32_t x;
  const uint8_t *p, *end;
  int short_read;
} rans_dec;

/* Returns 0, or -1 when src cannot be a stream (too short, or a state below L that no encoder
 * flushes; refusing it also keeps x >= 256 after every event, so renormalisation ends). */
static inline int rans_dec_init(rans_dec *d, const uint8_t *src, size_t len) {
  if (len < 4) return -1;
  d->x = (uint32_t)src[0] | (uint32_t)src[1] << 8 | (uint32_t)src[2] << 16 | (uint32_t)src[3] << 24;
  d->p = src + 4;
  d->end = src + len;
  d->short_read = 0;
  return d->x < RANS_L ? -1 : 0;
}

/* The slot in [0, 1 << scale_bits) that names the next event. */
RANS_INLINE uint32_t rans_dec_get(const rans_dec *d, unsigned scale_bits) {
  return d->x & ((1u << scale_bits) - 1);
}

/* Consumes the event [start, start + freq) that contains the current slot, then refills to >= L.
 * x' = freq (x >> s) + slot - start >= L >> s >= 256, so at most two bytes are read; past the end
 * zeros are shifted in and short_read is set, keeping the decoder memory-safe on any input. */
RANS_INLINE void rans_dec_advance(rans_dec *d, uint32_t start, uint32_t freq, unsigned scale_bits) {
  uint32_t x = freq * (d->x >> scale_bits) + (d->x & ((1u << scale_bits) - 1)) - start;
  while (x < RANS_L) {
    if (d->p < d->end) x = x << 8 | *d->p++;
    else { x <<= 8; d->short_read = 1; }
  }
  d->x = x;
}

/* Decodes an even bit, the event [b 2^(s-1), (b + 1) 2^(s-1)) of 2^s, as rans_dec_advance would:
 * x' = 2^(s-1) (x >> s) + x mod 2^(s-1) >= L / 2, so one byte refills it. Returns b. */
RANS_INLINE uint32_t rans_dec_bit(rans_dec *d, unsigned scale_bits) {
  const uint32_t b = d->x >> (scale_bits - 1) & 1;
  uint32_t x = (d->x >> scale_bits) << (scale_bits - 1) | (d->x & ((1u << (scale_bits - 1)) - 1));
  if (x < RANS_L) {
    if (d->p < d->end) x = x << 8 | *d->p++;
    else { x <<= 8; d->short_read = 1; }
  }
  d->x = x;
  return b;
}

/* A complete stream ends exactly at its last byte in the encoder's initial state L. */
static inline int rans_dec_done(const rans_dec *d) {
  return d->x == RANS_L && d->p == d->end && !d->short_read;
}
#endif
