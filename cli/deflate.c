/* deflate.c: see deflate.h. The format is RFC 1950 (zlib) around RFC 1951 (deflate). */
#include "cli/deflate.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define LITLEN 286 /* literal/length symbols: 256 bytes, the end of a block, 29 lengths */
#define END 256
#define MAXBITS 15
#define RUN_MIN 4
#define RUN_MAX 258

/* Lengths 3 .. 258: symbol 257 + s covers len_base[s] and len_extra[s] bits above it. */
static const uint16_t len_base[29] = {3,  4,  5,  6,  7,  8,  9,  10, 11,  13,  15,  17,  19,  23, 27,
                                      31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258};
static const uint8_t len_extra[29] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
/* The order in which a block's header gives the code lengths' own code lengths. */
static const uint8_t cl_order[19] = {16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15};

void zl_init(zl_stream *z, int head, int last) {
  memset(z, 0, sizeof *z);
  z->last = last, z->adler = 1;
  if (head) z->acc = 0x78 | 0x01 << 8, z->nacc = 16; /* deflate, 32 KiB window, fastest; the check */
}

void zl_free(zl_stream *z) {
  free(z->buf);
  z->buf = NULL, z->len = z->cap = 0;
}

static int reserve(zl_stream *z, size_t more) {
  if (z->cap - z->len >= more) return 0;
  const size_t cap = z->cap * 2 > z->len + more ? z->cap * 2 : z->len + more;
  uint8_t *b = realloc(z->buf, cap);
  if (!b) return -1;
  z->buf = b, z->cap = cap;
  return 0;
}

/* n <= 32 bits, then every whole byte out (the caller reserved room). */
static void put(zl_stream *z, uint32_t bits, int n) {
  z->acc |= (uint64_t)bits << z->nacc;
  for (z->nacc += n; z->nacc >= 8; z->nacc -= 8) z->buf[z->len++] = (uint8_t)z->acc, z->acc >>= 8;
}

/* To the next whole byte. */
static void pad(zl_stream *z) { put(z, 0, (8 - z->nacc % 8) % 8); }

/* A length-limited Huffman code for freq[0 .. n) (n <= LITLEN): len[i] its lengths, 0 for
 * symbols unused, at least two symbols coded. Huffman's lengths (two queues over the leaves in
 * order of frequency); leaves deeper than limit are lifted and the code made complete again one
 * leaf at a time (as miniz does), the rarest symbols taking the longest codes. */
static void code_lengths(const uint32_t *freq, int n, int limit, uint8_t *len) {
  uint64_t key[LITLEN], w[2 * LITLEN];
  int parent[2 * LITLEN], depth[2 * LITLEN], count[2 * LITLEN] = {0}, m = 0;
  for (int i = 0; i < n; i++)
    if (freq[i]) key[m++] = (uint64_t)freq[i] << 16 | (unsigned)i;
  for (int i = 0; m < 2; i++)
    if (!freq[i]) key[m++] = (unsigned)i;
  for (int i = 1; i < m; i++) /* insertion sort: at most 286 keys, once a block */
    for (int j = i; j > 0 && key[j - 1] > key[j]; j--) {
      const uint64_t t = key[j];
      key[j] = key[j - 1], key[j - 1] = t;
    }
  for (int i = 0; i < m; i++) w[i] = key[i] >> 16;
  for (int leaf = 0, node = m, next = m; next < 2 * m - 1; next++) {
    int pick[2];
    for (int k = 0; k < 2; k++) pick[k] = leaf < m && (node == next || w[leaf] <= w[node]) ? leaf++ : node++;
    w[next] = w[pick[0]] + w[pick[1]];
    parent[pick[0]] = parent[pick[1]] = next;
  }
  depth[2 * m - 2] = 0;
  for (int i = 2 * m - 3; i >= 0; i--) depth[i] = depth[parent[i]] + 1;
  for (int i = 0; i < m; i++) count[depth[i] < limit ? depth[i] : limit]++;
  uint32_t kraft = 0;
  for (int b = 1; b <= limit; b++) kraft += (uint32_t)count[b] << (limit - b);
  for (; kraft > 1u << limit; kraft--) { /* a leaf at the limit goes, a shallower one splits */
    count[limit]--;
    for (int b = limit - 1; b > 0; b--)
      if (count[b]) {
        count[b]--, count[b + 1] += 2;
        break;
      }
  }
  memset(len, 0, (size_t)n);
  for (int b = limit, k = 0; b >= 1; b--)
    for (int c = count[b]; c > 0; c--) len[key[k++] & 0xffff] = (uint8_t)b;
}

/* The canonical codes of len[0 .. n), bit-reversed: deflate sends a code's first bit first. */
static void codes(const uint8_t *len, int n, uint32_t *code) {
  uint32_t count[MAXBITS + 1] = {0}, next[MAXBITS + 1], c = 0;
  for (int i = 0; i < n; i++) count[len[i]]++;
  count[0] = 0;
  for (int b = 1; b <= MAXBITS; b++) next[b] = c = (c + count[b - 1]) << 1;
  for (int i = 0; i < n; i++) {
    uint32_t v = len[i] ? next[len[i]]++ : 0, r = 0;
    for (int b = 0; b < len[i]; b++, v >>= 1) r = r << 1 | (v & 1);
    code[i] = r;
  }
}

/* The run at in[i]: 0, or RUN_MIN .. RUN_MAX copies of the byte before it (rep: it 4 times). */
static inline size_t run_at(const uint8_t *in, size_t i, size_t n, uint32_t rep) {
  uint32_t v;
  if (n - i < RUN_MIN) return 0;
  memcpy(&v, in + i, 4);
  if (v != rep) return 0;
  size_t r = RUN_MIN;
  const size_t most = n - i < RUN_MAX ? n - i : RUN_MAX;
  while (r < most && in[i + r] == (uint8_t)rep) r++;
  return r;
}

static inline void store64le(uint8_t *o, uint64_t a) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  memcpy(o, &a, 8);
#else
  for (int b = 0; b < 8; b++) o[b] = (uint8_t)(a >> 8 * b);
#endif
}

typedef struct {
  uint32_t lit[256], run[RUN_MAX + 1]; /* codes: a byte; a run's length symbol, extra bits, distance */
  uint8_t nlit[256], nrun[RUN_MAX + 1];
} table;

/* The symbols of in[0 .. n) after the byte last (-1: none): counted into freq, or with t
 * written from o on (bits held in *acc, *nacc of them); returns where writing ended. */
static inline __attribute__((always_inline)) uint8_t *walk(const uint8_t *in, size_t n, int last, uint32_t *freq,
                                                           const uint8_t *lsym, const table *t, uint8_t *o,
                                                           uint64_t *acc, int *nacc) {
  uint64_t a = t ? *acc : 0;
  int k = t ? *nacc : 0;
  size_t i = 0;
  uint32_t rep = (uint32_t)(last < 0 ? in[i++] : last) * 0x01010101u;
  if (last < 0) {
    if (t) a |= (uint64_t)t->lit[in[0]] << k, k += t->nlit[in[0]];
    else freq[in[0]]++;
  }
  while (i < n) {
    const size_t r = run_at(in, i, n, rep);
    if (r) {
      if (t) a |= (uint64_t)t->run[r] << k, k += t->nrun[r];
      else freq[257 + lsym[r]]++;
      i += r;
    } else {
      const uint8_t v = in[i++];
      if (t) a |= (uint64_t)t->lit[v] << k, k += t->nlit[v];
      else freq[v]++;
      rep = v * 0x01010101u;
    }
    if (t) { /* the whole bytes out, without a branch: k < 8 + 21 bits a symbol <= 64 */
      store64le(o, a);
      o += k >> 3, a >>= k & ~7, k &= 7;
    }
  }
  if (t) *acc = a, *nacc = k;
  return o;
}

int zl_block(zl_stream *z, const uint8_t *in, size_t n) {
  uint8_t lsym[RUN_MAX + 1] = {0}, len[LITLEN + 2], cllen[19];
  uint32_t freq[LITLEN] = {0}, code[LITLEN], clfreq[19] = {0}, clcode[19];
  if (reserve(z, 2 * n + 512)) return -1; /* a byte's code is at most 15 bits; the header under 300 bytes; 8 bytes stored at a time */
  for (int s = 0; s < 29; s++)
    for (int r = len_base[s]; r < len_base[s] + (1 << len_extra[s]) && r <= RUN_MAX; r++) lsym[r] = (uint8_t)s;
  lsym[RUN_MAX] = 28;
  walk(in, n, z->last, freq, lsym, NULL, NULL, NULL, NULL);
  freq[END] = 1;
  code_lengths(freq, LITLEN, MAXBITS, len);
  codes(len, LITLEN, code);
  int hlit = LITLEN;
  while (hlit > 257 && !len[hlit - 1]) hlit--;
  len[hlit] = len[hlit + 1] = 1; /* two distance codes of 1 bit: 0 (distance 1) is the one used */
  for (int i = 0; i < hlit + 2; i++) clfreq[len[i]]++;
  code_lengths(clfreq, 19, 7, cllen);
  codes(cllen, 19, clcode);
  int hclen = 19;
  while (hclen > 4 && !cllen[cl_order[hclen - 1]]) hclen--;
  put(z, 2 << 1, 3); /* not final, dynamic Huffman */
  put(z, (uint32_t)(hlit - 257), 5);
  put(z, 2 - 1, 5);
  put(z, (uint32_t)(hclen - 4), 4);
  for (int i = 0; i < hclen; i++) put(z, cllen[cl_order[i]], 3);
  for (int i = 0; i < hlit + 2; i++) put(z, clcode[len[i]], cllen[len[i]]);
  table t;
  for (int v = 0; v < 256; v++) t.lit[v] = code[v], t.nlit[v] = len[v];
  for (int r = RUN_MIN; r <= RUN_MAX; r++) {
    const int s = lsym[r], sym = 257 + s, ne = len_extra[s];
    t.run[r] = code[sym] | (uint32_t)(r - len_base[s]) << len[sym]; /* then distance code 0: a 0 bit */
    t.nrun[r] = (uint8_t)(len[sym] + ne + 1);
  }
  uint8_t *o = walk(in, n, z->last, NULL, lsym, &t, z->buf + z->len, &z->acc, &z->nacc);
  z->len = (size_t)(o - z->buf);
  put(z, code[END], len[END]);
  z->last = in[n - 1];
  z->adler = (uint32_t)adler32_z(z->adler, in, n);
  return 0;
}

int zl_align(zl_stream *z) {
  if (!z->nacc) return 0; /* on a whole byte already (put() keeps fewer than 8 bits) */
  if (reserve(z, 16)) return -1;
  put(z, 0, 3); /* not final, stored */
  pad(z);
  put(z, 0, 16);
  put(z, 0xffff, 16);
  return 0;
}

int zl_finish(zl_stream *z, uint32_t adler) {
  if (reserve(z, 16)) return -1;
  put(z, 1 | 1 << 1, 3); /* final, fixed codes */
  put(z, 0, 7);          /* the end of the block */
  pad(z);
  for (int b = 3; b >= 0; b--) put(z, adler >> 8 * b & 0xff, 8);
  return 0;
}
