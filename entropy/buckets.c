/* Bucket tables (WLE_BUCKETS): a context mode made for decoding speed. Each value, or its residual
 * from the MED predictor (LOCO-I's median edge detector), is one event of a static table picked by
 * its activity bucket, the tables made from this plane and sent ahead of it (WLE_TABLE's header,
 * one per bucket used). Decoding a value is a table lookup and a rANS step: no adaptive models, no
 * blend. The activity is WLE_ADAPTIVE's, of the coded symbols and the previous channel. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "entropy/coder.h"
#include "entropy/entropy.h"

/* Buckets: the bit length of the activity, the last one from 2^(NB-2) up. Ten measured as well
 * as WLE_ADAPTIVE's eighteen on latents, each table costing its header. */
#define NB 10
/* Zero rows and columns around the planes, as context.c's, so that neighbours need no tests. */
#define PAD 2
/* Tables sum to 2^scale, scale <= MAX_SCALE (what a stream may say). The encoder's first try is
 * FIRST_SCALE or fewer bits: a decoder fills 2^scale entries of 8 bytes per table, and two planes'
 * tables of 2^9 decode from the first-level cache (on bench/latents.py 2^10 read 3% slower and
 * 2^12 9%, for 0.1% fewer bytes). */
#define MAX_SCALE 12
#define FIRST_SCALE 9
#define NO_TABLE 0xff /* table_of's mark of a bucket without one */
/* Variants: the symbols are the MED residuals (else the values); the tables hold |symbol| and a
 * raw bit the sign (else the symbol). */
enum { RESIDUAL = 1, FOLDED = 2 };

static inline unsigned bucket(uint32_t a) {
  unsigned b = 31u - (unsigned)__builtin_clz(2 * a + 1); /* the bit length of a (0 for 0); a < 2^20 */
  return b < NB ? b : NB - 1;
}

static inline int iabs(int v) { return v < 0 ? -v : v; }

static inline int wrap(int v, int bits) {
  int half = 1 << (bits - 1);
  return (int)((unsigned)(v + half) & ((1u << bits) - 1)) - half;
}

/* MED: the median of W, N and W + N - NW. */
static inline int med(const int16_t *v, ptrdiff_t ws) {
  int W = v[-1], N = v[-ws], NW = v[-ws - 1];
  int hi = W > N ? W : N, lo = W > N ? N : W;
  return NW >= hi ? lo : NW <= lo ? hi : W + N - NW;
}

/* The padded planes of a scan and its row sums. */
typedef struct {
  ptrdiff_t ws;
  int16_t *S, *V, *P; /* symbols, values (S itself without MED), |previous channel| */
  uint32_t *T;        /* wle_row_activity of the current row */
} planes;

static void planes_free(planes *pl, int16_t *buf) {
  free(buf);
  free(pl->T);
}

/* Zeroes the PAD rows and columns around plane q (h rows of stride ws, q at its pixel (0, 0)):
 * the scans write every pixel inside. */
static void zero_border(int16_t *q, int h, ptrdiff_t ws) {
  memset(q - PAD * ws - PAD, 0, sizeof *q * (size_t)(PAD * ws));
  memset(q + h * ws - PAD, 0, sizeof *q * (size_t)(PAD * ws));
  for (int y = 0; y < h; y++) {
    memset(q + y * ws - PAD, 0, sizeof *q * PAD);
    memset(q + y * ws + ws - 2 * PAD, 0, sizeof *q * PAD);
  }
}

/* Allocates the planes, their borders zero. Returns the buffer to free, or NULL. */
static int16_t *planes_alloc(planes *pl, int residual, int h, int w) {
  pl->ws = w + 2 * PAD;
  size_t np = (size_t)(h + 2 * PAD) * (size_t)pl->ws, o0 = PAD * (size_t)pl->ws + PAD;
  int16_t *buf = malloc(3 * np * sizeof *buf);
  pl->T = malloc(sizeof *pl->T * (size_t)w);
  if (!buf || !pl->T) {
    planes_free(pl, buf);
    return NULL;
  }
  pl->S = buf + o0;
  pl->P = buf + np + o0;
  pl->V = residual ? buf + 2 * np + o0 : pl->S;
  for (int i = 0; i < 3; i++) zero_border(buf + i * np + o0, h, pl->ws);
  return buf;
}

/* Rows y0 .. y1 - 1 of P from prev (w values a row; WLE_ADAPTIVE's measure: v for v >= 0,
 * -v - 1 below), or 0 without prev. */
static void prev_rows(planes *pl, const int16_t *prev, int y0, int y1, int w) {
  for (int y = y0; y < y1; y++) {
    int16_t *p = pl->P + y * pl->ws;
    const int16_t *v = prev ? prev + (size_t)y * (size_t)w : NULL;
    if (v)
#pragma omp simd
      for (int x = 0; x < w; x++) p[x] = (int16_t)(v[x] ^ (v[x] >> 15)); /* v, or ~v = -v - 1 */
    else
      memset(p, 0, sizeof *p * (size_t)w);
  }
}

/* The symbols of `in` for a variant (residual: from MED) into pl->S, its values into pl->V. */
static void symbols(planes *pl, int residual, const int16_t *in, int h, int w, int bits) {
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++) {
      ptrdiff_t o = y * pl->ws + x;
      pl->V[o] = in[(size_t)y * (size_t)w + (size_t)x];
      pl->S[o] = (int16_t)(residual ? wrap(pl->V[o] - med(pl->V + o, pl->ws), bits) : pl->V[o]);
    }
}

/* About the bits of a table's header (WLE_TABLE's): lo and hi, and 5 bits per used symbol
 * (measured on latents). */
static double header_bits(int bits, double used) { return 2 * bits + 1 + 5 * used; }

/* The bits of the symbols counted in hist (NB tables of 2^bits) under tables of scale `scale`,
 * made into freq, plus their headers'. -1 when a table has more than 2^scale
 * symbols. */
static double cost(const uint32_t *hist, int bits, int scale, uint16_t *freq) {
  const size_t ns = (size_t)1 << bits;
  double total = 0;
  for (int t = 0; t < NB; t++) {
    const uint32_t *ht = hist + t * ns;
    size_t n = 0, used = 0;
    for (size_t s = 0; s < ns; s++) n += ht[s], used += ht[s] != 0;
    if (!n) continue;
    if (wle_table_scaled(ht, ns, scale, freq + t * ns)) return -1;
    for (size_t s = 0; s < ns; s++)
      if (ht[s]) total += ht[s] * (scale - log2(freq[t * ns + s]));
    total += header_bits(bits, (double)used);
  }
  return total;
}

/* An entry of a decoder's slot table: the symbol (bits 0-15, two's complement), its event's start
 * (16-31) and frequency (32-47) at IO_SCALE (the table's shifted up by sh), and |symbol| (48-63).
 * One 64-bit word, so that filling a table is a run of equal words. */
typedef uint64_t entry;
static inline entry entry_make(int s, uint32_t start, uint32_t freq, int sh) {
  return (uint16_t)s | (uint64_t)(start << sh) << 16 | (uint64_t)(freq << sh) << 32 | (uint64_t)iabs(s) << 48;
}

/* The activity around a position: the row's sums T (wle_row_activity) and the magnitudes of the
 * two symbols to its left; its bucket. */
static inline uint32_t activity(const planes *pl, int x, unsigned aW, unsigned aWW) { return pl->T[x] + 2 * aW + aWW; }
static inline unsigned bucket_at(const planes *pl, int x, unsigned aW, unsigned aWW) {
  return bucket(activity(pl, x, aW, aWW));
}

/* The encoder's raster scan: each position's table k = table_of[its bucket], then, in the first
 * pass (hist), its symbol counted there (2^bits counts per table); else its event from the
 * tables freq and their starts cum (a FOLDED variant's |symbol|, then the sign as a raw bit). */
static void scan(wle_io *io, const planes *pl, int variant, int scale, uint32_t *hist, const uint16_t *freq,
                 const uint16_t *cum, const uint8_t *table_of, int h, int w, int bits) {
  const size_t ns = (size_t)1 << bits;
  const int half = 1 << (bits - 1), sh = IO_SCALE - scale, folded = variant & FOLDED;
  for (int y = 0; y < h; y++) {
    const int16_t *S = pl->S + y * pl->ws;
    wle_row_activity(pl->T, S, pl->P + y * pl->ws, pl->ws, w);
    unsigned aW = 0, aWW = 0; /* |the symbols to the left| */
    for (int x = 0; x < w; x++) {
      const unsigned k = table_of[bucket_at(pl, x, aW, aWW)], a = (unsigned)iabs(S[x]);
      if (hist) {
        hist[k * ns + (size_t)(S[x] + half)]++;
      } else {
        const size_t j = k * ns + (size_t)((folded ? (int)a : S[x]) + half);
        io_event(io, (uint32_t)cum[j] << sh, (uint32_t)freq[j] << sh);
        if (folded && S[x]) io_bits(io, S[x] < 0, 1);
      }
      aWW = aW;
      aW = a;
    }
  }
}

/* e[0 .. n) = v (a decoder fills 2^scale entries per table). */
static void fill(entry *e, entry v, uint32_t n) {
#pragma omp simd
  for (uint32_t j = 0; j < n; j++) e[j] = v;
}

/* Codes the tables: the variant (RESIDUAL, FOLDED), the scale, the runs of buckets that share a
 * table (table_of, given when encoding, numbered in order), then per table whether it is used and
 * its header.
 * hist (2^bits counts per table) is given when encoding; decoding reconstructs it, builds the
 * tables into freq and fills the slot tables *tab (malloc'd here, 2^scale entries per table).
 * Buckets of an unused table read the first used one. */
static int code_tables(wle_io *io, int *variant, int *scale, uint32_t *hist, uint16_t *freq, entry **tab,
                       uint8_t *table_of, int bits) {
  const size_t ns = (size_t)1 << bits;
  if (!io->dec && wle_io_reserve(io, 1 + 2 * NB)) return io->err;
  *variant = (int)io_bits(io, (uint32_t)*variant, 2);
  *scale = (int)io_bits(io, (uint32_t)*scale - 1, 4) + 1;
  if (*scale > MAX_SCALE) return WLE_ERR_CORRUPT;
  int nt = 0;
  for (int k = 0; k < NB; k++) { /* whether bucket k starts a run of its own */
    nt += k == 0 || io_bits(io, table_of[k] != table_of[k - 1], 1);
    table_of[k] = (uint8_t)(nt - 1);
  }
  if (io->dec && !(*tab = malloc(sizeof **tab * ((size_t)nt << *scale)))) return WLE_ERR_NOMEM;
  for (int t = 0; t < nt; t++) {
    uint32_t *ht = hist + t * ns;
    size_t n = 0, lo, hi;
    for (size_t s = 0; s < ns && !io->dec; s++) n += ht[s];
    if (!io_bits(io, n != 0, 1)) {
      for (int k = 0; k < NB; k++) table_of[k] = table_of[k] == t ? NO_TABLE : table_of[k];
      continue;
    }
    int rc = wle_code_header(io, ht, bits, &lo, &hi);
    if (rc || !io->dec) {
      if (rc) return rc;
      continue;
    }
    if (wle_table_scaled(ht + lo, hi - lo + 1, *scale, freq + t * ns + lo)) return WLE_ERR_CORRUPT;
    entry *e = *tab + ((size_t)t << *scale);
    uint32_t cum = 0;
    for (size_t s = lo; s <= hi; s++) {
      const uint32_t f = freq[t * ns + s];
      const entry v = entry_make((int)s - (1 << (bits - 1)), cum, f, IO_SCALE - *scale);
      fill(e + cum, v, f);
      cum += f;
    }
  }
  /* A bucket without a table, which no encoder writes (its values would have made one), reads
   * the first table: a corrupt stream then decodes to wrong values, never out of memory. */
  uint8_t first = NO_TABLE;
  for (int k = 0; k < NB && first == NO_TABLE; k++) first = table_of[k];
  if (first == NO_TABLE) return WLE_ERR_CORRUPT; /* no table: no plane is empty */
  for (int k = 0; k < NB; k++) table_of[k] = table_of[k] == NO_TABLE ? first : table_of[k];
  return WLE_OK;
}

/* The bits of a table's counts h (2^bits) under their own frequencies, plus its header's; 0 for
 * no counts. */
static double table_bits(const uint32_t *h, int bits) {
  const size_t ns = (size_t)1 << bits;
  double n = 0, e = 0, used = 0;
  for (size_t s = 0; s < ns; s++) n += h[s], used += h[s] != 0;
  for (size_t s = 0; s < ns && n; s++)
    if (h[s]) e -= h[s] * log2(h[s] / n);
  return n ? e + header_bits(bits, used) : 0;
}

/* Runs of neighbouring buckets share a table where that saves bits, each table's header costing
 * more than a small difference of distributions does: greedily the pair of neighbouring runs
 * whose merge saves most is merged, while one saves. hist holds NB tables' counts (2^bits each),
 * one per bucket, and receives the runs' in its first tables (the rest zero); table_of[k]
 * receives bucket k's. Returns WLE_OK or WLE_ERR_NOMEM. */
static int merge(uint32_t *hist, int bits, uint8_t *table_of) {
  const size_t ns = (size_t)1 << bits;
  uint32_t *sum = malloc(ns * sizeof *sum);
  if (!sum) return WLE_ERR_NOMEM;
  for (int k = 0; k < NB; k++) table_of[k] = (uint8_t)k;
  for (int nt = NB;;) {
    double gain = 0;
    int best = -1;
    for (int t = 0; t + 1 < nt; t++) {
      for (size_t s = 0; s < ns; s++) sum[s] = hist[t * ns + s] + hist[(t + 1) * ns + s];
      double g = table_bits(hist + t * ns, bits) + table_bits(hist + (t + 1) * ns, bits) - table_bits(sum, bits);
      if (g > gain) {
        gain = g;
        best = t;
      }
    }
    if (best < 0) break;
    for (size_t s = 0; s < ns; s++) hist[best * ns + s] += hist[(best + 1) * ns + s];
    memmove(hist + (best + 1) * ns, hist + (best + 2) * ns, (size_t)(nt - best - 2) * ns * sizeof *hist);
    memset(hist + (nt - 1) * ns, 0, ns * sizeof *hist);
    for (int k = 0; k < NB; k++) table_of[k] = (uint8_t)(table_of[k] - (table_of[k] > best));
    nt--;
  }
  free(sum);
  return WLE_OK;
}

/* The scale of the tables first tried for a plane of n values: finer for more values, whose
 * decoding repays the filling of finer slot tables. */
static int first_scale(size_t n) {
  int b = 64 - __builtin_clzll((unsigned long long)n | 1) - 2; /* n / 2 slots, or fewer */
  return b < 8 ? 8 : b > FIRST_SCALE ? FIRST_SCALE : b;
}

/* |s| counts from the counts of s (NB tables of 2^bits), into f; 0 when some s is -2^(bits-1),
 * whose magnitude has no symbol. */
static int fold(const uint32_t *h, int bits, uint32_t *f) {
  const size_t ns = (size_t)1 << bits, half = ns / 2;
  memset(f, 0, NB * ns * sizeof *f);
  for (size_t t = 0; t < NB; t++) {
    if (h[t * ns]) return 0;
    for (size_t s = 1; s < ns; s++) f[t * ns + (s < half ? ns - s : s)] += h[t * ns + s];
  }
  return 1;
}

/* The four variants counted, tables merged and costed; the cheapest coded. */
static int encode(wle_io *io, const int16_t *in, const int16_t *prev, int h, int w, int bits) {
  const size_t n = (size_t)h * (size_t)w, ns = (size_t)1 << bits, tables = NB * ns;
  planes pl[2] = {{0}};
  int16_t *buf[2] = {NULL, NULL};
  uint32_t *hist = calloc(4 * tables, sizeof *hist);
  uint16_t *freq = malloc(4 * tables * sizeof *freq), *cum = malloc(tables * sizeof *cum);
  int rc = hist && freq && cum ? WLE_OK : WLE_ERR_NOMEM, pick = -1, scale[4];
  uint8_t table_of[4][NB];
  static const uint8_t each[NB] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
  double best = 0;
  int folds[2] = {0, 0};
  for (int r = 0; r < 2 && !rc; r++) { /* the symbols and their counts; the FOLDED variants' from them */
    if (!(buf[r] = planes_alloc(&pl[r], r, h, w))) {
      rc = WLE_ERR_NOMEM;
      break;
    }
    prev_rows(&pl[r], prev, 0, h, w);
    symbols(&pl[r], r, in, h, w, bits);
    scan(io, &pl[r], r, 1, hist + r * tables, NULL, NULL, each, h, w, bits);
    folds[r] = fold(hist + r * tables, bits, hist + (r | FOLDED) * tables);
  }
  for (int v = 0; v < 4 && !rc; v++) {
    uint32_t *hv = hist + v * tables;
    if ((v & FOLDED && !folds[v & RESIDUAL]) || (rc = merge(hv, bits, table_of[v]))) continue;
    double c;
    for (scale[v] = first_scale(n); (c = cost(hv, bits, scale[v], freq + v * tables)) < 0 && scale[v] < MAX_SCALE;)
      scale[v]++;
    for (size_t j = 0; v & FOLDED && j < tables; j++) c += j % ns > ns / 2 ? hv[j] : 0; /* the signs */
    if (c >= 0 && (pick < 0 || c < best)) {
      pick = v;
      best = c;
    }
  }
  if (!rc && pick < 0) rc = WLE_ERR_ARG; /* a bucket of more than 2^MAX_SCALE distinct symbols */
  if (!rc) rc = code_tables(io, &pick, &scale[pick], hist + pick * tables, NULL, NULL, table_of[pick], bits);
  if (!rc) { /* the tables again, from the counts as the header sent them */
    const uint32_t *hp = hist + pick * tables;
    uint16_t *f = freq + pick * tables;
    for (int k = 0; k < NB; k++) /* each fits, as with the counts; an empty one is refused, never read */
      wle_table_scaled(hp + k * ns, ns, scale[pick], f + k * ns);
    for (size_t j = 0; j < tables; j++) cum[j] = (uint16_t)(j % ns ? cum[j - 1] + f[j - 1] : 0);
    if (wle_io_reserve(io, 2 * n)) rc = io->err;
    else scan(io, &pl[pick & RESIDUAL], pick, scale[pick], NULL, f, cum, table_of[pick], h, w, bits);
  }
  for (int r = 0; r < 2; r++) planes_free(&pl[r], buf[r]);
  free(hist);
  free(freq);
  free(cum);
  return rc;
}

/* A decoder of one plane: its coder, tables and planes, and where its scan stands. */
typedef struct {
  wle_io io;
  planes pl;
  int16_t *buf, *out;  /* the planes' memory; the decoded values */
  const int16_t *prev; /* the previous channel's values (NULL: none), read a row ahead (made) */
  entry *tab;
  /* The table of each bit length of the activity (bucket(a) is min(bit length, NB - 1)), so that
   * the bit length indexes it: a < 2^20, so at most 21. */
  const entry *by_length[32];
  uint8_t table_of[NB];
  int variant, scale, h, w, bits, made;
  int16_t *S, *V; /* the current row of pl.S and pl.V */
  unsigned aW, aWW; /* |the symbols to the left| */
} reader;

/* Reads the tables of the stream on io (copied in) and makes the planes. */
static int reader_open(reader *r, const wle_io *io, const int16_t *prev, int16_t *out, int h, int w, int bits) {
  memset(r, 0, sizeof *r);
  r->io = *io;
  r->prev = prev;
  r->out = out;
  r->h = h;
  r->w = w;
  r->bits = bits;
  const size_t ns = (size_t)1 << bits;
  uint32_t *hist = calloc(NB * ns, sizeof *hist);
  uint16_t *freq = malloc(NB * ns * sizeof *freq);
  int rc = hist && freq ? code_tables(&r->io, &r->variant, &r->scale, hist, freq, &r->tab, r->table_of, bits)
                        : WLE_ERR_NOMEM;
  free(hist);
  free(freq);
  if (!rc && !(r->buf = planes_alloc(&r->pl, r->variant & RESIDUAL, h, w))) rc = WLE_ERR_NOMEM;
  for (int b = 0; b < 32 && !rc; b++) r->by_length[b] = r->tab + ((size_t)r->table_of[b < NB ? b : NB - 1] << r->scale);
  return rc;
}

/* Frees r, its coder copied back to io; returns rc. */
static int reader_close(reader *r, wle_io *io, int rc) {
  planes_free(&r->pl, r->buf);
  free(r->tab);
  *io = r->io;
  return rc;
}

/* Starts row y: the previous channel's rows that its activity reads (one below: a plane decoded
 * beside this one has made them), the sums from the rows above. */
static inline void reader_row(reader *r, int y) {
  const int upto = y + 2 < r->h ? y + 2 : r->h;
  prev_rows(&r->pl, r->prev, r->made, upto, r->w);
  r->made = upto > r->made ? upto : r->made;
  wle_row_activity(r->pl.T, r->pl.S + y * r->pl.ws, r->pl.P + y * r->pl.ws, r->pl.ws, r->w);
  r->S = r->pl.S + y * r->pl.ws;
  r->V = r->pl.V + y * r->pl.ws;
  r->aW = r->aWW = 0;
}

/* Ends row y: its values to the output. */
static inline void reader_row_end(reader *r, int y) {
  memcpy(r->out + (size_t)y * (size_t)r->w, r->V, sizeof *r->V * (size_t)r->w);
}

/* Decodes position x of the current row: a slot lookup in the table of its bucket and a rANS step (a FOLDED
 * variant's sign a raw bit more), the value from the symbol (RESIDUAL: plus MED). */
IO_INLINE void reader_at(reader *r, int variant, int x) {
  int16_t *S = r->S, *V = r->V;
  const int sh = IO_SCALE - r->scale;
  const uint32_t a = activity(&r->pl, x, r->aW, r->aWW);
  const entry e = r->by_length[31 ^ __builtin_clz(2 * a + 1)][rans_dec_get(&r->io.d, IO_SCALE) >> sh];
  io_event(&r->io, (uint32_t)(e >> 16 & 0xffff), (uint32_t)(e >> 32 & 0xffff));
  int s = (int16_t)(uint16_t)e;
  if (variant & FOLDED && s && rans_dec_bit(&r->io.d, IO_SCALE)) s = -s; /* io_bits(io, 0, 1) */
  S[x] = (int16_t)s;
  if (variant & RESIDUAL) V[x] = (int16_t)wrap(med(V + x, r->pl.ws) + s, r->bits);
  r->aWW = r->aW;
  r->aW = (unsigned)(e >> 48);
}

/* Rows y0 .. y1 - 1 of one plane; inlined, with the variant constant where it is. */
IO_INLINE void reader_rows(reader *r, int variant, int y0, int y1) {
  for (int y = y0; y < y1; y++) {
    reader_row(r, y);
    for (int x = 0; x < r->w; x++) reader_at(r, variant, x);
    reader_row_end(r, y);
  }
}

/* One copy per variant, the reader in registers (a local copy whose io.dec the compiler knows). */
static void reader_scan(reader *r) {
  reader c = *r;
  c.io.dec = 1;
  switch (c.variant) {
  case 0: reader_rows(&c, 0, 0, c.h); break;
  case RESIDUAL: reader_rows(&c, RESIDUAL, 0, c.h); break;
  case FOLDED: reader_rows(&c, FOLDED, 0, c.h); break;
  default: reader_rows(&c, RESIDUAL | FOLDED, 0, c.h);
  }
  *r = c;
}

/* Two planes of neighbouring channels, b's previous channel a's output: b runs LAG rows behind
 * a, each of its rows interleaved position by position with one of a's, so that a has made
 * every row of prev that b's activity reads (one below its own). Decoding a position is a chain
 * of dependent steps (the slot, the table's entry, the state, the next bucket); two independent
 * chains keep one core busier than one (7% less time on bench/latents.py). */
#define LAG 2
IO_INLINE void pair_rows(reader *ra, reader *rb, int va, int vb) {
  reader a = *ra, b = *rb;
  a.io.dec = b.io.dec = 1;
  const int h = a.h, lead = h < LAG ? h : LAG;
  reader_rows(&a, va, 0, lead);
  for (int y = lead; y < h; y++) {
    reader_row(&a, y);
    reader_row(&b, y - LAG);
    for (int x = 0; x < a.w; x++) {
      reader_at(&a, va, x);
      reader_at(&b, vb, x);
    }
    reader_row_end(&a, y);
    reader_row_end(&b, y - LAG);
  }
  reader_rows(&b, vb, h - lead, h);
  *ra = a;
  *rb = b;
}

/* One copy per pair of variants, each constant in its copy (on bench/latents.py 9% less time
 * than the variants tested per position; 16 copies of about 3.7 KB). */
static void reader_pair(reader *a, reader *b) {
#define PAIR(va, vb) \
  case (va) * 4 + (vb): pair_rows(a, b, va, vb); break;
#define PAIRS(va) PAIR(va, 0) PAIR(va, 1) PAIR(va, 2) PAIR(va, 3)
  switch (a->variant * 4 + b->variant) {
    PAIRS(0)
    PAIRS(1)
    PAIRS(2)
    PAIRS(3)
  }
#undef PAIRS
#undef PAIR
}

static int decode(wle_io *io, int16_t *out, const int16_t *prev, int h, int w, int bits) {
  reader r;
  int rc = reader_open(&r, io, prev, out, h, w, bits);
  if (!rc) reader_scan(&r);
  return reader_close(&r, io, rc);
}

int wle_decode_buckets_pair(wle_io *a, wle_io *b, const int16_t *prev, int16_t *out, int h, int w, int bits) {
  reader ra, rb;
  int rc = reader_open(&ra, a, prev, out, h, w, bits);
  int rb_rc = rc ? rc : reader_open(&rb, b, out, out + (size_t)h * (size_t)w, h, w, bits);
  if (!rb_rc) reader_pair(&ra, &rb);
  if (!rc) reader_close(&rb, b, rb_rc);
  return reader_close(&ra, a, rc ? rc : rb_rc);
}

int wle_code_buckets(wle_io *io, const int16_t *in, int16_t *out, const int16_t *prev, int h, int w, int bits) {
  return io->dec ? decode(io, out, prev, h, w, bits) : encode(io, in, prev, h, w, bits);
}
