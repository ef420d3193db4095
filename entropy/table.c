/* 0th-order coding (WLE_STATIC, WLE_TABLE): histogram normalisation to a 2^15 table, the compact
 * per-plane table header of WLE_TABLE (quantised log counts), and the symbol loop with a
 * slot -> symbol lookup for decoding. */
#include <stdlib.h>

#include "entropy/coder.h"
#include "entropy/entropy.h"

#define TOTAL (1u << WLE_TABLE_BITS)

/* Proportional allocation with a floor of one: symbols whose exact share w_i R / T of what is left
 * (R slots for the unpinned symbols, T their total weight) is below one are pinned at 1, which only
 * raises the others' threshold, so a few passes settle. The rest get the differences of rounded
 * cumulative shares, floor(C_i R / T) - floor(C_(i-1) R / T): each within one of its exact share
 * (so >= 1) and the sum exactly R. The weights are the counts, or all 1 for an empty histogram
 * (floor_one's uniform table). During the loops freq holds 0 (unused), 1 (pinned), 2 (free). */
static int normalise(const uint32_t *hist, size_t ns, int floor_one, uint32_t total, uint16_t *freq) {
  uint64_t t = 0; /* T: at most 2^16 counts < 2^32 */
  for (size_t i = 0; i < ns; i++) t += hist[i];
  uint32_t one = t == 0, used = 0, pinned = 0;
  if (one && !floor_one) return WLE_ERR_ARG;
  for (size_t i = 0; i < ns; i++) {
    freq[i] = (uint16_t)(one || hist[i] ? 2 : floor_one);
    used += freq[i] != 0;
    pinned += freq[i] == 1;
  }
  if (one) t = ns;
  if (used > total) return WLE_ERR_ARG;
  for (int moved = 1; moved;) {
    uint64_t r = total - pinned, t0 = t;
    moved = 0;
    for (size_t i = 0; i < ns; i++)
      if (freq[i] == 2 && (hist[i] + one) * r < t0) {
        freq[i] = 1;
        pinned++;
        t -= hist[i];
        moved = 1;
      }
  }
  uint64_t r = total - pinned, c = 0, prev = 0; /* c r <= T 2^15 < 2^63 */
  for (size_t i = 0; i < ns; i++)
    if (freq[i] == 2) {
      c += hist[i] + one;
      uint64_t cum = c * r / t;
      freq[i] = (uint16_t)(cum - prev);
      prev = cum;
    }
  return WLE_OK;
}

int wle_table_build(const uint32_t *hist, int bits, int floor_one, uint16_t *freq) {
  if (!hist || !freq || bits < 2 || bits > 16 || (floor_one && bits > WLE_TABLE_BITS - 1)) return WLE_ERR_ARG;
  return normalise(hist, (size_t)1 << bits, floor_one, TOTAL, freq);
}

int wle_table_scaled(const uint32_t *hist, size_t ns, int scale_bits, uint16_t *freq) {
  if (!hist || !freq || ns < 1 || ns > 1u << 16 || scale_bits < 1 || scale_bits > WLE_TABLE_BITS) return WLE_ERR_ARG;
  return normalise(hist, ns, 0, 1u << scale_bits, freq);
}

/* WLE_TABLE header. A count h >= 1 is sent as a tiny float, c = 1 + (e << LOGQ_F) + f with
 * e = floor(log2 h) and f the LOGQ_F bits below the leading one; 2 mantissa bits keep each
 * reconstructed count within 12.5% (about 0.005 bits/symbol of mismatch) for ~3 header bits per
 * used symbol. Both sides build the table from the reconstructed counts. */
#define LOGQ_F 2
/* Counts are at most WLE_MAX_VALUES = 2^30, so e <= 30. */
#define LOGQ_MAX (1u + (30u << LOGQ_F) + ((1u << LOGQ_F) - 1))
/* Codes are sent as zigzag deltas from the previous used symbol's code (the first from 0). */
#define LOGQ_KMAX 8
_Static_assert(WLE_MAX_VALUES <= (size_t)1 << 30 && 2 * LOGQ_MAX < 1u << LOGQ_KMAX,
               "log codes and their deltas must fit io_uint's range");

static uint32_t logq(uint32_t h) {
  unsigned e = 31u - (unsigned)__builtin_clz(h);
  uint32_t f = (e >= LOGQ_F ? h >> (e - LOGQ_F) : h << (LOGQ_F - e)) & ((1u << LOGQ_F) - 1);
  return 1u + (e << LOGQ_F) + f;
}

/* Inverse of logq: exact when h had no more than LOGQ_F bits below its leading one, else the
 * middle of the interval of counts that share the code. 0 <=> c out of [1, LOGQ_MAX]. */
static uint32_t unlogq(uint32_t c) {
  if (c < 1 || c > LOGQ_MAX) return 0;
  unsigned e = (c - 1) >> LOGQ_F;
  uint64_t m = (1u << LOGQ_F) | ((c - 1) & ((1u << LOGQ_F) - 1)); /* 1.f in LOGQ_F fraction bits */
  if (e <= LOGQ_F) return (uint32_t)(m >> (LOGQ_F - e));
  return (uint32_t)(((2 * m + 1) << e) >> (LOGQ_F + 1)); /* < 2^(e+1) <= 2^31 */
}

/* Codes the used symbols: lo and hi (bits raw bits each), then for each used symbol from lo on its
 * log code (a zigzag delta from the previous one) and, up to hi, the gap to the next used symbol,
 * both with io_uint. hist (2^bits) holds the counts when encoding and receives the reconstructed
 * counts in both directions. At most 4 + used (WLE_HEADER_EVENTS) events. */
int wle_code_header(wle_io *io, uint32_t *hist, int bits, size_t *lo, size_t *hi) {
  size_t ns = (size_t)1 << bits;
  if (!io->dec) {
    size_t used = 0;
    for (size_t i = 0; i < ns; i++) used += hist[i] != 0;
    for (*lo = 0; !hist[*lo]; ++*lo) {}
    for (*hi = ns - 1; !hist[*hi]; --*hi) {}
    if (wle_io_reserve(io, 4 + used * WLE_HEADER_EVENTS(bits))) return io->err;
  }
  for (int j = 0; j < 2; j++) { /* lo, hi: each as two raw events of <= 8 bits */
    size_t *v = j ? hi : lo;
    unsigned b0 = (unsigned)bits / 2, b1 = (unsigned)bits - b0;
    uint32_t top = io_bits(io, (uint32_t)(*v >> b1), b0);
    *v = (size_t)top << b1 | io_bits(io, (uint32_t)(*v & ((1u << b1) - 1)), b1);
  }
  if (*lo > *hi) return WLE_ERR_CORRUPT;
  io_bit_model gcls[16], gman[17][IO_MAN_NODES], ccls[LOGQ_KMAX], cman[LOGQ_KMAX + 1][IO_MAN_NODES];
  io_bit_init(gcls, 16);
  io_bit_init(&gman[0][0], 17 * IO_MAN_NODES);
  io_bit_init(ccls, LOGQ_KMAX);
  io_bit_init(&cman[0][0], (LOGQ_KMAX + 1) * IO_MAN_NODES);
  uint32_t last = 0;
  for (size_t i = *lo;;) {
    uint32_t c = io->dec ? 0 : logq(hist[i]);
    uint32_t z = c >= last ? 2 * (c - last) : 2 * (last - c) - 1;
    z = io_uint(io, ccls, cman, LOGQ_KMAX, z);
    c = z & 1 ? last - (z + 1) / 2 : last + z / 2;
    if (!(hist[i] = unlogq(c))) return WLE_ERR_CORRUPT;
    last = c;
    if (i == *hi) return WLE_OK;
    size_t next = i + 1;
    while (!io->dec && !hist[next]) next++;
    next = i + 1 + io_uint(io, gcls, gman, (unsigned)bits, (uint32_t)(next - i - 1));
    if (next > *hi) return WLE_ERR_CORRUPT;
    i = next; /* the skipped counts are 0 already: absent when encoding, calloc when decoding */
  }
}

/* The 0th-order symbol loop: symbol s = v + 2^(bits-1) is the event [cum_s, cum_s + freq_s). */
static int code_symbols(wle_io *io, const uint16_t *freq, int bits, const int16_t *in, int16_t *out,
                        size_t n) {
  size_t ns = (size_t)1 << bits;
  int half = 1 << (bits - 1);
  uint32_t *ev = malloc(ns * sizeof *ev); /* start | freq << 16 per symbol */
  uint16_t *sym = io->dec ? malloc(TOTAL * sizeof *sym) : NULL; /* slot -> symbol */
  int rc = !ev || (io->dec && !sym) ? WLE_ERR_NOMEM : WLE_OK;
  if (!rc && !io->dec) rc = wle_io_reserve(io, n) ? io->err : WLE_OK;
  uint32_t cum = 0;
  for (size_t s = 0; s < ns && !rc; s++) {
    if (sym)
      for (uint32_t j = 0; j < freq[s]; j++) sym[cum + j] = (uint16_t)s;
    ev[s] = cum | (uint32_t)freq[s] << 16;
    cum += freq[s];
  }
  for (size_t i = 0; i < n && !rc; i++) {
    uint32_t s;
    if (io->dec) s = sym[rans_dec_get(&io->d, IO_SCALE)];
    else if (!(ev[s = (uint32_t)(in[i] + half)] >> 16)) { rc = WLE_ERR_ARG; break; }
    io_event(io, ev[s] & 0xffff, ev[s] >> 16);
    if (out) out[i] = (int16_t)((int)s - half);
  }
  free(ev);
  free(sym);
  return rc;
}

int wle_code_table(wle_io *io, int mode, const int16_t *in, int16_t *out, size_t n, int bits,
                   const uint16_t *freq) {
  size_t ns = (size_t)1 << bits;
  if (mode == WLE_STATIC) {
    uint32_t sum = 0;
    for (size_t s = 0; s < ns; s++) sum += freq[s];
    return sum == TOTAL ? code_symbols(io, freq, bits, in, out, n) : WLE_ERR_ARG;
  }
  uint32_t *hist = calloc(ns, sizeof *hist);
  uint16_t *tab = malloc(ns * sizeof *tab);
  size_t lo, hi;
  int rc = hist && tab ? WLE_OK : WLE_ERR_NOMEM;
  if (!rc && !io->dec)
    for (size_t i = 0; i < n; i++) hist[in[i] + (1 << (bits - 1))]++;
  if (!rc) rc = wle_code_header(io, hist, bits, &lo, &hi);
  if (!rc && lo == hi) { /* one symbol: nothing more to send */
    for (size_t i = 0; out && i < n; i++) out[i] = (int16_t)((int)lo - (1 << (bits - 1)));
  } else if (!rc) {
    rc = wle_table_build(hist, bits, 0, tab);
    if (rc) rc = io->dec ? WLE_ERR_CORRUPT : WLE_ERR_ARG; /* > 2^15 distinct symbols */
    else rc = code_symbols(io, tab, bits, in, out, n);
  }
  free(hist);
  free(tab);
  return rc;
}
