/* container.c: the .wlc layouts, little-endian. Images are one block (version 1):
 *   0  "WLOC" magic          4  u8 version 1   5  u8 modality 1   6 u8 J   7 u8 B
 *   8  u64 model id (FNV-1a 64 of the .wlm bytes)
 *  16  u32 height   20  u32 width   24  u16 channels   26  u8 depth (8|16)   27  u8 flags (bit 0: alpha)
 *  28  u16 K       30 u16 keep   32 u32 alpha bytes
 *  36  keep x { u8 entropy mode, u32 stream bytes }
 *  then the zstd alpha plane, the keep channel streams in order, and a u32 CRC-32 of all
 *  bytes before it. J is 1..6 (2-D packets, latent planes (H/2^J, W/2^J), sizes rounded up).
 * Version 3 is version 1 with a detail layer (detail.c): after the keep entries its table,
 *   u16 step index s (1 .. WL_MAX_STEP), u32 n planes (at most C 4^J), then per plane a u8,
 *   entropy mode (table, adaptive or predictive) | (bits - 2) << 2 with its values' bits
 *   (2 .. 16), or 0xff: all zero, no stream; and, unless zero,
 *   its stream bytes as a LEB128 varint (1 .. the bound of a 16-bit plane, shortest spelling),
 * and the n planes' streams after the latents'. Version 5 has the layout of version 3; its
 * detail layer refines the decoder network's packets split to level J, where version 3's refined
 * the packets of the decoded samples (synthesis.c; both are read, version 5 is written). An
 * encode without a detail layer writes version 1.
 *
 * Audio is a stream of records (version 2), written and read one at a time, so neither side
 * holds more than a chunk, and the length need not be known before the end:
 *   file header, 40 bytes: bytes 0..15, 24..31 as above with version 2, modality 2, J 1..10 and
 *  16  u32 sample rate (1 .. 2^31 - 1 Hz)   20  u32 chunk length L (frames)
 *  26  u8 depth (8|16|24|32)   27 u8 flags (0)   32  u32 overlap O (frames)   36  u32 CRC-32 of bytes 0..35
 *   chunk records, i = 0, 1, 2 ...:
 *   0  u8 'C'   1  u8 flags (bit 0: the last chunk)   2  u32 index i   6  u32 n, frames of the span
 *  10  keep x { u8 entropy mode, u32 stream bytes }, the keep streams of its latent planes
 *      (1, ceil(n / 2^J)), and a u32 CRC-32 of the record's bytes before it
 *   end record, 14 bytes:
 *   0  u8 'E'   1  u8 flags (0)   2  u64 frames T   10  u32 CRC-32 of every byte of the file before it
 * Version 4 is version 2 with flags (byte 27): bit 0, a band envelope (envelope.c; the
 * default); bit 1, detail layers (detail.c). With detail layers each chunk record's head has,
 * after its n, a u16 step (0: none in this chunk, 1 .. WL_MAX_STEP) and a u32 count of the
 * layer's bytes (its table as in version 3, then its streams; 0 with step 0), and the layer
 * follows the latent streams. With an envelope the keep entries are followed by C more, { u8
 * entropy mode (table, adaptive or predictive), u32 bytes } per signal channel, and their C
 * streams come last: channel c's envelope values, a plane of (frames touching the span, bands)
 * of WL_ENV_BITS bits coded with channel c - 1's plane as context. Version 2 is written when
 * neither is there (wl_encode_opts.nofill, no step).
 * Chunk i codes the signal's frames [s_i, s_i + n): s_0 = 0, s_i = i L - O; every chunk but the
 * last has n = L + O (i = 0) or L + 2 O, so neighbours share 2 O frames (audio_decode.c cross-fades
 * them); the last has 1 <= n <= L + O (i = 0) or 2 O < n <= L + 2 O, and T = s_i + n. L and O
 * are multiples of 2^J, O <= L <= WL_MAX_CHUNK, channels * (L + 2 O) <= WL_MAX_SAMPLES, T at
 * most WL_MAX_STREAM_FRAMES. Image files keep version 1; audio files of version 1 (one block,
 * before streaming) are refused as an unsupported version. Every field is checked against the
 * limits in walloc.h before it sizes anything. */
#include <string.h>
#include "codec/internal.h"
#include "codec/container.h"
#include "codec/detail.h"
#include "codec/envelope.h"
#include "entropy/entropy.h"

/* Fuzzing builds (libFuzzer's FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION) take any checksum, so
 * that mutated inputs reach the fields and streams behind it. */
static int crc_ok(uint32_t computed, uint32_t stored) {
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
  (void)computed;
  (void)stored;
  return 1;
#else
  return computed == stored;
#endif
}

static const uint8_t magic[4] = {'W', 'L', 'O', 'C'};

size_t wl_header_size(int keep) { return WL_HDR_FIXED + 5 * (size_t)keep; }

static void write_table(const wl_header *h, uint8_t *p) {
  for (int c = 0; c < h->keep; c++) {
    p[5 * c] = h->entropy[c];
    wl_put32(p + 5 * c + 1, h->stream_len[c]);
  }
}

/* Bytes 0..35 of either layout; the modality's own fields at 16, 20, 27 and 32. */
static void write_fixed(const wl_header *h, uint8_t *p, uint32_t a, uint32_t b, int flags, uint32_t c) {
  memcpy(p, magic, 4);
  p[4] = (uint8_t)(h->modality == WL_MODALITY_AUDIO ? h->fill || h->has_detail ? WL_FORMAT_VERSION_FILL : WL_FORMAT_VERSION_AUDIO
                   : h->step ? WL_FORMAT_VERSION_SPLIT : WL_FORMAT_VERSION);
  p[5] = (uint8_t)h->modality;
  p[6] = (uint8_t)h->J;
  p[7] = (uint8_t)h->bits;
  wl_put64(p + 8, h->model_id);
  wl_put32(p + 16, a);
  wl_put32(p + 20, b);
  wl_put16(p + 24, (uint32_t)h->channels);
  p[26] = (uint8_t)h->depth;
  p[27] = (uint8_t)flags;
  wl_put16(p + 28, (uint32_t)h->K);
  wl_put16(p + 30, (uint32_t)h->keep);
  wl_put32(p + 32, c);
}

void wl_header_write(const wl_header *h, uint8_t *p) {
  write_fixed(h, p, (uint32_t)h->height, (uint32_t)h->width, h->has_alpha ? 1 : 0, h->alpha_len);
  write_table(h, p + WL_HDR_FIXED);
}

void wl_audio_header_write(const wl_header *h, uint8_t *p) {
  write_fixed(h, p, (uint32_t)h->rate, (uint32_t)h->chunk, (h->fill ? 1 : 0) | (h->has_detail ? 2 : 0), (uint32_t)h->overlap);
  wl_put32(p + 36, wl_crc32(0, p, 36));
}

int64_t wl_chunk_start(const wl_header *f, uint32_t i) { return i ? (int64_t)i * f->chunk - f->overlap : 0; }
long wl_chunk_span(const wl_header *f, uint32_t i) { return f->chunk + (i ? 2 : 1) * f->overlap; }

/* Bytes of a chunk head before its keep entries: the fixed part and, with detail layers, the
 * step and the layer's bytes. */
static size_t chunk_fixed(const wl_header *f) { return WL_CHUNK_FIXED + (f->has_detail ? 6 : 0); }

size_t wl_chunk_table_size(const wl_header *f) {
  return chunk_fixed(f) + 5 * ((size_t)f->keep + (f->fill ? (size_t)f->channels : 0));
}

size_t wl_chunk_head_write(const wl_header *ch, uint32_t index, int last, uint8_t *p) {
  p[0] = WL_TAG_CHUNK;
  p[1] = (uint8_t)(last ? 1 : 0);
  wl_put32(p + 2, index);
  wl_put32(p + 6, (uint32_t)ch->width);
  if (ch->has_detail) {
    wl_put16(p + WL_CHUNK_FIXED, (uint32_t)ch->step);
    wl_put32(p + WL_CHUNK_FIXED + 2, (uint32_t)ch->detail_bytes);
  }
  write_table(ch, p + chunk_fixed(ch));
  for (int c = 0; ch->fill && c < ch->channels; c++) {
    uint8_t *e = p + chunk_fixed(ch) + 5 * (ch->keep + c);
    e[0] = ch->env_mode[c];
    wl_put32(e + 1, ch->env_len[c]);
  }
  return wl_chunk_table_size(ch);
}

/* The fields every .wlc starts with (bytes 0..35), checked; audio also its header CRC. */
int wl_header_peek(const uint8_t *p, size_t len, wl_header *h) {
  if (!h || (!p && len)) return WL_FAIL_NULL();
  memset(h, 0, sizeof *h);
  if (memcmp(p, magic, len < 4 ? len : 4)) return WL_FAIL(WL_ERR_MAGIC);
  if (len < 6) return WL_FAIL(WL_ERR_TRUNCATED);
  h->version = p[4];
  h->modality = p[5];
  if (h->version < WL_FORMAT_VERSION || h->version > WL_FORMAT_VERSION_SPLIT) return WL_FAIL(WL_ERR_VERSION);
  if (h->modality != WL_MODALITY_IMAGE && h->modality != WL_MODALITY_AUDIO) return WL_FAIL(WL_ERR_CORRUPT);
  const int audio = h->modality == WL_MODALITY_AUDIO;
  if (audio != (h->version == WL_FORMAT_VERSION_AUDIO || h->version == WL_FORMAT_VERSION_FILL))
    return WL_FAIL(WL_ERR_VERSION);
  if (len < (audio ? WL_AUDIO_HDR : WL_HDR_FIXED)) return WL_FAIL(WL_ERR_TRUNCATED);
  h->J = p[6];
  h->bits = p[7];
  h->model_id = wl_get64(p + 8);
  const uint32_t A = wl_get32(p + 16), B = wl_get32(p + 20), X = wl_get32(p + 32);
  h->channels = (int)wl_get16(p + 24);
  h->depth = p[26];
  h->has_alpha = !audio && (p[27] & 1);
  h->fill = audio && (p[27] & 1);
  h->has_detail = audio && (p[27] & 2);
  h->K = (int)wl_get16(p + 28);
  h->keep = (int)wl_get16(p + 30);
  const int depth_ok = audio ? h->depth == 8 || h->depth == 16 || h->depth == 24 || h->depth == 32
                             : h->depth == 8 || h->depth == 16;
  if (h->J < 1 || h->J > (audio ? WL_MAX_J1 : WL_MAX_J) || h->bits < 2 || h->bits > 16 || !depth_ok ||
      (p[27] & ~(audio ? (h->version == WL_FORMAT_VERSION_FILL ? 3 : 0) : 1)) || h->channels < 1 || h->K < 1 || h->K > WL_MAX_K || h->keep < 1 || h->keep > h->K)
    return WL_FAIL(WL_ERR_CORRUPT);
  if (h->channels > WL_MAX_CHANNELS) return WL_FAIL(WL_ERR_LIMIT);
  h->lat_h = 1;
  if (!audio) {
    h->alpha_len = X;
    if (h->has_alpha != (X > 0)) return WL_FAIL(WL_ERR_CORRUPT);
    if (A < 1 || B < 1 || A > WL_MAX_DIM || B > WL_MAX_DIM) return WL_FAIL(WL_ERR_LIMIT);
    h->height = (int)A;
    h->width = (int)B;
    h->lat_h = wl_pad_size(h->height, h->J) >> h->J;
    h->lat_w = wl_pad_size(h->width, h->J) >> h->J;
    h->header_len = wl_header_size(h->keep);
    return 0;
  }
  const uint32_t unit = 1u << h->J;
  if (A < 1 || A > WL_MAX_RATE || B < 1 || B % unit || X < 1 || X % unit || X > B) return WL_FAIL(WL_ERR_CORRUPT);
  if (B > WL_MAX_CHUNK || (uint64_t)h->channels * (B + 2 * (uint64_t)X) > WL_MAX_SAMPLES) return WL_FAIL(WL_ERR_LIMIT);
  if (!crc_ok(wl_crc32(0, p, 36), wl_get32(p + 36))) return WL_FAIL(WL_ERR_CRC);
  h->rate = (int)A;
  h->chunk = B;
  h->overlap = X;
  h->height = 1;
  h->header_len = WL_AUDIO_HDR;
  return 0;
}

/* Stream bytes that `bits`-bit latents of a span of n frames may take in one channel. */
static size_t stream_bound(const wl_header *f, long n) {
  return wle_bound((size_t)((n + (1L << f->J) - 1) >> f->J), f->bits);
}

/* The same for a channel's band envelope. */
static size_t envelope_bound(const wl_header *f, long n) {
  int N, start[WL_ENV_BANDS_MAX + 1];
  const int bands = wl_env_layout(f->rate, &N, start);
  return wle_bound((size_t)((n - 1) / (N / 2) + 3) * (size_t)bands, WL_ENV_BITS);
}

/* Bytes a chunk's detail layer may take over a span of n frames: its table (6 bytes, then at
 * most a mode byte and a 5-byte length per plane) and a 16-bit plane's bound per plane. */
static uint64_t detail_bound(const wl_header *f, long n) {
  const uint64_t D = (uint64_t)f->channels << f->J;
  return 6 + 6 * D + D * wle_bound((size_t)((n + (1L << f->J) - 1) >> f->J), 16);
}

/* The entries of the chunk head at p (its wl_chunk_table_size bytes) for a span of n frames:
 * checked against their bounds, *body the bytes of the streams that follow; into ch when given. */
static int head_entries(const wl_header *f, const uint8_t *p, long n, wl_header *ch, uint64_t *body) {
  const size_t bound = stream_bound(f, n), env = f->fill ? envelope_bound(f, n) : 0, at = chunk_fixed(f);
  *body = 0;
  if (f->has_detail) {
    const uint32_t step = wl_get16(p + WL_CHUNK_FIXED), bytes = wl_get32(p + WL_CHUNK_FIXED + 2);
    if (step > WL_MAX_STEP || (step ? bytes < 6 || bytes > detail_bound(f, n) : bytes != 0)) return WL_FAIL(WL_ERR_CORRUPT);
    *body += bytes;
    if (ch) ch->step = (int)step, ch->detail_bytes = bytes;
  }
  for (int c = 0; c < f->keep; c++) {
    const uint8_t mode = p[at + 5 * c];
    const uint32_t len = wl_get32(p + at + 5 * c + 1);
    if (len > bound || (ch && mode >= WL_ENTROPY_MODES)) return WL_FAIL(WL_ERR_CORRUPT);
    *body += len;
    if (ch) ch->entropy[c] = mode, ch->stream_len[c] = len;
  }
  for (int c = 0; f->fill && c < f->channels; c++) {
    const uint8_t mode = p[at + 5 * (f->keep + c)];
    const uint32_t len = wl_get32(p + at + 5 * (f->keep + c) + 1);
    /* no static table for envelopes */
    if (len > env || (ch && (mode == WL_ENTROPY_STATIC || mode >= WL_ENTROPY_MODES))) return WL_FAIL(WL_ERR_CORRUPT);
    *body += len;
    if (ch) ch->env_mode[c] = mode, ch->env_len[c] = len;
  }
  return 0;
}

int wl_record_size(const wl_header *f, const wl_stream_pos *at, const uint8_t *p, size_t len, size_t *need) {
  const size_t table = wl_chunk_table_size(f);
  uint64_t body;
  *need = 1;
  if (len < 1) return 0;
  if (at->done || p[0] != (at->last ? WL_TAG_END : WL_TAG_CHUNK)) return WL_FAIL(WL_ERR_CORRUPT);
  *need = at->last ? WL_END_LEN : table;
  if (at->last || len < table) return 0;
  WL_TRY(head_entries(f, p, wl_chunk_span(f, at->index), NULL, &body));
  if (body > SIZE_MAX - table - 4) return WL_FAIL(WL_ERR_LIMIT);
  *need = table + (size_t)body + 4;
  return 0;
}

/* The end record p[0 .. WL_END_LEN): the frame count the last chunk implies, the CRC so far. */
static int read_end(wl_stream_pos *at, const uint8_t *p) {
  if (p[1] || wl_get64(p + 2) != (uint64_t)at->frames) return WL_FAIL(WL_ERR_CORRUPT);
  if (!crc_ok(wl_crc32(at->crc, p, 10), wl_get32(p + 10))) return WL_FAIL(WL_ERR_CRC);
  at->done = 1;
  return 0;
}

int wl_record_read(const wl_header *f, wl_stream_pos *at, const uint8_t *p, size_t size, wl_header *ch) {
  size_t need;
  WL_TRY(wl_record_size(f, at, p, size, &need));
  if (need != size) return need > size ? WL_FAIL(WL_ERR_TRUNCATED) : WL_FAIL(WL_ERR_CORRUPT);
  if (at->last) {
    WL_TRY(read_end(at, p));
    return 0;
  }
  if (!crc_ok(wl_crc32(0, p, size - 4), wl_get32(p + size - 4))) return WL_FAIL(WL_ERR_CRC);
  const uint32_t i = wl_get32(p + 2);
  const long full = wl_chunk_span(f, i), n = (long)wl_get32(p + 6);
  const int last = p[1] & 1;
  if ((p[1] & ~1) || i != at->index || n > full || n < (i ? 2 * f->overlap + 1 : 1) || (!last && n != full) ||
      wl_chunk_start(f, i) + n > WL_MAX_STREAM_FRAMES)
    return WL_FAIL(WL_ERR_CORRUPT);
  *ch = *f;
  ch->width = (int)n;
  ch->lat_w = (int)((n + (1L << f->J) - 1) >> f->J);
  uint64_t body;
  WL_TRY(head_entries(f, p, n, ch, &body));
  ch->header_len = wl_chunk_table_size(f);
  ch->total_len = size;
  at->crc = wl_crc32(at->crc, p, size);
  at->index = i + 1;
  at->last = last;
  if (last) at->frames = wl_chunk_start(f, i) + n;
  return 0;
}

int wl_stream_frames(const uint8_t *p, long *frames) {
  if (!p || !frames) return WL_FAIL_NULL();
  const uint64_t T = wl_get64(p + 2);
  if (p[0] != WL_TAG_END || p[1] || T < 1 || T > WL_MAX_STREAM_FRAMES) return WL_FAIL(WL_ERR_CORRUPT);
  *frames = (long)T;
  return 0;
}

/* Walks the records of a whole audio stream: frames, chunks, per-channel bytes (summed) and
 * entropy modes (the one most chunks use). */
static int read_stream(const uint8_t *p, size_t len, wl_header *h) {
  static const int mode_count = WL_ENTROPY_MODES;
  uint32_t uses[WL_MAX_K][WL_ENTROPY_MODES] = {{0}};
  uint64_t bytes[WL_MAX_K] = {0};
  wl_stream_pos at = {.crc = wl_crc32(0, p, WL_AUDIO_HDR)};
  wl_header ch;
  size_t pos = WL_AUDIO_HDR, need;
  while (!at.done) {
    WL_TRY(wl_record_size(h, &at, p + pos, len - pos, &need));
    if (need > len - pos) return WL_FAIL(WL_ERR_TRUNCATED);
    const int chunk = !at.last;
    WL_TRY(wl_record_read(h, &at, p + pos, need, &ch));
    for (int c = 0; chunk && c < h->keep; c++) {
      uses[c][ch.entropy[c]]++;
      bytes[c] += ch.stream_len[c];
    }
    for (int c = 0; chunk && h->fill && c < h->channels; c++) h->fill_bytes += ch.env_len[c];
    if (chunk && ch.step > h->step) h->step = ch.step; /* info: the finest step of any chunk */
    if (chunk) h->audio_detail_bytes += ch.detail_bytes;
    pos += need;
  }
  if (pos != len) return WL_FAIL(WL_ERR_CORRUPT);
  for (int c = 0; c < h->keep; c++) {
    for (int k = 1; k < mode_count; k++)
      if (uses[c][k] > uses[c][h->entropy[c]]) h->entropy[c] = (uint8_t)k;
    h->stream_len[c] = bytes[c] > UINT32_MAX ? UINT32_MAX : (uint32_t)bytes[c];
  }
  h->chunks = at.index;
  h->frames = (long)at.frames;
  h->width = (int)at.frames;
  h->lat_w = (int)((at.frames + (1L << h->J) - 1) >> h->J);
  h->total_len = len;
  return 0;
}

int wl_header_read(const uint8_t *p, size_t len, wl_header *h) {
  WL_TRY(wl_header_peek(p, len, h));
  if (h->modality == WL_MODALITY_AUDIO) return read_stream(p, len, h);
  if (len < h->header_len) return WL_FAIL(WL_ERR_TRUNCATED);
  if (h->version == WL_FORMAT_VERSION_DETAIL || h->version == WL_FORMAT_VERSION_SPLIT) {
    wl_detail d;
    if (len < h->header_len + 2) return WL_FAIL(WL_ERR_TRUNCATED);
    h->step = (int)wl_get16(p + h->header_len);
    if (h->step < 1 || h->step > WL_MAX_STEP) return WL_FAIL(WL_ERR_CORRUPT);
    WL_TRY(wl_detail_table_read(h, p + h->header_len, len - h->header_len, &d));
    h->header_len += d.table_len;
    h->detail_planes = d.n;
    h->detail_bytes = d.bytes;
    wl_detail_free(&d);
  }
  uint64_t total = h->header_len + (uint64_t)h->alpha_len + h->detail_bytes + 4;
  for (int c = 0; c < h->keep; c++) {
    h->entropy[c] = p[WL_HDR_FIXED + 5 * c];
    h->stream_len[c] = wl_get32(p + WL_HDR_FIXED + 5 * c + 1);
    if (h->entropy[c] >= WL_ENTROPY_MODES) return WL_FAIL(WL_ERR_CORRUPT);
    total += h->stream_len[c];
  }
  if (total > len) return WL_FAIL(WL_ERR_TRUNCATED);
  if (total < len) return WL_FAIL(WL_ERR_CORRUPT);
  h->total_len = (size_t)total;
  if (!crc_ok(wl_crc32(0, p, len - 4), wl_get32(p + len - 4))) return WL_FAIL(WL_ERR_CRC);
  return 0;
}

const char *wl_entropy_name(int mode) {
  static const char *names[WL_ENTROPY_MODES] = {"static", "table", "adaptive", "predictive", "buckets"};
  return mode >= 0 && mode < WL_ENTROPY_MODES ? names[mode] : "unknown";
}

void wl_info_of(const wl_header *h, wl_info *i) {
  *i = (wl_info){h->version, h->modality, h->model_id, h->channels, h->height, h->width, h->depth, h->has_alpha,
                 h->rate, h->frames, h->chunk, h->overlap, h->chunks, h->J, h->K, h->keep, h->bits, h->lat_h,
                 h->lat_w, h->alpha_len, h->header_len, h->total_len, h->step, h->detail_planes, h->fill, 0,
                 h->modality == WL_MODALITY_AUDIO ? h->audio_detail_bytes : 0, h->fill_bytes};
}

/* *info from the header that read (wl_header_read or wl_header_peek) takes from buf. */
static int info_by(int (*read)(const uint8_t *, size_t, wl_header *), const uint8_t *buf, size_t len, wl_info *info) {
  wl_header h;
  if (!info) return WL_FAIL_NULL();
  memset(info, 0, sizeof *info);
  WL_TRY(read(buf, len, &h));
  wl_info_of(&h, info);
  return 0;
}

int wl_info_read(const uint8_t *buf, size_t len, wl_info *info) { return info_by(wl_header_read, buf, len, info); }
int wl_info_peek(const uint8_t *buf, size_t len, wl_info *info) { return info_by(wl_header_peek, buf, len, info); }

int wl_info_channels(const uint8_t *buf, size_t len, wl_info *info, int n, uint8_t *mode, uint64_t *bytes) {
  if (!info || (n > 0 && (!mode || !bytes))) return WL_FAIL_NULL();
  wl_header h;
  memset(info, 0, sizeof *info);
  WL_TRY(wl_header_read(buf, len, &h));
  wl_info_of(&h, info);
  if (n < 0 || n > h.keep) return WL_FAIL_WHY(WL_ERR_ARG, "%d channels asked of %d kept", n, h.keep);
  for (int c = 0; c < n; c++) {
    mode[c] = h.entropy[c];
    bytes[c] = h.stream_len[c];
  }
  return 0;
}
