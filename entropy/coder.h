/* Event coder shared by the modes: one wle_io either records events for the rANS encoder or decodes
 * them, so every model (table header, context model) is written once and runs identically in both
 * directions. Adaptive binary models and an adaptive Exp-Golomb-like integer code sit on top.
 * Internal to entropy/. */
#ifndef WL_ENTROPY_CODER_H
#define WL_ENTROPY_CODER_H
#include <stddef.h>
#include <stdint.h>

#include "entropy/entropy.h"
#include "entropy/rans.h"

/* The per-event functions are always inlined: a mode's scan then runs with dec known (context.c
 * makes a copy per direction), the coder's state in registers. */
#define IO_INLINE RANS_INLINE

/* Every event is coded at 15-bit precision, the same scale as the static tables: one scale lets an
 * event be stored as start | freq << 16 in 32 bits (freq <= 2^15), and 2^15 is the largest scale
 * with rANS rounding below log2(257/256) bits per event (rans.h). */
#define IO_SCALE 15
#define IO_ONE (1u << IO_SCALE)

typedef struct {
  int dec;       /* 0: record events into ev, 1: decode them from d */
  int err;       /* WLE_* error met on the way (no memory, corrupt stream) */
  uint32_t *ev;  /* encoder: events in coding order, start | freq << 16 */
  size_t n, cap;
  rans_dec d;
  wle_scratch *s; /* not NULL: ev is s's (and stays there), and the modes' planes come from it */
} wle_io;

/* Recording: the caller reserves room for the events of the next unit of work (wle_io_reserve). */
int wle_io_reserve(wle_io *io, size_t more);
/* Encoder init, recording into s's events (s NULL: memory of its own), and decoder init on
 * src[0..len) (no scratch; set io->s for one). */
void wle_io_init_enc(wle_io *io, wle_scratch *s);
int wle_io_init_dec(wle_io *io, const uint8_t *src, size_t len);
/* Encodes the recorded events (reversed, see rans.h) into dst[0..cap); frees them (wle_io_drop). */
int wle_io_finish_enc(wle_io *io, uint8_t *dst, size_t cap, size_t *len);
/* Ends an encoder's recording: frees its events unless they are its scratch's. */
void wle_io_drop(wle_io *io);
/* Makes *buf (malloc'd or NULL) hold at least n bytes, *cap of them, keeping none of its
 * contents; returns it, NULL when out of memory. */
void *wle_grow(void **buf, size_t *cap, size_t n);
/* n bytes of working memory for a mode: the scratch's (kept) or, without one, malloc'd (the
 * caller frees it with wle_io_work_done). NULL when out of memory. */
void *wle_io_work(wle_io *io, size_t n);
void wle_io_work_done(const wle_io *io, void *work);
/* Decoder: WLE_OK when the stream ended exactly where it should, else WLE_ERR_CORRUPT. */
int wle_io_finish_dec(const wle_io *io);

/* Codes the event [start, start + freq) of IO_ONE; decoding is done by the caller's slot lookup. */
IO_INLINE void io_event(wle_io *io, uint32_t start, uint32_t freq) {
  if (io->dec) rans_dec_advance(&io->d, start, freq, IO_SCALE);
  else io->ev[io->n++] = start | freq << 16;
}

/* k <= 15 raw bits: the uniform event [v 2^(15-k), (v+1) 2^(15-k)). Returns v (decoded or given). */
IO_INLINE uint32_t io_bits(wle_io *io, uint32_t v, unsigned k) {
  unsigned sh = IO_SCALE - k;
  if (io->dec) v = rans_dec_get(&io->d, IO_SCALE) >> sh;
  io_event(io, v << sh, 1u << sh);
  return v;
}

/* Adaptive binary model: P(bit = 0) in 1/65536 from two exponential-decay estimators, a fast one
 * (rate 1/32: follows local statistics) and a slow one (rate 1/128: precise once warm); their mean
 * beats either alone on latent planes. A model's first events use rates 1/2, 1/4, ... (n counts
 * them), a cheap stand-in for counting that makes the many rarely used contexts learn quickly. */
typedef struct {
  uint16_t fast, slow, n;
} io_bit_model;
#define IO_BIT_FAST 5
#define IO_BIT_SLOW 7
/* Coded probabilities stay in [IO_PMIN, IO_ONE - IO_PMIN]: at most 12 bits for a surprise (this
 * bounds wle_bound), while a near-certain decision still costs only log2(1/(1 - 2^-12)) bits. */
#define IO_PMIN (IO_ONE >> 12)
#define IO_BIT_COST_MAX 12

static inline void io_bit_init(io_bit_model *m, size_t count) {
  for (size_t i = 0; i < count; i++) {
    m[i].fast = m[i].slow = 1u << 15;
    m[i].n = 1;
  }
}

/* Moves model m toward the bit just coded at rates 2^-rf and 2^-rs. */
IO_INLINE void io_bit_update(io_bit_model *m, int bit, unsigned rf, unsigned rs) {
  if (bit) {
    m->fast -= m->fast >> rf;
    m->slow -= m->slow >> rs;
  } else { /* stays <= 65535: (d >> r) < d for d >= 1 */
    m->fast += (65536u - m->fast) >> rf;
    m->slow += (65536u - m->slow) >> rs;
  }
}

/* Codes one binary decision; returns the bit (decoded or given). */
IO_INLINE int io_bit(wle_io *io, io_bit_model *m, int bit) {
  uint32_t p0 = ((uint32_t)m->fast + m->slow) >> 2; /* mean of two 16-bit estimates, in 15 bits */
  p0 = p0 < IO_PMIN ? IO_PMIN : p0 > IO_ONE - IO_PMIN ? IO_ONE - IO_PMIN : p0;
  if (io->dec) bit = rans_dec_get(&io->d, IO_SCALE) >= p0;
  if (bit) io_event(io, p0, IO_ONE - p0);
  else io_event(io, 0, p0);
  if (m->n >= IO_BIT_SLOW) { /* nearly every event: the rates as constants */
    io_bit_update(m, bit, IO_BIT_FAST, IO_BIT_SLOW);
  } else { /* a model's first events */
    io_bit_update(m, bit, m->n < IO_BIT_FAST ? m->n : IO_BIT_FAST, m->n);
    m->n++;
  }
  return bit;
}

/* Adaptive code for u in [0, 2^kmax), kmax <= 16: class k = 0 for u = 0, else 1 + floor(log2 u),
 * sent in truncated unary with one model per position, cls[0..kmax); then the k - 1 bits of u below
 * its leading one: the top two with models man[k][node] (node 1, then 2 + first bit), the rest raw.
 * At most kmax + 3 events. Returns u (decoded or given). */
#define IO_MAN_NODES 4
IO_INLINE uint32_t io_uint(wle_io *io, io_bit_model *cls, io_bit_model (*man)[IO_MAN_NODES], unsigned kmax,
                           uint32_t u) {
  unsigned k = 0, want = 0;
  if (!io->dec)
    for (uint32_t t = u; t; t >>= 1) want++;
  while (k < kmax && io_bit(io, &cls[k], k < want)) k++;
  if (k < 2) return k;
  unsigned nb = k - 1, top = nb < 2 ? nb : 2, node = 1;
  uint32_t m = 0;
  for (unsigned i = 0; i < top; i++) {
    int b = io_bit(io, &man[k][node], (u >> (nb - 1 - i)) & 1);
    m = m << 1 | (uint32_t)b;
    node = 2 + (unsigned)b;
  }
  if (nb > top) m = m << (nb - top) | io_bits(io, u & ((1u << (nb - top)) - 1), nb - top);
  return 1u << nb | m;
}

/* Most events per value of the context modes (zero flag, sign, io_uint with kmax = bits - 1) and
 * per used symbol of the WLE_TABLE header (io_uint of a log code, kmax 8, and of a gap, kmax bits). */
#define WLE_CONTEXT_EVENTS(bits) ((size_t)(bits) + 4)
#define WLE_HEADER_EVENTS(bits) ((size_t)(bits) + 3 + 8 + 3)

/* The modes on top of the coder. Each codes n = h w values through io: when encoding it reads in
 * (out unused), when decoding it writes out (in unused). They return WLE_OK or a WLE_* error. */
int wle_code_table(wle_io *io, int mode, const int16_t *in, int16_t *out, size_t n, int bits,
                   const uint16_t *freq);
int wle_code_context(wle_io *io, int predictive, const int16_t *in, int16_t *out,
                     const int16_t *prev, int h, int w, int bits);
int wle_code_buckets(wle_io *io, const int16_t *in, int16_t *out, const int16_t *prev, int h, int w, int bits);
/* Decodes two WLE_BUCKETS planes of neighbouring channels at once, each from its own coder: a's
 * into out (its previous channel prev, or NULL), b's into out + h w (its previous channel a's).
 * The same values and errors as two wle_code_buckets calls (a's error first), faster. */
int wle_decode_buckets_pair(wle_io *a, wle_io *b, const int16_t *prev, int16_t *out, int h, int w, int bits);

/* Shared by the modes. WLE_TABLE's header: the used symbols of hist (2^bits counts when encoding;
 * the reconstructed counts in both directions) and their range [*lo, *hi]. */
int wle_code_header(wle_io *io, uint32_t *hist, int bits, size_t *lo, size_t *hi);
/* WLE_ADAPTIVE's activity of a row from the rows above and the previous channel: act_above[x]
 * for x < w, from the padded planes s (symbols) and p (|previous channel|) at the row's start,
 * row stride ws (context.c). */
void wle_row_activity(uint32_t *act_above, const int16_t *s, const int16_t *p, ptrdiff_t ws, int w);
#endif
