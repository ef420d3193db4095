/* audio_target.c: audio rate control by cutting the code (walloc.h, wl_audio_truncate). Latent
 * channel c's stream in a chunk depends on channels 0 .. c only (its context is channel c - 1),
 * and the band envelope on none of them, so a stream coded with every channel, cut to its first
 * k, is byte for byte the stream an encoder sending k channels writes: one encode at keep K
 * gives the exact size of every k, and the file at any of them, without coding again. */
#include <stdlib.h>
#include <string.h>
#include "codec/container.h"

/* Walks buf's chunk records (buf already validated) and, with out, writes the stream cut to keep
 * channels there; *len: its bytes (out NULL: only counted). bytes (when given, keep_all
 * entries): the size of the stream cut to each k = 1 .. keep_all. */
static int cut(const uint8_t *buf, size_t len, const wl_header *h, int keep, uint8_t *out, size_t *outlen,
               uint64_t *bytes) {
  wl_stream_pos at = {.crc = wl_crc32(0, buf, WL_AUDIO_HDR)};
  wl_header f = *h, ch;
  f.keep = keep;
  size_t pos = WL_AUDIO_HDR, o = WL_AUDIO_HDR, need;
  for (int k = 0; bytes && k < h->keep; k++) bytes[k] = WL_AUDIO_HDR + WL_END_LEN;
  if (out) {
    memcpy(out, buf, WL_AUDIO_HDR);
    wl_put16(out + 30, (uint32_t)keep);
    wl_put32(out + 36, wl_crc32(0, out, 36));
  }
  while (!at.last) {
    WL_TRY(wl_record_size(h, &at, buf + pos, len - pos, &need));
    WL_TRY(wl_record_read(h, &at, buf + pos, need, &ch));
    const uint8_t *s = buf + pos + ch.header_len;
    uint64_t env = 0, lat = 0;
    for (int c = 0; ch.fill && c < h->channels; c++) env += ch.env_len[c];
    for (int k = 0; bytes && k < h->keep; k++) {
      f.keep = k + 1;
      lat += ch.stream_len[k];
      bytes[k] += wl_chunk_table_size(&f) + lat + env + 4;
    }
    f.keep = keep;
    ch.keep = keep;
    const size_t head = wl_chunk_table_size(&f);
    size_t body = env;
    for (int c = 0; c < keep; c++) body += ch.stream_len[c];
    if (out) {
      wl_chunk_head_write(&ch, at.index - 1, at.last, out + o);
      size_t q = o + head;
      for (int c = 0; c < keep; q += ch.stream_len[c], s += ch.stream_len[c], c++) memcpy(out + q, s, ch.stream_len[c]);
      for (int c = keep; c < h->keep; c++) s += ch.stream_len[c];
      memcpy(out + q, s, env);
      wl_put32(out + q + env, wl_crc32(0, out + o, head + body));
    }
    o += head + body + 4;
    pos += need;
  }
  if (out) {
    memcpy(out + o, buf + pos, 10);
    wl_put32(out + o + 10, wl_crc32(0, out, o + 10));
  }
  *outlen = o + WL_END_LEN;
  return 0;
}

/* Reads and checks an audio stream's header and records. */
static int read_audio(const uint8_t *buf, size_t len, wl_header *h) {
  WL_TRY(wl_header_read(buf, len, h));
  return h->modality == WL_MODALITY_AUDIO ? 0 : WL_FAIL_WHY(WL_ERR_ARG, "not an audio stream");
}

int wl_audio_truncate(const uint8_t *buf, size_t len, int keep, uint8_t **out, size_t *outlen) {
  wl_header h;
  *out = NULL;
  *outlen = 0;
  WL_TRY(read_audio(buf, len, &h));
  if (keep < 1 || keep > h.keep) return WL_FAIL_WHY(WL_ERR_ARG, "keep %d: 1 to the stream's %d", keep, h.keep);
  size_t n;
  WL_TRY(cut(buf, len, &h, keep, NULL, &n, NULL));
  uint8_t *b = malloc(n);
  if (!b) return WL_FAIL(WL_ERR_NOMEM);
  int e = cut(buf, len, &h, keep, b, outlen, NULL);
  if (e) free(b);
  else *out = b;
  return e;
}

int wl_audio_target_keep(const uint8_t *buf, size_t len, int target, double value, int *keep) {
  wl_header h;
  size_t n;
  *keep = 0;
  WL_TRY(read_audio(buf, len, &h));
  if ((target != WL_TARGET_BYTES && target != WL_TARGET_KBPS) || !(value > 0))
    return WL_FAIL_WHY(WL_ERR_ARG, "an audio target is bytes or kbps, above 0");
  uint64_t *bytes = malloc(sizeof *bytes * (size_t)h.keep);
  if (!bytes) return WL_FAIL(WL_ERR_NOMEM);
  int e = cut(buf, len, &h, h.keep, NULL, &n, bytes);
  const double most = target == WL_TARGET_BYTES ? value : value * 1000 / 8 * ((double)h.frames / h.rate);
  for (int k = 0; !e && k < h.keep; k++)
    if ((double)bytes[k] <= most) *keep = k + 1;
  if (!e && !*keep)
    e = target == WL_TARGET_BYTES
            ? WL_FAIL_WHY(WL_ERR_ARG, "%.0f bytes is below the one-channel stream's %llu", value, (unsigned long long)bytes[0])
            : WL_FAIL_WHY(WL_ERR_ARG, "%g kbps is below the one-channel stream's %.2f", value,
                          8.0 * (double)bytes[0] / ((double)h.frames / h.rate) / 1000);
  free(bytes);
  return e;
}
